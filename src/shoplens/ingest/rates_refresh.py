"""Scheduled exchange-rate refresh: fetch a provider's latest rates, store them, use them.

One :class:`RatesRefresher` per server, started by the app lifespan (``start``/``stop``);
``shoplens rates refresh`` runs :meth:`RatesRefresher.refresh` once. A refresh fetches
the provider's URL with httpx (one deadline for the whole fetch, the body bounded to
``MAX_BODY_BYTES``), parses and validates every rate (:mod:`shoplens.ingest.rates_providers`),
and only then stores them all in one insert as global rates and swaps a new book into the
running converter (``rates_store.save_and_reload``). A failure at any step — network,
HTTP status, bad body, an invalid rate, the store — stores nothing, and the last rates
stay in use.

The outcome of the last attempt is kept in the metadata store (global setting
``rates_refresh``), so ``/healthz`` shows it and the next start knows when the next
refresh is due: ``interval`` after the last attempt, so restarts do not spend a
provider's request quota. Per process: every server process refreshes on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from shoplens.config import MIB, Settings
from shoplens.ingest import rates_store
from shoplens.ingest.money import CurrencyConverter
from shoplens.ingest.rates import GLOBAL, RateSet
from shoplens.ingest.rates_providers import PROVIDERS, BadBody, Provider
from shoplens.meta import MetaStore
from shoplens.store.base import Store

__all__ = ["MAX_BODY_BYTES", "RatesRefresher", "RefreshFailed", "RefreshResult", "fetch"]

log = logging.getLogger("shoplens.rates")
#: a provider's answer is a few KiB (OXR ~5, ECB daily ~2); anything past this is refused
MAX_BODY_BYTES = 1 * MIB
_STATUS = "rates_refresh"  # a global setting (tenant 0)


class RefreshFailed(Exception):
    """A refresh that stored nothing; the message says why (never the app id)."""


@dataclass(frozen=True)
class RefreshResult:
    """What one successful refresh stored."""

    provider: str
    url: str
    first: date
    last: date
    rates: int
    #: codes the provider sent that ISO 4217 does not list (not stored)
    skipped: list[str]


@dataclass
class RefreshStatus:
    """The last attempt's outcome, as kept in the metadata store (Unix seconds)."""

    last_attempt: float | None = None
    last_success: float | None = None
    last_error: str | None = None
    #: the newest date of the rates the last successful refresh stored
    rates_date: str | None = None
    rates: int | None = None
    skipped: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, stored: Any) -> RefreshStatus:
        known = cls.__dataclass_fields__
        fields = stored.items() if isinstance(stored, dict) else ()
        return cls(**{k: v for k, v in fields if k in known})


def shown_url(url: str) -> str:
    """``url`` without its query string and credentials: safe to log and to show."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", f":{parts.port}" if parts.port else ""
    except ValueError:  # "http://[::1/x", a port out of range: httpx refuses it too
        return "(an invalid URL)"
    return f"{parts.scheme}://{host}{port}{parts.path}"


async def fetch(url: str, params: dict[str, str], timeout: float) -> bytes:
    """GET ``url``: the body of a 200 answer, at most ``MAX_BODY_BYTES``; else RefreshFailed.

    ``timeout`` bounds the whole fetch, not each read: a server dripping one byte at a
    time cannot hold a refresh (or shutdown) for longer.
    """
    where = shown_url(url)
    try:
        async with (
            asyncio.timeout(timeout),
            httpx.AsyncClient(timeout=timeout, follow_redirects=True) as client,
            client.stream("GET", url, params=params) as response,
        ):
            if response.status_code != 200:
                raise RefreshFailed(f"HTTP {response.status_code} from {where}")
            body = bytearray()
            # decoded bytes: a gzip bomb stops at the bound too
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    raise RefreshFailed(
                        f"the answer from {where} is larger than {MAX_BODY_BYTES} bytes"
                    )
            return bytes(body)
    except (TimeoutError, httpx.TimeoutException):
        raise RefreshFailed(f"no answer from {where} within {timeout:g} s") from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise RefreshFailed(f"cannot fetch {where}: {type(exc).__name__}: {exc}") from None


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class RatesRefresher:
    """Refreshes the global rates from the configured provider, now or on a schedule."""

    def __init__(
        self, settings: Settings, store: Store, converter: CurrencyConverter, meta: MetaStore
    ) -> None:
        self.provider: Provider | None = PROVIDERS.get(settings.rates_provider)
        self.url = settings.rates_url or (self.provider.default_url if self.provider else "")
        self._app_id = settings.rates_app_id.get_secret_value() if settings.rates_app_id else ""
        self.interval = settings.rates_refresh_interval or None
        self.timeout = settings.rates_timeout
        self.store = store
        self.converter = converter
        self.meta = meta
        self.status = RefreshStatus.of(meta.get_setting(GLOBAL, _STATUS))
        self._task: asyncio.Task[None] | None = None

    @property
    def provider_name(self) -> str:
        return self.provider.name if self.provider else "none"

    async def refresh(self) -> RefreshResult:
        """Fetch, validate and store the provider's rates once; RefreshFailed if nothing
        was stored (the outcome is recorded either way)."""
        attempt = time.time()
        try:
            rates = await self._fetch_rates()
            await self._store(rates)
        except Exception as exc:  # recorded whatever it is, so the schedule moves on
            message = str(exc) if isinstance(exc, RefreshFailed) else f"{type(exc).__name__}: {exc}"
            message = message.replace(self._app_id, "***") if self._app_id else message
            self._record(RefreshStatus(**{**asdict(self.status), "last_error": message}), attempt)
            raise RefreshFailed(message) from None
        result = RefreshResult(
            self.provider_name,
            shown_url(self.url),
            min(rates.days),
            max(rates.days),
            rates.count,
            rates.skipped,
        )
        success = RefreshStatus(
            last_success=attempt,
            rates_date=result.last.isoformat(),
            rates=result.rates,
            skipped=result.skipped,
        )
        self._record(success, attempt)
        return result

    async def _fetch_rates(self) -> RateSet:
        provider = self.provider
        if provider is None:
            raise RefreshFailed(
                "no provider configured: set SHOPLENS_RATES_PROVIDER (ecb or openexchangerates)"
                " or pass --provider"
            )
        params = {}
        if provider.needs_app_id:
            if not self._app_id:
                raise RefreshFailed(f"{provider.name} needs an app id: set SHOPLENS_RATES_APP_ID")
            params["app_id"] = self._app_id
        body = await fetch(self.url, params, self.timeout)
        try:
            return provider.parse(body, datetime.now(UTC).date())
        except BadBody as exc:
            raise RefreshFailed(f"bad answer from {shown_url(self.url)}: {exc}") from None

    async def _store(self, rates: RateSet) -> None:
        """Store as global rates and swap the converter's book, in a thread.

        TRICKY: a thread cannot be cancelled; if shutdown cancels the refresh meanwhile,
        wait for the write to end before letting it close the store.
        """
        job = asyncio.ensure_future(
            asyncio.to_thread(
                rates_store.save_and_reload,
                self.store,
                self.converter,
                rates,
                tenant_id=GLOBAL,
                source=f"provider:{self.provider_name}",
            )
        )
        try:
            await asyncio.shield(job)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await job
            raise
        except Exception as exc:
            raise RefreshFailed(f"cannot store the rates: {exc}") from None

    def _record(self, status: RefreshStatus, attempt: float) -> None:
        status.last_attempt = attempt
        self.status = status
        self.meta.set_setting(GLOBAL, _STATUS, asdict(status))

    def seconds_until_due(self, now: float | None = None) -> float:
        """0 when the next scheduled refresh is due (never attempted, or ``interval`` since)."""
        if self.interval is None or self.status.last_attempt is None:
            return 0.0
        now = time.time() if now is None else now
        return max(0.0, self.status.last_attempt + self.interval - now)

    async def run(self) -> None:
        """Refresh when due, forever (until cancelled); failures are logged and retried at
        the next interval, with the last rates kept meanwhile."""
        if self.provider is None or self.interval is None:
            return
        while True:
            await asyncio.sleep(self.seconds_until_due())
            try:
                result = await self.refresh()
            except RefreshFailed as exc:
                log.warning("exchange-rate refresh failed, keeping the last rates: %s", exc)
            except Exception:  # recording the outcome failed; the next round retries
                log.exception("exchange-rate refresh failed")
            else:
                log.info("refreshed %d exchange rates of %s", result.rates, result.last)

    def start(self) -> None:
        """Run the schedule as a task of the running event loop."""
        self._task = asyncio.create_task(self.run(), name="rates-refresh")

    async def stop(self) -> None:
        """Cancel the schedule (an in-flight fetch at once, a store write once it ends)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def health(self) -> dict[str, Any]:
        """The ``rates`` part of ``/healthz``."""
        book = self.converter.book
        status = self.status
        return {
            "provider": self.provider_name,
            "url": shown_url(self.url) if self.provider else None,
            "refresh_interval": self.interval,
            "last_attempt": _iso(status.last_attempt),
            "last_success": _iso(status.last_success),
            "last_error": status.last_error,
            "rates_date": status.rates_date,
            "currencies": len(book.currencies(GLOBAL)) if book else 1,
        }
