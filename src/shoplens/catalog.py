"""The product catalog: what a shop sells, its names, prices, stock and arrival dates.

A product is written with ``PUT /v1/catalog/products`` (a bulk upsert of up to
:data:`MAX_PRODUCTS`) and read or deleted one at a time. Reports use it for names and stock;
products it does not have get their names from events (:mod:`shoplens.metrics.products`).

Storage (``migrations/0002_products.sql``): every write appends a *version* row to the
``products`` ReplacingMergeTree, keyed ``(tenant_id, product_id)`` with ``updated_at`` as
the version; a delete appends a tombstone (``deleted = 1``). Appending keeps writes cheap
and identical on a cluster (no mutations, unlike ``DELETE FROM``/``ALTER … DELETE``).

Writes go straight to the store, not through the event write-ahead log: they are small
admin calls whose caller wants to read them back at once (``GET`` after ``PUT``), and the
response is sent only after ``store.insert`` returned, so an error reaches the caller
instead of being acked and lost. Each insert gets a fresh dedup token (tokens are never
reused: a reused one would silently drop new data). A ``PUT`` is idempotent, so a client
that saw an error simply retries.

Reads take the latest version with ``FINAL`` (see :func:`_latest_sql`). The catalog has no
time column, so it is not a :mod:`shoplens.metrics.sql` table (whose registry is closed and
demands a time range); the few statements here are fixed texts with bound ``{name:Type}``
parameters, and the tenant id is bound in every one.

Validation: the body is ``{"products": [...]}``; each entry is checked and a violation is a
400 naming it, e.g. ``products[3].stock must be a whole number >= 0``. Fields:

==============  ========================================================================
``id``          required; a string of 1-200 characters, unique within the request
``name``        string up to 1000 characters (default "")
``category``    string up to 200 characters (default "")
``brand``       string up to 200 characters (default "")
``price``       number >= 0 in ``currency`` (default: no price)
``currency``    ISO 4217 code (default: the tenant's base currency); converted to base at
                the latest exchange rate
``stock``       whole number >= 0, or null (default: stock not tracked)
``image_url``   an ``http://`` or ``https://`` URL up to 2048 characters (default "")
``created_at``  ISO 8601 date-time, UTC when it has no offset (default: kept from the
                stored version, else the time of the write)
==============  ========================================================================

Any other field is a 400 (a misspelt ``stok`` would otherwise be dropped silently). A ``PUT``
replaces the whole product: a field left out takes its default, except ``created_at``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa

from shoplens.errors import BadRequest
from shoplens.ingest.money import CurrencyConverter, decimal_of, exponent
from shoplens.meta import Tenant
from shoplens.store import Store
from shoplens.store.versions import VersionClock

MAX_PRODUCTS = 1000
MAX_ID = 200
MAX_NAME = 1000
MAX_LABEL = 200
MAX_URL = 2048
FIELDS = ("id", "name", "category", "brand", "price", "currency", "stock", "image_url",
          "created_at")  # fmt: skip

_TIMESTAMP = pa.timestamp("ms", tz="UTC")
SCHEMA = pa.schema(
    [
        ("tenant_id", pa.uint32()),
        ("product_id", pa.string()),
        ("name", pa.string()),
        ("category", pa.string()),
        ("brand", pa.string()),
        ("price", pa.int64()),
        ("original_price", pa.decimal128(38, 9)),
        ("currency", pa.string()),
        ("stock", pa.int64()),
        ("image_url", pa.string()),
        ("created_at", _TIMESTAMP),
        ("updated_at", _TIMESTAMP),
        ("deleted", pa.uint8()),
    ]
)
_COLUMNS = ", ".join(n for n in SCHEMA.names if n not in ("tenant_id", "deleted"))


@dataclass(frozen=True)
class Product:
    """One product as stored: ``price`` in base-currency minor units, the price as sent in
    ``original_price``/``currency``; ``stock`` None when not tracked."""

    product_id: str
    name: str = ""
    category: str = ""
    brand: str = ""
    price: int | None = None
    original_price: Decimal | None = None
    currency: str = ""
    stock: int | None = None
    image_url: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def to_json(self, base_currency: str) -> dict[str, Any]:
        """The API shape: ``price`` as sent (a decimal in ``currency``) and ``price_minor``
        in minor units of ``base_currency``."""
        return {
            "id": self.product_id,
            "name": self.name,
            "category": self.category,
            "brand": self.brand,
            "price": None if self.original_price is None else _number(self.original_price),
            "currency": self.currency or None,
            "price_minor": self.price,
            "base_currency": base_currency,
            "stock": self.stock,
            "image_url": self.image_url,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
        }


def _number(amount: Decimal) -> int | float:
    normal = amount.normalize()
    return int(normal) if normal == normal.to_integral_value() else float(normal)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- validation -------------------------------------------------------------------------


def parse_body(body: bytes, tenant: Tenant, converter: CurrencyConverter) -> list[Product]:
    """A PUT body → validated products (prices converted to base minor units); 400 naming
    the first field that breaks a rule."""
    try:
        data = json.loads(body, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("Request body must be JSON", field="products") from None
    if not isinstance(data, dict) or not isinstance(data.get("products"), list):
        raise BadRequest("products is required: a list of products", field="products")
    raw = data["products"]
    if not 1 <= len(raw) <= MAX_PRODUCTS:
        raise BadRequest(f"products must hold 1 to {MAX_PRODUCTS} entries", field="products")
    products: list[Product] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(raw):
        product = _product(entry, f"products[{index}]", tenant, converter)
        if product.product_id in seen:
            raise BadRequest(
                f"products[{index}].id repeats products[{seen[product.product_id]}].id",
                field=f"products[{index}].id",
            )
        seen[product.product_id] = index
        products.append(product)
    return products


def _product(entry: Any, where: str, tenant: Tenant, converter: CurrencyConverter) -> Product:
    if not isinstance(entry, dict):
        raise BadRequest(f"{where} must be an object", field=where)
    for key in entry:
        if key not in FIELDS:
            raise BadRequest(f"{where}.{key} is not a catalog field", field=f"{where}.{key}")
    product_id = _text(entry, "id", where, MAX_ID)
    if not product_id:
        raise BadRequest(f"{where}.id is required", field=f"{where}.id")
    currency = _text(entry, "currency", where, 3).upper() or tenant.base_currency
    try:
        exponent(currency)
    except BadRequest:
        message = f"{where}.currency is not an ISO 4217 code"
        raise BadRequest(message, field=f"{where}.currency") from None
    original, price = None, None
    if entry.get("price") is not None:
        field = f"{where}.price"
        value = entry["price"]
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise BadRequest(f"{field} must be a number", field=field)
        original = decimal_of(value, field)
        if original < 0:
            raise BadRequest(f"{field} must be >= 0", field=field)
        try:
            price = converter.to_base_minor(
                original, currency, tenant.base_currency, field, tenant_id=tenant.id
            )  # at today's rate (the latest on or before today)
        except BadRequest as error:
            if field in error.message:
                raise
            raise BadRequest(f"{field}: {error.message}", field=field) from None
    image_url = _text(entry, "image_url", where, MAX_URL)
    if image_url and not image_url.startswith(("http://", "https://")):
        raise BadRequest(f"{where}.image_url must be an http(s) URL", field=f"{where}.image_url")
    return Product(
        product_id=product_id,
        name=_text(entry, "name", where, MAX_NAME),
        category=_text(entry, "category", where, MAX_LABEL),
        brand=_text(entry, "brand", where, MAX_LABEL),
        price=price,
        original_price=original,
        currency=currency if original is not None else "",
        stock=_stock(entry.get("stock"), f"{where}.stock"),
        image_url=image_url,
        created_at=_datetime(entry.get("created_at"), f"{where}.created_at"),
    )


def _text(entry: dict[str, Any], key: str, where: str, limit: int) -> str:
    value = entry.get(key)
    if value is None:
        return ""
    field = f"{where}.{key}"
    if not isinstance(value, str):
        raise BadRequest(f"{field} must be a string", field=field)
    value = value.strip()
    if len(value) > limit:
        raise BadRequest(f"{field} is longer than {limit} characters", field=field)
    return value


def _stock(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise BadRequest(f"{field} must be a whole number >= 0", field=field)
    return value


def _datetime(value: Any, field: str) -> datetime | None:
    if value is None:
        return None
    message = f"{field} must be an ISO 8601 date-time, e.g. 2026-01-31T12:00:00Z"
    if not isinstance(value, str):
        raise BadRequest(message, field=field)
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadRequest(message, field=field) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if not 1970 <= parsed.astimezone(UTC).year <= 2261:  # DateTime64(3)'s range, roughly
        raise BadRequest(f"{field} is out of range", field=field)
    return parsed.astimezone(UTC)


# --- storage ----------------------------------------------------------------------------

#: versions of the catalog's rows (``products`` is a ReplacingMergeTree on updated_at)
_versions = VersionClock()


def _latest_sql(columns: str, where: str = "") -> str:
    """The latest live version of a tenant's products (``{t:UInt32}`` is the tenant).

    TRICKY: ``FINAL`` merges versions at read time (highest updated_at wins), and the
    ``deleted = 0`` filter must run *after* it, in the outer query: filtered inside, a
    tombstone would be dropped before the merge and the older live version would win.
    """
    return (
        f"SELECT {columns} FROM (SELECT * FROM products FINAL WHERE tenant_id = {{t:UInt32}}) "
        f"WHERE deleted = 0 {where}"
    )


def _insert(store: Store, tenant_id: int, rows: list[Product], deleted: int) -> None:
    version = _versions.next()
    columns: dict[str, list[Any]] = {name: [] for name in SCHEMA.names}
    for product in rows:
        values = {
            "tenant_id": tenant_id,
            "product_id": product.product_id,
            "name": product.name,
            "category": product.category,
            "brand": product.brand,
            "price": product.price,
            "original_price": product.original_price,
            "currency": product.currency,
            "stock": product.stock,
            "image_url": product.image_url,
            "created_at": product.created_at or version,
            "updated_at": version,
            "deleted": deleted,
        }
        for name, value in values.items():
            columns[name].append(value)
    batch = pa.table(columns, schema=SCHEMA)
    store.insert("products", batch, f"catalog:{tenant_id}:{uuid.uuid4()}")


def upsert(store: Store, tenant_id: int, products: list[Product]) -> int:
    """Write a new version of each product; ``created_at`` left out keeps the stored one."""
    ids = [p.product_id for p in products]
    known = {p.product_id: p.created_at for p in _select(store, tenant_id, ids)}
    rows = [
        p
        if p.created_at is not None or p.product_id not in known
        else Product(**{**p.__dict__, "created_at": known[p.product_id]})
        for p in products
    ]
    _insert(store, tenant_id, rows, deleted=0)
    return len(rows)


def get(store: Store, tenant_id: int, product_id: str) -> Product | None:
    """The latest version of a product, or None when it was never written or is deleted."""
    found = _select(store, tenant_id, [product_id])
    return found[0] if found else None


def delete(store: Store, tenant_id: int, product_id: str) -> bool:
    """Write a tombstone for a live product; False when there is nothing to delete."""
    if get(store, tenant_id, product_id) is None:
        return False
    _insert(store, tenant_id, [Product(product_id)], deleted=1)
    return True


def _select(store: Store, tenant_id: int, ids: list[str]) -> list[Product]:
    if not ids:
        return []
    sql = _latest_sql(_COLUMNS, "AND product_id IN {ids:Array(String)} ORDER BY product_id")
    return _products(store.query(sql, {"t": tenant_id, "ids": ids}))


def low_stock(store: Store, tenant_id: int, threshold: int) -> list[Product]:
    """Live products whose stock is tracked and at most ``threshold``, by product id."""
    sql = _latest_sql(
        _COLUMNS, "AND stock IS NOT NULL AND stock <= {threshold:Int64} ORDER BY product_id"
    )
    return _products(store.query(sql, {"t": tenant_id, "threshold": threshold}))


def names(store: Store, tenant_id: int, ids: list[str]) -> dict[str, str]:
    """Catalog names of the live products among ``ids`` that have a non-empty name."""
    if not ids:
        return {}
    sql = _latest_sql("product_id, name", "AND name != '' AND product_id IN {ids:Array(String)}")
    rows = store.query(sql, {"t": tenant_id, "ids": ids}).to_pylist()
    return {row["product_id"]: row["name"] for row in rows}


def _products(table: pa.Table) -> list[Product]:
    out = []
    for row in table.to_pylist():
        original = row["original_price"]
        out.append(
            Product(
                product_id=row["product_id"],
                name=row["name"],
                category=row["category"],
                brand=row["brand"],
                price=row["price"],
                original_price=None if original is None else Decimal(original),
                currency=row["currency"],
                stock=row["stock"],
                image_url=row["image_url"],
                created_at=_aware(row["created_at"]),
                updated_at=_aware(row["updated_at"]),
            )
        )
    return out


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
