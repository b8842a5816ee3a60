"""Fraud review and settings routes (seed 002's fraud rules; secret key, one tenant).

- ``GET /v1/fraud/events``: flagged (severity 1) events of a period, newest first.
- ``GET /v1/fraud/stats``: flagged events by rule (from the store) and blocked events by
  rule (severity 2, never stored: counted in the metadata store) over a period.
- ``GET``/``PATCH /v1/settings/fraud``: each rule's switch, severity and thresholds.

Periods take the v1 parameters (``days``, ``start``/``end``). Rules: ``ingest.fraud``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from shoplens.api.deps import AppState, read_json, state
from shoplens.api.deps import secret_key as secret_key_dep
from shoplens.api.openapi import FRAUD_SETTINGS_BODY, KEYED, errors, json_body
from shoplens.api.params import V1_PERIOD, V1_PERIOD_DOCS, money, parse_limit, period_of
from shoplens.auth import Principal
from shoplens.errors import BadRequest
from shoplens.ingest.fraud import Fraud, FraudSettings, describe
from shoplens.ingest.fraud_stats import ALL
from shoplens.metrics import fraud as fraud_metrics
from shoplens.metrics.period import Period

router = APIRouter(tags=["fraud"], responses=KEYED)

MAX_LIMIT = 500
MAX_OFFSET = 1_000_000


def fraud_settings(app_state: AppState) -> FraudSettings:
    """The fraud stage's settings (so a PATCH drops its cache), or fresh ones."""
    for stage in app_state.stages.stages:
        if isinstance(stage, Fraud):
            return stage.settings
    return FraudSettings(app_state.meta, app_state.settings.key_cache_seconds)


def _offset(value: str | None) -> int:
    if value is None or not value.strip():
        return 0
    value = value.strip()
    if not value.isascii() or not value.isdigit() or int(value) > MAX_OFFSET:
        raise BadRequest(f"offset must be a whole number from 0 to {MAX_OFFSET}", field="offset")
    return int(value)


def _iso_ms(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _range(period: Period) -> dict[str, str]:
    return {"start": period.first_day.isoformat(), "end": period.last_day.isoformat()}


@router.get("/v1/fraud/events", dependencies=[V1_PERIOD_DOCS])
def fraud_events(
    request: Request,
    principal: Principal = Depends(secret_key_dep),
    limit: str | None = Query(None, description=f"events per page, 1..{MAX_LIMIT} (default 50)"),
    offset: str | None = Query(None, description="events to skip (default 0)"),
) -> dict[str, Any]:
    """Flagged events of the period, newest first; money in base-currency major units."""
    tenant = principal.tenant
    period = period_of(request, principal, V1_PERIOD)
    size, skip = parse_limit(limit, 50, MAX_LIMIT), _offset(offset)
    page = fraud_metrics.flagged_events(
        state(request).store, tenant.id, period, limit=size, offset=skip
    )
    return {
        "ok": True,
        **_range(period),
        "total": page.total,
        "limit": size,
        "offset": skip,
        "events": [
            {
                "time": _iso_ms(row["ts"]),
                "event_id": row["id"],
                "event_type": row["event_type"],
                "transaction_id": row["transaction_id"],
                "user_id": row["user_id"],
                "revenue": money(row["revenue"], tenant.base_currency),
                "currency": tenant.base_currency,
                "original_revenue": row["original_revenue"],
                "original_currency": row["original_currency"],
                "reasons": list(row["fraud_reasons"]),
            }
            for row in page.events
        ],
    }


@router.get("/v1/fraud/stats", dependencies=[V1_PERIOD_DOCS])
def fraud_stats(request: Request, principal: Principal = Depends(secret_key_dep)) -> dict[str, Any]:
    """Flagged and blocked events of the period, in total and by rule.

    Blocked counts are kept per UTC day: the period is widened to the UTC days it touches.
    """
    app_state, tenant = state(request), principal.tenant
    period = period_of(request, principal, V1_PERIOD)
    flagged, flagged_rules = fraud_metrics.flagged_by_rule(app_state.store, tenant.id, period)
    blocked_rules: dict[str, int] = {}
    if app_state.blocked is not None:
        first = period.start.astimezone(UTC).date()
        last = (period.end - timedelta(milliseconds=1)).astimezone(UTC).date()
        blocked_rules = app_state.blocked.counts(tenant.id, first, last)
    blocked = blocked_rules.pop(ALL, 0)
    return {
        "ok": True,
        **_range(period),
        "flagged": {"events": flagged, "by_rule": dict(sorted(flagged_rules.items()))},
        "blocked": {"events": blocked, "by_rule": dict(sorted(blocked_rules.items()))},
    }


@router.get("/v1/settings/fraud")
def get_fraud_settings(
    request: Request, principal: Principal = Depends(secret_key_dep)
) -> dict[str, Any]:
    """Every rule as the tenant has it: enabled, severity, thresholds, description."""
    config = fraud_settings(state(request)).get(principal.tenant.id)
    return {"ok": True, "rules": describe(config)}


@router.patch(
    "/v1/settings/fraud",
    openapi_extra=json_body(FRAUD_SETTINGS_BODY),
    responses=errors(413),
)
async def patch_fraud_settings(
    request: Request, principal: Principal = Depends(secret_key_dep)
) -> dict[str, Any]:
    """Change some rules: ``{"rules": {"velocity": {"severity": 2, "thresholds":
    {"per_user": 5}}}}``; what is not named keeps its value."""
    patch = await read_json(request)
    settings = fraud_settings(state(request))
    config = await asyncio.to_thread(settings.update, principal.tenant.id, patch)
    return {"ok": True, "rules": describe(config)}
