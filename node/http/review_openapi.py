"""The OpenAPI description of the review queue and appeal routes (node/http/review.py)."""

from __future__ import annotations

from typing import Any

_PROBLEM = {"$ref": "#/components/responses/Problem"}


def _json(schema: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}


def _problems(*codes: str) -> dict[str, Any]:
    return dict.fromkeys(codes, _PROBLEM)


def _id(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}


_STRING = {"type": "string"}
_OPTIONAL = {"type": ["string", "null"]}

_DECISION = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "decision": {"type": "string", "enum": ["confirm", "false-positive", "escalate"]},
        "reason": _OPTIONAL,
        "reviewer": _STRING,
        "decided_at": _STRING,
        "opinion_indicator_ids": {"type": "array", "items": _STRING},
        "safelisted": {"type": "boolean"},
        "appeal_id": {"type": ["integer", "null"]},
        "undone_at": _OPTIONAL,
        "undone_by": _OPTIONAL,
    },
}

REVIEW_SCHEMAS: dict[str, Any] = {
    "ReviewItem": {
        "type": "object",
        "description": "one piece of the caller's content and every indicator it matched (never media)",
        "required": ["id", "content_id", "status", "matches", "decisions", "appeals"],
        "properties": {
            "id": {"type": "integer"},
            "content_id": _STRING,
            "content_url": _OPTIONAL,
            "status": {"type": "string", "enum": ["open", "escalated", "appealed", "decided"]},
            "priority": {"type": "integer", "description": "review.category_priority of its categories"},
            "created_at": _STRING,
            "updated_at": _STRING,
            "matches": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "indicator_id": _STRING,
                        "origin": _STRING,
                        "origin_name": _STRING,
                        "category": _STRING,
                        "tlp": _STRING,
                        "signal_type": _STRING,
                        "distance": {"type": "integer"},
                        "trust": _STRING,
                        "reasons": {
                            "type": "array",
                            "items": _STRING,
                            "description": "trust-review, low-corroboration, disputed, near-safelist,"
                            " flood-hold, rule:NAME",
                        },
                    },
                },
            },
            "decision": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/ReviewDecision"}]},
            "decisions": {"type": "array", "items": {"$ref": "#/components/schemas/ReviewDecision"}},
            "appeals": {"type": "array", "items": {"$ref": "#/components/schemas/Appeal"}},
        },
    },
    "ReviewDecision": _DECISION,
    "ReviewQueue": {
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/ReviewItem"}}},
    },
    "DecisionRequest": {
        "type": "object",
        "required": ["decision"],
        "additionalProperties": False,
        "properties": {
            "decision": {"type": "string", "enum": ["confirm", "false-positive", "escalate"]},
            "reason": {"type": "string", "maxLength": 1000},
            "safelist": {"type": "boolean", "description": "false-positive only: local safelist entry"},
        },
    },
    "Appeal": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "content_id": _STRING,
            "item_id": {"type": "integer"},
            "statement": _STRING,
            "submitted_by": _STRING,
            "submitted_at": _STRING,
            "outcome": {"type": "string", "enum": ["open", "upheld", "reversed"]},
            "decided_by": _OPTIONAL,
            "decided_at": _OPTIONAL,
            "reason": _OPTIONAL,
        },
    },
    "AppealRequest": {
        "type": "object",
        "required": ["content_id", "statement"],
        "additionalProperties": False,
        "properties": {
            "content_id": {"type": "string", "maxLength": 256},
            "statement": {"type": "string", "maxLength": 4000},
        },
    },
    "AppealDecisionRequest": {
        "type": "object",
        "required": ["outcome"],
        "additionalProperties": False,
        "properties": {
            "outcome": {"type": "string", "enum": ["uphold", "reverse"]},
            "reason": {"type": "string", "maxLength": 1000},
            "safelist": {"type": "boolean", "description": "reverse only: local safelist entry"},
        },
    },
    "Appeals": {
        "type": "object",
        "required": ["appeals"],
        "properties": {"appeals": {"type": "array", "items": {"$ref": "#/components/schemas/Appeal"}}},
    },
    "ReviewMetrics": {
        "type": "object",
        "properties": {
            "depth": {"type": "integer"},
            "by_status": {"type": "object", "additionalProperties": {"type": "integer"}},
            "oldest_age_seconds": {"type": ["number", "null"]},
            "decisions_last_hour": {"type": "integer"},
            "decisions_by_reviewer": {"type": "object", "additionalProperties": {"type": "integer"}},
            "appeals_open": {"type": "integer"},
            "flood_held": {"type": "integer"},
        },
    },
}

_REVIEWERS = "(roles reviewer, admin; items above the account's maximum TLP are not shown: 404)"

REVIEW_PATHS: dict[str, Any] = {
    "/v1/review": {
        "get": {
            "summary": f"The review queue, highest category priority then oldest first {_REVIEWERS}",
            "parameters": [
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "default": 100},
                }
            ],
            "responses": {
                "200": {"description": "waiting items", "content": _json("ReviewQueue")},
                **_problems("400", "401", "403", "429"),
            },
        }
    },
    "/v1/review/metrics": {
        "get": {
            "summary": "Queue depth, oldest item's age, decisions per hour and reviewer, flood holds"
            " (roles reviewer, admin)",
            "responses": {
                "200": {"description": "metrics", "content": _json("ReviewMetrics")},
                **_problems("401", "403", "429"),
            },
        }
    },
    "/v1/review/{item_id}": {
        "get": {
            "summary": f"One review item with its decisions and appeals {_REVIEWERS}",
            "parameters": [_id("item_id")],
            "responses": {
                "200": {"description": "the item", "content": _json("ReviewItem")},
                **_problems("400", "401", "403", "404", "429"),
            },
        }
    },
    "/v1/review/{item_id}/decision": {
        "post": {
            "summary": "Confirm (publishes agree), false-positive (publishes a dispute) or escalate;"
            " audited with the account",
            "parameters": [_id("item_id")],
            "requestBody": {"required": True, "content": _json("DecisionRequest")},
            "responses": {
                "200": {"description": "the decided item", "content": _json("ReviewItem")},
                **_problems("400", "401", "403", "404", "409", "413", "429"),
            },
        }
    },
    "/v1/review/{item_id}/undo": {
        "post": {
            "summary": "Undo the item's decision within review.undo_seconds (withdraws its opinion)",
            "parameters": [_id("item_id")],
            "responses": {
                "200": {"description": "the item, back in the queue", "content": _json("ReviewItem")},
                **_problems("400", "401", "403", "404", "429"),
            },
        }
    },
    "/v1/appeals": {
        "post": {
            "summary": "Appeal the confirmed decision on a piece of content, on a user's behalf"
            " (roles matcher, admin)",
            "requestBody": {"required": True, "content": _json("AppealRequest")},
            "responses": {
                "201": {"description": "the appeal; its item is back in review", "content": _json("Appeal")},
                **_problems("400", "401", "403", "404", "409", "413", "429"),
            },
        },
        "get": {
            "summary": f"Appeals, newest first (open=true: waiting only) {_REVIEWERS}",
            "parameters": [{"name": "open", "in": "query", "required": False, "schema": {"type": "boolean"}}],
            "responses": {
                "200": {"description": "appeals", "content": _json("Appeals")},
                **_problems("401", "403", "429"),
            },
        },
    },
    "/v1/appeals/{appeal_id}/decision": {
        "post": {
            "summary": "Uphold or reverse (disputes the indicators as a false positive would); audited",
            "parameters": [_id("appeal_id")],
            "requestBody": {"required": True, "content": _json("AppealDecisionRequest")},
            "responses": {
                "200": {"description": "the decided appeal", "content": _json("Appeal")},
                **_problems("400", "401", "403", "404", "409", "413", "429"),
            },
        }
    },
}
