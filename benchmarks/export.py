"""Export benchmark: rows/s and peak memory of each export format (issue 5).

    .venv/bin/python benchmarks/export.py                      # 1,000,000 rows, all formats
    .venv/bin/python benchmarks/export.py --rows 5000000       # the issue's 5M-row export
    .venv/bin/python benchmarks/export.py --formats csv,parquet --types events,orders
    .venv/bin/python benchmarks/export.py --data-dir /tmp/demo10m --tenant 1   # a demo shop

1. Data: unless ``--data-dir`` names a store with data, a temporary data dir is filled with
   ``--rows`` synthetic events for tenant 1 by one ``INSERT … SELECT … FROM numbers(N)``
   (a storefront's mix: a third purchases with ids, revenue and coupons; the rest views,
   carts and searches; user, session, page, UTM, device and country values of realistic
   length; two custom properties) and one ``event_items`` row each (5,000 products),
   spread over the last 30 days. Generating the rows in SQL
   takes seconds where the ingestion API would take minutes; the export reads the same
   table either way.
2. Each (type, format) runs in a fresh child process (chDB allows one data path per
   process, and a fresh process gives a clean peak-RSS reading): it opens the store, notes
   its RSS, then runs the same code as ``GET /analytics/export`` (``shoplens.export``) into
   a file under the data dir, timing from the query's start to the file's last byte.
3. Output: rows, seconds, rows/s, MB written, baseline RSS (store open), peak RSS
   (``ru_maxrss``) and their difference — what the export itself added — per run, then
   ``benchmarks/results/export-<date>-<time>.json`` and a Markdown table for
   docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# The repo root too: _ingest.report imports tests.serverproc.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _ingest.report import RESULTS_DIR, machine_info

FORMATS = ("csv", "json", "ndjson", "parquet", "xlsx")
TENANT = 1

# One row per number: the event type cycles so about a third are purchases.
_FILL = """
INSERT INTO events (tenant_id, event_id, event_type, event_name, source, timestamp,
    received_at, user_id, visitor_id, session_id, page_url, page_path, referrer, utm_source,
    utm_medium, utm_campaign, channel, device_type, os, browser, country, region, city,
    transaction_id, currency, revenue, discount, shipping, tax, coupon_code, item_count,
    properties)
SELECT
    {tenant:UInt32}, generateUUIDv4(number),
    arrayElement(['purchase', 'view_item', 'add_to_cart'], number % 3 + 1) AS kind, kind,
    'bench', now64(3) - toIntervalMillisecond(number * {step:UInt64}), now64(3),
    concat('user_', toString(cityHash64(number) % 200000)),
    concat('v_', toString(cityHash64(number, 1) % 400000)),
    concat('sess_', toString(intDiv(number, 7))),
    concat('https://shop.example/products/item-', toString(number % 5000)),
    concat('/products/item-', toString(number % 5000)),
    if(number % 4 = 0, 'https://www.google.com/', ''),
    arrayElement(['google', 'newsletter', '', 'facebook'], number % 4 + 1),
    arrayElement(['cpc', 'email', '', 'social'], number % 4 + 1),
    arrayElement(['spring_sale', 'launch', '', 'retarget'], number % 4 + 1),
    arrayElement(['Paid Search', 'Email', 'Direct', 'Paid Social'], number % 4 + 1),
    arrayElement(['desktop', 'mobile', 'tablet'], number % 3 + 1),
    arrayElement(['Windows', 'iOS', 'Android', 'Mac OS X'], number % 4 + 1),
    arrayElement(['Chrome', 'Safari', 'Firefox'], number % 3 + 1),
    arrayElement(['US', 'GB', 'DE', 'FR', 'CA'], number % 5 + 1),
    arrayElement(['CA', 'ENG', 'BE', 'IDF', 'ON'], number % 5 + 1),
    arrayElement(['San Francisco', 'London', 'Berlin', 'Paris', 'Toronto'], number % 5 + 1),
    if(kind = 'purchase', concat('order_', toString(number)), ''),
    'USD', if(kind = 'purchase', toInt64(1000 + cityHash64(number) % 50000), 0),
    if(kind = 'purchase' AND number % 5 = 0, 500, 0), if(kind = 'purchase', 499, 0),
    if(kind = 'purchase', 120, 0), if(kind = 'purchase' AND number % 5 = 0, 'SPRING10', ''),
    if(kind = 'purchase', toUInt32(1 + number % 4), 0),
    map('ab_test', arrayElement(['a', 'b'], number % 2 + 1), 'plan', 'standard')
FROM numbers({rows:UInt64})
"""

# One item row per event (its own id: the products export groups items, never joins).
_FILL_ITEMS = """
INSERT INTO event_items (tenant_id, event_id, event_type, timestamp, user_id, transaction_id,
    item_index, item_id, item_name, item_category, item_brand, price, quantity, currency)
SELECT
    {tenant:UInt32}, generateUUIDv4(number),
    arrayElement(['purchase', 'view_item', 'add_to_cart'], number % 3 + 1) AS kind,
    now64(3) - toIntervalMillisecond(number * {step:UInt64}),
    concat('user_', toString(cityHash64(number) % 200000)),
    if(kind = 'purchase', concat('order_', toString(number)), ''), 0,
    concat('sku_', toString(number % 5000)), concat('Product ', toString(number % 5000)),
    arrayElement(['Shirts', 'Mugs', 'Hats', 'Shoes'], number % 4 + 1),
    arrayElement(['Acme', 'Globex'], number % 2 + 1),
    toInt64(500 + (number % 5000) * 7), toInt32(1 + number % 3), 'USD'
FROM numbers({rows:UInt64})
"""


def _rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child_fill(data_dir: Path, rows: int) -> None:
    from shoplens.store import open_store
    from shoplens.store.migrate import migrate

    store = open_store(f"chdb://{data_dir / 'clickhouse'}")
    migrate(store)
    step = max(1, 30 * 86_400_000 // max(rows, 1))  # spread over 30 days
    for sql in (_FILL, _FILL_ITEMS):
        store.command(sql, {"tenant": TENANT, "rows": rows, "step": step})
    store.command("OPTIMIZE TABLE events FINAL")
    store.close()


def child_export(data_dir: Path, tenant: int, type_: str, fmt: str, days: int) -> dict[str, Any]:
    from shoplens.export import plan
    from shoplens.metrics.period import Period
    from shoplens.store import open_store

    store = open_store(f"chdb://{data_dir / 'clickhouse'}")
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    end += timedelta(days=1)
    period = Period(end - timedelta(days=days), end, "UTC", "day", "custom", days)
    job = plan(type_, fmt, tenant, period)
    target = data_dir / f"out.{job.format.extension}"
    baseline = _rss_mb()
    rows = 0

    def count(n: int) -> None:
        nonlocal rows
        rows += n

    started = time.perf_counter()
    with target.open("wb") as out:
        for chunk in job.chunks(job.batches(store), on_rows=count):
            out.write(chunk)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size = target.stat().st_size
    target.unlink()
    store.close()
    return {
        "type": type_,
        "format": fmt,
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds) if seconds else 0,
        "mb_written": round(size / 2**20, 1),
        "baseline_rss_mb": round(baseline),
        "peak_rss_mb": round(peak),
        "added_mb": round(peak - baseline),
    }


def _child(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("SHOPLENS_")},
    )
    if done.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def markdown(results: list[dict[str, Any]], info: dict[str, Any], rows: int) -> str:
    lines = [
        f"### Export ({rows:,} rows; {info.get('cpu')}, {info.get('cores')} cores, "
        f"{datetime.now(UTC):%Y-%m-%d})",
        "",
        "| type | format | rows | rows/s | MB written | RSS store open | peak RSS | added |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['type']} | {r['format']} | {r['rows']:,} | {r['rows_per_s']:,} | "
            f"{r['mb_written']} | {r['baseline_rss_mb']} MB | {r['peak_rss_mb']} MB | "
            f"{r['added_mb']} MB |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    if argv[:1] == ["--child"]:
        what, data_dir = argv[1], Path(argv[2])
        if what == "fill":
            child_fill(data_dir, int(argv[3]))
        else:
            tenant, type_, fmt, days = int(argv[3]), argv[4], argv[5], int(argv[6])
            print(json.dumps(child_export(data_dir, tenant, type_, fmt, days)))
        return

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="synthetic events")
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--types", default="events", help="orders,events,products,customers")
    parser.add_argument("--data-dir", type=Path, help="export from this data dir as it is")
    parser.add_argument("--tenant", type=int, default=TENANT)
    parser.add_argument("--days", type=int, default=31, help="the export's period")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="shoplens-export-bench-") as tmp:
        data_dir = args.data_dir or Path(tmp)
        if args.data_dir is None:
            started = time.perf_counter()
            _child("fill", str(data_dir), str(args.rows))
            print(f"filled {args.rows:,} events in {time.perf_counter() - started:.1f} s")
        results = []
        for type_ in args.types.split(","):
            for fmt in args.formats.split(","):
                out = _child("export", str(data_dir), str(args.tenant), type_, fmt, str(args.days))
                result = json.loads(out.strip().splitlines()[-1])
                results.append(result)
                print(json.dumps(result))

    info = machine_info()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"export-{datetime.now(UTC):%Y-%m-%d-%H%M%S}.json"
    path.write_text(json.dumps({"machine": info, "rows": args.rows, "results": results}, indent=2))
    print()
    print(markdown(results, info, args.rows))
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
