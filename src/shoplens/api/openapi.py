"""The OpenAPI document, generated from the real request and error models.

- Error responses come from one registry (:data:`ERRORS`), all in the one error shape of
  :mod:`shoplens.errors` (:class:`ErrorBody`); routes declare which they may answer with
  FastAPI's ``responses=`` using the groups below (:data:`KEYED`, :data:`INGEST`, …).
- Request bodies are declared with ``openapi_extra=json_body(...)``: the msgspec structs the
  ingest formats decode into give their JSON schemas (:data:`BODY_MODELS`); bodies parsed by
  hand (custom query, settings, catalog) carry a small schema written beside the parser's
  rules.
- :func:`build` drops the 422 FastAPI documents by default: this server answers invalid
  parameters with a 400 in its own shape (``app._validation_error``), never a 422.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field

from shoplens.ingest.formats import core, ecommerce, landing, segment


class ErrorBody(BaseModel):
    """The one error shape (:meth:`shoplens.errors.ShoplensError.body`)."""

    ok: Literal[False] = False
    error: str = Field(description="what went wrong, naming the field and the rule")
    field: str | None = Field(description="the request field at fault, if one is")


_RETRY_AFTER = {
    "Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}
}

#: Every error status a route may answer, and what it means. 405 is answered for a method a
#: path does not serve (with ``Allow`` listing the ones it does); it is not an operation's.
ERRORS: dict[int, str] = {
    400: "Bad request: a parameter or body field broke a rule (``field`` names it)",
    401: "Missing or unknown API key",
    403: "Key not allowed here: a publishable key on a secret-key route, another tenant, "
    "or a feature the plan does not include",
    404: "Not found",
    413: "Request body, or one event in it, over its size limit",
    429: "Rate limit, monthly event quota or concurrent exports exceeded; ``Retry-After`` says "
    "when to retry",
    503: "Ingestion cannot take events now (write-ahead log full or shutting down); retry "
    "after ``Retry-After``",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """FastAPI ``responses=`` for these error statuses, from :data:`ERRORS`."""
    return {
        status: {
            "model": ErrorBody,
            "description": ERRORS[status],
            **({"headers": _RETRY_AFTER} if status in (429, 503) else {}),
        }
        for status in statuses
    }


#: A route behind an API key: bad parameters, no key, wrong key kind or plan, rate limit.
KEYED = errors(400, 401, 403, 429)
#: A keyed route that reads a body (bounded: 413 past the request size limit).
KEYED_BODY = errors(400, 401, 403, 413, 429)
#: A keyed ingest route: its events go to the write-ahead log (503 when it cannot take them).
INGEST = errors(400, 401, 403, 413, 429, 503)
#: The public landing tracker (seed 004): no key, tenant in the body, per-tenant rate limit.
PUBLIC_INGEST = errors(400, 413, 429, 503)
#: A keyed route about one thing named in its path.
KEYED_ONE = errors(400, 401, 403, 404, 429)


#: The decoded request models whose JSON schemas document the ingest bodies.
BODY_MODELS: tuple[type, ...] = (
    core.CoreEventIn,
    core.CoreBatchIn,
    ecommerce.EcommerceIn,
    ecommerce.BatchIn,
    landing.LandingIn,
    segment.MessageIn,
    segment.BatchIn,
)
_REF = "#/components/schemas/{name}"
_REFS, COMPONENTS = msgspec.json.schema_components(BODY_MODELS, ref_template=_REF)
_SCHEMA_OF: dict[type, dict[str, Any]] = dict(zip(BODY_MODELS, _REFS, strict=True))

_INT_OR_NULL = {"type": ["integer", "null"], "minimum": 1}

#: Bodies parsed by hand, described here beside the rules of their parsers.
QUERY_BODY: dict[str, Any] = {
    "type": "object",
    "description": "Custom query: metrics, dimensions, filters, period, comparison, "
    "pagination (docs/query.md; GET /analytics/query/catalog lists the names)",
    "properties": {
        "metrics": {"type": "array", "items": {"type": "string"}},
        "dimensions": {"type": "array", "items": {"type": "string"}},
        "filters": {"type": "array", "items": {"type": "object"}},
        "funnel": {"type": "object"},
    },
}
RETENTION_BODY: dict[str, Any] = {
    "type": "object",
    "properties": {
        "retention": {
            "type": "object",
            "properties": {"rawEvents": _INT_OR_NULL, "aggregatedMetrics": _INT_OR_NULL},
            "additionalProperties": False,
            "minProperties": 1,
        }
    },
    "required": ["retention"],
    "additionalProperties": False,
}
_RATES_ENTRY: dict[str, Any] = {
    "type": "object",
    "properties": {
        "base": {"type": "string", "description": "ISO 4217 code the rates are quoted in"},
        "date": {"type": "string", "format": "date"},
        "rates": {"type": "object", "additionalProperties": {"type": "number"}},
    },
    "required": ["date", "rates"],
}
RATES_BODY: dict[str, Any] = {
    "description": "one rates object or a list of them",
    "anyOf": [_RATES_ENTRY, {"type": "array", "items": _RATES_ENTRY}],
}
CATALOG_BODY: dict[str, Any] = {
    "type": "object",
    "properties": {
        "products": {
            "type": "array",
            "minItems": 1,
            "maxItems": 1000,
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "name": {"type": "string"},
                    "category": {"type": "string"},
                    "price": {"type": "number"},
                    "currency": {"type": "string"},
                    "stock": {"type": "integer"},
                    "brand": {"type": "string"},
                    "image_url": {"type": "string"},
                    "created_at": {"type": ["string", "integer"]},
                },
                "required": ["id"],
            },
        }
    },
    "required": ["products"],
}
FRAUD_SETTINGS_BODY: dict[str, Any] = {
    "type": "object",
    "description": 'rules to change: {"rules": {"velocity": {"enabled": true, "severity": 2, '
    '"thresholds": {"per_user": 5}}}}',
    "properties": {"rules": {"type": "object", "additionalProperties": {"type": "object"}}},
    "required": ["rules"],
}


def json_body(model: type | dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` declaring a required JSON body: a decoded model of
    :data:`BODY_MODELS`, or a schema written by hand."""
    schema = model if isinstance(model, dict) else _SCHEMA_OF[model]
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


#: How a key is sent (``shoplens.auth``); Segment's routes also take it as the Basic username.
SECURITY_SCHEMES = {
    "apiKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "Authorization: Bearer pk_… (send events) or sk_… (also query and "
        "administer)",
    }
}


def build(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document (cached): FastAPI's, with the body models' components,
    the key every operation that may answer 401 needs, and without the 422 responses the
    server never answers."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            responses.pop("422", None)
            if "401" in responses:
                operation["security"] = [{"apiKey": []}]
    schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
    components = schema["components"].setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    components.update(COMPONENTS)
    app.openapi_schema = schema
    return schema
