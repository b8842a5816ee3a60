"""The custom query: a request naming catalog metrics and dimensions → one grouped SQL query.

``parse`` validates a request body (every error a 400 naming the field and what is
allowed) into a :class:`Spec`; ``run`` compiles it with the SQL builder (tenant and time
range applied by ``Query.from_table`` as everywhere) and answers rows, totals, the total row
count and, with ``compare``, the comparison period's values and the change.

Request (seed 001's shape, extended after Plausible's Stats API v2 and GA4's runReport)::

    {"metrics": ["revenue", "orders"], "dimensions": ["day", "country"],
     "filters": [["is", "country", ["US", "CA"]], ["gt", "revenue", 100]],
     "orderBy": "revenue:desc", "limit": 20, "offset": 0,
     "period": "30d", "compare": "previous_period"}

``filters`` is either seed 001's object (``{"period": "30d", "currency": "USD",
"country": "US"}``: period keys pick the period, ``currency`` is the reporting currency,
which must be the base currency, any dimension key is an ``is`` filter) or a list of
``[op, dimension, values]`` with ``and``/``or``/``not`` nesting; a ``[op, metric, number]``
filter (gt, gte, lt, lte, eq, neq) is applied after aggregation (top level only).

A body with a ``funnel`` block asks for a funnel instead of metric rows
(:mod:`shoplens.metrics.query_funnel`): the same period and dimension filters, answered by
:func:`shoplens.metrics.funnel.funnel`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, LiteralString, cast

from shoplens.errors import BadRequest
from shoplens.ingest.money import require_base_currency
from shoplens.meta import Tenant
from shoplens.metrics import funnel as funnels
from shoplens.metrics import query_funnel
from shoplens.metrics.customers import customer_purchases
from shoplens.metrics.parallel import gather
from shoplens.metrics.period import Period, local_midnight, parse_period
from shoplens.metrics.query_catalog import DIMENSIONS, METRICS, Dimension, Grain, Metric
from shoplens.metrics.sales import one_decimal, round_half_up
from shoplens.metrics.sql import EVENT_ITEMS, EVENTS, Expr, Query, bucket, run_rows
from shoplens.store import Store

PERIOD_KEYS = ("period", "days", "start", "end", "time_range", "start_date", "end_date")
DIMENSION_OPS = ("is", "is_not", "contains", "contains_not", "matches", "matches_not")
METRIC_OPS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "eq": "=", "neq": "!="}
LOGICAL_OPS = ("and", "or", "not")
COMPARES = ("previous_period", "year_over_year")
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_OFFSET = 1_000_000
MAX_METRICS = 20
MAX_DIMENSIONS = 5
MAX_FILTER_VALUES = 100
MAX_VALUE_LENGTH = 256
MAX_FILTER_DEPTH = 5
#: comparison rows fetched at most (they are matched to the page's rows by key)
MAX_COMPARISON_ROWS = 10_000
_TOTAL = "total_rows_"


@dataclass(frozen=True)
class DimensionFilter:
    op: str
    dimension: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Logical:
    op: str  # and | or | not
    children: tuple[FilterNode, ...]


FilterNode = DimensionFilter | Logical


@dataclass(frozen=True)
class MetricFilter:
    op: str
    metric: str
    value: float


@dataclass(frozen=True)
class Spec:
    """A validated custom query."""

    metrics: tuple[str, ...]
    dimensions: tuple[str, ...]
    filters: tuple[FilterNode, ...]
    metric_filters: tuple[MetricFilter, ...]
    order: tuple[tuple[str, str], ...]
    limit: int
    offset: int
    period: Period
    compare: str | None
    warnings: tuple[str, ...] = ()
    funnel: query_funnel.FunnelSpec | None = None

    @property
    def types(self) -> list[str] | None:
        """The event types the metrics read, when every metric names its types."""
        wanted: set[str] = set()
        for name in self.metrics:
            types = METRICS[name].types
            if types is None:
                return None
            wanted.update(types)
        return sorted(wanted)

    @property
    def grain(self) -> Grain:
        names = {*self.dimensions, *(f.dimension for f in _leaves(self.filters))}
        return "items" if any(DIMENSIONS[n].item_only for n in names) else "events"


# --- parsing ----------------------------------------------------------------------------


def _allowed(names: Any) -> str:
    return ", ".join(names)


def _names(value: Any, field: str, catalog: Mapping[str, Any], most: int) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"{field} must be a list of names", field=field)
    if len(value) > most:
        raise BadRequest(f"{field} may name at most {most} entries", field=field)
    for name in value:
        if name not in catalog:
            raise BadRequest(
                f"{field}: unknown {field[:-1]} {name!r}; allowed: {_allowed(catalog)}",
                field=field,
            )
    if len(set(value)) != len(value):
        raise BadRequest(f"{field} names an entry twice", field=field)
    return tuple(value)


def _values(value: Any, field: str) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else value
    if (
        not isinstance(values, list)
        or not values
        or not all(isinstance(v, str) for v in values)
        or len(values) > MAX_FILTER_VALUES
    ):
        raise BadRequest(
            f"{field} must be a string or a list of 1 to {MAX_FILTER_VALUES} strings",
            field=field,
        )
    for v in values:
        if len(v) > MAX_VALUE_LENGTH:
            raise BadRequest(
                f"{field} values are at most {MAX_VALUE_LENGTH} characters", field=field
            )
    return tuple(values)


def _dimension_filter(op: str, name: Any, values: Any, field: str) -> DimensionFilter:
    if not isinstance(name, str) or name not in DIMENSIONS:
        raise BadRequest(
            f"{field}: unknown dimension {name!r}; allowed: {_allowed(DIMENSIONS)}", field=field
        )
    if DIMENSIONS[name].time:
        raise BadRequest(
            f"{field}: {name} cannot be filtered; choose the period instead", field=field
        )
    checked = _values(values, field)
    if op.startswith("matches"):
        for pattern in checked:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise BadRequest(
                    f"{field}: bad regular expression {pattern!r}: {exc}", field=field
                ) from None
    return DimensionFilter(op, name, checked)


def _filter_node(raw: Any, field: str, depth: int) -> FilterNode | MetricFilter:
    if depth > MAX_FILTER_DEPTH:
        raise BadRequest(f"{field}: filters nest at most {MAX_FILTER_DEPTH} levels", field=field)
    if not isinstance(raw, list) or not raw or not isinstance(raw[0], str):
        raise BadRequest(
            f"{field} must be [op, dimension, values], [op, metric, number], "
            '["and"|"or", [filters]] or ["not", filter]',
            field=field,
        )
    op = raw[0]
    if op in ("and", "or"):
        if len(raw) != 2 or not isinstance(raw[1], list) or not raw[1]:
            raise BadRequest(f'{field} must be ["{op}", [filter, ...]]', field=field)
        children = tuple(
            _dimension_only(_filter_node(c, f"{field}[1][{i}]", depth + 1), f"{field}[1][{i}]")
            for i, c in enumerate(raw[1])
        )
        return Logical(op, children)
    if op == "not":
        if len(raw) != 2:
            raise BadRequest(f'{field} must be ["not", filter]', field=field)
        child = _dimension_only(_filter_node(raw[1], f"{field}[1]", depth + 1), f"{field}[1]")
        return Logical("not", (child,))
    if len(raw) != 3:
        raise BadRequest(f"{field} must have 3 entries: [op, name, value]", field=field)
    if op in DIMENSION_OPS:
        return _dimension_filter(op, raw[1], raw[2], field)
    if op in METRIC_OPS:
        name, value = raw[1], raw[2]
        if not isinstance(name, str) or name not in METRICS:
            raise BadRequest(
                f"{field}: unknown metric {name!r}; allowed: {_allowed(METRICS)}", field=field
            )
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BadRequest(f"{field}: a metric filter compares with a number", field=field)
        return MetricFilter(op, name, float(value))
    ops = (*DIMENSION_OPS, *METRIC_OPS, *LOGICAL_OPS)
    raise BadRequest(f"{field}: unknown operator {op!r}; allowed: {_allowed(ops)}", field=field)


def _dimension_only(node: FilterNode | MetricFilter, field: str) -> FilterNode:
    if isinstance(node, MetricFilter):
        raise BadRequest(
            f"{field}: metric filters apply after aggregation and only at the top level",
            field=field,
        )
    return node


def _leaves(nodes: tuple[FilterNode, ...]) -> Iterator[DimensionFilter]:
    for node in nodes:
        if isinstance(node, DimensionFilter):
            yield node
        else:
            yield from _leaves(node.children)


def _filters(
    raw: Any, base_currency: str
) -> tuple[tuple[FilterNode, ...], tuple[MetricFilter, ...], dict[str, str]]:
    """(dimension filters, metric filters, period keys found in a seed-style object)."""
    if raw is None:
        return (), (), {}
    if isinstance(raw, dict):
        period: dict[str, str] = {}
        nodes: list[FilterNode] = []
        for key, value in raw.items():
            field = f"filters.{key}"
            if key in PERIOD_KEYS or key == "granularity":
                if not isinstance(value, str | int) or isinstance(value, bool):
                    raise BadRequest(f"{field} must be a string", field=field)
                period[key] = str(value)
            elif key == "currency":
                require_base_currency(value, base_currency, field)
            else:
                nodes.append(_dimension_filter("is", key, value, field))
        return tuple(nodes), (), period
    if not isinstance(raw, list):
        raise BadRequest("filters must be an object or a list of filters", field="filters")
    dims: list[FilterNode] = []
    metric_filters: list[MetricFilter] = []
    for i, entry in enumerate(raw):
        node = _filter_node(entry, f"filters[{i}]", 1)
        (metric_filters if isinstance(node, MetricFilter) else dims).append(node)  # type: ignore[arg-type]
    return tuple(dims), tuple(metric_filters), {}


def _order(
    raw: Any, metrics: tuple[str, ...], dimensions: tuple[str, ...]
) -> tuple[tuple[str, str], ...]:
    if raw is None:
        times = [d for d in dimensions if DIMENSIONS[d].time]
        first = [(times[0], "asc")] if times else [(metrics[0], "desc")]
    else:
        entries = [raw] if isinstance(raw, str) else raw
        if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
            raise BadRequest('orderBy must be "name:asc|desc" or a list of them', field="orderBy")
        first = []
        for entry in entries:
            name, _, direction = entry.partition(":")
            direction = (direction or "asc").lower()
            if name not in (*metrics, *dimensions):
                raise BadRequest(
                    f"orderBy: {name!r} is not a requested metric or dimension; allowed: "
                    f"{_allowed((*metrics, *dimensions))}",
                    field="orderBy",
                )
            if direction not in ("asc", "desc"):
                raise BadRequest("orderBy direction must be asc or desc", field="orderBy")
            first.append((name, direction))
    # Every dimension as a tie-breaker: pages are stable.
    named = {n for n, _ in first}
    return (*first, *((d, "asc") for d in dimensions if d not in named))


def _int(value: Any, field: str, low: int, high: int, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest(f"{field} must be a whole number from {low} to {high}", field=field)
    return value


def parse(body: Any, tenant: Tenant, now: datetime, retention_days: int | None = None) -> Spec:
    """Validate a request body into a :class:`Spec` (400s name the field)."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", field=None)
    known = {
        "metrics", "dimensions", "filters", "orderBy", "limit", "offset", "compare",
        "granularity", "funnel", *PERIOD_KEYS,
    }  # fmt: skip
    if unknown := sorted(set(body) - known):
        raise BadRequest(
            f"unknown field {unknown[0]!r}; allowed: {_allowed(sorted(known))}", field=unknown[0]
        )
    funnel = None
    if "funnel" in body:
        funnel = query_funnel.parse_funnel(body["funnel"], body)
    metrics = _names(body.get("metrics"), "metrics", METRICS, MAX_METRICS)
    if not metrics and funnel is None:
        raise BadRequest(f"metrics is required; allowed: {_allowed(METRICS)}", field="metrics")
    dimensions = _names(body.get("dimensions"), "dimensions", DIMENSIONS, MAX_DIMENSIONS)
    if sum(DIMENSIONS[d].time for d in dimensions) > 1:
        raise BadRequest("dimensions may include one time dimension", field="dimensions")
    nodes, metric_filters, period_keys = _filters(body.get("filters"), tenant.base_currency)
    for f in metric_filters:
        if f.metric not in metrics:
            raise BadRequest(
                f"filters: metric filter on {f.metric!r}, which is not in metrics", field="filters"
            )
    for key in PERIOD_KEYS:
        if body.get(key) is not None:
            period_keys[key] = str(body[key])
    compare = body.get("compare")
    if compare is not None and compare not in COMPARES:
        raise BadRequest(f"compare must be one of: {_allowed(COMPARES)}", field="compare")
    period = parse_period(
        period_keys, timezone=tenant.timezone, now=now, retention_days=retention_days
    )
    warnings = []
    if period.clamped:
        warnings.append(
            f"the period was shortened to the {retention_days}-day retention of raw events"
        )
    spec = Spec(
        metrics=metrics,
        dimensions=dimensions,
        filters=nodes,
        metric_filters=metric_filters,
        order=_order(body.get("orderBy"), metrics, dimensions) if metrics else (),
        limit=_int(body.get("limit"), "limit", 1, MAX_LIMIT, DEFAULT_LIMIT),
        offset=_int(body.get("offset"), "offset", 0, MAX_OFFSET, 0),
        period=period,
        compare=compare,
        warnings=tuple(warnings),
        funnel=funnel,
    )
    if funnel is not None and (spec.grain == "items" or metric_filters):
        raise BadRequest(
            "filters: a funnel is filtered by event-level dimensions only, "
            "not by product dimensions or metrics",
            field="filters",
        )
    if spec.grain == "items" and (cannot := [m for m in metrics if METRICS[m].items is None]):
        able = [m for m, entry in METRICS.items() if entry.items is not None]
        raise BadRequest(
            f"metrics {_allowed(cannot)} cannot be broken down or filtered by product; "
            f"with product dimensions the metrics allowed are: {_allowed(able)}",
            field="metrics",
        )
    return spec


# --- compiling --------------------------------------------------------------------------


def _alias(name: str) -> str:
    return f"m_{name}"


def _dim_alias(name: str) -> str:
    return f"d_{name}"


def _dim_expr(dimension: Dimension, grain: Grain, timezone: str) -> Expr:
    if dimension.time:
        return bucket("timestamp", dimension.name, timezone)
    if grain == "items":
        column = dimension.item_column or f"e_{dimension.name}"
    else:
        column = cast(LiteralString, dimension.column)
    return Expr(column)


@dataclass
class _Filters:
    """Renders dimension filters into one predicate with uniquely named parameters."""

    grain: Grain
    timezone: str
    values: dict[str, Any] = field(default_factory=dict)

    def render(self, node: FilterNode) -> str:
        if isinstance(node, Logical):
            parts = [self.render(child) for child in node.children]
            if node.op == "not":
                return f"NOT ({parts[0]})"
            return "(" + f" {node.op.upper()} ".join(f"({p})" for p in parts) + ")"
        column = _dim_expr(DIMENSIONS[node.dimension], self.grain, self.timezone).template
        base = node.op.removesuffix("_not")
        if base == "is":
            sql = f"has({self._bind(list(node.values))}, {column})"
        elif base == "contains":
            sql = f"multiSearchAnyCaseInsensitiveUTF8({column}, {self._bind(list(node.values))})"
        else:
            sql = " OR ".join(f"match({column}, {self._bind(v)})" for v in node.values)
        return f"NOT ({sql})" if node.op.endswith("_not") else f"({sql})"

    def _bind(self, value: Any) -> str:
        name = f"f{len(self.values)}"
        self.values[name] = value
        return f"{{{name}}}"


def _first_buyers(tenant: Tenant, period: Period) -> Query:
    """Customers whose first purchase ever is in ``period`` (all history before its end).

    By the purchases' own ``user_id``, as the catalog's customer metrics count them (the
    custom query does not stitch anonymous visitors to users: docs/metrics.md).
    """
    return (
        customer_purchases(tenant, period.end)
        .where("user_id != ''")
        .select("user_id")
        .group_by("user_id")
        .having("min(timestamp) >= {since}", since=period.start)
    )


def _metric_expr(metric: Metric, grain: Grain, tenant: Tenant, period: Period) -> Expr:
    template = cast(LiteralString, metric.sql(grain))
    if metric.needs_first_buyers:
        return Expr(template, {"first_buyers": _first_buyers(tenant, period)})
    return Expr(template)


def _base(spec: Spec, tenant: Tenant, period: Period) -> Query:
    """The filtered rows of the spec's grain for ``period``, before grouping."""
    grain, types = spec.grain, spec.types
    if grain == "events":
        q = Query.from_table(EVENTS, tenant.id, period.start, period.end)
    else:
        q = Query.from_table(EVENT_ITEMS, tenant.id, period.start, period.end)
    if types is not None:  # only the rows the metrics read (event_type leads the key)
        q = q.where("event_type IN {types}", types=types)
    if grain == "items":
        event_dims = {
            n
            for n in {*spec.dimensions, *(f.dimension for f in _leaves(spec.filters))}
            if DIMENSIONS[n].column and not DIMENSIONS[n].item_column and not DIMENSIONS[n].time
        }
        if event_dims:
            joined = Query.from_table(EVENTS, tenant.id, period.start, period.end).select(
                "event_id"
            )
            if types is not None:  # the hash table holds only the events items can match
                joined = joined.where("event_type IN {types}", types=types)
            for name in sorted(event_dims):
                column = cast(LiteralString, DIMENSIONS[name].column)
                joined = joined.select(Expr(column), alias=f"e_{name}")
            q = q.join(joined, using="event_id")
    if spec.filters:
        renderer = _Filters(grain, tenant.timezone)
        predicate = " AND ".join(renderer.render(node) for node in spec.filters)
        q = q.where(Expr(predicate, renderer.values))
    return q


def _grouped(spec: Spec, tenant: Tenant, period: Period) -> Query:
    """One row per dimension combination (after metric filters), unordered, unpaged."""
    q = _base(spec, tenant, period)
    for name in spec.dimensions:
        dimension = _dim_expr(DIMENSIONS[name], spec.grain, tenant.timezone)
        q = q.select(dimension, alias=_dim_alias(name))
    for name in spec.metrics:
        q = q.select(_metric_expr(METRICS[name], spec.grain, tenant, period), alias=_alias(name))
    if spec.dimensions:
        q = q.group_by(*(_dim_alias(d) for d in spec.dimensions))
    for f in spec.metric_filters:
        q = q.having(Expr(f"{_alias(f.metric)} {METRIC_OPS[f.op]} {{v}}", {"v": f.value}))
    return q


def _page(spec: Spec, grouped: Query) -> Query:
    """The requested page, each row carrying the number of rows of all pages."""
    q = grouped.select("count() OVER ()", alias=_TOTAL)
    for name, direction in spec.order:
        q = q.order_by(_alias(name) if name in METRICS else _dim_alias(name), direction)
    return q.limit(spec.limit, spec.offset)


def _totals(spec: Spec, tenant: Tenant, period: Period) -> Query:
    q = _base(spec, tenant, period)
    for name in spec.metrics:
        q = q.select(_metric_expr(METRICS[name], spec.grain, tenant, period), alias=_alias(name))
    return q


# --- answering --------------------------------------------------------------------------


def comparison_period(period: Period, compare: str) -> Period:
    """The period ``compare`` names: the previous one of equal length, or a year earlier."""
    if compare == "previous_period":
        return period.previous()
    first, last = _year_earlier(period.first_day), _year_earlier(period.last_day)
    return replace(
        period,
        start=local_midnight(first, period.tz),
        end=local_midnight(last + timedelta(days=1), period.tz),
        days=(last - first).days + 1,
    )


def _year_earlier(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def _value(metric: Metric, raw: Any) -> int | float:
    if metric.kind == "money":
        # Integer minor units, as everywhere on the core surface (seeds 000/001): sums are
        # whole already; an average (aov) is rounded half up to a minor unit.
        return round_half_up(Decimal(str(raw or 0)), 0)
    if metric.kind == "percent":
        return one_decimal(Decimal(str(raw or 0)))
    return int(raw or 0)


def _dim_value(name: str, raw: Any, period: Period) -> Any:
    if not DIMENSIONS[name].time:
        return raw
    local = raw.astimezone(period.tz)
    return local.isoformat() if name == "hour" else local.date().isoformat()


def _shifted(name: str, raw: datetime, spec: Spec, compared: Period) -> datetime:
    """A comparison row's time bucket moved onto the current period's timeline: by the
    periods' distance (hours: elapsed time; days and longer: local calendar days, so DST
    does not move midnight) or, year over year, to the same local date a year later."""
    if name == "hour":
        return raw + (spec.period.start - compared.start)
    local = raw.astimezone(spec.period.tz)  # wall-clock arithmetic below
    if spec.compare == "previous_period":
        return local + timedelta(days=(spec.period.first_day - compared.first_day).days)
    try:
        return local.replace(year=local.year + 1)
    except ValueError:  # 29 February
        return local.replace(year=local.year + 1, day=28)


def _key(row: dict[str, Any], spec: Spec, compared: Period | None = None) -> tuple[Any, ...]:
    values = []
    for name in spec.dimensions:
        raw = row[_dim_alias(name)]
        if DIMENSIONS[name].time:
            if compared is not None:
                raw = _shifted(name, raw, spec, compared)
            raw = raw.astimezone(UTC)
        values.append(raw)
    return tuple(values)


def _metrics_of(row: dict[str, Any], spec: Spec) -> dict[str, int | float]:
    return {m: _value(METRICS[m], row[_alias(m)]) for m in spec.metrics}


def _change(current: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, float | None]:
    """Percent change per metric to one decimal; None when there is nothing to compare to."""
    if previous is None:
        return {m: None for m in current}
    return {
        m: one_decimal((Decimal(str(current[m])) - Decimal(str(p))) * 100 / Decimal(str(p)))
        if (p := previous[m])
        else None
        for m in current
    }


def _run_funnel(store: Store, tenant: Tenant, spec: Spec) -> dict[str, Any]:
    """Answer a funnel spec: its steps over the events passing the dimension filters."""
    assert spec.funnel is not None
    where = None
    if spec.filters:
        renderer = _Filters("events", tenant.timezone)
        where = Expr(" AND ".join(renderer.render(n) for n in spec.filters), renderer.values)
    block = spec.funnel
    result = funnels.funnel(
        store,
        tenant,
        spec.period,
        block.steps,
        window=block.window,
        strict=block.strict,
        where=where,
    )
    return {
        "ok": True,
        "funnel": query_funnel.shape(block, result),
        "query": describe(spec),
        "meta": {
            "currency": tenant.base_currency,
            "grain": "events",
            "warnings": list(spec.warnings),
        },
    }


def run(store: Store, tenant: Tenant, spec: Spec) -> dict[str, Any]:
    """Answer ``spec``: rows (with comparison), totals, total_rows, the query and meta."""
    if spec.funnel is not None:
        return _run_funnel(store, tenant, spec)
    currency = tenant.base_currency
    grouped = _grouped(spec, tenant, spec.period)
    # The page and the totals are independent statements: run them at once.
    rows, totals = gather(
        lambda: run_rows(store, _page(spec, grouped)),
        lambda: run_rows(store, _totals(spec, tenant, spec.period)),
    )
    totals_row = totals[0]
    if rows:
        total_rows = int(rows[0][_TOTAL])
    else:  # past the last page: the window had no row to report the count on
        count = Query.from_query(grouped).select("count()", alias="n")
        total_rows = int(run_rows(store, count)[0]["n"])
    warnings = list(spec.warnings)
    results = []
    for row in rows:
        out: dict[str, Any] = {
            d: _dim_value(d, row[_dim_alias(d)], spec.period) for d in spec.dimensions
        }
        out.update(_metrics_of(row, spec))
        results.append(out)
    answer: dict[str, Any] = {
        "ok": True,
        "results": results,
        "totals": _metrics_of(totals_row, spec),
        "total_rows": total_rows,
        "query": describe(spec),
        "meta": {"currency": currency, "grain": spec.grain, "warnings": warnings},
    }
    if spec.compare is not None:
        compared = comparison_period(spec.period, spec.compare)
        previous = _grouped(spec, tenant, compared).limit(MAX_COMPARISON_ROWS)
        previous_rows, previous_totals_rows = gather(
            lambda: run_rows(store, previous),
            lambda: run_rows(store, _totals(spec, tenant, compared)),
        )
        if len(previous_rows) >= MAX_COMPARISON_ROWS:
            warnings.append(
                f"the comparison period has more than {MAX_COMPARISON_ROWS} rows; rows beyond "
                "them have no comparison values"
            )
        by_key = {_key(r, spec, compared): _metrics_of(r, spec) for r in previous_rows}
        for row, out in zip(rows, results, strict=True):
            before = by_key.get(_key(row, spec))
            out["comparison"] = before
            out["change"] = _change(_metrics_of(row, spec), before)
        previous_totals = _metrics_of(previous_totals_rows[0], spec)
        answer["comparison"] = {
            "period": _period(compared),
            "totals": previous_totals,
            "change": _change(answer["totals"], previous_totals),
        }
    return answer


def _period(period: Period) -> dict[str, Any]:
    return {
        "start": period.first_day.isoformat(),
        "end": period.last_day.isoformat(),
        "timezone": period.timezone,
        "days": period.days,
    }


def _node(node: FilterNode) -> list[Any]:
    if isinstance(node, Logical):
        if node.op == "not":
            return ["not", _node(node.children[0])]
        return [node.op, [_node(c) for c in node.children]]
    return [node.op, node.dimension, list(node.values)]


def describe(spec: Spec) -> dict[str, Any]:
    """The query as understood: defaults filled in, seed-style filters as lists."""
    if spec.funnel is not None:
        return {
            "funnel": query_funnel.describe(spec.funnel),
            "filters": [_node(n) for n in spec.filters],
            "period": _period(spec.period),
        }
    return {
        "metrics": list(spec.metrics),
        "dimensions": list(spec.dimensions),
        "filters": [_node(n) for n in spec.filters]
        + [[f.op, f.metric, f.value] for f in spec.metric_filters],
        "orderBy": [f"{n}:{d}" for n, d in spec.order],
        "limit": spec.limit,
        "offset": spec.offset,
        "period": _period(spec.period),
        "compare": spec.compare,
    }


def catalog() -> dict[str, Any]:
    """The catalog as ``GET /analytics/query/catalog`` lists it."""
    return {
        "metrics": [
            {
                "name": m.name,
                "description": m.description,
                "type": m.kind,
                "product_breakdown": m.items is not None,
            }
            for m in METRICS.values()
        ],
        "dimensions": [
            {
                "name": d.name,
                "description": d.description,
                "time": d.time,
                "product": d.item_only,
            }
            for d in DIMENSIONS.values()
        ],
        "filter_operators": {
            "dimension": list(DIMENSION_OPS),
            "metric": list(METRIC_OPS),
            "logical": list(LOGICAL_OPS),
        },
        "compare": list(COMPARES),
        "limits": {"limit": MAX_LIMIT, "metrics": MAX_METRICS, "dimensions": MAX_DIMENSIONS},
    }
