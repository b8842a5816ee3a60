"""RFM customer segments (seed 003): ``GET /analytics/customers/segments``.

Definitions (docs/api.md repeats them). Flagged events (``is_flagged = 1``) are ignored.
Money is Int64 minor units of the tenant's base currency. Refunds are not subtracted.

- As of: the period's end. Only its last local day matters (``as_of`` =
  ``Period.last_day``); the history read is *all* stored data from 1970-01-01 up to the
  period's end (exclusive), not just the period, as is the RFM norm. Two periods that
  end on the same day give the same answer.
- A customer is a user (a purchase's ``user_id``, or the user its anonymous visitor is
  linked to: :mod:`shoplens.metrics.identity`) with at least one unflagged ``purchase`` in
  that history. Purchases of visitors never linked to a user count nowhere.
- Recency ``R`` = ``as_of`` minus the local date (tenant time zone) of the customer's last
  purchase, in whole days (0 = bought on the last day). Frequency ``F`` = number of
  purchases. Monetary ``M`` = sum of their purchase revenue.
- Scores 1-5, by fixed thresholds (:data:`RECENCY_DAYS`, :data:`FREQUENCY_STEPS`) for
  ``r`` and ``f``, and by quintile of the tenant's customers for ``m``:

  - ``r`` = 1 + the number of limits in (30, 60, 90, 180) that ``R`` is <= to:
    0-30 days → 5, 31-60 → 4, 61-90 → 3, 91-180 → 2, over 180 → 1.
  - ``f`` = 1 + the number of steps in (2, 3, 4, 6) that ``F`` is >= to:
    1 purchase → 1, 2 → 2, 3 → 3, 4-5 → 4, 6 or more → 5.
  - ``m`` = ceil(5 * k / n), where n = number of customers and k = customers whose ``M``
    is <= this customer's (ties get the same, higher score): the top fifth by spend
    scores 5. A lone customer, or customers who all spent the same, score 5.

- Segments are the rows of :data:`SEGMENTS`, in that order: each is a box of score ranges
  (inclusive); a customer belongs to the *first* box that contains its ``(r, f, m)``.
  Every one of the 125 score combinations falls in a box, so every customer is in exactly
  one segment.
- Per segment: ``customers``; ``share_of_customers`` = 100 * customers / all customers
  (one decimal, half up; 0 without customers); ``revenue`` = sum of its customers' ``M``;
  ``avg_order_value`` = revenue / their purchases, rounded half up to a minor unit (0 when
  empty); ``avg_recency_days`` = mean ``R`` of its customers, one decimal half up (0.0
  when empty).

Plan: one query. Per customer (``GROUP BY customer``), then their scores (the ``m`` quintile is a
window over all customers), then counts and sums per ``(r, f, m)`` cell, at most 125 rows;
the cells are put into segments here, in Python, from the same :data:`SEGMENTS` data.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from shoplens.meta import Tenant
from shoplens.metrics import customers
from shoplens.metrics.identity import CUSTOMER
from shoplens.metrics.period import Period
from shoplens.metrics.sales import percent, round_half_up
from shoplens.metrics.sql import Query, run_rows
from shoplens.store import Store

#: ``r`` = 1 + how many of these day limits the recency is at or under.
RECENCY_DAYS: tuple[int, ...] = (30, 60, 90, 180)
#: ``f`` = 1 + how many of these purchase counts the frequency reaches.
FREQUENCY_STEPS: tuple[int, ...] = (2, 3, 4, 6)
SCORES = range(1, 6)


@dataclass(frozen=True)
class Segment:
    """A named box of inclusive score ranges ``(low, high)`` for r, f and m."""

    name: str
    description: str
    r: tuple[int, int] = (1, 5)
    f: tuple[int, int] = (1, 5)
    m: tuple[int, int] = (1, 5)

    def matches(self, r: int, f: int, m: int) -> bool:
        return all(lo <= s <= hi for s, (lo, hi) in ((r, self.r), (f, self.f), (m, self.m)))

    @property
    def rule(self) -> str:
        """E.g. ``"r 4-5, f 4-5, m 4-5"``; a score the box does not restrict is left out."""
        parts = [
            f"{name} {lo}" if lo == hi else f"{name} {lo}-{hi}"
            for name, (lo, hi) in (("r", self.r), ("f", self.f), ("m", self.m))
            if (lo, hi) != (1, 5)
        ]
        return ", ".join(parts) or "any"


#: The segments, in response order; the first box holding a customer's scores wins.
SEGMENTS: tuple[Segment, ...] = (
    Segment(
        "Champions",
        "Bought recently, buy often and spend the most.",
        r=(4, 5), f=(4, 5), m=(4, 5),
    ),
    Segment(
        "Loyal",
        "Buy regularly (3+ purchases) and bought in the last 90 days.",
        r=(3, 5), f=(3, 5),
    ),
    Segment(
        "Potential loyalists",
        "Bought twice, the last time within 90 days.",
        r=(3, 5), f=(2, 2),
    ),
    Segment(
        "New customers",
        "One purchase, within the last 60 days.",
        r=(4, 5), f=(1, 1),
    ),
    Segment(
        "Can't lose them",
        "Used to buy often and spend the most, nothing for over 90 days.",
        r=(1, 2), f=(4, 5), m=(4, 5),
    ),
    Segment(
        "At risk",
        "Bought 3+ times, nothing for over 90 days.",
        r=(1, 2), f=(3, 5),
    ),
    Segment(
        "Hibernating",
        "One purchase 61-90 days ago, or one or two with the last 91-180 days ago.",
        r=(2, 3), f=(1, 2),
    ),
    Segment(
        "Lost",
        "One or two purchases, the last over 180 days ago.",
        r=(1, 1), f=(1, 2),
    ),
)  # fmt: skip


def r_score(recency_days: int) -> int:
    return 1 + sum(recency_days <= limit for limit in RECENCY_DAYS)


def f_score(purchases: int) -> int:
    return 1 + sum(purchases >= step for step in FREQUENCY_STEPS)


def m_scores(monetary: list[int]) -> list[int]:
    """Each customer's ``m`` (same order): ceil(5 * #(M' <= M) / n)."""
    n = len(monetary)
    return [-(-5 * sum(other <= m for other in monetary) // n) for m in monetary]


def segment_of(r: int, f: int, m: int) -> Segment:
    """The first segment whose box holds ``(r, f, m)``."""
    for segment in SEGMENTS:
        if segment.matches(r, f, m):
            return segment
    raise ValueError(f"no segment for scores r={r} f={f} m={m}")  # SEGMENTS cover all 125


@dataclass(frozen=True)
class SegmentStats:
    """One segment's figures (money in minor units)."""

    segment: Segment
    customers: int
    revenue: int
    purchases: int
    recency_days: int  # the sum over its customers

    @property
    def avg_order_value(self) -> int:
        return round_half_up(Decimal(self.revenue) / self.purchases, 0) if self.purchases else 0

    @property
    def avg_recency_days(self) -> float:
        if not self.customers:
            return 0.0
        mean = Decimal(self.recency_days) / self.customers
        return float(mean.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))

    def share_of(self, total_customers: int) -> float:
        return percent(self.customers, total_customers)


def _cells_query(tenant: Tenant, period: Period) -> Query:
    """Customers, revenue, purchases and summed recency per ``(r, f, m)`` score cell."""
    per_user = (
        customers.customer_purchases(tenant, period.end)
        .select(CUSTOMER, alias="customer")
        .select("count()", alias="purchase_count")
        .select("sum(revenue)", alias="monetary")
        .select(
            "dateDiff('day', toDate(max(timestamp), {tz}), {as_of})",
            alias="recency_days",
            tz=period.timezone,
            as_of=period.last_day,
        )
        .group_by("customer")
    )
    scored = (
        Query.from_query(per_user)
        .select("purchase_count")
        .select("monetary")
        .select("recency_days")
        .select(
            "toInt64(1 + arrayCount(x -> recency_days <= x, {r_limits}))",
            alias="r",
            r_limits=list(RECENCY_DAYS),
        )
        .select(
            "toInt64(1 + arrayCount(x -> purchase_count >= x, {f_steps}))",
            alias="f",
            f_steps=list(FREQUENCY_STEPS),
        )
        # Default frame with ORDER BY: RANGE up to the current row, peers included, so the
        # count is the customers whose monetary is <= this one's.
        .select(
            "toInt64(intDiv(5 * count() OVER (ORDER BY monetary) + count() OVER () - 1,"
            " count() OVER ()))",
            alias="m",
        )
    )
    return (
        Query.from_query(scored)
        .select("r")
        .select("f")
        .select("m")
        .select("count()", alias="customers")
        .select("sum(monetary)", alias="revenue_minor")
        .select("sum(purchase_count)", alias="purchases")
        .select("sum(recency_days)", alias="recency_sum")
        .group_by("r", "f", "m")
    )


def segments(store: Store, tenant: Tenant, period: Period) -> list[SegmentStats]:
    """Every segment of :data:`SEGMENTS`, in order, zeros included."""
    sums: dict[str, list[int]] = {s.name: [0, 0, 0, 0] for s in SEGMENTS}
    for row in run_rows(store, _cells_query(tenant, period)):
        segment = segment_of(int(row["r"]), int(row["f"]), int(row["m"]))
        acc = sums[segment.name]
        for i, key in enumerate(("customers", "revenue_minor", "purchases", "recency_sum")):
            acc[i] += int(row[key])
    return [SegmentStats(s, *sums[s.name]) for s in SEGMENTS]
