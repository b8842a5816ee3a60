"""Exchange-rate settings: ``PUT`` and ``GET /v1/settings/exchange-rates`` (secret key).

Rates are quoted per 1 EUR (the ECB's way). The global rates (the shipped ECB snapshot and
``shoplens rates load``) are shared by every tenant; a tenant's PUT stores *overrides* that
only its own conversions use, so one shop cannot change another's revenue. The body shape
and the lookup rules are in :mod:`shoplens.ingest.rates`.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from shoplens.api.deps import read_json, state
from shoplens.api.deps import secret_key as secret_key_dep
from shoplens.api.openapi import KEYED, RATES_BODY, errors, json_body
from shoplens.auth import Principal
from shoplens.ingest import rates_store
from shoplens.ingest.rates import QUOTE, date_of_day, day_number, parse_date, parse_json

router = APIRouter(tags=["settings"], responses=KEYED)


@router.put(
    "/v1/settings/exchange-rates", openapi_extra=json_body(RATES_BODY), responses=errors(413)
)
async def put_exchange_rates(
    request: Request, principal: Principal = Depends(secret_key_dep)
) -> dict[str, Any]:
    """Store this tenant's rate overrides; they apply to events ingested from now on."""
    rates = parse_json(await read_json(request))
    app_state = state(request)
    await asyncio.to_thread(
        rates_store.save_and_reload,
        app_state.store,
        app_state.converter,
        rates,
        tenant_id=principal.tenant.id,
        source="api",
    )
    return {"ok": True, "dates": len(rates.days), "rates": rates.count}


@router.get("/v1/settings/exchange-rates")
def get_exchange_rates(
    request: Request,
    principal: Principal = Depends(secret_key_dep),
    date: str | None = Query(None, description="YYYY-MM-DD; default today (UTC)"),
) -> dict[str, Any]:
    """The rates this tenant's conversions use on ``date``: per currency the latest rate on
    or before it, whether it is the tenant's own override, and one unit in base currency."""
    day = day_number(parse_date(date, "date") if date else datetime.now(UTC).date())
    book = state(request).converter.book
    base = principal.tenant.base_currency
    found = {
        currency: hit
        for currency in (book.currencies(principal.tenant.id) if book else [QUOTE])
        if (hit := book.lookup(currency, day, principal.tenant.id) if book else None)
    }
    base_rate = found.get(base)
    return {
        "ok": True,
        "quote": QUOTE,
        "date": date_of_day(day).isoformat(),
        "base_currency": base,
        "rates": [
            {
                "currency": currency,
                "rate": float(hit.rate),
                "date": date_of_day(hit.day).isoformat(),
                "override": hit.override,
                "to_base": float(base_rate.rate / hit.rate) if base_rate else None,
            }
            for currency, hit in found.items()
        ],
    }
