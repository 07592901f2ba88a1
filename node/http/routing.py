"""One shape for every route group of the HTTP API: method, path, handler and who may call it.

Each group (core, endpoints, HMA lookups, deliveries, review) returns :class:`ApiRoute` rows and
:class:`node.http.api.Api` guards them all the same way, so a route cannot be registered
without saying which roles may call it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from node.model.accounts import Account, Role

Handler = Callable[[Request, Account | None], Awaitable[Response]]
"""A route's handler: the request and the verified account (None on an open route)."""

EVERY_ROLE = frozenset(Role)
ADMINS = frozenset({Role.ADMIN})
ANALYSTS = frozenset({Role.ANALYST, Role.REVIEWER, Role.ADMIN})
REVIEWERS = frozenset({Role.REVIEWER, Role.ADMIN})
CURATORS = frozenset({Role.CONTRIBUTOR, Role.ADMIN})  # contribute, revoke, expire, relabel


@dataclass(frozen=True, slots=True)
class ApiRoute:
    """One endpoint. ``roles`` None: no token needed (nothing behind it but health, the API
    description and the login form's own credential check, which are rate-limited per address)."""

    method: str
    path: str
    handler: Handler
    roles: frozenset[Role] | None
