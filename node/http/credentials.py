"""A person's own credentials: POST /v1/password (change it), POST /v1/sessions/end-all.

Both need a person's session (the cookie, with ``X-CSRF-Token`` like every cookie-authenticated
change); a bearer token is not a person's login and is refused (400): its account has no
password and no session, and is revoked with ``accord account remove``. A wrong current
password is answered like a wrong login (401, the same message) and counts as a failed login
for the account's name and the client address (node.http.logins): a stolen session must not
become a way to guess the password, so once the name or the address is locked out the answer
is 429 with ``Retry-After`` before the password is checked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from node.errors import InvalidInput, Unauthenticated
from node.http.guard import SESSION_COOKIE, Caller, Guard, client_address
from node.http.limits import read_json_body
from node.http.routing import EVERY_ROLE, ApiRoute
from node.model.accounts import Account

log = logging.getLogger(__name__)

# Two passwords of at most 1,024 characters as JSON (node.feed.passwords.MAX_PASSWORD_CHARS).
PASSWORD_BODY_BYTES = 8192


@dataclass(frozen=True, slots=True)
class CredentialServices:
    """The use cases behind the handlers (handed in by node/app/http_api.py; audited there)."""

    # (account, current, new, session id to keep) -> sessions ended; Unauthenticated when
    # ``current`` is wrong, InvalidInput when ``new`` breaks the password rules
    change_password: Callable[[str, str, str, str], int]
    end_sessions: Callable[[str], int]  # account -> sessions ended (every one, this one too)


class CredentialApi:
    """The handlers, over the guard (caller, cookies, login throttle) and the use cases."""

    def __init__(self, guard: Guard, services: CredentialServices | None) -> None:
        self._guard = guard
        self._given = services

    @property
    def _services(self) -> CredentialServices:
        if self._given is None:  # an app built without accounts (tests of other route groups)
            raise InvalidInput("people's accounts are not enabled on this server")
        return self._given

    def routes(self) -> list[ApiRoute]:
        """POST /v1/password and POST /v1/sessions/end-all, for every role (by session)."""
        return [
            ApiRoute("POST", "/v1/password", self.change_password, EVERY_ROLE),
            ApiRoute("POST", "/v1/sessions/end-all", self.end_all, EVERY_ROLE),
        ]

    async def change_password(self, request: Request, account: Account | None) -> Response:
        """Replace the caller's password; end every other session of the account."""
        name, session_id = _person(request, "a password is changed")
        current, new = await _passwords(request)
        address = client_address(request)
        self._guard.logins.check(name, address)
        try:
            ended = await run_in_threadpool(self._services.change_password, name, current, new, session_id)
        except Unauthenticated:
            await run_in_threadpool(self._guard.logins.failed, name, address)
            log.warning(
                "HTTP password change with a wrong current password from %s (%d failed logins since start)",
                address,
                self._guard.logins.failures,
            )
            raise
        await run_in_threadpool(self._guard.logins.succeeded, name)
        return JSONResponse({"account": name, "sessions_ended": ended})

    async def end_all(self, request: Request, account: Account | None) -> Response:
        """End every session of the caller's account, this one included (and drop the cookie)."""
        name, _ = _person(request, "sessions are ended")
        ended = await run_in_threadpool(self._services.end_sessions, name)
        answer = JSONResponse({"account": name, "sessions_ended": ended})
        answer.delete_cookie(
            SESSION_COOKIE, path="/", secure=request.url.scheme == "https", httponly=True, samesite="strict"
        )
        return answer


def credential_routes(guard: Guard, services: CredentialServices | None) -> list[ApiRoute]:
    """The routes (answering 400 when the app handed in no use cases)."""
    return CredentialApi(guard, services).routes()


def _person(request: Request, what: str) -> tuple[str, str]:
    """The caller's account name and session id, when a session cookie authenticated it; else
    InvalidInput saying why."""
    caller: Caller | None = getattr(request.state, "caller", None)
    if caller is None or caller.session_id is None:
        raise InvalidInput(
            f"{what} only by a person logged in with a password (POST /v1/login, then the session"
            " cookie); an API token has no password: an operator revokes it with 'accord account remove'"
        )
    return caller.account.name, caller.session_id


async def _passwords(request: Request) -> tuple[str, str]:
    # JSON only, like the login: no cross-site form can send it without a CORS preflight.
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise InvalidInput('send the change as application/json: {"current": ..., "new": ...}')
    body = await read_json_body(request, limit=PASSWORD_BODY_BYTES)
    if not isinstance(body, dict) or set(body) != {"current", "new"}:
        raise InvalidInput('the body must be exactly {"current": ..., "new": ...}')
    current, new = body["current"], body["new"]
    if not isinstance(current, str) or not isinstance(new, str):
        raise InvalidInput('"current" and "new" must be strings')
    return current, new
