"""The shared report parameters, checked across every route that must take them."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import TenantKeys, assert_bad_request

V1_REPORTS = "/v1/api/analytics/ecommerce/"
# What a route needs besides the period to answer at all.
REQUIRED = {f"{V1_REPORTS}user-journey": {"user_id": "user_123"}}


def v1_report_paths(client: TestClient) -> list[str]:
    """Every GET route of the v1 ecommerce surface, as the app's OpenAPI schema lists them."""
    paths = client.get("/openapi.json").json()["paths"]
    return sorted(p for p, ops in paths.items() if p.startswith(V1_REPORTS) and "get" in ops)


def test_every_v1_report_is_found(client: TestClient) -> None:
    paths = v1_report_paths(client)
    for name in ("overview", "top-products", "attribution", "cohorts", "user-journey"):
        assert f"{V1_REPORTS}{name}" in paths
    assert len(paths) == 13  # seed 002's GET routes


def test_every_v1_report_declares_and_reads_days_start_end(
    client: TestClient, tenant: TenantKeys
) -> None:
    """Seed 002: "All GET ecommerce query endpoints accept the same date range parameters"."""
    schema = client.get("/openapi.json").json()["paths"]
    for path in v1_report_paths(client):
        declared = {p["name"] for p in schema[path]["get"].get("parameters", [])}
        assert {"days", "start", "end"} <= declared, path
        required = REQUIRED.get(path, {})
        good = client.get(path, params={**required, "days": "7"}, headers=tenant.sk)
        assert good.status_code == 200, (path, good.text)
        # read, not ignored: a bad value is refused naming it
        for params, field in (({"days": "seven"}, "days"), ({"start": "2026-01-01"}, "end")):
            response = client.get(path, params={**required, **params}, headers=tenant.sk)
            assert response.status_code == 400, (path, params, response.text)
            assert_bad_request(response, field)


@pytest.mark.parametrize("path", [f"{V1_REPORTS}cohorts", f"{V1_REPORTS}user-journey"])
def test_days_is_answered_back_when_asked_for(
    client: TestClient, tenant: TenantKeys, path: str
) -> None:
    params = {**REQUIRED.get(path, {}), "days": "14"}
    assert client.get(path, params=params, headers=tenant.sk).json()["days"] == 14


def test_every_v1_report_reads_the_other_period_styles_too(
    client: TestClient, tenant: TenantKeys
) -> None:
    """docs/api.md: "The other period styles (period=30d, time_range=month) are accepted
    too; mixing styles is a 400 naming the parameter". ``period=7d`` was silently answered
    as the default 30 days."""
    for path in v1_report_paths(client):
        required = REQUIRED.get(path, {})
        week = client.get(path, params={**required, "period": "7d"}, headers=tenant.sk)
        assert week.status_code == 200 and week.json()["days"] == 7, (path, week.text)
        mixed = client.get(
            path, params={**required, "period": "7d", "days": "3"}, headers=tenant.sk
        )
        assert mixed.status_code == 400, (path, mixed.text)
        assert mixed.json()["field"] in ("period", "days"), path
