"""Rounding and percentages shared by every report: half up, one decimal, 0 on empty.

Its own module (re-exported by :mod:`shoplens.metrics.sales`, where it used to live) so that
report modules which ``sales`` itself builds on (the funnel's cart definition) can use it
without an import cycle.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

__all__ = ["one_decimal", "percent", "round_half_up"]


def round_half_up(value: Decimal, digits: int) -> int:
    """``value`` rounded half up to ``digits`` decimals, as int (digits=0)."""
    return int(value.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def one_decimal(value: Decimal) -> float:
    """``value`` rounded half up to one decimal, as the float a response carries."""
    return float(value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def percent(part: int, whole: int) -> float:
    """``part / whole * 100`` rounded half up to one decimal; 0.0 when ``whole`` is 0."""
    return one_decimal(Decimal(part) * 100 / whole) if whole else 0.0
