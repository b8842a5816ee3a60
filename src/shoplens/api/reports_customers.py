"""Report routes: customers, in the ecommerce v1 shapes (seed 002).

- ``GET /v1/api/analytics/ecommerce/cohorts?months=6``: the revenue cohort matrix.
- ``GET /v1/api/analytics/ecommerce/user-journey?user_id=…``: one user's event history.

Both take seed 002's period parameters (``days``/``start``/``end``): without them the whole
retained history is read; with them the report is of that window and says its ``days``.
Secret key only; money as decimals in the base currency. Definitions live in
:mod:`shoplens.metrics.customers`; routes parse, call it, and shape; no SQL here.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from shoplens.api.deps import secret_key as secret_key_dep
from shoplens.api.deps import state
from shoplens.api.openapi import KEYED
from shoplens.api.params import V1_PERIOD, V1_PERIOD_DOCS, money, optional_period_of
from shoplens.auth import Principal
from shoplens.errors import BadRequest
from shoplens.metrics import customers
from shoplens.metrics.period import Period

router = APIRouter(tags=["reports"], responses=KEYED)

_DIGITS = re.compile(r"\d{1,9}", re.ASCII)


def _months(value: str | None) -> int:
    """``months`` (1..36, default 6); anything else is a 400 naming it."""
    if value is None or not value.strip():
        return customers.DEFAULT_MONTHS
    text = value.strip()
    if not _DIGITS.fullmatch(text) or not 1 <= int(text) <= customers.MAX_MONTHS:
        raise BadRequest(
            f"months must be a whole number from 1 to {customers.MAX_MONTHS}", field="months"
        )
    return int(text)


def _iso_z(at: datetime) -> str:
    """UTC ISO 8601 with ``Z``: whole seconds as ``…:00Z``, else with milliseconds."""
    spec = "seconds" if at.microsecond == 0 else "milliseconds"
    return at.astimezone(UTC).isoformat(timespec=spec).replace("+00:00", "Z")


def _days(window: Period | None) -> dict[str, int]:
    """``{"days": N}`` when a period was asked for (as every other v1 report answers)."""
    return {"days": window.days} if window else {}


@router.get("/v1/api/analytics/ecommerce/cohorts", dependencies=[V1_PERIOD_DOCS])
def ecommerce_cohorts(
    request: Request,
    principal: Principal = Depends(secret_key_dep),
    months: str | None = Query(None, description="cohort months to include (1..36, default 6)"),
) -> dict[str, Any]:
    """Revenue by acquisition month and months since, newest cohort first."""
    tenant = principal.tenant
    count = _months(months)
    window = optional_period_of(request, principal, V1_PERIOD)
    report = customers.cohorts(
        state(request).store, tenant, count, datetime.now(UTC), window=window
    )
    cur = tenant.base_currency
    return {
        "cohorts": [
            {
                "month": c.month.strftime("%Y-%m"),
                "users": c.users,
                "revenue_by_month": {
                    str(k): money(minor, cur) for k, minor in enumerate(c.revenue_by_month)
                },
            }
            for c in report.cohorts
        ],
        "avg_ltv": money(report.avg_ltv, cur),
        "total_purchasing_users": report.total_purchasing_users,
        **_days(window),
    }


@router.get("/v1/api/analytics/ecommerce/user-journey", dependencies=[V1_PERIOD_DOCS])
def ecommerce_user_journey(
    request: Request,
    principal: Principal = Depends(secret_key_dep),
    user_id: str | None = Query(None, description="the user ID to look up (required)"),
) -> dict[str, Any]:
    """One user's events, oldest first (the newest 1000)."""
    if user_id is None or not user_id.strip():
        raise BadRequest("user_id is required", field="user_id")
    tenant = principal.tenant
    window = optional_period_of(request, principal, V1_PERIOD)
    journey = customers.user_journey(
        state(request).store, tenant, user_id, datetime.now(UTC), window=window
    )
    events = []
    for e in journey:
        out: dict[str, Any] = {"event_type": e.event_type, "timestamp": _iso_z(e.timestamp)}
        if e.items:
            out["items"] = [
                {"item_id": i.item_id, "item_name": i.item_name}
                if i.item_name
                else {"item_id": i.item_id}
                for i in e.items
            ]
        if e.transaction_id:
            out["transaction_id"] = e.transaction_id
        if e.revenue is not None:
            out["revenue"] = money(e.revenue, tenant.base_currency)
        events.append(out)
    return {"events": events, "user_id": user_id, **_days(window)}
