"""Visits to the demo shop, step by step, with the state later visits need.

A visit lands on a page from a traffic source, may bounce, browses (searches, collections,
products, wishlist, shares), may fill a cart and walk the checkout funnel, and may end in
an order — with an account created or logged into, and sometimes a refund weeks later.

Propensities are chosen to land near common e-commerce figures: ~25-30% of sessions that
view a product add one to the cart, ~2/3 of carts are abandoned, ~4% of orders are
refunded; desktops, email and returning customers convert better than phones and social.
"""

from __future__ import annotations

import contextlib
import heapq
import random
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from shoplens.demo.audience import (
    CAMPAIGNS,
    HOME_MARKET,
    PAYMENT_TYPES,
    SEASONS,
    SOURCE_INDEX,
    SOURCES,
    Audience,
    Source,
    mix,
    pick,
)
from shoplens.demo.calendar import DAY_MS, HOUR_MS, Hour, IsoClock
from shoplens.demo.catalog import CATEGORIES, COLLECTIONS, Catalog, Product, slugify
from shoplens.demo.orders import REFUND_REASONS, Pricing
from shoplens.demo.visit import ECOMMERCE, CartLine, Event, Site, Visit, VisitOver

SECOND_DEVICE = 0x5A5A_0000_0000  # xor'd into a customer's key: their other device
PAYMENT_CUM = list(accumulate(float(w) for _, w in PAYMENT_TYPES))
DEVICE_CONVERSION = {"desktop": 1.35, "tablet": 1.1, "mobile": 0.8}
DEVICE_CHECKOUT = {"desktop": 1.15, "tablet": 1.0, "mobile": 0.85}
SHARE_METHODS = ("copy_link", "whatsapp", "facebook", "pinterest", "email")
AD_FORMATS = ("carousel", "video-15s", "story", "static")
CATEGORY_SLUGS = {category.name: slugify(category.name) for category in CATEGORIES}


def query_value(text: str) -> str:
    return text.replace(" ", "+").replace("&", "%26")


@dataclass(eq=False)
class Account:
    user_id: str
    key: int  # the visitor key of their usual device
    orders: int = 0
    last_items: tuple[Product, ...] = ()


class Shop:
    """Generates visits; keeps only what later visits need (accounts, a ring of recent
    visitors, refunds not yet due), so memory stays flat however many events are made."""

    def __init__(
        self,
        catalog: Catalog,
        audience: Audience,
        rng: random.Random,
        *,
        currency: str,
        domain: str,
        until: int,
        accounts: int,
        recent: int,
    ) -> None:
        self.catalog = catalog
        self.audience = audience
        self.rng = rng
        self.currency = currency
        self.site = Site(f"https://www.{domain}", until, IsoClock())
        self.pricing = Pricing(currency, HOME_MARKET.get(currency, "US"), rng)
        self.session_salt = rng.getrandbits(64)
        self.order_salt = rng.getrandbits(64)
        self.accounts: list[Account] = []
        self.account_of: dict[int, Account] = {}
        self.recent: list[int] = []
        self.recent_size = recent
        self.recent_pos = 0
        self.visitors = self.sessions = self.orders = 0
        self.refunds: list[tuple[int, int, dict[str, Any]]] = []
        self.hour: Hour | None = None
        self.source_cum: list[float] = []
        for _ in range(accounts):  # customers from before the window
            account = self._new_account(self._new_visitor())
            account.orders = 1 + int(rng.expovariate(1.2))
            account.last_items = (catalog.popular(rng),)

    # who, from where ----------------------------------------------------------------
    def set_hour(self, hour: Hour) -> None:
        self.hour = hour
        weights = [s.weight for s in SOURCES]
        weights[SOURCE_INDEX["email"]] *= hour.email_boost * (1.3 if hour.sale else 1.0)
        if hour.sale:
            weights[SOURCE_INDEX["paid_social"]] *= 1.6
        self.source_cum = list(accumulate(weights))

    def _new_visitor(self) -> int:
        key = self.visitors
        self.visitors += 1
        if len(self.recent) < self.recent_size:
            self.recent.append(key)
        else:
            self.recent[self.recent_pos] = key
            self.recent_pos = (self.recent_pos + 1) % self.recent_size
        return key

    def _new_account(self, key: int) -> Account:
        account = Account(f"user_{1001 + len(self.accounts)}", key)
        self.accounts.append(account)
        self.account_of[key] = account
        return account

    def _returning_account(self) -> Account:
        """A customer, recently active ones likelier; the one picked becomes most recent."""
        accounts = self.accounts
        last = len(accounts) - 1
        i = last - int(len(accounts) * self.rng.random() ** 2.5)
        accounts[i], accounts[last] = accounts[last], accounts[i]
        return accounts[last]

    def _returning_visitor(self) -> int:
        n = len(self.recent)
        newest = (self.recent_pos - 1) % n if n == self.recent_size else n - 1
        return self.recent[(newest - int(n * self.rng.random() ** 2)) % n]

    def _campaign(self, source: Source, hour: Hour) -> tuple[dict[str, str] | None, str]:
        """utm tags (as ecommerce ``properties``) and the landing page's query string."""
        if not source.utm:
            return None, ""
        rng = self.rng
        utm_source, medium = source.utm[int(rng.random() * len(source.utm))]
        if medium == "email" and hour.newsletter and rng.random() < 0.8:
            name = hour.newsletter
        elif hour.sale and medium in ("email", "paid_social") and rng.random() < 0.6:
            name = hour.sale.campaign
        else:
            name = rng.choice(CAMPAIGNS[medium])
        if "{" in name:
            category = rng.choice(self.catalog.products).category
            slug, season = CATEGORY_SLUGS[category.name], SEASONS[hour.month - 1]
            name = name.format(category=slug, season=season)
        query = f"?utm_source={utm_source}&utm_medium={medium}&utm_campaign={name}"
        if medium == "cpc":
            query += f"&utm_term={query_value(self.catalog.search_term(rng)[0])}"
        elif medium == "paid_social":
            query += f"&utm_content={rng.choice(AD_FORMATS)}"
        return {"source": utm_source, "medium": medium, "campaign": name}, query

    # the visit ----------------------------------------------------------------------
    def visit(self, start: int) -> list[Event]:
        """The events of one session starting at ``start`` (cut off at the window end)."""
        rng, hour = self.rng, self.hour
        assert hour is not None, "set_hour() first"
        self.sessions += 1
        r = rng.random()
        account: Account | None = None
        logged_in = False
        if self.accounts and r < 0.2:
            account = self._returning_account()
            key = account.key if rng.random() < 0.7 else account.key ^ SECOND_DEVICE
            logged_in = rng.random() < 0.85
        elif self.recent and r < 0.45:
            key = self._returning_visitor()
            account = self.account_of.get(key)
        else:
            key = self._new_visitor()
        source = SOURCES[pick(rng, self.source_cum)]
        campaign, query = self._campaign(source, hour)
        v = Visit(
            self.site,
            rng,
            start,
            self.audience.visitor(key),
            f"{mix(self.session_salt + self.sessions):016x}",
            account.user_id if account and logged_in else "",
            campaign,
            rng.choice(source.referrers),
        )
        with contextlib.suppress(VisitOver):
            self._browse(v, hour, source, account, query)
        return v.out

    def _land(self, v: Visit, hour: Hour, source: Source, query: str) -> Product | None:
        rng = self.rng
        home, collection, _ = source.landing
        r = rng.random()
        if v.campaign and hour.sale and v.campaign["campaign"] == hour.sale.campaign:
            v.page("/collections/sale", query)
        elif r < home:
            v.page("/", query)
        elif r < home + collection:
            category = rng.choice(self.catalog.products).category
            v.page(f"/collections/{CATEGORY_SLUGS[category.name]}", query)
        else:
            product = self.catalog.popular(rng)
            v.page(product.path, query)
            v.wait(1500)
            v.ecommerce("view_item", {"items": [product.item]})
            return product
        return None

    def _browse(
        self, v: Visit, hour: Hour, source: Source, account: Account | None, query: str
    ) -> None:
        rng, catalog = self.rng, self.catalog
        device = v.visitor.device.kind
        last = self._land(v, hour, source, query)
        if rng.random() < source.bounce * (1.15 if device == "mobile" else 0.9):
            return
        propensity = source.conversion * DEVICE_CONVERSION[device] * (1.3 if hour.sale else 1.0)
        if account is not None:
            propensity *= 1.7 if v.user else 1.2
        add_rate = 0.12 * propensity
        if account is not None and not v.user and rng.random() < 0.5:
            v.wait(20_000)
            v.page("/account/login")
            v.user = account.user_id
            v.core("login", {"method": "password"})
        if v.user and account and account.last_items and rng.random() < 0.06:
            self._rate(v, rng.choice(account.last_items))
        searched = False
        listed = ""
        for _ in range(1 + min(30, int(rng.expovariate(1 / 3.2)))):
            v.wait(35_000)
            r = rng.random()
            if r < 0.12 and not searched:
                searched, listed = True, "Search Results"
                last = self._search(v)
                continue
            if r < 0.3:
                if rng.random() < 0.25:
                    collection = "sale" if hour.sale else rng.choice(COLLECTIONS)
                    v.page(f"/collections/{collection}")
                    listed = collection.replace("-", " ").title()
                else:
                    category = rng.choice(catalog.products).category
                    v.page(f"/collections/{CATEGORY_SLUGS[category.name]}")
                    listed = category.name
                continue
            if last is not None and r < 0.55:
                related = catalog.complements[last.index]
                product = rng.choice(related) if related and r < 0.4 else None
                product = product or catalog.in_category(last.category.name, rng)
                listed = "You May Also Like"
            else:
                product = catalog.popular(rng)
            last = product
            v.page(product.path)
            v.wait(1500)
            item = {**product.item, "item_list_name": listed} if listed else product.item
            v.ecommerce("view_item", {"items": [item]})
            listed = ""
            r = rng.random()
            if r < min(0.6, add_rate * product.appeal):
                v.wait(25_000)
                self._add_to_cart(v, product)
            elif r > 0.96:
                v.wait(8_000)
                v.ecommerce("add_to_wishlist", {"items": [product.item]})
            elif r > 0.95:
                v.wait(8_000)
                method = rng.choice(SHARE_METHODS)
                v.ecommerce(
                    "share", {"properties": v.props(item_id=product.item_id, method=method)}
                )
        if v.cart:
            self._checkout(v, hour, account)

    def _search(self, v: Visit) -> Product:
        rng = self.rng
        term, category = self.catalog.search_term(rng)
        v.page("/search", f"?q={query_value(term)}")
        results = 1 + int(rng.expovariate(1 / 14))
        v.ecommerce("search", {"properties": v.props(search_term=term, results=str(results))})
        return self.catalog.in_category(category.name, rng)

    def _rate(self, v: Visit, product: Product) -> None:
        rating = ("5", "5", "5", "4", "4", "3", "2", "1")[int(self.rng.random() * 8)]
        v.wait(20_000)
        v.page(product.path, "#reviews")
        v.wait(30_000)
        v.ecommerce("rate", {"properties": v.props(item_id=product.item_id, rating=rating)})

    def _add_to_cart(self, v: Visit, product: Product) -> None:
        rng = self.rng
        cheap = product.price * 3 < self.pricing.free_over
        r = rng.random()
        quantity = 3 if r < (0.05 if cheap else 0.01) else 2 if r < (0.25 if cheap else 0.08) else 1
        line = CartLine(product, product.variant(rng), quantity)
        v.cart.append(line)
        v.ecommerce("add_to_cart", {"items": [line.item()], "cart_id": v.cart_id})
        related = self.catalog.complements[product.index]
        if related and rng.random() < 0.3:  # a complement catches the eye
            other = rng.choice(related)
            v.wait(20_000)
            v.page(other.path)
            v.wait(1500)
            listed = {**other.item, "item_list_name": "Frequently Bought Together"}
            v.ecommerce("view_item", {"items": [listed]})
            if rng.random() < 0.35:
                v.wait(20_000)
                self._add_to_cart(v, other)

    def _checkout(self, v: Visit, hour: Hour, account: Account | None) -> None:
        rng = self.rng
        viewed = rng.random() < 0.8
        if viewed or (len(v.cart) > 1 and rng.random() < 0.15):
            v.wait(30_000)
            v.page("/cart")
            v.wait(1000)
            v.ecommerce("view_cart", {"items": v.cart_items(), "cart_id": v.cart_id})
            if rng.random() < (0.2 if len(v.cart) > 1 else 0.06):
                line = v.cart.pop(int(rng.random() * len(v.cart)))
                v.wait(8_000)
                v.ecommerce("remove_from_cart", {"items": [line.item()], "cart_id": v.cart_id})
                if not v.cart:
                    return
        go = (0.52 if viewed else 0.25) * DEVICE_CHECKOUT[v.visitor.device.kind]
        go *= (1.2 if v.user else 1.0) * (1.1 if hour.sale else 1.0)
        if rng.random() >= min(go, 0.95):
            return
        items = v.cart_items()
        v.wait(15_000)
        v.page("/checkout")
        v.wait(1000)
        v.ecommerce("begin_checkout", {"items": items, "cart_id": v.cart_id})
        if not v.user:
            if account is not None and rng.random() < 0.7:
                v.user = account.user_id
                v.wait(20_000)
                v.core("login", {"method": "checkout"})
            elif account is None and rng.random() < 0.75:
                account = self._new_account(v.visitor.key)
                v.user = account.user_id
                v.wait(40_000)
                v.core("sign_up", {"method": "checkout"})
        if rng.random() >= 0.8:
            return
        payment = PAYMENT_TYPES[pick(rng, PAYMENT_CUM)][0]
        if payment == "apple_pay" and v.visitor.device.os != "ios":
            payment = "google_pay" if v.visitor.device.os == "android" else "credit_card"
        v.wait(50_000)
        v.page("/checkout/payment")
        v.wait(20_000)
        v.ecommerce("add_payment_info", {"properties": v.props(payment_type=payment)})
        if rng.random() >= 0.85:
            return
        if v.user and account and account.orders >= 1 and rng.random() < 0.06:
            credits = rng.choice(self.pricing.credits)
            v.wait(5_000)
            fields = {"revenue": self.pricing.major(credits), "currency": self.currency}
            v.ecommerce("spend_credits", fields)
        v.wait(25_000)
        self._purchase(v, hour, account, items, payment)

    def _purchase(
        self,
        v: Visit,
        hour: Hour,
        account: Account | None,
        items: list[dict[str, Any]],
        payment: str,
    ) -> None:
        rng, major = self.rng, self.pricing.major
        order = self.pricing.order(
            rng,
            sum(line.product.price * line.quantity for line in v.cart),
            country=v.visitor.country,
            sale=hour.sale,
            orders_before=account.orders if account else 0,
            from_email=bool(v.campaign and v.campaign["medium"] == "email"),
        )
        transaction_id = f"order_{mix(self.order_salt + self.orders):016x}"
        self.orders += 1
        v.page("/checkout/thank-you", f"?order={transaction_id}")
        fields: dict[str, Any] = {
            "transaction_id": transaction_id,
            "revenue": major(order.revenue),
            "currency": self.currency,
            "cart_id": v.cart_id,
            "shipping": major(order.shipping),
            "tax": major(order.tax),
            "items": items,
            "properties": v.props(payment_type=payment),
        }
        if order.coupon:
            fields["coupon_code"] = order.coupon
            fields["discount"] = major(order.discount)
        v.ecommerce("purchase", fields)
        if account is not None:
            account.orders += 1
            account.last_items = tuple(line.product for line in v.cart)
        if rng.random() < max(line.product.category.refund_rate for line in v.cart):
            at = v.t + int(rng.uniform(2, 21) * DAY_MS) + rng.randrange(HOUR_MS)
            if at < self.site.until:  # else: not refunded yet
                refund = {
                    "event_type": "refund",
                    "transaction_id": transaction_id,
                    "revenue": major(order.revenue),
                    "currency": self.currency,
                    "anonymous_id": v.visitor.anonymous_id,
                    "items": items,
                    "timestamp": self.site.iso(at),
                    "properties": {"reason": rng.choice(REFUND_REASONS)},
                }
                if v.user:
                    refund["user_id"] = v.user
                heapq.heappush(self.refunds, (at, self.orders, refund))

    def due_refunds(self, before: int) -> list[Event]:
        """Refunds (sent by the shop's server, weeks after the order) due before ``before``."""
        due: list[Event] = []
        while self.refunds and self.refunds[0][0] < before:
            due.append((ECOMMERCE, heapq.heappop(self.refunds)[2]))
        return due
