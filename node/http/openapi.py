"""The OpenAPI 3.1 document of the HTTP API, written by hand next to the handlers.

It is served at ``/v1/openapi.json`` and checked in at ``docs/openapi.json``; a test compares
the two and fails when a route exists that the document lacks. Regenerate the checked-in
copy with ``python -m node.http.openapi > docs/openapi.json``.
"""

from __future__ import annotations

import json
from typing import Any

from node.http.review_openapi import REVIEW_PATHS, REVIEW_SCHEMAS

_PROBLEM = {"$ref": "#/components/responses/Problem"}
_SIGNAL_TEXT = (
    "TYPE:VALUE, e.g. pdq:<64 hex>, md5:<32 hex>, sha1:<40 hex>, sha256:<64 hex>, vpdq:<64 hex per frame>"
)


def _json(schema: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}


def _problems(*codes: str) -> dict[str, Any]:
    return dict.fromkeys(codes, _PROBLEM)


def _strings(description: str) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string"}, "description": description}


def _query_parameter(
    name: str, description: str, *, repeatable: bool = False, integer: bool = False
) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "integer"} if integer else {"type": "string"}
    schema = {"type": "array", "items": item} if repeatable else item
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
        "explode": True,
    }


_MATCH = {
    "type": "object",
    "required": ["indicator_id", "origin", "origin_name", "category", "signal_type", "distance", "tlp"],
    "properties": {
        "indicator_id": {"type": "string"},
        "origin": {"type": "string", "description": "key id of the origin (hex SHA-256 of its public key)"},
        "origin_name": {"type": "string"},
        "category": {"type": "string"},
        "signal_type": {"type": "string"},
        "content_type": {"type": "string"},
        "distance": {"type": "integer"},
        "tlp": {"type": "string", "enum": ["clear", "green", "amber", "amber+strict", "red"]},
        "query_match_percent": {"type": ["number", "null"]},
        "compared_match_percent": {"type": ["number", "null"]},
        "trust": {"type": "string"},
        "agreed": {"type": "integer"},
        "disputed": {"type": "integer"},
        "consensus": {"type": "string", "enum": ["none", "agreed", "disputed", "contested"]},
        "corroboration": {
            "type": "integer",
            "description": "independent origins among the matches this account may see",
        },
    },
}

_MATCH_RESULT = {
    "type": "object",
    "description": "one per item of the request, in order: matches, or the item's own error",
    "required": ["query", "matches"],
    "properties": {
        "query": {"type": "string", "description": "the signal as given, or signals[N] for a refused item"},
        "error": {"type": "string", "description": "why this item could not be matched (the rest were)"},
        "signal": {"type": "string"},
        "signal_type": {"type": "string"},
        "corroboration": {"type": "integer"},
        "matches": {"type": "array", "items": {"$ref": "#/components/schemas/Match"}},
        "safelisted": {"type": "boolean"},
        "suppressed": {"type": "array", "items": {"$ref": "#/components/schemas/Match"}},
    },
}

_QUERY_ROW = {
    "type": "object",
    "properties": {
        name: {"type": kind}
        for name, kind in (
            ("id", "string"),
            ("origin", "string"),
            ("origin_name", "string"),
            ("signal_type", "string"),
            ("value", "string"),
            ("category", "string"),
            ("content_type", "string"),
            ("tlp", "string"),
            ("status", "string"),
            ("created", "string"),
            ("modified", "string"),
            ("valid_until", ["string", "null"]),
            ("distance", ["integer", "null"]),
        )
    },
}

_SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details",
        "required": ["type", "title", "status", "detail", "reason"],
        "properties": {
            "type": {"type": "string", "description": "urn:accord:problem:<reason>"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string", "description": "what and why; never a hash value"},
            "reason": {"type": "string", "description": "stable machine label (the error's reason)"},
        },
    },
    "Health": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string", "enum": ["serving", "loading"]}},
    },
    "MatchRequest": {
        "type": "object",
        "required": ["signals"],
        "additionalProperties": False,
        "properties": {
            "signals": {
                **_strings(_SIGNAL_TEXT),
                "minItems": 1,
                "description": "at most limits.max_batch_signals",
            },
            "categories": _strings("only matches of these harm categories"),
            "origins": _strings("only matches from these origins (local name or key id)"),
            "min_corroboration": {"type": "integer", "minimum": 1, "default": 1},
        },
    },
    "MatchResponse": {
        "type": "object",
        "required": ["results"],
        "properties": {"results": {"type": "array", "items": {"$ref": "#/components/schemas/MatchResult"}}},
    },
    "MatchResult": _MATCH_RESULT,
    "Match": _MATCH,
    "QueryAnswer": {
        "type": "object",
        "required": ["rows", "truncated"],
        "properties": {
            "rows": {"type": "array", "items": {"$ref": "#/components/schemas/QueryRow"}},
            "truncated": {"type": "boolean"},
        },
    },
    "QueryRow": _QUERY_ROW,
    "Status": {
        "type": "object",
        "description": "the object `accord status --json` prints",
        "required": ["name", "key_id", "own_head_seq", "partners", "counts"],
        "properties": {
            "name": {"type": "string"},
            "key_id": {"type": "string"},
            "own_head_seq": {"type": "integer"},
            "partners": {"type": "array", "items": {"type": "object"}},
            "counts": {"type": "array", "items": {"type": "object"}},
        },
    },
}

_QUERY_PARAMETERS = [
    _query_parameter("signal", "exact signal TYPE:VALUE"),
    _query_parameter("near", "near-duplicate search: pdq:<64 hex> within distance"),
    _query_parameter("distance", "Hamming distance for near (default 31)", integer=True),
    _query_parameter("category", "harm category", repeatable=True),
    _query_parameter("origin", "origin: local name or key id", repeatable=True),
    _query_parameter("tlp", "TLP level; levels above the account's maximum answer nothing", repeatable=True),
    _query_parameter("status", "active, revoked, disputed, expired, quarantined", repeatable=True),
    _query_parameter("content_type", "image, video or file", repeatable=True),
    _query_parameter("since", "first published at or after (YYYY-MM-DD or RFC 3339 UTC)"),
    _query_parameter("until", "first published before (YYYY-MM-DD or RFC 3339 UTC)"),
    _query_parameter("sort", "-created, created, -modified, category, origin, distance"),
    _query_parameter("limit", "at most this many rows (default 100)", integer=True),
]

_PATHS: dict[str, Any] = {
    "/v1/health": {
        "get": {
            "summary": "Readiness: 200 once the match lists are loaded, 503 before",
            "security": [],
            "responses": {
                "200": {"description": "serving", "content": _json("Health")},
                "503": {"description": "still loading the match lists", "content": _json("Health")},
            },
        }
    },
    "/v1/openapi.json": {
        "get": {
            "summary": "This document",
            "security": [],
            "responses": {
                "200": {"description": "the OpenAPI 3.1 document", "content": {"application/json": {}}}
            },
        }
    },
    "/v1/status": {
        "get": {
            "summary": "Node status, as `accord status --json` (roles admin, analyst)",
            "responses": {
                "200": {"description": "status", "content": _json("Status")},
                **_problems("401", "403", "429"),
            },
        }
    },
    "/v1/match": {
        "post": {
            "summary": "Match a batch of signals (every role); one result or error per item",
            "requestBody": {"required": True, "content": _json("MatchRequest")},
            "responses": {
                "200": {"description": "one result per item, in order", "content": _json("MatchResponse")},
                **_problems("400", "401", "403", "413", "429", "503"),
            },
        }
    },
    "/v1/indicators": {
        "get": {
            "summary": "Query held indicators, as `accord query --json` (roles analyst, reviewer, admin)",
            "description": "Never above the account's maximum TLP; RED only when that maximum is red.",
            "parameters": _QUERY_PARAMETERS,
            "responses": {
                "200": {"description": "matching indicators", "content": _json("QueryAnswer")},
                **_problems("400", "401", "403", "429"),
            },
        }
    },
}

_PATHS.update(REVIEW_PATHS)  # the review queue and appeals (node/http/review_openapi.py)
_SCHEMAS.update(REVIEW_SCHEMAS)


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 description of every route of the HTTP API."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Accord node HTTP API",
            "version": "1",
            "description": "Match and query a node's hash lists. Bearer tokens from `accord account add`.",
        },
        "security": [{"bearer": []}],
        "paths": _PATHS,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": _SCHEMAS,
            "responses": {
                "Problem": {
                    "description": "an error, as RFC 9457 problem details",
                    "content": {
                        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                    },
                }
            },
        },
    }


def render() -> str:
    """The document as checked in at ``docs/openapi.json``."""
    return json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(render(), end="")
