"""The read-only TAXII 2.1 server as Starlette routes: discovery, API root, collections,
objects, manifest, versions. Served by :class:`node.http.server.HttpServer` (uvicorn), so it
serves TLS with the node's certificate off loopback, exactly like the HTTP API.

Every request is authenticated (a ``Bearer``/``Token`` header, or HTTP Basic with the account
name and its API token: never a person's password, whose argon2 check per request would make
every page cost 0.1 s of CPU and hand guessers an unthrottled oracle) and every object is
filtered by the reader's visibility before it is counted into a page. Handlers are thin: parse
the request, ask :class:`Catalogue` (in a worker thread: it reads SQLite), render JSON.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from node.errors import AccordError, InvalidInput, NotFound, RateLimited, Unauthenticated
from node.http.guard import client_address
from node.http.limits import RateLimiter
from node.model.provenance import parse_label
from node.model.viewers import Viewer
from node.store.bridges import ObjectQuery
from node.sync.catalogue import Catalogue, Collection, Page

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/taxii+json;version=2.1"
STIX_MEDIA_TYPE = "application/stix+json;version=2.1"
API_ROOT = "accord"
_ACCEPTED = ("application/taxii+json", "*/*", "application/*")
_TIMESTAMP_CHARS = frozenset("0123456789-:.TZ")
_EVERY_METHOD = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"]

Authenticator = Callable[[str, str | None], Viewer]
"""(token, Basic user name or None) → the reader; raises Unauthenticated."""

Answer = tuple[dict[str, Any], dict[str, str]]  # body, extra headers


@dataclass(frozen=True, slots=True)
class TaxiiSettings:
    """What the server needs besides the catalogue."""

    title: str
    default_limit: int = 100
    max_limit: int = 1000  # objects per response, whatever the client asks
    # The HTTP API's limits ([http]): per account, and per client address without valid credentials.
    rate_per_second: float = 50.0
    rate_burst: int = 100
    anonymous_rate_per_second: float = 5.0
    anonymous_rate_burst: int = 20


@dataclass(frozen=True, slots=True)
class _Limits:
    accounts: RateLimiter
    addresses: RateLimiter


class _Failure(Exception):
    def __init__(self, status: HTTPStatus, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


@dataclass(frozen=True, slots=True)
class _Asked:
    """One GET: who asks, the path's parameters, the query, the Host and scheme it came by."""

    viewer: Viewer
    params: dict[str, str]
    query: dict[str, str]
    base: str  # scheme://host of the request, for the discovery answer


Resource = Callable[[_Asked], Answer]


def build_taxii_app(catalogue: Catalogue, authenticate: Authenticator, settings: TaxiiSettings) -> Starlette:
    """The ASGI application of the TAXII 2.1 server."""
    server = _Taxii(catalogue, settings)
    resources: list[tuple[str, Resource]] = [
        ("/taxii2/", server.discovery),
        (f"/{API_ROOT}/", server.api_root),
        (f"/{API_ROOT}/collections/", server.collections),
        (f"/{API_ROOT}/collections/{{collection}}/", server.collection),
        (f"/{API_ROOT}/collections/{{collection}}/objects/", server.objects),
        (f"/{API_ROOT}/collections/{{collection}}/objects/{{object_id}}/", server.object),
        (f"/{API_ROOT}/collections/{{collection}}/objects/{{object_id}}/versions/", server.versions),
        (f"/{API_ROOT}/collections/{{collection}}/manifest/", server.manifest),
    ]
    limits = _Limits(
        accounts=RateLimiter(rate=settings.rate_per_second, burst=settings.rate_burst),
        addresses=RateLimiter(
            rate=settings.anonymous_rate_per_second,
            burst=settings.anonymous_rate_burst,
            noun="client address",
            setting="http.anonymous_rate_per_second",
        ),
    )
    routes = [
        Route(path, _endpoint(resource, authenticate, limits), methods=_EVERY_METHOD)
        for path, resource in resources
    ]
    return Starlette(routes=routes, exception_handlers={HTTPException: _http_error})


def _endpoint(
    resource: Resource, authenticate: Authenticator, limits: _Limits
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return _error(HTTPStatus.METHOD_NOT_ALLOWED, "this TAXII server is read-only")
        try:
            viewer = await _limited_viewer(request, authenticate, limits)
            _check_accept(request)
            asked = _Asked(
                viewer=viewer,
                params=dict(request.path_params),
                query=dict(request.query_params),  # the last value of a repeated parameter
                base=f"{request.url.scheme}://{request.headers.get('host', 'localhost')}",
            )
            body, headers = await run_in_threadpool(resource, asked)
        except (_Failure, AccordError) as exc:
            return _error_for(exc)
        return _send(HTTPStatus.OK, body, headers)

    return endpoint


def _error_for(exc: Exception) -> Response:
    """The one place a failure becomes a TAXII error message and its status."""
    if isinstance(exc, _Failure):
        return _error(exc.status, exc.description)
    if isinstance(exc, RateLimited):
        headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
        return _error(HTTPStatus.TOO_MANY_REQUESTS, str(exc), headers=headers)
    if isinstance(exc, NotFound):
        return _error(HTTPStatus.NOT_FOUND, "no such resource, or not visible to this account")
    if isinstance(exc, InvalidInput):
        return _error(HTTPStatus.BAD_REQUEST, str(exc))
    log.error("TAXII request failed", exc_info=exc)
    return _error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error")


# --- authentication and negotiation -------------------------------------------------------


async def _limited_viewer(request: Request, authenticate: Authenticator, limits: _Limits) -> Viewer:
    """The reader, within its account's rate; a failure first spends its address's allowance."""
    try:
        viewer = await run_in_threadpool(_viewer, request, authenticate)
    except _Failure:
        limits.addresses.take(client_address(request))  # a 429 instead of the 401 once over
        raise
    limits.accounts.take(viewer.name)
    return viewer


def _viewer(request: Request, authenticate: Authenticator) -> Viewer:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    token, username = credentials.strip(), None
    if scheme.lower() == "basic":
        username, token = _basic(credentials)
    elif scheme.lower() not in ("bearer", "token") or not token:
        raise _Failure(HTTPStatus.UNAUTHORIZED, "authentication required (Bearer token or HTTP Basic)")
    try:
        return authenticate(token, username)
    except Unauthenticated as exc:
        raise _Failure(HTTPStatus.UNAUTHORIZED, str(exc)) from exc


def _basic(credentials: str) -> tuple[str, str]:
    try:
        user, sep, token = base64.b64decode(credentials.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise _Failure(HTTPStatus.UNAUTHORIZED, "malformed Basic credentials") from exc
    if not sep or not token:
        raise _Failure(HTTPStatus.UNAUTHORIZED, "malformed Basic credentials")
    return user, token


def _check_accept(request: Request) -> None:
    accept = request.headers.get("accept", "*/*")
    for part in accept.split(","):
        media = part.split(";")[0].strip().lower()
        version = part.replace(" ", "").lower()
        if media in _ACCEPTED and ("version=" not in version or "version=2.1" in version):
            return
    raise _Failure(HTTPStatus.NOT_ACCEPTABLE, f"this server answers {MEDIA_TYPE} only")


# --- resources --------------------------------------------------------------------------


class _Taxii:
    """The resources, over the catalogue (each runs in a worker thread)."""

    def __init__(self, catalogue: Catalogue, settings: TaxiiSettings) -> None:
        self._catalogue = catalogue
        self._settings = settings

    def discovery(self, asked: _Asked) -> Answer:
        root = f"{asked.base}/{API_ROOT}/"
        return {
            "title": self._settings.title,
            "description": "Accord node: read-only TAXII 2.1 view of the indicators it holds",
            "default": root,
            "api_roots": [root],
        }, {}

    def api_root(self, asked: _Asked) -> Answer:
        return {
            "title": self._settings.title,
            "description": "Indicators by origin and by harm category, TLP-filtered per account",
            "versions": [MEDIA_TYPE],
            "max_content_length": 0,  # read-only: nothing may be added
        }, {}

    def collections(self, asked: _Asked) -> Answer:
        return {"collections": [_collection(c) for c in self._catalogue.collections(asked.viewer)]}, {}

    def collection(self, asked: _Asked) -> Answer:
        return _collection(self._find(asked)), {}

    def objects(self, asked: _Asked) -> Answer:
        return self._objects(asked, self._find(asked), ids=())

    def object(self, asked: _Asked) -> Answer:
        body, headers = self._objects(asked, self._find(asked), ids=(asked.params["object_id"],))
        if not body["objects"]:
            raise NotFound("no such object")
        return body, headers

    def manifest(self, asked: _Asked) -> Answer:
        page = self._page(asked, self._find(asked), asked.query, ids=())
        body = _paging(page)
        body["objects"] = [
            {
                "id": r.object_id,
                "date_added": r.date_added,
                "version": r.version,
                "media_type": STIX_MEDIA_TYPE,
            }
            for r in page.rows
        ]
        return body, _added_headers(page)

    def versions(self, asked: _Asked) -> Answer:
        query = {**asked.query, "match[version]": "all"}
        page = self._page(asked, self._find(asked), query, ids=(asked.params["object_id"],))
        if not page.rows:
            raise NotFound("no such object")
        body = {"more": page.next is not None, "versions": sorted({r.version for r in page.rows})}
        return body, _added_headers(page)

    def _find(self, asked: _Asked) -> Collection:
        return self._catalogue.collection(asked.viewer, asked.params["collection"])

    def _objects(self, asked: _Asked, collection: Collection, *, ids: tuple[str, ...]) -> Answer:
        page = self._page(asked, collection, asked.query, ids=ids)
        body = _paging(page)
        body["objects"] = [json.loads(r.object) for r in page.rows]
        return body, _added_headers(page)

    def _page(
        self, asked: _Asked, collection: Collection, query: dict[str, str], *, ids: tuple[str, ...]
    ) -> Page:
        filters = _object_query(query, ids=ids)
        return self._catalogue.page(
            asked.viewer, collection, filters, cursor=query.get("next"), limit=self._limit(query)
        )

    def _limit(self, query: dict[str, str]) -> int:
        text = query.get("limit")
        if text is None:
            return self._settings.default_limit
        if not text.isdigit() or int(text) < 1:
            raise InvalidInput("limit must be a positive integer")
        return min(int(text), self._settings.max_limit)


def _paging(page: Page) -> dict[str, Any]:
    body: dict[str, Any] = {"more": page.next is not None}
    if page.next is not None:
        body["next"] = page.next
    return body


def _object_query(query: dict[str, str], *, ids: tuple[str, ...]) -> ObjectQuery:
    def listed(key: str) -> tuple[str, ...]:
        return tuple(v.strip() for v in query.get(key, "").split(",") if v.strip())

    versions = listed("match[version]") or ("last",)
    for version in versions:
        if version not in ("last", "first", "all") and not set(version) <= _TIMESTAMP_CHARS:
            raise InvalidInput("match[version] is last, first, all or STIX timestamps")
    added_after = query.get("added_after")
    if added_after is not None and (not added_after or not set(added_after) <= _TIMESTAMP_CHARS):
        raise InvalidInput("added_after must be a timestamp such as 2026-01-01T00:00:00.000Z")
    if listed("match[spec_version]") not in ((), ("2.1",)):
        return ObjectQuery(ids=("-",))  # nothing here is of another STIX version
    return ObjectQuery(
        ids=ids or listed("match[id]"),
        types=listed("match[type]"),
        versions=versions,
        added_after=added_after,
        labels=tuple(parse_label(label) for label in listed("match[label]")),
    )


def _added_headers(page: Page) -> dict[str, str]:
    if not page.rows:
        return {}
    return {
        "X-TAXII-Date-Added-First": page.rows[0].date_added,
        "X-TAXII-Date-Added-Last": page.rows[-1].date_added,
    }


def _collection(collection: Collection) -> dict[str, Any]:
    return {
        "id": collection.id,
        "title": collection.title,
        "description": collection.description,
        "can_read": True,
        "can_write": False,
        "media_types": [STIX_MEDIA_TYPE],
    }


# --- output -------------------------------------------------------------------------------


def _send(status: HTTPStatus, body: dict[str, Any], headers: dict[str, str]) -> Response:
    data = json.dumps(body, ensure_ascii=False).encode()
    return Response(data, status_code=int(status), headers=headers, media_type=MEDIA_TYPE)


def _error(status: HTTPStatus, description: str, *, headers: dict[str, str] | None = None) -> Response:
    sent = dict(headers or {})
    if status is HTTPStatus.UNAUTHORIZED:
        sent["WWW-Authenticate"] = 'Bearer realm="accord", Basic realm="accord"'
    body = {"title": status.phrase, "description": description, "http_status": str(status.value)}
    return _send(status, body, sent)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths (and anything else Starlette refuses), as TAXII error messages."""
    code = exc.status_code if isinstance(exc, HTTPException) else 500
    return _error(HTTPStatus(code), "no such resource")
