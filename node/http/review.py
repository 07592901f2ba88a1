"""The review queue and appeals over HTTP (issue 14): handlers as thin as the rest of the API.

Reviewers (and admins) read the queue and decide; a platform's matcher token submits appeals
on its user's behalf. Every answer is filtered by the account's maximum TLP: an item holding
an indicator above it is not listed and answers 404, exactly like an item that does not exist,
so nothing about a more restricted indicator leaks. The caller's account is the actor in the
audit log (``api:<name>``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from node.errors import InvalidInput, NotReady, Unauthenticated
from node.http.limits import read_json_body
from node.http.routing import REVIEWERS, ApiRoute
from node.model import Tlp
from node.model.accounts import Account, Role
from node.model.review import Appeal, AppealOutcome, Decision, QueueMetrics, ReviewItem
from node.model.review_shapes import appeal_json, item_json, metrics_json

APPELLANTS = frozenset({Role.MATCHER, Role.ADMIN})  # a platform submits on its user's behalf
MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class ReviewServices:
    """The review use cases the app layer hands the HTTP API (arguments: see each line)."""

    queue: Callable[[Tlp, int], list[ReviewItem]]  # (max TLP, limit)
    item: Callable[[int, Tlp], ReviewItem]  # (item id, max TLP); NotFound when not visible
    decide: Callable[
        [int, Decision, str | None, bool, str, Tlp], ReviewItem
    ]  # id, decision, reason, safelist, actor, tlp
    undo: Callable[[int, str, Tlp], ReviewItem]  # (item id, actor, max TLP)
    add_appeal: Callable[[str, str, str], Appeal]  # (content id, statement, actor)
    appeals: Callable[[bool, Tlp], list[Appeal]]  # (open only, max TLP)
    decide_appeal: Callable[[int, AppealOutcome, str | None, bool, str, Tlp], Appeal]
    metrics: Callable[[], QueueMetrics]
    priorities: Callable[[], Mapping[str, int]]  # review.category_priority


def review_routes(services: ReviewServices | None) -> list[ApiRoute]:
    """Every review and appeal route, with who may call it."""
    api = _ReviewApi(services)
    return [
        ApiRoute("GET", "/v1/review", api.queue, REVIEWERS),
        ApiRoute("GET", "/v1/review/metrics", api.metrics, REVIEWERS),  # before {item_id}: fixed wins
        ApiRoute("GET", "/v1/review/{item_id}", api.item, REVIEWERS),
        ApiRoute("POST", "/v1/review/{item_id}/decision", api.decide, REVIEWERS),
        ApiRoute("POST", "/v1/review/{item_id}/undo", api.undo, REVIEWERS),
        ApiRoute("POST", "/v1/appeals", api.add_appeal, APPELLANTS),
        ApiRoute("GET", "/v1/appeals", api.appeals, REVIEWERS),
        ApiRoute("POST", "/v1/appeals/{appeal_id}/decision", api.decide_appeal, REVIEWERS),
    ]


class _ReviewApi:
    def __init__(self, services: ReviewServices | None) -> None:
        self._wired = services

    @property
    def _services(self) -> ReviewServices:
        if self._wired is None:
            raise NotReady("the review queue is not wired into this HTTP API")
        return self._wired

    async def queue(self, request: Request, account: Account | None) -> Response:
        who = _required(account)
        limit = _int(request.query_params.get("limit", "100"), "limit")
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput(f"limit is between 1 and {MAX_LIMIT}")
        items = await run_in_threadpool(self._services.queue, who.max_tlp, limit)
        priorities = self._services.priorities()
        return JSONResponse({"items": [item_json(i, priorities) for i in items]})

    async def metrics(self, request: Request, account: Account | None) -> Response:
        _required(account)
        return JSONResponse(metrics_json(await run_in_threadpool(self._services.metrics)))

    async def item(self, request: Request, account: Account | None) -> Response:
        who = _required(account)
        found = await run_in_threadpool(self._services.item, _path_id(request, "item_id"), who.max_tlp)
        return JSONResponse(item_json(found, self._services.priorities()))

    async def decide(self, request: Request, account: Account | None) -> Response:
        who = _required(account)
        item_id = _path_id(request, "item_id")
        body = _object(await read_json_body(request, limit=64 * 1024), {"decision", "reason", "safelist"})
        decision = Decision.parse(_text(body, "decision", required=True) or "")
        reason, safelist = _text(body, "reason"), _flag(body, "safelist")
        actor = f"api:{who.name}"
        decided = await run_in_threadpool(
            self._services.decide, item_id, decision, reason, safelist, actor, who.max_tlp
        )
        return JSONResponse(item_json(decided, self._services.priorities()))

    async def undo(self, request: Request, account: Account | None) -> Response:
        who = _required(account)
        item_id = _path_id(request, "item_id")
        undone = await run_in_threadpool(self._services.undo, item_id, f"api:{who.name}", who.max_tlp)
        return JSONResponse(item_json(undone, self._services.priorities()))

    async def add_appeal(self, request: Request, account: Account | None) -> Response:
        who = _required(account)
        body = _object(await read_json_body(request, limit=64 * 1024), {"content_id", "statement"})
        content_id = _text(body, "content_id", required=True) or ""
        statement = _text(body, "statement", required=True) or ""
        added = await run_in_threadpool(self._services.add_appeal, content_id, statement, f"api:{who.name}")
        return JSONResponse(appeal_json(added), status_code=201)

    async def appeals(self, request: Request, account: Account | None) -> Response:
        who = _required(account)
        open_only = request.query_params.get("open", "false").lower() in ("1", "true", "yes")
        found = await run_in_threadpool(self._services.appeals, open_only, who.max_tlp)
        return JSONResponse({"appeals": [appeal_json(a) for a in found]})

    async def decide_appeal(self, request: Request, account: Account | None) -> Response:
        who = _required(account)
        appeal_id = _path_id(request, "appeal_id")
        body = _object(await read_json_body(request, limit=64 * 1024), {"outcome", "reason", "safelist"})
        outcome = AppealOutcome.parse(_text(body, "outcome", required=True) or "")
        reason, safelist = _text(body, "reason"), _flag(body, "safelist")
        decided = await run_in_threadpool(
            self._services.decide_appeal, appeal_id, outcome, reason, safelist, f"api:{who.name}", who.max_tlp
        )
        return JSONResponse(appeal_json(decided))


def _required(account: Account | None) -> Account:
    if account is None:
        raise Unauthenticated("this endpoint needs an API token")
    return account


def _int(text: str, name: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise InvalidInput(f"{name} must be a positive whole number")
    return int(text)


def _path_id(request: Request, name: str) -> int:
    return _int(str(request.path_params.get(name, "")), name)


def _object(body: object, fields: set[str]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidInput(f"the body must be a JSON object with {', '.join(sorted(fields))}")
    unknown = set(body) - fields
    if unknown:
        raise InvalidInput(f"unknown field(s) {', '.join(sorted(unknown))} ({', '.join(sorted(fields))})")
    return body


def _text(body: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise InvalidInput(f'"{name}" is required')
        return None
    if not isinstance(value, str):
        raise InvalidInput(f'"{name}" must be a string')
    return value


def _flag(body: Mapping[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise InvalidInput(f'"{name}" must be true or false')
    return value
