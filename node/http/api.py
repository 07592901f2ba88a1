"""The routes of the HTTP API (v1) and their handlers.

Each handler is validate → authorise from the verified account → call the use case → convert.
Who may call what is the table :data:`ROLES`; the account's maximum TLP filters every answer.
Every request is logged as method, path, status and account: never the query string (it may
carry a hash value), a body or a header.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from node.errors import AccordError, Forbidden, NotReady, Unauthenticated
from node.http.limits import RateLimiter, read_json_body
from node.http.openapi import openapi_document
from node.http.problems import problem, problem_for
from node.http.requests import RefusedItem, indicator_query, match_request
from node.http.review import REVIEW_ROLES, ReviewServices, review_routes
from node.model import KeyId, MatchResult, Signal
from node.model.accounts import Account, Role
from node.model.queries import IndicatorQuery, QueryAnswer
from node.model.shapes import match_result_json, query_row_json, refused_query_json

log = logging.getLogger(__name__)

EVERY_ROLE = frozenset(Role)
ANALYSTS = frozenset({Role.ANALYST, Role.REVIEWER, Role.ADMIN})
ROLES: dict[str, frozenset[Role] | None] = {
    # path -> roles that may call it; None: no token needed (no data behind it)
    "/v1/health": None,
    "/v1/openapi.json": None,
    "/v1/status": frozenset({Role.ADMIN, Role.ANALYST}),
    "/v1/match": EVERY_ROLE,
    "/v1/indicators": ANALYSTS,
}
ROLES.update(REVIEW_ROLES)  # review queue and appeals, keyed "METHOD path" (node/http/review.py)


@dataclass(frozen=True, slots=True)
class ApiServices:
    """The use cases the app layer hands the HTTP API (no store, no SQL here)."""

    authenticate: Callable[[str], Account]  # token -> account; raises Unauthenticated
    ready: Callable[[], bool]  # the match lists are loaded
    status: Callable[[], dict[str, Any]]  # `accord status --json`
    match: Callable[[Sequence[Signal]], list[MatchResult]]
    query: Callable[[IndicatorQuery, str], QueryAnswer]  # (query, actor for the audit log)
    names: Callable[[], Mapping[KeyId, str]]
    review: ReviewServices | None = None  # the review queue and appeals (node/http/review.py)


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """Limits of the HTTP API (from ``[http]`` and ``[limits]``)."""

    max_batch: int
    max_body_bytes: int
    rate_per_second: float
    rate_burst: int


Handler = Callable[[Request, Account | None], Awaitable[Response]]


class Api:
    """The handlers, bound to the node's use cases."""

    def __init__(self, services: ApiServices, settings: ApiSettings, limiter: RateLimiter) -> None:
        self._services = services
        self._settings = settings
        self._limiter = limiter

    def routes(self) -> list[Route]:
        """Every route with its method; :data:`ROLES` says who may call it."""
        handlers: list[tuple[str, str, Handler]] = [
            ("/v1/health", "GET", self._health),
            ("/v1/openapi.json", "GET", self._openapi),
            ("/v1/status", "GET", self._status),
            ("/v1/match", "POST", self._match),
            ("/v1/indicators", "GET", self._indicators),
        ]
        routes = [
            Route(path, self._guarded(path, handler), methods=[method]) for path, method, handler in handlers
        ]
        routes += [
            Route(path, self._guarded(f"{method} {path}", handler), methods=[method])
            for method, path, handler in review_routes(self._services.review)
        ]
        return routes

    def _guarded(self, path: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        roles = ROLES[path]

        async def endpoint(request: Request) -> Response:
            account: Account | None = None
            try:
                if roles is not None:
                    account = await self._authorise(request, roles)
                response = await handler(request, account)
            except AccordError as exc:
                response = problem_for(exc)
            except Exception:
                log.exception("HTTP %s %s failed", request.method, path)
                detail = "internal error; the node's log has the details"
                response = problem(HTTPStatus.INTERNAL_SERVER_ERROR, reason="internal", detail=detail)
            who = "-" if account is None else account.name
            log.info("HTTP %s %s -> %d (account %s)", request.method, path, response.status_code, who)
            return response

        return endpoint

    async def _authorise(self, request: Request, roles: frozenset[Role]) -> Account:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated(
                "send 'Authorization: Bearer <token>' (an operator creates one: accord account add)"
            )
        account = await run_in_threadpool(self._services.authenticate, token.strip())
        self._limiter.take(account.name)
        if account.role not in roles:
            allowed = ", ".join(sorted(r.value for r in roles))
            raise Forbidden(f"role {account.role.value} may not call {request.url.path} ({allowed} may)")
        return account

    async def _health(self, request: Request, account: Account | None) -> Response:
        if self._services.ready():
            return JSONResponse({"status": "serving"})
        return JSONResponse({"status": "loading"}, status_code=int(HTTPStatus.SERVICE_UNAVAILABLE))

    async def _openapi(self, request: Request, account: Account | None) -> Response:
        return JSONResponse(openapi_document())

    async def _status(self, request: Request, account: Account | None) -> Response:
        return JSONResponse(await run_in_threadpool(self._services.status))

    async def _match(self, request: Request, account: Account | None) -> Response:
        account = _required(account)
        if not self._services.ready():
            raise NotReady("the match lists are still loading; retry shortly (GET /v1/health)")
        body = await read_json_body(request, limit=self._settings.max_body_bytes)
        names = await run_in_threadpool(self._services.names)
        asked = match_request(body, max_batch=self._settings.max_batch, account=account, names=names)
        signals = asked.signals
        matched = iter(await run_in_threadpool(self._services.match, signals) if signals else [])
        results = [
            refused_query_json(item.label, item.error)
            if isinstance(item, RefusedItem)
            else match_result_json(str(item), asked.filter.apply(next(matched)))
            for item in asked.items
        ]
        return JSONResponse({"results": results})

    async def _indicators(self, request: Request, account: Account | None) -> Response:
        account = _required(account)
        params = {key: request.query_params.getlist(key) for key in request.query_params}
        names = await run_in_threadpool(self._services.names)
        query = indicator_query(params, account=account, names=names)
        if query is None:  # only levels above the account's ceiling: the same as nothing held
            return JSONResponse({"rows": [], "truncated": False})
        answer = await run_in_threadpool(self._services.query, query, f"api:{account.name}")
        rows = [query_row_json(r) for r in answer.rows if account.may_see(r.indicator.tlp)]
        return JSONResponse({"rows": rows, "truncated": answer.truncated})


def _required(account: Account | None) -> Account:
    """The verified account of a route :data:`ROLES` guards (always set there)."""
    if account is None:
        raise Unauthenticated("this endpoint needs an API token")
    return account


def build_app(
    services: ApiServices, settings: ApiSettings, *, limiter: RateLimiter | None = None
) -> Starlette:
    """The ASGI application of the HTTP API."""
    limiter = limiter or RateLimiter(rate=settings.rate_per_second, burst=settings.rate_burst)
    api = Api(services, settings, limiter)
    return Starlette(routes=api.routes(), exception_handlers={HTTPException: _http_problem})


async def _http_problem(request: Request, exc: Exception) -> Response:
    """Unknown paths and wrong methods, as problem details too."""
    code = exc.status_code if isinstance(exc, HTTPException) else 500
    status = HTTPStatus(code)
    reason = status.phrase.lower().replace(" ", "_")
    headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else None
    detail = f"no such resource or method in the Accord HTTP API ({status.phrase}); see /v1/openapi.json"
    return problem(status, reason=reason, detail=detail, headers=headers)
