"""Multi-touch revenue attribution (seed 002): which campaigns earned the period's purchases.

Definitions (docs/api.md repeats them). Flagged events (``is_flagged != 0``) are ignored
everywhere: they are neither touches nor conversions. Money is Int64 minor units of the
tenant's base currency.

- **Conversion**: an unflagged ``purchase`` in the period ``[start, end)``, worth its gross
  ``revenue`` (refunds are not subtracted, as in revenue-by-channel and the cohorts).
- **Touch**: an unflagged event of any type carrying a campaign: ``utm_source``,
  ``utm_medium`` or ``utm_campaign`` set (page URLs' ``utm_*`` parameters and ecommerce
  ``properties.source/medium/campaign`` fill them at ingestion), or, without any UTM, an
  ad click id in its page URL (``shoplens.ingest.channel.CLICK_IDS``, shared with
  ingestion: ``gclid`` → source ``google``, medium ``cpc``; ``fbclid`` → ``facebook`` /
  ``referral``…; campaign ``""``), looked for on events whose stored ``channel`` a click
  id gives (:data:`CLICK_CHANNELS`). A tagged purchase is itself a touch at its own time.
  Consecutive tagged events of one visit (same ``session_id``, same campaign) are one touch,
  at the first of them inside the window; events without a session id are a touch each.
- **Identity**: events are grouped by *person* (:mod:`shoplens.metrics.identity`): an
  event's own ``user_id``, else the user its anonymous ``visitor_id`` is linked to (by an
  identify, an alias or any event carrying both ids, whenever it was sent), else the
  ``visitor_id``. So anonymous visits before a login or a purchase made with a user id join
  that user's purchases, across devices too. A visitor never linked to a user is a person
  of its own.
- **Window**: a purchase at time ``p`` is credited to the touches at ``t`` with
  ``p - window_days <= t <= p`` (both ends inclusive).
- **Models** (:data:`MODELS`) give each touch of a purchase a weight; weights are
  normalized to sum to 1 per purchase, and a touch earns ``revenue * weight`` and
  ``weight`` orders. With touches ``1..n`` oldest first and ``age`` = ``p - t``:
  ``last_click`` 1 to touch n; ``first_click`` 1 to touch 1; ``linear`` 1/n each;
  ``time_decay`` ``2^(-age / 7 days)``, normalized (half-life :data:`HALF_LIFE_DAYS`);
  ``position_based`` 40% first, 40% last, 20% split over the middle ones (one touch: 100%,
  two: 50/50).
- Credit is grouped by ``(campaign, source, medium)``. ``revenue`` is rounded half up to the
  currency per row and ``orders`` (fractional for the multi-touch models) to 2 decimals.
  Purchases with no touch in the window are ``unattributed`` (whole orders).
- ``pct_of_total``: the row's credited revenue / all the period's purchase revenue
  (attributed + unattributed) * 100, rounded half up to one decimal; ``unattributed``
  carries one too, so the rows and it sum to 100 (up to the rounding).

Everything is computed by one ClickHouse query (:func:`attribution_query`): touches and
purchases are collected per person (as numeric arrays: times, hashed visit and campaign
keys), then each purchase filters its person's touches to the window
and the model's weights are array expressions over them; credits are summed per campaign
hash and named from a scalar subquery over the tagged events.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from shoplens.errors import BadRequest
from shoplens.ingest.channel import CLICK_IDS, rule_channel
from shoplens.ingest.money import from_minor
from shoplens.meta import Tenant
from shoplens.metrics.identity import PERSON_ID, with_links
from shoplens.metrics.period import Period
from shoplens.metrics.sql import EVENTS, Expr, Query, expr, run_rows
from shoplens.store import Store

HALF_LIFE_DAYS = 7
WINDOWS = (7, 14, 30, 60, 90)
DEFAULT_WINDOW = 30
DEFAULT_MODEL = "last_click"
_DAY_MS = 86_400_000


@dataclass(frozen=True)
class Model:
    """An attribution model: the raw weights of one purchase's touches, as SQL.

    ``weights`` is an ``Array(Float64)`` expression over ``n`` (the number of touches),
    ``pos`` (``[1..n]``, oldest first) and ``age`` (seconds from each touch to the
    purchase); the query normalizes the weights to sum to 1, so a model only needs them
    in proportion. Zero-weight touches earn nothing.
    """

    name: str
    weights: Expr
    summary: str


MODELS: dict[str, Model] = {
    m.name: m
    for m in (
        Model("last_click", expr("arrayMap(i -> toFloat64(i = n), pos)"), "100% to the last"),
        Model("first_click", expr("arrayMap(i -> toFloat64(i = 1), pos)"), "100% to the first"),
        Model("linear", expr("arrayMap(i -> toFloat64(1), pos)"), "1/n to each"),
        Model(
            "time_decay",
            expr(
                "arrayMap(a -> exp2(-a / {half_life_s}), age)",
                half_life_s=float(HALF_LIFE_DAYS * 86_400),
            ),
            f"2^(-age / {HALF_LIFE_DAYS} days), normalized",
        ),
        Model(
            "position_based",
            expr(
                "arrayMap(i -> multiIf(n = 1, 1., n = 2, 0.5, i = 1 OR i = n, 0.4,"
                " 0.2 / (n - 2)), pos)"
            ),
            "40% first, 40% last, 20% over the middle",
        ),
    )
}


#: The channels ingestion gives an untagged landing with a click id (channel.classify):
#: only those events' URLs are searched for one. TRICKY: events stored without a channel
#: (before enrichment classified them) count as touches by their UTM tags only; searching
#: every untagged URL tripled the cost of the query.
CLICK_CHANNELS = sorted({rule_channel(source, medium) for source, medium in CLICK_IDS.values()})


def parse_model(value: str | None) -> Model:
    """``model`` (absent or empty: last_click) → its :class:`Model`, else a 400."""
    name = (value or "").strip() or DEFAULT_MODEL
    if name not in MODELS:
        raise BadRequest(f"model must be one of {', '.join(MODELS)}", field="model")
    return MODELS[name]


def parse_window(value: str | None) -> int:
    """``window`` in days (absent or empty: 30), one of :data:`WINDOWS`, else a 400."""
    text = (value or "").strip()
    if not text:
        return DEFAULT_WINDOW
    if not (text.isascii() and text.isdigit() and int(text) in WINDOWS):
        raise BadRequest(
            f"window must be one of {', '.join(map(str, WINDOWS))} (days)", field="window"
        )
    return int(text)


def _events(tenant_id: int, period: Period, window_days: int) -> Query:
    """One row per relevant event: who, when, and the touch or purchase it is.

    People, visits and campaigns are hashed to UInt64 here: grouping, collecting and
    sorting numbers is several times cheaper than strings (or tuples holding strings), and
    a 64-bit collision is negligible. :func:`_campaign_names` maps the hashes back.
    """
    q = with_links(
        Query.from_table(EVENTS, tenant_id, period.start - timedelta(days=window_days), period.end)
    ).where("is_flagged = 0")
    # TRICKY: an event with no id at all is a person of its own (its purchase still counts,
    # unattributed), never merged with other id-less events under ''.
    q = q.select(PERSON_ID, alias="person_id")
    q = q.select("if(person_id != '', cityHash64(person_id), cityHash64(event_id))", alias="person")
    q = q.select("toUnixTimestamp64Milli(timestamp)", alias="at_ms")
    q = q.select("revenue")
    q = q.select(
        expr(
            "event_type = 'purchase' AND timestamp >= {converts_from}", converts_from=period.start
        ),
        alias="converts",
    )
    q = q.select("utm_source != '' OR utm_medium != '' OR utm_campaign != ''", alias="utm_tagged")
    # The click id in the URL, searched only on untagged events whose stored channel one
    # gives (a plain `if` on a column, which ClickHouse short-circuits: searching every
    # untagged URL tripled the cost of the query). TRICKY: with two click ids in one URL the
    # first in the URL wins, where ingestion takes the first in registry order.
    q = q.select(
        expr(
            "if(NOT utm_tagged AND channel IN {click_channels}, extract(page_url, {click_re}), '')",
            click_channels=CLICK_CHANNELS,
            click_re="[?&](" + "|".join(re.escape(name) for name in CLICK_IDS) + ")=",
        ),
        alias="click_id",
    )
    names = list(CLICK_IDS)
    q = q.select(
        expr(
            "transform(click_id, {click_names}, {click_sources}, '')",
            click_names=names,
            click_sources=[CLICK_IDS[n][0] for n in names],
        ),
        alias="click_source",
    )
    q = q.select(
        expr(
            "transform(click_id, {click_names}, {click_mediums}, '')",
            click_names=names,
            click_mediums=[CLICK_IDS[n][1] for n in names],
        ),
        alias="click_medium",
    )
    q = q.select("utm_tagged OR click_source != ''", alias="is_touch")
    # TRICKY: hashing the LowCardinality columns themselves (no toString) lets ClickHouse
    # hash each distinct value once; the hash of a value is the same as of its String.
    q = q.select(
        "if(utm_tagged, cityHash64(utm_campaign, utm_source, utm_medium),"
        " if(click_source != '', cityHash64('', click_source, click_medium), 0))",
        alias="campaign_key",
    )
    # One visit's events with one campaign share this key (an event without a session is a
    # visit of its own); consecutive touches with one key are one touch.
    q = q.select(
        "if(is_touch, cityHash64(if(session_id != '', session_id, toString(event_id)),"
        " campaign_key), 0)",
        alias="visit_key",
    )
    return q.where("is_touch OR converts")


def _people(events: Query) -> Query:
    """Per person with a purchase: all their touches and purchases (parallel arrays)."""
    return (
        Query.from_query(events)
        .select("person")
        .select("groupArrayIf(at_ms, is_touch)", alias="touch_times")
        .select("groupArrayIf(visit_key, is_touch)", alias="touch_visits")
        .select("groupArrayIf(campaign_key, is_touch)", alias="touch_campaigns")
        .select("groupArrayIf(at_ms, converts)", alias="purchase_times")
        .select("groupArrayIf(revenue, converts)", alias="purchase_revenues")
        .group_by("person")
        .having("notEmpty(purchase_times)")
    )


def _purchases(people: Query, model: Model, window_days: int) -> Query:
    """Per purchase: its touches in the window, one per visit, and the model's weights."""
    return (
        Query.from_query(people)
        .select("arrayJoin(arrayZip(purchase_times, purchase_revenues))", alias="purchase")
        .select("purchase.2", alias="order_revenue")
        # (time, visit, campaign) of the touches in the window, oldest first.
        .select(
            expr(
                "arraySort(arrayFilter(x -> x.1 <= purchase.1 AND x.1 >= purchase.1 - {window_ms},"
                " arrayZip(touch_times, touch_visits, touch_campaigns)))",
                window_ms=window_days * _DAY_MS,
            ),
            alias="in_window",
        )
        # Consecutive touches of one visit with one campaign are one touch (the first).
        # TRICKY: a lambda that reads another array (in_window[i - 1]) copies that array
        # for every element (quadratic); comparing with a shifted copy is linear.
        .select("arrayMap(x -> x.2, in_window)", alias="visit_keys")
        .select(
            "arrayFilter((x, k, prev) -> k != prev, in_window, visit_keys,"
            " arrayPopBack(arrayPushFront(visit_keys, toUInt64(0))))",
            alias="visits",
        )
        .select("length(visits)", alias="n")
        .select("arrayEnumerate(visits)", alias="pos")
        .select("arrayMap(x -> (purchase.1 - x.1) / 1000, visits)", alias="age")
        .select(model.weights, alias="raw_weights")
        .select("arraySum(raw_weights)", alias="weight_total")
        .select(
            "arrayFilter(c -> c.2 > 0, arrayMap((x, w) -> (x.3, w / weight_total),"
            " visits, raw_weights))",
            alias="credits",
        )
    )


def _credits(purchases: Query) -> Query:
    """One row per (purchase, credited touch); an unattributed purchase is one row, key 0."""
    return (
        Query.from_query(purchases)
        .select("n > 0", alias="attributed")
        .select("arrayJoin(if(n > 0, credits, [(toUInt64(0), toFloat64(1))]))", alias="credit")
        .select("credit.1", alias="credited_key")
        .select("order_revenue * credit.2", alias="credited_revenue")
        .select("credit.2", alias="credited_orders")
    )


def _campaign_names(tenant_id: int, period: Period, window_days: int) -> Query:
    """``([campaign hash], [(campaign, source, medium)])`` of every possible touch key.

    Read from the UTM-tagged events only (cheap filters on LowCardinality columns), plus the
    click ids' constant (``""``, source, medium): computing the full touch logic a second
    time cost a quarter of the query.
    """
    pairs = sorted(set(CLICK_IDS.values()))
    tagged = (
        Query.from_table(EVENTS, tenant_id, period.start - timedelta(days=window_days), period.end)
        .where("is_flagged = 0")
        .where("utm_source != '' OR utm_medium != '' OR utm_campaign != ''")
        .select("cityHash64(utm_campaign, utm_source, utm_medium)", alias="campaign_key")
        .select("any(toString(utm_campaign))", alias="name_campaign")
        .select("any(toString(utm_source))", alias="name_source")
        .select("any(toString(utm_medium))", alias="name_medium")
        .group_by("campaign_key")
    )
    return (
        Query.from_query(tagged)
        .select(
            expr(
                "arrayConcat(groupArray(campaign_key),"
                " arrayMap((s, m) -> cityHash64('', s, m), {click_sources}, {click_mediums}))",
                click_sources=[source for source, _ in pairs],
                click_mediums=[medium for _, medium in pairs],
            ),
            alias="keys",
        )
        .select(
            expr(
                "arrayConcat(groupArray((name_campaign, name_source, name_medium)),"
                " arrayMap((s, m) -> ('', s, m), {click_sources}, {click_mediums}))",
                click_sources=[source for source, _ in pairs],
                click_mediums=[medium for _, medium in pairs],
            ),
            alias="names",
        )
    )


def attribution_query(tenant_id: int, period: Period, model: Model, window_days: int) -> Query:
    """The one query: credited revenue (minor units, Float64) and orders per campaign."""
    if window_days not in WINDOWS:
        raise ValueError(f"window_days must be one of {WINDOWS}, got {window_days!r}")
    events = _events(tenant_id, period, window_days)
    purchases = _purchases(_people(events), model, window_days)
    names = _campaign_names(tenant_id, period, window_days)
    return (
        Query.from_query(_credits(purchases))
        .select("attributed")
        .select("credited_key")
        # A scalar subquery, run once: ([hash], [(campaign, source, medium)]).
        .select(
            expr(
                "if(attributed, {names}.2[indexOf({names}.1, credited_key)], ('', '', ''))",
                names=names,
            ),
            alias="campaign_name",
        )
        .select("campaign_name.1", alias="campaign")
        .select("campaign_name.2", alias="source")
        .select("campaign_name.3", alias="medium")
        .select("sum(credited_revenue)", alias="revenue_minor")
        .select("sum(credited_orders)", alias="order_credit")
        .group_by("attributed", "credited_key")
        .order_by("revenue_minor", "DESC")
        .order_by("order_credit", "DESC")
        .order_by("campaign")
        .order_by("source")
        .order_by("medium")
    )


def _pct(part: float, total: float) -> float:
    if total <= 0:
        return 0.0
    return float(Decimal(repr(part * 100 / total)).quantize(Decimal("0.1"), ROUND_HALF_UP))


def _money(minor: float, currency: str) -> Decimal:
    # Round the float credit to whole minor units first (half up), then to major units.
    whole = Decimal(repr(minor)).quantize(Decimal(1), ROUND_HALF_UP)
    return from_minor(whole, currency)


def _orders(credit: float) -> Decimal:
    value = Decimal(repr(credit)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value


def attribution(
    store: Store, tenant: Tenant, period: Period, model: Model, window_days: int
) -> dict[str, Any]:
    """The report in seed 002's shape (money and orders as Decimals)."""
    currency = tenant.base_currency
    rows = run_rows(store, attribution_query(tenant.id, period, model, window_days))
    total = sum(float(row["revenue_minor"]) for row in rows)
    attributed = []
    unattributed: dict[str, Any] = {
        "revenue": from_minor(0, currency),
        "orders": 0,
        "pct_of_total": 0.0,
    }
    for row in rows:
        revenue = float(row["revenue_minor"])
        if not row["attributed"]:
            unattributed = {
                "revenue": _money(revenue, currency),
                "orders": round(row["order_credit"]),
                "pct_of_total": _pct(revenue, total),
            }
            continue
        attributed.append(
            {
                "campaign": row["campaign"],
                "source": row["source"],
                "medium": row["medium"],
                "revenue": _money(revenue, currency),
                "orders": _orders(float(row["order_credit"])),
                "pct_of_total": _pct(revenue, total),
            }
        )
    return {
        "attributed": attributed,
        "unattributed": unattributed,
        "model": model.name,
        "window_days": window_days,
    }
