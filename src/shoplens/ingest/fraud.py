"""Fraud rules (seed 002): the last ingestion stage flags or blocks suspicious events.

The rules are data (``RULES``): a name, a description, a default severity and default
thresholds, and a check. Each tenant may turn a rule off, change its severity or its
thresholds (``GET/PATCH /v1/settings/fraud``); the overrides live in the metadata store
(tenant setting ``fraud``) and are re-read at most every few seconds.

Severity 1 (``FLAGGED``): the event is stored with ``is_flagged = 1`` and the names of the
rules it broke in ``fraud_reasons``; revenue reports ignore it, ``GET /v1/fraud/events``
lists it. Severity 2 (``BLOCKED``): ``is_flagged = 2`` and ``fraud_reasons`` holds the
blocking rules; the pipeline drops it before the write-ahead log and counts it, and the
sender gets the same answer as for an accepted event, so no detection signal leaks.

The rules and their formulas are in docs/fraud.md. Amounts are compared in minor units of
the tenant's base currency (what the formats converted them to). Non-finite amounts never
get here: normalization refuses them (``money.decimal_of``) with a 400.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from shoplens.errors import BadRequest
from shoplens.ingest.event import Event
from shoplens.ingest.money import exponent, to_minor
from shoplens.ingest.stages import BLOCKED, FLAGGED, Facts
from shoplens.ingest.useragent import is_bot

if TYPE_CHECKING:
    from shoplens.ingest.context import IngestContext
    from shoplens.meta import MetaStore

#: The tenant setting (``MetaStore.get_setting``) holding a tenant's overrides.
SETTING_KEY = "fraud"
SEVERITIES = (FLAGGED, BLOCKED)


@dataclass(frozen=True)
class Param:
    """A rule's tunable value. ``kind``: ``number`` (> 0), ``count`` (a whole number > 0)
    or ``currencies`` (a list of ISO 4217 codes)."""

    name: str
    description: str
    default: float | int | tuple[str, ...]
    kind: str = "number"


@dataclass(frozen=True)
class RuleConfig:
    """One rule as a tenant has it: defaults with the tenant's overrides applied."""

    enabled: bool
    severity: int
    thresholds: dict[str, Any]


Check = Callable[[Event, Facts, "IngestContext", RuleConfig, "Fraud"], bool]


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    severity: int
    check: Check
    params: tuple[Param, ...] = ()

    def default_config(self) -> RuleConfig:
        return RuleConfig(True, self.severity, {p.name: _plain(p.default) for p in self.params})


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


# --- the checks --------------------------------------------------------------------------


def _bot(event: Event, facts: Facts, ctx: IngestContext, config: RuleConfig, _: Fraud) -> bool:
    ua = event.user_agent or ctx.user_agent
    # Server SDKs and HTTP libraries are never bots (useragent.SERVER_CLIENTS): they are what
    # a shop's backend sends purchases with, still judged by the amount and velocity rules.
    return bool(ua) and is_bot(ua)


def _negative(event: Event, facts: Facts, ctx: IngestContext, config: RuleConfig, _: Fraud) -> bool:
    amounts = (event.revenue, event.discount, event.shipping, event.tax)
    return any(a < 0 for a in amounts) or any(
        item.price < 0 or item.discount < 0 for item in event.items
    )


def _ceiling(event: Event, facts: Facts, ctx: IngestContext, config: RuleConfig, _: Fraud) -> bool:
    limit = Decimal(str(config.thresholds["max_revenue"]))
    return event.revenue > to_minor(limit, ctx.tenant.base_currency, "max_revenue")


def _items_mismatch(
    event: Event, facts: Facts, ctx: IngestContext, config: RuleConfig, _: Fraud
) -> bool:
    """Revenue outside what the items could add up to, whichever convention the shop uses
    (items subtotal, less discounts, plus shipping and tax), give or take the tolerance."""
    if event.event_type != "purchase" or not any(item.price for item in event.items):
        return False
    subtotal = sum(item.price * item.quantity for item in event.items)
    item_discounts = sum(item.discount * item.quantity for item in event.items)
    lowest = subtotal - item_discounts - event.discount
    highest = subtotal + event.shipping + event.tax
    tolerance = Decimal(abs(highest)) * Decimal(str(config.thresholds["tolerance_percent"])) / 100
    return not lowest - tolerance <= event.revenue <= highest + tolerance


def _velocity(
    event: Event, facts: Facts, ctx: IngestContext, config: RuleConfig, fraud: Fraud
) -> bool:
    """Purchases per minute of receipt, per user and per shopper IP (``facts.shopper_ip``:
    a server integration's own address is never counted)."""
    # Historical loads (CLI import, demo) arrive all at once: velocity judges live traffic.
    if event.event_type != "purchase" or ctx.historical:
        return False
    now, tenant, tx = event.received_at, ctx.tenant.id, event.transaction_id
    # A backfill (or a queue replayed after an outage) arrives in a burst that says
    # nothing about how fast anyone bought: only events from near their receipt count.
    if event.timestamp < now - int(config.thresholds["backfill_minutes"]) * 60_000:
        return False
    over = False
    ip = facts.shopper_ip
    for kind, key, name in (("user", event.user_id, "per_user"), ("ip", ip, "per_ip")):
        if key:
            limit = int(config.thresholds[name])
            over |= fraud.velocity.record((tenant, kind, key), now, tx, limit + 1) > limit
    return over


def _currency(event: Event, facts: Facts, ctx: IngestContext, config: RuleConfig, _: Fraud) -> bool:
    allowed = config.thresholds["allowed"]
    if not allowed:
        return False
    codes = {event.original_currency, *(item.original_currency for item in event.items)}
    return bool(codes - {"", ctx.tenant.base_currency, *allowed})


RULES: dict[str, Rule] = {
    r.name: r
    for r in (
        Rule(
            "bot",
            "The User-Agent is a known crawler, spider or headless browser "
            "(crawler-user-agents and uap-core lists); generic HTTP client libraries, "
            "which server integrations send with, are not judged.",
            BLOCKED,
            _bot,
        ),
        Rule(
            "negative_amount",
            "A negative revenue, discount, shipping, tax, item price or item discount.",
            FLAGGED,
            _negative,
        ),
        Rule(
            "revenue_ceiling",
            "Revenue above the tenant's ceiling (in base-currency major units).",
            FLAGGED,
            _ceiling,
            (Param("max_revenue", "largest plausible revenue of one event", 1_000_000),),
        ),
        Rule(
            "items_mismatch",
            "A purchase whose revenue is not what its priced items add up to: outside "
            "[subtotal - discounts, subtotal + shipping + tax] by more than the tolerance.",
            FLAGGED,
            _items_mismatch,
            (Param("tolerance_percent", "allowed deviation, % of the upper bound", 1.0),),
        ),
        Rule(
            "velocity",
            "More purchases in one minute than allowed from one user_id or one shopper IP "
            "address (forwarded in the event, or a browser's own; a server integration's "
            "address is not judged). Purchases dated more than backfill_minutes before "
            "their receipt (backfills) are not judged.",
            FLAGGED,
            _velocity,
            (
                Param("per_user", "purchases per user_id per minute", 10, "count"),
                Param("per_ip", "purchases per shopper IP address per minute", 120, "count"),
                Param(
                    "backfill_minutes",
                    "purchases dated more than this many minutes before their receipt "
                    "are backfills, not judged",
                    10,
                    "count",
                ),
            ),
        ),
        Rule(
            "currency",
            "An event or item currency outside the tenant's allowlist (empty: all allowed; "
            "the base currency is always allowed).",
            FLAGGED,
            _currency,
            (
                Param(
                    "allowed", "ISO 4217 codes accepted besides the base currency", (), "currencies"
                ),
            ),
        ),
    )
}


# --- velocity windows --------------------------------------------------------------------


#: ids longer than this (characters) are kept in memory as a 16-byte digest (``compact``)
COMPACT_OVER = 64


def compact(value: str) -> str | bytes:
    """``value`` itself when short, else its 16-byte BLAKE2b digest: what an in-memory
    window keeps of a user id, IP or transaction id, so that an entry costs at most ~120
    bytes whatever the id's length (ids may be 2,048 characters). A digest is ``bytes``,
    so it can never equal a short id kept as ``str``."""
    if len(value) <= COMPACT_OVER:
        return value
    return hashlib.blake2b(value.encode(), digest_size=16).digest()


class Velocity:
    """Sliding one-minute windows of purchases per key (tenant, "user"|"ip", value).

    Per process: several server processes each count their own share. Memory is bounded:
    a window keeps at most ``cap`` entries, keys idle for a minute are evicted, at most
    ``max_keys`` keys are kept (the least recently used go first), and long ids are kept
    as digests (``compact``). A transaction id already in the window (a retry) is not
    counted twice.
    """

    WINDOW_MS = 60_000

    def __init__(self, max_keys: int = 100_000) -> None:
        self.max_keys = max_keys
        # key → {transaction id: ms}; both in insertion order: oldest first, so expiring
        # is popping from the front and a retried transaction id is a dict lookup.
        self._windows: OrderedDict[tuple[int, str, str | bytes], dict[str | bytes, int]] = (
            OrderedDict()
        )
        self._anonymous = itertools.count()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._windows)

    def record(self, key: tuple[int, str, str], now_ms: int, tx: str, cap: int) -> int:
        """Count a purchase at ``now_ms``; the purchases of ``key`` in the last minute,
        this one included (at most ``cap``)."""
        expired = now_ms - self.WINDOW_MS
        tenant, kind, value = key
        compact_key = (tenant, kind, compact(value))
        entry = compact(tx) if tx else f"\0{next(self._anonymous)}"
        with self._lock:
            windows = self._windows
            window = windows.get(compact_key)
            if window is None:
                self._evict(expired)
                window = windows[compact_key] = {}
            else:
                windows.move_to_end(compact_key)  # most recently used last
            while window and window[next(iter(window))] <= expired:
                del window[next(iter(window))]
            window.setdefault(entry, now_ms)
            while len(window) > cap:
                del window[next(iter(window))]
            return len(window)

    def _evict(self, expired: int) -> None:
        """Drop keys idle for a minute from the front (least recently used), and more
        while the keys are at the bound."""
        windows = self._windows
        while windows:
            window = windows[next(iter(windows))]
            idle = not window or window[next(reversed(window))] <= expired
            if not idle and len(windows) < self.max_keys:
                return
            windows.popitem(last=False)


# --- per-tenant settings -----------------------------------------------------------------


class FraudSettings:
    """Each tenant's rules: defaults plus its overrides (tenant setting ``fraud``), cached
    for ``ttl`` seconds; ``update`` validates a partial change, stores it, drops the cache.
    """

    def __init__(self, meta: MetaStore, ttl: float = 5.0) -> None:
        self.meta = meta
        self.ttl = ttl
        self._cache: dict[int, tuple[float, dict[str, RuleConfig]]] = {}

    def get(self, tenant_id: int) -> dict[str, RuleConfig]:
        now = time.monotonic()
        entry = self._cache.get(tenant_id)
        if entry is None or entry[0] < now:
            overrides = self.meta.get_setting(tenant_id, SETTING_KEY, {}) or {}
            if len(self._cache) > 10_000:
                self._cache.clear()
            entry = (now + self.ttl, resolve(overrides))
            self._cache[tenant_id] = entry
        return entry[1]

    def update(self, tenant_id: int, patch: Any) -> dict[str, RuleConfig]:
        overrides = self.meta.get_setting(tenant_id, SETTING_KEY, {}) or {}
        merged = merge(overrides, patch)
        self.meta.set_setting(tenant_id, SETTING_KEY, merged)
        self._cache.pop(tenant_id, None)
        return self.get(tenant_id)


def resolve(overrides: dict[str, Any]) -> dict[str, RuleConfig]:
    """Every rule's config: its defaults with the stored overrides applied (an override of
    a rule or parameter that no longer exists is ignored)."""
    out = {}
    for name, rule in RULES.items():
        base, change = rule.default_config(), overrides.get(name) or {}
        thresholds = dict(base.thresholds)
        thresholds.update(
            {k: v for k, v in (change.get("thresholds") or {}).items() if k in thresholds}
        )
        out[name] = RuleConfig(
            bool(change.get("enabled", base.enabled)),
            int(change.get("severity", base.severity)),
            thresholds,
        )
    return out


def merge(overrides: dict[str, Any], patch: Any) -> dict[str, Any]:
    """``overrides`` with a validated ``PATCH /v1/settings/fraud`` body applied.

    The body is ``{"rules": {name: {"enabled"?, "severity"?, "thresholds"?: {...}}}}``;
    anything unknown or out of range is a 400 naming the field.
    """
    if not isinstance(patch, dict) or set(patch) - {"rules"}:
        extra = sorted(set(patch) - {"rules"}) if isinstance(patch, dict) else []
        field = extra[0] if extra else None
        raise BadRequest(
            f"Unknown field {field!r}" if field else "body must be an object", field=field
        )
    rules = patch.get("rules")
    if not isinstance(rules, dict):
        raise BadRequest("rules must be an object", field="rules")
    merged = {name: dict(value) for name, value in overrides.items() if isinstance(value, dict)}
    for name, change in rules.items():
        where = f"rules.{name}"
        rule = RULES.get(name)
        if rule is None:
            raise BadRequest(f"Unknown fraud rule {name!r}", field=where)
        if not isinstance(change, dict):
            raise BadRequest(f"{where} must be an object", field=where)
        target = merged.setdefault(name, {})
        for key, value in change.items():
            if key == "enabled":
                if not isinstance(value, bool):
                    raise BadRequest(
                        f"{where}.enabled must be true or false", field=f"{where}.enabled"
                    )
                target["enabled"] = value
            elif key == "severity":
                if isinstance(value, bool) or value not in SEVERITIES:
                    raise BadRequest(f"{where}.severity must be 1 or 2", field=f"{where}.severity")
                target["severity"] = int(value)
            elif key == "thresholds":
                target["thresholds"] = {
                    **(target.get("thresholds") or {}),
                    **_thresholds(rule, value, f"{where}.thresholds"),
                }
            else:
                raise BadRequest(
                    f"Unknown field {key!r} of fraud rule {name}", field=f"{where}.{key}"
                )
    return merged


def _thresholds(rule: Rule, value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequest(f"{where} must be an object", field=where)
    params = {p.name: p for p in rule.params}
    out: dict[str, Any] = {}
    for name, raw in value.items():
        param, field = params.get(name), f"{where}.{name}"
        if param is None:
            raise BadRequest(f"Unknown threshold {name!r} of fraud rule {rule.name}", field=field)
        if param.kind == "currencies":
            if not isinstance(raw, list) or not all(isinstance(c, str) for c in raw):
                raise BadRequest(f"{field} must be a list of currency codes", field=field)
            codes = sorted({c.strip().upper() for c in raw})
            for code in codes:
                try:
                    exponent(code)
                except BadRequest:
                    raise BadRequest(f"{field}: unknown currency {code!r}", field=field) from None
            out[name] = codes
            continue
        number_ok = isinstance(raw, (int, float)) and not isinstance(raw, bool)
        if not number_ok or not math.isfinite(raw) or raw <= 0:
            raise BadRequest(f"{field} must be a positive number", field=field)
        if param.kind == "count":
            if raw != int(raw):
                raise BadRequest(f"{field} must be a positive whole number", field=field)
            raw = int(raw)
        out[name] = raw
    return out


def describe(config: dict[str, RuleConfig]) -> dict[str, Any]:
    """A tenant's rules as ``GET /v1/settings/fraud`` shows them."""
    return {
        name: {
            "enabled": config[name].enabled,
            "severity": config[name].severity,
            "thresholds": config[name].thresholds,
            "description": rule.description,
            "defaults": {
                "severity": rule.severity,
                "thresholds": rule.default_config().thresholds,
            },
        }
        for name, rule in RULES.items()
    }


# --- the stage ---------------------------------------------------------------------------


@dataclass
class Fraud:
    """The fraud stage: runs every enabled rule of the event's tenant, in registry order.

    Broken severity-1 rules flag the event (``is_flagged = 1``, their names appended to
    ``fraud_reasons``); if any broken rule has severity 2 the event is blocked
    (``is_flagged = 2``, ``fraud_reasons`` = the blocking rules).
    """

    settings: FraudSettings
    velocity: Velocity = field(default_factory=Velocity)
    name: str = "fraud"

    def apply(self, event: Event, facts: Facts, ctx: IngestContext) -> None:
        config = self.settings.get(ctx.tenant.id)
        flagged: list[str] = []
        blocking: list[str] = []
        for name, rule in RULES.items():
            rule_config = config[name]
            if rule_config.enabled and rule.check(event, facts, ctx, rule_config, self):
                (blocking if rule_config.severity == BLOCKED else flagged).append(name)
        if blocking:
            event.is_flagged = BLOCKED
            event.fraud_reasons = blocking
        elif flagged:
            event.is_flagged = FLAGGED
            event.fraud_reasons = [*event.fraud_reasons, *flagged]
