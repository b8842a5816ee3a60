"""Wire formats: one module each, every one turning its JSON into canonical Events.

A format module provides msgspec ``Struct`` types for its body and a ``to_event(raw, ctx)``
that applies the seed's rules and raises ``BadRequest`` with the seed's error texts.
``decode`` turns msgspec's type errors into the same 400 shape, naming the field.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

from shoplens.errors import BadRequest

T = TypeVar("T")


class ContextIn(msgspec.Struct):
    """Request context a server-side sender passes on behalf of the shopper (seed 001)."""

    ip: str | None = None
    userAgent: str | None = None
    page: str | None = None
    referrer: str | None = None


_PATH = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")
_decoders: dict[type, msgspec.json.Decoder[Any]] = {}


def decode(body: bytes | msgspec.Raw, into: type[T], prefix: str = "") -> T:
    """Decode JSON into ``into``; a malformed body or a wrongly typed field is a 400."""
    decoder = _decoders.get(into)
    if decoder is None:
        decoder = _decoders[into] = msgspec.json.Decoder(into)
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        message = str(exc)
        match = _PATH.search(message)
        path = match["path"] if match else ""
        field = f"{prefix}{'.' if prefix and path and not path.startswith('[') else ''}{path}"
        reason = _PATH.sub("", message)
        raise BadRequest(f"{field or 'body'}: {reason}", field=field or None) from None
    except msgspec.DecodeError as exc:
        raise BadRequest(f"Request body is not valid JSON: {exc}", field=prefix or None) from None
    except RecursionError:  # HTTP bodies are depth-checked first (api.deps.check_json_depth)
        raise BadRequest("Request body is nested too deeply", field=prefix or "body") from None
