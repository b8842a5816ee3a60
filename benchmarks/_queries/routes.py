"""The report routes under test, as data: path, query parameters, target, and the raw-SQL
baseline asking the same question in ONE scan of ``events`` (and ``event_items`` where the
question is about items), with no rollup.

Every raw query takes the same bound parameters (see ``raw.py``): ``{t:UInt32}`` the tenant,
``{start}``/``{end}`` the 30 local days ending today as UTC ``DateTime64(3)`` bounds,
``{prev_start}`` the 30 days before, ``{today}`` local midnight today, ``{week}`` local
midnight six days ago, ``{now}``, ``{tz:String}`` the tenant's time zone, ``{product:String}``
and ``{user:String}`` the ids the per-product and per-user routes ask about.

The baselines answer the route's question as a plain analyst would write it against raw
rows, in one statement (subqueries over the one scan are fine, a second table scan is not,
except ``event_items`` where the route reads items). They are not byte-for-byte the
route's SQL: the ratio shows what the metrics layer (rollups, pruned scans, several small
queries) buys or costs over the obvious query, plus HTTP and JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: p50 targets in ms (issue 3, on 2 cores)
FAST_MS = 50.0  # sales/overview, timeseries, top products, every breakdown
HEAVY_MS = 200.0  # funnel, cohorts, customers, segments
DASHBOARD_MS = 1000.0  # the whole dashboard set

V1 = "/v1/api/analytics/ecommerce"

# Shared WHERE fragments. TRICKY: ``timestamp`` is in the sorting key after
# (tenant_id, event_type), so a type list plus a time range prunes granules in both.
_IN_PERIOD = (
    "tenant_id = {t:UInt32} AND is_flagged = 0 AND timestamp >= {start} AND timestamp < {end}"
)
_PURCHASES = f"event_type = 'purchase' AND {_IN_PERIOD}"
#: issue 5's targets: a two-dimension custom query over 30 days, 30-day attribution
QUERY_MS = 100.0
ATTRIBUTION_MS = 500.0
_DAY = "toDate(timestamp, {tz:String})"


@dataclass(frozen=True)
class Route:
    """One report route: ``name`` (short, for tables), ``path`` (``{tenant}`` and
    ``{product}`` are filled in), ``params``, the p50 target in ms (None: the issue sets
    none) and the raw-SQL baseline."""

    name: str
    path: str
    raw_sql: str
    target_ms: float | None
    params: dict[str, str | int] = field(default_factory=dict)
    #: in the dashboard set (loaded together by the v1 dashboard page)
    dashboard: bool = False
    #: a JSON body: the route is a POST (the custom query)
    body: dict[str, object] | None = None


def _breakdown(column: str, label: str) -> str:
    return (
        f"SELECT if({column} = '', 'unknown', {column}) AS {label}, sum(revenue) AS rev, "
        f"count() AS orders FROM events WHERE {_PURCHASES} GROUP BY {label} "
        "ORDER BY rev DESC, orders DESC LIMIT 100"
    )


# Purchases by day, this period and the previous one (growth) in one scan.
_SALES = (
    f"SELECT {_DAY} AS day, sum(revenue) AS rev, count() AS orders, sum(item_count) AS items "
    "FROM events WHERE event_type = 'purchase' AND tenant_id = {t:UInt32} AND is_flagged = 0 "
    "AND timestamp >= {prev_start} AND timestamp < {end} GROUP BY day ORDER BY day"
)
_TIMESERIES = (
    f"SELECT {_DAY} AS day, sumIf(revenue, event_type = 'purchase') AS rev, "
    "countIf(event_type = 'purchase') AS orders, countIf(event_type = 'refund') AS refunds "
    f"FROM events WHERE event_type IN ('purchase', 'refund') AND {_IN_PERIOD} "
    "GROUP BY day ORDER BY day"
)
_OVERVIEW = (
    "SELECT sumIf(rev, p > 0) AS revenue, sum(p) AS orders, sum(r) AS refunds, "
    "sum(refunded) AS refund_amount, sum(items) AS items_sold, "
    "countIf(viewed) AS viewers, countIf(added) AS adders, "
    "countIf(added AND p = 0) AS abandoners FROM ("
    "SELECT visitor_id, countIf(event_type = 'purchase') AS p, "
    "sumIf(revenue, event_type = 'purchase') AS rev, countIf(event_type = 'refund') AS r, "
    "sumIf(revenue, event_type = 'refund') AS refunded, "
    "sumIf(item_count, event_type = 'purchase') AS items, "
    "max(event_type = 'view_item') AS viewed, max(event_type = 'add_to_cart') AS added "
    "FROM events WHERE event_type IN ('purchase', 'refund', 'view_item', 'add_to_cart') "
    f"AND {_IN_PERIOD} GROUP BY visitor_id)"
)


def _funnel(steps: list[str]) -> str:
    conds = ", ".join(f"event_type = '{s}'" for s in steps)
    types = ", ".join(f"'{s}'" for s in sorted(set(steps)))
    return (
        "SELECT level, count() AS visitors FROM ("
        "SELECT visitor_id, windowFunnel(100000000)(toDateTime(timestamp), "
        f"{conds}) AS level FROM events WHERE event_type IN ({types}) AND {_IN_PERIOD} "
        "AND visitor_id != '' GROUP BY visitor_id) GROUP BY level ORDER BY level"
    )


_CORE_FUNNEL = _funnel(
    ["view_item", "add_to_cart", "begin_checkout", "add_payment_info", "purchase"]
)
_V1_FUNNEL = _funnel(
    ["view_item", "add_to_cart", "view_cart", "begin_checkout", "add_payment_info", "purchase"]
)
# Per visitor: last add, last purchase, and the value of cart lines after the last purchase
# (from the events' own item totals: events carry no per-line price without event_items).
_CART = (
    "SELECT count() AS carts, countIf(last_purchase >= last_add) AS completed, "
    "greatest(sumIf(open_value, last_purchase < last_add), 0) AS abandoned_value FROM ("
    "SELECT visitor_id, maxIf(timestamp, event_type = 'add_to_cart') AS last_add, "
    "maxIf(timestamp, event_type = 'purchase') AS last_purchase, "
    "arraySum(x -> x.3 * if(x.2 = 'remove_from_cart', -1, 1), "
    "arrayFilter(x -> x.2 != 'purchase' AND x.1 > last_purchase, "
    "groupArray((timestamp, event_type, item_count)))) AS open_value "
    "FROM events WHERE event_type IN ('add_to_cart', 'remove_from_cart', 'purchase') "
    f"AND {_IN_PERIOD} GROUP BY visitor_id HAVING last_add > toDateTime64(0, 3, 'UTC'))"
)
# Items: purchases and views per item in one scan of event_items.
_ITEMS = (
    "SELECT item_id, argMax(item_name, timestamp) AS name, "
    "sumIf(price * quantity, event_type = 'purchase') AS rev, "
    "sumIf(quantity, event_type = 'purchase') AS units, "
    "uniqExactIf(event_id, event_type = 'purchase') AS orders, "
    "countIf(event_type = 'view_item') AS views "
    "FROM event_items WHERE event_type IN ('purchase', 'view_item') AND {where} "
    "GROUP BY item_id ORDER BY rev DESC LIMIT {limit}"
)
_TOP_PRODUCTS = (
    "SELECT item_id, argMax(item_name, timestamp) AS name, sum(price * quantity) AS rev, "
    "sum(quantity) AS units, uniqExact(event_id) AS orders FROM event_items "
    f"WHERE {_PURCHASES} GROUP BY item_id ORDER BY rev DESC LIMIT 20"
)
_PRODUCT = (
    f"SELECT {_DAY} AS day, sumIf(price * quantity, event_type = 'purchase') AS rev, "
    "sumIf(quantity, event_type = 'purchase') AS units, countIf(event_type = 'view_item') AS views "
    "FROM event_items WHERE event_type IN ('purchase', 'view_item') AND item_id = {product:String} "
    f"AND {_IN_PERIOD} GROUP BY day ORDER BY day"
)
_CATEGORIES = (
    "SELECT if(item_category = '', 'uncategorized', item_category) AS category, "
    "sum(price * quantity) AS rev, sum(quantity) AS units, uniqExact(event_id) AS orders "
    f"FROM event_items WHERE {_PURCHASES} GROUP BY category ORDER BY rev DESC LIMIT 20"
)
# Channel revenue and conversion (orders / visitors carrying the same tags): every event of
# the period is read, since any event can carry the tags.
_CHANNELS = (
    "SELECT utm_campaign, utm_source, utm_medium, sumIf(revenue, event_type = 'purchase') AS rev, "
    "countIf(event_type = 'purchase') AS orders, uniqExact(visitor_id) AS visitors "
    f"FROM events WHERE {_IN_PERIOD} AND (utm_campaign != '' OR utm_source != '' "
    "OR utm_medium != '') GROUP BY utm_campaign, utm_source, utm_medium "
    "HAVING orders > 0 ORDER BY rev DESC LIMIT 100"
)
_COUPONS = (
    "SELECT coupon_code, sum(revenue) AS rev, count() AS orders, avg(discount) AS avg_discount "
    f"FROM events WHERE {_PURCHASES} AND coupon_code != '' GROUP BY coupon_code "
    "ORDER BY rev DESC LIMIT 100"
)
# Cohorts: every purchase ever, per user then per (cohort month, months since).
_COHORTS = (
    "SELECT cohort, dateDiff('month', cohort, m.1) AS offset, uniqExact(user_id) AS users, "
    "sum(m.2) AS rev FROM (SELECT user_id, toStartOfMonth(min(timestamp), {tz:String}) AS cohort, "
    "groupArray((toStartOfMonth(timestamp, {tz:String}), revenue)) AS months FROM events "
    "WHERE event_type = 'purchase' AND tenant_id = {t:UInt32} AND is_flagged = 0 "
    "AND user_id != '' AND timestamp < {end} GROUP BY user_id) ARRAY JOIN months AS m "
    "WHERE cohort >= toStartOfMonth(addMonths({today}, -5), {tz:String}) "
    "GROUP BY cohort, offset ORDER BY cohort DESC, offset"
)
# Core customers: the period's purchasers, new vs returning, lifetime value, cohorts.
_CUSTOMERS = (
    "SELECT count() AS total, countIf(first >= {start}) AS new, "
    "countIf(first < {start}) AS returning, avg(ltv) AS avg_ltv FROM ("
    "SELECT user_id, min(timestamp) AS first, sum(revenue) AS ltv, "
    "countIf(timestamp >= {start}) AS in_period FROM events "
    "WHERE event_type = 'purchase' AND tenant_id = {t:UInt32} AND is_flagged = 0 "
    "AND user_id != '' AND timestamp < {end} GROUP BY user_id HAVING in_period > 0)"
)
# RFM: recency, frequency, monetary per user over all history, m by fifths, then segments.
_SEGMENTS = (
    "SELECT multiIf(r >= 4 AND f >= 4 AND ms >= 4, 'Champions', r >= 3 AND f >= 3, 'Loyal', "
    "r >= 3 AND f = 2, 'Potential loyalists', r >= 4 AND f = 1, 'New customers', "
    "r <= 2 AND f >= 4 AND ms >= 4, 'Can''t lose them', r <= 2 AND f >= 3, 'At risk', "
    "r >= 2 AND f <= 2, 'Hibernating', 'Lost') AS segment, count() AS customers, "
    "sum(mon) AS rev, avg(rec) AS avg_recency FROM ("
    "SELECT rec, freq, mon, multiIf(rec <= 30, 5, rec <= 60, 4, rec <= 90, 3, rec <= 180, 2, 1) "
    "AS r, multiIf(freq >= 6, 5, freq >= 4, 4, freq = 3, 3, freq = 2, 2, 1) AS f, "
    "toUInt8(ceil(5 * (count() OVER (ORDER BY mon RANGE BETWEEN UNBOUNDED PRECEDING AND "
    "CURRENT ROW)) / (count() OVER ()))) AS ms FROM ("
    "SELECT dateDiff('day', toDate(max(timestamp), {tz:String}), "
    "toDate(subtractMilliseconds({end}, 1), {tz:String})) AS rec, count() AS freq, "
    "sum(revenue) AS mon FROM events WHERE event_type = 'purchase' AND tenant_id = {t:UInt32} "
    "AND is_flagged = 0 AND user_id != '' AND timestamp < {end} GROUP BY user_id)) "
    "GROUP BY segment"
)
# The realtime route's heaviest part: the top pages of the last 30 minutes.
_REALTIME = (
    "SELECT page_path, uniqExact(visitor_id) AS visitors FROM events WHERE tenant_id = {t:UInt32} "
    "AND is_flagged = 0 AND timestamp >= {now} - INTERVAL 30 MINUTE AND page_path != '' "
    "GROUP BY page_path ORDER BY visitors DESC LIMIT 10"
)
_JOURNEY = (
    "SELECT event_id, event_type, timestamp, transaction_id, revenue FROM events "
    "WHERE tenant_id = {t:UInt32} AND user_id = {user:String} AND is_flagged = 0 "
    "ORDER BY timestamp DESC, event_id DESC LIMIT 1000"
)
_INVENTORY = (
    "SELECT item_id, sum(quantity) / 30 AS velocity FROM event_items "
    f"WHERE {_PURCHASES} GROUP BY item_id"
)
_LANDING_CLICKS = (
    "countIf(event_type = 'click_whatsapp') AS whatsapp, countIf(event_type = 'qr_scan') AS qr"
)
_LANDING_WEEK = (
    f"SELECT {_DAY} AS day, uniqExactIf(visitor_id, event_type = 'page_view') AS visitors, "
    f"{_LANDING_CLICKS}, countIf(event_type = 'click_call') AS calls, "
    "countIf(event_type = 'click_toggle_currency') AS toggles FROM events "
    "WHERE tenant_id = {t:UInt32} AND is_flagged = 0 AND timestamp >= {week} "
    "AND timestamp < {end} GROUP BY day WITH ROLLUP ORDER BY day"
)
_LANDING_TODAY = (
    f"SELECT uniqExactIf(visitor_id, event_type = 'page_view') AS visitors, {_LANDING_CLICKS}, "
    "countIf(event_type = 'product_click') AS products FROM events "
    "WHERE tenant_id = {t:UInt32} AND is_flagged = 0 AND timestamp >= {today}"
)

_QUERY_DAY_CHANNEL = (
    f"SELECT {_DAY} AS day, channel, sumIf(revenue, event_type = 'purchase') AS revenue, "
    "countIf(event_type = 'purchase') AS orders, uniq(visitor_id) AS visitors FROM events "
    "WHERE tenant_id = {t:UInt32} AND timestamp >= {start} AND timestamp < {end} "
    "GROUP BY day, channel ORDER BY day, channel LIMIT 100"
)
_QUERY_CATEGORY_COUNTRY = (
    "SELECT item_category, e.country AS country, sum(price * quantity) AS revenue, "
    "uniqExact(event_id) AS orders FROM event_items ANY LEFT JOIN (SELECT event_id, country "
    f"FROM events WHERE {_PURCHASES}) AS e USING (event_id) WHERE {_PURCHASES} "
    "GROUP BY item_category, country ORDER BY revenue DESC LIMIT 100"
)
# The obvious single scan: each purchase credited to its own campaign tags (last touch on
# the order itself), no touch history.
_ATTRIBUTION = (
    "SELECT utm_campaign, utm_source, utm_medium, sum(revenue) AS revenue, count() AS orders "
    f"FROM events WHERE {_PURCHASES} GROUP BY utm_campaign, utm_source, utm_medium "
    "ORDER BY revenue DESC"
)

ROUTES: tuple[Route, ...] = (
    # seeds 000/001: core analytics
    Route("sales", "/analytics/sales", _SALES, FAST_MS),
    Route(
        "products",
        "/analytics/products",
        _ITEMS.replace("{where}", _IN_PERIOD).replace("{limit}", "10"),
        FAST_MS,
    ),
    Route("customers", "/analytics/customers", _CUSTOMERS, HEAVY_MS),
    Route("funnel", "/analytics/funnel", _CORE_FUNNEL, HEAVY_MS),
    Route("realtime", "/analytics/realtime", _REALTIME, None),
    # seed 002: ecommerce v1 (the dashboard set)
    Route("v1 overview", f"{V1}/overview", _OVERVIEW, FAST_MS, dashboard=True),
    Route(
        "v1 revenue-timeseries", f"{V1}/revenue-timeseries", _TIMESERIES, FAST_MS, dashboard=True
    ),
    Route("v1 funnel", f"{V1}/funnel", _V1_FUNNEL, HEAVY_MS, dashboard=True),
    Route("v1 top-products", f"{V1}/top-products", _TOP_PRODUCTS, FAST_MS, dashboard=True),
    Route("v1 revenue-by-channel", f"{V1}/revenue-by-channel", _CHANNELS, FAST_MS, dashboard=True),
    Route("v1 revenue-by-coupon", f"{V1}/revenue-by-coupon", _COUPONS, FAST_MS),
    Route(
        "v1 revenue-by-device",
        f"{V1}/revenue-by-device",
        _breakdown("device_type", "device"),
        FAST_MS,
        dashboard=True,
    ),
    Route(
        "v1 revenue-by-platform",
        f"{V1}/revenue-by-platform",
        _breakdown("platform", "plat"),
        FAST_MS,
    ),
    Route(
        "v1 revenue-by-country",
        f"{V1}/revenue-by-country",
        _breakdown("country", "ctry"),
        FAST_MS,
        dashboard=True,
    ),
    Route("v1 cart-abandonment", f"{V1}/cart-abandonment", _CART, None),
    Route("v1 cohorts", f"{V1}/cohorts", _COHORTS, HEAVY_MS, dashboard=True),
    Route("v1 user-journey", f"{V1}/user-journey", _JOURNEY, None, params={"user_id": "{user}"}),
    # seed 003: store reports
    Route("conversion", "/analytics/conversion", _CORE_FUNNEL, HEAVY_MS),
    Route(
        "products/top",
        "/analytics/products/top",
        _ITEMS.replace("{where}", _IN_PERIOD).replace("{limit}", "10"),
        FAST_MS,
    ),
    Route("products/{id}", "/analytics/products/{product}", _PRODUCT, None),
    Route("categories", "/analytics/categories", _CATEGORIES, FAST_MS),
    Route("revenue/trend", "/analytics/revenue/trend", _SALES, FAST_MS),
    Route("revenue/by-channel", "/analytics/revenue/by-channel", _CHANNELS, FAST_MS),
    Route("customers/segments", "/analytics/customers/segments", _SEGMENTS, HEAVY_MS),
    Route("geographic", "/analytics/geographic", _breakdown("country", "ctry"), FAST_MS),
    Route("inventory/alerts", "/analytics/inventory/alerts", _INVENTORY, None),
    # seed 004: landing pages
    Route("landing", "/api/analytics/{tenant}", _LANDING_WEEK, None),
    Route("landing/today", "/api/analytics/{tenant}/today", _LANDING_TODAY, None),
    # issue 5: the custom query and attribution
    Route(
        "query day x channel",
        "/analytics/query",
        _QUERY_DAY_CHANNEL,
        QUERY_MS,
        body={
            "metrics": ["revenue", "orders", "visitors"],
            "dimensions": ["day", "channel"],
            "period": "30d",
        },
    ),
    Route(
        "query category x country",
        "/analytics/query",
        _QUERY_CATEGORY_COUNTRY,
        QUERY_MS,
        body={
            "metrics": ["revenue", "orders", "aov"],
            "dimensions": ["product_category", "country"],
            "filters": {"period": "30d"},
            "orderBy": "revenue:desc",
            "limit": 20,
        },
    ),
    Route(
        "v1 attribution linear",
        f"{V1}/attribution",
        _ATTRIBUTION,
        ATTRIBUTION_MS,
        params={"model": "linear", "window": 30},
    ),
)


def dashboard_routes() -> list[Route]:
    """The routes the v1 dashboard page loads together."""
    return [r for r in ROUTES if r.dashboard]
