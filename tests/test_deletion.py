"""Per-user deletion on the real store: no row of the user anywhere, everyone else unchanged."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable
from typing import Any

from shoplens import deletion
from shoplens.ingest.columns import events_table, items_table
from shoplens.ingest.event import Event, Item
from shoplens.meta import MetaStore
from shoplens.store import Store
from tests.conftest import rows
from tests.store.test_rollups import snapshot

HOUR_MS = 3_600_000
BASE_MS = 1_767_225_600_000  # 2026-01-01 00:00 UTC


def events_of(tenant_id: int, user: str, rng: random.Random, n: int = 25) -> list[Event]:
    out = []
    for _ in range(n):
        kind = rng.choice(["page_view", "view_item", "purchase"])
        ms = BASE_MS + rng.randrange(4) * HOUR_MS + rng.randrange(HOUR_MS)
        out.append(
            Event(
                tenant_id=tenant_id,
                event_id=str(uuid.UUID(int=rng.getrandbits(128))),
                event_type=kind,
                event_name=kind,
                source="test",
                timestamp=ms,
                received_at=ms,
                user_id=user,
                visitor_id=f"visitor-{user}",
                revenue=rng.randrange(100, 5000) if kind == "purchase" else 0,
                properties={"plan": "gold", "user_note": user},
                items=[Item(item_id="sku-1", price=250, quantity=2)] if kind != "page_view" else [],
            )
        )
    return out


def load(store: Store, events: list[Event]) -> None:
    store.insert("events", events_table(events), f"deletion-{uuid.uuid4()}")
    store.insert("event_items", items_table(events), f"deletion-items-{uuid.uuid4()}")


def user_rows(store: Store, tenant_id: int, user: str) -> dict[str, int]:
    return {
        table: rows(
            store,
            f"SELECT count() AS n FROM {table} "
            "WHERE tenant_id = {t:UInt32} AND user_id = {u:String}",
            t=tenant_id,
            u=user,
        )[0]["n"]
        for table in deletion.USER_TABLES
    }


def revenue_by_source(store: Store, tenant_id: int) -> tuple[int, int]:
    raw = rows(
        store,
        "SELECT sum(revenue) AS r FROM events WHERE tenant_id = {t:UInt32}",
        t=tenant_id,
    )[0]["r"]
    rolled = rows(
        store,
        "SELECT sum(revenue) AS r FROM events_hourly WHERE tenant_id = {t:UInt32}",
        t=tenant_id,
    )[0]["r"]
    return int(raw), int(rolled)


def test_deleting_a_user_leaves_no_row_and_others_unchanged(
    store: Store, meta: MetaStore, make_tenant: Callable[..., Any]
) -> None:
    shop, neighbour = make_tenant("deletion").id, make_tenant("deletion-neighbour").id
    rng = random.Random(3)
    gone, kept = events_of(shop, "alice", rng), events_of(shop, "bob", rng)
    # the neighbour tenant has a user with the same id: not theirs to delete
    theirs = events_of(neighbour, "alice", rng)
    load(store, gone + kept + theirs)
    bob_before = user_rows(store, shop, "bob")
    neighbour_before = {r.table: snapshot(store, r.table, neighbour) for r in deletion.ROLLUPS}
    assert user_rows(store, shop, "alice")["event_properties"] == 2 * len(gone)

    job = deletion.request(meta, shop, "alice")
    assert deletion.history(meta, shop, "alice")[0].status == "pending"
    assert deletion.run_next(meta, store, threading.Lock())

    assert user_rows(store, shop, "alice") == dict.fromkeys(deletion.USER_TABLES, 0)
    assert user_rows(store, shop, "bob") == bob_before
    assert user_rows(store, neighbour, "alice")["events"] == len(theirs)
    # the rollups no longer count alice: they agree with the raw rows, i.e. bob alone
    bob_revenue = sum(e.revenue for e in kept)
    assert revenue_by_source(store, shop) == (bob_revenue, bob_revenue)
    units = rows(
        store,
        "SELECT sum(quantity) AS q FROM items_hourly WHERE tenant_id = {t:UInt32}",
        t=shop,
    )[0]["q"]
    assert units == sum(i.quantity for e in kept for i in e.items)
    visitors = rows(
        store,
        "SELECT uniqMerge(visitors) AS v FROM events_hourly WHERE tenant_id = {t:UInt32}",
        t=shop,
    )[0]["v"]
    assert visitors == 1
    assert {r.table: snapshot(store, r.table, neighbour) for r in deletion.ROLLUPS} == (
        neighbour_before
    )
    # the audit trail: done, counts per table, and the id itself forgotten
    [done] = deletion.history(meta, shop, "alice")
    assert done.id == job and done.status == "done" and done.finished_at
    assert done.rows == {
        "events": len(gone),
        "event_items": sum(len(e.items) for e in gone),
        "event_properties": 2 * len(gone),
        "identities": 1,  # visitor-alice → alice
    }
    stored = rows_of_meta(meta, job)
    assert stored["user_id"] is None and stored["user_hash"] == deletion.user_hash(shop, "alice")
    assert "alice" not in str(dict(stored))
    assert not deletion.run_next(meta, store, threading.Lock())


def rows_of_meta(meta: MetaStore, job: int) -> Any:
    return next(r for r in meta.deletions(*_key(meta, job)) if r["id"] == job)


def _key(meta: MetaStore, job: int) -> tuple[int, str]:
    row = meta._all("SELECT tenant_id, user_hash FROM user_deletions WHERE id = ?", (job,))[0]
    return row["tenant_id"], row["user_hash"]


def test_events_ingested_after_a_deletion_are_kept(
    store: Store, meta: MetaStore, make_tenant: Callable[..., Any]
) -> None:
    shop = make_tenant("deletion-later").id
    rng = random.Random(4)
    load(store, events_of(shop, "carol", rng, n=5))
    deletion.request(meta, shop, "carol")
    deletion.run_next(meta, store, threading.Lock())
    later = events_of(shop, "carol", rng, n=3)
    load(store, later)
    assert user_rows(store, shop, "carol")["events"] == 3
    assert revenue_by_source(store, shop) == (sum(e.revenue for e in later),) * 2


def test_a_user_with_no_rows_is_a_done_job_with_zero_counts(
    store: Store, meta: MetaStore, make_tenant: Callable[..., Any]
) -> None:
    shop = make_tenant("deletion-empty").id
    deletion.request(meta, shop, "nobody ' OR 1=1 --")
    assert deletion.run_next(meta, store, threading.Lock())
    [job] = deletion.history(meta, shop, "nobody ' OR 1=1 --")
    assert job.status == "done" and job.rows == dict.fromkeys(deletion.USER_TABLES, 0)


def test_a_failing_job_is_recorded_not_raised(
    meta: MetaStore, make_tenant: Callable[..., Any], tmp_path: Any
) -> None:
    """A store whose every call fails, as an unreachable ClickHouse server's would."""
    shop = make_tenant("deletion-failing").id

    class Unreachable:
        """Test double for a ClickHouse server that is down (none can run here)."""

        def query(self, *args: Any, **kwargs: Any) -> Any:
            raise ConnectionError("connection refused")

        command = insert = query

        def close(self) -> None:
            pass

    deletion.request(meta, shop, "dave")
    assert deletion.run_next(meta, Unreachable(), threading.Lock())  # type: ignore[arg-type]
    [job] = deletion.history(meta, shop, "dave")
    assert job.status == "failed" and "connection refused" in (job.error or "")
    assert rows_of_meta(meta, job.id)["user_id"] == "dave"  # kept for a retry


def test_deleting_a_user_removes_the_anonymous_events_stitched_to_them(
    store: Store, meta: MetaStore, make_tenant: Callable[..., Any]
) -> None:
    shop = make_tenant("deletion-stitched").id
    rng = random.Random(5)

    def anonymous(visitor: str, n: int) -> list[Event]:
        out = events_of(shop, "", rng, n)
        for e in out:
            e.visitor_id = e.anonymous_id = visitor
        return out

    browsing = anonymous("anon-gina", 6)  # gina, before she signed in
    shared = anonymous("anon-shared", 4)  # a browser both gina and hal signed in on
    stranger = anonymous("anon-stranger", 5)  # never linked: nobody's to delete
    gina = events_of(shop, "gina", rng, 5)
    hal = events_of(shop, "hal", rng, 5)
    links = []
    for visitor, user in (("anon-gina", "gina"), ("anon-shared", "gina"), ("anon-shared", "hal")):
        [link] = events_of(shop, user, rng, 1)
        link.event_type, link.visitor_id, link.anonymous_id = "identify", visitor, visitor
        link.items = []
        links.append(link)
    load(store, browsing + shared + stranger + gina + hal + links)

    rows_deleted = deletion.delete_user(store, shop, "gina", threading.Lock())

    gone = browsing + shared + gina + links[:2]
    assert rows_deleted == {
        "events": len(gone),
        "event_items": sum(len(e.items) for e in gone),
        "event_properties": 2 * len(gone),
        "identities": 3,  # anon-gina, anon-shared and visitor-gina → gina
    }
    left = rows(
        store,
        "SELECT visitor_id, user_id, count() AS n FROM events WHERE tenant_id = {t:UInt32}"
        " GROUP BY visitor_id, user_id ORDER BY visitor_id, user_id",
        t=shop,
    )
    assert [(r["visitor_id"], r["user_id"], r["n"]) for r in left] == [
        ("anon-shared", "hal", 1),  # hal's own identify stays
        ("anon-stranger", "", len(stranger)),
        ("visitor-hal", "hal", len(hal)),
    ]
    assert rows(
        store,
        "SELECT anonymous_id, user_id FROM identities WHERE tenant_id = {t:UInt32}"
        " ORDER BY anonymous_id",
        t=shop,
    ) == [
        {"anonymous_id": "anon-shared", "user_id": "hal"},
        {"anonymous_id": "visitor-hal", "user_id": "hal"},
    ]
    kept = stranger + hal + links[2:]
    assert revenue_by_source(store, shop) == (sum(e.revenue for e in kept),) * 2
    items = rows(
        store, "SELECT count() AS n FROM event_items WHERE tenant_id = {t:UInt32}", t=shop
    )[0]["n"]
    assert items == sum(len(e.items) for e in kept)
