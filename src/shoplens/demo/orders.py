"""What an order costs: coupons, shipping and tax, all in minor units of the base currency.

``revenue = items - discount + shipping + tax``, exactly, so every report can re-add it.
Shipping is free over a threshold (higher abroad), tax is the buyer's country's rate, and
coupons follow who buys when: the running sale's code, WELCOME15 on first orders, SAVE10
from emails, VIP20 for loyal customers, now and then FREESHIP.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from shoplens.demo.audience import Country
from shoplens.demo.calendar import Sale
from shoplens.demo.catalog import USD_RATES, nice_price
from shoplens.ingest.money import exponent

REFUND_REASONS = ("wrong_size", "changed_mind", "damaged", "not_as_described", "late_delivery")


def round_amount(usd: float, currency: str) -> int:
    """A round amount (a threshold, a credit) in minor units: $75, ¥11,000."""
    major = usd * USD_RATES.get(currency, 1.0)
    step = 10 ** max(0, math.floor(math.log10(major)) - 1)
    return int(round(major / step) * step) * 10 ** exponent(currency)


@dataclass(frozen=True)
class Order:
    subtotal: int
    coupon: str
    discount: int
    shipping: int
    tax: int

    @property
    def revenue(self) -> int:
        return self.subtotal - self.discount + self.shipping + self.tax


class Pricing:
    def __init__(self, currency: str, home: str, rng: random.Random) -> None:
        self.digits = exponent(currency)
        self.home = home
        self.shipping = nice_price(6, currency, rng)
        self.express = nice_price(14, currency, rng)
        self.abroad = nice_price(19, currency, rng)
        self.free_over = round_amount(75, currency)
        self.free_over_abroad = round_amount(150, currency)
        self.credits = (round_amount(5, currency), round_amount(10, currency))

    def major(self, minor: int) -> float | int:
        """Minor units → the decimal the ecommerce format sends (49.99; whole yen)."""
        # TRICKY: int / 10**n is the double nearest the decimal, whose shortest repr (what
        # msgspec writes) is that decimal, so 4999 → 49.99 exactly.
        return minor / 10**self.digits if self.digits else minor

    def order(
        self,
        rng: random.Random,
        subtotal: int,
        *,
        country: Country,
        sale: Sale | None,
        orders_before: int,
        from_email: bool,
    ) -> Order:
        r = rng.random()
        percent, coupon, free_shipping = 0, "", False
        if sale and r < 0.55:
            coupon, percent = sale.coupon, sale.percent
        elif orders_before == 0 and r < 0.18:
            coupon, percent = "WELCOME15", 15
        elif from_email and r < 0.3:
            coupon, percent = "SAVE10", 10
        elif orders_before >= 3 and r < 0.15:
            coupon, percent = "VIP20", 20
        elif r < 0.05:
            coupon, percent = "SAVE10", 10
        elif r < 0.08:
            coupon, free_shipping = "FREESHIP", True
        discount = subtotal * percent // 100
        domestic = country.code == self.home
        if free_shipping or subtotal - discount >= (
            self.free_over if domestic else self.free_over_abroad
        ):
            shipping = 0
        elif not domestic:
            shipping = self.abroad
        else:
            shipping = self.express if rng.random() < 0.12 else self.shipping
        tax = round((subtotal - discount) * country.tax_rate)
        return Order(subtotal, coupon, discount, shipping, tax)
