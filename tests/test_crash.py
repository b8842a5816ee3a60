"""Crash safety: a server killed with SIGKILL while clients send batches, restarted on the
same data dir, stores every acknowledged event exactly once (no loss, no duplicates, and
the rollups agree with the raw tables).

Real processes, real sockets, real signals: the server runs in a subprocess
(tests/serverproc.py) and is killed with SIGKILL — no shutdown code runs. A request that
got its 200 is acknowledged and must be stored exactly once; one that failed (the
connection died with the server) may or may not be stored, but never twice. Every event
carries a unique ``properties.seq`` so each can be found again. The assertions are about
invariants only, never timing: where the kills land (mid-request, mid-flush, between the
events and the items insert) varies from run to run; the random seed is in every failure
message (set CRASH_TEST_SEED to repeat a run's kill timing).
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from shoplens.ingest.wal import WriteAheadLog
from tests.serverproc import ServerProcess, create_tenant, query_store, start_server

pytestmark = pytest.mark.slow

BATCH_PATH = "/v1/api/analytics/ecommerce/batch"
EVENTS_PER_BATCH = 100
CLIENTS = 3
KILLS = 5
ACCEPTED_ALL = {"ok": True, "accepted": EVENTS_PER_BATCH}


# what the clients sent ------------------------------------------------------------------
@dataclass(frozen=True)
class Sent:
    """One event as sent: what the store must hold for it (money in cents)."""

    revenue: int
    items: int
    quantity: int


def make_event(seq: str, n: int) -> tuple[dict[str, Any], Sent]:
    """Event number ``n`` of a client: purchases (with items and revenue), item views,
    add-to-carts and searches, each tagged with its unique ``seq``."""
    kind = n % 4
    event: dict[str, Any] = {"properties": {"seq": seq}, "user_id": f"u-{n % 97}"}
    if kind == 3:
        event.update(event_type="search", search_term=f"shoes {n % 13}")
        return event, Sent(0, 0, 0)
    count = {0: 1 + (n // 4) % 3, 1: 1, 2: 2}[kind]
    items, revenue, quantity = [], 0, 0
    for j in range(count):
        price = 199 + (n * 7 + j * 13) % 5000
        qty = 1 + (n + j) % 3
        items.append({"item_id": f"sku-{(n * 31 + j) % 50}", "price": price / 100, "quantity": qty})
        revenue += price * qty
        quantity += qty
    event["items"] = items
    if kind == 0:
        event.update(event_type="purchase", transaction_id=f"T-{seq}", revenue=revenue / 100)
        return event, Sent(revenue, count, quantity)
    event["event_type"] = "view_item" if kind == 1 else "add_to_cart"
    return event, Sent(0, count, quantity)


@dataclass
class Ledger:
    """Every event sent, and which of them a 200 acknowledged. Thread-safe."""

    sent: dict[str, Sent] = field(default_factory=dict)
    acked: set[str] = field(default_factory=set)
    acked_requests: int = 0
    failed_requests: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, batch: dict[str, Sent], acked: bool, failure: str = "") -> None:
        with self._lock:
            self.sent.update(batch)
            if acked:
                self.acked.update(batch)
                self.acked_requests += 1
            else:
                self.failed_requests += 1
                self.failures[failure] += 1

    def dump(self, path: Path) -> None:
        with self._lock:
            data = {"acked": sorted(self.acked), "unacked": sorted(self.sent.keys() - self.acked)}
        path.write_text(json.dumps(data))

    def wait_for_acks(self, count: int, server: ServerProcess, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.acked_requests < count:
            assert server.alive(), f"server died on its own:\n{server.log()}"
            assert time.monotonic() < deadline, (
                f"only {self.acked_requests} of {count} batches acknowledged in {timeout}s; "
                f"failures: {dict(self.failures)}\n{server.log()}"
            )
            time.sleep(0.02)


class Target:
    """The URL of the server that is up right now (None while it is being replaced)."""

    def __init__(self) -> None:
        self.url: str | None = None


def send_batches(
    client: int, key: str, target: Target, ledger: Ledger, stop: threading.Event
) -> None:
    """A client: 100-event batches over one keep-alive connection, until ``stop``."""
    headers = {"Authorization": f"Bearer {key}"}
    n = 0
    with httpx.Client(timeout=30.0) as http:
        while not stop.is_set():
            url = target.url
            if url is None:
                time.sleep(0.01)
                continue
            events, batch = [], {}
            for _ in range(EVENTS_PER_BATCH):
                seq = f"c{client}-{n}"
                event, sent = make_event(seq, n)
                events.append(event)
                batch[seq] = sent
                n += 1
            try:
                response = http.post(url + BATCH_PATH, json={"events": events}, headers=headers)
            except httpx.TransportError as exc:  # the server died under this request
                ledger.record(batch, False, type(exc).__name__)
                time.sleep(0.01)
                continue
            if response.status_code == 200 and response.json() == ACCEPTED_ALL:
                ledger.record(batch, True)
            else:  # not (wholly) acknowledged; the test fails on a partial 200
                ledger.record(batch, False, f"{response.status_code} {response.text[:200]}")
                time.sleep(0.01)


def send_sequentially(url: str, key: str, ledger: Ledger, batches: int, client: int = 0) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(timeout=30.0) as http:
        for b in range(batches):
            events, batch = [], {}
            for i in range(EVENTS_PER_BATCH):
                n = b * EVENTS_PER_BATCH + i
                event, sent = make_event(f"c{client}-{n}", n)
                events.append(event)
                batch[f"c{client}-{n}"] = sent
            response = http.post(url + BATCH_PATH, json={"events": events}, headers=headers)
            assert response.status_code == 200, response.text
            assert response.json() == ACCEPTED_ALL, response.text
            ledger.record(batch, True)


# what the store holds -------------------------------------------------------------------
# TRICKY: aliases differ from column names: ``sum(quantity) AS quantity`` would be read
# as an aggregate nested in another (ILLEGAL_AGGREGATION).
STORE_QUERIES = {
    "events": "SELECT properties['seq'] AS seq, toString(event_id) AS id, revenue AS cents, "
    "item_count AS units FROM events WHERE tenant_id = {tenant:UInt32}",
    "items": "SELECT toString(event_id) AS id, count() AS n, uniqExact(item_index) AS lines, "
    "sum(toInt64(quantity)) AS units FROM event_items WHERE tenant_id = {tenant:UInt32} "
    "GROUP BY event_id",
    "properties": "SELECT count() AS n, uniqExact(value) AS seqs FROM event_properties "
    "WHERE tenant_id = {tenant:UInt32} AND key = 'seq'",
    "events_raw": "SELECT count() AS n, sum(revenue) AS cents, "
    "sum(toUInt64(item_count)) AS units FROM events WHERE tenant_id = {tenant:UInt32}",
    "events_rollup": "SELECT sum(events) AS n, sum(revenue) AS cents, sum(items) AS units "
    "FROM events_hourly WHERE tenant_id = {tenant:UInt32}",
    "items_raw": "SELECT count() AS n, sum(toInt64(quantity)) AS units, "
    "sum(price * quantity) AS cents FROM event_items WHERE tenant_id = {tenant:UInt32}",
    "items_rollup": "SELECT sum(events) AS n, sum(quantity) AS units, sum(revenue) AS cents "
    "FROM items_hourly WHERE tenant_id = {tenant:UInt32}",
}


def assert_stored_exactly_once(
    data_dir: Path, tenant_id: int, ledger: Ledger, context: str
) -> dict[str, int]:
    """Every acknowledged event stored exactly once, nothing stored twice or half, rollups
    equal to the raw tables. Returns a few counts for the test's summary."""
    ledger.dump(data_dir.parent / "ledger.json")  # evidence for a failure, kept by pytest
    result = query_store(data_dir, STORE_QUERIES, {"tenant": tenant_id})
    events = result["events"]
    per_seq = Counter(row["seq"] for row in events)

    duplicated = {seq: n for seq, n in per_seq.items() if n > 1}
    assert not duplicated, f"{context}: {len(duplicated)} events stored twice, e.g. " + str(
        sorted(duplicated.items())[:10]
    )
    missing = ledger.acked - per_seq.keys()
    assert not missing, (
        f"{context}: {len(missing)} of {len(ledger.acked)} acknowledged events lost, "
        f"e.g. {sorted(missing)[:10]}"
    )
    unknown = per_seq.keys() - ledger.sent.keys()
    assert not unknown, f"{context}: events nobody sent: {sorted(unknown)[:10]}"

    items = {row["id"]: row for row in result["items"]}
    for row in events:
        sent = ledger.sent[row["seq"]]
        assert (row["cents"], row["units"]) == (sent.revenue, sent.quantity), (
            f"{context}: {row['seq']} stored as {row}, sent {sent}"
        )
        stored = items.get(row["id"], {"n": 0, "lines": 0, "units": 0})
        assert (stored["n"], stored["lines"], stored["units"]) == (
            sent.items,
            sent.items,
            sent.quantity,
        ), f"{context}: items of {row['seq']} stored as {stored}, sent {sent}"
    orphans = items.keys() - {row["id"] for row in events}
    assert not orphans, f"{context}: items without their event: {sorted(orphans)[:10]}"

    [properties] = result["properties"]
    assert properties == {"n": len(per_seq), "seqs": len(per_seq)}, (
        f"{context}: event_properties holds {properties} for {len(per_seq)} events"
    )
    [events_raw], [events_rollup] = result["events_raw"], result["events_rollup"]
    assert events_rollup == events_raw, f"{context}: events_hourly disagrees with events"
    [items_raw], [items_rollup] = result["items_raw"], result["items_rollup"]
    assert items_rollup == items_raw, f"{context}: items_hourly disagrees with event_items"
    return {
        "stored": len(per_seq),
        "acked": len(ledger.acked),
        "unacked_stored": len(per_seq.keys() - ledger.acked),
        "sent": len(ledger.sent),
    }


def inflight_at_kill(data_dir: Path) -> bool:
    """Whether the dead server's checkpoint names a flush in flight (its insert may or may
    not have landed: the next start must re-insert it without storing anything twice)."""
    path = data_dir / "wal" / "checkpoint.json"
    return path.exists() and bool(json.loads(path.read_text())["inflight"])


def assert_wal_drained(data_dir: Path) -> None:
    """After a graceful stop nothing is in flight or left unflushed in the WAL: the
    shutdown flush stored it all (a replay at the next start would hide a failed drain)."""
    wal = WriteAheadLog(data_dir / "wal", segment_bytes=1, max_bytes=1)
    assert wal.checkpoint.inflight is None, wal.checkpoint
    left = list(wal.records(wal.checkpoint.flushed))
    assert not left, f"{len(left)} WAL records not flushed at shutdown ({wal.checkpoint})"


# the tests ------------------------------------------------------------------------------
def test_sigkill_during_traffic_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    seed = int(os.environ.get("CRASH_TEST_SEED") or time.time_ns() % 1_000_000)
    rng = random.Random(seed)
    context = f"CRASH_TEST_SEED={seed}"
    data_dir = tmp_path / "data"
    tenant = create_tenant(data_dir, "crash")
    env = {
        "SHOPLENS_FLUSH_INTERVAL": "0.2",  # flush often: kills land mid-flush too
        "SHOPLENS_RATE_LIMITS": "false",  # clients send as fast as they can with one key
    }

    started = time.monotonic()
    mid_flush = 0  # kills that landed while a flush was in flight (for the summary)
    ledger, target, stop = Ledger(), Target(), threading.Event()
    server = start_server(data_dir, env=env, log_dir=tmp_path)
    target.url = server.url
    clients = [
        threading.Thread(
            target=send_batches,
            args=(c, tenant["publishable_key"], target, ledger, stop),
            name=f"client-{c}",
            daemon=True,
        )
        for c in range(CLIENTS)
    ]
    try:
        for thread in clients:
            thread.start()
        for _ in range(KILLS):
            # traffic against this server first, then a kill at a random moment in it
            ledger.wait_for_acks(ledger.acked_requests + 5, server)
            time.sleep(rng.uniform(0.5, 2.0))
            target.url = None
            server.kill()
            mid_flush += inflight_at_kill(data_dir)
            server = start_server(data_dir, env=env, log_dir=tmp_path)
            target.url = server.url
        ledger.wait_for_acks(ledger.acked_requests + 5, server)
        stop.set()
        for thread in clients:
            thread.join(timeout=60)
            assert not thread.is_alive(), f"{thread.name} did not stop"
        server.stop()
    finally:
        stop.set()
        if server.alive():
            server.kill()
    assert "store unavailable at shutdown" not in server.log(), server.log()
    partial = [f for f in ledger.failures if f.startswith("200 ")]
    assert not partial, f"{context}: batches only partly accepted: {partial}"
    assert_wal_drained(data_dir)

    summary = assert_stored_exactly_once(data_dir, tenant["tenant_id"], ledger, context)
    failures = dict(ledger.failures)
    print(
        f"\n{context}: {KILLS} SIGKILLs ({mid_flush} mid-flush), "
        f"{ledger.acked_requests} batches acked, {ledger.failed_requests} failed {failures}, "
        f"{summary}, {time.monotonic() - started:.1f}s"
    )


def test_sigkill_before_any_flush_replays_the_wal_exactly_once(tmp_path: Path) -> None:
    """Acknowledged events only in the WAL (no flush yet) when the server dies: the next
    start replays them; a second kill right after that replay must not store them twice."""
    data_dir = tmp_path / "data"
    tenant = create_tenant(data_dir, "wal-only")
    env = {"SHOPLENS_FLUSH_INTERVAL": "30"}  # no flush by interval during the test
    ledger = Ledger()
    batches = 20

    server = start_server(data_dir, env=env, log_dir=tmp_path)
    try:
        send_sequentially(server.url, tenant["publishable_key"], ledger, batches)
        ingest = server.healthz()["ingest"]
        assert ingest["flushes"] == 0, ingest  # acked, durable, but only in the WAL
        assert ingest["pending_events"] == batches * EVENTS_PER_BATCH, ingest
        server.kill()

        server = start_server(data_dir, env=env, log_dir=tmp_path)
        ingest = server.healthz()["ingest"]
        assert ingest["pending_events"] == batches * EVENTS_PER_BATCH, ingest  # replayed
        assert ingest["flushes"] == 0, ingest
        server.kill()  # again, before the replayed events were flushed

        server = start_server(data_dir, env=env, log_dir=tmp_path)
        server.stop()  # graceful: the shutdown flush stores the replayed events
    finally:
        if server.alive():
            server.kill()
    assert_wal_drained(data_dir)

    summary = assert_stored_exactly_once(data_dir, tenant["tenant_id"], ledger, "WAL replay")
    assert summary["stored"] == batches * EVENTS_PER_BATCH, summary


def test_sigkill_after_a_deletion_request_still_deletes_the_unflushed_events(
    tmp_path: Path,
) -> None:
    """A batch for a user (acked, only in the WAL), a DELETE, then SIGKILL: the job is in
    SQLite and the events in the WAL; after the restart the job ends with them deleted."""
    data_dir = tmp_path / "data"
    tenant = create_tenant(data_dir, "deletion-crash")
    env = {"SHOPLENS_FLUSH_INTERVAL": "30"}
    events = [make_event(f"del-{n}", n)[0] for n in range(3)]
    for event in events[:2]:
        event["user_id"] = "xavier"
    events[2]["user_id"] = "yann"
    server = start_server(data_dir, env=env, log_dir=tmp_path)
    try:
        pk = {"Authorization": f"Bearer {tenant['publishable_key']}"}
        sk = {"Authorization": f"Bearer {tenant['secret_key']}"}
        batch = httpx.post(f"{server.url}{BATCH_PATH}", json={"events": events}, headers=pk)
        assert batch.status_code == 200, batch.text
        deleted = httpx.delete(f"{server.url}/v1/api/analytics/user/xavier", headers=sk)
        assert deleted.status_code == 200, deleted.text
        server.kill()

        server = start_server(data_dir, env=env, log_dir=tmp_path)
        deadline = time.monotonic() + 120
        while True:
            status = httpx.get(
                f"{server.url}/v1/api/analytics/user/xavier/deletion", headers=sk
            ).json()
            if status["status"] in ("done", "failed") or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert status["status"] == "done", status
        server.stop()
    finally:
        if server.alive():
            server.kill()
    rows = query_store(
        data_dir,
        {
            t: f"SELECT user_id FROM {t} WHERE tenant_id = {tenant['tenant_id']}"
            for t in ("events", "event_items", "event_properties")
        },
    )
    for table, stored in rows.items():
        assert {r["user_id"] for r in stored} <= {"yann"}, table
    assert [r["user_id"] for r in rows["events"]] == ["yann"]
