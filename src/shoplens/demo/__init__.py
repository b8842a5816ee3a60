"""The demo shop: a realistic stream of shop events, as wire-format batch bodies.

``generate`` yields ``(format, body)`` pairs — ``"ecommerce"`` bodies are seed 002 batches
(amounts in decimal major units), ``"core"`` bodies are seeds 000/001 batches (page views
and account events) — which ``shoplens.ingest.bulk.load`` sends through the real ingestion
pipeline, so the demo data is exactly what a shop's tracker and SDK would have sent.

How it is made (see each module):

- ``catalog``: a few hundred products in six categories with brands, variants, local
  prices and Zipf-like popularity;
- ``calendar``: hourly traffic over the window — growth, weekday, hour of day in the
  shop's time zone, sales with their coupon, the weekly newsletter;
- ``audience``: visitors (device and real user agent, country and an address from one of
  its ISPs' blocks) and traffic sources (search, ads, social, email, referral, affiliate);
- ``shop``: one visit at a time, in time order, through browsing, cart and checkout to an
  order and sometimes a refund.

Visits are generated hour by hour, so memory stays flat for any number of events; the
number of visits per hour follows the traffic weights, corrected as it goes so the total
is exactly ``events``. Everything is drawn from one ``random.Random(seed)``: the same seed,
tenant settings and ``now`` give the same bytes.
"""

from __future__ import annotations

import random
import re
import unicodedata
import zoneinfo
from collections.abc import Iterator
from datetime import UTC, datetime, tzinfo
from typing import Any

import msgspec

from shoplens.demo.audience import Audience
from shoplens.demo.calendar import DAY_MS, hours
from shoplens.demo.catalog import build_catalog
from shoplens.demo.shop import Shop
from shoplens.demo.visit import CORE, ECOMMERCE
from shoplens.meta import Tenant

__all__ = ["generate"]

BATCH_EVENTS = 1000
_PRIOR_EVENTS_PER_VISIT = 8.0  # until enough visits are seen to measure it


def catalog_size(events: int) -> int:
    return min(1000, max(300, events // 400))


def _timezone(name: str) -> tzinfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return UTC


def _domain(name: str) -> str:
    """The shop's web address from its name: "Ünïcode Shop & Co" → unicode-shop-co.shop."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return (re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-") or "demo-shop") + ".shop"


def generate(
    tenant: Tenant,
    *,
    events: int,
    days: int,
    seed: int = 7,
    now: datetime | None = None,
) -> Iterator[tuple[str, bytes]]:
    """Yield ``(format, batch body)`` pairs holding ``events`` events over ``days`` days
    up to ``now`` (default: the current time)."""
    if events <= 0 or days <= 0:
        return
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    end = int(now.timestamp() * 1000)
    start = end - days * DAY_MS
    rng = random.Random(seed)
    currency = tenant.base_currency.upper()
    catalog = build_catalog(catalog_size(events), currency, random.Random(rng.getrandbits(64)))
    shop = Shop(
        catalog,
        Audience(rng.getrandbits(64), currency),
        random.Random(rng.getrandbits(64)),
        currency=currency,
        domain=_domain(tenant.name),
        until=end,
        accounts=max(10, events // 4000),
        recent=min(200_000, max(1000, events // 20)),
    )
    calendar = hours(start, end, _timezone(tenant.timezone), random.Random(rng.getrandbits(64)))
    batches: dict[str, list[dict[str, Any]]] = {ECOMMERCE: [], CORE: []}
    encode = msgspec.json.Encoder().encode
    emitted = visits = visit_events = 0
    remaining_weight = sum(hour.weight for hour in calendar)
    carry = 0.0

    def add(new: list[tuple[str, dict[str, Any]]]) -> Iterator[tuple[str, bytes]]:
        nonlocal emitted
        for name, event in new[: events - emitted]:
            batch = batches[name]
            batch.append(event)
            if len(batch) >= BATCH_EVENTS:
                yield name, encode({"events": batch})
                batches[name] = []
        emitted += min(len(new), events - emitted)

    for i, hour in enumerate(calendar):
        yield from add(shop.due_refunds(hour.end))
        if emitted >= events:
            break
        shop.set_hour(hour)
        per_visit = visit_events / visits if visits >= 50 else _PRIOR_EVENTS_PER_VISIT
        carry += (events - emitted) * hour.weight / remaining_weight / per_visit
        remaining_weight -= hour.weight
        count = int(carry)
        carry -= count
        starts = sorted((rng.randrange(hour.start, hour.end) for _ in range(count)), reverse=True)
        last = i == len(calendar) - 1
        while starts or (last and emitted < events):
            new = shop.visit(starts.pop() if starts else rng.randrange(hour.start, hour.end))
            visits += 1
            visit_events += len(new)
            yield from add(new)
            if emitted >= events:
                break
    for name, batch in batches.items():
        if batch:
            yield name, encode({"events": batch})
