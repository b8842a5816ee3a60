"""The custom query's ``funnel`` block: parsed by ``query.parse``, answered on real chDB."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shoplens.errors import BadRequest
from shoplens.ingest.columns import events_table
from shoplens.ingest.event import Event
from shoplens.meta import MetaStore, Tenant
from shoplens.metrics import query
from shoplens.store import Store

NOW = datetime(2026, 3, 20, 12, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@pytest.fixture
def tenant(make_tenant: Callable[..., Any], meta: MetaStore) -> Tenant:
    found = meta.tenant(make_tenant("query funnel", plan="pro").id)
    assert found is not None
    return found


def event(tenant: Tenant, hours_ago: float, kind: str, who: str, **fields: Any) -> Event:
    ms = (NOW - timedelta(hours=hours_ago) - EPOCH) // timedelta(milliseconds=1)
    return Event(
        tenant_id=tenant.id,
        event_id=str(uuid.uuid4()),
        event_type=kind,
        event_name=kind,
        source="test",
        timestamp=ms,
        received_at=ms,
        visitor_id=who,
        **fields,
    )


def test_a_funnel_block_answers_steps_over_the_filtered_events(
    store: Store, tenant: Tenant
) -> None:
    rows = [
        # US: one buyer within a day, one slow buyer (3 days), one viewer
        event(tenant, 30, "view_item", "us-fast", country="US"),
        event(tenant, 29, "purchase", "us-fast", country="US", coupon_code="SPRING"),
        event(tenant, 100, "view_item", "us-slow", country="US"),
        event(tenant, 20, "purchase", "us-slow", country="US", coupon_code="SPRING"),
        event(tenant, 10, "view_item", "us-look", country="US"),
        # DE: a buyer, outside the country filter
        event(tenant, 30, "view_item", "de", country="DE"),
        event(tenant, 29, "purchase", "de", country="DE", coupon_code="SPRING"),
    ]
    store.insert("events", events_table(rows), f"test-qf-{uuid.uuid4()}")
    body = {
        "funnel": {
            "steps": ["product_view", {"event": "purchase", "where": {"coupon": "SPRING"}}],
            "conversionWindow": "2d",
        },
        "filters": [["is", "country", ["US"]]],
        "period": "7d",
    }
    answer = query.run(store, tenant, query.parse(body, tenant, NOW))
    assert answer["funnel"] == {
        "steps": [
            {
                "name": "product_view",
                "event": "view_item",
                "count": 3,
                "conversion_from_previous": 100.0,
                "conversion_from_first": 100.0,
                "drop_off": 0,
                "drop_off_rate": 0.0,
            },
            {
                "name": "purchase",
                "event": "purchase",
                "count": 1,
                "conversion_from_previous": 33.3,
                "conversion_from_first": 33.3,
                "drop_off": 2,
                "drop_off_rate": 66.7,
            },
        ],
        "conversion_rate": 33.3,
        "conversionWindow": "2d",
        "order": "ordered",
    }
    assert answer["query"]["funnel"]["steps"][1] == {
        "name": "purchase",
        "event": "purchase",
        "where": {"coupon": "SPRING"},
    }
    assert answer["query"]["filters"] == [["is", "country", ["US"]]]
    # without the window the slow buyer converts; without the filter DE counts too
    del body["funnel"]["conversionWindow"]  # type: ignore[attr-defined]
    assert (
        query.run(store, tenant, query.parse(body, tenant, NOW))["funnel"]["steps"][1]["count"] == 2
    )
    del body["filters"]
    assert (
        query.run(store, tenant, query.parse(body, tenant, NOW))["funnel"]["steps"][1]["count"] == 3
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"funnel": ["view_item", "purchase"]}, "funnel"),
        ({"funnel": {}}, "funnel.steps"),
        ({"funnel": {"steps": ["view_item"]}}, "funnel.steps"),
        ({"funnel": {"steps": ["view_item", "x:nope=1"]}}, "funnel.steps[1]"),
        ({"funnel": {"steps": ["a", "b"], "conversionWindow": "1w"}}, "funnel.conversionWindow"),
        ({"funnel": {"steps": ["a", "b"], "order": "any"}}, "funnel.order"),
        ({"funnel": {"steps": ["a", "b"], "window": "1d"}}, "funnel.window"),
        ({"funnel": {"steps": ["a", "b"]}, "metrics": ["revenue"]}, "metrics"),
        ({"funnel": {"steps": ["a", "b"]}, "dimensions": ["country"]}, "dimensions"),
        ({"funnel": {"steps": ["a", "b"]}, "compare": "previous_period"}, "compare"),
        ({"funnel": {"steps": ["a", "b"]}, "limit": 5}, "limit"),
        ({"funnel": {"steps": ["a", "b"]}, "filters": [["is", "product", ["x"]]]}, "filters"),
    ],
)
def test_bad_funnel_blocks_are_400_naming_the_field(
    tenant: Tenant, body: dict[str, Any], field: str
) -> None:
    with pytest.raises(BadRequest) as caught:
        query.parse(body, tenant, NOW)
    assert caught.value.field == field and field in caught.value.message
