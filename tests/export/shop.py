"""A small shop sent through the real ingestion API, and its exports computed in Python.

The expected rows are worked out here from the sent events alone (never from the store),
so a wrong query, cast or writer shows up as a difference.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import TenantKeys, wait_stored

BATCH = "/v1/api/analytics/ecommerce/batch"


def iso(at: datetime) -> str:
    """The exports' time text: UTC, milliseconds, ``Z``."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class Sent:
    kind: str
    user: str
    session: str
    at: datetime
    items: list[tuple[str, str, int, int]] = field(default_factory=list)  # id, name, cents, qty
    order: str = ""

    @property
    def revenue(self) -> int:
        return sum(cents * qty for _, _, cents, qty in self.items) if self.kind == "purchase" else 0


def shop_events(now: datetime | None = None, tag: str = "") -> list[Sent]:
    """A day's worth of events a few days ago (ms precision, distinct times); ``tag``
    makes the order ids differ from another call's (purchases are de-duplicated by id)."""
    base = (now or datetime.now(UTC)).replace(hour=9, minute=0, second=0, microsecond=0)
    base -= timedelta(days=2)

    def at(minutes: int, ms: int = 0) -> datetime:
        return base + timedelta(minutes=minutes, milliseconds=ms)

    tee, mug, cap = (
        ("tee", 'Tee, "white"', 1999, 1),
        ("mug", "Mug", 850, 2),
        ("cap", "Cap", 1200, 1),
    )
    return [
        Sent("view_cart", "alice", "s1", at(0, 123)),
        Sent("view_item", "alice", "s1", at(1), [tee]),
        Sent("view_item", "alice", "s1", at(2), [mug]),
        Sent("add_to_cart", "alice", "s1", at(3), [tee]),
        Sent("purchase", "alice", "s1", at(4, 5), [tee, mug], order=f"ord-1{tag}"),
        Sent("view_item", "bob", "s2", at(30), [tee]),
        Sent("view_item", "bob", "s2", at(31), [cap]),
        Sent("purchase", "bob", "s2", at(32, 999), [cap], order=f"ord-2{tag}"),
        Sent("purchase", "alice", "s3", at(90), [mug], order=f"ord-3{tag}"),
        Sent("view_cart", "carol", "s4", at(120)),
    ]


def send(client: TestClient, keys: TenantKeys, events: list[Sent]) -> None:
    """Post ``events`` through the ecommerce batch route and wait until they are stored."""
    batch = []
    for e in events:
        body: dict[str, Any] = {
            "event_type": e.kind,
            "user_id": e.user,
            "session_id": e.session,
            "timestamp": iso(e.at),
        }
        if e.items:
            body["items"] = [
                {"item_id": i, "item_name": n, "price": cents / 100, "quantity": q}
                for i, n, cents, q in e.items
            ]
        if e.kind == "purchase":
            body |= {"transaction_id": e.order, "revenue": e.revenue / 100}
        batch.append(body)
    response = client.post(BATCH, json={"events": batch}, headers=keys.pk)
    assert response.json() == {"ok": True, "accepted": len(batch)}, response.json()
    wait_stored(client)


# The expected rows, for the columns each check looks at -----------------------------------


def orders(events: list[Sent]) -> list[dict[str, Any]]:
    return [
        {
            "order_id": e.order,
            "timestamp": iso(e.at),
            "user_id": e.user,
            "session_id": e.session,
            "revenue": e.revenue,
            "currency": "USD",
        }
        for e in sorted(events, key=lambda e: e.at)
        if e.kind == "purchase"
    ]


def events_rows(events: list[Sent]) -> list[dict[str, Any]]:
    ordered = sorted(events, key=lambda e: (e.kind, e.at))
    return [
        {
            "event_type": e.kind,
            "timestamp": iso(e.at),
            "user_id": e.user,
            "session_id": e.session,
            "revenue": e.revenue,
            "is_flagged": 0,
        }
        for e in ordered
    ]


def products(events: list[Sent]) -> list[dict[str, Any]]:
    stats: dict[str, dict[str, Any]] = {}
    for e in events:
        for item_id, name, cents, qty in e.items:
            row = stats.setdefault(
                item_id,
                {
                    "product_id": item_id,
                    "name": name,
                    "views": 0,
                    "add_to_carts": 0,
                    "orders": 0,
                    "units_sold": 0,
                    "revenue": 0,
                },
            )
            if e.kind == "view_item":
                row["views"] += 1
            elif e.kind == "add_to_cart":
                row["add_to_carts"] += 1
            elif e.kind == "purchase":
                row["orders"] += 1
                row["units_sold"] += qty
                row["revenue"] += cents * qty
    return sorted(stats.values(), key=lambda r: (-r["revenue"], r["product_id"]))


def customers(events: list[Sent]) -> list[dict[str, Any]]:
    by_user: dict[str, list[Sent]] = defaultdict(list)
    for e in events:
        by_user[e.user].append(e)
    result = []
    for user, mine in by_user.items():
        bought = [e for e in mine if e.kind == "purchase"]
        result.append(
            {
                "customer_id": user,
                "first_seen": iso(min(e.at for e in mine)),
                "last_seen": iso(max(e.at for e in mine)),
                "events": len(mine),
                "sessions": len({e.session for e in mine}),
                "orders": len(bought),
                "revenue": sum(e.revenue for e in bought),
                "first_order_at": iso(min(e.at for e in bought)) if bought else None,
                "last_order_at": iso(max(e.at for e in bought)) if bought else None,
            }
        )
    return sorted(result, key=lambda r: (-r["revenue"], r["customer_id"]))


EXPECTED = {"orders": orders, "events": events_rows, "products": products, "customers": customers}


def project(rows: list[dict[str, Any]], like: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` cut down to the columns of ``like``'s rows (the ones worked out here)."""
    keys = list(like[0]) if like else []
    return [{k: r[k] for k in keys} for r in rows]
