"""Ingestion stages: what happens to every canonical event between its wire format and the
write-ahead log — clock correction, enrichment, privacy, fraud rules.

Every format builds its ``Event`` and then calls ``finish`` (``normalize.finish``) with the
per-event facts only the format knows (the shopper's IP, the client's ``sentAt``). The
stages run in the order of ``IngestContext.stages``, one module each, so each is tested on
its own and the order is data, not control flow.

``Facts`` holds what a stage may use but nothing may store: the raw IP lives only here and
is gone when the request is answered. It carries the IP twice over: ``ip`` is where the
event came from as far as anyone can tell (for geo and the visitor hash), ``shopper_ip`` is
set only when that address is known to be the shopper's (for the fraud rules, which must
judge the shopper, never the shop's own backend; ``normalize.finish`` decides).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from shoplens.ingest.event import Event

if TYPE_CHECKING:
    from shoplens.config import Settings
    from shoplens.ingest.context import IngestContext
    from shoplens.meta import MetaStore

#: ``Event.is_flagged`` of an event a severity-2 fraud rule blocked: answered like an
#: accepted event, counted, never stored (the pipeline drops it before the WAL).
BLOCKED = 2
#: ``Event.is_flagged`` of an event stored for review and excluded from revenue.
FLAGGED = 1


@dataclass(slots=True)
class Facts:
    """Per-event request facts for the stages; never written anywhere."""

    #: the event's IP: the one it forwards (``context.ip``), else the request's
    ip: str = ""
    #: ``ip`` when it is the shopper's: forwarded in the event, or the request's when the
    #: request came from a browser (``context.browser_request``); "" for a server's own
    shopper_ip: str = ""
    #: the client's clock when it sent the event (epoch ms), for clock-skew correction
    sent_at: int | None = None


class Stage(Protocol):
    """One step of ingestion. Raises ``BadRequest`` to refuse the event (400 naming the
    field), sets fields to enrich it, sets ``is_flagged`` to flag or block it."""

    name: str

    def apply(self, event: Event, facts: Facts, ctx: IngestContext) -> None: ...


class Stages:
    """The ordered stages every event goes through."""

    def __init__(self, stages: Sequence[Stage] = ()) -> None:
        self.stages = tuple(stages)

    @property
    def names(self) -> list[str]:
        return [stage.name for stage in self.stages]

    def run(self, event: Event, facts: Facts, ctx: IngestContext) -> Event:
        for stage in self.stages:
            stage.apply(event, facts, ctx)
        return event


def build_stages(settings: Settings, meta: MetaStore) -> Stages:
    """The stages of a running server or bulk load, in order: the clock first (a refused
    event costs nothing more), then enrichment, privacy (needs the IP and User-Agent the
    enrichment read) and fraud rules last (they judge the enriched event)."""
    # Imported here: the stage modules import the formats, which import this module.
    from shoplens.ingest.clock import Clock
    from shoplens.ingest.enrich import Enrich
    from shoplens.ingest.fraud import Fraud, FraudSettings
    from shoplens.ingest.privacy import Privacy, Salts

    return Stages(
        [
            Clock.from_settings(settings, meta),
            Enrich(),
            Privacy(Salts(meta)),
            Fraud(FraudSettings(meta, settings.key_cache_seconds)),  # last: judges the result
        ]
    )
