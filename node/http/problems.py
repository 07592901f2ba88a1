"""The one table from error type to HTTP status, and RFC 9457 problem details.

Like :mod:`node.rpc.errors` for gRPC: handlers raise the project's errors and this module is
the only place that decides what status they become. The ``detail`` is the error's own
explanation, which never carries a hash value.
"""

from __future__ import annotations

import math
from http import HTTPStatus

from starlette.responses import JSONResponse

from node import errors

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:accord:problem:"  # + the error's reason: stable, machine-readable

_STATUS: tuple[tuple[type[errors.AccordError], HTTPStatus], ...] = (
    (errors.Unauthenticated, HTTPStatus.UNAUTHORIZED),
    (errors.Forbidden, HTTPStatus.FORBIDDEN),
    (errors.RateLimited, HTTPStatus.TOO_MANY_REQUESTS),
    (errors.TooLarge, HTTPStatus.REQUEST_ENTITY_TOO_LARGE),
    (errors.NotReady, HTTPStatus.SERVICE_UNAVAILABLE),
    (errors.NotFound, HTTPStatus.NOT_FOUND),
    (errors.AlreadyExists, HTTPStatus.CONFLICT),
    (errors.InvalidInput, HTTPStatus.BAD_REQUEST),
    (errors.RestoredFeed, HTTPStatus.CONFLICT),
    (errors.NodeBusy, HTTPStatus.CONFLICT),
    (errors.Rejected, HTTPStatus.UNPROCESSABLE_ENTITY),
    (errors.PeerError, HTTPStatus.BAD_GATEWAY),
    (errors.ConfigError, HTTPStatus.INTERNAL_SERVER_ERROR),
    (errors.Overloaded, HTTPStatus.SERVICE_UNAVAILABLE),  # media pixel budget full: retry later
)


def status_for(error: errors.AccordError) -> HTTPStatus:
    """The status a handler answers ``error`` with (most specific class first)."""
    for kind, status in _STATUS:
        if isinstance(error, kind):
            return status
    return HTTPStatus.INTERNAL_SERVER_ERROR


def problem(
    status: HTTPStatus, *, reason: str, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """An RFC 9457 problem details response."""
    body = {
        "type": PROBLEM_TYPE_PREFIX + reason,
        "title": status.phrase,
        "status": int(status),
        "detail": detail,
        "reason": reason,
    }
    return JSONResponse(body, status_code=int(status), headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def problem_for(error: errors.AccordError) -> JSONResponse:
    """The problem response for one of the project's errors, with the headers its status needs."""
    status = status_for(error)
    headers: dict[str, str] = {}
    if status is HTTPStatus.UNAUTHORIZED:
        headers["WWW-Authenticate"] = 'Bearer realm="accord"'
    if isinstance(error, errors.RateLimited):
        headers["Retry-After"] = str(max(1, math.ceil(error.retry_after)))
    return problem(status, reason=error.reason, detail=str(error), headers=headers)
