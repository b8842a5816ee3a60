"""Report routes: RFM customer segments (seed 003), ``/analytics/customers/segments``.

Takes the core period styles (``time_range=today|week|month|quarter|year|custom`` with
``start_date``/``end_date``, and ``period``/``days``/``start``/``end``; default: the last 30
days) and echoes ``time_range``, ``start_date``, ``end_date`` and ``currency`` like the other
store reports. The period only fixes the "as of" day (its last day): RFM reads all history
up to the period's end. Money is integer minor units of the tenant's base currency.
Definitions and the segment rules: :mod:`shoplens.metrics.segments`.

Secret key only. The route parses, calls the metrics module, and shapes; no SQL here.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from shoplens.api.deps import secret_key as secret_key_dep
from shoplens.api.deps import state
from shoplens.api.openapi import KEYED
from shoplens.api.params import CORE_PERIOD, CORE_PERIOD_DOCS, period_of
from shoplens.auth import Principal
from shoplens.metrics import segments as rfm

router = APIRouter(tags=["reports"], responses=KEYED)

_TIME_RANGE = "today|week|month|quarter|year|custom (default: last 30 days)"
_DATE = "YYYY-MM-DD, with time_range=custom"


@router.get("/analytics/customers/segments", dependencies=[CORE_PERIOD_DOCS])
def customer_segments(
    request: Request,
    principal: Principal = Depends(secret_key_dep),
) -> dict[str, Any]:
    """RFM segments as of the period's last day: customers, share, revenue, AOV, recency."""
    tenant = principal.tenant
    window = period_of(request, principal, CORE_PERIOD)
    stats = rfm.segments(state(request).store, tenant, window)
    total = sum(s.customers for s in stats)
    return {
        "time_range": window.label,
        "start_date": window.first_day.isoformat(),
        "end_date": window.last_day.isoformat(),
        "currency": tenant.base_currency,
        "total_customers": total,
        "segments": [
            {
                "segment": s.segment.name,
                "description": s.segment.description,
                "rule": s.segment.rule,
                "customers": s.customers,
                "share_of_customers": s.share_of(total),
                "revenue": s.revenue,
                "avg_order_value": s.avg_order_value,
                "avg_recency_days": s.avg_recency_days,
            }
            for s in stats
        ],
    }
