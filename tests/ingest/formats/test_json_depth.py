"""The JSON nesting bound (``formats.check_json_depth``) every HTTP body and import line
passes, and ``decode``'s backstop for anything deeper that reaches it."""

from __future__ import annotations

import json

import msgspec
import pytest

from shoplens.errors import BadRequest
from shoplens.ingest.formats import MAX_JSON_DEPTH, check_json_depth, decode


def nested(depth: int, inner: bytes = b"1") -> bytes:
    return b'{"a":' * depth + inner + b"}" * depth


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


def test_decode_turns_a_recursion_error_into_a_400() -> None:
    with pytest.raises(BadRequest) as caught:
        decode(nested(5_000), dict[str, msgspec.Raw])
    assert caught.value.field == "body" and "nested too deeply" in caught.value.message


def test_escaped_quotes_and_backslashes_do_not_open_or_close_strings() -> None:
    # An escaped quote keeps the string open: its brackets are text.
    text = json.dumps({"a": 'say "' + "[" * 5_000, "b": 1}).encode()
    assert b'\\"' in text
    check_json_depth(text)
    # An escaped backslash right before the closing quote closes the string: what follows
    # is structure, and nesting there counts.
    tail = json.dumps("dir\\").encode()  # "dir\\"
    assert tail.endswith(b'\\\\"')
    with pytest.raises(BadRequest):
        check_json_depth(b'{"a":' + tail + b',"b":' + nested(MAX_JSON_DEPTH + 1) + b"}")
    check_json_depth(b'{"a":' + tail + b',"b":' + nested(MAX_JSON_DEPTH - 1) + b"}")
