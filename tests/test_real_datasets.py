"""Both real datasets replayed as a shop's server integration sends them, checked to the cent.

A shop's backend (or a Segment/RudderStack server SDK) sends every event from one IP, with a
server User-Agent, as fast as it can. This replays ``../shared/datasets/`` (see its README)
through a real ``shoplens serve`` process over real sockets, twice per dataset — through the
core batch route (``POST /analytics/event/batch``, integer minor units) and through Segment's
HTTP API (``POST /v1/batch``, decimals) — each into a tenant of its own with default fraud
settings, and checks revenue, orders, items and the top products against pandas.

Times are moved so the newest event of a dataset lies an hour before now (whole days, so
each event keeps its weekday and time of day): the suite does not depend on the day it runs.
The Online Retail sample spans a year, so its tenants keep raw events without limit
(enterprise); nothing else is changed from the defaults.

Mapping (the same on both routes):
- Online Retail: an invoice is one order (``order_completed`` / ``Order Completed``) whose
  items are its sale lines (Quantity > 0, UnitPrice > 0); a ``C`` invoice is a refund of
  |sum(Quantity * UnitPrice)|. Money in pence: an order's total is its exact line sum rounded
  half up; an item's price is UnitPrice rounded half up (one line has 0.001), so product
  revenue is sum(Quantity * rounded price) — as tests/test_online_retail.py states.
- REES46: ``view`` is a product view, ``cart`` an add to cart; the ``purchase`` rows of one
  ``user_session`` and second are one order of those products, quantity 1 each.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from tests.serverproc import ServerProcess, run_cli, start_server

DATASETS = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets"
RETAIL = DATASETS / "online_retail_sample.csv"
REES46 = DATASETS / "rees46_2019_oct_head.csv"
V1 = "/v1/api/analytics/ecommerce"
TOP = 15
# What a server integration says it is (httpx's own default would do as well).
SERVER_AGENT = {"User-Agent": "analytics-python/2.3.3"}
MAX_BODY = 400_000  # below the 512 KiB request limit

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (RETAIL.is_file() and REES46.is_file()),
        reason=f"datasets missing in {DATASETS}: clone the shared/ data beside the checkout",
    ),
]


# -- the datasets as orders and events (pandas, integer minor units) -------------------


def half_up(milli: Any) -> Any:
    """Non-negative thousandths → hundredths, rounded half up (ints and Series)."""
    return (milli + 5) // 10


@dataclass
class Shop:
    """One dataset, mapped: what is sent and what the reports must say."""

    name: str
    currency: str
    events: list[dict[str, Any]]  # route-neutral: kind, at, user, order/product fields
    revenue: int  # minor units, orders not refunded counted in full
    orders: int
    items: int
    refunds: int  # minor units
    top: list[tuple[str, int, int]]  # (product, revenue minor units, quantity), revenue order


def shifted(times: pd.Series) -> pd.Series:
    """``times`` moved by whole days so the newest lies within the last day, an hour ago."""
    newest = times.max().to_pydatetime().replace(tzinfo=UTC)
    days = (datetime.now(UTC) - timedelta(hours=1) - newest).days
    return times + pd.Timedelta(days=days)


def top_products(lines: pd.DataFrame) -> list[tuple[str, int, int]]:
    """Lines with product, quantity and pence → the top by revenue, then orders, then id."""
    grouped = lines.groupby("product").agg(
        pence=("pence", "sum"), quantity=("quantity", "sum"), orders=("order", "nunique")
    )
    ranked = grouped.reset_index().sort_values(
        ["pence", "orders", "product"], ascending=[False, False, True]
    )
    return [(r.product, int(r.pence), int(r.quantity)) for r in ranked.head(TOP).itertuples()]


def online_retail() -> Shop:
    df = pd.read_csv(
        RETAIL,
        dtype={"InvoiceNo": str, "StockCode": str, "Description": str, "CustomerID": str},
        keep_default_na=False,
        na_values={"Quantity": [""], "UnitPrice": [""]},
    )
    df["at"] = shifted(pd.to_datetime(df["InvoiceDate"]))
    df["milli"] = (df["UnitPrice"] * 1000).round().astype("int64")
    df["line_milli"] = df["Quantity"] * df["milli"]
    df["refund"] = df["InvoiceNo"].str.startswith("C")
    sale = df[~df["refund"] & (df["Quantity"] > 0) & (df["UnitPrice"] > 0)].copy()
    sale["price"] = half_up(sale["milli"])
    sale["pence"] = sale["Quantity"] * sale["price"]

    events = []
    for invoice, lines in sale.groupby("InvoiceNo", sort=False):
        first = lines.iloc[0]
        events.append(
            {
                "kind": "order",
                "at": lines["at"].min(),
                "user": str(int(float(first["CustomerID"]))) if first["CustomerID"] else "",
                "order": invoice,
                "total": int(half_up(lines["line_milli"].sum())),
                "items": [
                    {
                        "product": line.StockCode,
                        "name": line.Description,
                        "price": int(line.price),
                        "quantity": int(line.Quantity),
                    }
                    for line in lines.itertuples()
                ],
            }
        )
    refunded = (
        df[df["refund"]]
        .groupby("InvoiceNo")
        .agg(milli=("line_milli", "sum"), at=("at", "min"), user=("CustomerID", "first"))
    )
    refunded["pence"] = half_up(-refunded["milli"])
    refunded = refunded[refunded["pence"] > 0]
    for invoice, row in refunded.iterrows():
        user = str(int(float(row["user"]))) if row["user"] else ""
        events.append(
            {"kind": "refund", "at": row["at"], "user": user, "order": invoice,
             "total": int(row["pence"])}
        )  # fmt: skip

    orders = [e for e in events if e["kind"] == "order"]
    return Shop(
        name="Online Retail",
        currency="GBP",
        events=sorted(events, key=lambda e: e["at"]),
        revenue=sum(e["total"] for e in orders),
        orders=len(orders),
        items=int(sale["Quantity"].sum()),
        refunds=int(refunded["pence"].sum()),
        top=top_products(
            sale.rename(columns={"StockCode": "product", "Quantity": "quantity"}).assign(
                order=sale["InvoiceNo"]
            )
        ),
    )


def rees46() -> Shop:
    df = pd.read_csv(REES46, dtype={"product_id": str, "user_id": str, "brand": str})
    df = df.fillna({"brand": "", "category_code": ""})
    df["at"] = shifted(pd.to_datetime(df["event_time"], format="%Y-%m-%d %H:%M:%S UTC"))
    df["pence"] = (df["price"] * 100).round().astype("int64")  # cents: 2 decimals at most
    assert ((df["pence"] - df["price"] * 100).abs() < 1e-6).all()

    events: list[dict[str, Any]] = []
    for row in df[df["event_type"] != "purchase"].itertuples():
        events.append(
            {
                "kind": "view" if row.event_type == "view" else "cart",
                "at": row.at,
                "user": row.user_id,
                "product": row.product_id,
                "category": row.category_code,
                "brand": row.brand,
                "price": int(row.pence),
            }
        )
    bought = df[df["event_type"] == "purchase"].copy()
    bought["order"] = bought["user_session"] + "@" + bought["event_time"]
    for order, lines in bought.groupby("order", sort=False):
        events.append(
            {
                "kind": "order",
                "at": lines["at"].min(),
                "user": lines.iloc[0]["user_id"],
                "order": order,
                "total": int(lines["pence"].sum()),
                "items": [
                    {
                        "product": line.product_id,
                        "name": "",
                        "price": int(line.pence),
                        "quantity": 1,
                    }
                    for line in lines.itertuples()
                ],
            }
        )
    return Shop(
        name="REES46",
        currency="USD",
        events=sorted(events, key=lambda e: e["at"]),
        revenue=int(bought["pence"].sum()),
        orders=bought["order"].nunique(),
        items=len(bought),
        refunds=0,
        top=top_products(bought.rename(columns={"product_id": "product"}).assign(quantity=1)),
    )


# -- the two wire formats ----------------------------------------------------------------


def iso(at: pd.Timestamp) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def core_event(event: dict[str, Any], currency: str) -> dict[str, Any]:
    """Seeds 000/001: integer minor units."""
    kind = event["kind"]
    body: dict[str, Any] = {"timestamp": iso(event["at"])}
    if event["user"]:
        body["userId"] = event["user"]
    if kind in ("view", "cart"):
        body["event"] = "product_view" if kind == "view" else "add_to_cart"
        body["properties"] = {
            "productId": event["product"],
            "category": event["category"],
            "brand": event["brand"],
            "price": event["price"],
            "currency": currency,
        }
    elif kind == "order":
        body["event"] = "order_completed"
        body["properties"] = {
            "orderId": event["order"],
            "total": event["total"],
            "currency": currency,
            "items": [
                {
                    "productId": item["product"],
                    "name": item["name"],
                    "price": item["price"],
                    "quantity": item["quantity"],
                }
                for item in event["items"]
            ],
        }
    else:
        body["event"] = "order_refunded"
        body["properties"] = {"orderId": event["order"], "total": event["total"]}
        body["properties"]["currency"] = currency
    return body


def major(minor: int) -> float:
    # Two-decimal currencies only here (GBP, USD); the float repr of cents/100 is exact
    # to the cent, and the server reads the number as a decimal.
    return float(Decimal(minor) / 100)


def segment_message(event: dict[str, Any], currency: str) -> dict[str, Any]:
    """Segment's E-commerce spec v2, as analytics-python sends it: decimals."""
    kind = event["kind"]
    message: dict[str, Any] = {
        "type": "track",
        "messageId": str(uuid.uuid4()),
        "timestamp": iso(event["at"]),
        "context": {"library": {"name": "analytics-python", "version": "2.3.3"}},
    }
    if event["user"]:
        message["userId"] = event["user"]
    else:
        message["anonymousId"] = f"guest-{event['order']}"
    if kind in ("view", "cart"):
        message["event"] = "Product Viewed" if kind == "view" else "Product Added"
        message["properties"] = {
            "product_id": event["product"],
            "category": event["category"],
            "brand": event["brand"],
            "price": major(event["price"]),
            "currency": currency,
        }
    elif kind == "order":
        message["event"] = "Order Completed"
        message["properties"] = {
            "order_id": event["order"],
            "revenue": major(event["total"]),
            "currency": currency,
            "products": [
                {
                    "product_id": item["product"],
                    "name": item["name"],
                    "price": major(item["price"]),
                    "quantity": item["quantity"],
                }
                for item in event["items"]
            ],
        }
    else:
        message["event"] = "Order Refunded"
        message["properties"] = {
            "order_id": event["order"],
            "revenue": major(event["total"]),
            "currency": currency,
        }
    return message


def bodies(items: list[dict[str, Any]], wrap: str) -> Iterator[tuple[bytes, int]]:
    """``{wrap: [...]}`` JSON bodies of at most MAX_BODY bytes, each with its item count."""
    chunk: list[bytes] = []
    size = 0
    for item in items:
        encoded = json.dumps(item).encode()
        if chunk and size + len(encoded) + 2 > MAX_BODY:
            yield b'{"%s":[' % wrap.encode() + b",".join(chunk) + b"]}", len(chunk)
            chunk, size = [], 0
        chunk.append(encoded)
        size += len(encoded) + 1
    if chunk:
        yield b'{"%s":[' % wrap.encode() + b",".join(chunk) + b"]}", len(chunk)


# -- the server --------------------------------------------------------------------------


@dataclass
class Tenant:
    id: int
    publishable: str
    secret: str


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("real-datasets") / "data"
    running = start_server(data_dir, env={"SHOPLENS_RETENTION_INTERVAL": "0"})
    try:
        yield running
    finally:
        running.stop()


def create_tenant(server: ServerProcess, name: str, currency: str) -> Tenant:
    done = run_cli(
        "tenants", "create", name, "--base-currency", currency, "--timezone", "UTC",
        "--plan", "enterprise", "--json", data_dir=server.data_dir,
    )  # fmt: skip
    created = json.loads(done.stdout)
    tenant = Tenant(created["tenant_id"], created["publishable_key"], created["secret_key"])
    # A year of history: keep raw events without limit (enterprise allows it).
    kept = httpx.patch(
        f"{server.url}/analytics/settings",
        json={"retention": {"rawEvents": None, "aggregatedMetrics": None}},
        headers={"Authorization": f"Bearer {tenant.secret}"},
    )
    assert kept.status_code == 200, kept.text
    return tenant


def send(server: ServerProcess, tenant: Tenant, shop: Shop, route: str) -> None:
    if route == "core":
        path, wrap = "/analytics/event/batch", "events"
        sent = [core_event(e, shop.currency) for e in shop.events]
        auth = {"Authorization": f"Bearer {tenant.publishable}"}
    else:
        path, wrap = "/v1/batch", "batch"
        sent = [segment_message(e, shop.currency) for e in shop.events]
        # Segment's HTTP API authenticates with Basic auth: the write key as user name.
        write_key = base64.b64encode(f"{tenant.publishable}:".encode()).decode()
        auth = {"Authorization": f"Basic {write_key}"}
    with httpx.Client(base_url=server.url, headers=SERVER_AGENT | auth, timeout=60) as http:
        for body, count in bodies(sent, wrap):
            answer = http.post(path, content=body, headers={"Content-Type": "application/json"})
            # The core batch answers 201 with a receipt per event (seed 001), Segment 200.
            assert answer.status_code == (201 if route == "core" else 200), answer.text[:500]
            if route == "core":
                assert answer.json()["accepted"] == count, answer.text[:500]
            else:  # Segment's own answer; a rejected message would be in /v1/ingest/errors
                assert answer.json() == {"success": True}, answer.text[:500]
    if route == "segment":
        errors = httpx.get(
            f"{server.url}/v1/ingest/errors",
            headers={"Authorization": f"Bearer {tenant.secret}"},
        )
        assert errors.status_code == 200 and errors.json()["rejected"] == 0, errors.text


def wait_stored(server: ServerProcess, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(f"{server.url}/healthz").json()["ingest"]["pending_events"] == 0:
            return
        time.sleep(0.1)
    raise AssertionError("events were not flushed in time")


def report(server: ServerProcess, tenant: Tenant, path: str, **params: Any) -> Any:
    answer = httpx.get(
        f"{server.url}{V1}/{path}",
        params={"days": 400, **params},
        headers={"Authorization": f"Bearer {tenant.secret}"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def cents(value: Any) -> int:
    return int((Decimal(str(value)) * 100).quantize(Decimal(1), ROUND_HALF_UP))


@pytest.fixture(scope="module", params=["retail", "rees46"])
def shop(request: pytest.FixtureRequest) -> Shop:
    return online_retail() if request.param == "retail" else rees46()


@pytest.mark.parametrize("route", ["core", "segment"])
def test_server_integration_replay_matches_pandas(
    server: ServerProcess, shop: Shop, route: str
) -> None:
    tenant = create_tenant(server, f"{shop.name} via {route}", shop.currency)
    send(server, tenant, shop, route)
    wait_stored(server)

    overview = report(server, tenant, "overview")
    assert cents(overview["total_revenue"]) == shop.revenue
    assert overview["total_orders"] == shop.orders
    assert overview["total_items_sold"] == shop.items
    assert cents(overview["refund_amount"]) == shop.refunds
    # Nothing a shop's own backend sends is held back as fraud by default.
    assert overview.get("flagged_orders", 0) == 0

    top = report(server, tenant, "top-products", limit=TOP)["products"]
    assert [(p["item_id"], cents(p["revenue"]), p["quantity"]) for p in top] == shop.top
