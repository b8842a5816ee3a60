"""GET /v1/tenant: secret keys only, and only the key's own tenant."""

from __future__ import annotations


def test_secret_key_sees_its_own_tenant(client, make_tenant):
    shop = make_tenant("Berlin Shop", base_currency="EUR", timezone="Europe/Berlin", plan="pro")
    other = make_tenant("Other Shop")

    body = client.get("/v1/tenant", headers=shop.sk).json()
    assert body["tenant_id"] == shop.id
    assert (body["name"], body["base_currency"], body["timezone"], body["plan"]) == (
        "Berlin Shop",
        "EUR",
        "Europe/Berlin",
        "pro",
    )
    assert client.get("/v1/tenant", headers=other.sk).json()["tenant_id"] == other.id


def test_publishable_key_is_forbidden_on_a_secret_route(client, tenant):
    response = client.get("/v1/tenant", headers=tenant.pk)
    assert response.status_code == 403
    assert response.json()["ok"] is False
    assert "secret key" in response.json()["error"]


def test_missing_and_unknown_keys_are_unauthorized(client, tenant):
    assert client.get("/v1/tenant").status_code == 401
    forged = {"Authorization": f"Bearer {tenant.secret[:-4]}abcd"}
    assert client.get("/v1/tenant", headers=forged).status_code == 401
