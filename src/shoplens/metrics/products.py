"""Product reports: top sellers with views and conversion, low stock and inventory alerts.

Definitions (docs/api.md repeats them). Figures are over the period ``[start, end)`` from
``event_items`` and ignore flagged events (``is_flagged = 1``). Money is Int64 minor units
of the tenant's base currency.

- ``revenue``: sum of ``price * quantity`` over the item's ``purchase`` rows;
  ``units_sold``: sum of their quantities; ``orders``: distinct purchase events holding it.
- ``views``: distinct ``view_item`` events holding the item.
- ``conversion_rate``: ``orders / views * 100``, rounded half up to one decimal, 0.0 when
  there were no views (so it can exceed 100 when views are not all tracked).
- top sellers: items with at least one unit sold, by revenue desc, then orders desc, then
  id; ``name`` is the catalog's name when it has one, else the latest non-empty
  ``item_name`` the item's events carried in the period, else "".
- ``velocity``: units sold per day of the period (``units_sold / period.days``), shown to
  one decimal (half up).
- ``days_of_cover``: ``stock / velocity`` (from the unrounded velocity), one decimal; 0.0
  when out of stock, None when the item did not sell in the period (no velocity to divide by).
- low stock: catalog products whose stock is tracked and ``<= threshold`` (default 10),
  ordered by days of cover ascending (None last), then stock, then id. The inventory
  alerts split them into ``out_of_stock`` (stock 0) and ``low_stock`` (the rest).

Sales read the raw ``event_items`` table through the SQL builder (the ``items_hourly``
rollup has neither names nor distinct orders); stock and catalog names come from
:mod:`shoplens.catalog`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from shoplens import catalog
from shoplens.meta import Tenant
from shoplens.metrics import store_reports
from shoplens.metrics.parallel import gather
from shoplens.metrics.period import Period
from shoplens.metrics.sales import one_decimal
from shoplens.metrics.sql import EVENT_ITEMS, Query, Typed, run_rows
from shoplens.metrics.store_reports import ProductStats
from shoplens.store import Store

DEFAULT_LIMIT = 10
MAX_LIMIT = 100
DEFAULT_THRESHOLD = 10


@dataclass(frozen=True)
class StockLevel:
    """A tracked product's stock against its sales in the period."""

    product_id: str
    name: str
    stock: int
    units_sold: int
    days: int

    @property
    def velocity(self) -> float:
        return one_decimal(Decimal(self.units_sold) / self.days)

    @property
    def days_of_cover(self) -> float | None:
        if self.stock <= 0:
            return 0.0
        if not self.units_sold:
            return None
        return one_decimal(Decimal(self.stock) * self.days / self.units_sold)

    def sort_key(self) -> tuple[bool, Decimal, int, str]:
        """Fewest days of cover first (exact, not rounded), no cover last; then stock, id."""
        exact = Decimal(0)
        if self.stock > 0 and self.units_sold:
            exact = Decimal(self.stock) * self.days / self.units_sold
        return (self.days_of_cover is None, exact, self.stock, self.product_id)


def top_sellers(
    store: Store, tenant: Tenant, period: Period, limit: int = DEFAULT_LIMIT
) -> list[ProductStats]:
    """The ``limit`` best-selling items of the period by revenue, with views; names from the
    catalog where it has them, else the latest name seen in events."""
    sold = store_reports.top_products(store, tenant, period, "revenue", limit, sold_only=True)
    known = catalog.names(store, tenant.id, [s.item_id for s in sold])
    return [replace(s, item_name=known.get(s.item_id) or s.item_name) for s in sold]


def stock_levels(
    store: Store, tenant: Tenant, period: Period, threshold: int = DEFAULT_THRESHOLD
) -> list[StockLevel]:
    """Tracked products with stock ``<= threshold``, fewest days of cover first."""
    products = catalog.low_stock(store, tenant.id, threshold)
    if not products:
        return []
    sold = _sales_of(store, tenant, period, [p.product_id for p in products])
    levels = [
        StockLevel(
            product_id=p.product_id,
            name=p.name or sold.get(p.product_id, (0, ""))[1],
            stock=p.stock or 0,
            units_sold=sold.get(p.product_id, (0, ""))[0],
            days=period.days,
        )
        for p in products
    ]
    return sorted(levels, key=StockLevel.sort_key)


def performance(
    store: Store, tenant: Tenant, period: Period, limit: int, threshold: int
) -> tuple[list[ProductStats], list[StockLevel]]:
    """:func:`top_sellers` and :func:`stock_levels` (all of them) at the same time."""
    return gather(
        lambda: top_sellers(store, tenant, period, limit),
        lambda: stock_levels(store, tenant, period, threshold),
    )


def _sales_of(
    store: Store, tenant: Tenant, period: Period, ids: list[str]
) -> dict[str, tuple[int, str]]:
    """Units sold in the period and the latest event name, for the items among ``ids``."""
    q = (
        Query.from_table(EVENT_ITEMS, tenant.id, period.start, period.end)
        .where("is_flagged = 0")
        .where("item_id IN {ids}", ids=Typed(ids, "Array(String)"))
        .select("item_id")
        .select("sumIf(toInt64(event_items.quantity), event_type = 'purchase')", alias="units")
        .select("argMaxIf(item_name, timestamp, item_name != '')", alias="latest_name")
        .group_by("item_id")
    )
    return {row["item_id"]: (int(row["units"]), row["latest_name"]) for row in run_rows(store, q)}
