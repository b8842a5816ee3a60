"""Fuzz every operation of the OpenAPI document (schemathesis) against the real app.

Schemathesis reads ``/openapi.json`` from the real ASGI app (its lifespan started: real WAL,
pipeline, chDB store, metadata), generates parameters and bodies for each operation from
the schema — valid ones (positive mode) and ones that break it (negative mode) — and sends
them with a real tenant's secret key. A ``5xx`` or a status the operation does not document
fails the test. Bounded: a few examples per operation and mode (``SHOPLENS_FUZZ_EXAMPLES``,
default 10), no per-example deadline.
Rate limits are off so every example reaches the route instead of stopping at a ``429``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as fuzz_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.generation.case import Case
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import status_code_conformance

from shoplens.app import create_app
from shoplens.auth import issue_key
from shoplens.config import Settings
from shoplens.meta import MetaStore
from shoplens.store import Store
from tests.conftest import TenantKeys

#: ~2 minutes for every operation on this machine: slow (``-m "not slow"`` leaves it out).
pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION = int(os.environ.get("SHOPLENS_FUZZ_EXAMPLES", "10"))

#: Every operation of the document (create_app touches nothing until its lifespan starts).
OPERATIONS = [
    (method, path)
    for path, item in create_app(Settings(data_dir=Path("unused"))).openapi()["paths"].items()
    for method in item
]


@pytest.fixture(scope="module")
def fuzzed(
    tmp_path_factory: pytest.TempPathFactory, meta_file: Path, meta: MetaStore, store: Store
) -> Iterator[tuple[schemathesis.BaseSchema, TenantKeys]]:
    """The schema of a running app (rate limits off) and a real tenant's keys."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("fuzz") / "data",
        meta_file=meta_file,
        flush_interval=0.2,
        rate_limits=False,
        landing_rate_per_minute=0,
    )
    shop = meta.create_tenant("Fuzzed", plan="pro")
    keys = TenantKeys(
        shop.id,
        issue_key(meta, shop.id, "publishable").key,
        issue_key(meta, shop.id, "secret").key,
    )
    app = create_app(settings, store=store)
    try:
        yield schemathesis.openapi.from_asgi("/openapi.json", app), keys
    finally:
        asgi.shutdown_lifespans()  # the app's lifespan, which schemathesis's client started


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_no_operation_answers_a_5xx_or_an_undocumented_status(
    fuzzed: tuple[schemathesis.BaseSchema, TenantKeys],
    method: str,
    path: str,
    mode: GenerationMode,
) -> None:
    schema, keys = fuzzed
    operation = schema[path][method.upper()]

    @given(case=operation.as_strategy(generation_mode=mode))
    @fuzz_settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def fuzz(case: Case) -> None:
        case.call_and_validate(
            headers=keys.sk, checks=[not_a_server_error, status_code_conformance]
        )

    try:
        fuzz()
    except Unsatisfiable:
        if mode is GenerationMode.POSITIVE:
            raise
        pytest.skip("nothing in this operation's schema can be made invalid")
