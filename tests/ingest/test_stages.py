"""The stage chain: every wire format hands its event and the per-event facts to it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import msgspec
import pytest

from shoplens.errors import BadRequest
from shoplens.ingest.context import IngestContext
from shoplens.ingest.event import Event
from shoplens.ingest.formats import core, decode, ecommerce, landing, segment
from shoplens.ingest.stages import Facts, Stages
from tests.ingest.test_normalize import make_ctx


@dataclass
class Recorder:
    """A real stage that records what it was given and marks the event."""

    name: str
    seen: list[tuple[str, str]] = field(default_factory=list)

    def apply(self, event: Event, facts: Facts, ctx: IngestContext) -> None:
        self.seen.append((event.event_type, facts.ip))
        event.properties[self.name] = str(len(self.seen))


class Refuse:
    name = "refuse"

    def apply(self, event: Event, facts: Facts, ctx: IngestContext) -> None:
        raise BadRequest("timestamp is too old", field="timestamp")


def body(payload: dict[str, Any]) -> bytes:
    return msgspec.json.encode(payload)


CASES = [
    pytest.param(
        lambda ctx: core.to_event(
            decode(
                body({"event": "page_view", "context": {"ip": "81.2.69.142"}}), core.CoreEventIn
            ),
            ctx,
        ),
        "81.2.69.142",
        id="core context.ip",
    ),
    pytest.param(
        lambda ctx: core.to_event(decode(body({"event": "page_view"}), core.CoreEventIn), ctx),
        "203.0.113.9",
        id="core request ip",
    ),
    pytest.param(
        lambda ctx: ecommerce.to_event(
            decode(
                body({"event_type": "view_cart", "context": {"ip": "2001:db8::1"}}),
                ecommerce.EcommerceIn,
            ),
            ctx,
        ),
        "2001:db8::1",
        id="ecommerce context.ip",
    ),
    pytest.param(
        lambda ctx: segment.to_event(
            decode(
                body({"type": "page", "anonymousId": "a1", "context": {"ip": "89.160.20.112"}}),
                segment.MessageIn,
            ),
            ctx,
        ),
        "89.160.20.112",
        id="segment context.ip",
    ),
    pytest.param(
        lambda ctx: landing.to_event(
            decode(body({"tenant_id": 3, "event_type": "pageview"}), landing.LandingIn), ctx
        ),
        "203.0.113.9",
        id="landing request ip",
    ),
]


@pytest.mark.parametrize(("build", "ip"), CASES)
def test_every_format_runs_the_stages_with_the_shoppers_ip(build: Any, ip: str) -> None:
    first, second = Recorder("first"), Recorder("second")
    ctx = replace(make_ctx(), ip="203.0.113.9", stages=Stages([first, second]))
    event = build(ctx)
    assert first.seen == second.seen == [(event.event_type, ip)]
    assert event.properties["first"] == event.properties["second"] == "1"


def test_a_stage_can_refuse_and_later_stages_do_not_run() -> None:
    after = Recorder("after")
    ctx = replace(make_ctx(), stages=Stages([Refuse(), after]))
    with pytest.raises(BadRequest) as caught:
        core.to_event(decode(body({"event": "page_view"}), core.CoreEventIn), ctx)
    assert caught.value.field == "timestamp"
    assert after.seen == []


def test_stage_names_are_listed_in_order() -> None:
    assert Stages([Recorder("a"), Refuse(), Recorder("b")]).names == ["a", "refuse", "b"]
