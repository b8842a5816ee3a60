"""API keys: issued once, stored only as a hash, verified in constant time, cached briefly."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shoplens.auth import (
    KeyVerifier,
    Principal,
    hash_key,
    issue_key,
    parse_bearer,
    require_secret,
)
from shoplens.errors import Forbidden, Unauthorized
from shoplens.meta import MetaStore, Tenant

KEY_SHAPE = re.compile(r"^(pk|sk)_[A-Za-z0-9]{44}$")


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "meta.sqlite3"


@pytest.fixture
def meta(path: Path) -> Iterator[MetaStore]:
    opened = MetaStore(path)
    yield opened
    opened.close()


@pytest.fixture
def tenant(meta: MetaStore) -> Tenant:
    return meta.create_tenant("Acme", plan="pro")


def unauthorized(verifier: KeyVerifier, key: str | None) -> Unauthorized:
    with pytest.raises(Unauthorized) as caught:
        verifier.verify(key)
    assert caught.value.status == 401
    return caught.value


# Issuing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "prefix"), [("publishable", "pk_"), ("secret", "sk_")])
def test_issued_key_format(meta: MetaStore, tenant: Tenant, kind: str, prefix: str) -> None:
    issued = issue_key(meta, tenant.id, kind, name="web")
    assert issued.kind == kind
    assert issued.key.startswith(prefix)
    assert len(issued.key) == 3 + 12 + 32
    assert KEY_SHAPE.match(issued.key)
    [record] = meta.keys(tenant.id)
    assert (record.id, record.kind, record.name) == (issued.id, kind, "web")
    assert record.lookup == issued.key[3:15]
    assert record.hash == hashlib.sha256(issued.key.encode()).hexdigest() == hash_key(issued.key)


def test_issued_keys_are_unique(meta: MetaStore, tenant: Tenant) -> None:
    keys = [issue_key(meta, tenant.id, "secret").key for _ in range(20)]
    assert len(set(keys)) == 20
    assert len({k[3:15] for k in keys}) == 20


def test_unknown_kind_is_refused(meta: MetaStore, tenant: Tenant) -> None:
    with pytest.raises(ValueError, match="key kind"):
        issue_key(meta, tenant.id, "admin")
    assert meta.keys(tenant.id) == []


def test_only_the_hash_is_stored(meta: MetaStore, tenant: Tenant, path: Path) -> None:
    issued = [issue_key(meta, tenant.id, kind) for kind in ("publishable", "secret")]
    meta.close()  # checkpoint the WAL into the main file (the -wal file is read too)
    stored = b"".join(p.read_bytes() for p in path.parent.glob(f"{path.name}*"))
    for key in issued:
        assert hash_key(key.key).encode() in stored  # we are reading the right bytes
        assert key.key.encode() not in stored
        assert key.key[15:].encode() not in stored  # nor the secret part alone


# Verifying -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["publishable", "secret"])
def test_a_valid_key_verifies(meta: MetaStore, tenant: Tenant, kind: str) -> None:
    issued = issue_key(meta, tenant.id, kind)
    principal = KeyVerifier(meta, ttl=0).verify(issued.key)
    assert principal == Principal(tenant, kind, issued.id)
    assert principal.tenant_id == tenant.id


def test_wrong_secret_with_a_valid_lookup_is_refused(meta: MetaStore, tenant: Tenant) -> None:
    issued = issue_key(meta, tenant.id, "secret")
    forged = issued.key[:15] + ("A" if issued.key[15] != "A" else "B") + issued.key[16:]
    assert forged != issued.key
    assert unauthorized(KeyVerifier(meta, ttl=0), forged).message == "Invalid API key"


def test_a_truncated_key_is_refused(meta: MetaStore, tenant: Tenant) -> None:
    issued = issue_key(meta, tenant.id, "secret")
    unauthorized(KeyVerifier(meta, ttl=0), issued.key[:-1])
    unauthorized(KeyVerifier(meta, ttl=0), issued.key[:15])


def test_a_key_presented_as_the_other_kind_is_refused(meta: MetaStore, tenant: Tenant) -> None:
    issued = issue_key(meta, tenant.id, "publishable")
    unauthorized(KeyVerifier(meta, ttl=0), "sk_" + issued.key[3:])


@pytest.mark.parametrize(
    "key",
    [
        "pk_" + "a" * 44,
        "sk_" + "b" * 44,
        "xx_" + "a" * 44,
        "pk_",
        "nonsense",
        "Bearer sk_x",
    ],
)
def test_unknown_keys_are_refused(meta: MetaStore, tenant: Tenant, key: str) -> None:
    issue_key(meta, tenant.id, "secret")
    assert unauthorized(KeyVerifier(meta, ttl=0), key).message == "Invalid API key"


@pytest.mark.parametrize("key", [None, ""])
def test_a_missing_key(meta: MetaStore, key: str | None) -> None:
    assert unauthorized(KeyVerifier(meta), key).message.startswith("Missing API key")


def test_a_revoked_key_is_refused(meta: MetaStore, tenant: Tenant) -> None:
    issued = issue_key(meta, tenant.id, "secret")
    verifier = KeyVerifier(meta, ttl=0)
    verifier.verify(issued.key)
    meta.revoke_key(issued.id)
    unauthorized(verifier, issued.key)


def test_revoking_one_key_leaves_the_others(meta: MetaStore, tenant: Tenant) -> None:
    kept, revoked = issue_key(meta, tenant.id, "secret"), issue_key(meta, tenant.id, "secret")
    meta.revoke_key(revoked.id)
    assert KeyVerifier(meta, ttl=0).verify(kept.key).key_id == kept.id


def test_keys_resolve_to_their_own_tenant(meta: MetaStore) -> None:
    a, b = meta.create_tenant("a"), meta.create_tenant("b")
    ka, kb = issue_key(meta, a.id, "secret"), issue_key(meta, b.id, "secret")
    verifier = KeyVerifier(meta, ttl=0)
    assert (verifier.verify(ka.key).tenant_id, verifier.verify(kb.key).tenant_id) == (a.id, b.id)


# Cache -----------------------------------------------------------------------------------


def test_a_revoked_key_works_until_the_cache_entry_expires(meta: MetaStore, tenant: Tenant) -> None:
    issued = issue_key(meta, tenant.id, "secret")
    verifier = KeyVerifier(meta, ttl=0.3)
    verifier.verify(issued.key)
    meta.revoke_key(issued.id)
    assert verifier.verify(issued.key).key_id == issued.id  # cached: still accepted
    time.sleep(0.35)
    unauthorized(verifier, issued.key)


def test_forget_drops_the_cache(meta: MetaStore, tenant: Tenant) -> None:
    issued = issue_key(meta, tenant.id, "secret")
    verifier = KeyVerifier(meta, ttl=60)
    verifier.verify(issued.key)
    meta.revoke_key(issued.id)
    verifier.forget()
    unauthorized(verifier, issued.key)


def test_a_refused_key_is_not_cached(meta: MetaStore, tenant: Tenant) -> None:
    verifier = KeyVerifier(meta, ttl=60)
    unauthorized(verifier, "sk_" + "z" * 44)
    # a key issued afterwards (by the CLI, say) works at once
    issued = issue_key(meta, tenant.id, "secret")
    assert verifier.verify(issued.key).key_id == issued.id


# require_secret and parse_bearer ----------------------------------------------------------


def test_require_secret(meta: MetaStore, tenant: Tenant) -> None:
    verifier = KeyVerifier(meta, ttl=0)
    secret = verifier.verify(issue_key(meta, tenant.id, "secret").key)
    assert require_secret(secret) is secret
    publishable = verifier.verify(issue_key(meta, tenant.id, "publishable").key)
    with pytest.raises(Forbidden) as caught:
        require_secret(publishable)
    assert caught.value.status == 403
    assert "secret key" in caught.value.message


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer sk_abc", "sk_abc"),
        ("bearer sk_abc", "sk_abc"),
        ("BEARER sk_abc", "sk_abc"),
        ("Bearer   sk_abc  ", "sk_abc"),
        (None, None),
        ("", None),
        ("Bearer", None),
        ("Bearer ", None),
        ("Bearer    ", None),
        ("Basic dXNlcjpwdw==", None),
        ("Token sk_abc", None),
        ("sk_abc", None),
    ],
)
def test_parse_bearer(header: str | None, token: str | None) -> None:
    assert parse_bearer(header) == token
