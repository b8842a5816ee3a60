"""The custom query's ``funnel`` block: validated here, answered by
:func:`shoplens.metrics.funnel.funnel` over the query's filtered events.

Request (``POST /analytics/query``)::

    {"funnel": {"steps": ["view_item", "add_to_cart",
                          {"event": "purchase", "where": {"coupon": "SPRING"}}],
                "conversionWindow": "7d", "order": "ordered"},
     "filters": [["is", "country", ["US"]]], "period": "30d"}

``steps`` follow :mod:`shoplens.metrics.funnel_steps` (2 to 10, strings or objects);
``conversionWindow`` and ``order`` as the GET surfaces' ``window`` and ``order``. The
query's dimension filters (event-level dimensions only) apply to every event the funnel
reads; ``metrics``, ``dimensions``, ``orderBy``, ``limit``, ``offset`` and ``compare`` do not
combine with a funnel (a 400 naming the field).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from shoplens.errors import BadRequest
from shoplens.metrics.funnel import Funnel, Step
from shoplens.metrics.funnel_steps import parse_order, parse_step_list, parse_window, window_text

__all__ = ["EXCLUSIVE", "FunnelSpec", "describe", "parse_funnel", "shape"]

#: Request fields a funnel query refuses: a funnel answers its steps, not metric rows.
EXCLUSIVE = ("metrics", "dimensions", "orderBy", "limit", "offset", "compare")
_KEYS = ("steps", "conversionWindow", "order")


@dataclass(frozen=True)
class FunnelSpec:
    """A validated funnel block."""

    steps: tuple[Step, ...]
    window: timedelta | None
    strict: bool


def parse_funnel(raw: Any, body: dict[str, Any]) -> FunnelSpec:
    """The ``funnel`` block of ``body`` (400s name ``funnel.<key>`` or the refused field)."""
    if not isinstance(raw, dict):
        raise BadRequest(
            "funnel must be an object: {steps, conversionWindow, order}", field="funnel"
        )
    if unknown := sorted(set(raw) - set(_KEYS)):
        raise BadRequest(
            f"funnel.{unknown[0]} is not a funnel key; allowed: {', '.join(_KEYS)}",
            field=f"funnel.{unknown[0]}",
        )
    for key in EXCLUSIVE:
        if body.get(key) is not None:
            raise BadRequest(
                f"{key} cannot be combined with funnel: a funnel query answers its steps",
                field=key,
            )
    if raw.get("steps") is None:
        raise BadRequest("funnel.steps is required", field="funnel.steps")
    return FunnelSpec(
        steps=parse_step_list(raw["steps"], "funnel.steps"),
        window=parse_window(raw.get("conversionWindow"), "funnel.conversionWindow"),
        strict=parse_order(raw.get("order"), "funnel.order"),
    )


def _step(step: Step) -> dict[str, Any]:
    where = {f.key: {"not": f.value} if f.negate else f.value for f in step.filters}
    return {"name": step.name, "event": step.event_type, "where": where}


def describe(spec: FunnelSpec) -> dict[str, Any]:
    """The block as understood: aliases resolved, defaults filled in."""
    return {
        "steps": [_step(s) for s in spec.steps],
        "conversionWindow": window_text(spec.window),
        "order": "strict" if spec.strict else "ordered",
    }


def shape(spec: FunnelSpec, result: Funnel) -> dict[str, Any]:
    """The answer's ``funnel``: per step its persons and drop-off, and the conversion."""
    return {
        "steps": [
            {
                "name": s.name,
                "event": s.event_type,
                "count": s.count,
                "conversion_from_previous": s.rate,
                "conversion_from_first": s.overall_rate,
                "drop_off": s.drop_off,
                "drop_off_rate": s.drop_off_rate,
            }
            for s in result.steps
        ],
        "conversion_rate": result.conversion_rate,
        "conversionWindow": window_text(spec.window),
        "order": "strict" if spec.strict else "ordered",
    }
