"""Identity links on the real store: written by the view, once, and resolved to one person.

Rows go in through the real insert path (``events_table`` + ``store.insert`` with a dedup
token, as the flusher does), so the ``identities_mv`` view fires exactly as in production.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shoplens.ingest.columns import events_table
from shoplens.ingest.event import Event
from shoplens.metrics.identity import (
    CUSTOMER,
    PERSON,
    PERSON_ID,
    linked_visitors,
    links,
    with_links,
)
from shoplens.metrics.sql import EVENTS, Query, run_rows
from shoplens.store import Store
from tests.conftest import rows

NOW_MS = int(time.time() * 1000)
HOUR_MS = 3_600_000


def event(tenant_id: int, hours_ago: float, visitor: str, user: str = "", **fields: Any) -> Event:
    ms = NOW_MS - int(hours_ago * HOUR_MS)
    kind = fields.pop("event_type", "page_view")
    return Event(
        tenant_id=tenant_id,
        event_id=str(uuid.uuid4()),
        event_type=kind,
        event_name=kind,
        source="test",
        timestamp=ms,
        received_at=ms,
        visitor_id=visitor,
        anonymous_id=visitor if visitor != user else "",
        user_id=user,
        **fields,
    )


def insert(store: Store, events: list[Event], token: str | None = None) -> None:
    store.insert("events", events_table(events), token or f"test-identity-{uuid.uuid4()}")


def stored_links(store: Store, tenant_id: int) -> list[tuple[str, str]]:
    found = rows(
        store,
        "SELECT anonymous_id, user_id FROM identities WHERE tenant_id = {t:UInt32}"
        " ORDER BY anonymous_id, user_id",
        t=tenant_id,
    )
    return [(r["anonymous_id"], r["user_id"]) for r in found]


@pytest.fixture
def shop(make_tenant: Callable[..., Any]) -> int:
    return int(make_tenant("identity").id)


def test_events_carrying_both_ids_and_alias_calls_write_links(store: Store, shop: int) -> None:
    insert(
        store,
        [
            event(shop, 5, "anon-1"),  # anonymous only: no link
            event(shop, 4, "anon-1", "u-1", event_type="identify"),
            event(shop, 3, "u-2", "u-2"),  # user only (visitor_id = user id): no link
            # alias(previousId=anon-2, userId=u-2) from a server SDK: no anonymous id
            event(shop, 2, "u-2", "u-2", event_type="alias", properties={"previousId": "anon-2"}),
            event(shop, 1, "anon-3", "u-3", is_flagged=1),  # flagged: ignored
        ],
    )
    assert stored_links(store, shop) == [("anon-1", "u-1"), ("anon-2", "u-2")]


def test_a_retried_flush_writes_its_links_once(store: Store, shop: int) -> None:
    batch = [event(shop, 1, "anon-1", "u-1")]
    insert(store, batch, token=f"retry-{shop}")
    insert(store, batch, token=f"retry-{shop}")  # the flusher's retry: same token
    assert stored_links(store, shop) == [("anon-1", "u-1")]


def test_an_anonymous_id_linked_to_several_users_belongs_to_its_first_link(
    store: Store, shop: int
) -> None:
    insert(store, [event(shop, 2, "shared", "u-late")])
    insert(store, [event(shop, 5, "shared", "u-early")])  # stored later, seen earlier
    tied = [event(shop, 3, "tied", "u-b"), event(shop, 3, "tied", "u-a")]
    tied[1].timestamp = tied[0].timestamp
    insert(store, tied)
    resolved = {r["visitor_id"]: r["linked_user"] for r in run_rows(store, links(shop))}
    assert resolved == {"shared": "u-early", "tied": "u-a"}
    assert run_rows(store, linked_visitors(shop, "u-early")) == [{"visitor_id": "shared"}]
    assert run_rows(store, linked_visitors(shop, "u-late")) == []


def test_every_event_resolves_to_its_person(
    store: Store, shop: int, make_tenant: Callable[..., Any]
) -> None:
    other = int(make_tenant("identity-other").id)
    insert(
        store,
        [
            event(shop, 6, "anon-1"),  # before the link
            event(shop, 5, "anon-1", "u-1", event_type="identify"),
            event(shop, 4, "anon-1"),  # after it
            event(shop, 3, "u-1", "u-1", event_type="purchase"),
            event(shop, 2, "anon-9"),  # never linked: a person of its own
            event(shop, 1, "anon-1", "u-7"),  # its own user id wins over the link
            event(other, 1, "anon-9", "u-other"),  # another tenant's link never applies
        ],
    )
    start = datetime.now(UTC) - timedelta(days=1)
    q = (
        with_links(Query.from_table(EVENTS, shop, start, start + timedelta(days=2)))
        .select("visitor_id")
        .select("user_id")
        .select(CUSTOMER, alias="customer")
        .select(PERSON_ID, alias="person_id")
        .select(PERSON, alias="person")
        .select("timestamp")
        .order_by("timestamp")
    )
    resolved = run_rows(store, q)
    got = [(r["visitor_id"], r["user_id"], r["customer"], r["person_id"]) for r in resolved]
    assert got == [
        ("anon-1", "", "u-1", "u-1"),
        ("anon-1", "u-1", "u-1", "u-1"),
        ("anon-1", "", "u-1", "u-1"),
        ("u-1", "u-1", "u-1", "u-1"),
        ("anon-9", "", "", "anon-9"),
        ("anon-1", "u-7", "u-7", "u-7"),
    ]
    people = {r["person_id"]: r["person"] for r in resolved}
    assert len(set(people.values())) == 3
