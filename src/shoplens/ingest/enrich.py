"""The enrichment stage: geo from the IP, device from the User-Agent, channel from the tags.

Precedence: a field the sender set explicitly is kept (Segment's ``context.device.type``
and ``context.os.name``, UTM tags, an explicit ``channel``); enrichment only fills empty
fields. The one translation: Segment's mobile libraries send ``context.device.type`` as
``ios``/``android``, which is a platform, not a device type — it becomes the platform and
the device type comes from the User-Agent (``mobile`` when there is none).

Server-side senders: an event that carries the shopper's User-Agent (``context.userAgent``)
is enriched from it. One sent by a server SDK or HTTP library without it gets
``device_type = "server"`` (never ``bot``; :data:`shoplens.ingest.useragent.SERVER_CLIENTS`)
— also on the Segment routes, where the event's User-Agent is only ``context.userAgent``
and the request's own (the SDK's) is read here for that one purpose. No User-Agent at all
leaves the device unknown (``""``).

The IP is the one the format resolved (``context.ip``, else the request's) and is read from
:class:`~shoplens.ingest.stages.Facts` only — it is never stored. Bots keep their rows with
``device_type = "bot"``; what to do with them is the fraud stage's call
(:func:`shoplens.ingest.useragent.is_bot`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shoplens.ingest import channel, geo, useragent
from shoplens.ingest.event import Event
from shoplens.ingest.stages import Facts

if TYPE_CHECKING:
    from shoplens.ingest.context import IngestContext

# Segment's ``context.device.type`` values that name a platform rather than a device.
_PLATFORM_DEVICE_TYPES = {"ios": "ios", "android": "android"}


class Enrich:
    """Fills country/region/city, device_type/platform/os/browser and channel."""

    name = "enrich"

    def apply(self, event: Event, facts: Facts, ctx: IngestContext) -> None:
        if facts.ip and not event.country:
            location = geo.locate(facts.ip)
            event.country = location.country
            event.region = event.region or location.region
            event.city = event.city or location.city
        self._device(event, ctx.user_agent)
        if not event.channel:
            event.channel = channel.classify(
                event.page_url,
                event.referrer,
                event.utm_source,
                event.utm_medium,
                event.utm_campaign,
            )

    @staticmethod
    def _device(event: Event, request_user_agent: str) -> None:
        platform = _PLATFORM_DEVICE_TYPES.get(event.device_type.lower())
        if platform is not None:
            event.device_type = ""
            event.platform = event.platform or platform
        agent = useragent.parse(event.user_agent)
        if not event.user_agent and useragent.parse(request_user_agent) == useragent.SERVER_AGENT:
            agent = useragent.SERVER_AGENT  # sent by a server SDK with no shopper's UA
        event.device_type = event.device_type or agent.device_type
        if platform is not None and event.device_type in ("", "desktop", useragent.SERVER):
            event.device_type = "mobile"  # a mobile library said so; the UA may be a server's
        event.platform = event.platform or agent.platform
        event.os = event.os or agent.os
        event.browser = event.browser or agent.browser
