"""The OpenAPI document matches the server: statuses, error shape, bodies, allowed methods.

Every operation of ``app.openapi()`` is called twice over real HTTP against the real app
and store — once as a client should call it, once as it should not — and each answer's
status must be one the operation documents, errors in the one error shape.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shoplens import errors
from shoplens.api.openapi import ERRORS, ErrorBody
from shoplens.metrics.query_catalog import METRICS
from tests.conftest import TenantKeys

WRITE_METHODS = {"post", "put", "patch"}


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    ]


def valid_bodies(tenant: TenantKeys) -> dict[tuple[str, str], Any]:
    """What a client sends to each write operation (one row per operation: a new write
    route fails ``test_every_write_operation_has_a_valid_call_here`` until it has one)."""
    today = datetime.now(UTC).date().isoformat()
    return {
        ("post", "/analytics/event"): {"event": "page_view", "userId": "u-1"},
        ("post", "/analytics/event/batch"): {"events": [{"event": "page_view", "userId": "u-1"}]},
        ("post", "/v1/api/analytics/ecommerce/track"): {"event_type": "view_cart", "user_id": "u"},
        ("post", "/v1/api/analytics/ecommerce/batch"): {
            "events": [{"event_type": "view_cart", "user_id": "u"}]
        },
        ("post", "/api/analytics/track"): {"tenant_id": tenant.id, "event_type": "pageview"},
        ("post", "/v1/track"): {"userId": "u", "event": "Signed Up"},
        ("post", "/v1/page"): {"userId": "u", "name": "Home"},
        ("post", "/v1/screen"): {"userId": "u", "name": "Home"},
        ("post", "/v1/identify"): {"userId": "u", "traits": {"plan": "gold"}},
        ("post", "/v1/alias"): {"userId": "u", "previousId": "anon-1"},
        ("post", "/v1/group"): {"userId": "u", "groupId": "g-1"},
        ("post", "/v1/batch"): {"batch": [{"type": "track", "userId": "u", "event": "Signed Up"}]},
        ("put", "/v1/catalog/products"): {"products": [{"id": "sku-1", "name": "Mug"}]},
        ("post", "/analytics/query"): {"metrics": [next(iter(METRICS))]},
        ("patch", "/analytics/settings"): {"retention": {"rawEvents": 30}},
        ("patch", "/v1/settings/fraud"): {"rules": {"velocity": {"enabled": True}}},
        ("put", "/v1/settings/exchange-rates"): {"date": today, "rates": {"USD": 1.1}},
    }


#: Query parameters a valid call needs (every other operation answers without any).
VALID_QUERIES = {
    ("get", "/v1/api/analytics/ecommerce/user-journey"): {"user_id": "u-1"},
    ("get", "/analytics/export"): {"type": "orders"},
}


def path_of(template: str, tenant: TenantKeys) -> str:
    values = {"{tenantId}": str(tenant.id), "{product_id}": "sku-1", "{userId}": "u-1"}
    for name, value in values.items():
        template = template.replace(name, value)
    assert "{" not in template, f"no value for a parameter of {template}"
    return template


def assert_documented(operation: dict[str, Any], call: str, response: Any) -> None:
    documented = operation["responses"]
    assert str(response.status_code) in documented, (
        f"{call} answered {response.status_code} ({response.text[:200]}); "
        f"documented: {sorted(documented)}"
    )
    if response.status_code >= 400:
        ErrorBody.model_validate(response.json())
        schema = documented[str(response.status_code)]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorBody"}


def test_the_error_registry_is_the_exception_tree_and_its_one_shape() -> None:
    statuses = {cls.status for cls in errors.ShoplensError.__subclasses__()}
    assert statuses == set(ERRORS)
    for cls in errors.ShoplensError.__subclasses__():
        ErrorBody.model_validate(cls("broke a rule", field="x").body())


def test_no_operation_documents_the_422_the_server_never_answers(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for method, path, operation in operations(spec):
        assert "422" not in operation["responses"], f"{method.upper()} {path}"
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_operations_behind_a_key_say_how_to_send_it(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    for method, path, operation in operations(spec):
        keyed = "401" in operation["responses"]
        assert ("security" in operation) == keyed, f"{method.upper()} {path}"
    assert "security" not in spec["paths"]["/api/analytics/track"]["post"]


def test_a_bad_parameter_is_a_documented_400_not_a_422(
    client: TestClient, tenant: TenantKeys
) -> None:
    """FastAPI's own validation (a route's typed query parameter) answers 400 as documented."""
    spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/v1/settings/exchange-rates"]["get"]
    response = client.get(
        "/v1/settings/exchange-rates", params={"date": "yesterday"}, headers=tenant.sk
    )
    assert response.status_code == 400
    assert_documented(operation, "GET /v1/settings/exchange-rates", response)


def test_every_write_operation_documents_a_json_body_schema(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    components = spec["components"]["schemas"]
    writes = [(m, p, op) for m, p, op in operations(spec) if m in WRITE_METHODS]
    assert len(writes) >= 17
    for method, path, operation in writes:
        body = operation.get("requestBody")
        assert body and body["required"], f"{method.upper()} {path} declares no body"
        schema = body["content"]["application/json"]["schema"]
        assert schema, f"{method.upper()} {path} has an empty body schema"
        ref = schema.get("$ref")
        if ref:
            assert ref.removeprefix("#/components/schemas/") in components, ref


def test_ingest_bodies_are_documented_from_the_decoded_models(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/analytics/event"]["post"]["requestBody"]
    ref = body["content"]["application/json"]["schema"]["$ref"]
    fields = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"]
    assert {"event", "userId", "properties", "timestamp"} <= set(fields)


def test_options_allow_lists_every_method_of_every_path(
    client: TestClient, tenant: TenantKeys
) -> None:
    """Regression: ``OPTIONS /analytics/settings`` answered ``Allow: GET`` (not PATCH)."""
    spec = client.get("/openapi.json").json()
    patterns = {
        re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"): item
        for template, item in spec["paths"].items()
    }
    for template in spec["paths"]:
        path = path_of(template, tenant)
        response = client.options(path)
        assert response.status_code == 405, path
        allowed = set(response.headers["allow"].split(", "))
        # /api/analytics/track is also a {tenantId} of GET /api/analytics/{tenantId}
        documented = {m.upper() for p, item in patterns.items() if p.match(path) for m in item}
        assert documented <= allowed, f"{path}: Allow {allowed}, documented {documented}"
        assert allowed - documented <= {"HEAD"}, path
        assert response.json()["ok"] is False
    allow = client.options("/analytics/settings").headers["allow"]
    assert set(allow.split(", ")) == {"GET", "PATCH"}


def test_every_write_operation_has_a_valid_call_here(
    client: TestClient, tenant: TenantKeys
) -> None:
    spec = client.get("/openapi.json").json()
    writes = {(m, p) for m, p, _ in operations(spec) if m in WRITE_METHODS}
    assert writes == set(valid_bodies(tenant))


Caller = Callable[..., Any]


@pytest.fixture
def send(client: TestClient, tenant: TenantKeys) -> Caller:
    def call(method: str, path: str, *, headers: dict[str, str], body: Any = None) -> Any:
        content = body if isinstance(body, bytes) else None
        as_json = None if isinstance(body, bytes) else body
        return client.request(
            method,
            path_of(path, tenant),
            params=VALID_QUERIES.get((method, path)),
            headers=headers,
            json=as_json,
            content=content,
        )

    return call


def test_every_operation_answers_a_valid_call_with_a_documented_success(
    client: TestClient, tenant: TenantKeys, send: Caller
) -> None:
    spec = client.get("/openapi.json").json()
    bodies = valid_bodies(tenant)
    for method, path, operation in operations(spec):
        call = f"{method.upper()} {path}"
        response = send(method, path, headers=tenant.sk, body=bodies.get((method, path)))
        if path == "/v1/api/analytics/user/{userId}/deletion":
            assert response.status_code in (200, 404), call  # 200 once a deletion was asked
        else:
            assert response.status_code in (200, 201), f"{call}: {response.text[:300]}"
        assert_documented(operation, call, response)


def test_every_operation_answers_invalid_calls_with_documented_errors(
    client: TestClient, tenant: TenantKeys, send: Caller
) -> None:
    """Without a key (401), with a publishable key where a secret one is needed (403),
    and with a body that is not JSON (400): each a documented status in the error shape."""
    spec = client.get("/openapi.json").json()
    seen: set[int] = set()
    for method, path, operation in operations(spec):
        call = f"{method.upper()} {path}"
        documented = operation["responses"]
        writes = method in WRITE_METHODS
        body = b'{"not json' if writes else None
        if "401" in documented:
            response = send(method, path, headers={}, body=body)
            assert response.status_code == 401, call
            assert_documented(operation, call, response)
            response = send(method, path, headers=tenant.pk, body=body)
            assert response.status_code in (400, 403), call  # ingest takes either key kind
            assert_documented(operation, call, response)
            seen.add(response.status_code)
        if writes:
            response = send(method, path, headers=tenant.sk, body=b'{"not json')
            if path == "/api/analytics/track":
                response = send(method, path, headers={}, body=b'{"not json')
            assert response.status_code == 400, f"{call}: {response.text}"
            assert_documented(operation, call, response)
            too_big = json.dumps({"pad": "x" * 2_000_000}).encode()
            response = send(method, path, headers=tenant.sk, body=too_big)
            assert response.status_code == 413, f"{call}: {response.status_code}"
            assert_documented(operation, call, response)
    assert seen == {400, 403}


def test_a_product_id_the_path_cannot_match_is_a_documented_404(
    client: TestClient, tenant: TenantKeys
) -> None:
    """Found by the fuzzer: a newline in ``{product_id}`` is no route (404), undocumented."""
    spec = client.get("/openapi.json").json()
    for path in ("/analytics/products/{product_id}", "/v1/catalog/products/{product_id}"):
        response = client.get(path.replace("{product_id}", "a%0Ab"), headers=tenant.sk)
        assert response.status_code == 404
        assert_documented(spec["paths"][path]["get"], f"GET {path}", response)
