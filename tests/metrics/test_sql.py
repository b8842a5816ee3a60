"""The SQL builder, compiled and run on the real chDB store with rows from the real insert path."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from shoplens.ingest.columns import events_table, items_table
from shoplens.ingest.event import Event, Item
from shoplens.metrics.sql import (
    EVENT_ITEMS,
    EVENTS,
    EVENTS_HOURLY,
    ITEMS_HOURLY,
    TABLES,
    Query,
    Table,
    Typed,
    bucket,
    expr,
    run,
    run_rows,
)
from shoplens.store import Store
from tests.conftest import rows

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
START = datetime(2026, 3, 1, tzinfo=UTC)
END = datetime(2026, 3, 2, tzinfo=UTC)
MS = timedelta(milliseconds=1)
NEW_YORK = "America/New_York"

NASTY = [
    "O'Brien",
    'say "hi"',
    "back\\slash C:\\new",
    "line\nbreak\ttab\rreturn",
    "'; DROP TABLE events; --",
    "\\'; SELECT 1 --",
    "ünïcødé 😀 日本語",
    "{tenant_id:UInt32} {start}",
    "nul\x00byte",
]


def event(tenant_id: int, at: datetime, event_type: str = "page_view", **fields: Any) -> Event:
    ms = (at - EPOCH) // MS
    return Event(
        tenant_id=tenant_id,
        event_id=str(uuid.uuid4()),
        event_type=event_type,
        event_name=event_type,
        source="test",
        timestamp=ms,
        received_at=ms,
        **fields,
    )


def insert(store: Store, events: list[Event]) -> None:
    store.insert("events", events_table(events), f"test-sql-{uuid.uuid4()}")
    if any(e.items for e in events):
        store.insert("event_items", items_table(events), f"test-sql-items-{uuid.uuid4()}")


@pytest.fixture
def tenant_id(make_tenant: Callable[..., Any]) -> int:
    return int(make_tenant("sql").id)


def events_query(tenant: int, start: datetime = START, end: datetime = END) -> Query:
    return Query.from_table(EVENTS, tenant, start, end)


# the whitelist ------------------------------------------------------------------------------


@pytest.mark.parametrize("table", TABLES.values(), ids=TABLES.keys())
def test_each_table_lists_exactly_the_columns_of_the_migration(store: Store, table: Table) -> None:
    got = rows(
        store,
        "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = {t:String}",
        t=table.name,
    )
    assert {r["name"] for r in got} == table.columns
    assert table.time_column in table.columns and "tenant_id" in table.columns


# tenancy and time are mandatory -------------------------------------------------------------


def test_the_compiler_puts_tenant_and_time_first_in_where() -> None:
    sql, params = events_query(7).select("count()", alias="n").where("revenue > 0").compile()

    assert "FROM events\nWHERE tenant_id = {tenant_id:UInt32} AND timestamp >= " in sql
    assert (
        "timestamp >= {start:DateTime64(3, 'UTC')} AND timestamp < {end:DateTime64(3, 'UTC')}"
        in sql
    )
    assert sql.endswith("AND (revenue > 0)")
    assert params == {
        "tenant_id": 7,
        "start": "2026-03-01 00:00:00.000",
        "end": "2026-03-02 00:00:00.000",
    }
    rollup, _ = Query.from_table(EVENTS_HOURLY, 7, START, END).select("sum(events)").compile()
    assert "hour >= {start:DateTime64(3, 'UTC')} AND hour < {end:DateTime64(3, 'UTC')}" in rollup


def test_a_query_cannot_be_made_without_the_constructor_that_takes_tenant_and_time() -> None:
    with pytest.raises(TypeError):
        Query(EVENTS, 7, START, END)
    with pytest.raises(TypeError):
        Query(EVENTS, 7, START, END, _token=object())
    q = events_query(7)
    for change in (
        {"tenant_id": None},
        {"tenant_id": 0},
        {"start": None},
        {"end": END.replace(tzinfo=None)},
    ):
        with pytest.raises((ValueError, TypeError)):
            replace(q, **change)


@pytest.mark.parametrize("tenant", [None, 0, -1, 2**32, True, "7", 7.0])
def test_the_tenant_must_be_a_uint32_id(tenant: Any) -> None:
    with pytest.raises(ValueError, match="tenant_id"):
        events_query(tenant)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (START.replace(tzinfo=None), END),
        (START, END.replace(tzinfo=None)),
        (None, END),
        ("2026-03-01", END),
        (START, START),
        (END, START),
    ],
)
def test_the_time_range_must_be_aware_and_non_empty(start: datetime, end: datetime) -> None:
    with pytest.raises(ValueError):
        events_query(7, start, end)


def test_only_whitelisted_tables_can_be_queried() -> None:
    fake = Table("system.users", "timestamp", frozenset({"tenant_id", "timestamp"}))
    with pytest.raises(ValueError, match="whitelisted"):
        Query.from_table(fake, 7, START, END)
    with pytest.raises(ValueError, match="whitelisted"):
        Query.from_table(replace(EVENTS, name="events FINAL"), 7, START, END)


def test_a_rollup_answers_whole_hours_only() -> None:
    Query.from_table(EVENTS_HOURLY, 7, START + timedelta(hours=5), END)
    kolkata = timezone(timedelta(hours=5, minutes=30))  # its midnights are not whole UTC hours
    with pytest.raises(ValueError, match="whole"):
        Query.from_table(EVENTS_HOURLY, 7, datetime(2026, 3, 1, tzinfo=kolkata), END)
    with pytest.raises(ValueError, match="whole"):
        Query.from_table(ITEMS_HOURLY, 7, START, END - MS)


# tenant isolation ---------------------------------------------------------------------------


def test_a_query_for_one_tenant_never_returns_anothers_rows(
    store: Store, make_tenant: Callable[..., Any]
) -> None:
    a, b = make_tenant("a").id, make_tenant("b").id
    insert(store, [event(t, START + timedelta(hours=h)) for t in (a, b) for h in range(3)])
    base = events_query(a).select("tenant_id").select("event_id")

    attempts = [
        base,
        base.where("tenant_id = {other} OR 1 = 1", other=b),
        base.where("tenant_id IN {both}", both=[a, b]),
        base.where("event_type = {t}", t="page_view' OR tenant_id = " + str(b) + " --"),
    ]
    for q in attempts:
        assert {r["tenant_id"] for r in run_rows(store, q)} <= {a}
    assert len(run_rows(store, attempts[1])) == 3
    assert run_rows(store, attempts[3]) == []

    other = events_query(b).select("event_id")
    with pytest.raises(ValueError, match="same tenant"):
        base.where("event_id IN {ids}", ids=other).compile()


# time range ---------------------------------------------------------------------------------


def test_the_time_range_is_half_open_to_the_millisecond(store: Store, tenant_id: int) -> None:
    instants = [START - MS, START, START + MS, END - MS, END]
    insert(store, [event(tenant_id, at) for at in instants])

    def times(q: Query) -> list[datetime]:
        return [
            r["timestamp"] for r in run_rows(store, q.select("timestamp").order_by("timestamp"))
        ]

    assert times(events_query(tenant_id)) == [START, START + MS, END - MS]
    # Sub-millisecond bounds round up: rows are whole milliseconds.
    half = timedelta(microseconds=500)
    assert times(events_query(tenant_id, START + half, END + half)) == [START + MS, END - MS, END]


# bound values -------------------------------------------------------------------------------


def test_hostile_strings_are_bound_and_matched_exactly(store: Store, tenant_id: int) -> None:
    insert(store, [event(tenant_id, START, page_path=v) for v in [*NASTY, "decoy"]])

    for value in NASTY:
        q = events_query(tenant_id).select("page_path").select("{v}", alias="echo", v=value)
        sql, params = q.where("page_path = {v}", v=value).compile()
        assert value not in sql and "DROP" not in sql and params["v"] == value
        assert run_rows(store, q.where("page_path = {v}", v=value)) == [
            {"page_path": value, "echo": value}
        ]

    q = events_query(tenant_id).select("page_path").where("page_path IN {paths}", paths=NASTY)
    sql, _ = q.compile()
    assert "page_path IN {paths:Array(String)}" in sql
    assert all(v not in sql for v in NASTY)
    assert sorted(r["page_path"] for r in run_rows(store, q)) == sorted(NASTY)
    # the table is still there
    assert rows(store, "SELECT count() AS n FROM events WHERE tenant_id = {t:UInt32}", t=tenant_id)


@pytest.mark.parametrize(
    ("value", "type_", "back"),
    [
        ("abc", "String", "abc"),
        (-5, "Int64", -5),
        (1.5, "Float64", 1.5),
        (True, "UInt8", 1),
        (
            datetime(2026, 3, 1, 17, 30, 0, 123456, tzinfo=timezone(timedelta(hours=5))),
            "DateTime64(3, 'UTC')",
            datetime(2026, 3, 1, 12, 30, 0, 123000, tzinfo=UTC),
        ),
        (date(2026, 3, 8), "Date", date(2026, 3, 8)),
        (["purchase", "refund"], "Array(String)", ["purchase", "refund"]),
        ((1, 2, -3), "Array(Int64)", [1, 2, -3]),
        (Typed("12.5", "Decimal(38, 9)"), "Decimal(38, 9)", Decimal("12.5")),
        (Typed([], "Array(String)"), "Array(String)", []),
        (Typed(7, "UInt32"), "UInt32", 7),
    ],
)
def test_values_bind_with_their_inferred_clickhouse_type(
    store: Store, tenant_id: int, value: Any, type_: str, back: Any
) -> None:
    insert(store, [event(tenant_id, START)])
    q = events_query(tenant_id).select("{value}", alias="echo", value=value)

    sql, _ = q.compile()

    assert f"{{value:{type_}}} AS echo" in sql
    assert run_rows(store, q) == [{"echo": back}]


@pytest.mark.parametrize("value", [[], [1, "a"], None, {"a": 1}, b"bytes", Decimal("1.5")])
def test_values_of_no_clear_type_are_refused(value: Any) -> None:
    with pytest.raises(ValueError, match=r"bind|type"):
        events_query(7).select("count()").where("x = {v}", v=value).compile()


def test_the_same_placeholder_with_different_values_gets_distinct_names() -> None:
    q = (
        events_query(7)
        .select("count()", alias="n")
        .where("event_type = {t}", t="purchase")
        .where("event_type != {t}", t="refund")
        .where("user_id != {tenant_id}", tenant_id="7")
        .having("n > {t}", t=1)
    )
    sql, params = q.compile()

    assert "(event_type = {t:String}) AND (event_type != {t_1:String})" in sql
    assert "(user_id != {tenant_id_1:String})" in sql and "HAVING (n > {t_2:Int64})" in sql
    assert params["t"] == "purchase" and params["t_1"] == "refund" and params["t_2"] == 1
    assert params["tenant_id"] == 7 and params["tenant_id_1"] == "7"


# identifiers ---------------------------------------------------------------------------------


BASE = Query.from_table(EVENTS, 7, START, END).select("event_type").select("count()", alias="n")


@pytest.mark.parametrize(
    "build",
    [
        lambda: BASE.group_by("nope"),
        lambda: BASE.group_by("event_type; DROP TABLE events"),
        lambda: BASE.order_by("n DESC"),
        lambda: BASE.order_by("n", "DESC; DROP TABLE events"),
        lambda: BASE.order_by("n", "sideways"),
        lambda: BASE.select("nope"),
        lambda: BASE.select("count()", alias="Bad-Name"),
        lambda: BASE.select("count()", alias="x; DROP TABLE events"),
        lambda: BASE.select("sum(revenue)", alias="revenue"),
        lambda: BASE.select("toDate(timestamp)", alias="timestamp"),
        lambda: BASE.select("sum(revenue)", alias="n"),
        lambda: BASE.limit(-1),
        lambda: BASE.limit(True),
        lambda: BASE.limit("5"),  # type: ignore[arg-type]
        lambda: BASE.limit(5, -1),
        lambda: BASE.where("x = {a}"),
        lambda: BASE.where("x = 1", a=1),
        lambda: BASE.where("x = {a:String}", a="v"),
        lambda: BASE.where("mapContains({'k': 1}, k)"),
        lambda: BASE.where(expr("x = {a}", a=1), a=2),
        lambda: Typed("v", "String} OR 1 = {x:String"),
        lambda: bucket("timestamp) OR (1", "day", NEW_YORK),
        lambda: bucket("timestamp", "fortnight", NEW_YORK),
        lambda: Query.from_query(BASE).select("event_id"),
    ],
)
def test_identifiers_and_templates_outside_the_rules_raise(build: Callable[[], Any]) -> None:
    with pytest.raises(ValueError):
        build()


def test_a_query_needs_a_select() -> None:
    with pytest.raises(ValueError, match="select"):
        events_query(7).compile()


# group, order, limit ------------------------------------------------------------------------


def test_group_having_order_limit_offset(store: Store, tenant_id: int) -> None:
    counts = {"view_item": 5, "purchase": 3, "add_to_cart": 2, "refund": 1}
    insert(
        store,
        [event(tenant_id, START, t) for t, n in counts.items() for _ in range(n)],
    )
    q = (
        events_query(tenant_id)
        .select("event_type")
        .select("count()", alias="n")
        .group_by("event_type")
        .order_by("n", "desc")
        .order_by("event_type")
    )

    assert [r["n"] for r in run_rows(store, q)] == [5, 3, 2, 1]
    assert run_rows(store, q.limit(2, offset=1)) == [
        {"event_type": "purchase", "n": 3},
        {"event_type": "add_to_cart", "n": 2},
    ]
    assert [r["n"] for r in run_rows(store, q.having("n > {min}", min=1).limit(10))] == [5, 3, 2]
    assert run_rows(store, q.limit(0)) == []
    sql, params = q.limit(2, offset=1).compile()
    assert sql.endswith(
        "ORDER BY n DESC, event_type ASC\nLIMIT {limit:UInt64} OFFSET {offset:UInt64}"
    )
    assert (params["limit"], params["offset"]) == (2, 1)
    assert run(store, q).num_rows == 4


# time zone buckets --------------------------------------------------------------------------


def test_day_and_hour_buckets_follow_local_time_across_a_dst_change(
    store: Store, tenant_id: int
) -> None:
    # 2026-03-08 in New York: 02:00 EST jumps to 03:00 EDT, a 23-hour day.
    at = [
        datetime(2026, 3, 8, 4, 59, 59, 999000, tzinfo=UTC),  # Mar 7, 23:59:59.999 EST
        datetime(2026, 3, 8, 5, 0, tzinfo=UTC),  # Mar 8, 00:00 EST
        datetime(2026, 3, 8, 6, 59, 59, tzinfo=UTC),  # 01:59:59 EST
        datetime(2026, 3, 8, 7, 0, tzinfo=UTC),  # 03:00 EDT
        datetime(2026, 3, 9, 3, 59, 59, 999000, tzinfo=UTC),  # Mar 8, 23:59:59.999 EDT
        datetime(2026, 3, 9, 4, 0, tzinfo=UTC),  # Mar 9, 00:00 EDT
    ]
    insert(store, [event(tenant_id, t) for t in at])
    start, end = datetime(2026, 3, 7, 5, tzinfo=UTC), datetime(2026, 3, 10, 4, tzinfo=UTC)

    def buckets(granularity: str) -> list[tuple[datetime, int]]:
        q = (
            events_query(tenant_id, start, end)
            .select(bucket("timestamp", granularity, NEW_YORK), alias="bucket")
            .select("count()", alias="n")
            .group_by("bucket")
            .order_by("bucket")
        )
        sql, params = q.compile()
        assert NEW_YORK not in sql and params["tz"] == NEW_YORK
        return [(r["bucket"], r["n"]) for r in run_rows(store, q)]

    days = buckets("day")
    assert [(b.astimezone(UTC), n) for b, n in days] == [
        (datetime(2026, 3, 7, 5, tzinfo=UTC), 1),
        (datetime(2026, 3, 8, 5, tzinfo=UTC), 4),
        (datetime(2026, 3, 9, 4, tzinfo=UTC), 1),  # a 23-hour day before it
    ]
    assert [(b.date(), b.hour) for b, _ in days] == [
        (date(2026, 3, 7), 0),
        (date(2026, 3, 8), 0),
        (date(2026, 3, 9), 0),
    ]
    hours = [(b.hour, n) for b, n in buckets("hour")]
    assert hours == [(23, 1), (0, 1), (1, 1), (3, 1), (23, 1), (0, 1)]  # no 02:00 that day
    assert [(b.date(), n) for b, n in buckets("week")] == [
        (date(2026, 3, 2), 5),
        (date(2026, 3, 9), 1),
    ]
    assert [(b.date(), n) for b, n in buckets("month")] == [(date(2026, 3, 1), 6)]


def test_an_unknown_time_zone_fails_in_clickhouse_not_in_sql_text(
    store: Store, tenant_id: int
) -> None:
    zone = "Mars/Olympus'); DROP TABLE events; --"
    q = events_query(tenant_id).select(bucket("timestamp", "day", zone), alias="day")
    sql, _ = q.compile()
    assert zone not in sql
    with pytest.raises(Exception, match="time zone"):
        run(store, q)


# rollups ------------------------------------------------------------------------------------


def test_the_hourly_rollup_agrees_with_raw_events(store: Store, tenant_id: int) -> None:
    visits = [
        event(
            tenant_id,
            START + timedelta(hours=h, minutes=m),
            "purchase" if m % 20 == 0 else "page_view",
            visitor_id=f"v{(h * m) % 7}",
            revenue=1000 + h * 10 + m if m % 20 == 0 else 0,
        )
        for h in range(0, 60, 5)
        for m in (0, 13, 20, 41)
    ]
    insert(store, visits[:20])
    insert(store, visits[20:])  # two inserts: two parts of partial aggregates
    # Local midnights in New York (EST): Feb 28 .. Mar 4, whole UTC hours as a rollup needs.
    start, end = datetime(2026, 2, 28, 5, tzinfo=UTC), datetime(2026, 3, 4, 5, tzinfo=UTC)
    types = ["purchase", "page_view"]

    raw = (
        Query.from_table(EVENTS, tenant_id, start, end)
        .select(bucket("timestamp", "day", NEW_YORK), alias="day")
        .select("count()", alias="event_count")
        .select("sum(revenue)", alias="sales")
        .select("uniq(visitor_id)", alias="visitor_count")
        .where("event_type IN {types}", types=types)
        .group_by("day")
        .order_by("day")
    )
    rollup = (
        Query.from_table(EVENTS_HOURLY, tenant_id, start, end)
        .select(bucket("hour", "day", NEW_YORK), alias="day")
        .select("sum(events)", alias="event_count")
        .select("sum(revenue)", alias="sales")
        .select("uniqMerge(visitors)", alias="visitor_count")
        .where("event_type IN {types}", types=types)
        .group_by("day")
        .order_by("day")
    )

    expected = run_rows(store, raw)
    assert len(expected) == 4 and sum(r["event_count"] for r in expected) == len(visits)
    assert run_rows(store, rollup) == expected


def test_the_item_rollup_agrees_with_raw_items(store: Store, tenant_id: int) -> None:
    orders = [
        event(
            tenant_id,
            START + timedelta(hours=h),
            "purchase",
            items=[Item(f"sku-{h % 3}", price=250, quantity=h % 4 + 1), Item("sku-x", price=99)],
        )
        for h in range(10)
    ]
    insert(store, orders)

    def units(table: Table, quantity: str) -> list[dict[str, Any]]:
        q = (
            Query.from_table(table, tenant_id, START, END)
            .select("item_id")
            .select(quantity, alias="units")
            .group_by("item_id")
            .order_by("item_id")
        )
        return run_rows(store, q)

    assert units(ITEMS_HOURLY, "sum(quantity)") == units(EVENT_ITEMS, "sum(toInt64(quantity))")
    assert units(EVENT_ITEMS, "sum(quantity)")[-1] == {"item_id": "sku-x", "units": 10}


# subqueries ---------------------------------------------------------------------------------


def test_an_in_subquery_is_scoped_and_its_parameters_merged(store: Store, tenant_id: int) -> None:
    before = START - timedelta(days=1)
    insert(
        store,
        [
            event(tenant_id, before, "purchase", visitor_id="buyer-last-week"),
            event(tenant_id, START, "purchase", visitor_id="buyer-today"),
            *(event(tenant_id, START, "page_view", visitor_id=f"v{i}") for i in range(3)),
            event(tenant_id, START, "page_view", visitor_id="buyer-last-week"),
            event(tenant_id, START, "page_view", visitor_id="buyer-today"),
        ],
    )
    buyers = Query.from_table(EVENTS, tenant_id, before, START).select("visitor_id")
    q = (
        events_query(tenant_id)
        .select("visitor_id")
        .where("event_type = {t}", t="page_view")
        .where("visitor_id IN {buyers}", buyers=buyers.where("event_type = {t}", t="purchase"))
    )

    sql, params = q.compile()

    assert run_rows(store, q) == [{"visitor_id": "buyer-last-week"}]
    assert (
        "visitor_id IN (SELECT visitor_id\nFROM events\nWHERE tenant_id = {tenant_id:UInt32}" in sql
    )
    assert sql.count("{tenant_id:UInt32}") == 2 and "tenant_id_1" not in params
    assert (params["start_1"], params["end_1"]) == (
        "2026-02-28 00:00:00.000",
        "2026-03-01 00:00:00.000",
    )
    assert (params["t"], params["t_1"]) == ("page_view", "purchase")


def test_a_query_over_a_subquery_builds_a_funnel(store: Store, tenant_id: int) -> None:
    steps = {
        "a": ["view_item"],
        "b": ["view_item", "add_to_cart"],
        "c": ["view_item", "add_to_cart", "purchase"],
    }
    steps["d"] = ["purchase"]  # bought without viewing: level 0 in a strict funnel
    insert(
        store,
        [
            event(tenant_id, START + timedelta(minutes=i), t, visitor_id=v)
            for v, types in steps.items()
            for i, t in enumerate(types)
        ],
    )
    per_visitor = (
        events_query(tenant_id)
        .select("visitor_id")
        .select(
            "windowFunnel(3600)(toDateTime(timestamp), "
            "event_type = {s1}, event_type = {s2}, event_type = {s3})",
            alias="level",
            s1="view_item",
            s2="add_to_cart",
            s3="purchase",
        )
        .group_by("visitor_id")
    )
    funnel = (
        Query.from_query(per_visitor)
        .select("level")
        .select("count()", alias="visitors")
        .where("level >= {min}", min=1)
        .group_by("level")
        .order_by("level")
    )

    sql, _ = funnel.compile()

    assert sql.startswith("SELECT level, count() AS visitors\nFROM (SELECT visitor_id, ")
    assert run_rows(store, funnel) == [
        {"level": 1, "visitors": 1},
        {"level": 2, "visitors": 1},
        {"level": 3, "visitors": 1},
    ]


def test_a_join_brings_the_other_sides_named_outputs_for_each_row(
    store: Store, tenant_id: int, make_tenant: Callable[..., Any]
) -> None:
    other = int(make_tenant("sql-other").id)
    sold = [Item(item_id="sku-1", price=500, quantity=2), Item(item_id="sku-2", price=100)]
    mine = [
        event(tenant_id, START, "purchase", country="DE", items=sold),
        event(tenant_id, START, "purchase", country="FR", items=[Item(item_id="sku-1")]),
    ]
    theirs = event(other, START, "purchase", country="US", items=[Item(item_id="sku-1")])
    # the other tenant's event shares an event id: the join must still not see it
    theirs.event_id = mine[0].event_id
    insert(store, [*mine, theirs])
    countries = (
        events_query(tenant_id)
        .select("event_id")
        .select("country", alias="e_country")
        .where("event_type = 'purchase'")
    )
    q = (
        Query.from_table(EVENT_ITEMS, tenant_id, START, END)
        .join(countries, using="event_id")
        .select("e_country")
        .select("sum(quantity)", alias="units")
        .group_by("e_country")
        .order_by("e_country")
    )
    assert run_rows(store, q) == [{"e_country": "DE", "units": 3}, {"e_country": "FR", "units": 1}]
    sql, _ = q.compile()
    assert "ANY LEFT JOIN (SELECT event_id, country AS e_country" in sql
    assert sql.count("tenant_id = {tenant_id:UInt32}") == 2


def test_a_join_must_use_a_shared_key_and_keep_names_unambiguous(tenant_id: int) -> None:
    items = Query.from_table(EVENT_ITEMS, tenant_id, START, END)
    clashing = events_query(tenant_id).select("event_id").select("user_id")
    with pytest.raises(ValueError, match="clash"):
        items.join(clashing, using="event_id")
    with pytest.raises(ValueError, match="both sides"):
        items.join(events_query(tenant_id).select("country"), using="event_id")
    fine = events_query(tenant_id).select("event_id").select("country", alias="e_country")
    # a second join sees the first one's outputs as this query's columns
    with pytest.raises(ValueError, match="clash"):
        items.join(fine, using="event_id").join(fine, using="event_id")


def test_joins_add_up_each_on_its_own_key(store: Store, tenant_id: int) -> None:
    sold = [Item(item_id="sku-1", quantity=2), Item(item_id="sku-2")]
    bought = event(tenant_id, START, "purchase", country="DE", items=sold)
    bought.user_id = "u-joins"
    insert(store, [bought])
    countries = (
        events_query(tenant_id)
        .select("event_id")
        .select("country", alias="e_country")
        .select("user_id", alias="buyer")
    )
    tiers = (
        events_query(tenant_id)
        .select("user_id", alias="buyer")
        .select("'gold'", alias="tier")
        .group_by("buyer")
    )
    q = (
        Query.from_table(EVENT_ITEMS, tenant_id, START, END)
        .join(countries, using="event_id")
        .join(tiers, using="buyer")
        .select("e_country")
        .select("tier")
        .select("sum(quantity)", alias="units")
        .group_by("e_country", "tier")
    )
    assert run_rows(store, q) == [{"e_country": "DE", "tier": "gold", "units": 3}]
    sql, _ = q.compile()
    assert "AS joined_0 USING (event_id)" in sql and "AS joined_1 USING (buyer)" in sql
    assert sql.count("tenant_id = {tenant_id:UInt32}") == 3
