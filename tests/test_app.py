"""create_app(): the data-dir lock, the lifespan, the API docs and the one error shape."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shoplens import __version__
from shoplens.app import DataDirLocked, create_app, lock_data_dir
from shoplens.config import Settings
from shoplens.store import Store
from tests.conftest import TenantKeys, rows

INGEST_PATHS = [
    "/analytics/event",
    "/analytics/event/batch",
    "/v1/api/analytics/ecommerce/track",
    "/v1/api/analytics/ecommerce/batch",
    "/api/analytics/track",
]


def test_a_data_dir_can_be_locked_only_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    fd = lock_data_dir(data_dir)
    try:
        assert (data_dir / "LOCK").exists()
        with pytest.raises(DataDirLocked) as refused:
            lock_data_dir(data_dir)
        message = str(refused.value)
        assert str(data_dir) in message
        assert "in use by another shoplens process" in message
        assert "--data-dir" in message  # tells the user what to do
    finally:
        os.close(fd)
    os.close(lock_data_dir(data_dir))  # released with its holder


def test_a_second_app_on_a_running_apps_data_dir_does_not_start(
    client: TestClient, settings: Settings, store: Store
) -> None:
    with pytest.raises(DataDirLocked), TestClient(create_app(settings, store=store)):
        pass
    assert client.get("/healthz").status_code == 200  # the first app is unharmed


def test_shutdown_releases_the_lock_and_leaves_a_shared_store_open(
    settings: Settings, store: Store, tenant: TenantKeys
) -> None:
    slow = settings.model_copy(update={"flush_interval": 3600})
    with TestClient(create_app(slow, store=store)) as client:
        response = client.post("/analytics/event", headers=tenant.pk, json={"event": "bye"})
        assert response.status_code == 201

    os.close(lock_data_dir(settings.data_dir))
    # The store was passed in, so it is still open — and shutdown flushed the event into it.
    stored = rows(store, "SELECT event_name FROM events WHERE tenant_id = {t:UInt32}", t=tenant.id)
    assert stored == [{"event_name": "bye"}]


def test_openapi_lists_every_ingest_route(client: TestClient) -> None:
    response = client.get("/openapi.json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["title"] == "shoplens"
    assert schema["info"]["version"] == __version__
    for path in INGEST_PATHS:
        assert path in schema["paths"], path
        operation = schema["paths"][path]["post"]
        assert "application/json" in operation["requestBody"]["content"], path
        assert operation["summary"], path
    assert "get" in schema["paths"]["/healthz"]


@pytest.mark.parametrize(("path", "marker"), [("/docs", "swagger"), ("/redoc", "redoc")])
def test_interactive_docs_are_served(client: TestClient, path: str, marker: str) -> None:
    response = client.get(path)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert marker in response.text.lower()
    assert "/openapi.json" in response.text


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v1/api/analytics/ecommerce/track", 405),
        ("GET", "/analytics/event", 405),
        ("POST", "/no/such/route", 404),
    ],
)
def test_routing_errors_have_the_one_error_shape(
    client: TestClient, tenant: TenantKeys, method: str, path: str, status: int
) -> None:
    """docs/api.md: "Every error has one shape" — routing errors included."""
    response = client.request(method, path, headers=tenant.pk)

    assert response.status_code == status
    if status == 405:
        assert response.headers["allow"] == "POST"
    body = response.json()
    assert body == {"ok": False, "error": body.get("error"), "field": None}
    assert isinstance(body["error"], str)
    assert body["error"]


def test_openapi_lists_the_report_routes_query_parameters(client: TestClient) -> None:
    """/docs shows every report parameter (routes declare them, not read them ad hoc)."""
    paths = client.get("/openapi.json").json()["paths"]

    def names(path: str) -> set[str]:
        return {p["name"] for p in paths[path]["get"].get("parameters", [])}

    v1 = "/v1/api/analytics/ecommerce"
    for breakdown in ("top-products", "revenue-by-channel", "revenue-by-country"):
        assert {"days", "start", "end", "limit"} <= names(f"{v1}/{breakdown}")
    assert {"days", "start", "end"} <= names(f"{v1}/overview")
    assert {"period", "time_range", "start_date", "end_date", "granularity"} <= names(
        "/analytics/sales"
    )
