"""Segment / RudderStack HTTP Tracking API: ``POST /v1/{track,page,screen,identify,alias,
group,batch}``, so shops instrumented with Segment SDKs can point them at shoplens.

The write key is a shoplens publishable or secret key, sent the ways Segment's SDKs send
it: as the HTTP Basic username (server and mobile SDKs), as ``writeKey`` in the body
(analytics.js), or as ``Authorization: Bearer``. Success is Segment's ``{"success": true}``.
Thin: authenticate, read the bounded body, map it (``ingest.formats.segment``), submit.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from shoplens.api.deps import AppState, ingest_context, read_body, state
from shoplens.api.openapi import INGEST, json_body
from shoplens.auth import Principal, parse_bearer
from shoplens.errors import BadRequest, PayloadTooLarge, Unauthorized
from shoplens.ingest.event import Event
from shoplens.ingest.formats import check_json_depth, segment

router = APIRouter(tags=["segment"], responses=INGEST)

SUCCESS = {"success": True}
MISSING_KEY = (
    "Missing write key: send it as the HTTP Basic username, as writeKey in the body, "
    "or as Authorization: Bearer <key>"
)
_SUMMARIES = {
    "track": "Segment track call: an action, e-commerce spec names mapped to ecommerce types",
    "page": "Segment page call: stored as page_view",
    "screen": "Segment screen call (mobile apps): stored as screen_view",
    "identify": "Segment identify call: traits stored as properties",
    "alias": "Segment alias call: previousId stored as a property",
    "group": "Segment group call: groupId and traits stored as properties",
}


def header_key(header: str | None) -> str | None:
    """The key in ``Authorization``: Basic base64("<key>:") as Segment's SDKs send it (the
    password is ignored), or Bearer <key>."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return parse_bearer(header)
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[0] or None


def _inflated(request: Request, body: bytes, limit: int) -> bytes:
    """The body, gunzipped when sent with ``Content-Encoding: gzip`` (server SDKs may).

    Decompression stops one byte past the request limit, so a small gzip bomb cannot make
    us hold more than the limit allows for a plain body.
    """
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise BadRequest(f"Content-Encoding {encoding!r} is not supported: send gzip or none")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error:
        raise BadRequest("Request body is not valid gzip") from None
    if len(data) > limit:
        raise PayloadTooLarge(f"Request body is larger than {limit} bytes")
    check_json_depth(data)  # read_body checked the compressed bytes only
    return data


def _caller(app_state: AppState, key: str) -> Principal:
    """The caller. May read SQLite on a cache miss, so routes run this in the thread
    pool, as FastAPI runs the other routes' key dependency."""
    return app_state.keys.verify(key)


async def _authenticated_body(request: Request) -> tuple[Principal, bytes]:
    """(caller, body). A key in the header is checked before the body is read; a key
    in the body can only be checked after."""
    app_state = state(request)
    key = header_key(request.headers.get("authorization"))
    caller = await run_in_threadpool(_caller, app_state, key) if key else None
    body = _inflated(request, await read_body(request), app_state.limits.max_request_bytes)
    if caller is None:
        key = segment.write_key(body)
        if not key:
            raise Unauthorized(MISSING_KEY)
        caller = await run_in_threadpool(_caller, app_state, key)
    if app_state.rate_limits is not None:
        app_state.rate_limits.check_key(request.scope, caller)
    return caller, body


async def _ingest(request: Request, to_events: Callable[..., list[Event]]) -> dict[str, bool]:
    principal, body = await _authenticated_body(request)
    ctx = ingest_context(request, principal.tenant)
    await state(request).pipeline.submit(to_events(body, ctx))
    return SUCCESS


def _call_route(call: str) -> Callable[[Request], Awaitable[dict[str, bool]]]:
    async def endpoint(request: Request) -> dict[str, bool]:
        return await _ingest(request, lambda body, ctx: [segment.one(body, call, ctx)])

    endpoint.__name__ = f"segment_{call}"
    return endpoint


async def segment_batch(request: Request) -> dict[str, bool]:
    """Store the valid messages; report the invalid ones (``GET /v1/ingest/errors``)."""
    principal, body = await _authenticated_body(request)
    ctx = ingest_context(request, principal.tenant)
    outcome = segment.batch_events(body, ctx)
    app_state = state(request)
    if outcome.events:
        await app_state.pipeline.submit(outcome.events)
    # After the submit: a batch refused whole (429, 503) is resent, and reported then.
    app_state.rejections.add(principal.tenant.id, segment.SOURCE, ctx.received_at, outcome.rejected)
    return SUCCESS


for _call in segment.CALLS:
    router.add_api_route(
        f"/v1/{_call}",
        _call_route(_call),
        methods=["POST"],
        summary=_SUMMARIES[_call],
        openapi_extra=json_body(segment.MessageIn),
    )
    # analytics.js posts to one-letter paths (/v1/t, /v1/p, …) under its apiHost.
    router.add_api_route(
        f"/v1/{_call[0]}", _call_route(_call), methods=["POST"], include_in_schema=False
    )
router.add_api_route(
    "/v1/batch",
    segment_batch,
    methods=["POST"],
    summary="Segment batch: valid messages stored, invalid ones reported in /v1/ingest/errors",
    openapi_extra=json_body(segment.BatchIn),
)
router.add_api_route("/v1/b", segment_batch, methods=["POST"], include_in_schema=False)
