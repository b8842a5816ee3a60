"""Fixtures for the store tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from shoplens.store import Store
from shoplens.store.embedded import EmbeddedStore


@pytest.fixture
def scratch(store: Store) -> Iterator[EmbeddedStore]:
    """A fresh, empty database on the session's chDB path (one path per process), for tests
    that need a schema of their own."""
    assert isinstance(store, EmbeddedStore)
    database = f"scratch_{uuid.uuid4().hex[:12]}"
    opened = EmbeddedStore(store.path)
    opened.command(f"CREATE DATABASE {database}")
    opened.command(f"USE {database}")
    yield opened
    opened.command(f"DROP DATABASE {database} SYNC")
    opened.close()
