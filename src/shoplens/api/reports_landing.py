"""Report routes: the landing-page dashboard of seed 004.

- ``GET /api/analytics/{tenantId}``: visitors today and over the last 7 local days, the
  week's click counters, average time on page and ``last_7_days`` (7 entries, oldest first).
- ``GET /api/analytics/{tenantId}/today``: today's visitors, WhatsApp clicks, QR scans and
  product clicks.

Secret key only, and only for the key's own tenant: a ``tenantId`` other than the key's
(whether or not it names a tenant) is a 403 that reveals nothing about it; a ``tenantId``
that is not a whole number is a 400 naming ``tenantId``. Definitions are in
:mod:`shoplens.metrics.landing`; no SQL here.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Path, Request

from shoplens.api.deps import secret_key as secret_key_dep
from shoplens.api.deps import state
from shoplens.api.openapi import KEYED
from shoplens.auth import Principal
from shoplens.errors import BadRequest, Forbidden
from shoplens.meta import Tenant
from shoplens.metrics import landing

router = APIRouter(tags=["reports"], responses=KEYED)

_TENANT_ID = re.compile(r"\d{1,19}", re.ASCII)


def _own_tenant(tenant_id: str, principal: Principal) -> Tenant:
    """The key's tenant, if the path names it; 400 for a malformed id, 403 for any other."""
    if not _TENANT_ID.fullmatch(tenant_id):
        raise BadRequest("tenantId must be a whole number (the tenant's id)", field="tenantId")
    if int(tenant_id) != principal.tenant.id:
        raise Forbidden("This key belongs to another tenant", field="tenantId")
    return principal.tenant


@router.get("/api/analytics/{tenantId}")
def landing_analytics(
    request: Request,
    tenant_id: str = Path(..., alias="tenantId", description="the tenant's id (integer)"),
    principal: Principal = Depends(secret_key_dep),
) -> dict[str, Any]:
    """Seed 004's dashboard: ``visitors_today``, then the last 7 local days' figures."""
    tenant = _own_tenant(tenant_id, principal)
    report = landing.landing_report(state(request).store, tenant, datetime.now(UTC))
    week = report.week
    return {
        "success": True,
        "data": {
            "visitors_today": report.today.visitors,
            "visitors_week": week.visitors,
            "whatsapp_clicks": week.whatsapp_clicks,
            "call_clicks": week.call_clicks,
            "currency_toggles": week.currency_toggles,
            "qr_scans": week.qr_scans,
            "avg_time_on_page": week.avg_time_on_page,
            "last_7_days": [{"date": d.date, "visitors": d.visitors} for d in report.last_7_days],
        },
    }


@router.get("/api/analytics/{tenantId}/today")
def landing_analytics_today(
    request: Request,
    tenant_id: str = Path(..., alias="tenantId", description="the tenant's id (integer)"),
    principal: Principal = Depends(secret_key_dep),
) -> dict[str, Any]:
    """Seed 004's today summary, in the tenant's time zone."""
    tenant = _own_tenant(tenant_id, principal)
    today, _ = landing.windows(tenant, datetime.now(UTC))
    counts = landing.counts(state(request).store, tenant, today)
    return {
        "success": True,
        "visitors_today": counts.visitors,
        "whatsapp_clicks": counts.whatsapp_clicks,
        "qr_scans": counts.qr_scans,
        "products_viewed": counts.products_viewed,
    }
