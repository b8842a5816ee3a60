"""The catalog domain on the real store: validation, upsert/get/delete round trips, versions."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from shoplens import catalog
from shoplens.errors import BadRequest
from shoplens.ingest.money import CurrencyConverter
from shoplens.meta import MetaStore, Tenant
from shoplens.store import Store
from tests.conftest import TenantKeys, rows

EUR_TO_USD = CurrencyConverter({("EUR", "USD"): Decimal("1.10")})


@pytest.fixture
def shop(make_tenant: Callable[..., TenantKeys], meta: MetaStore) -> Tenant:
    found = meta.tenant(make_tenant("Catalog shop").id)
    assert found is not None and found.base_currency == "USD"
    return found


def parse(shop: Tenant, *products: Any, converter: CurrencyConverter = EUR_TO_USD) -> Any:
    return catalog.parse_body(json.dumps({"products": list(products)}).encode(), shop, converter)


# validation ------------------------------------------------------------------------------


def test_a_full_product_is_parsed_with_its_price_in_base_minor_units(shop: Tenant) -> None:
    [product] = parse(
        shop,
        {
            "id": "sku-1",
            "name": " Tee ",
            "category": "Shirts",
            "brand": "Acme",
            "price": 19.99,
            "currency": "eur",
            "stock": 4,
            "image_url": "https://img.example/tee.png",
            "created_at": "2026-01-02T03:04:05.678+01:00",
        },
    )
    assert product == catalog.Product(
        product_id="sku-1",
        name="Tee",
        category="Shirts",
        brand="Acme",
        price=2199,  # 19.99 EUR * 1.10 = 21.989 USD → 2199 cents, half up
        original_price=Decimal("19.99"),
        currency="EUR",
        stock=4,
        image_url="https://img.example/tee.png",
        created_at=datetime(2026, 1, 2, 2, 4, 5, 678000, tzinfo=UTC),
    )


def test_only_the_id_is_required(shop: Tenant) -> None:
    [product] = parse(shop, {"id": "sku-2"})
    assert product == catalog.Product("sku-2")


@pytest.mark.parametrize(
    ("product", "field"),
    [
        ({}, "products[1].id"),
        ({"id": ""}, "products[1].id"),
        ({"id": 7}, "products[1].id"),
        ({"id": "x" * 201}, "products[1].id"),
        ({"id": "b", "name": 3}, "products[1].name"),
        ({"id": "b", "price": "12"}, "products[1].price"),
        ({"id": "b", "price": -1}, "products[1].price"),
        ({"id": "b", "price": True}, "products[1].price"),
        ({"id": "b", "price": 1, "currency": "XXY"}, "products[1].currency"),
        ({"id": "b", "price": 1, "currency": "GBP"}, "products[1].price"),  # no GBP rate
        ({"id": "b", "stock": -1}, "products[1].stock"),
        ({"id": "b", "stock": 2.5}, "products[1].stock"),
        ({"id": "b", "stock": "3"}, "products[1].stock"),
        ({"id": "b", "stock": False}, "products[1].stock"),
        ({"id": "b", "image_url": "ftp://x"}, "products[1].image_url"),
        ({"id": "b", "created_at": "yesterday"}, "products[1].created_at"),
        ({"id": "b", "created_at": 1700000000}, "products[1].created_at"),
        ({"id": "b", "stok": 3}, "products[1].stok"),
        ({"id": "a"}, "products[1].id"),  # repeats products[0]
        ("sku", "products[1]"),
    ],
)
def test_a_bad_field_is_a_400_naming_it(shop: Tenant, product: Any, field: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse(shop, {"id": "a"}, product)
    assert caught.value.field == field
    assert field in caught.value.message


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b"{}", b'{"products": {}}', b'{"products": []}'],
)
def test_a_body_without_a_product_list_is_a_400(shop: Tenant, body: bytes) -> None:
    with pytest.raises(BadRequest) as caught:
        catalog.parse_body(body, shop, EUR_TO_USD)
    assert caught.value.field == "products"


def test_at_most_1000_products_per_request(shop: Tenant) -> None:
    assert len(parse(shop, *({"id": f"p{i}"} for i in range(1000)))) == 1000
    with pytest.raises(BadRequest, match="1 to 1000"):
        parse(shop, *({"id": f"p{i}"} for i in range(1001)))


# storage ---------------------------------------------------------------------------------


def test_upsert_get_update_delete_round_trip(store: Store, shop: Tenant) -> None:
    catalog.upsert(store, shop.id, parse(shop, {"id": "a", "name": "A", "stock": 5, "price": 10}))
    first = catalog.get(store, shop.id, "a")
    assert first is not None
    assert (first.name, first.stock, first.price, first.original_price) == ("A", 5, 1000, 10)
    assert first.created_at == first.updated_at

    catalog.upsert(store, shop.id, parse(shop, {"id": "a", "name": "A2"}))
    second = catalog.get(store, shop.id, "a")
    assert second is not None and first.updated_at is not None and second.updated_at is not None
    # A PUT replaces the product, but keeps created_at when the body leaves it out.
    assert (second.name, second.stock, second.price) == ("A2", None, None)
    assert second.created_at == first.created_at and second.updated_at > first.updated_at

    assert catalog.delete(store, shop.id, "a") is True
    assert catalog.get(store, shop.id, "a") is None
    assert catalog.delete(store, shop.id, "a") is False
    # The delete is a marker version, newest of all. (Counting the raw versions would test
    # timing: ReplacingMergeTree may merge them away in the background at any moment.)
    latest = rows(
        store,
        "SELECT deleted FROM products FINAL WHERE tenant_id = {t:UInt32}",
        t=shop.id,
    )
    assert latest == [{"deleted": 1}]

    catalog.upsert(store, shop.id, parse(shop, {"id": "a", "name": "Back"}))
    back = catalog.get(store, shop.id, "a")
    assert back is not None and back.name == "Back"


def test_the_latest_version_wins_after_a_merge_too(store: Store, shop: Tenant) -> None:
    for stock in range(5):
        catalog.upsert(store, shop.id, parse(shop, {"id": "m", "stock": stock}))
    catalog.upsert(store, shop.id, parse(shop, {"id": "gone"}))
    catalog.delete(store, shop.id, "gone")
    store.command("OPTIMIZE TABLE products FINAL")
    found = catalog.get(store, shop.id, "m")
    assert found is not None and found.stock == 4
    assert catalog.get(store, shop.id, "gone") is None


def test_low_stock_and_names_read_live_tracked_products_of_one_tenant(
    store: Store, shop: Tenant, make_tenant: Callable[..., TenantKeys], meta: MetaStore
) -> None:
    catalog.upsert(
        store,
        shop.id,
        parse(
            shop,
            {"id": "zero", "name": "Zero", "stock": 0},
            {"id": "ten", "stock": 10},
            {"id": "eleven", "name": "Eleven", "stock": 11},
            {"id": "untracked", "name": "Untracked"},
            {"id": "deleted", "name": "Deleted", "stock": 1},
        ),
    )
    catalog.delete(store, shop.id, "deleted")
    other = meta.tenant(make_tenant("Other").id)
    assert other is not None
    catalog.upsert(store, other.id, parse(other, {"id": "zero", "name": "Theirs", "stock": 0}))

    assert [p.product_id for p in catalog.low_stock(store, shop.id, 10)] == ["ten", "zero"]
    assert [p.product_id for p in catalog.low_stock(store, shop.id, 0)] == ["zero"]
    ids = ["zero", "ten", "untracked", "deleted", "nope"]
    assert catalog.names(store, shop.id, ids) == {"zero": "Zero", "untracked": "Untracked"}
    assert catalog.names(store, other.id, ids) == {"zero": "Theirs"}
