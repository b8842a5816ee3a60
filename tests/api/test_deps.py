"""What every route shares (``api.deps``): the JSON nesting bound of every request body.

A body nested ~1,000 deep once made every JSON decoder raise ``RecursionError``: a 500 on
every body route, the keyless landing tracker included. Now a 400 naming ``body``.
"""

from __future__ import annotations

import gzip
import json

import pytest
from fastapi.testclient import TestClient

from shoplens.api.deps import MAX_JSON_DEPTH, check_json_depth
from shoplens.errors import BadRequest
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


def test_the_bound_counts_levels_not_brackets() -> None:
    check_json_depth(nested(MAX_JSON_DEPTH))
    wide = b"[" + b",".join([b"[[1]]"] * 10_000) + b"]"  # 30,000 brackets, 3 deep
    check_json_depth(wide)
    with pytest.raises(BadRequest) as caught:
        check_json_depth(nested(MAX_JSON_DEPTH + 1))
    assert caught.value.field == "body"
    assert f"{MAX_JSON_DEPTH} levels" in caught.value.message


def test_brackets_inside_strings_do_not_nest() -> None:
    text = json.dumps({"note": "[" * 5_000 + '\\" {{{' + "{" * 5_000}).encode()
    check_json_depth(text)
    # ... and a closing bracket in a string does not hide real nesting either.
    hidden = nested(MAX_JSON_DEPTH + 1, inner=json.dumps("]" * 500 + '\\"]]').encode())
    with pytest.raises(BadRequest):
        check_json_depth(hidden)
