"""Query parameters and response money shared by the report routes.

Routes declare their parameters with FastAPI's ``Query`` (so ``/docs`` lists them) and turn
them into domain values here: the period in the tenant's time zone, ``limit``, and money
as JSON numbers for the surfaces that speak decimals.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fastapi import Depends, Query, Request

from shoplens import retention
from shoplens.api.deps import state
from shoplens.auth import Principal
from shoplens.errors import BadRequest
from shoplens.ingest.money import from_minor
from shoplens.metrics.period import Period, parse_period

#: Period parameters of the core/store-report surface (seeds 000, 001, 003).
CORE_PERIOD = ("period", "days", "start", "end", "time_range", "start_date", "end_date")
#: Period parameters the ecommerce v1 routes read: seed 002's ``days``/``start``/``end``
#: (what /docs declares for them) and, as docs/api.md promises, the other styles too, so
#: ``period=7d`` is answered, never silently read as the default 30 days.
V1_PERIOD = CORE_PERIOD


def _declare_core_period(
    period: str | None = Query(None, description="7d, 30d, 90d or 12m"),
    days: str | None = Query(None, description="last N days (1..3650)"),
    start: str | None = Query(None, description="YYYY-MM-DD, with end"),
    end: str | None = Query(None, description="YYYY-MM-DD, with start"),
    time_range: str | None = Query(None, description="today|week|month|quarter|year|custom"),
    start_date: str | None = Query(None, description="YYYY-MM-DD, with time_range=custom"),
    end_date: str | None = Query(None, description="YYYY-MM-DD, with time_range=custom"),
) -> None:
    """Declares the core period parameters for /docs; ``period_of`` reads them."""


def _declare_v1_period(
    days: str | None = Query(None, description="days to look back (default 30)"),
    start: str | None = Query(None, description="YYYY-MM-DD, with end"),
    end: str | None = Query(None, description="YYYY-MM-DD, with start"),
) -> None:
    """Declares the v1 period parameters for /docs; ``period_of`` reads them."""


#: Route ``dependencies=[...]`` entries that put a surface's period parameters in /docs,
#: declared once instead of in every route's signature.
CORE_PERIOD_DOCS = Depends(_declare_core_period)
V1_PERIOD_DOCS = Depends(_declare_v1_period)


def period_of(
    request: Request,
    principal: Principal,
    names: tuple[str, ...],
    *,
    from_rollups: bool = False,
    **options: Any,
) -> Period:
    """The route's period parameters (only ``names``; others are ignored) as a Period in the
    key's tenant's time zone, clamped to the tenant's retention (seed 002: "Clamped to your
    plan's retention limit"; the tenant's setting, within its plan).

    The window is the raw-event one, unless ``from_rollups``: a report the hourly rollups
    answer looks back over the aggregated window. The period carries where raw rows start
    (``Period.raw_from``), so the metrics read the rollups past it, and know when a
    previous period (for growth) reaches past what raw rows hold."""
    meta, tenant = state(request).meta, principal.tenant
    raw = retention.raw_days(meta, tenant)
    query = {name: request.query_params.get(name) for name in names}
    return parse_period(
        query,
        timezone=tenant.timezone,
        now=datetime.now(UTC),
        retention_days=retention.aggregated_days(meta, tenant) if from_rollups else raw,
        raw_days=raw,
        **options,
    )


def optional_period_of(
    request: Request, principal: Principal, names: tuple[str, ...]
) -> Period | None:
    """:func:`period_of` when the request names a period, else None: for the reports whose
    default is not a window of days (the v1 cohort matrix and user journey read all
    retained history unless asked for a period)."""
    if not any((request.query_params.get(name) or "").strip() for name in names):
        return None
    return period_of(request, principal, names)


def parse_limit(value: str | None, default: int, maximum: int) -> int:
    """``limit`` as a whole number from 1 to ``maximum`` (absent or empty: ``default``)."""
    if value is None or not value.strip():
        return default
    value = value.strip()
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= maximum:
        raise BadRequest(f"limit must be a whole number from 1 to {maximum}", field="limit")
    return int(value)


def money(minor: int | Decimal, currency: str) -> int | float:
    """Minor units → a JSON number in major units with the currency's digits (JPY: an int).

    The Decimal is rounded first, so the float's shortest repr is exactly that decimal.
    """
    return json_number(from_minor(minor, currency))


def json_number(amount: Decimal) -> int | float:
    return int(amount) if amount.as_tuple().exponent == 0 else float(amount)


def json_values(value: Any) -> Any:
    """Decimals anywhere in a response body → JSON numbers."""
    if isinstance(value, Decimal):
        return json_number(value)
    if isinstance(value, dict):
        return {k: json_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_values(v) for v in value]
    return value


def iso_ms(ms: int) -> str:
    """Epoch milliseconds → UTC ISO 8601 with milliseconds and ``Z``."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"
