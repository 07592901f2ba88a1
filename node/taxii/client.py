"""Reading other tools over HTTP: a TAXII 2.1 collection client and a bounded GET for MISP feeds.

Both go through ``node.taxii.http``: one deadline per import, a size cap, credentials only to
the source's own origin. Credentials go in the Authorization header only, never in URLs or
messages. A response is parsed only once whole, and refused when it nests too deeply.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urljoin

from node.errors import InvalidInput, PeerError
from node.model.jsontext import parse_json
from node.taxii.http import Deadline, http_get

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


def fetch_url(url: str, *, max_bytes: int, stall_seconds: float, deadline: Deadline) -> bytes:
    """The body of a GET of ``url``; PeerError on HTTP or network failure, TooLarge above ``max_bytes``."""
    return http_get(url, deadline=deadline, max_bytes=max_bytes, stall_seconds=stall_seconds).body


class TaxiiClient:
    """Reads one collection of a TAXII 2.1 API root."""

    def __init__(
        self,
        api_root: str,
        collection: str,
        *,
        username: str | None,
        secret: str | None,
        stall_seconds: float,
        deadline_seconds: float,
        max_bytes: int,
    ) -> None:
        root = api_root if api_root.endswith("/") else api_root + "/"
        self._objects_url = urljoin(root, f"collections/{collection}/objects/")
        self._authorization: str | None = None
        if secret is not None and username is not None:
            pair = base64.b64encode(f"{username}:{secret}".encode()).decode()
            self._authorization = f"Basic {pair}"
        elif secret is not None:
            self._authorization = f"Bearer {secret}"
        self._stall = stall_seconds
        self._deadline_seconds = deadline_seconds
        self._max_bytes = max_bytes

    def pages(self, *, added_after: str | None, limit: int = PAGE_LIMIT) -> Iterator[TaxiiPage]:
        """Every page of objects added after ``added_after``, following ``next`` to the end.

        All pages share one deadline: PeerError once it passes (the pages already read stand).
        """
        deadline = Deadline(self._deadline_seconds)
        params: dict[str, str] = {"limit": str(limit)}
        if added_after is not None:
            params["added_after"] = added_after
        while True:
            page = self._get(params, deadline)
            yield page
            if not page.more or page.next is None:
                return
            params = {**params, "next": page.next}

    def _get(self, params: dict[str, str], deadline: Deadline) -> TaxiiPage:
        url = f"{self._objects_url}?{urlencode(params)}"
        response = http_get(
            url,
            deadline=deadline,
            max_bytes=self._max_bytes,
            stall_seconds=self._stall,
            authorization=self._authorization,
            headers={"Accept": TAXII_MEDIA_TYPE},
        )
        try:
            envelope = parse_json(response.body, what="the TAXII response")
            objects = envelope.get("objects", [])
            if not isinstance(objects, list):
                raise TypeError("objects")
        except (InvalidInput, TypeError, AttributeError) as exc:
            raise PeerError(
                f"the TAXII server answered something that is not a TAXII envelope: {exc}"
            ) from exc
        more = envelope.get("more") is True
        last = response.headers.get("x-taxii-date-added-last")
        return TaxiiPage(objects=objects, more=more, next=envelope.get("next"), date_added_last=last)
