"""The outbox over HTTP (issue 14): ``GET /v1/deliveries`` and ``POST /v1/deliveries/{id}/replay``.

Admin only. The handlers are validate → call → convert;
the use cases come in :class:`DeliveryServices`, and the answers are the shapes
``accord delivery list --json`` prints. A replay is audited with the calling account.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from node.errors import InvalidInput, Unauthenticated
from node.http.routing import ADMINS, ApiRoute
from node.model.accounts import Account

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
STATES = ("pending", "delivered", "dead")


@dataclass(frozen=True, slots=True)
class DeliveryServices:
    """What the app hands the delivery endpoints."""

    deliveries: Callable[[str | None, int], list[dict[str, Any]]]  # (state, limit) -> delivery JSON
    replay: Callable[[int, str], dict[str, Any]]  # (delivery id, actor) -> its JSON, due again


def delivery_routes(services: DeliveryServices) -> list[ApiRoute]:
    """Each delivery endpoint (admins only)."""

    async def listing(request: Request, account: Account | None) -> Response:
        state = request.query_params.get("state")
        if state is not None and state not in STATES:
            raise InvalidInput(f"state is one of {', '.join(STATES)}")
        limit = _limit(request.query_params.get("limit"))
        rows = await run_in_threadpool(services.deliveries, state, limit)
        return JSONResponse({"deliveries": rows})

    async def replay(request: Request, account: Account | None) -> Response:
        if account is None:
            raise Unauthenticated("this endpoint needs an API token")
        delivery_id = _delivery_id(request.path_params.get("delivery_id", ""))
        row = await run_in_threadpool(services.replay, delivery_id, f"api:{account.name}")
        return JSONResponse(row)

    return [
        ApiRoute("GET", "/v1/deliveries", listing, ADMINS),
        ApiRoute("POST", "/v1/deliveries/{delivery_id}/replay", replay, ADMINS),
    ]


def _limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LIMIT:
        raise InvalidInput(f"limit is a number from 1 to {MAX_LIMIT}")
    return int(text)


def _delivery_id(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise InvalidInput("a delivery id is a positive number (see GET /v1/deliveries)")
    return int(text)
