"""Catalog and product report routes.

- ``PUT /v1/catalog/products`` (bulk upsert, ``{"products": [...]}``, up to 1000),
  ``GET /v1/catalog/products/{id}`` (404 when unknown or deleted) and
  ``DELETE /v1/catalog/products/{id}`` (404 when there is nothing to delete).
- ``GET /analytics/products`` (seeds 000, 001): ``topSellers`` and ``lowStock``; money in
  integer minor units of the base currency.
- ``GET /analytics/inventory/alerts`` (seed 003): ``low_stock``, ``out_of_stock``, ``summary``.

Secret key only (403 for a publishable key). Routes parse, call :mod:`shoplens.catalog` or
:mod:`shoplens.metrics.products`, and shape; no SQL here.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from shoplens import catalog
from shoplens.api.deps import read_body, state
from shoplens.api.deps import secret_key as secret_key_dep
from shoplens.api.openapi import CATALOG_BODY, KEYED, errors, json_body
from shoplens.api.params import CORE_PERIOD, CORE_PERIOD_DOCS, parse_limit, period_of
from shoplens.auth import Principal
from shoplens.errors import BadRequest, NotFound
from shoplens.metrics import products
from shoplens.metrics.products import StockLevel

router = APIRouter(tags=["catalog"], responses=KEYED)
_MAX_THRESHOLD = 10**9


@router.put("/v1/catalog/products", openapi_extra=json_body(CATALOG_BODY), responses=errors(413))
async def put_products(
    request: Request, principal: Principal = Depends(secret_key_dep)
) -> dict[str, Any]:
    """Create or replace up to 1000 products; a 400 names the first bad field."""
    app_state = state(request)
    parsed = catalog.parse_body(await read_body(request), principal.tenant, app_state.converter)
    count = catalog.upsert(app_state.store, principal.tenant.id, parsed)
    return {"ok": True, "upserted": count}


@router.get("/v1/catalog/products/{product_id:path}", responses=errors(404))
def get_product(
    request: Request, product_id: str, principal: Principal = Depends(secret_key_dep)
) -> dict[str, Any]:
    """The product's latest version; 404 when unknown or deleted."""
    found = catalog.get(state(request).store, principal.tenant.id, product_id)
    if found is None:
        raise NotFound(f"Product {product_id!r} not found", field="id")
    return found.to_json(principal.tenant.base_currency)


@router.delete("/v1/catalog/products/{product_id:path}", responses=errors(404))
def delete_product(
    request: Request, product_id: str, principal: Principal = Depends(secret_key_dep)
) -> dict[str, Any]:
    """Delete a product (a later PUT brings it back); 404 when there is nothing to delete."""
    if not catalog.delete(state(request).store, principal.tenant.id, product_id):
        raise NotFound(f"Product {product_id!r} not found", field="id")
    return {"ok": True, "deleted": product_id}


def _threshold(value: str | None) -> int:
    if value is None or not value.strip():
        return products.DEFAULT_THRESHOLD
    value = value.strip()
    if not value.isascii() or not value.isdigit() or int(value) > _MAX_THRESHOLD:
        raise BadRequest(
            f"threshold must be a whole number from 0 to {_MAX_THRESHOLD}", field="threshold"
        )
    return int(value)


@router.get("/analytics/products", dependencies=[CORE_PERIOD_DOCS])
def product_performance(
    request: Request,
    principal: Principal = Depends(secret_key_dep),
    limit: str | None = Query(None, description="rows per list, 1..100 (default 10)"),
    threshold: str | None = Query(None, description="low stock at or below (default 10)"),
) -> dict[str, Any]:
    """Top sellers (revenue in minor units) and low-stock products with sales velocity."""
    size = parse_limit(limit, products.DEFAULT_LIMIT, products.MAX_LIMIT)
    level = _threshold(threshold)
    window = period_of(request, principal, CORE_PERIOD)
    store, tenant = state(request).store, principal.tenant
    sellers, levels = products.performance(store, tenant, window, size, level)
    low = levels[:size]
    return {
        "topSellers": [
            {
                "productId": s.item_id,
                "name": s.item_name,
                "revenue": s.revenue,
                "unitsSold": s.units,
                "views": s.views,
                "conversionRate": s.conversion_rate,
            }
            for s in sellers
        ],
        "lowStock": [
            {
                "productId": s.product_id,
                "name": s.name,
                "stock": s.stock,
                "velocity": s.velocity,
                "daysOfCover": s.days_of_cover,
            }
            for s in low
        ],
        "period": window.label,
        "currency": tenant.base_currency,
    }


def _alert(level: StockLevel) -> dict[str, Any]:
    return {
        "product_id": level.product_id,
        "name": level.name,
        "stock": level.stock,
        "velocity": level.velocity,
        "days_of_cover": level.days_of_cover,
    }


@router.get("/analytics/inventory/alerts", dependencies=[CORE_PERIOD_DOCS])
def inventory_alerts(
    request: Request,
    principal: Principal = Depends(secret_key_dep),
    limit: str | None = Query(None, description="rows per list, 1..100 (default 100)"),
    threshold: str | None = Query(None, description="low stock at or below (default 10)"),
) -> dict[str, Any]:
    """Out-of-stock and low-stock products with days of cover from the period's sales."""
    size = parse_limit(limit, products.MAX_LIMIT, products.MAX_LIMIT)
    level = _threshold(threshold)
    window = period_of(request, principal, CORE_PERIOD)
    levels = products.stock_levels(state(request).store, principal.tenant, window, level)
    out = [s for s in levels if s.stock <= 0]
    low = [s for s in levels if s.stock > 0]
    return {
        "low_stock": [_alert(s) for s in low[:size]],
        "out_of_stock": [_alert(s) for s in out[:size]],
        "summary": {
            "low_stock_count": len(low),
            "out_of_stock_count": len(out),
            "threshold": level,
            "period_days": window.days,
            "time_range": window.label,
        },
    }
