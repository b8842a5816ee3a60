"""Per-event cost of the ingestion stages, and of each enrichment piece cold and cached.

    .venv/bin/python benchmarks/enrich.py [--events 50000]

In one process, no server: the demo generator's events (real User-Agents and consumer IPs
of ten countries, the demo's referrers and campaigns) are decoded with no stages, then

1. each enrichment piece (``geo.locate``, ``useragent.parse``, ``channel.classify``) is
   timed on distinct inputs with its cache emptied before every call (*cold*: the worst
   case, a string never seen) and on a repeated input (*cached*);
2. every stage of ``build_stages`` (a temporary meta database) is timed over the whole
   demo stream in order, twice: the first pass starts with empty caches (the demo's
   visitors repeat, as real ones do), the second is the steady state.

Numbers are µs per event (median of 5 runs for 1).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shoplens.config import Settings
from shoplens.demo import generate
from shoplens.ingest import channel, geo, handlers, useragent
from shoplens.ingest.bulk import BATCH_FORMATS
from shoplens.ingest.context import IngestContext
from shoplens.ingest.event import Event
from shoplens.ingest.stages import Facts, build_stages
from shoplens.meta import MetaStore


def demo_events(tenant: Any, count: int) -> list[tuple[Event, str]]:
    """(event, its IP) for ``count`` demo events, decoded with no stages."""
    ctx = IngestContext(tenant=tenant, historical=True)
    out: list[tuple[Event, str]] = []
    now = datetime(2026, 11, 1, tzinfo=UTC)
    for name, body in generate(tenant, events=count, days=30, now=now):
        batch_type, event_type, to_event = BATCH_FORMATS[name]
        raws = handlers.batch_list(body, batch_type, max_events=None, empty="", too_many="")
        plain = msgspec.json.decode(body)["events"]
        ips = [(e.get("context") or {}).get("ip") or "" for e in plain]
        outcome = handlers.many(raws, event_type, to_event, ctx)
        out.extend(zip(outcome.events, ips, strict=True))
    return out


def per_call_us(
    fn: Callable[[Any], Any], inputs: list[Any], clear: Callable[[], None] | None
) -> float:
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        for value in inputs:
            if clear is not None:
                clear()
            fn(value)
        runs.append((time.perf_counter() - start) / len(inputs) * 1e6)
    return statistics.median(runs)


def clear_channel() -> None:
    channel._referral.cache_clear()
    channel.rule_channel.cache_clear()
    channel.category_of.cache_clear()


def clear_all() -> None:
    geo.locate.cache_clear()
    useragent.parse.cache_clear()
    clear_channel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        meta = MetaStore(Path(tmp) / "meta.sqlite3")
        tenant = meta.create_tenant("Bench Shop", plan="pro")
        settings = Settings(data_dir=Path(tmp) / "data", meta_file=Path(tmp) / "meta.sqlite3")
        stages = build_stages(settings, meta)
        events = demo_events(tenant, args.events)
        ips = sorted({ip for _, ip in events})
        uas = sorted({e.user_agent for e, _ in events})
        pages = [
            (e.page_url, e.referrer, e.utm_source, e.utm_medium, e.utm_campaign) for e, _ in events
        ]
        print(
            f"{len(events)} demo events, {len(ips)} distinct IPs, {len(uas)} distinct UAs, "
            f"{len(set(pages))} distinct (page, referrer, tags)"
        )
        # warm the one-off loads (rule compilation, mmdb open) out of the numbers
        useragent.parse(uas[0])
        geo.locate(ips[0])

        print("\npiece              cold µs/call   cached µs/call")
        distinct_uas = [f"{ua} probe/{i}" for i, ua in enumerate(uas * (2000 // len(uas) + 1))][
            :2000
        ]
        rows: list[tuple[str, Callable[[Any], Any], list[Any], list[Any], Callable[[], None]]] = [
            ("geo.locate", geo.locate, ips[:2000], [ips[0]] * 2000, geo.locate.cache_clear),
            (
                "useragent.parse",
                useragent.parse,
                distinct_uas,
                [uas[0]] * 2000,
                useragent.parse.cache_clear,
            ),
            (
                "channel.classify",
                lambda p: channel.classify(*p),
                pages[:2000],
                pages[:2000],
                clear_channel,
            ),
        ]
        for name, fn, cold_inputs, warm_inputs, clear in rows:
            cold = per_call_us(fn, cold_inputs, clear)
            fn(warm_inputs[0])
            warm = per_call_us(fn, warm_inputs, None)
            print(f"{name:<18} {cold:>13.2f} {warm:>16.2f}")

        ctx = IngestContext(tenant=tenant, historical=True, stages=stages)
        decoder = msgspec.msgpack.Decoder(Event)
        encoded = [(msgspec.msgpack.encode(e), ip) for e, ip in events]
        clear_all()
        print("\nstage      pass 1 (caches empty) µs/event   pass 2 µs/event")
        totals: dict[str, list[float]] = {s.name: [] for s in stages.stages}
        for _ in range(2):
            fresh = [(decoder.decode(b), Facts(ip=ip)) for b, ip in encoded]
            spent = dict.fromkeys(totals, 0.0)
            for event, facts in fresh:
                for stage in stages.stages:
                    start = time.perf_counter()
                    stage.apply(event, facts, ctx)
                    spent[stage.name] += time.perf_counter() - start
            for name, seconds in spent.items():
                totals[name].append(seconds / len(fresh) * 1e6)
        for name, (first, second) in totals.items():
            print(f"{name:<10} {first:>32.2f} {second:>17.2f}")
        print(f"{'all':<10} {sum(v[0] for v in totals.values()):>32.2f} "
              f"{sum(v[1] for v in totals.values()):>17.2f}")  # fmt: skip
        meta.close()


if __name__ == "__main__":
    main()
