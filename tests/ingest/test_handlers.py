"""From request bytes to events: size limits, per-event errors in a batch, batch lists."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from shoplens.errors import BadRequest, PayloadTooLarge
from shoplens.ingest.context import IngestContext, Limits
from shoplens.ingest.formats import core, ecommerce
from shoplens.ingest.handlers import batch_list, check_event_size, many, one
from shoplens.meta import Tenant

EMPTY = "events array is required and must not be empty"
TOO_MANY = "Maximum 100 events per batch"


def make_ctx(**limits: int) -> IngestContext:
    tenant = Tenant(
        id=5,
        name="Acme",
        base_currency="USD",
        timezone="UTC",
        plan="pro",
        created_at="2024-01-01T00:00:00+00:00",
    )
    return IngestContext(tenant=tenant, limits=Limits(**limits))


def raws(*events: dict[str, Any]) -> list[msgspec.Raw]:
    return [msgspec.Raw(msgspec.json.encode(e)) for e in events]


def ecommerce_batch(events: list[dict[str, Any]], ctx: IngestContext | None = None) -> Any:
    return many(raws(*events), ecommerce.EcommerceIn, ecommerce.to_event, ctx or make_ctx())


# check_event_size ------------------------------------------------------------------------


def test_event_at_the_limit_passes() -> None:
    check_event_size(100, make_ctx(max_event_bytes=100))


def test_event_over_the_limit_is_413() -> None:
    with pytest.raises(PayloadTooLarge) as caught:
        check_event_size(101, make_ctx(max_event_bytes=100))
    assert caught.value.status == 413
    assert caught.value.message == "Event is larger than 100 bytes"
    assert caught.value.field is None


def test_a_labelled_event_over_the_limit_names_it() -> None:
    with pytest.raises(PayloadTooLarge) as caught:
        check_event_size(101, make_ctx(max_event_bytes=100), "events[2]")
    assert caught.value.message == "events[2] is larger than 100 bytes"
    assert caught.value.field == "events[2]"


# one -------------------------------------------------------------------------------------


def test_one_decodes_and_normalizes() -> None:
    event = one(
        b'{"event_type": "purchase", "transaction_id": "o1", "revenue": 49.99}',
        ecommerce.EcommerceIn,
        ecommerce.to_event,
        make_ctx(),
    )
    assert (event.event_type, event.transaction_id, event.revenue) == ("purchase", "o1", 4999)


def test_one_checks_the_size_before_decoding() -> None:
    body = b"{" + b" " * 200  # not even JSON: the size is what is wrong first
    with pytest.raises(PayloadTooLarge):
        one(body, ecommerce.EcommerceIn, ecommerce.to_event, make_ctx(max_event_bytes=100))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"event_type": "nope"}', "Invalid ecommerce event_type"),
        (
            b'{"event_type": "purchase", "revenue": "1"}',
            "revenue: Expected `int | float | null`, got `str`",
        ),
        (b"not json", "Request body is not valid JSON"),
    ],
)
def test_one_raises_the_formats_400(body: bytes, message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        one(body, ecommerce.EcommerceIn, ecommerce.to_event, make_ctx())
    assert caught.value.message.startswith(message)


# many ------------------------------------------------------------------------------------


def test_many_keeps_valid_events_and_reports_invalid_ones_by_index() -> None:
    outcome = ecommerce_batch(
        [
            {"event_type": "add_to_cart", "items": [{"item_id": "sku_1", "price": 24.99}]},
            {"event_type": "purchase", "revenue": 49.99},
            {"event_type": "purchase", "transaction_id": "order_456", "revenue": 49.99},
            {"event_type": "purchase", "transaction_id": "order_457", "revenue": "49.99"},
            {"event_type": "unknown"},
            {"event_type": "view_cart"},
        ]
    )
    assert [e.event_type for e in outcome.events] == ["add_to_cart", "purchase", "view_cart"]
    assert outcome.indexes == [0, 2, 5]
    assert outcome.events[1].transaction_id == "order_456"
    assert outcome.errors == [
        "events[1]: transaction_id is required for purchase events",
        "events[3]: revenue: Expected `int | float | null`, got `str`",
        "events[4]: Invalid ecommerce event_type",
    ]


def test_many_seed_002_example() -> None:
    outcome = ecommerce_batch(
        [
            {"event_type": "purchase", "revenue": 1},
            {"event_type": "add_to_cart", "items": [{"item_id": "sku_1"}]},
        ]
    )
    assert len(outcome.events) == 1
    assert outcome.errors == ["events[0]: transaction_id is required for purchase events"]


def test_many_when_every_event_is_invalid() -> None:
    outcome = ecommerce_batch([{}, {"event_type": "purchase"}])
    assert (outcome.events, outcome.indexes) == ([], [])
    assert outcome.errors == [
        "events[0]: event_type is required",
        "events[1]: transaction_id is required for purchase events",
    ]


def test_many_reports_a_malformed_member() -> None:
    batch = [msgspec.Raw(b"[1, 2]"), *raws({"event": "page_view"})]
    outcome = many(batch, core.CoreEventIn, core.to_event, make_ctx())
    assert outcome.indexes == [1]
    assert outcome.errors == ["events[0]: body: Expected `object`, got `array`"]


def test_many_uses_the_label() -> None:
    outcome = many(raws({}), core.CoreEventIn, core.to_event, make_ctx(), label="batch")
    assert outcome.errors == ["batch[0]: event is required"]


def test_an_oversized_member_rejects_the_whole_batch_with_its_index() -> None:
    small = {"event_type": "view_cart"}
    large = {"event_type": "view_cart", "user_id": "u" * 200}
    with pytest.raises(PayloadTooLarge) as caught:
        ecommerce_batch([small, small, large], make_ctx(max_event_bytes=100))
    assert caught.value.field == "events[2]"
    assert caught.value.message == "events[2] is larger than 100 bytes"


# batch_list ------------------------------------------------------------------------------


def listed(body: bytes, max_events: int | None = 100) -> list[msgspec.Raw]:
    return batch_list(
        body, ecommerce.BatchIn, max_events=max_events, empty=EMPTY, too_many=TOO_MANY
    )


def test_batch_list_returns_the_raw_members() -> None:
    members = listed(b'{"events": [{"event_type": "view_cart"}, {"x": 1}]}')
    assert [bytes(m) for m in members] == [b'{"event_type": "view_cart"}', b'{"x": 1}']


@pytest.mark.parametrize("body", [b"{}", b'{"events": []}', b'{"events": null}'])
def test_batch_list_empty(body: bytes) -> None:
    with pytest.raises(BadRequest) as caught:
        listed(body)
    assert (caught.value.message, caught.value.field) == (EMPTY, "events")


def test_batch_list_at_and_over_the_maximum() -> None:
    assert len(listed(msgspec.json.encode({"events": [{}] * 100}))) == 100
    with pytest.raises(BadRequest) as caught:
        listed(msgspec.json.encode({"events": [{}] * 101}))
    assert (caught.value.message, caught.value.field) == (TOO_MANY, "events")


def test_batch_list_without_a_maximum() -> None:
    assert len(listed(msgspec.json.encode({"events": [{}] * 1000}), max_events=None)) == 1000


@pytest.mark.parametrize(
    ("body", "field"), [(b'{"events": {}}', "events"), (b"[]", None), (b"{", None)]
)
def test_batch_list_malformed(body: bytes, field: str | None) -> None:
    with pytest.raises(BadRequest) as caught:
        listed(body)
    assert caught.value.field == field
