"""Data controls: per-user deletion (seed 002) and retention settings (seed 000).

- ``DELETE /v1/api/analytics/user/{userId}``: queue the deletion, answer
  ``{"ok": true, "deleted_user_id": ...}`` at once (seed 002: asynchronous);
- ``GET /v1/api/analytics/user/{userId}/deletion``: the latest deletion's status;
- ``GET`` / ``PATCH /analytics/settings``: the retention windows (seed 000's body).

Secret key only; thin: the work is in :mod:`shoplens.deletion` and :mod:`shoplens.retention`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from shoplens import deletion, plans, retention
from shoplens.api.deps import read_json, state
from shoplens.api.deps import secret_key as secret_key_dep
from shoplens.api.openapi import KEYED, RETENTION_BODY, errors, json_body
from shoplens.auth import Principal
from shoplens.errors import NotFound

router = APIRouter(tags=["data controls"], responses=KEYED)


@router.delete("/v1/api/analytics/user/{userId}", summary="Delete every event of one user")
def delete_user(
    userId: str,  # the seed's parameter name
    request: Request,
    principal: Principal = Depends(secret_key_dep),
) -> dict[str, Any]:
    app_state = state(request)
    deletion.request(app_state.meta, principal.tenant.id, userId)
    if app_state.maintenance is not None:
        app_state.maintenance.wake()
    return {"ok": True, "deleted_user_id": userId}


@router.get(
    "/v1/api/analytics/user/{userId}/deletion",
    summary="Status of the user's latest deletion",
    responses=errors(404),
)
def deletion_status(
    userId: str,  # the seed's parameter name
    request: Request,
    principal: Principal = Depends(secret_key_dep),
) -> dict[str, Any]:
    jobs = deletion.history(
        state(request).meta, principal.tenant.id, deletion.check_user_id(userId)
    )
    if not jobs:
        raise NotFound(f"no deletion was requested for user {userId!r}", field="userId")
    return {"ok": True, "user_id": userId, **jobs[0].body(), "requests": len(jobs)}


def _settings_body(request: Request, principal: Principal) -> dict[str, Any]:
    windows = retention.of(state(request).meta, principal.tenant)
    return {
        "retention": windows.body(),
        "plan": principal.tenant.plan,
        "limits": {"rawEvents": plans.retention_days(principal.tenant)},
    }


@router.get("/analytics/settings", summary="Retention settings (days)")
def get_settings(
    request: Request, principal: Principal = Depends(secret_key_dep)
) -> dict[str, Any]:
    return _settings_body(request, principal)


@router.patch(
    "/analytics/settings",
    summary="Change retention (days), within the plan",
    openapi_extra=json_body(RETENTION_BODY),
    responses=errors(413),
)
async def patch_settings(
    request: Request, principal: Principal = Depends(secret_key_dep)
) -> dict[str, Any]:
    retention.update(state(request).meta, principal.tenant, await read_json(request))
    return _settings_body(request, principal)
