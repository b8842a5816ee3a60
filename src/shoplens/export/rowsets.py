"""The row sets an export can hold (``type=orders|events|products|customers``), as data.

Each :class:`RowSet` lists its columns — output name, Arrow type, SQL expression — and builds
its :class:`~shoplens.metrics.sql.Query` (tenant and ``[start, end)`` applied by the builder).
Definitions (docs/api.md repeats them); money is Int64 minor units of the tenant's base
currency, times are UTC:

- ``orders``: one row per unflagged ``purchase`` event, oldest first.
- ``events``: every stored event, raw (flagged ones too, with ``is_flagged``), in storage
  order: by event type, then time, then id.
- ``products``: one row per item id seen in the period's unflagged ``event_items``, with
  views, add-to-carts, orders, units sold and revenue (``price * quantity`` over purchase
  rows); by revenue desc, then id.
- ``customers``: one row per non-empty ``user_id`` with unflagged events in the period:
  first/last seen, events, sessions, orders, revenue, first/last order (empty without
  orders); by revenue desc, then id.

TRICKY: ``events`` is ordered by the table's sorting key ``(tenant_id, event_type,
timestamp, event_id)`` so ClickHouse reads it in order; ``ORDER BY timestamp`` across event
types would make the engine sort the whole period in memory before the first row. Orders
are one event type, so their time order is the key order too. The two aggregate row sets
hold one aggregation state per product/customer inside the engine (not in Python).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import LiteralString

import pyarrow as pa

from shoplens.metrics.period import Period
from shoplens.metrics.sql import EVENT_ITEMS, EVENTS, Query, Table

_TIME = pa.timestamp("ms", tz="UTC")


@dataclass(frozen=True)
class Column:
    """One output column: its name, its Arrow type in every format, its SQL expression.

    A bare column is selected as itself; an expression as ``out_<name>``. TRICKY: an alias
    equal to a column would replace that column everywhere in the query (the builder
    refuses it), and output names such as ``revenue`` are also column names.
    """

    name: str
    type: pa.DataType
    sql: LiteralString

    @property
    def alias(self) -> str:
        return self.name if self.sql == self.name else f"out_{self.name}"


@dataclass(frozen=True)
class RowSet:
    """An exportable row set: a table, its columns, filters, grouping and order.

    ``group_by`` and ``order_by`` name source columns or ``out_`` aliases (SQL names).
    """

    name: str
    table: Table
    columns: tuple[Column, ...]
    wheres: tuple[LiteralString, ...] = ()
    group_by: tuple[str, ...] = ()
    order_by: tuple[tuple[str, str], ...] = ()

    @property
    def schema(self) -> pa.Schema:
        """The Arrow schema every batch is cast to (and an empty export is written with)."""
        return pa.schema([pa.field(c.name, c.type) for c in self.columns])

    def query(self, tenant_id: int, period: Period) -> Query:
        """The rows of ``tenant_id`` in ``period``, through the SQL builder."""
        q = Query.from_table(self.table, tenant_id, period.start, period.end)
        for where in self.wheres:
            q = q.where(where)
        for c in self.columns:
            q = q.select(c.sql, alias=c.alias)
        if self.group_by:
            q = q.group_by(*self.group_by)
        for name, direction in self.order_by:
            q = q.order_by(name, direction)
        return q


def _c(name: str, type_: pa.DataType, sql: LiteralString | None = None) -> Column:
    # Output names are identifiers written in this module, so a bare name is SQL text too.
    return Column(name, type_, sql if sql is not None else name)


_S, _I64, _I32 = pa.string(), pa.int64(), pa.int32()

ORDERS = RowSet(
    "orders",
    EVENTS,
    (
        _c("order_id", _S, "transaction_id"),
        _c("timestamp", _TIME),
        _c("event_id", _S, "toString(event_id)"),
        _c("user_id", _S),
        _c("visitor_id", _S),
        _c("session_id", _S),
        _c("currency", _S),
        _c("revenue", _I64),
        _c("discount", _I64),
        _c("shipping", _I64),
        _c("tax", _I64),
        _c("item_count", _I64),
        _c("coupon_code", _S),
        _c("original_currency", _S),
        # Exact decimal text (a float would round it); empty when not converted.
        _c("original_revenue", _S, "toString(original_revenue)"),
        _c("channel", _S),
        _c("utm_source", _S),
        _c("utm_medium", _S),
        _c("utm_campaign", _S),
        _c("country", _S),
        _c("device_type", _S),
    ),
    wheres=("event_type = 'purchase'", "is_flagged = 0"),
    order_by=(("timestamp", "ASC"), ("event_id", "ASC")),
)

EVENTS_ROWS = RowSet(
    "events",
    EVENTS,
    (
        _c("event_id", _S, "toString(event_id)"),
        _c("event_type", _S),
        _c("event_name", _S),
        _c("timestamp", _TIME),
        _c("user_id", _S),
        _c("anonymous_id", _S),
        _c("visitor_id", _S),
        _c("session_id", _S),
        _c("page_url", _S),
        _c("page_path", _S),
        _c("referrer", _S),
        _c("channel", _S),
        _c("utm_source", _S),
        _c("utm_medium", _S),
        _c("utm_campaign", _S),
        _c("device_type", _S),
        _c("os", _S),
        _c("browser", _S),
        _c("country", _S),
        _c("region", _S),
        _c("city", _S),
        _c("transaction_id", _S),
        _c("currency", _S),
        _c("revenue", _I64),
        _c("item_count", _I64),
        _c("search_term", _S),
        _c("is_flagged", _I32),
        # The custom properties as one JSON object text (the same in every format).
        _c("properties", _S, "toJSONString(properties)"),
    ),
    order_by=(("event_type", "ASC"), ("timestamp", "ASC"), ("event_id", "ASC")),
)

PRODUCTS = RowSet(
    "products",
    EVENT_ITEMS,
    (
        _c("product_id", _S, "item_id"),
        _c("name", _S, "argMaxIf(item_name, timestamp, item_name != '')"),
        _c("category", _S, "toString(argMaxIf(item_category, timestamp, item_category != ''))"),
        _c("brand", _S, "toString(argMaxIf(item_brand, timestamp, item_brand != ''))"),
        _c("views", _I64, "toInt64(uniqExactIf(event_id, event_type = 'view_item'))"),
        _c("add_to_carts", _I64, "toInt64(uniqExactIf(event_id, event_type = 'add_to_cart'))"),
        _c("orders", _I64, "toInt64(uniqExactIf(event_id, event_type = 'purchase'))"),
        _c("units_sold", _I64, "sumIf(toInt64(quantity), event_type = 'purchase')"),
        _c("revenue", _I64, "sumIf(price * toInt64(quantity), event_type = 'purchase')"),
    ),
    wheres=("is_flagged = 0", "item_id != ''"),
    group_by=("item_id",),
    order_by=(("out_revenue", "DESC"), ("item_id", "ASC")),
)

CUSTOMERS = RowSet(
    "customers",
    EVENTS,
    (
        _c("customer_id", _S, "user_id"),
        _c("first_seen", _TIME, "min(timestamp)"),
        _c("last_seen", _TIME, "max(timestamp)"),
        _c("events", _I64, "toInt64(count())"),
        _c("sessions", _I64, "toInt64(uniqExactIf(session_id, session_id != ''))"),
        _c("orders", _I64, "toInt64(countIf(event_type = 'purchase'))"),
        _c("revenue", _I64, "sumIf(revenue, event_type = 'purchase')"),
        _c(
            "first_order_at",
            _TIME,
            "if(countIf(event_type = 'purchase') > 0,"
            " minIf(timestamp, event_type = 'purchase'), NULL)",
        ),
        _c(
            "last_order_at",
            _TIME,
            "if(countIf(event_type = 'purchase') > 0,"
            " maxIf(timestamp, event_type = 'purchase'), NULL)",
        ),
    ),
    wheres=("is_flagged = 0", "user_id != ''"),
    group_by=("user_id",),
    order_by=(("out_revenue", "DESC"), ("user_id", "ASC")),
)

#: type parameter → row set (adding a row set is one entry here plus its test).
ROW_SETS: dict[str, RowSet] = {r.name: r for r in (ORDERS, EVENTS_ROWS, PRODUCTS, CUSTOMERS)}
