"""People's sessions: POST /v1/login, POST /v1/logout, GET /v1/session.

A login answers with the session cookie (signed, HttpOnly, SameSite=Strict, Secure when the
server speaks TLS, ending with the session) and the session's CSRF token, which every
state-changing request made with the cookie must send back in ``X-CSRF-Token``. A wrong name
and a wrong password get the same answer after the same work; failures lock the name and the
address out for a while (node.http.logins).
"""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from node.errors import InvalidInput, Unauthenticated
from node.http.guard import SESSION_COOKIE, Caller, Guard, client_address
from node.http.limits import read_json_body
from node.model.accounts import Account

log = logging.getLogger(__name__)

LOGIN_BODY_BYTES = 4096  # a name and a password of at most 1,024 characters, as JSON
MAX_NAME_CHARS = 63


class SessionApi:
    """The session handlers, over the guard's cookies, throttle and services."""

    def __init__(self, guard: Guard) -> None:
        self._guard = guard

    async def login(self, request: Request, account: Account | None) -> Response:
        """Check a name and password; begin a session."""
        auth, cookies = self._guard.auth, self._guard.cookies
        if auth is None or cookies is None:
            raise InvalidInput("password login is not enabled on this server")
        name, password = await _credentials(request)
        address = client_address(request)
        self._guard.logins.check(name, address)
        try:
            session = await run_in_threadpool(auth.log_in, name, password)
        except Unauthenticated:
            await run_in_threadpool(self._guard.logins.failed, name, address)  # saved: a database write
            # The address, never the name given: people type passwords into name fields.
            log.warning(
                "HTTP login failed from %s (%d failed logins since start)",
                address,
                self._guard.logins.failures,
            )
            raise
        await run_in_threadpool(self._guard.logins.succeeded, name)
        request.state.actor = session.account.name  # the audit line names who logged in
        answer = JSONResponse(
            {
                **_account_json(session.account),
                "csrf_token": cookies.csrf_token(session.id),
                "expires_at": session.expires_at,
            }
        )
        answer.set_cookie(
            SESSION_COOKIE,
            cookies.seal(session.id),
            max_age=self._guard.settings.session_seconds,
            path="/",
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )
        return answer

    async def logout(self, request: Request, account: Account | None) -> Response:
        """End the session the cookie carries (and tell the browser to drop it)."""
        caller: Caller | None = getattr(request.state, "caller", None)
        if caller is None or caller.session_id is None or self._guard.auth is None:
            raise InvalidInput(
                "logout ends a session cookie; an API token is revoked with 'accord account remove'"
            )
        await run_in_threadpool(self._guard.auth.log_out, caller.session_id)
        answer = Response(status_code=204)
        answer.delete_cookie(
            SESSION_COOKIE, path="/", secure=request.url.scheme == "https", httponly=True, samesite="strict"
        )
        return answer

    async def session(self, request: Request, account: Account | None) -> Response:
        """Who the caller is, and the CSRF token of its session (None for a bearer token)."""
        caller: Caller | None = getattr(request.state, "caller", None)
        if caller is None:
            raise Unauthenticated("this endpoint needs an API token or a session")
        cookies = self._guard.cookies
        csrf = None if caller.session_id is None or cookies is None else cookies.csrf_token(caller.session_id)
        return JSONResponse({**_account_json(caller.account), "csrf_token": csrf})


async def _credentials(request: Request) -> tuple[str, str]:
    # JSON only: a cross-site HTML form cannot send application/json without a CORS preflight,
    # which this server never grants, so no other site can log a browser in (login CSRF).
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise InvalidInput('send the login as application/json: {"name": ..., "password": ...}')
    body = await read_json_body(request, limit=LOGIN_BODY_BYTES)
    if not isinstance(body, dict) or set(body) != {"name", "password"}:
        raise InvalidInput('the body must be exactly {"name": ..., "password": ...}')
    name, password = body["name"], body["password"]
    if not isinstance(name, str) or not isinstance(password, str) or not name or len(name) > MAX_NAME_CHARS:
        raise InvalidInput('"name" (1-63 characters) and "password" must be strings')
    return name, password


def _account_json(account: Account) -> dict[str, str | None]:
    return {
        "account": account.name,
        "role": account.role.value,
        "max_tlp": account.max_tlp.value,
        "partner": account.partner,
    }
