"""Every outbound HTTP request the node makes (TAXII and MISP imports), with httpx.

What a caller may rely on after :func:`http_get` returns:

- credentials (the ``authorization`` argument) went only to the origin (scheme, host, port) of
  the URL asked for: a redirect elsewhere is followed without them, and never gets them back;
- no redirect changed the scheme (no ``ftp://``, no ``file://``, no https → http downgrade);
- the whole fetch, redirects and body included, ended by the :class:`Deadline` (wall clock),
  however slowly the server trickles bytes;
- the body is at most ``max_bytes`` (after content decoding), refused as soon as it is over.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from node.errors import PeerError, TooLarge

MAX_REDIRECTS = 5  # more than any real TAXII server or MISP mirror needs
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class Deadline:
    """A wall-clock end shared by every request of one import."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        """Seconds left; PeerError once there are none."""
        left = self._end - time.monotonic()
        if left <= 0:
            raise PeerError(f"the import's deadline of {self.seconds:g} s passed before the server finished")
        return left


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A successful (2xx) response: its body and headers (names in lowercase)."""

    body: bytes
    headers: Mapping[str, str]


def http_get(
    url: str,
    *,
    deadline: Deadline,
    max_bytes: int,
    stall_seconds: float,
    authorization: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> HttpResponse:
    """GET ``url``, following at most MAX_REDIRECTS same-scheme redirects (see the module doc).

    ``stall_seconds`` bounds each connect and each wait for bytes; ``deadline`` the whole.
    PeerError on a network failure, a non-2xx answer, a refused redirect or the deadline;
    TooLarge above ``max_bytes``.
    """
    origin = _origin(url)
    if origin[0] not in ("http", "https"):
        raise PeerError(f"only http:// and https:// URLs are fetched, not {safe_url(url)}")
    with httpx.Client(follow_redirects=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            sent = dict(headers or {})
            if authorization is not None and _origin(url) == origin:
                sent["Authorization"] = authorization
            location = _get_once(
                client, url, sent, deadline=deadline, max_bytes=max_bytes, stall=stall_seconds
            )
            if isinstance(location, HttpResponse):
                return location
            url = _next_url(url, location)
    raise PeerError(f"GET {safe_url(url)}: more than {MAX_REDIRECTS} redirects")


def _get_once(
    client: httpx.Client,
    url: str,
    headers: dict[str, str],
    *,
    deadline: Deadline,
    max_bytes: int,
    stall: float,
) -> HttpResponse | str:
    """The response, or the Location of a redirect (not followed here)."""
    timeout = httpx.Timeout(min(stall, deadline.remaining()))
    try:
        with client.stream("GET", url, headers=headers, timeout=timeout) as response:
            if response.status_code in _REDIRECTS and "location" in response.headers:
                return response.headers["location"]
            if not response.is_success:
                raise PeerError(f"GET {safe_url(url)} answered HTTP {response.status_code}")
            body = _read_body(response, url, deadline=deadline, max_bytes=max_bytes, stall=stall)
            return HttpResponse(body, {name.lower(): value for name, value in response.headers.items()})
    except httpx.TimeoutException as exc:
        deadline.remaining()  # the deadline's own message when that is what ran out
        raise PeerError(f"GET {safe_url(url)}: the server was silent for {stall:g} s") from exc
    except httpx.HTTPError as exc:
        raise PeerError(f"GET {safe_url(url)} failed: {exc}") from exc


def _read_body(
    response: httpx.Response, url: str, *, deadline: Deadline, max_bytes: int, stall: float
) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():  # each chunk as it arrives: the deadline is checked per read
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge(f"GET {safe_url(url)}: the response is larger than {max_bytes} bytes")
        chunks.append(chunk)
        # httpcore reads the "timeout" extension before each socket read: narrowing it to what
        # is left makes a server that trickles bytes meet the deadline, not one stall later.
        response.request.extensions["timeout"]["read"] = min(stall, deadline.remaining())
    return b"".join(chunks)


def _next_url(current: str, location: str) -> str:
    """Where a redirect leads; PeerError when it would change the scheme."""
    target = urljoin(current, location)
    before, after = urlsplit(current).scheme.lower(), urlsplit(target).scheme.lower()
    if after != before:
        raise PeerError(
            f"GET {safe_url(current)} redirected to {safe_url(target)}: a redirect may not change "
            f"the scheme ({before} → {after or 'none'}); refused"
        )
    return target


def _origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port (default ports filled in): what credentials are bound to."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError as exc:
        raise PeerError(f"{safe_url(url)} has an invalid port") from exc
    default = {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port if port is not None else default


def safe_url(url: str) -> str:
    """A URL for messages: without any user:password part."""
    scheme, sep, rest = url.partition("://")
    return scheme + sep + rest.split("@", 1)[-1]
