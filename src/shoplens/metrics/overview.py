"""Core dashboard figures (seeds 000, 001, 003): real-time stats and the customer summary.

Definitions (docs/api.md repeats them). Flagged events (``is_flagged = 1``) are ignored
everywhere; money is Int64 minor units of the tenant's base currency; visitors are
``visitor_id`` (anonymous id, user id or IP hash, whichever the event had first).

Real time (:func:`realtime`, relative to ``now``):

- ``active_visitors``: distinct visitors with any event whose timestamp is in
  ``[now - minutes, now]`` (``minutes`` 1..60, default :data:`ACTIVE_MINUTES` = 5).
- ``recent_orders``: ``purchase`` events in that same window.
- ``orders_today`` / ``revenue_today``: number and revenue sum of ``purchase`` events on
  the tenant's local calendar day of ``now`` (``[local midnight, next local midnight)``,
  i.e. :func:`shoplens.metrics.sales.totals` over ``time_range=today``).
- ``top_pages``: the :data:`TOP_PAGES_LIMIT` (10) non-empty ``page_path`` values with the
  most distinct visitors over ``[now - 30 min, now]`` (:data:`TOP_PAGES_MINUTES`), any event
  type; ties by path, ascending.

Customers (:func:`customer_summary`, over a :class:`Period`; a customer is a user, a
guest purchase belonging to the user its visitor is linked to, and purchases of visitors
never linked to a user count nowhere, as in :mod:`shoplens.metrics.customers`):

- ``total_customers``: distinct customers with a ``purchase`` in the period.
- ``new_customers``: those of them whose first purchase ever is in the period.
- ``returning_customers``: those of them with a purchase before the period start
  (so ``new + returning = total``; a new customer buying twice in the period is new).
- ``average_ltv``: the lifetime (all stored data up to the period end) purchase revenue
  of the period's customers / ``total_customers``, rounded half up; 0 without customers.
  Gross: refunds are not subtracted.
- ``retention_rate``: ``100 * returning / total`` to one decimal (half up), 0 when empty.
- ``cohorts``: the acquisition months (local month of a user's first purchase ever) from
  the period's first local month to its last, at least :data:`MIN_COHORT_MONTHS` (6) and at
  most 36 months ending with the last one, newest first. ``acquired`` is
  :func:`shoplens.metrics.customers.cohorts`' ``users``; ``retained[N]`` (N = 1 up to the
  months between the cohort and the period's last month, zero-filled) is how many of the
  cohort's users made a purchase in the N-th local month after their cohort month. Data
  is read up to the period end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from shoplens.meta import Tenant
from shoplens.metrics import customers, sales
from shoplens.metrics.identity import CUSTOMER
from shoplens.metrics.parallel import gather
from shoplens.metrics.period import Period, local_midnight, parse_period
from shoplens.metrics.sql import EVENTS, VISITOR, Query, bucket, run_rows
from shoplens.store import Store

ACTIVE_MINUTES = 5
MAX_ACTIVE_MINUTES = 60
TOP_PAGES_MINUTES = 30
TOP_PAGES_LIMIT = 10
MIN_COHORT_MONTHS = customers.DEFAULT_MONTHS
_MS = timedelta(milliseconds=1)


@dataclass(frozen=True)
class PageVisitors:
    page: str
    visitors: int


@dataclass(frozen=True)
class Realtime:
    minutes: int
    active_visitors: int
    recent_orders: int
    today: date  # the tenant's local date of ``now``
    orders_today: int
    revenue_today: int
    top_pages: list[PageVisitors]


@dataclass(frozen=True)
class CoreCohort:
    month: date  # first day of the local acquisition month
    acquired: int
    retained: list[int] = field(default_factory=list)  # index k-1 = k months after ``month``


@dataclass(frozen=True)
class CustomerSummary:
    total_customers: int
    new_customers: int
    returning_customers: int
    lifetime_revenue: int
    cohorts: list[CoreCohort]  # newest first

    @property
    def average_ltv(self) -> int:
        total = self.total_customers
        return sales.round_half_up(Decimal(self.lifetime_revenue) / total, 0) if total else 0

    @property
    def retention_rate(self) -> float:
        return sales.percent(self.returning_customers, self.total_customers)


def realtime(
    store: Store, tenant: Tenant, now: datetime, minutes: int = ACTIVE_MINUTES
) -> Realtime:
    """Active visitors and orders of the last ``minutes``, today's sales, the top pages."""
    if not 1 <= minutes <= MAX_ACTIVE_MINUTES:
        raise ValueError(f"minutes must be 1..{MAX_ACTIVE_MINUTES}, got {minutes!r}")
    end = now + _MS  # inclusive of ``now``
    active = (
        Query.from_table(EVENTS, tenant.id, now - timedelta(minutes=minutes), end)
        .where("is_flagged = 0")
        .select(f"uniqExactIf({VISITOR}, visitor_id != '')", alias="active")
        .select("countIf(event_type = 'purchase')", alias="purchases")
    )
    pages = (
        Query.from_table(EVENTS, tenant.id, now - timedelta(minutes=TOP_PAGES_MINUTES), end)
        .where("is_flagged = 0")
        .where("page_path != ''")
        .where("visitor_id != ''")
        .select("page_path")
        .select(f"uniqExact({VISITOR})", alias="visitors")
        .group_by("page_path")
        .order_by("visitors", "DESC")
        .order_by("page_path")
        .limit(TOP_PAGES_LIMIT)
    )
    today = parse_period({"time_range": "today"}, timezone=tenant.timezone, now=now)
    [row], top, totals = gather(
        lambda: run_rows(store, active),
        lambda: run_rows(store, pages),
        lambda: sales.totals(store, tenant, today),
    )
    return Realtime(
        minutes=minutes,
        active_visitors=int(row["active"]),
        recent_orders=int(row["purchases"]),
        today=today.first_day,
        orders_today=totals.orders,
        revenue_today=totals.revenue,
        top_pages=[PageVisitors(r["page_path"], int(r["visitors"])) for r in top],
    )


def cohort_months(period: Period) -> int:
    """How many acquisition months the customer summary lists for ``period``."""
    spanned = customers.month_index(period.last_day) - customers.month_index(period.first_day) + 1
    return min(max(spanned, MIN_COHORT_MONTHS), customers.MAX_MONTHS)


def customer_summary(store: Store, tenant: Tenant, period: Period) -> CustomerSummary:
    """Customers of ``period`` (total, new, returning, lifetime revenue) and the cohorts."""
    per_user = (
        customers.customer_purchases(tenant, period.end)
        .select(CUSTOMER, alias="customer")
        .select("min(timestamp)", alias="first_at")
        .select("countIf(timestamp >= {start})", alias="in_period", start=period.start)
        .select("sum(revenue)", alias="lifetime")
        .group_by("customer")
    )
    summary = (
        Query.from_query(per_user)
        .where("in_period > 0")
        .select("count()", alias="total")
        .select("countIf(first_at >= {start})", alias="new_users", start=period.start)
        .select("sum(lifetime)", alias="lifetime_sum")
    )
    # The three statements are independent: run them at once.
    now = period.end - _MS  # the last instant of the period: its local month is the newest
    months = cohort_months(period)
    [row], report, retained = gather(
        lambda: run_rows(store, summary),
        lambda: customers.cohorts(store, tenant, months, now),
        lambda: _retained(store, tenant, period, months, now),
    )
    total, new = int(row["total"]), int(row["new_users"])
    return CustomerSummary(
        total_customers=total,
        new_customers=new,
        returning_customers=total - new,
        lifetime_revenue=int(row["lifetime_sum"]),
        cohorts=_cohorts(report, retained),
    )


def _retained(
    store: Store, tenant: Tenant, period: Period, months: int, now: datetime
) -> dict[tuple[int, int], int]:
    """Buyers per (cohort month index, months after it) for the cohorts
    :func:`customers.cohorts` lists for ``months`` up to ``now`` (its oldest month is the
    cutoff), from data up to the period end."""
    tz = ZoneInfo(tenant.timezone)
    oldest = customers.month_of(customers.month_index(now.astimezone(tz).date()) - months + 1)
    per_month = (
        customers.customer_purchases(tenant, period.end)
        .select(CUSTOMER, alias="customer")
        .select(bucket("timestamp", "month", tenant.timezone), alias="purchase_month")
        .group_by("customer", "purchase_month")
    )
    with_cohort = (
        Query.from_query(per_month)
        .select("customer")
        .select("purchase_month")
        .select("min(purchase_month) OVER (PARTITION BY customer)", alias="cohort")
    )
    matrix = (
        Query.from_query(with_cohort)
        .where("cohort >= {cutoff}", cutoff=local_midnight(oldest, tz))
        .where("purchase_month > cohort")
        .select("cohort")
        .select("purchase_month")
        .select("uniqExact(customer)", alias="buyers")
        .group_by("cohort", "purchase_month")
    )
    retained: dict[tuple[int, int], int] = {}
    for row in run_rows(store, matrix):
        cohort = customers.month_index(row["cohort"].astimezone(tz).date())
        offset = customers.month_index(row["purchase_month"].astimezone(tz).date()) - cohort
        retained[cohort, offset] = int(row["buyers"])
    return retained


def _cohorts(
    report: customers.CohortReport, retained: dict[tuple[int, int], int]
) -> list[CoreCohort]:
    """Acquired users from :func:`customers.cohorts`, retained buyers per month offset."""
    newest = customers.month_index(report.cohorts[0].month)
    out = []
    for c in report.cohorts:
        m = customers.month_index(c.month)
        out.append(
            CoreCohort(
                c.month, c.users, [retained.get((m, k), 0) for k in range(1, newest - m + 1)]
            )
        )
    return out
