"""Privacy: visitors are counted without storing anything that identifies them across days.

The raw IP is used here and dropped: it reaches this stage in ``Facts`` (never stored) and
leaves only as hashes keyed by a random salt of the current UTC day, Plausible-style:

- ``visitor_id`` of an event without a sender-given id (no ``anonymous_id``/``user_id``) is
  ``blake2b(key = day salt ⊕ tenant, ip + user agent)``, 64 bits in hex. The same browser
  on the same IP counts once a day; tomorrow's salt gives it a new, unrelated id.
- ``ip_hash`` (seed 004) is kept for landing-page events only: the first 45 hex characters
  of SHA-256 over the tenant's salt of the day and the IP.
- Salts (``Salts``) are random, kept for today and yesterday in the metadata SQLite (a
  restart keeps counting the same visitors), and destroyed when the day rolls. Once a
  day's salt is gone, nobody — the operator included — can recompute that day's hashes
  from a candidate IP, which with an IPv4 space of 2^32 would otherwise be easy.

Properties (and Segment ``traits``, landing ``metadata``, which become properties) are
free-form, so a sender may put an IP anywhere in them: ``scrub_properties`` finds every
IP-shaped value by its shape, under any key, nested or in arrays (see its docstring).

Ids the sender gives (a first-party cookie id, a customer id) are used as the visitor as
they are: they are stored in their own columns anyway, and they are what makes funnels and
conversion work across days and between browser and server events. docs/privacy.md says
why, and exactly what is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from shoplens.ingest.event import Event
from shoplens.ingest.formats.landing import ip_hash
from shoplens.ingest.stages import Facts

if TYPE_CHECKING:
    from shoplens.ingest.context import IngestContext
    from shoplens.meta import MetaStore

SALT_BYTES = 32
DAY_SECONDS = 86_400
VISITOR_HASH_BYTES = 8
#: Sources whose events keep seed 004's ``ip_hash`` column.
IP_HASH_SOURCES = frozenset({"landing"})
#: Property keys dropped as an IP, compared lower-case without ``_``, ``-`` and ``.``.
IP_PROPERTY_KEYS = frozenset(
    {"ip", "ipaddress", "clientip", "remoteaddr", "remoteip", "userip", "visitorip"}
    | {"xforwardedfor", "xrealip", "forwardedfor"}
)

#: What an IP inside a longer text is replaced with.
REDACTED_IP = "[ip]"
#: Dotted quads not inside a longer dotted number (``1.2.3.4.5`` is an OID, not an IP)
#: nor glued to a word as its version (``Chrome/131.0.0.0`` in a user agent, ``v1.2.3.4``).
_IPV4 = re.compile(r"(?<![0-9A-Za-z.])(?<![A-Za-z]/)(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![0-9]|\.[0-9])")
#: Runs of hex digits and colons holding at least two colons: the IPv6 candidates.
#: TRICKY: the lookbehind starts a match only at the start of a run and the quantifier is
#: possessive, so a 2,048-character run costs one pass, not n² steps.
_IPV6 = re.compile(r"(?<![0-9A-Fa-f:])(?=[0-9A-Fa-f]*:[0-9A-Fa-f]*:)[0-9A-Fa-f:]++")
#: The longest IPv6 text once any dotted quad in it was redacted (8 groups of 4, 7 colons).
_IPV6_MAX_CHARS = 39
#: What may be left of a value that held nothing but IPs (``"1.2.3.4, 10.0.0.1"``).
_IP_LIST_SEPARATORS = " ,;|[]()\t"

#: Seconds since the epoch, like ``time.time``; injectable so tests can move the day.
Clock = Callable[[], float]


class Salts:
    """The random salt of the current UTC day, and of yesterday, nothing older.

    Salts live in the metadata SQLite (``visitor_salts``) so a restart, or a second
    process on the same data dir, hashes with the same salt; the current one is cached in
    memory, so an event costs one clock read. When the day changes the new salt is made
    (or read, if another process made it first) and every salt before yesterday is
    destroyed. That happens at start and at the first event of a new day.

    Historical imports have no salt for their past days: ``ephemeral`` gives a random salt
    per day that lives in this object's memory only, so one import counts each visitor
    once per day and nothing that could re-derive the ids is ever written.
    """

    def __init__(self, meta: MetaStore, clock: Clock = time.time) -> None:
        self._meta = meta
        self._clock = clock
        self._lock = threading.Lock()
        self._day = -1
        self._salt = b""
        self._ephemeral: dict[int, bytes] = {}
        self.current()

    def day(self) -> int:
        """Today, as days since 1970-01-01 UTC, by this keeper's clock."""
        return int(self._clock() // DAY_SECONDS)

    def current(self) -> bytes:
        """Today's salt, rotating (and destroying old salts) when the day changed."""
        day = self.day()
        if day != self._day:
            self._rotate(day)
        return self._salt

    def ephemeral(self, day: int) -> bytes:
        """A salt for a past ``day`` of a historical import: random, in memory only."""
        salt = self._ephemeral.get(day)
        if salt is None:
            salt = self._ephemeral.setdefault(day, secrets.token_bytes(SALT_BYTES))
        return salt

    def _rotate(self, day: int) -> None:
        with self._lock:
            if day == self._day:
                return
            salt = self._meta.day_salt(day, secrets.token_bytes(SALT_BYTES))
            self._meta.delete_salts_before(day - 1)
            self._day, self._salt = day, salt


def tenant_salt(salt: bytes, tenant_id: int) -> bytes:
    """The day's salt for one tenant: the same visitor gets unrelated ids in two shops."""
    return hmac.new(salt, b"tenant:%d" % tenant_id, hashlib.sha256).digest()


def visitor_hash(salt: bytes, ip: str, user_agent: str) -> str:
    """64 bits of keyed BLAKE2b over (ip, user agent), in hex; ``salt`` is a tenant salt."""
    data = f"{ip}\n{user_agent}".encode()
    return hashlib.blake2b(data, key=salt, digest_size=VISITOR_HASH_BYTES).hexdigest()


def _is_ip_key(key: str) -> bool:
    return key.lower().replace("_", "").replace("-", "").replace(".", "") in IP_PROPERTY_KEYS


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _redact_ipv4(match: re.Match[str]) -> str:
    return REDACTED_IP if _is_ip(match.group()) else match.group()


def _redact_ipv6(match: re.Match[str]) -> str:
    token = match.group()
    # The address may be glued to a word ending in hex letters ("code:2001:db8::1"): try
    # each tail that starts after a colon and is short enough to be one.
    for start in range(max(0, len(token) - _IPV6_MAX_CHARS), len(token) - 1):
        if (start == 0 or token[start - 1] == ":") and _is_ip(token[start:]):
            return token[:start] + REDACTED_IP
    return token


def redact_ips(text: str) -> str:
    """``text`` with every IPv4 and IPv6 address in it replaced by ``[ip]``.

    An address is recognized by its shape, whole, wherever it stands (a text, a URL, a
    JSON string): a dotted quad that ``ipaddress`` parses (``11.2.3.45`` is one address,
    not ``1.2.3.4`` inside another), and a run of hex digits and colons that does (an
    IPv4-mapped ``::ffff:1.2.3.4`` included). A version number written like an address
    (``1.2.3.4``) is redacted too, the price of never storing an address; one glued to a
    word (``Chrome/131.0.0.0``, ``v1.2.3.4``) is taken for the version it is."""
    if "." in text:
        text = _IPV4.sub(_redact_ipv4, text)
    if ":" in text:
        text = _IPV6.sub(_redact_ipv6, text)
    return text


def _only_ips(redacted: str) -> bool:
    return REDACTED_IP in redacted and not redacted.replace(REDACTED_IP, "").strip(
        _IP_LIST_SEPARATORS
    )


def scrub_properties(event: Event, ips: tuple[str, ...]) -> None:
    """No IP left in the event's properties, whatever key or shape it came under.

    - a property whose key names an IP (``IP_PROPERTY_KEYS``), whose value is exactly the
      shopper's address (``ips``) or holds nothing but addresses (``"1.2.3.4, 10.0.0.1"``)
      is dropped;
    - every other address is replaced by ``[ip]`` where it stands: inside a text
      (``"seen from [ip]"``), in a key, and inside nested objects and arrays — those are
      stored as their JSON text (``normalize.properties``), which stays valid JSON since
      an address in it can only sit inside a string and ``[ip]`` needs no escaping.
    """
    if not event.properties:
        return
    scrubbed = {}
    for key, value in event.properties.items():
        if _is_ip_key(key) or value in ips:
            continue
        redacted = redact_ips(value)
        if _only_ips(redacted):
            continue
        scrubbed[redact_ips(key)] = redacted
    event.properties = scrubbed


class Privacy:
    """Ingestion stage: the visitor hash, seed 004's ``ip_hash``, no IP in properties."""

    name = "privacy"

    def __init__(self, salts: Salts) -> None:
        self.salts = salts
        self._tenant_salts: dict[tuple[bytes, int], bytes] = {}

    def apply(self, event: Event, facts: Facts, ctx: IngestContext) -> None:
        ip = facts.ip
        scrub_properties(event, tuple(x for x in (ip, ctx.ip) if x))
        event.ip_hash = ""
        sender_id = event.visitor_id or event.anonymous_id or event.user_id
        if not ip:
            event.visitor_id = sender_id
            return
        salt = self._salt_for(event, ctx)
        if event.source in IP_HASH_SOURCES:
            event.ip_hash = ip_hash(salt.hex(), ip)
        event.visitor_id = sender_id or visitor_hash(salt, ip, event.user_agent)

    def _salt_for(self, event: Event, ctx: IngestContext) -> bytes:
        # Plausible's rule: live traffic is hashed with the salt of the day it is
        # *received*, whatever its timestamp says; imports of past days use a throwaway one.
        if ctx.historical:
            day_salt = self.salts.ephemeral(event.timestamp // (DAY_SECONDS * 1000))
        else:
            day_salt = self.salts.current()
        key = (day_salt, event.tenant_id)
        salt = self._tenant_salts.get(key)
        if salt is None:
            if len(self._tenant_salts) > 10_000 or not ctx.historical:
                # A live miss is a new tenant or a new day: forget the derived salts of
                # past days with it, so they do not outlive the day salt in memory.
                self._tenant_salts = {
                    k: v for k, v in self._tenant_salts.items() if k[0] == day_salt
                }
            salt = self._tenant_salts[key] = tenant_salt(day_salt, event.tenant_id)
        return salt
