"""Wire formats: one module each, every one turning its JSON into canonical Events.

A format module provides msgspec ``Struct`` types for its body and a ``to_event(raw, ctx)``
that applies the seed's rules and raises ``BadRequest`` with the seed's error texts.
``decode`` turns msgspec's type errors into the same 400 shape, naming the field.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec
import numpy as np

from shoplens.errors import BadRequest

T = TypeVar("T")


class ContextIn(msgspec.Struct):
    """Request context a server-side sender passes on behalf of the shopper (seed 001)."""

    ip: str | None = None
    userAgent: str | None = None
    page: str | None = None
    referrer: str | None = None


#: JSON nested deeper than this (objects and arrays) is refused before any decoder sees it
MAX_JSON_DEPTH = 64
_QUOTE = ord('"')
_STEP = np.zeros(256, dtype=np.int8)  # +1 for an opener, -1 for a closer, by byte value
_STEP[[ord("["), ord("{")]], _STEP[[ord("]"), ord("}")]] = 1, -1


def check_json_depth(body: bytes, limit: int = MAX_JSON_DEPTH, what: str = "Request body") -> None:
    """400 naming ``body`` when ``body``'s JSON nests deeper than ``limit``.

    TRICKY: every JSON decoder we use recurses per level (msgspec, the stdlib's) and raises
    ``RecursionError`` near the interpreter's limit (~1,000 levels): a 500 from a 4 KB body.
    Bodies with fewer brackets than the limit cannot nest past it (the common case, one
    ``count`` each). Otherwise, vectorized: drop escaped backslashes then escaped quotes
    (so every quote left opens or closes a string), mask what lies between an odd and an
    even quote (brackets in text do not nest), and the depth is the running sum of
    openers minus closers: about one msgspec decode of the body (measured on a 415 KB batch
    of 1,700 events: 6-10 ms, the decode 4-9 ms, on this shared machine).
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return
    plain = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    codes = np.frombuffer(plain, dtype=np.uint8)
    # the count of quotes so far, mod 256 (its parity is all that matters): odd = in a string
    in_string = np.cumsum(codes == _QUOTE, dtype=np.uint8) & 1
    steps = _STEP[codes]
    steps[in_string.view(bool)] = 0
    if int(np.cumsum(steps, dtype=np.int32).max()) > limit:
        raise BadRequest(f"{what} is nested deeper than {limit} levels", field="body")


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
    except RecursionError:  # HTTP bodies and import lines are depth-checked first
        raise BadRequest("Request body is nested too deeply", field=prefix or "body") from None
