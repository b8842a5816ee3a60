"""Customers (seed 002): the revenue cohort matrix and one user's event history.

Definitions (docs/api.md repeats them). Flagged events (``is_flagged = 1``) are ignored
everywhere. Money is Int64 minor units of the tenant's base currency.

Cohorts (:func:`cohorts`):

- A customer is a user: a purchase's ``user_id``, or for an anonymous purchase the user its
  visitor is linked to (identify, alias, or any event carrying both ids:
  :mod:`shoplens.metrics.identity`). Purchases of visitors never linked to a user (guest
  checkouts) belong to no cohort and count nowhere in this report.
- A user's cohort is the local month (tenant time zone) of their first unflagged
  ``purchase`` ever: all stored data is read, from 1970-01-01 up to ``now``, not a window.
- The report covers the ``months`` cohorts ending with the current local month (newest
  first), every month listed even when nobody was acquired in it (``users`` 0).
- ``revenue_by_month[k]``: the sum of ``purchase`` revenue the cohort's users made in the
  k-th local month after their cohort month (0 = the acquisition month). Gross: refunds
  are not subtracted (and ``spend_credits`` is not revenue). Keys run from 0 up to the
  current month, zero-filled, so the matrix is a triangle.
- ``total_purchasing_users``: the users of the listed cohorts (sum of ``users``).
- ``avg_ltv``: all purchase revenue (to date) of those users / ``total_purchasing_users``,
  i.e. the sum of the matrix over its users, rounded half up to a minor unit; 0 when there
  are no users.
- With a ``window`` (seed 002's ``days``/``start``/``end``): the report is as of the window's
  last local day (cohort months end with its month; later purchases are not read) and
  ``revenue_by_month`` counts only purchases inside the window. Cohort membership and
  ``users`` still come from each user's first purchase ever, so a cohort acquired before the
  window keeps its users and shows the revenue they made in the window.

User journey (:func:`user_journey`): the user's newest :data:`JOURNEY_LIMIT` unflagged
events — those carrying the user id and the anonymous ones of the visitors linked to the
user (:mod:`shoplens.metrics.identity`) — of any type, all time up to ``now`` + 1 day (as
ingestion accepts timestamps up to 24 hours ahead; with a ``window``, inside it), oldest
first; ties on the timestamp are ordered by ``event_id`` (as text). Each event carries its
``event_items`` rows (in item order) and its transaction id and revenue where the event type
has them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from shoplens.ingest.event import ECOMMERCE_TYPES
from shoplens.meta import Tenant
from shoplens.metrics.identity import CUSTOMER, linked_visitors, with_links
from shoplens.metrics.period import Period, local_midnight
from shoplens.metrics.sales import round_half_up
from shoplens.metrics.sql import EPOCH, EVENT_ITEMS, EVENTS, Query, bucket, run_rows
from shoplens.store import Store

DEFAULT_MONTHS = 6
MAX_MONTHS = 36
JOURNEY_LIMIT = 1000
_MS = timedelta(milliseconds=1)
# Event types whose revenue is part of the event (the ones ingestion requires it for).
_REVENUE_TYPES = frozenset(name for name, t in ECOMMERCE_TYPES.items() if t.requires_revenue)


@dataclass(frozen=True)
class Cohort:
    """One acquisition month: its users and their revenue by month offset (minor units)."""

    month: date  # the first day of the local month
    users: int
    revenue_by_month: list[int]  # index k = k months after ``month``


@dataclass(frozen=True)
class CohortReport:
    cohorts: list[Cohort]  # newest first

    @property
    def total_purchasing_users(self) -> int:
        return sum(c.users for c in self.cohorts)

    @property
    def total_revenue(self) -> int:
        return sum(sum(c.revenue_by_month) for c in self.cohorts)

    @property
    def avg_ltv(self) -> int:
        """Revenue per purchasing user of the listed cohorts, half up; 0 without users."""
        users = self.total_purchasing_users
        return round_half_up(Decimal(self.total_revenue) / users, 0) if users else 0


@dataclass(frozen=True)
class JourneyItem:
    item_id: str
    item_name: str


@dataclass(frozen=True)
class JourneyEvent:
    event_id: str
    event_type: str
    timestamp: datetime  # aware, UTC
    transaction_id: str
    revenue: int | None  # minor units; None for event types without revenue
    items: list[JourneyItem] = field(default_factory=list)


def month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


def month_of(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


def customer_purchases(tenant: Tenant, end: datetime) -> Query:
    """Unflagged purchases by identified customers over all history before ``end``: the
    base of every customer report (cohorts, LTV, retention, RFM). The customer is the
    purchase's ``user_id``, else the user its anonymous visitor is linked to
    (:mod:`shoplens.metrics.identity`); select it as ``customer_purchases(…).select(CUSTOMER,
    alias="customer")``. Purchases of visitors never linked to a user are left out."""
    return (
        with_links(Query.from_table(EVENTS, tenant.id, EPOCH, end))
        .where("is_flagged = 0")
        .where("event_type = 'purchase'")
        .where(f"{CUSTOMER} != ''")
    )


def cohorts(
    store: Store, tenant: Tenant, months: int, now: datetime, window: Period | None = None
) -> CohortReport:
    """The last ``months`` cohorts up to ``now``'s local month (with a ``window``: up to its
    last local month, counting only the revenue inside it), newest first."""
    if not 1 <= months <= MAX_MONTHS:
        raise ValueError(f"months must be 1..{MAX_MONTHS}, got {months!r}")
    tz = ZoneInfo(tenant.timezone)
    end = window.end if window else now
    current = month_index(window.last_day if window else now.astimezone(tz).date())
    first = current - months + 1
    # Per user and local month: their purchase revenue (guests and flagged rows left out).
    # Every month a user bought in is a row (the cohort is their first), while the revenue
    # counted is the window's.
    per_month = (
        customer_purchases(tenant, end)
        .select(CUSTOMER, alias="customer")
        .select(bucket("timestamp", "month", tenant.timezone), alias="purchase_month")
        .select(
            "sumIf(revenue, timestamp >= {window_start})",
            alias="month_revenue",
            window_start=window.start if window else EPOCH,
        )
        .group_by("customer", "purchase_month")
    )
    # Each row learns its user's first purchase month (the cohort).
    with_cohort = (
        Query.from_query(per_month)
        .select("customer")
        .select("purchase_month")
        .select("month_revenue")
        .select("min(purchase_month) OVER (PARTITION BY customer)", alias="cohort")
    )
    cutoff = local_midnight(month_of(first), tz)
    matrix = (
        Query.from_query(with_cohort)
        .where("cohort >= {cutoff}", cutoff=cutoff)
        .select("cohort")
        .select("purchase_month")
        .select("uniqExact(customer)", alias="buyers")
        .select("sum(month_revenue)", alias="revenue_sum")
        .group_by("cohort", "purchase_month")
    )
    users: dict[int, int] = {}
    revenue: dict[tuple[int, int], int] = defaultdict(int)
    for row in run_rows(store, matrix):
        cohort = month_index(row["cohort"].astimezone(tz).date())
        offset = month_index(row["purchase_month"].astimezone(tz).date()) - cohort
        if offset == 0:  # every user buys in their cohort month: its buyers are the cohort
            users[cohort] = int(row["buyers"])
        revenue[cohort, offset] += int(row["revenue_sum"])
    return CohortReport(
        [
            Cohort(
                month=month_of(m),
                users=users.get(m, 0),
                revenue_by_month=[revenue.get((m, k), 0) for k in range(current - m + 1)],
            )
            for m in range(current, first - 1, -1)
        ]
    )


def user_journey(
    store: Store,
    tenant: Tenant,
    user_id: str,
    now: datetime,
    limit: int = JOURNEY_LIMIT,
    window: Period | None = None,
) -> list[JourneyEvent]:
    """``user_id``'s newest ``limit`` unflagged events (their own and their linked anonymous
    visitors'; all history, or inside ``window``) with their items, oldest first."""
    start, end = (window.start, window.end) if window else (EPOCH, now + timedelta(days=1))
    q = (
        Query.from_table(EVENTS, tenant.id, start, end)
        .where("is_flagged = 0")
        .where(
            "user_id = {user_id} OR (user_id = '' AND visitor_id IN {anonymous})",
            user_id=user_id,
            anonymous=linked_visitors(tenant.id, user_id),
        )
        .select("toString(event_id)", alias="event_key")
        .select("event_type")
        .select("timestamp")
        .select("transaction_id")
        .select("revenue")
        .order_by("timestamp", "DESC")
        .order_by("event_key", "DESC")
        .limit(limit)
    )
    rows = list(reversed(run_rows(store, q)))
    if not rows:
        return []
    items: dict[str, list[JourneyItem]] = defaultdict(list)
    item_query = (
        Query.from_table(EVENT_ITEMS, tenant.id, rows[0]["timestamp"], rows[-1]["timestamp"] + _MS)
        .where("is_flagged = 0")
        .where("toString(event_id) IN {event_keys}", event_keys=[row["event_key"] for row in rows])
        .select("toString(event_id)", alias="event_key")
        .select("item_index")
        .select("item_id")
        .select("item_name")
        .order_by("event_key")
        .order_by("item_index")
    )
    for row in run_rows(store, item_query):
        items[row["event_key"]].append(JourneyItem(row["item_id"], row["item_name"]))
    return [
        JourneyEvent(
            event_id=row["event_key"],
            event_type=row["event_type"],
            timestamp=row["timestamp"].astimezone(UTC),
            transaction_id=row["transaction_id"],
            revenue=int(row["revenue"]) if row["event_type"] in _REVENUE_TYPES else None,
            items=items.get(row["event_key"], []),
        )
        for row in rows
    ]
