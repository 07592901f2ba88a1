"""A read-only TAXII 2.1 server on loopback: discovery, API root, collections, objects, manifest.

Every request is authenticated (a bearer/``Token`` header or HTTP Basic with the account name
and its token) and every object is filtered by the reader's visibility before it is counted
into a page. Handlers are thin: parse the request, ask :class:`Catalogue`, render JSON.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from node.errors import AccordError, ConfigError, InvalidInput, NotFound, Unauthenticated
from node.model import is_loopback_endpoint
from node.model.provenance import parse_label
from node.model.viewers import Viewer
from node.store.bridges import ObjectQuery
from node.sync.catalogue import Catalogue, Collection, Page

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/taxii+json;version=2.1"
STIX_MEDIA_TYPE = "application/stix+json;version=2.1"
API_ROOT = "accord"
_ACCEPTED = ("application/taxii+json", "*/*", "application/*")
REQUEST_TIMEOUT_SECONDS = 30  # a client that stalls mid-request is dropped, not waited on
_TIMESTAMP_CHARS = frozenset("0123456789-:.TZ")

Authenticator = Callable[[str, str | None], Viewer]
"""(token, Basic user name or None) → the reader; raises Unauthenticated."""


@dataclass(frozen=True, slots=True)
class TaxiiSettings:
    """What the server needs besides the catalogue."""

    title: str
    default_limit: int = 100
    max_limit: int = 1000  # objects per response, whatever the client asks


class _Failure(Exception):
    def __init__(self, status: HTTPStatus, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


class TaxiiServer:
    """The HTTP server; ``start`` binds and serves in a background thread."""

    def __init__(
        self, *, catalogue: Catalogue, authenticate: Authenticator, settings: TaxiiSettings, address: str
    ) -> None:
        if not is_loopback_endpoint(address):
            raise ConfigError(f"the TAXII server serves plain HTTP on loopback only, not {address}")
        host, _, port = address.rpartition(":")
        handler = _handler_class(catalogue, authenticate, settings)
        try:
            self._httpd = ThreadingHTTPServer((host.strip("[]"), int(port)), handler)
        except OSError as exc:
            raise ConfigError(f"cannot listen on {address} for TAXII: {exc.strerror}") from exc
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        return int(self._httpd.server_address[1])

    def start(self) -> None:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="taxii", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting requests and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)


def _handler_class(catalogue: Catalogue, authenticate: Authenticator, settings: TaxiiSettings) -> type:
    class Handler(_TaxiiHandler):
        pass

    Handler.catalogue = catalogue
    Handler.authenticate = staticmethod(authenticate)
    Handler.settings = settings
    return Handler


class _TaxiiHandler(BaseHTTPRequestHandler):
    catalogue: Catalogue
    authenticate: Authenticator
    settings: TaxiiSettings
    timeout = REQUEST_TIMEOUT_SECONDS
    server_version = "accord-taxii/1"

    def do_GET(self) -> None:
        try:
            viewer = self._viewer()
            self._check_accept()
            status, body, headers = self._route(viewer)
        except _Failure as failure:
            self._error(failure.status, failure.description)
            return
        except NotFound:
            self._error(HTTPStatus.NOT_FOUND, "no such resource, or not visible to this account")
            return
        except InvalidInput as exc:
            self._error(HTTPStatus.BAD_REQUEST, str(exc))
            return
        except AccordError:
            log.exception("TAXII request failed")
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error")
            return
        self._send(status, body, headers)

    def do_POST(self) -> None:
        self._error(HTTPStatus.METHOD_NOT_ALLOWED, "this TAXII server is read-only")

    do_PUT = do_DELETE = do_PATCH = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("taxii %s " + format, self.client_address[0], *args)

    # --- authentication and negotiation ---------------------------------------------------

    def _viewer(self) -> Viewer:
        header = self.headers.get("Authorization", "")
        scheme, _, credentials = header.partition(" ")
        token, username = credentials.strip(), None
        if scheme.lower() == "basic":
            username, token = _basic(credentials)
        elif scheme.lower() not in ("bearer", "token") or not token:
            raise _Failure(HTTPStatus.UNAUTHORIZED, "authentication required (Bearer token or HTTP Basic)")
        try:
            return self.authenticate(token, username)
        except Unauthenticated as exc:
            raise _Failure(HTTPStatus.UNAUTHORIZED, str(exc)) from exc

    def _check_accept(self) -> None:
        accept = self.headers.get("Accept", "*/*")
        for part in accept.split(","):
            media = part.split(";")[0].strip().lower()
            version = part.replace(" ", "").lower()
            if media in _ACCEPTED and ("version=" not in version or "version=2.1" in version):
                return
        raise _Failure(HTTPStatus.NOT_ACCEPTABLE, f"this server answers {MEDIA_TYPE} only")

    # --- routing ------------------------------------------------------------------------

    def _route(self, viewer: Viewer) -> tuple[HTTPStatus, dict[str, Any], dict[str, str]]:
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.split("/") if p]
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        if parts == ["taxii2"]:
            return HTTPStatus.OK, self._discovery(), {}
        if parts[:1] != [API_ROOT]:
            raise NotFound("no such resource")
        rest = parts[1:]
        if not rest:
            return HTTPStatus.OK, self._api_root(), {}
        if rest == ["collections"]:
            return (
                HTTPStatus.OK,
                {"collections": [_collection(c) for c in self.catalogue.collections(viewer)]},
                {},
            )
        if rest[0] != "collections" or len(rest) < 2:
            raise NotFound("no such resource")
        collection = self.catalogue.collection(viewer, rest[1])
        return self._collection_route(viewer, collection, rest[2:], query)

    def _collection_route(
        self, viewer: Viewer, collection: Collection, rest: list[str], query: dict[str, str]
    ) -> tuple[HTTPStatus, dict[str, Any], dict[str, str]]:
        if not rest:
            return HTTPStatus.OK, _collection(collection), {}
        if rest == ["objects"]:
            return self._objects(viewer, collection, query, ids=())
        if rest == ["manifest"]:
            return self._manifest(viewer, collection, query)
        if len(rest) == 2 and rest[0] == "objects":
            status, body, headers = self._objects(viewer, collection, query, ids=(rest[1],))
            if not body["objects"]:
                raise NotFound("no such object")
            return status, body, headers
        if len(rest) == 3 and rest[0] == "objects" and rest[2] == "versions":
            return self._versions(viewer, collection, rest[1], query)
        raise NotFound("no such resource")

    # --- resources ----------------------------------------------------------------------

    def _discovery(self) -> dict[str, Any]:
        root = f"http://{self.headers.get('Host', 'localhost')}/{API_ROOT}/"
        return {
            "title": self.settings.title,
            "description": "Accord node: read-only TAXII 2.1 view of the indicators it holds",
            "default": root,
            "api_roots": [root],
        }

    def _api_root(self) -> dict[str, Any]:
        return {
            "title": self.settings.title,
            "description": "Indicators by origin and by harm category, TLP-filtered per account",
            "versions": [MEDIA_TYPE],
            "max_content_length": 0,  # read-only: nothing may be added
        }

    def _objects(
        self, viewer: Viewer, collection: Collection, query: dict[str, str], *, ids: tuple[str, ...]
    ) -> tuple[HTTPStatus, dict[str, Any], dict[str, str]]:
        page = self._page(viewer, collection, query, ids=ids)
        body: dict[str, Any] = {"more": page.next is not None}
        if page.next is not None:
            body["next"] = page.next
        body["objects"] = [json.loads(r.object) for r in page.rows]
        return HTTPStatus.OK, body, _added_headers(page)

    def _manifest(
        self, viewer: Viewer, collection: Collection, query: dict[str, str]
    ) -> tuple[HTTPStatus, dict[str, Any], dict[str, str]]:
        page = self._page(viewer, collection, query, ids=())
        body: dict[str, Any] = {"more": page.next is not None}
        if page.next is not None:
            body["next"] = page.next
        body["objects"] = [
            {
                "id": r.object_id,
                "date_added": r.date_added,
                "version": r.version,
                "media_type": STIX_MEDIA_TYPE,
            }
            for r in page.rows
        ]
        return HTTPStatus.OK, body, _added_headers(page)

    def _versions(
        self, viewer: Viewer, collection: Collection, object_id: str, query: dict[str, str]
    ) -> tuple[HTTPStatus, dict[str, Any], dict[str, str]]:
        page = self._page(viewer, collection, {**query, "match[version]": "all"}, ids=(object_id,))
        if not page.rows:
            raise NotFound("no such object")
        body = {"more": page.next is not None, "versions": sorted({r.version for r in page.rows})}
        return HTTPStatus.OK, body, _added_headers(page)

    def _page(
        self, viewer: Viewer, collection: Collection, query: dict[str, str], *, ids: tuple[str, ...]
    ) -> Page:
        filters = _object_query(query, ids=ids)
        return self.catalogue.page(
            viewer, collection, filters, cursor=query.get("next"), limit=self._limit(query)
        )

    def _limit(self, query: dict[str, str]) -> int:
        text = query.get("limit")
        if text is None:
            return self.settings.default_limit
        if not text.isdigit() or int(text) < 1:
            raise InvalidInput("limit must be a positive integer")
        return min(int(text), self.settings.max_limit)

    # --- output -------------------------------------------------------------------------

    def _send(self, status: HTTPStatus, body: dict[str, Any], headers: dict[str, str]) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", MEDIA_TYPE)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: HTTPStatus, description: str) -> None:
        headers = {"WWW-Authenticate": 'Bearer realm="accord", Basic realm="accord"'}
        body = {"title": status.phrase, "description": description, "http_status": str(status.value)}
        self._send(status, body, headers if status is HTTPStatus.UNAUTHORIZED else {})


def _basic(credentials: str) -> tuple[str, str]:
    try:
        user, sep, token = base64.b64decode(credentials.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise _Failure(HTTPStatus.UNAUTHORIZED, "malformed Basic credentials") from exc
    if not sep or not token:
        raise _Failure(HTTPStatus.UNAUTHORIZED, "malformed Basic credentials")
    return user, token


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
