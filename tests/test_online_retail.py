"""Replay the UCI Online Retail sample through the ecommerce API and check the reports
against pandas.

Dataset: ``../shared/datasets/online_retail_sample.csv`` beside the checkout (see its
README): 40,000 order lines of a UK gift shop, GBP prices, 2010-12-01 .. 2011-12-09.

Mapping (one event per ``InvoiceNo``, written as an NDJSON file of seed 002 ecommerce events
and loaded with the historical import path, ``shoplens import``'s ``ingest.importer``: the
invoices are from 2010-11, far older than any plan's live-ingestion retention window):

- a normal invoice is a ``purchase``: ``transaction_id`` = InvoiceNo, ``revenue`` =
  sum(Quantity * UnitPrice) rounded half up to the penny, ``items`` = its sale lines
  (``item_id`` = StockCode, ``item_name`` = Description, ``price`` = UnitPrice,
  ``quantity`` = Quantity), ``user_id`` = CustomerID as an integer string (omitted for
  guests), ``timestamp`` = the invoice's earliest InvoiceDate, as UTC.
- a ``C`` invoice is a ``refund``: ``revenue`` = |sum(Quantity * UnitPrice)|, no items.

Rules (mirrored in the pandas side):

- A sale line is a line of a normal invoice with Quantity > 0 and UnitPrice > 0. The rest
  of the normal-invoice lines are stock adjustments (negative or zero quantity, price 0,
  no description) and carry no money; they are not sent. A normal invoice without a sale
  line is not sent at all (its revenue would be 0: not an order).
- A ``C`` invoice whose amount is 0 is not sent (nothing was refunded).
- An item's stored price is UnitPrice rounded half up to the penny (one line has 0.001),
  so top-product revenue is sum(Quantity * rounded price), while the order's revenue is
  the rounded sum of the exact line amounts.

Country: ecommerce ingestion has no country field and the typed ``country`` column is
filled by enrichment, which does not exist yet, so ``revenue-by-country`` reports every
order as "unknown" (checked below). STOP-GAP until enrichment/import sets ``country``:
the invoice country is sent as ``properties.country`` and revenue by country is checked
with a store query over ``properties['country']``.

The pandas side works in integer milli-pounds (every price has at most 3 decimals), so the
comparison is exact to the penny.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from shoplens.config import Settings
from shoplens.ingest.importer import ImportFile, ImportStats, import_file
from shoplens.ingest.pipeline import IngestPipeline
from shoplens.meta import MetaStore
from shoplens.store import Store
from tests.conftest import TenantKeys, rows

DATASET = (
    Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "online_retail_sample.csv"
)
V1 = "/v1/api/analytics/ecommerce"
RANGE = {"start": "2010-12-01", "end": "2011-12-09"}
TOP = 20
PENNY = Decimal("0.01")

pytestmark = pytest.mark.skipif(
    not DATASET.is_file(),
    reason=f"dataset {DATASET} is missing: clone the shared/ data repo beside the checkout",
)


def load() -> Any:
    df = pd.read_csv(
        DATASET,
        dtype={"InvoiceNo": str, "StockCode": str, "Description": str, "CustomerID": str},
        keep_default_na=False,
        na_values={"Quantity": [""], "UnitPrice": [""]},
    )
    df["refund"] = df["InvoiceNo"].str.startswith("C")
    df["sale"] = ~df["refund"] & (df["Quantity"] > 0) & (df["UnitPrice"] > 0)
    # Exact integer money: every UnitPrice has at most 3 decimals.
    df["price_mp"] = (df["UnitPrice"] * 1000).round().astype("int64")
    assert ((df["price_mp"] - df["UnitPrice"] * 1000).abs() < 1e-6).all()
    df["line_mp"] = df["Quantity"] * df["price_mp"]
    df["at"] = pd.to_datetime(df["InvoiceDate"], format="%Y-%m-%d %H:%M:%S")
    return df


def half_up_pence(mp: Any) -> Any:
    """Non-negative milli-pounds → pence, rounded half up (works on ints and Series)."""
    return (mp + 5) // 10


# -- the events (Decimal, row by row) -------------------------------------------------


def amount(lines: list[dict[str, Any]]) -> Decimal:
    total = sum(
        (Decimal(str(line["Quantity"])) * Decimal(repr(line["UnitPrice"])) for line in lines),
        Decimal(0),
    )
    return total.quantize(PENNY, ROUND_HALF_UP)


def events_of(df: Any) -> list[dict[str, Any]]:
    out = []
    for invoice, group in df.groupby("InvoiceNo", sort=False):
        lines = group.to_dict("records")
        first = min(line["InvoiceDate"] for line in lines)
        event: dict[str, Any] = {
            "transaction_id": invoice,
            "timestamp": first.replace(" ", "T") + "Z",
            "properties": {"country": lines[0]["Country"]},
        }
        customer = lines[0]["CustomerID"]
        if customer:
            event["user_id"] = str(int(float(customer)))
        if invoice.startswith("C"):
            refunded = -amount(lines)
            if refunded <= 0:
                continue
            event |= {"event_type": "refund", "revenue": float(refunded)}
        else:
            sales = [ln for ln in lines if ln["Quantity"] > 0 and ln["UnitPrice"] > 0]
            if not sales:
                continue
            event |= {
                "event_type": "purchase",
                "revenue": float(amount(sales)),
                "items": [
                    {
                        "item_id": ln["StockCode"],
                        "item_name": ln["Description"] or None,
                        "price": ln["UnitPrice"],
                        "quantity": int(ln["Quantity"]),
                    }
                    for ln in sales
                ],
            }
        out.append(event)
    return out


# -- the expectations (pandas, integer milli-pounds) ----------------------------------


def invoices(df: Any) -> Any:
    """One row per sent invoice: kind, day, country and amount in pence (positive)."""
    sales = (
        df[df["sale"]].groupby("InvoiceNo").agg(mp=("line_mp", "sum"), country=("Country", "first"))
    )
    sales["kind"] = "purchase"
    refunds = (
        df[df["refund"]]
        .groupby("InvoiceNo")
        .agg(mp=("line_mp", "sum"), country=("Country", "first"))
    )
    refunds["mp"] = -refunds["mp"]
    refunds["kind"] = "refund"
    out = pd.concat([sales, refunds])
    out["at"] = df.groupby("InvoiceNo")["at"].min()
    out["pence"] = half_up_pence(out["mp"])
    return out[out["pence"] > 0]


def pounds(pence: int) -> Decimal:
    return (Decimal(int(pence)) / 100).quantize(PENNY)


def dec(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(PENNY)


@pytest.fixture(scope="module")
def data() -> Any:
    return load()


@pytest.fixture
def shop(
    data: Any,
    client: TestClient,
    store: Store,
    meta: MetaStore,
    make_tenant: Callable[..., TenantKeys],
    tmp_path: Path,
) -> TenantKeys:
    # Reports look back as far as the tenant's raw-event retention: enterprise has no plan
    # limit, so its rows from 2010 can be kept (and reported on) forever.
    keys = make_tenant("Online Retail", base_currency="GBP", plan="enterprise", timezone="UTC")
    kept = client.patch(
        "/analytics/settings",
        json={"retention": {"rawEvents": None, "aggregatedMetrics": None}},
        headers=keys.sk,
    )
    assert kept.status_code == 200, kept.text
    tenant = meta.tenant(keys.id)
    assert tenant is not None
    events = events_of(data)
    path = tmp_path / "online_retail.ndjson"
    path.write_bytes(b"".join(json.dumps(event).encode() + b"\n" for event in events))
    source = ImportFile(path, "ecommerce")

    async def load() -> ImportStats:
        # A pipeline of its own (own WAL dir) on the session store, as `shoplens import`.
        pipeline = IngestPipeline(Settings(data_dir=tmp_path / "import"), store)
        await pipeline.start()
        try:
            return await import_file(pipeline, tenant, source)
        finally:
            await pipeline.stop()  # drains every accepted event into the store

    stats = asyncio.run(load())
    assert (stats.accepted, stats.rejected, stats.first_errors) == (len(events), 0, [])
    return keys


def get(client: TestClient, keys: TenantKeys, path: str, **params: Any) -> Any:
    response = client.get(f"{V1}/{path}", params={**RANGE, **params}, headers=keys.sk)
    assert response.status_code == 200, response.text
    return response.json()


def test_online_retail_reports_match_pandas(
    data: Any, client: TestClient, store: Store, shop: TenantKeys
) -> None:
    inv = invoices(data)
    purchases = inv[inv["kind"] == "purchase"]
    refunds = inv[inv["kind"] == "refund"]
    sale_lines = data[data["sale"]]

    # Overview.
    overview = get(client, shop, "overview")
    assert dec(overview["total_revenue"]) == pounds(purchases["pence"].sum())
    assert dec(overview["refund_amount"]) == pounds(refunds["pence"].sum())
    assert dec(overview["net_revenue"]) == pounds(purchases["pence"].sum() - refunds["pence"].sum())
    assert overview["total_orders"] == len(purchases)
    assert overview["total_refunds"] == len(refunds)
    assert overview["total_items_sold"] == int(sale_lines["Quantity"].sum())

    # Revenue by day (UTC tenant), zero-filled over the whole range.
    daily = purchases.groupby(purchases["at"].dt.strftime("%Y-%m-%d")).agg(
        pence=("pence", "sum"), orders=("pence", "size")
    )
    series = get(client, shop, "revenue-timeseries")["series"]
    days = pd.date_range(RANGE["start"], RANGE["end"], freq="D").strftime("%Y-%m-%d")
    assert [p["date"] for p in series] == list(days)
    got = {p["date"]: (dec(p["revenue"]), p["orders"]) for p in series}
    want = {
        day: (
            (pounds(daily.at[day, "pence"]), int(daily.at[day, "orders"]))
            if day in daily.index
            else (Decimal("0.00"), 0)
        )
        for day in days
    }
    assert got == want

    # Top products: sum(Quantity * price rounded to the penny) over sale lines.
    lines = sale_lines.assign(pence=sale_lines["Quantity"] * half_up_pence(sale_lines["price_mp"]))
    products = lines.groupby("StockCode").agg(
        pence=("pence", "sum"), quantity=("Quantity", "sum"), orders=("InvoiceNo", "nunique")
    )
    products = (
        products.reset_index()
        .sort_values(["pence", "orders", "StockCode"], ascending=[False, False, True])
        .head(TOP)
    )
    top = get(client, shop, "top-products", limit=TOP)["products"]
    assert [(p["item_id"], dec(p["revenue"]), p["quantity"], p["orders"]) for p in top] == [
        (r.StockCode, pounds(r.pence), int(r.quantity), int(r.orders))
        for r in products.itertuples()
    ]
    names = sale_lines.groupby("StockCode")["Description"].agg(set)
    assert all(p["item_name"] in names[p["item_id"]] for p in top)

    # Revenue by country. The route only sees the typed column, empty today → "unknown".
    by_country = purchases.groupby("country")["pence"].agg(["sum", "size"])
    countries = get(client, shop, "revenue-by-country")["countries"]
    assert [(c["country"], dec(c["revenue"]), c["orders"]) for c in countries] == [
        ("unknown", pounds(purchases["pence"].sum()), len(purchases))
    ]
    # STOP-GAP until enrichment/import fills ``country``: properties['country'].
    stored = rows(
        store,
        "SELECT properties['country'] AS country, sum(revenue) AS pence, count() AS orders"
        " FROM events WHERE tenant_id = {t:UInt32} AND event_type = 'purchase'"
        " AND is_flagged = 0 GROUP BY country",
        t=shop.id,
    )
    assert {r["country"]: (int(r["pence"]), int(r["orders"])) for r in stored} == {
        country: (int(r["sum"]), int(r["size"])) for country, r in by_country.iterrows()
    }
