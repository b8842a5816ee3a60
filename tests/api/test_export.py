"""``GET /analytics/export`` over real HTTP (ASGI) on the real store.

Events go in through the ingestion API; each format is read back with its own reader
(csv module, json, openpyxl, pyarrow) and compared with rows worked out in Python.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from shoplens.export.rowsets import ROW_SETS
from shoplens.export.writers import FORMATS
from tests.conftest import TenantKeys
from tests.export import shop
from tests.export.readback import read_back

EXPORT = "/analytics/export"


@pytest.fixture
def loaded(client: TestClient, make_tenant: Callable[..., TenantKeys]) -> TenantKeys:
    keys = make_tenant("exports", plan="pro")
    shop.send(client, keys, shop.shop_events())
    return keys


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_type_in_every_format_reads_back_equal_to_the_sent_events(
    client: TestClient, loaded: TenantKeys, fmt: str
) -> None:
    events = shop.shop_events()
    for type_, row_set in ROW_SETS.items():
        response = client.get(
            EXPORT, params={"type": type_, "period": "7d", "format": fmt}, headers=loaded.sk
        )
        assert response.status_code == 200, response.text
        rows = read_back(fmt, response.content, row_set.schema)
        expected = shop.EXPECTED[type_](events)
        assert shop.project(rows, expected) == expected, (type_, fmt)


def test_headers_name_the_content_type_and_the_file(client: TestClient, loaded: TenantKeys) -> None:
    today = datetime.now(UTC).date()
    first = today - timedelta(days=29)
    for fmt, spec in FORMATS.items():
        response = client.get(
            EXPORT, params={"type": "orders", "period": "30d", "format": fmt}, headers=loaded.sk
        )
        assert response.headers["content-type"] == spec.content_type
        assert response.headers["content-disposition"] == (
            f'attachment; filename="shoplens-orders-{first}-{today}.{spec.extension}"'
        )
        assert response.headers["cache-control"] == "no-store"


def test_csv_is_the_default_format(client: TestClient, loaded: TenantKeys) -> None:
    response = client.get(EXPORT, params={"type": "products"}, headers=loaded.sk)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    # The default period (30 days) holds the shop's three products.
    assert len(read_back("csv", response.content, ROW_SETS["products"].schema)) == 3


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_an_empty_period_is_a_valid_file_with_no_rows(
    client: TestClient, make_tenant: Callable[..., TenantKeys], fmt: str
) -> None:
    keys = make_tenant("quiet")
    response = client.get(
        EXPORT, params={"type": "customers", "period": "7d", "format": fmt}, headers=keys.sk
    )
    assert response.status_code == 200
    assert read_back(fmt, response.content, ROW_SETS["customers"].schema) == []


def test_another_tenants_rows_never_show(
    client: TestClient, loaded: TenantKeys, make_tenant: Callable[..., TenantKeys]
) -> None:
    other = make_tenant("other", plan="pro")
    shop.send(client, other, shop.shop_events()[:2])
    response = client.get(
        EXPORT, params={"type": "events", "format": "ndjson", "period": "7d"}, headers=other.sk
    )
    rows = read_back("ndjson", response.content, ROW_SETS["events"].schema)
    assert [r["user_id"] for r in rows] == ["alice", "alice"]


@pytest.mark.parametrize(
    ("params", "field", "error"),
    [
        ({"format": "csv"}, "type", "type is required: one of orders, events, products, customers"),
        ({"type": "refunds"}, "type", "type must be one of orders, events, products, customers"),
        (
            {"type": "orders", "format": "pdf"},
            "format",
            "format must be one of csv, json, xlsx, ndjson, parquet",
        ),
    ],
)
def test_a_bad_type_or_format_is_a_400_naming_it(
    client: TestClient, tenant: TenantKeys, params: dict[str, str], field: str, error: str
) -> None:
    response = client.get(EXPORT, params=params, headers=tenant.sk)
    assert response.status_code == 400
    assert response.json() == {"ok": False, "error": error, "field": field}


def test_a_bad_period_is_a_400_naming_it(client: TestClient, tenant: TenantKeys) -> None:
    response = client.get(EXPORT, params={"type": "orders", "period": "5y"}, headers=tenant.sk)
    assert response.status_code == 400
    assert response.json()["field"] == "period"


def test_needs_a_secret_key(client: TestClient, tenant: TenantKeys) -> None:
    assert client.get(EXPORT, params={"type": "orders"}).status_code == 401
    assert client.get(EXPORT, params={"type": "orders"}, headers=tenant.pk).status_code == 403
