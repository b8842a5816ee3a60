"""The exception tree and the one HTTP error shape.

::

    ShoplensError                 500  something we did not expect
    ├── BadRequest                400  a field broke a rule (``field`` names it)
    ├── Unauthorized              401  missing or unknown API key
    ├── Forbidden                 403  key kind or plan not allowed here
    ├── NotFound                  404
    ├── PayloadTooLarge           413  body or event over its size limit
    ├── TooManyRequests           429  rate limit or quota (``retry_after`` seconds)
    └── Unavailable               503  write-ahead log full; retry later

Every error reaches the client as ``{"ok": false, "error": <message>, "field": <name|null>}``
with ``Retry-After`` set when the error carries one. Messages are the seeds' texts where the
seeds give one (e.g. ``event_type is required``).
"""

from __future__ import annotations


class ShoplensError(Exception):
    status = 500

    def __init__(
        self, message: str, *, field: str | None = None, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.retry_after = retry_after

    def body(self) -> dict[str, object]:
        return {"ok": False, "error": self.message, "field": self.field}

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}


class BadRequest(ShoplensError):
    status = 400


class Unauthorized(ShoplensError):
    status = 401


class Forbidden(ShoplensError):
    status = 403


class NotFound(ShoplensError):
    status = 404


class PayloadTooLarge(ShoplensError):
    status = 413


class TooManyRequests(ShoplensError):
    status = 429


class Unavailable(ShoplensError):
    status = 503
