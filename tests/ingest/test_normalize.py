"""Field rules shared by every wire format, one helper at a time."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal
from typing import Any

import pytest

from shoplens.errors import BadRequest
from shoplens.ingest.context import IngestContext, Limits
from shoplens.ingest.event import Event, Item
from shoplens.ingest.money import CurrencyConverter
from shoplens.ingest.normalize import (
    MAX_TIME_MS,
    apply_page,
    convert,
    event_id,
    finish_items,
    identifier,
    major_amount,
    minor_amount,
    properties,
    quantity,
    sent_at,
    text,
    timestamp_ms,
)
from shoplens.meta import Tenant

RECEIVED_AT = 1_705_315_000_000
DAY_MS = 24 * 3600 * 1000


def make_ctx(base_currency: str = "USD", tenant_id: int = 3, **fields: Any) -> IngestContext:
    tenant = Tenant(
        id=tenant_id,
        name="Acme",
        base_currency=base_currency,
        timezone="UTC",
        plan="pro",
        created_at="2024-01-01T00:00:00+00:00",
    )
    return IngestContext(tenant=tenant, received_at=RECEIVED_AT, **fields)


def bad(call: Any, *args: Any) -> BadRequest:
    with pytest.raises(BadRequest) as caught:
        call(*args)
    return caught.value


def blank_event() -> Event:
    return Event(
        tenant_id=1,
        event_id=str(uuid.uuid4()),
        event_type="page_view",
        event_name="page_view",
        source="core",
        timestamp=RECEIVED_AT,
        received_at=RECEIVED_AT,
    )


# text / identifier -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"), [(None, ""), ("", ""), ("abc", "abc"), ("é😀", "é😀")]
)
def test_text(value: Any, expected: str) -> None:
    assert text(value, "f", make_ctx()) == expected


@pytest.mark.parametrize("value", [1, 1.5, True, ["a"], {"a": 1}])
def test_text_must_be_a_string(value: Any) -> None:
    error = bad(text, value, "user_id", make_ctx())
    assert (error.message, error.field) == ("user_id must be a string", "user_id")


def test_text_length_cap_counts_characters() -> None:
    ctx = make_ctx(limits=Limits(max_string_length=3))
    assert text("😀😀😀", "f", ctx) == "😀😀😀"
    error = bad(text, "abcd", "page_url", ctx)
    assert (error.message, error.field) == ("page_url is longer than 3 characters", "page_url")


@pytest.mark.parametrize(
    ("value", "expected"), [(123, "123"), (-5, "-5"), ("u1", "u1"), (None, "")]
)
def test_identifier_accepts_integers(value: Any, expected: str) -> None:
    assert identifier(value, "user_id", make_ctx()) == expected


def test_identifier_refuses_booleans() -> None:
    assert bad(identifier, True, "user_id", make_ctx()).field == "user_id"


# properties ------------------------------------------------------------------------------


def test_properties_are_strings_with_non_strings_json_encoded() -> None:
    assert properties(
        {"s": "x", "n": 5, "f": 1.5, "b": False, "l": [1, "a"], "o": {"k": 1}, "none": None},
        "properties",
        make_ctx(),
    ) == {"s": "x", "n": "5", "f": "1.5", "b": "false", "l": '[1,"a"]', "o": '{"k":1}'}


@pytest.mark.parametrize("value", [None, {}])
def test_no_properties(value: Any) -> None:
    assert properties(value, "properties", make_ctx()) == {}


@pytest.mark.parametrize("value", [[1], "a", 5])
def test_properties_must_be_an_object(value: Any) -> None:
    error = bad(properties, value, "metadata", make_ctx())
    assert (error.message, error.field) == ("metadata must be an object", "metadata")


def test_property_count_cap() -> None:
    ctx = make_ctx(limits=Limits(max_properties=3))
    assert len(properties({str(i): "v" for i in range(3)}, "properties", ctx)) == 3
    error = bad(properties, {str(i): "v" for i in range(4)}, "properties", ctx)
    assert (error.message, error.field) == ("properties has more than 3 keys", "properties")


def test_property_value_length_cap_names_the_key() -> None:
    ctx = make_ctx(limits=Limits(max_string_length=5))
    error = bad(properties, {"note": "x" * 6}, "properties", ctx)
    assert (error.message, error.field) == (
        "properties.note is longer than 5 characters",
        "properties.note",
    )


def test_property_encoded_value_length_cap() -> None:
    ctx = make_ctx(limits=Limits(max_string_length=5))
    assert bad(properties, {"l": [1, 2, 3]}, "properties", ctx).field == "properties.l"


def test_property_key_length_cap() -> None:
    ctx = make_ctx(limits=Limits(max_string_length=5))
    error = bad(properties, {"x" * 6: "v"}, "properties", ctx)
    assert error.field == "properties key"


# timestamps ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "ms"),
    [
        (None, RECEIVED_AT),
        ("", RECEIVED_AT),
        ("1970-01-01T00:00:00Z", 0),
        ("2024-01-15T10:35:00Z", 1_705_314_900_000),
        ("2024-01-15T10:35:00.123+00:00", 1_705_314_900_123),
        ("2024-01-15T16:05:00+05:30", 1_705_314_900_000),
        ("2024-01-15T10:35:00", 1_705_314_900_000),
        ("2024-01-15", 1_705_276_800_000),
        (1_705_314_900_000, 1_705_314_900_000),
        (1_705_314_900_000.9, 1_705_314_900_000),
    ],
)
def test_timestamp_ms(value: Any, ms: int) -> None:
    assert timestamp_ms(value, "timestamp", make_ctx()) == ms


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("soon", "ts must be an ISO 8601 timestamp"),
        (True, "ts must be an ISO 8601 timestamp"),
        ([2024], "ts must be an ISO 8601 timestamp"),
        (-1, "ts must be between 1970-01-01 and 2200-01-01 (UTC)"),
        ("1969-12-31T23:59:59Z", "ts must be between 1970-01-01 and 2200-01-01 (UTC)"),
        (2**62, "ts must be between 1970-01-01 and 2200-01-01 (UTC)"),  # once year 0000
        (1.18e21, "ts must be between 1970-01-01 and 2200-01-01 (UTC)"),
        (float("inf"), "ts must be between 1970-01-01 and 2200-01-01 (UTC)"),
        (float("nan"), "ts must be between 1970-01-01 and 2200-01-01 (UTC)"),
        (MAX_TIME_MS, "ts must be between 1970-01-01 and 2200-01-01 (UTC)"),
        ("2200-01-01T00:00:00Z", "ts must be between 1970-01-01 and 2200-01-01 (UTC)"),
        ("9999-12-31T23:59:59Z", "ts must be between 1970-01-01 and 2200-01-01 (UTC)"),
    ],
)
def test_timestamp_ms_errors_name_the_field(value: Any, message: str) -> None:
    error = bad(timestamp_ms, value, "ts", make_ctx())
    assert (error.message, error.field) == (message, "ts")


@pytest.mark.parametrize(
    ("value", "ms"),
    [
        (0, 0),
        ("1970-01-01T00:00:00Z", 0),
        (MAX_TIME_MS - 1, MAX_TIME_MS - 1),
        ("2199-12-31T23:59:59.999Z", MAX_TIME_MS - 1),
    ],
)
def test_timestamp_ms_accepts_both_ends_of_the_range(value: Any, ms: int) -> None:
    assert timestamp_ms(value, "ts", make_ctx()) == ms


@pytest.mark.parametrize("historical", [False, True])
def test_future_timestamps_parse_as_given(historical: bool) -> None:
    # The clock stage (ingest.clock) clamps live ones; parsing takes any time after 1970.
    ctx = make_ctx(historical=historical)
    assert timestamp_ms(RECEIVED_AT + DAY_MS + 1, "ts", ctx) == RECEIVED_AT + DAY_MS + 1
    assert timestamp_ms("2030-01-01T00:00:00Z", "ts", ctx) == 1_893_456_000_000


@pytest.mark.parametrize(
    ("timestamp", "value", "batch", "expected"),
    [
        ("2024-01-15T10:35:00Z", "2024-01-15T10:36:00Z", None, 1_705_314_960_000),
        (1_705_314_900_000, 1_705_314_960_000, None, 1_705_314_960_000),
        ("2024-01-15T10:35:00Z", None, 42, 42),  # the batch body's sentAt
        ("2024-01-15T10:35:00Z", "", 42, 42),
        ("2024-01-15T10:35:00Z", None, None, None),
        (None, "2024-01-15T10:36:00Z", 42, None),  # no timestamp: nothing to correct
        ("", "2024-01-15T10:36:00Z", 42, None),
    ],
)
def test_sent_at(timestamp: Any, value: Any, batch: int | None, expected: int | None) -> None:
    assert sent_at(timestamp, value, "sentAt", make_ctx(sent_at=batch)) == expected


def test_sent_at_errors_name_the_field() -> None:
    error = bad(sent_at, "2024-01-15T10:35:00Z", "soon", "sentAt", make_ctx())
    assert (error.message, error.field) == ("sentAt must be an ISO 8601 timestamp", "sentAt")


# event ids -------------------------------------------------------------------------------


def test_event_id_from_a_client_id_is_uuid5_of_tenant_and_id() -> None:
    ctx = make_ctx(tenant_id=3)
    derived = event_id(ctx, "evt_abc123")
    assert derived == event_id(make_ctx(tenant_id=3), "evt_abc123")
    assert derived != event_id(make_ctx(tenant_id=4), "evt_abc123")
    assert uuid.UUID(derived).version == 5


@pytest.mark.parametrize("client_id", [None, ""])
def test_event_id_without_a_client_id_is_random(client_id: str | None) -> None:
    ctx = make_ctx()
    first, second = event_id(ctx, client_id), event_id(ctx, client_id)
    assert first != second
    assert uuid.UUID(first).version == 7


# pages -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("https://shop.test/products/shirts?x=1", "/products/shirts"),
        ("https://shop.test", "/"),
        ("/checkout/confirm", "/checkout/confirm"),
        ("", ""),
    ],
)
def test_apply_page_path(url: str, path: str) -> None:
    event = blank_event()
    apply_page(event, url, "https://google.com/")
    assert (event.page_url, event.page_path, event.referrer) == (url, path, "https://google.com/")


def test_apply_page_fills_utm_fields_from_the_query() -> None:
    event = blank_event()
    apply_page(
        event,
        "/p?utm_source=google&utm_medium=cpc&utm_campaign=spring&utm_term=shoes&utm_content=ad1",
        "",
    )
    assert (
        event.utm_source,
        event.utm_medium,
        event.utm_campaign,
        event.utm_term,
        event.utm_content,
    ) == ("google", "cpc", "spring", "shoes", "ad1")


def test_apply_page_keeps_utm_fields_already_set_and_caps_length() -> None:
    event = blank_event()
    event.utm_source = "email"
    apply_page(event, f"/p?utm_source=google&utm_campaign={'c' * 300}", "")
    assert event.utm_source == "email"
    assert event.utm_campaign == "c" * 256


# amounts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), (49.99, Decimal("49.99")), (5, Decimal("5")), ("1.50", Decimal("1.50"))],
)
def test_major_amount(value: Any, expected: Decimal | None) -> None:
    assert major_amount(value, "revenue") == expected


@pytest.mark.parametrize("value", [True, [1], {"a": 1}])
def test_major_amount_must_be_a_number(value: Any) -> None:
    error = bad(major_amount, value, "revenue")
    assert (error.message, error.field) == ("revenue must be a number", "revenue")


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        (None, "USD", None),
        (2999, "USD", Decimal("29.99")),
        (2999.0, "USD", Decimal("29.99")),
        (1500, "JPY", Decimal("1500")),
        (1234, "BHD", Decimal("1.234")),
    ],
)
def test_minor_amount(value: Any, currency: str, expected: Decimal | None) -> None:
    assert minor_amount(value, "price", currency) == expected


@pytest.mark.parametrize("value", [29.99, "2999", True, [1]])
def test_minor_amount_must_be_an_integer(value: Any) -> None:
    error = bad(minor_amount, value, "price", "USD")
    assert (error.message, error.field) == (
        "price must be an integer amount in minor units",
        "price",
    )


@pytest.mark.parametrize(
    ("value", "expected"), [(None, 1), (0, 0), (2, 2), (3.0, 3), (1_000_000, 1_000_000)]
)
def test_quantity(value: Any, expected: int) -> None:
    assert quantity(value, "quantity") == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (2.5, "q must be a whole number"),
        ("2", "q must be a whole number"),
        (True, "q must be a whole number"),
        (-1, "q must be between 0 and 1000000"),
        (1_000_001, "q must be between 0 and 1000000"),
    ],
)
def test_quantity_errors(value: Any, message: str) -> None:
    error = bad(quantity, value, "q")
    assert (error.message, error.field) == (message, "q")


def test_convert_absent_amount_is_zero() -> None:
    assert convert(make_ctx(), None, "USD", "revenue", at_ms=0) == (0, "0")


def test_convert_gives_minor_units_and_the_amount_as_sent() -> None:
    ctx = make_ctx("USD", converter=CurrencyConverter({("EUR", "USD"): Decimal("1.08")}))
    assert convert(ctx, Decimal("49.99"), "USD", "revenue", at_ms=0) == (4999, "49.99")
    assert convert(ctx, Decimal("10.00"), "EUR", "revenue", at_ms=0) == (1080, "10.00")


def test_finish_items_counts_quantities() -> None:
    event = blank_event()
    finish_items(
        event, [Item(item_id="a", quantity=2), Item(item_id="b"), Item(item_id="c", quantity=0)]
    )
    assert [i.item_id for i in event.items] == ["a", "b", "c"]
    assert event.item_count == 3


def test_new_event_ids_are_unique_time_ordered_uuid7() -> None:
    import uuid as uuid_module

    from shoplens.ingest.normalize import _EventIds

    ids = _EventIds()
    before_ms = time.time_ns() // 1_000_000
    made = [ids.new() for _ in range(20_000)]
    after_ms = time.time_ns() // 1_000_000

    assert len(set(made)) == len(made)
    parsed = [uuid_module.UUID(value) for value in made]
    assert {u.version for u in parsed} == {7}
    assert {u.variant for u in parsed} == {uuid_module.RFC_4122}
    stamps = [u.int >> 80 for u in parsed]
    assert before_ms <= min(stamps) and max(stamps) <= after_ms
    assert made == sorted(made)  # time first, then the counter: ordered as made
    other = _EventIds()  # another process (or a fork) starts elsewhere
    assert other.new() not in set(made)
