"""The SQL builder: the one place query text is assembled, with tenancy and time applied.

A report goes parse → plan → build → run: it picks a :class:`Table` from the whitelist,
starts a :class:`Query` with :meth:`Query.from_table` (tenant and ``[start, end)`` are
mandatory: there is no other public way to get a Query), adds expressions written in code,
and :meth:`Query.compile` turns it into SQL text plus ``{name:Type}`` parameters that run
unchanged on chDB and on a ClickHouse server::

    q = (
        Query.from_table(EVENTS, tenant_id=7, start=period.start, end=period.end)
        .select(bucket("timestamp", "day", "America/New_York"), alias="day")
        .select("sum(events.revenue)", alias="sales")
        .where("event_type IN {types}", types=["purchase", "refund"])
        .group_by("day")
        .order_by("day")
    )
    rows = run_rows(store, q)

Templates are code (typed ``LiteralString``); values are never spliced into the text: each
``{placeholder}`` becomes a uniquely named bound parameter whose ClickHouse type is inferred
from the Python value (or given with :class:`Typed`). A Query value becomes a subquery.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, LiteralString

import pyarrow as pa

from shoplens.store import Store

_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TYPE = re.compile(r"^[A-Za-z0-9_(), ']+$")
_DATETIME = "DateTime64(3, 'UTC')"


@dataclass(frozen=True)
class Table:
    """A whitelisted table: its name, the column its time range applies to, its columns.

    ``grain`` is the span one row covers (rollups: an hour); a query on such a table must
    start and end on the grain, or its first and last buckets would be silently wrong.
    """

    name: str
    time_column: str
    columns: frozenset[str]
    grain: timedelta | None = None


# The columns of the migrations' tables (tests/metrics/test_sql.py checks them against
# system.columns, so a migration that adds a column fails until it is listed here).
_COLUMNS = {
    "events": """
        tenant_id event_id event_type event_name source timestamp received_at user_id
        anonymous_id visitor_id session_id cart_id page_url page_path page_title referrer
        utm_source utm_medium utm_campaign utm_term utm_content channel device_type platform
        os browser country region city user_agent ip_hash transaction_id currency revenue
        discount shipping tax original_currency original_revenue coupon_code search_term
        item_count is_flagged fraud_reasons properties""",
    "event_items": """
        tenant_id event_id event_type timestamp user_id transaction_id item_index item_id
        item_name item_category item_brand item_variant item_list_name item_list_id
        item_image_url price quantity currency original_price original_currency coupon_code
        discount is_flagged""",
    "event_properties": "tenant_id event_id event_type timestamp user_id key value",
    "events_hourly": """
        tenant_id hour event_type is_flagged events revenue discount shipping tax items
        visitors users sessions""",
    "items_hourly": "tenant_id hour event_type item_id is_flagged events quantity revenue",
    "identities": "tenant_id anonymous_id user_id first_seen",
}


def _table(name: str, time_column: str, grain: timedelta | None = None) -> Table:
    return Table(name, time_column, frozenset(_COLUMNS[name].split()), grain)


EVENTS = _table("events", "timestamp")
EVENT_ITEMS = _table("event_items", "timestamp")
EVENT_PROPERTIES = _table("event_properties", "timestamp")
EVENTS_HOURLY = _table("events_hourly", "hour", timedelta(hours=1))
ITEMS_HOURLY = _table("items_hourly", "hour", timedelta(hours=1))
IDENTITIES = _table("identities", "first_seen")  # migrations/0004_identities.sql
TABLES: dict[str, Table] = {
    t.name: t
    for t in (EVENTS, EVENT_ITEMS, EVENT_PROPERTIES, EVENTS_HOURLY, ITEMS_HOURLY, IDENTITIES)
}


@dataclass(frozen=True)
class Typed:
    """A value with an explicit ClickHouse type, e.g. ``Typed("12.50", "Decimal(38, 9)")``."""

    value: Any
    type: str

    def __post_init__(self) -> None:
        if not _TYPE.match(self.type):
            raise ValueError(f"not a ClickHouse type name: {self.type!r}")


@dataclass(frozen=True)
class Expr:
    """A SQL fragment written in code, with the values for its ``{placeholders}``."""

    template: str
    values: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names, rest = set(_PLACEHOLDER.findall(self.template)), _PLACEHOLDER.sub("", self.template)
        if names != set(self.values) or "{" in rest or "}" in rest:
            raise ValueError(f"{self.template!r}: needs a value for each {{name}}, no other braces")


def expr(template: LiteralString, **values: Any) -> Expr:
    """A fragment for :meth:`Query.select`/``where``/``having``: ``expr("x = {v}", v=1)``."""
    return Expr(template, values)


# Bucket starts as local-midnight (or local-hour) instants in the tenant's zone, the keys
# Period.buckets() yields. TRICKY: ClickHouse writes DateTime (32-bit) to Arrow as bare
# uint32 seconds but DateTime64 as a zoned timestamp, so every bucket is made DateTime64.
# A bound {tz:String} is accepted as the time zone argument of toStartOfDay/Hour/Minute,
# toMonday and toStartOfMonth (checked on chDB 4.4: parameters are substituted as literals
# before analysis), so the zone is never inlined; an unknown zone fails the query.
_BUCKETS = {
    "minute": "toStartOfMinute({col}, {tz})",
    "hour": "toStartOfHour({col}, {tz})",
    "day": "toStartOfDay({col}, {tz})",
    "week": "toMonday({col}, {tz})",
    "month": "toStartOfMonth({col}, {tz})",
}


def bucket(column: str, granularity: str, timezone: str) -> Expr:
    """The start of ``column``'s local minute/hour/day/week (Monday)/month in ``timezone``."""
    if not _IDENT.match(column) or granularity not in _BUCKETS:
        raise ValueError(f"bad bucket: column {column!r}, granularity {granularity!r}")
    start = _BUCKETS[granularity].replace("{col}", column)
    return Expr(f"toDateTime64({start}, 0, {{tz}})", {"tz": timezone})


def _ms(value: datetime) -> str:
    """An aware datetime as UTC text with milliseconds (the precision of our columns).

    TRICKY: clickhouse-connect's formatting (which both stores bind with) drops fractional
    seconds, so ``12:00:00.500`` would bind as ``12:00:00``; we pass our own text instead.
    """
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(f"{value!r} is not an aware datetime")
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _scalar(value: Any) -> tuple[Any, str]:
    if isinstance(value, bool):  # TRICKY: bools bind as "True", which UInt8 will not parse.
        return int(value), "UInt8"
    if isinstance(value, int):
        return value, "Int64"
    if isinstance(value, float):
        return value, "Float64"
    if isinstance(value, str):
        return value, "String"
    if isinstance(value, datetime):
        return _ms(value), _DATETIME
    if isinstance(value, date):
        return value.isoformat(), "Date"
    raise ValueError(f"cannot bind {type(value).__name__} {value!r}: use Typed(value, type)")


def _infer(value: Any) -> tuple[Any, str]:
    """A Python value → (the value to bind, its ClickHouse type)."""
    if isinstance(value, Typed):
        if isinstance(value.value, list | tuple):
            return [_scalar(v)[0] for v in value.value], value.type
        return _scalar(value.value)[0], value.type
    if isinstance(value, list | tuple):
        pairs = [_scalar(v) for v in value]
        types = {t for _, t in pairs}
        if len(types) != 1:
            raise ValueError(f"list {value!r}: one element type needed (empty? use Typed)")
        return [v for v, _ in pairs], f"Array({types.pop()})"
    return _scalar(value)


def _fragment(template: str | Expr, values: dict[str, Any]) -> Expr:
    if isinstance(template, Expr):
        if values:
            raise ValueError("give values to expr(), not beside an Expr")
        return template
    return Expr(template, values)


_PRIVATE = object()
#: A visitor id as a 64-bit hash, for grouping by visitor and exact distinct counts: over
#: hashes they take about half the time they take over the strings (measured at 10M events:
#: distinct visitors per campaign 190 → 87 ms, the per-visitor cart state 68 → 45 ms).
#: TRICKY: two visitors share a hash with probability ~n²/2⁶⁵ — 2e-9 for 300,000 visitors —
#: so the counts stay exact in practice.
VISITOR = "cityHash64(visitor_id)"
#: The earliest instant: the start of "all history" ranges (the builder requires one).
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Query:
    """An immutable SELECT over one whitelisted table (or a subquery) for one tenant and range.

    Build it with :meth:`from_table` or :meth:`from_query`; each method returns a new Query.
    """

    source: Table | Query
    tenant_id: int
    start: datetime
    end: datetime
    selects: tuple[tuple[Expr, str | None], ...] = ()
    wheres: tuple[Expr, ...] = ()
    groups: tuple[str, ...] = ()
    havings: tuple[Expr, ...] = ()
    orders: tuple[tuple[str, str], ...] = ()
    limit_offset: tuple[int, int] | None = None
    joins: tuple[tuple[Query, str], ...] = ()
    _token: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Checked here, not in from_table, so dataclasses.replace() cannot skip them either.
        if self._token is not _PRIVATE:
            raise TypeError("use Query.from_table(...): tenant and time range are mandatory")
        if type(self.tenant_id) is not int or not 0 < self.tenant_id < 2**32:
            raise ValueError(f"tenant_id must be a UInt32 id, got {self.tenant_id!r}")
        if not _ms(self.start) < _ms(self.end):  # (_ms rejects naive datetimes)
            raise ValueError(f"empty time range [{self.start}, {self.end})")
        table = self.source
        if isinstance(table, Table):
            if TABLES.get(table.name) is not table:
                raise ValueError(f"{table.name!r} is not a whitelisted table")
            if table.grain and any((t - EPOCH) % table.grain for t in (self.start, self.end)):
                raise ValueError(f"{table.name} answers whole-{table.grain} ranges only")

    @classmethod
    def from_table(cls, table: Table, tenant_id: int, start: datetime, end: datetime) -> Query:
        """A query on ``table`` for ``tenant_id``'s rows with ``start <= time < end``."""
        # Round both bounds up to the millisecond: rows are whole ms, so [start, end) is exact.
        start, end = (
            t + timedelta(microseconds=-t.microsecond % 1000) if isinstance(t, datetime) else t
            for t in (start, end)
        )
        return cls(table, tenant_id, start, end, _token=_PRIVATE)

    @classmethod
    def from_query(cls, inner: Query) -> Query:
        """A query over ``inner``'s named outputs (``FROM (SELECT ...)``); its tenant and range."""
        return cls(inner, inner.tenant_id, inner.start, inner.end, _token=_PRIVATE)

    @property
    def columns(self) -> frozenset[str]:
        """The names this query may refer to: its source's columns and its own aliases."""
        return self._source_columns | {name for _, name in self.selects if name}

    @property
    def _source_columns(self) -> frozenset[str]:
        if isinstance(self.source, Table):
            names = self.source.columns
        else:
            names = frozenset(name for _, name in self.source.selects if name)
        for other, _ in self.joins:
            names |= {name for _, name in other.selects if name}
        return names

    def join(self, other: Query, using: str) -> Query:
        """``ANY LEFT JOIN (other) USING (using)``: each row gains the named outputs of
        ``other`` (same tenant) for its ``using`` key; rows without a match get defaults.
        Joins add up in order (the identity links, then a per-event subquery, say).

        ``other``'s outputs other than ``using`` must not clash with this query's columns
        (alias them, e.g. ``country AS e_country``), so every name stays unambiguous.
        """
        outputs = {name for _, name in other.selects if name}
        if using not in outputs or using not in self._source_columns:
            raise ValueError(f"{using!r} must be a column of both sides of the join")
        if clash := (outputs - {using}) & self._source_columns:
            raise ValueError(f"joined names {sorted(clash)} clash with this query's columns")
        return replace(self, joins=(*self.joins, (other, using)))

    def _check(self, name: str, allowed: frozenset[str]) -> str:
        if name not in allowed:
            raise ValueError(f"{name!r} is not a column or alias of this query")
        return name

    def select(
        self, expression: LiteralString | Expr, alias: str | None = None, **values: Any
    ) -> Query:
        """Add ``expression [AS alias]``; a bare name must be a column of the source."""
        fragment = _fragment(expression, values)
        if _IDENT.match(fragment.template):
            self._check(fragment.template, self._source_columns)
        if alias is not None:
            if not _IDENT.match(alias):
                raise ValueError(f"bad alias {alias!r}")
            # TRICKY: an alias equal to a column replaces the column everywhere in the query:
            # `sum(revenue) AS revenue` turns `WHERE revenue > 0` (and the time filter, were
            # it `timestamp`) into an aggregate in WHERE. Only `col AS col` is harmless.
            if alias in self.columns and alias != fragment.template:
                raise ValueError(f"alias {alias!r} is taken by a column or another alias")
        name = alias or (fragment.template if _IDENT.match(fragment.template) else None)
        return replace(self, selects=(*self.selects, (fragment, name)))

    def where(self, template: LiteralString | Expr, **values: Any) -> Query:
        """AND a predicate onto the tenant and time filter."""
        return replace(self, wheres=(*self.wheres, _fragment(template, values)))

    def having(self, template: LiteralString | Expr, **values: Any) -> Query:
        """AND a predicate on the grouped rows."""
        return replace(self, havings=(*self.havings, _fragment(template, values)))

    def group_by(self, *names: str) -> Query:
        checked = tuple(self._check(n, self.columns) for n in names)
        return replace(self, groups=(*self.groups, *checked))

    def order_by(self, name: str, direction: str = "ASC") -> Query:
        if direction.upper() not in ("ASC", "DESC"):
            raise ValueError(f"order direction must be ASC or DESC, got {direction!r}")
        order = (self._check(name, self.columns), direction.upper())
        return replace(self, orders=(*self.orders, order))

    def limit(self, limit: int, offset: int = 0) -> Query:
        if any(type(n) is not int or n < 0 for n in (limit, offset)):
            raise ValueError(f"limit and offset must be ints >= 0, got {limit!r}, {offset!r}")
        return replace(self, limit_offset=(limit, offset))

    def compile(self) -> tuple[str, dict[str, Any]]:
        """The SQL text and its bound parameters, ready for ``store.query(sql, params)``."""
        compiler = _Compiler(self.tenant_id)
        return compiler.query(self), compiler.params


class _Compiler:
    """Renders a Query tree, giving every bound value a name unique in the whole statement."""

    def __init__(self, tenant_id: int) -> None:
        self.tenant_id = tenant_id
        self.params: dict[str, Any] = {}
        self.types: dict[str, str] = {}

    def bind(self, hint: str, value: Any, type_: str) -> str:
        """``{hint:Type}``, or ``{hint_N:Type}`` when ``hint`` holds another value already."""
        name, n = hint, 0
        while name in self.params and (self.params[name], self.types[name]) != (value, type_):
            n += 1
            name = f"{hint}_{n}"
        self.params[name], self.types[name] = value, type_
        return f"{{{name}:{type_}}}"

    def fragment(self, fragment: Expr) -> str:
        def placeholder(match: re.Match[str]) -> str:
            value = fragment.values[match[1]]
            if isinstance(value, Query):
                return f"({self.query(value)})"
            return self.bind(match[1], *_infer(value))

        return _PLACEHOLDER.sub(placeholder, fragment.template)

    def query(self, q: Query) -> str:
        if q.tenant_id != self.tenant_id:
            raise ValueError("a subquery must be for the same tenant as its query")
        if not q.selects:
            raise ValueError("a query needs at least one select()")
        # Mandatory predicates bind first, so they always get the plain names.
        if isinstance(q.source, Table):
            time = q.source.time_column
            wheres = [
                f"tenant_id = {self.bind('tenant_id', q.tenant_id, 'UInt32')}",
                f"{time} >= {self.bind('start', _ms(q.start), _DATETIME)}",
                f"{time} < {self.bind('end', _ms(q.end), _DATETIME)}",
            ]
            source = q.source.name
        else:
            wheres, source = [], f"({self.query(q.source)})"
        columns = ", ".join(
            self.fragment(e) + (f" AS {a}" if a and a != e.template else "") for e, a in q.selects
        )
        lines = [f"SELECT {columns}", f"FROM {source}"]
        for i, (other, using) in enumerate(q.joins):
            lines.append(f"ANY LEFT JOIN ({self.query(other)}) AS joined_{i} USING ({using})")
        wheres += [f"({self.fragment(w)})" for w in q.wheres]
        if wheres:
            lines.append("WHERE " + " AND ".join(wheres))
        if q.groups:
            lines.append("GROUP BY " + ", ".join(q.groups))
        if q.havings:
            lines.append("HAVING " + " AND ".join(f"({self.fragment(h)})" for h in q.havings))
        if q.orders:
            lines.append("ORDER BY " + ", ".join(f"{n} {d}" for n, d in q.orders))
        if q.limit_offset is not None:
            limit, offset = q.limit_offset
            lines.append(
                f"LIMIT {self.bind('limit', limit, 'UInt64')} "
                f"OFFSET {self.bind('offset', offset, 'UInt64')}"
            )
        return "\n".join(lines)


def run(store: Store, query: Query) -> pa.Table:
    """Compile ``query`` and run it: its rows as Arrow."""
    sql, params = query.compile()
    return store.query(sql, params)


def run_rows(store: Store, query: Query) -> list[dict[str, Any]]:
    """Compile ``query`` and run it: its rows as dicts."""
    return run(store, query).to_pylist()
