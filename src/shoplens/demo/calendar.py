"""When the demo shop is visited: hourly traffic weights over the window.

Traffic is the product of: a growth trend, the weekday, the hour of day (in the shop's
time zone; evenings peak, weekends start later), a little day-to-day noise, sales (a few
days every 4-7 weeks, with their own coupon) and the weekly newsletter's bump.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS

# Relative traffic per local hour on weekdays and weekends.
WEEKDAY_HOURS = (0.35, 0.22, 0.15, 0.11, 0.1, 0.14, 0.28, 0.5, 0.7, 0.82, 0.9, 0.95, 1.0, 0.98,
                 0.94, 0.92, 0.94, 1.0, 1.1, 1.25, 1.38, 1.32, 1.05, 0.66)  # fmt: skip
WEEKEND_HOURS = (0.45, 0.3, 0.2, 0.13, 0.1, 0.11, 0.16, 0.28, 0.45, 0.7, 0.92, 1.08, 1.15, 1.15,
                 1.12, 1.08, 1.05, 1.05, 1.1, 1.2, 1.28, 1.2, 0.98, 0.68)  # fmt: skip
WEEKDAYS = (1.06, 1.03, 1.0, 0.99, 0.93, 0.88, 1.04)  # Monday first
# Sales by month: campaign name, coupon code, percent off.
SALES = {
    1: ("new-year-sale", "NEWYEAR20", 20), 2: ("valentines-edit", "LOVE15", 15),
    3: ("spring-sale", "SPRING20", 20), 4: ("spring-sale", "SPRING20", 20),
    5: ("mothers-day", "MOM15", 15), 6: ("summer-sale", "SUMMER25", 25),
    7: ("summer-sale", "SUMMER25", 25), 8: ("back-to-school", "BTS15", 15),
    9: ("fall-edit", "FALL20", 20), 10: ("fall-edit", "FALL20", 20),
    11: ("black-friday", "BFCM30", 30), 12: ("holiday-gift-guide", "HOLIDAY20", 20),
}  # fmt: skip
NEWSLETTER_WEEKDAY = 1  # Tuesday, 10:00 local


@dataclass(frozen=True)
class Sale:
    campaign: str
    coupon: str
    percent: int
    start: int  # epoch ms
    end: int


@dataclass(frozen=True, slots=True)
class Hour:
    start: int  # epoch ms, inclusive
    end: int  # epoch ms, exclusive
    weight: float
    month: int  # local
    sale: Sale | None
    newsletter: str  # the latest newsletter's campaign, within its three days
    email_boost: float  # multiplier on the email share of sessions


def growth_rate(days: int) -> float:
    """Daily growth: ~10% a month, at most 2.5x over the whole window."""
    return min(math.log(1.10) / 30, math.log(2.5) / max(days, 1))


def plan_sales(start: int, end: int, tz: tzinfo, rng: random.Random) -> list[Sale]:
    sales: list[Sale] = []
    day = datetime.fromtimestamp(start / 1000, tz).date() + timedelta(days=rng.randint(5, 20))
    while True:
        begin = _local_ms(day, tz)
        if begin >= end:
            return sales
        campaign, coupon, percent = SALES[day.month]
        length = rng.choice((3, 4))
        sales.append(Sale(campaign, coupon, percent, begin, _local_ms(day + timedelta(length), tz)))
        day += timedelta(days=rng.randint(30, 50))


def _local_ms(day: date, tz: tzinfo, hour: int = 0) -> int:
    return int(datetime(day.year, day.month, day.day, hour, tzinfo=tz).timestamp() * 1000)


def hours(start: int, end: int, tz: tzinfo, rng: random.Random) -> list[Hour]:
    """The window [start, end) in UTC-aligned hours, each with its traffic weight."""
    sales = plan_sales(start, end, tz, rng)
    rate = growth_rate(round((end - start) / DAY_MS))
    out: list[Hour] = []
    noise: dict[date, float] = {}
    newsletter, sent = "", -1
    t = start
    while t < end:
        stop = min(end, (t // HOUR_MS + 1) * HOUR_MS)
        local = datetime.fromtimestamp(t / 1000, tz)
        day = local.date()
        if day not in noise:
            noise[day] = rng.lognormvariate(0, 0.08)
        weekday = local.weekday()
        if weekday == NEWSLETTER_WEEKDAY and local.hour == 10:
            newsletter, sent = f"newsletter-{day.isoformat()}", t
        since = (t - sent) / HOUR_MS
        boost = 1 + 3 * math.exp(-since / 12) if sent >= 0 and since < 72 else 1.0
        if boost == 1.0:
            newsletter = ""
        sale = next((s for s in sales if s.start <= t < s.end), None)
        curve = WEEKEND_HOURS if weekday >= 5 else WEEKDAY_HOURS
        weight = (
            (stop - t) / HOUR_MS
            * math.exp(rate * (t - start) / DAY_MS)
            * WEEKDAYS[weekday]
            * curve[local.hour]
            * noise[day]
            * (1.5 if sale else 1.0)
            * (1 + 0.09 * (boost - 1))
        )  # fmt: skip
        out.append(Hour(t, stop, weight, local.month, sale, newsletter, boost))
        t = stop
    return out


class IsoClock:
    """Epoch ms → ``2026-01-15T10:35:07.123Z``, caching the date-hour-minute part."""

    def __init__(self) -> None:
        self._minutes: dict[int, str] = {}

    def __call__(self, ms: int) -> str:
        minute, rest = divmod(ms, 60_000)
        prefix = self._minutes.get(minute)
        if prefix is None:
            if len(self._minutes) > 50_000:
                self._minutes.clear()
            stamp = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(minutes=minute)
            prefix = self._minutes[minute] = stamp.strftime("%Y-%m-%dT%H:%M:")
        return f"{prefix}{rest // 1000:02d}.{rest % 1000:03d}Z"
