"""The routes of the HTTP API (v1) and their handlers.

Each handler is validate → authorise from the verified account → call the use case → convert.
Each route says who may call it (:class:`node.http.routing.ApiRoute`); the account's maximum
TLP filters every answer.
Every route passes :class:`node.http.guard.Guard` (bearer token or session cookie, CSRF for
cookie-authenticated state changes, rate limits, the audit line of every state change).
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

from node.errors import AccordError, NotReady, Unauthenticated
from node.http.actions import DeliveryServices, delivery_routes
from node.http.credentials import CredentialServices, credential_routes
from node.http.endpoints import Endpoints, EndpointServices, EndpointSettings
from node.http.guard import AuthServices, AuthSettings, Caller, Guard
from node.http.hma import HmaLookups
from node.http.limits import RateLimiter, read_json_body
from node.http.openapi import openapi_document
from node.http.problems import problem, problem_for
from node.http.requests import ActOn, RefusedItem, indicator_query, match_request
from node.http.review import ReviewServices, review_routes
from node.http.routing import ANALYSTS, EVERY_ROLE, ApiRoute
from node.http.sessions import SessionApi
from node.http.uploads import is_multipart
from node.model import KeyId, MatchResult, Signal
from node.model.accounts import Account, Role
from node.model.queries import IndicatorQuery, QueryAnswer
from node.model.review import ContentRef
from node.model.shapes import match_result_json, query_row_json, refused_query_json

log = logging.getLogger(__name__)

# POST routes that change nothing: not audited (one audit row per upload would swamp the log
# and the match path; the match log counts matches). Every other non-GET route is audited.
UNAUDITED_READS = frozenset({"/v1/match"})


@dataclass(frozen=True, slots=True)
class ApiServices:
    """The use cases the app layer hands the HTTP API (no store, no SQL here)."""

    authenticate: Callable[[str], Account]  # token -> account; raises Unauthenticated
    ready: Callable[[], bool]  # the match lists are loaded
    status: Callable[[], dict[str, Any]]  # `accord status --json`
    match: Callable[[Sequence[Signal]], list[MatchResult]]
    query: Callable[[IndicatorQuery, str], QueryAnswer]  # (query, actor for the audit log)
    names: Callable[[], Mapping[KeyId, str]]
    deliveries: DeliveryServices | None = None  # the webhook outbox (node/http/actions.py)
    review: ReviewServices | None = None  # the review queue and appeals (node/http/review.py)
    # act on one piece of the caller's content: (content, results, decision) -> what was done
    respond: Callable[[ContentRef, Sequence[MatchResult], str | None], dict[str, Any]] | None = None
    # a person's own password and sessions (node/http/credentials.py)
    credentials: CredentialServices | None = None


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """Limits of the HTTP API (from ``[http]`` and ``[limits]``)."""

    max_batch: int
    max_body_bytes: int
    rate_per_second: float
    rate_burst: int


class Api:
    """The handlers, bound to the node's use cases."""

    def __init__(
        self,
        services: ApiServices,
        settings: ApiSettings,
        guard: Guard,
        endpoints: EndpointServices | None = None,
        endpoint_settings: EndpointSettings | None = None,
    ) -> None:
        self._services = services
        self._settings = settings
        self._guard = guard
        self._sessions = SessionApi(guard)
        self._endpoints = (
            None if endpoints is None else Endpoints(endpoints, endpoint_settings or EndpointSettings())
        )

    def routes(self) -> list[Route]:
        """Every route of every group, each behind the guard with the roles it declares."""
        routes: list[ApiRoute] = [
            ApiRoute("GET", "/v1/health", self._health, None),
            ApiRoute("GET", "/v1/openapi.json", self._openapi, None),
            ApiRoute("GET", "/v1/status", self._status, frozenset({Role.ADMIN, Role.ANALYST})),
            ApiRoute("POST", "/v1/match", self._match, EVERY_ROLE),
            ApiRoute("GET", "/v1/indicators", self._indicators, ANALYSTS),
            # the password is the credential (rate-limited, lockout: node.http.logins)
            ApiRoute("POST", "/v1/login", self._sessions.login, None),
            ApiRoute("POST", "/v1/logout", self._sessions.logout, EVERY_ROLE),
            ApiRoute("GET", "/v1/session", self._sessions.session, EVERY_ROLE),
        ]
        if self._endpoints is not None:
            hma = HmaLookups(
                endpoints=self._endpoints, match=self._services.match, ready=self._services.ready
            )
            routes += self._endpoints.routes() + hma.routes()
        if self._services.deliveries is not None:
            routes += delivery_routes(self._services.deliveries)
        routes += review_routes(self._services.review)
        routes += credential_routes(self._guard, self._services.credentials)
        return [Route(r.path, self._guarded(r), methods=[r.method]) for r in routes]

    def _guarded(self, route: ApiRoute) -> Callable[[Request], Awaitable[Response]]:
        path, handler, roles = route.path, route.handler, route.roles

        async def endpoint(request: Request) -> Response:
            caller: Caller | None = None
            try:
                if roles is None:
                    self._guard.charge_anonymous(request)
                else:
                    caller = await self._guard.authorise(request, roles)
                request.state.caller = caller
                response = await handler(request, None if caller is None else caller.account)
            except AccordError as exc:
                response = problem_for(exc)
            except Exception:
                log.exception("HTTP %s %s failed", request.method, path)
                detail = "internal error; the node's log has the details"
                response = problem(HTTPStatus.INTERNAL_SERVER_ERROR, reason="internal", detail=detail)
            who = caller.account.name if caller is not None else getattr(request.state, "actor", None)
            log.info("HTTP %s %s -> %d (account %s)", request.method, path, response.status_code, who or "-")
            if path not in UNAUDITED_READS:
                await self._guard.audit(request, path, _audit_actor(path, who), response.status_code)
            return response

        return endpoint

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
        if self._endpoints is not None and is_multipart(request):
            return await self._endpoints.match_media(request, account)  # media bytes
        body = await read_json_body(request, limit=self._settings.max_body_bytes)
        # Names resolve an origins filter only: most match requests have none, and reading
        # them costs a database round trip a request (the bench's single-signal path).
        wants_names = isinstance(body, dict) and "origins" in body
        names = await run_in_threadpool(self._services.names) if wants_names else {}
        asked = match_request(body, max_batch=self._settings.max_batch, account=account, names=names)
        signals = asked.signals
        raw = await run_in_threadpool(self._services.match, signals) if signals else []
        matched = [asked.filter.apply(r) for r in raw]
        answers = iter(matched)
        results = [
            refused_query_json(item.label, item.error)
            if isinstance(item, RefusedItem)
            else match_result_json(str(item), next(answers))
            for item in asked.items
        ]
        if asked.act is None:
            return JSONResponse({"results": results})
        action = await self.respond(asked.act, matched)
        return JSONResponse({"results": results, "action": action})

    async def respond(self, act: ActOn, results: Sequence[MatchResult]) -> dict[str, Any]:
        """Act on the matches of the caller's content (rules, webhooks, review queue)."""
        if self._services.respond is None:
            raise NotReady("this node does not act on matches (no action services wired)")
        return await run_in_threadpool(self._services.respond, act.content, results, act.decision)

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


def _audit_actor(path: str, who: str | None) -> str | None:
    """Who the audit line names: the account; a failed login as "-" (a security event worth a
    row, and bounded by the login lockout); other calls without an account are not audited."""
    if who is None and path == "/v1/login":
        return "-"
    return who


def _required(account: Account | None) -> Account:
    """The verified account of a route that declares roles (always set there)."""
    if account is None:
        raise Unauthenticated("this endpoint needs an API token")
    return account


def build_app(
    services: ApiServices,
    settings: ApiSettings,
    *,
    limiter: RateLimiter | None = None,
    endpoints: EndpointServices | None = None,
    endpoint_settings: EndpointSettings | None = None,
    auth: AuthServices | None = None,
    auth_settings: AuthSettings | None = None,
) -> Starlette:
    """The ASGI application of the HTTP API (with ``endpoints``: media matching, near queries,
    provenance, curation and the HMA-compatible lookups too; without ``auth``: bearer tokens
    only, no audit)."""
    limiter = limiter or RateLimiter(rate=settings.rate_per_second, burst=settings.rate_burst)
    guard = Guard(
        authenticate_token=services.authenticate,
        limiter=limiter,
        auth=auth,
        settings=auth_settings or AuthSettings(),
    )
    api = Api(services, settings, guard, endpoints, endpoint_settings)
    return Starlette(routes=api.routes(), exception_handlers={HTTPException: _http_problem})


async def _http_problem(request: Request, exc: Exception) -> Response:
    """Unknown paths and wrong methods, as problem details too."""
    code = exc.status_code if isinstance(exc, HTTPException) else 500
    status = HTTPStatus(code)
    reason = status.phrase.lower().replace(" ", "_")
    headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else None
    detail = f"no such resource or method in the Accord HTTP API ({status.phrase}); see /v1/openapi.json"
    return problem(status, reason=reason, detail=detail, headers=headers)
