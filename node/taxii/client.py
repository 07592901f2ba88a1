"""Reading other tools over HTTP: a TAXII 2.1 collection client and a bounded GET for MISP feeds.

Every request has a timeout and a size cap; a response larger than the cap is refused before
it is parsed. Credentials go in the Authorization header only, never in URLs or messages.
"""

from __future__ import annotations

import base64
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urljoin

from node.errors import PeerError, TooLarge

log = logging.getLogger(__name__)

TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1"
PAGE_LIMIT = 500  # objects asked per TAXII request; servers may answer with fewer


@dataclass(frozen=True, slots=True)
class TaxiiPage:
    """One objects response: the objects, whether there is more, and the added-at range."""

    objects: list[dict[str, Any]]
    more: bool
    next: str | None
    date_added_last: str | None


def fetch_url(url: str, *, max_bytes: int, timeout: float, headers: dict[str, str] | None = None) -> bytes:
    """The body of a GET of ``url``; PeerError on HTTP or network failure, TooLarge above ``max_bytes``."""
    if not url.startswith(("http://", "https://")):
        raise PeerError("only http:// and https:// URLs are fetched")
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 (scheme checked above)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            data: bytes = response.read(max_bytes + 1)
    except urllib.error.HTTPError as exc:
        raise PeerError(f"GET {_safe(url)} answered HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise PeerError(f"GET {_safe(url)} failed: {getattr(exc, 'reason', exc)}") from exc
    if len(data) > max_bytes:
        raise TooLarge(f"GET {_safe(url)}: the response is larger than {max_bytes} bytes")
    return data


class TaxiiClient:
    """Reads one collection of a TAXII 2.1 API root."""

    def __init__(
        self,
        api_root: str,
        collection: str,
        *,
        username: str | None,
        secret: str | None,
        timeout: float,
        max_bytes: int,
    ) -> None:
        root = api_root if api_root.endswith("/") else api_root + "/"
        self._objects_url = urljoin(root, f"collections/{collection}/objects/")
        self._headers = {"Accept": TAXII_MEDIA_TYPE}
        if secret is not None and username is not None:
            pair = base64.b64encode(f"{username}:{secret}".encode()).decode()
            self._headers["Authorization"] = f"Basic {pair}"
        elif secret is not None:
            self._headers["Authorization"] = f"Bearer {secret}"
        self._timeout = timeout
        self._max_bytes = max_bytes

    def pages(self, *, added_after: str | None, limit: int = PAGE_LIMIT) -> Iterator[TaxiiPage]:
        """Every page of objects added after ``added_after``, following ``next`` to the end."""
        params: dict[str, str] = {"limit": str(limit)}
        if added_after is not None:
            params["added_after"] = added_after
        while True:
            page = self._get(params)
            yield page
            if not page.more or page.next is None:
                return
            params = {**params, "next": page.next}

    def _get(self, params: dict[str, str]) -> TaxiiPage:
        url = f"{self._objects_url}?{urlencode(params)}"
        request = urllib.request.Request(url, headers=self._headers)  # noqa: S310 (http(s) checked at add)
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
                data = response.read(self._max_bytes + 1)
                last = response.headers.get("X-TAXII-Date-Added-Last")
        except urllib.error.HTTPError as exc:
            raise PeerError(f"TAXII server answered HTTP {exc.code} for {_safe(self._objects_url)}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise PeerError(f"TAXII server unreachable: {getattr(exc, 'reason', exc)}") from exc
        if len(data) > self._max_bytes:
            raise TooLarge(f"a TAXII response is larger than {self._max_bytes} bytes")
        try:
            envelope = json.loads(data)
            objects = envelope.get("objects", [])
            if not isinstance(objects, list):
                raise TypeError("objects")
        except (ValueError, TypeError, AttributeError) as exc:
            raise PeerError("the TAXII server answered something that is not a TAXII envelope") from exc
        more = envelope.get("more") is True
        return TaxiiPage(objects=objects, more=more, next=envelope.get("next"), date_added_last=last)


def _safe(url: str) -> str:
    """A URL for messages: without any user:password part."""
    scheme, sep, rest = url.partition("://")
    return scheme + sep + rest.split("@", 1)[-1]
