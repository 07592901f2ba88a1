"""The OpenAPI 3.1 document of the HTTP API, written by hand next to the handlers.

It is served at ``/v1/openapi.json`` and checked in at ``docs/openapi.json``; a test compares
the two and fails when a route exists that the document lacks. Regenerate the checked-in
copy with ``python -m node.http.openapi > docs/openapi.json``.
"""

from __future__ import annotations

import json
from typing import Any

from node.http.review_openapi import REVIEW_PATHS, REVIEW_SCHEMAS
from node.model.accounts import Role

_PROBLEM = {"$ref": "#/components/responses/Problem"}
_SIGNAL_TEXT = (
    "TYPE:VALUE, e.g. pdq:<64 hex>, md5:<32 hex>, sha1:<40 hex>, sha256:<64 hex>, vpdq:<64 hex per frame>"
    ", url:<http(s) URL>, domain:<name>, model:<64 hex per tensor>"
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
        "c2pa": {
            "type": ["object", "null"],
            "description": "the C2PA summary the origin recorded with the indicator: its reading"
            " (valid, trusted under its anchors, ai_generated, ...), evidence and never trust",
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
        "attestations": {
            "type": "array",
            "description": "attested originals the signal meets (provenance, never a block-list match):"
            " verdict 'authentic' only for an equal md5/sha256, else 'similar' (possibly altered)",
            "items": {"type": "object"},
        },
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
            ("description", ["string", "null"]),
            ("labels", "array"),
            ("attestation", ["object", "null"]),
            ("c2pa", ["object", "null"]),  # the origin's C2PA reading of the file it hashed
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
    _query_parameter("label", "only indicators carrying this label (e.g. election:us-2026)", repeatable=True),
]

_DELIVERY = {
    "type": "object",
    "description": "one delivery of the webhook outbox, as `accord delivery list --json` prints it",
    "required": ["id", "idempotency_key", "webhook", "rule", "state", "attempts"],
    "properties": {
        "id": {"type": "integer"},
        "idempotency_key": {"type": "string"},
        "webhook": {"type": "string"},
        "rule": {"type": "string"},
        "content_id": {"type": "string"},
        "state": {"type": "string", "enum": ["pending", "delivered", "dead"]},
        "attempts": {"type": "integer"},
        "created": {"type": "string"},
        "next_attempt_at": {"type": ["number", "null"], "description": "unix seconds"},
        "last_attempt_at": {"type": ["string", "null"]},
        "last_status": {"type": ["integer", "null"]},
        "last_error": {"type": ["string", "null"]},
        "delivered_at": {"type": ["string", "null"]},
    },
}

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
    "/v1/deliveries": {
        "get": {
            "summary": "Webhook deliveries of the outbox, newest first (role admin)",
            "parameters": [
                _query_parameter("state", "pending, delivered or dead"),
                _query_parameter("limit", "at most this many (1-1000, default 100)", integer=True),
            ],
            "responses": {
                "200": {
                    "description": "deliveries (never their bodies)",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"deliveries": {"type": "array", "items": _DELIVERY}},
                            }
                        }
                    },
                },
                **_problems("400", "401", "403", "429"),
            },
        }
    },
    "/v1/deliveries/{delivery_id}/replay": {
        "post": {
            "summary": "Send a delivery again (role admin; audited)",
            "description": "Same idempotency key and body; the attempts start over and it is due at once.",
            "parameters": [
                {"name": "delivery_id", "in": "path", "required": True, "schema": {"type": "integer"}}
            ],
            "responses": {
                "200": {
                    "description": "the delivery, due now",
                    "content": {"application/json": {"schema": _DELIVERY}},
                },
                **_problems("400", "401", "403", "404", "429"),
            },
        }
    },
}


# --- media matching, filters, near queries, provenance, curation (node/http/endpoints.py) ----

_FILTER_PROPERTIES: dict[str, Any] = {
    "min_trust": {
        "type": "string",
        "enum": ["auto", "review", "observe"],
        "default": "observe",
        "description": "only matches whose origin is trusted at least this much (own > auto > review)",
    },
    "list_kinds": {
        "type": "array",
        "items": {"type": "string", "enum": ["block", "safelist"]},
        "description": "block: harmful matches; safelist: what a safelisted query suppressed (default both)",
    },
}
_SCHEMAS["MatchRequest"]["properties"].update(_FILTER_PROPERTIES)
# Acting on the caller's content (node/app/responding.py): rules, webhooks, the review queue.
_SCHEMAS["MatchRequest"]["properties"].update(
    {
        "content": {
            "type": "object",
            "additionalProperties": False,
            "required": ["id"],
            "description": "the caller's piece of content these signals came from: the matches are"
            " acted on (review queue, rules, webhooks) and the answer carries `action`",
            "properties": {
                "id": {"type": "string", "maxLength": 256, "description": "opaque, the caller's own"},
                "url": {"type": "string", "maxLength": 2048},
            },
        },
        "decision": {"type": "string", "description": "the caller's own decision (rules may select on it)"},
    }
)
_SCHEMAS["Action"] = {
    "type": "object",
    "description": "what acting on the content did: matches a person must decide first (for_review,"
    " never auto-actioned), the review item, the rules that fired and their webhook deliveries",
    "properties": {
        "content": {"type": "object"},
        "for_review": _strings("indicator ids put before a person instead of auto-action"),
        "review_item": {"type": ["integer", "null"]},
        "decision": {"type": ["string", "null"]},
        "fired": _strings("rules that fired"),
        "review": {"type": "boolean", "description": "a rule asked for review"},
        "review_reasons": _strings("the rules that asked for review"),
        "deliveries": {"type": "array", "items": {"type": "object"}},
        "withheld": _strings("webhooks that got nothing: every match above their maximum TLP"),
        "dry_run": {"type": "boolean"},
    },
}
_SCHEMAS["MatchResponse"]["properties"]["action"] = {"$ref": "#/components/schemas/Action"}
_SCHEMAS["MatchOptions"] = {
    "type": "object",
    "additionalProperties": False,
    "description": "the filters of MatchRequest, without signals",
    "properties": {
        key: value for key, value in _SCHEMAS["MatchRequest"]["properties"].items() if key != "signals"
    },
}
_SCHEMAS["MediaMatchRequest"] = {
    "type": "object",
    "description": "one or more file parts (any field name) and an optional JSON part named options",
    "properties": {
        "files": {
            "type": "array",
            "items": {"type": "string", "contentMediaType": "application/octet-stream"},
        },
        "options": {"$ref": "#/components/schemas/MatchOptions"},
    },
}
_SCHEMAS["MediaMatchResponse"] = {
    "type": "object",
    "required": ["results"],
    "properties": {
        "results": {
            "type": "array",
            "description": "one per file part, in order",
            "items": {
                "type": "object",
                "required": ["query", "filename", "results"],
                "properties": {
                    "query": {"type": "string", "description": "files[N]"},
                    "filename": {"type": "string"},
                    "error": {"type": "string", "description": "why this file could not be hashed"},
                    "notes": _strings("what could not be used (e.g. over the pixel limit: no pdq)"),
                    "results": {"type": "array", "items": {"$ref": "#/components/schemas/MatchResult"}},
                },
            },
        }
    },
}
_PATHS["/v1/match"]["post"]["requestBody"]["content"]["multipart/form-data"] = {
    "schema": {"$ref": "#/components/schemas/MediaMatchRequest"}
}
_PATHS["/v1/match"]["post"]["responses"]["200"]["description"] = (
    "one result per item, in order (multipart: MediaMatchResponse, one result per file)"
)
_SCHEMAS["Provenance"] = {
    "type": "object",
    "description": "a QueryRow with versions, matches, opinions and sightings (`accord show --json`)",
    "properties": {
        **dict(_SCHEMAS["QueryRow"]["properties"]),
        "versions": {"type": "array", "items": {"type": "object"}},
        "matches": {"type": ["object", "null"]},
        "opinions": _strings("other origins' current opinions"),
        "sightings": _strings("sightings reported"),
    },
}
_SCHEMAS["Refused"] = {
    "type": "object",
    "properties": {"source": {"type": "string"}, "reason": {"type": "string"}, "known": {"type": "boolean"}},
}
_SCHEMAS["ContributeRequest"] = {
    "type": "object",
    "required": ["signals", "category"],
    "additionalProperties": False,
    "properties": {
        "signals": {**_strings(_SIGNAL_TEXT), "minItems": 1},
        "category": {"type": "string"},
        "tlp": {
            "type": "string",
            "enum": ["clear", "green", "amber", "amber+strict", "red"],
            "default": "green",
        },
        "to": _strings("recipient partners (amber and red)"),
        "groups": _strings("sharing groups (amber and red)"),
        "valid_until": {"type": "string", "description": "RFC 3339 UTC"},
        "content_type": {"type": "string", "enum": ["image", "video", "file"]},
        "force": {"type": "boolean", "default": False},
        "force_warninglisted": {"type": "boolean", "default": False},
        "new_category": {"type": "boolean", "default": False},
        "any_file": {
            "type": "boolean",
            "default": False,
            "description": "with media files: share a file that is not an image, video or model"
            " weights file by its md5 and sha256",
        },
    },
}
_SCHEMAS["ContributeOptions"] = {
    "type": "object",
    "required": ["category"],
    "additionalProperties": False,
    "description": "the fields of ContributeRequest; signals are optional beside media files",
    "properties": dict(_SCHEMAS["ContributeRequest"]["properties"]),
}
_SCHEMAS["MediaContributeRequest"] = {
    "type": "object",
    "required": ["options"],
    "description": "one or more file parts (any field name) and a JSON part named options",
    "properties": {
        "files": {
            "type": "array",
            "items": {"type": "string", "contentMediaType": "application/octet-stream"},
        },
        "options": {"$ref": "#/components/schemas/ContributeOptions"},
    },
}
_SCHEMAS["ContributeResult"] = {
    "type": "object",
    "description": "`accord contribute --json`",
    "properties": {
        "published": {"type": "boolean"},
        "entries": {"type": "array", "items": {"type": "integer"}},
        "added": {"type": "integer"},
        "relabelled": {"type": "integer"},
        "duplicates": {"type": "integer"},
        "refused": {"type": "array", "items": {"$ref": "#/components/schemas/Refused"}},
        "forced": {"type": "array", "items": {"type": "object"}},
        "c2pa": {
            "type": "array",
            "items": {"type": "object"},
            "description": "C2PA summaries recorded, per file",
        },
        "c2pa_note": {"type": ["string", "null"], "description": "why C2PA was not checked"},
    },
}
_SCHEMAS["CurationResult"] = {
    "type": "object",
    "description": "`accord revoke|expire|relabel --json`",
    "properties": {
        "action": {"type": "string", "enum": ["revoke", "expire", "relabel"]},
        "updated": {"type": "integer"},
        "unchanged": {"type": "integer"},
        "entries": {"type": "array", "items": {"type": "integer"}},
        "refused": {"type": "array", "items": {"$ref": "#/components/schemas/Refused"}},
    },
}
_SCHEMAS["ExpireRequest"] = {
    "type": "object",
    "required": ["at"],
    "additionalProperties": False,
    "properties": {"at": {"type": "string", "description": "RFC 3339 UTC or YYYY-MM-DD"}},
}
_SCHEMAS["RelabelRequest"] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        key: _SCHEMAS["ContributeRequest"]["properties"][key]
        for key in ("category", "content_type", "tlp", "to", "groups", "new_category")
    },
}
_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "indicator--<uuid>, or a signal TYPE:VALUE",
    "schema": {"type": "string"},
}


def _curation(action: str, body: str | None) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": f"`accord {action} --json` of one of this node's indicators (roles admin, contributor)",
        "parameters": [_ID],
        "responses": {
            "200": {"description": "what changed", "content": _json("CurationResult")},
            **_problems("400", "401", "403", "404", "413", "429"),
        },
    }
    if body is not None:
        operation["requestBody"] = {"required": True, "content": _json(body)}
    return {"post": operation}


_PATHS["/v1/indicators/near"] = {
    "get": {
        "summary": "Near-duplicate query, as `accord query --near --json` (roles analyst, reviewer, admin)",
        "parameters": [
            _query_parameter("signal", "pdq:<64 hex>"),
            _query_parameter("distance", "Hamming distance (default 31)", integer=True),
            _query_parameter("limit", "at most this many rows (default 100)", integer=True),
        ],
        "responses": {
            "200": {"description": "indicators nearest first", "content": _json("QueryAnswer")},
            **_problems("400", "401", "403", "429"),
        },
    }
}
_PATHS["/v1/indicators"]["post"] = {
    "summary": "Contribute signals or media files, as `accord contribute --json`"
    " (roles admin, contributor; idempotent)",
    "description": "Needs an admin or contributor account whose maximum TLP is red (403 otherwise). As"
    " multipart/form-data, each file part is hashed as `accord contribute FILE` hashes it (md5,"
    " sha256, pdq or vpdq, model tensors; C2PA manifests recorded) and refusals name the part"
    " as files[N] (its file name).",
    "requestBody": {
        "required": True,
        "content": {
            **_json("ContributeRequest"),
            "multipart/form-data": {"schema": {"$ref": "#/components/schemas/MediaContributeRequest"}},
        },
    },
    "responses": {
        "200": {"description": "what was published", "content": _json("ContributeResult")},
        **_problems("400", "401", "403", "413", "429"),
    },
}
_PATHS["/v1/indicators/{id}"] = {
    "get": {
        "summary": "Provenance, as `accord show --json` (roles analyst, reviewer, admin)",
        "description": "An indicator above the account's maximum TLP is answered like one not held (404).",
        "parameters": [_ID],
        "responses": {
            "200": {
                "description": "the indicator(s)",
                "content": {
                    "application/json": {
                        "schema": {"type": "array", "items": {"$ref": "#/components/schemas/Provenance"}}
                    }
                },
            },
            **_problems("400", "401", "403", "404", "429"),
        },
    }
}
_PATHS["/v1/indicators/{id}/revoke"] = _curation("revoke", None)
_PATHS["/v1/indicators/{id}/expire"] = _curation("expire", "ExpireRequest")
_PATHS["/v1/indicators/{id}/relabel"] = _curation("relabel", "RelabelRequest")

# --- Hasher-Matcher-Actioner 2.0 compatible lookups (node/http/hma.py) ---------------------

_HMA_CONTENT = {
    "type": "object",
    "required": ["bank_content_id", "distance"],
    "properties": {
        "bank_content_id": {"type": "integer", "description": "52 bits of the indicator id's UUID"},
        "distance": {"type": "string"},
        "indicator_id": {"type": "string", "description": "Accord's addition"},
    },
}
_SCHEMAS["HmaBankMatches"] = {
    "type": "object",
    "description": "bank (<origin name>:<category>) -> matching bank content",
    "additionalProperties": {"type": "array", "items": _HMA_CONTENT},
}
_SCHEMAS["HmaRawLookup"] = {
    "type": "object",
    "required": ["matches"],
    "properties": {"matches": {"type": "array", "items": {"oneOf": [{"type": "integer"}, _HMA_CONTENT]}}},
}
_HMA_FILE = {
    "multipart/form-data": {
        "schema": {
            "type": "object",
            "description": "exactly one file part, named photo or video",
            "properties": {"photo": {"type": "string"}, "video": {"type": "string"}},
        }
    }
}
_HMA_SIGNAL = [
    _query_parameter("signal_type", "pdq, video_md5, md5, sha1 or sha256"),
    _query_parameter("signal", "the hash value"),
    _query_parameter("banks", "comma-separated banks to restrict to"),
]
_PATHS["/m/raw_lookup"] = {
    "get": {
        "summary": "HMA 2.0 raw lookup (every role)",
        "parameters": [
            *_HMA_SIGNAL,
            _query_parameter("include_distance", "true: content ids with distances"),
        ],
        "responses": {
            "200": {"description": "matching content ids", "content": _json("HmaRawLookup")},
            **_problems("400", "401", "403", "429", "503"),
        },
    }
}
_PATHS["/m/lookup"] = {
    "get": {
        "summary": "HMA 2.0 lookup of a signal, by bank (every role; url is refused: upload instead)",
        "parameters": [*_HMA_SIGNAL, _query_parameter("seed", "accepted; no coin flip in Accord")],
        "responses": {
            "200": {"description": "matches by bank", "content": _json("HmaBankMatches")},
            **_problems("400", "401", "403", "429", "503"),
        },
    },
    "post": {
        "summary": "HMA 2.0 lookup of uploaded media: by signal type, then by bank (every role)",
        "parameters": [
            _query_parameter("banks", "comma-separated banks to restrict to"),
            _query_parameter("types", "comma-separated signal types to compute"),
        ],
        "requestBody": {"required": True, "content": _HMA_FILE},
        "responses": {
            "200": {
                "description": "signal type -> bank -> matches",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "additionalProperties": {"$ref": "#/components/schemas/HmaBankMatches"},
                        }
                    }
                },
            },
            **_problems("400", "401", "403", "413", "429", "503"),
        },
    },
}
_PATHS["/h/hash"] = {
    "post": {
        "summary": "HMA 2.0 hashing of uploaded media: signal type -> value (every role)",
        "parameters": [_query_parameter("types", "comma-separated signal types to compute")],
        "requestBody": {"required": True, "content": _HMA_FILE},
        "responses": {
            "200": {
                "description": "the media's signals",
                "content": {
                    "application/json": {
                        "schema": {"type": "object", "additionalProperties": {"type": "string"}}
                    }
                },
            },
            **_problems("400", "401", "403", "413", "429", "503"),
        },
    }
}
# --- sessions (people): login, logout, session; cookie-authenticated changes need X-CSRF-Token ---
_SCHEMAS["Login"] = {
    "type": "object",
    "required": ["name", "password"],
    "additionalProperties": False,
    "properties": {"name": {"type": "string", "maxLength": 63}, "password": {"type": "string"}},
}
_SCHEMAS["Session"] = {
    "type": "object",
    "required": ["account", "role", "max_tlp", "csrf_token"],
    "properties": {
        "account": {"type": "string"},
        "role": {"type": "string", "enum": [r.value for r in Role]},
        "max_tlp": {"type": "string"},
        "partner": {"type": ["string", "null"]},
        "csrf_token": {
            "type": ["string", "null"],
            "description": "send as X-CSRF-Token with every cookie-authenticated non-GET request"
            " (null for a bearer token, which needs none)",
        },
        "expires_at": {"type": "string", "description": "when the session ends (login answer only)"},
    },
}
_PATHS["/v1/login"] = {
    "post": {
        "summary": "Log a person in with name and password: sets the session cookie (HttpOnly,"
        " SameSite=Strict, Secure over TLS) and returns the CSRF token",
        "description": "One answer (401) for an unknown name and a wrong password. Failed logins lock"
        " the name and the client address out for a while (429 with Retry-After).",
        "security": [],
        "requestBody": {"required": True, "content": _json("Login")},
        "responses": {
            "200": {"description": "logged in", "content": _json("Session")},
            **_problems("400", "401", "413", "429"),
        },
    }
}
_PATHS["/v1/logout"] = {
    "post": {
        "summary": "End the session the cookie carries (needs X-CSRF-Token)",
        "responses": {"204": {"description": "logged out"}, **_problems("400", "401", "403", "429")},
    }
}
_PATHS["/v1/session"] = {
    "get": {
        "summary": "Who the caller is, and its session's CSRF token",
        "responses": {
            "200": {"description": "the caller", "content": _json("Session")},
            **_problems("401", "429"),
        },
    }
}
# --- a person's own credentials (node/http/credentials.py): by session cookie + X-CSRF-Token ---
_SCHEMAS["PasswordChange"] = {
    "type": "object",
    "required": ["current", "new"],
    "additionalProperties": False,
    "properties": {
        "current": {"type": "string"},
        "new": {"type": "string", "minLength": 12, "maxLength": 1024},
    },
}
_SCHEMAS["SessionsEnded"] = {
    "type": "object",
    "required": ["account", "sessions_ended"],
    "properties": {"account": {"type": "string"}, "sessions_ended": {"type": "integer"}},
}
_PATHS["/v1/password"] = {
    "post": {
        "summary": "Change the logged-in person's password; every other session of the account ends",
        "description": "By session cookie only (with X-CSRF-Token); a bearer token has no password (400)."
        " A wrong current password is 401 like a wrong login and counts as a failed login for the"
        " account name and the client address: once locked out, 429 with Retry-After. A new password"
        " outside the rules (12 to 1,024 characters) is 400. Audited as account-password.",
        "security": [{"session": []}],
        "requestBody": {"required": True, "content": _json("PasswordChange")},
        "responses": {
            "200": {"description": "changed", "content": _json("SessionsEnded")},
            **_problems("400", "401", "403", "413", "429"),
        },
    }
}
_PATHS["/v1/sessions/end-all"] = {
    "post": {
        "summary": "Log out everywhere: end every session of the caller's account, this one included",
        "description": "By session cookie only (with X-CSRF-Token); clears the cookie. Audited as"
        " account-logout.",
        "security": [{"session": []}],
        "responses": {
            "200": {"description": "sessions ended", "content": _json("SessionsEnded")},
            **_problems("400", "401", "403", "429"),
        },
    }
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
        "security": [{"bearer": []}, {"session": []}],
        "paths": _PATHS,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "accord_session"},
            },
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
