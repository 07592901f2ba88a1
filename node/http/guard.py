"""The guard every route of the HTTP API passes: who is calling, may they, and the audit line.

Authentication is a bearer token (services) or a session cookie (people, POST /v1/login).
A cookie is an ambient credential: a browser attaches it to requests another site makes it
send. So a state-changing request (any method but GET, HEAD, OPTIONS) authenticated by a
cookie must also carry the session's CSRF token in ``X-CSRF-Token`` (the synchronizer token
returned at login and by GET /v1/session); bearer requests are exempt, since no browser adds
an Authorization header on its own. Requests without a valid credential are rate-limited per
client address. Every state-changing call is audited with its account, path template and
status: never a body, a query string or the path's own values (they may carry hash values).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from node.errors import Forbidden, Unauthenticated
from node.http.limits import RateLimiter
from node.http.logins import FailureStore, LoginThrottle
from node.model.accounts import Account, Role

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_COOKIE = "accord_session"
CSRF_HEADER = "X-CSRF-Token"


class CsrfRefused(Forbidden):
    """A cookie-authenticated state-changing request without the session's CSRF token."""

    reason = "csrf"


class NewSessionLike(Protocol):
    """What a login returns (node.app.accounts.NewSession)."""

    @property
    def id(self) -> str: ...
    @property
    def account(self) -> Account: ...
    @property
    def expires_at(self) -> str: ...


@dataclass(frozen=True, slots=True)
class AuthServices:
    """The use cases behind sessions and the audit line (handed in by node/app/http_api.py)."""

    log_in: Callable[[str, str], NewSessionLike]  # (name, password); Unauthenticated when wrong
    session_account: Callable[[str], Account]  # session id -> account; Unauthenticated once ended
    log_out: Callable[[str], None]
    audit: Callable[[str, Mapping[str, Any], str], object]  # (action, details, actor)
    session_key: bytes  # HMAC key of cookies and CSRF tokens (http-session.key, 0600)
    login_failures: FailureStore | None = None  # failed-login counts that outlive a restart


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """Limits of sessions and of callers without a credential (``[http]``)."""

    session_seconds: int = 8 * 3600
    anonymous_rate_per_second: float = 5.0
    anonymous_rate_burst: int = 20
    login_max_failures: int = 5
    login_max_failures_per_address: int = 20
    login_lockout_seconds: float = 60.0


@dataclass(frozen=True, slots=True)
class Caller:
    """A verified caller: its account, and the session id when a cookie authenticated it."""

    account: Account
    session_id: str | None = None


class SessionCookies:
    """Signs session ids into cookie values and derives each session's CSRF token."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, purpose: str, session_id: str) -> str:
        digest = hmac.new(self._key, f"{purpose}:{session_id}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def seal(self, session_id: str) -> str:
        """The cookie value for ``session_id``."""
        return f"{session_id}.{self._mac('session', session_id)}"

    def open(self, value: str) -> str | None:
        """The session id a cookie value carries, or None when its signature is wrong (a forged
        cookie is refused before the database is asked)."""
        session_id, _, mac = value.rpartition(".")
        if not session_id or not hmac.compare_digest(mac.encode(), self._mac("session", session_id).encode()):
            return None
        return session_id

    def csrf_token(self, session_id: str) -> str:
        """The synchronizer token of a session: only someone who read a session answer has it."""
        return self._mac("csrf", session_id)


def client_address(request: Request) -> str:
    """The peer's IP address (the socket's: forwarded headers are not trusted, see server.py)."""
    return request.client.host if request.client is not None else "unknown"


class Guard:
    """Authentication, CSRF, rate limits and the audit line, for every route."""

    def __init__(
        self,
        *,
        authenticate_token: Callable[[str], Account],
        limiter: RateLimiter,
        auth: AuthServices | None,
        settings: AuthSettings,
    ) -> None:
        self._authenticate_token = authenticate_token
        self._limiter = limiter
        self.auth = auth
        self.settings = settings
        self.cookies = None if auth is None else SessionCookies(auth.session_key)
        self.anonymous = RateLimiter(
            rate=settings.anonymous_rate_per_second,
            burst=settings.anonymous_rate_burst,
            noun="client address",
            setting="http.anonymous_rate_per_second",
        )
        self.logins = LoginThrottle(
            max_failures=settings.login_max_failures,
            max_failures_per_address=settings.login_max_failures_per_address,
            lockout_seconds=settings.login_lockout_seconds,
            store=None if auth is None else auth.login_failures,
        )

    def charge_anonymous(self, request: Request) -> None:
        """Spend one request of the client address's allowance (RateLimited when over)."""
        self.anonymous.take(client_address(request))

    async def authorise(self, request: Request, roles: frozenset[Role]) -> Caller:
        """The verified caller, allowed by ``roles``, with a CSRF token when it came by cookie."""
        try:
            caller = await self._authenticate(request)
        except Unauthenticated:
            self.charge_anonymous(request)  # a 429 instead of the 401 once over the limit
            raise
        request.state.actor = caller.account.name  # audited even when refused below
        self._limiter.take(caller.account.name)
        if caller.session_id is not None and request.method not in SAFE_METHODS:
            self._check_csrf(request, caller.session_id)
        if caller.account.role not in roles:
            allowed = ", ".join(sorted(r.value for r in roles))
            raise Forbidden(
                f"role {caller.account.role.value} may not call {request.url.path} ({allowed} may)"
            )
        return caller

    async def _authenticate(self, request: Request) -> Caller:
        header = request.headers.get("authorization")
        if header is not None:  # an explicit credential wins over an ambient one
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated("send 'Authorization: Bearer <token>' or log in (POST /v1/login)")
            return Caller(await run_in_threadpool(self._authenticate_token, token.strip()))
        session_id = self.session_id(request)
        if session_id is None or self.auth is None:
            raise Unauthenticated(
                "send 'Authorization: Bearer <token>' (an operator creates one: accord account add)"
                " or log in (POST /v1/login)"
            )
        account = await run_in_threadpool(self.auth.session_account, session_id)
        return Caller(account, session_id=session_id)

    def session_id(self, request: Request) -> str | None:
        """The session id of the request's cookie, when its signature holds."""
        value = request.cookies.get(SESSION_COOKIE)
        if value is None or self.cookies is None:
            return None
        return self.cookies.open(value)

    def _check_csrf(self, request: Request, session_id: str) -> None:
        if self.cookies is None:  # a session exists only with cookies; never reached
            raise Unauthenticated("sessions are not enabled on this server")
        sent = request.headers.get(CSRF_HEADER)
        if sent is None:
            raise CsrfRefused(
                f"a request authenticated by the session cookie must send the {CSRF_HEADER} header"
                " (its value is in the login answer and in GET /v1/session)"
            )
        if not hmac.compare_digest(sent.encode(), self.cookies.csrf_token(session_id).encode()):
            raise CsrfRefused(f"the {CSRF_HEADER} header is not this session's token")

    async def audit(self, request: Request, path: str, actor: str | None, status: int) -> None:
        """Append the audit line of a state-changing call (``path`` is the route's template)."""
        if self.auth is None or request.method in SAFE_METHODS or actor is None:
            return
        details = {"method": request.method, "path": path, "status": status}
        try:
            await run_in_threadpool(self.auth.audit, "http-call", details, f"api:{actor}")
        except Exception:
            log.exception("could not audit HTTP %s %s by %s", request.method, path, actor)
