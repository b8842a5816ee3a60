"""The product report definitions: conversion, velocity, days of cover and their order.

The queries themselves run end to end in tests/api/test_reports_products.py (events through
the ingestion API, catalog through PUT, compared with plain Python).
"""

from __future__ import annotations

import pytest

from shoplens.metrics.products import StockLevel
from shoplens.metrics.store_reports import ProductStats


def level(stock: int, units: int, days: int = 30, product_id: str = "p") -> StockLevel:
    return StockLevel(product_id=product_id, name="", stock=stock, units_sold=units, days=days)


@pytest.mark.parametrize(
    ("orders", "views", "rate"),
    [(2, 3, 66.7), (1, 8, 12.5), (0, 5, 0.0), (3, 0, 0.0), (5, 2, 250.0), (1, 3, 33.3)],
)
def test_conversion_rate_is_orders_over_views_to_one_decimal(
    orders: int, views: int, rate: float
) -> None:
    seller = ProductStats("p", "", revenue=0, units=orders, orders=orders, views=views)
    assert seller.conversion_rate == rate


@pytest.mark.parametrize(
    ("stock", "units", "days", "velocity", "cover"),
    [
        (3, 3, 30, 0.1, 30.0),
        (5, 75, 30, 2.5, 2.0),
        (10, 3, 7, 0.4, 23.3),  # exact 23.33: cover uses the unrounded velocity
        (1, 0, 30, 0.0, None),  # no sales: no cover to compute
        (0, 6, 30, 0.2, 0.0),  # out of stock
        (0, 0, 30, 0.0, 0.0),
        (4, 1, 20, 0.1, 80.0),  # velocity 0.05 shows as 0.1 (half up), cover is still 80
    ],
)
def test_velocity_and_days_of_cover(
    stock: int, units: int, days: int, velocity: float, cover: float | None
) -> None:
    got = level(stock, units, days)
    assert (got.velocity, got.days_of_cover) == (velocity, cover)


def test_levels_sort_by_exact_cover_then_no_cover_last() -> None:
    levels = [
        level(9, 0, product_id="never-sold"),
        level(8, 4, product_id="cover-60"),
        level(0, 0, product_id="out-b"),
        level(3, 3, product_id="cover-30"),
        level(0, 9, product_id="out-a"),
        level(2, 0, product_id="never-sold-low"),
        level(6, 3, product_id="cover-60-less-stock"),
    ]
    ordered = [s.product_id for s in sorted(levels, key=StockLevel.sort_key)]
    assert ordered == [
        "out-a",
        "out-b",
        "cover-30",
        "cover-60-less-stock",
        "cover-60",
        "never-sold-low",
        "never-sold",
    ]
