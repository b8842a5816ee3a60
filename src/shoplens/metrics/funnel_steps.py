"""Custom funnel steps, conversion window and order: parsed from text or JSON into
:class:`~shoplens.metrics.funnel.Step` values. Every error is a 400 naming the field.

Text syntax (the GET surfaces' ``steps`` parameter, and string entries of a JSON list)::

    steps=product_view,add_to_cart,purchase
    steps=page_view:page_path=/pricing,signup:properties.plan!=free,purchase

- Steps are separated by ``,``; each is an event type, optionally followed by ``:`` and
  filters separated by ``;``, each ``key=value`` or ``key!=value``. The filters start at the
  last ``:`` before the first ``=`` (so an event type may itself contain ``:``, unless what
  follows its last ``:`` is a filter key: ``page_view:page_path`` is a filter missing its
  value, a 400).
- An event type is any type shoplens stores; the wire formats' names are accepted for it
  (``product_view`` and seed 002's ``view_item``, Segment's ``Product Viewed``, seed 004's
  ``pageview`` are one type), see :data:`EVENT_ALIASES`.
- A filter key is an ``events`` column or a custom-query dimension name
  (:data:`FILTER_COLUMNS`: ``event_name`` matches track calls' names, ``page_path``,
  ``country``, ``page``, ``source``…) or ``properties.<key>`` for a custom property.

JSON (the custom query's ``funnel.steps``): a list whose entries are such strings or
objects ``{"event": "page_view", "where": {"page_path": "/pricing",
"properties.plan": {"not": "free"}}, "name": "Pricing"}``.

Window: ``<n>m``, ``<n>h`` or ``<n>d`` (minutes, hours, days), from 1 minute to
:data:`MAX_WINDOW_DAYS` days; absent: the whole period. Order: ``ordered`` (default; other
events may come between the steps) or ``strict`` (each step the person's very next event).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from shoplens.errors import BadRequest
from shoplens.ingest.formats.core import STANDARD_EVENTS
from shoplens.ingest.formats.landing import LANDING_TYPES
from shoplens.ingest.formats.segment import SPEC_EVENTS
from shoplens.metrics.funnel import Step, StepFilter
from shoplens.metrics.query_catalog import DIMENSIONS

__all__ = [
    "EVENT_ALIASES",
    "FILTER_COLUMNS",
    "ORDERS",
    "parse_order",
    "parse_step_list",
    "parse_steps_text",
    "parse_window",
    "window_text",
]

MIN_STEPS, MAX_STEPS = 2, 10
MAX_FILTERS = 5
MAX_NAME_LENGTH = 128  # Segment's event names are the longest the wire formats accept
MAX_VALUE_LENGTH = 256
MAX_WINDOW_DAYS = 365
ORDERS = ("ordered", "strict")
PROPERTY_PREFIX = "properties."

#: Every name a wire format accepts for an event type → the stored (canonical) type.
EVENT_ALIASES: dict[str, str] = {
    **{name: spec.event_type for name, spec in SPEC_EVENTS.items()},
    **LANDING_TYPES,
    **STANDARD_EVENTS,
}

_RAW_COLUMNS = [
    "event_name",
    "page_url",
    "page_path",
    "page_title",
    "referrer",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "channel",
    "device_type",
    "platform",
    "os",
    "browser",
    "country",
    "region",
    "city",
    "coupon_code",
    "search_term",
    "cart_id",
]
#: Filter keys → ``events`` columns: the custom query's event-level dimension names
#: (``page``, ``source``, ``device``…) and these string columns by their own names.
FILTER_COLUMNS: dict[str, str] = {
    **{c: c for c in _RAW_COLUMNS},
    **{d.name: d.column for d in DIMENSIONS.values() if d.column and not d.time},
}
_WINDOW = re.compile(r"^([0-9]{1,6})([mhd])$")
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}


def parse_window(raw: Any, field: str) -> timedelta | None:
    """``30m``/``24h``/``7d`` → a timedelta from 1 minute to 365 days; None when absent."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    match = _WINDOW.match(raw.strip()) if isinstance(raw, str) else None
    span = int(match[1]) * _UNITS[match[2]] if match else None
    if span is None or not timedelta(minutes=1) <= span <= timedelta(days=MAX_WINDOW_DAYS):
        raise BadRequest(
            f"{field} must be minutes, hours or days like 30m, 24h or 7d, "
            f"from 1m to {MAX_WINDOW_DAYS}d",
            field=field,
        )
    return span


def window_text(window: timedelta | None) -> str | None:
    """The window as the shortest ``<n>d``/``<n>h``/``<n>m`` text; None: the whole period."""
    if window is None:
        return None
    for unit in ("d", "h", "m"):
        if window % _UNITS[unit] == timedelta(0):
            return f"{window // _UNITS[unit]}{unit}"
    raise ValueError(f"{window} is not whole minutes")


def parse_order(raw: Any, field: str) -> bool:
    """``ordered`` (default) or ``strict`` → whether the order is strict."""
    if raw is None or raw == "":
        return False
    if raw not in ORDERS:
        raise BadRequest(f"{field} must be one of: {', '.join(ORDERS)}", field=field)
    return bool(raw == "strict")


def _event_type(raw: Any, where: str, field: str) -> str:
    name = raw.strip() if isinstance(raw, str) else ""
    if not name or len(name) > MAX_NAME_LENGTH or not name.isprintable():
        raise BadRequest(
            f"{where}: the event type must be 1 to {MAX_NAME_LENGTH} printable characters",
            field=field,
        )
    return EVENT_ALIASES.get(name, name)


def _filter(key: str, value: Any, negate: bool, where: str, field: str) -> StepFilter:
    key = key.strip()
    if not isinstance(value, str) or len(value) > MAX_VALUE_LENGTH:
        raise BadRequest(
            f"{where}: the value of {key!r} must be a string of at most "
            f"{MAX_VALUE_LENGTH} characters",
            field=field,
        )
    if key.startswith(PROPERTY_PREFIX) and len(key) > len(PROPERTY_PREFIX):
        return StepFilter(key, value, prop=key.removeprefix(PROPERTY_PREFIX), negate=negate)
    if key in FILTER_COLUMNS:
        return StepFilter(key, value, column=FILTER_COLUMNS[key], negate=negate)
    raise BadRequest(
        f"{where}: unknown filter key {key!r}; allowed: {', '.join(sorted(FILTER_COLUMNS))} "
        f"or {PROPERTY_PREFIX}<key>",
        field=field,
    )


def _checked(filters: list[StepFilter], where: str, field: str) -> tuple[StepFilter, ...]:
    if len(filters) > MAX_FILTERS:
        raise BadRequest(f"{where}: at most {MAX_FILTERS} filters per step", field=field)
    return tuple(filters)


def _text_step(text: str, where: str, field: str) -> Step:
    """One step written ``type[:key=value[;key!=value…]]``."""
    text = text.strip()
    equals = text.find("=")
    colon = text.rfind(":", 0, equals) if equals >= 0 else -1
    if equals >= 0 and colon < 0:
        raise BadRequest(
            f"{where}: write a filtered step as type:key=value (got {text!r})", field=field
        )
    head, tail = (text[:colon], text[colon + 1 :]) if colon >= 0 else (text, "")
    last = text.rpartition(":")[2].strip()
    if equals < 0 and (last in FILTER_COLUMNS or last.startswith(PROPERTY_PREFIX)):
        # "page_view:page_path" is a filter without its value, not an event type
        raise BadRequest(
            f"{where}: a filter must be key=value or key!=value (got {last!r})", field=field
        )
    event_type = _event_type(head, where, field)
    filters = []
    for part in tail.split(";") if tail else []:
        key, op, value = re.split(r"(!?=)", part, maxsplit=1) if "=" in part else (part, "", "")
        if not op or not key.strip():
            raise BadRequest(
                f"{where}: a filter must be key=value or key!=value (got {part!r})", field=field
            )
        filters.append(_filter(key, value, op == "!=", where, field))
    return Step(text, event_type, _checked(filters, where, field))


def _object_step(raw: dict[str, Any], where: str, field: str) -> Step:
    if unknown := sorted(set(raw) - {"event", "where", "name"}):
        raise BadRequest(
            f"{where}: unknown key {unknown[0]!r}; allowed: event, where, name", field=field
        )
    event_type = _event_type(raw.get("event"), where, field)
    conditions = raw.get("where") or {}
    if not isinstance(conditions, dict):
        raise BadRequest(f"{where}: where must be an object of key: value", field=field)
    filters = []
    for key, value in conditions.items():
        if isinstance(value, dict):
            if set(value) != {"not"}:
                raise BadRequest(
                    f'{where}: a where value is a string or {{"not": string}}', field=field
                )
            filters.append(_filter(key, value["not"], True, where, field))
        else:
            filters.append(_filter(key, value, False, where, field))
    name = raw.get("name", raw.get("event"))
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_LENGTH:
        raise BadRequest(
            f"{where}: name must be a string of 1 to {MAX_NAME_LENGTH} characters", field=field
        )
    return Step(name.strip(), event_type, _checked(filters, where, field))


def _count(steps: list[Step], field: str) -> tuple[Step, ...]:
    if not MIN_STEPS <= len(steps) <= MAX_STEPS:
        raise BadRequest(
            f"{field} must have {MIN_STEPS} to {MAX_STEPS} steps, got {len(steps)}", field=field
        )
    return tuple(steps)


def parse_steps_text(raw: str | None, field: str) -> tuple[Step, ...] | None:
    """A GET parameter's steps (``a,b:key=value,c``); None when absent or blank."""
    if raw is None or not raw.strip():
        return None
    parts = raw.split(",")
    return _count(
        [_text_step(p, f"{field}: step {i + 1}", field) for i, p in enumerate(parts)], field
    )


def parse_step_list(raw: Any, field: str) -> tuple[Step, ...]:
    """A JSON list of steps: strings in the text syntax or ``{event, where, name}`` objects;
    errors name ``field[i]``."""
    if not isinstance(raw, list):
        raise BadRequest(f"{field} must be a list of steps", field=field)
    steps = []
    for i, entry in enumerate(raw):
        where = f"{field}[{i}]"
        if isinstance(entry, str):
            steps.append(_text_step(entry, where, where))
        elif isinstance(entry, dict):
            steps.append(_object_step(entry, where, where))
        else:
            raise BadRequest(f"{where} must be a string or an object", field=where)
    return _count(steps, field)
