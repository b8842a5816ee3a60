"""Parsing custom funnel steps, windows and orders: values out, 400s naming the field."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from shoplens.errors import BadRequest
from shoplens.metrics.funnel import Step, StepFilter
from shoplens.metrics.funnel_steps import (
    parse_order,
    parse_step_list,
    parse_steps_text,
    parse_window,
    window_text,
)


def test_text_steps_resolve_every_wire_formats_names() -> None:
    steps = parse_steps_text("product_view, Product Added ,order_completed,pageview", "steps")
    assert steps is not None
    assert [s.event_type for s in steps] == ["view_item", "add_to_cart", "purchase", "page_view"]
    assert [s.name for s in steps] == [
        "product_view",
        "Product Added",
        "order_completed",
        "pageview",
    ]
    assert parse_steps_text(None, "steps") is None and parse_steps_text(" ", "steps") is None


def test_text_filters_columns_dimensions_and_properties() -> None:
    steps = parse_steps_text(
        "page_view:page_path=/pricing;source=google,video:play:properties.plan!=a=b", "steps"
    )
    assert steps == (
        Step(
            "page_view:page_path=/pricing;source=google",
            "page_view",
            (
                StepFilter("page_path", "/pricing", column="page_path"),
                StepFilter("source", "google", column="utm_source"),
            ),
        ),
        # the event type keeps its ":"; the value keeps its "="
        Step(
            "video:play:properties.plan!=a=b",
            "video:play",
            (StepFilter("properties.plan", "a=b", prop="plan", negate=True),),
        ),
    )


def test_json_steps_are_strings_or_objects() -> None:
    steps = parse_step_list(
        [
            "view_item",
            {"event": "page_view", "where": {"page": "/a,b;c", "properties.x": {"not": "1"}}},
            {"event": "order_completed", "name": "Bought"},
        ],
        "funnel.steps",
    )
    assert steps[1] == Step(
        "page_view",
        "page_view",
        (
            StepFilter("page", "/a,b;c", column="page_path"),
            StepFilter("properties.x", "1", prop="x", negate=True),
        ),
    )
    assert (steps[2].name, steps[2].event_type) == ("Bought", "purchase")


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ("not a list", "funnel.steps"),
        (["view_item"], "funnel.steps"),
        (["view_item", 5], "funnel.steps[1]"),
        (["view_item", {"event": ""}], "funnel.steps[1]"),
        (["view_item", {"event": "x", "when": 1}], "funnel.steps[1]"),
        (["view_item", {"event": "x", "where": {"nope": "1"}}], "funnel.steps[1]"),
        (["view_item", {"event": "x", "where": {"page": 1}}], "funnel.steps[1]"),
        (["view_item", {"event": "x", "where": {"page": {"is": "1"}}}], "funnel.steps[1]"),
        (["view_item", {"event": "x", "where": ["page"]}], "funnel.steps[1]"),
        (["view_item", {"event": "x", "name": ""}], "funnel.steps[1]"),
        (["view_item", "x:page"], "funnel.steps[1]"),
        (["view_item", "x:" + ";".join(f"page=/{i}" for i in range(6))], "funnel.steps[1]"),
    ],
)
def test_bad_json_steps_name_the_entry(raw: Any, field: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_step_list(raw, "funnel.steps")
    assert caught.value.field == field and field in caught.value.message


def test_windows_and_orders() -> None:
    assert parse_window("7d", "window") == timedelta(days=7)
    assert parse_window(" 90m ", "window") == timedelta(minutes=90)
    assert parse_window(None, "window") is None and parse_window("", "window") is None
    assert window_text(timedelta(hours=48)) == "2d"
    assert window_text(timedelta(minutes=90)) == "90m"
    assert window_text(None) is None
    assert (
        parse_order(None, "order"),
        parse_order("ordered", "o"),
        parse_order("strict", "o"),
    ) == (
        False,
        False,
        True,
    )
    for bad in ("7", "1s", "0d", "366d", "1.5h", 7):
        with pytest.raises(BadRequest, match=r"^window must be"):
            parse_window(bad, "window")
    with pytest.raises(BadRequest, match=r"^order must be one of: ordered, strict"):
        parse_order("STRICT", "order")
