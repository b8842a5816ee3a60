"""What every route shares (``api.deps``): the JSON nesting bound of every request body.

A body nested ~1,000 deep once made every JSON decoder raise ``RecursionError``: a 500 on
every body route, the keyless landing tracker included. Now a 400 naming ``body``.
"""

from __future__ import annotations

import gzip
import json

from fastapi.testclient import TestClient

from shoplens.ingest.formats import MAX_JSON_DEPTH
from tests.conftest import TenantKeys, assert_bad_request


def nested(depth: int, inner: bytes = b"1") -> bytes:
    """``{"a": {"a": … inner …}}``, ``depth`` objects deep."""
    return b'{"a":' * depth + inner + b"}" * depth


def body_routes(client: TestClient) -> list[tuple[str, str]]:
    """(method, path) of every documented route that reads a body, from the app's schema."""
    spec = client.get("/openapi.json").json()
    return sorted(
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method in operations
        if method in ("post", "put", "patch")
    )


def test_every_body_route_is_covered(client: TestClient) -> None:
    paths = {path for _, path in body_routes(client)}
    assert {"/api/analytics/track", "/analytics/event", "/analytics/query", "/v1/batch"} <= paths
    assert len(paths) >= 12


def test_a_1000_deep_body_is_a_400_on_every_body_route(
    client: TestClient, tenant: TenantKeys
) -> None:
    deep = nested(1_000)
    for method, path in body_routes(client):
        headers = {**tenant.sk, "content-type": "application/json"}
        if path == "/api/analytics/track":
            headers = {"content-type": "application/json"}  # the keyless route
        response = client.request(method, path, content=deep, headers=headers)
        assert response.status_code == 400, (method, path, response.text)
        assert_bad_request(response, "body")


def test_a_deep_gzip_body_is_a_400_on_the_segment_routes(
    client: TestClient, tenant: TenantKeys
) -> None:
    headers = {**tenant.sk, "content-type": "application/json", "content-encoding": "gzip"}
    response = client.post("/v1/batch", content=gzip.compress(nested(1_000)), headers=headers)
    assert_bad_request(response, "body")


def test_nesting_up_to_the_bound_is_decoded_as_usual(
    client: TestClient, tenant: TenantKeys
) -> None:
    # 63 objects in properties plus the event object itself: exactly the bound.
    properties = json.loads(nested(MAX_JSON_DEPTH - 1))
    response = client.post(
        "/analytics/event", headers=tenant.pk, json={"event": "deep", "properties": properties}
    )
    assert response.status_code == 201, response.text
