"""Settings from SHOPLENS_* environment variables, flags and defaults."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from shoplens.config import MIB, Settings, clickhouse_store_url, redact_url
from shoplens.ingest.context import Limits
from shoplens.store.server import client_kwargs


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No SHOPLENS_* or CLICKHOUSE_* variable from the machine running the tests leaks in."""
    for name in list(os.environ):
        if name.upper().startswith(("SHOPLENS_", "CLICKHOUSE_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults() -> None:
    settings = Settings()
    assert settings.data_dir == Path("./shoplens-data")
    assert (settings.store_url, settings.meta_file, settings.cluster) == (None, None, None)
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert (settings.flush_interval, settings.flush_max_rows) == (1.0, 50_000)
    assert (settings.wal_segment_bytes, settings.wal_max_bytes) == (64 * MIB, 1024 * MIB)
    assert settings.trust_proxy is False


def test_exchange_rate_refresh_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = Settings()
    assert (defaults.rates_provider, defaults.rates_url, defaults.rates_app_id) == (
        "none",
        None,
        None,
    )
    assert (defaults.rates_refresh_interval, defaults.rates_timeout) == (3600.0, 10.0)
    monkeypatch.setenv("SHOPLENS_RATES_PROVIDER", "openexchangerates")
    monkeypatch.setenv("SHOPLENS_RATES_APP_ID", "abc123secret")
    monkeypatch.setenv("SHOPLENS_RATES_REFRESH_INTERVAL", "600")
    settings = Settings()
    assert (settings.rates_provider, settings.rates_refresh_interval) == ("openexchangerates", 600)
    assert settings.rates_app_id is not None
    assert settings.rates_app_id.get_secret_value() == "abc123secret"
    assert "abc123secret" not in repr(settings)  # never printed with the settings
    monkeypatch.setenv("SHOPLENS_RATES_PROVIDER", "fixer")
    with pytest.raises(ValidationError, match="rates_provider"):
        Settings()


@pytest.mark.parametrize(
    ("variable", "value", "attribute", "expected"),
    [
        ("SHOPLENS_DATA_DIR", "/srv/shoplens", "data_dir", Path("/srv/shoplens")),
        (
            "SHOPLENS_STORE_URL",
            "clickhouse://ch:8123/shop",
            "store_url",
            "clickhouse://ch:8123/shop",
        ),
        ("SHOPLENS_META_FILE", "/etc/shoplens/meta.db", "meta_file", Path("/etc/shoplens/meta.db")),
        ("SHOPLENS_CLUSTER", "c1", "cluster", "c1"),
        ("SHOPLENS_HOST", "0.0.0.0", "host", "0.0.0.0"),
        ("SHOPLENS_PORT", "9001", "port", 9001),
        ("SHOPLENS_FLUSH_INTERVAL", "0.25", "flush_interval", 0.25),
        ("SHOPLENS_FLUSH_MAX_ROWS", "1000", "flush_max_rows", 1000),
        ("SHOPLENS_WAL_MAX_BYTES", "1048576", "wal_max_bytes", 1_048_576),
        ("SHOPLENS_DEDUP_WINDOW_HOURS", "48", "dedup_window_hours", 48.0),
        ("SHOPLENS_MAX_EVENT_BYTES", "4096", "max_event_bytes", 4096),
        ("SHOPLENS_MAX_ITEMS", "10", "max_items", 10),
        ("SHOPLENS_KEY_CACHE_SECONDS", "0", "key_cache_seconds", 0.0),
        ("SHOPLENS_TRUST_PROXY", "true", "trust_proxy", True),
        ("SHOPLENS_TRUST_PROXY", "1", "trust_proxy", True),
        ("SHOPLENS_MAX_HEADER_BYTES", "65536", "max_header_bytes", 65536),
        ("SHOPLENS_HEADER_TIMEOUT", "2.5", "header_timeout", 2.5),
        ("SHOPLENS_BODY_TIMEOUT", "60", "body_timeout", 60.0),
        ("SHOPLENS_KEEP_ALIVE_TIMEOUT", "0.5", "keep_alive_timeout", 0.5),
        ("shoplens_port", "9002", "port", 9002),  # case-insensitive, as pydantic-settings is
    ],
)
def test_environment_variables_are_read(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, attribute: str, expected: Any
) -> None:
    monkeypatch.setenv(variable, value)
    assert getattr(Settings(), attribute) == expected


def test_a_flag_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPLENS_PORT", "9001")
    assert Settings(port=7000).port == 7000


def test_unprefixed_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9999")
    assert Settings().port == 8000


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SHOPLENS_FLUSH_INTERVAL", "0"),
        ("SHOPLENS_FLUSH_MAX_ROWS", "-1"),
        ("SHOPLENS_PORT", "eighty"),
        ("SHOPLENS_KEY_CACHE_SECONDS", "-1"),
        ("SHOPLENS_DEDUP_WINDOW_HOURS", "0"),
        ("SHOPLENS_MAX_HEADER_BYTES", "100"),  # not even a request line and a Host header
        ("SHOPLENS_HEADER_TIMEOUT", "0"),
        ("SHOPLENS_BODY_TIMEOUT", "-1"),
        ("SHOPLENS_KEEP_ALIVE_TIMEOUT", "0"),
    ],
)
def test_invalid_values_are_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError):
        Settings()


def test_default_store_url_is_an_absolute_chdb_path_in_the_data_dir(tmp_path: Path) -> None:
    url = Settings(data_dir=Path("relative/data")).resolved_store_url
    assert url == f"chdb://{tmp_path.resolve() / 'relative' / 'data' / 'clickhouse'}"
    assert url.startswith("chdb:///")


def test_default_store_url_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SHOPLENS_DATA_DIR", str(tmp_path / "env-data"))
    assert (
        Settings().resolved_store_url == f"chdb://{tmp_path.resolve() / 'env-data' / 'clickhouse'}"
    )


def test_an_explicit_store_url_is_used_as_given() -> None:
    settings = Settings(data_dir=Path("d"), store_url="clickhouse://ch:8123/shop")
    assert settings.resolved_store_url == "clickhouse://ch:8123/shop"


# Seed 000's "ClickHouse Setup", as an operator following it sets it.
SEED_000 = {
    "CLICKHOUSE_URL": "http://localhost:8123",
    "CLICKHOUSE_DATABASE": "commerce",
    "CLICKHOUSE_USER": "default",
    "CLICKHOUSE_PASSWORD": "s3cret:p@ss/w0rd",
}


def test_seed_000_clickhouse_variables_configure_the_server_store(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Regression: seed 000's CLICKHOUSE_* variables were ignored (the embedded store ran)."""
    for name, value in SEED_000.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    # the arguments open_store's ServerStore hands clickhouse-connect (no server here)
    assert client_kwargs(settings.resolved_store_url) == {
        "host": "localhost",
        "port": 8123,
        "username": "default",
        "password": SEED_000["CLICKHOUSE_PASSWORD"],
        "database": "commerce",
        "secure": False,
    }
    # the password is never shown: not in the console URL, not in the settings' repr
    assert SEED_000["CLICKHOUSE_PASSWORD"] not in settings.display_store_url
    assert settings.display_store_url == "http://default:***@localhost:8123/commerce"
    assert SEED_000["CLICKHOUSE_PASSWORD"] not in repr(settings)


def test_shoplens_store_url_wins_over_the_clickhouse_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in SEED_000.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SHOPLENS_STORE_URL", "clickhouse://ch1:8123/shoplens")
    assert Settings().resolved_store_url == "clickhouse://ch1:8123/shoplens"
    assert Settings(store_url="chdb:///srv/ch").resolved_store_url == "chdb:///srv/ch"


def test_clickhouse_url_alone_uses_the_servers_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLICKHOUSE_URL", "https://ch.example.com")
    kwargs = client_kwargs(Settings().resolved_store_url)
    assert kwargs == {
        "host": "ch.example.com",
        "port": 8443,
        "username": "default",
        "password": "",
        "database": "default",
        "secure": True,
    }
    # without CLICKHOUSE_URL the other three configure nothing: the embedded store
    monkeypatch.delenv("CLICKHOUSE_URL")
    monkeypatch.setenv("CLICKHOUSE_PASSWORD", "x")
    assert Settings().resolved_store_url.startswith("chdb:///")


@pytest.mark.parametrize(
    ("url", "parts", "expected"),
    [
        ("http://localhost:8123", {}, "http://localhost:8123"),
        ("http://localhost:8123", {"database": "commerce"}, "http://localhost:8123/commerce"),
        ("ch:8123", {"user": "reader"}, "http://reader@ch:8123"),
        ("https://u:old@ch/db", {"password": "new"}, "https://u:new@ch/db"),
        ("https://u:old@ch/db", {}, "https://u:old@ch/db"),
        ("http://ch", {"user": "a@b", "password": "p:w/d"}, "http://a%40b:p%3Aw%2Fd@ch"),
        ("http://ch", {"password": "pw"}, "http://default:pw@ch"),
        ("http://ch/db?secure=1", {"database": "other"}, "http://ch/other?secure=1"),
        ("http://[::1]:8123", {}, "http://[::1]:8123"),
    ],
)
def test_clickhouse_store_url(url: str, parts: dict[str, str], expected: str) -> None:
    given = {"database": None, "user": None, "password": None, **parts}
    assert clickhouse_store_url(url, **given) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("clickhouse://u:pw@ch:8123/db", "clickhouse://u:***@ch:8123/db"),
        ("clickhouse://u@ch/db", "clickhouse://u@ch/db"),
        ("chdb:///var/lib/ch", "chdb:///var/lib/ch"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_meta_path_defaults_to_the_data_dir() -> None:
    assert Settings(data_dir=Path("/srv/d")).meta_path == Path("/srv/d/meta.sqlite3")


def test_meta_file_overrides_the_meta_path(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings(data_dir=Path("/srv/d"), meta_file=Path("/m.db")).meta_path == Path("/m.db")
    monkeypatch.setenv("SHOPLENS_META_FILE", "/env/meta.db")
    assert Settings(data_dir=Path("/srv/d")).meta_path == Path("/env/meta.db")


def test_wal_dir_is_in_the_data_dir() -> None:
    assert Settings(data_dir=Path("/srv/d")).wal_dir == Path("/srv/d/wal")


def test_limits_come_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPLENS_MAX_PROPERTIES", "7")
    settings = Settings(
        max_event_bytes=1000, max_request_bytes=5000, max_string_length=64, max_items=3
    )
    assert Limits.from_settings(settings) == Limits(
        max_event_bytes=1000,
        max_request_bytes=5000,
        max_properties=7,
        max_string_length=64,
        max_items=3,
    )
