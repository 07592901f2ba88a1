"""The TAXII view of the node: collections and pages of objects a reader may see.

Objects are the STIX objects of held entries exactly as their origins signed them (the
catalogue in ``node.store.bridges``). Visibility is decided per object from the distribution
of the entry that carried it, by :meth:`Viewer.may_view`, the same rule the Federation API
applies (DESIGN §5); a quarantined origin's objects (it equivocated) are shown to no one.
Paging is by an opaque cursor over the catalogue's rowid: objects that share a ``date_added``
are never lost between pages.
"""

from __future__ import annotations

import base64
import binascii
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from node.errors import InvalidInput, NotFound
from node.model import Distribution, KeyId, Tlp
from node.model.viewers import Viewer
from node.stix import origin_identity_id
from node.stix.markings import WELL_KNOWN_TLP, tlp_marking_definition
from node.stix.profile import accord_identity, extension_definition
from node.store import Store
from node.store.bridges import (
    CatalogueRow,
    ObjectQuery,
    catalogue_entries,
    catalogue_groups,
    catalogue_is_behind,
    catalogue_rows,
)

_COLLECTION_NS = uuid.UUID("6b1f3f0e-5a8e-4a4c-9a53-3c1f6e0a7d21")  # Accord's TAXII collection ids
_SCAN_BATCH = 1000  # rows read per query while filling one page
ALL_COLLECTION = "all"
Group = tuple[KeyId, str | None, Tlp, frozenset[KeyId]]


@dataclass(frozen=True, slots=True)
class Collection:
    """A read-only TAXII collection: everything, one origin, or one category."""

    id: str
    title: str
    description: str
    origin: KeyId | None = None
    category: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of catalogue rows, and the cursor to the next when there is more."""

    rows: tuple[CatalogueRow, ...]
    next: str | None


def collection_id(kind: str, value: str) -> str:
    """A stable UUID for the collection of one origin or one category."""
    return str(uuid.uuid5(_COLLECTION_NS, f"{kind}:{value}"))


def encode_cursor(rowid: int) -> str:
    """An opaque ``next`` token."""
    return base64.urlsafe_b64encode(f"accord-taxii-1:{rowid}".encode()).decode().rstrip("=")


def decode_cursor(token: str) -> int:
    """The rowid behind a ``next`` token; InvalidInput for anything this server did not issue."""
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        prefix, _, number = text.partition(":")
        if prefix != "accord-taxii-1" or not number.isdigit() or len(number) > 18:
            raise ValueError(text)
        return int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInput("the 'next' parameter is not a cursor this server issued") from exc


def descriptive_screen(obj: dict[str, Any], origin: KeyId) -> str | None:
    """Why ``origin`` may not publish the descriptive object ``obj`` (None when it may).

    An origin publishes its own identity only (the one whose id derives from its key id). The
    well-known TLP definitions, Accord's extension definition and the Accord project identity
    are fixed: a copy is kept only when it is exactly the published object.
    """
    identifier = obj.get("id")
    fixed = _FIXED_OBJECTS.get(identifier) if isinstance(identifier, str) else None
    if fixed is not None or identifier in WELL_KNOWN_TLP:
        return None if obj == fixed else "redefines a well-known object (TLP or Accord's own definitions)"
    if obj.get("type") == "identity" and identifier != origin_identity_id(origin):
        return "an origin publishes only its own identity"
    return None


_FIXED_OBJECTS: Mapping[str, dict[str, Any]] = {
    fixed["id"]: fixed
    for fixed in (
        accord_identity(),
        extension_definition(),
        *(tlp_marking_definition(tlp) for tlp in Tlp),
    )
}


# The official TLP 2.0 definitions, in every collection: readers such as OpenCTI drop a marking
# whose definition they were not given.
_TLP_DEFINITIONS = {tlp.value: tlp_marking_definition(tlp) for tlp in Tlp}
_TLP_IDS = tuple(definition["id"] for definition in _TLP_DEFINITIONS.values())


class Catalogue:
    """Answers TAXII questions from the store for an authenticated :class:`Viewer`."""

    def __init__(self, *, store: Store, server: KeyId, names: Callable[[], Mapping[KeyId, str]]) -> None:
        self._store = store
        self._server = server
        self._names = names
        self._lock = threading.Lock()
        self._groups: list[Group] | None = None  # distinct distributions; only refresh() adds rows

    def refresh(self) -> int:
        """Catalogue entries committed since the last call; cheap when there are none."""
        if not catalogue_is_behind(self._store):
            return 0
        with self._lock:
            added = catalogue_entries(self._store, screen=descriptive_screen, definitions=_TLP_DEFINITIONS)
            self._groups = None
            return added

    def _distinct_groups(self) -> list[Group]:
        groups = self._groups
        if groups is None:
            groups = self._groups = list(catalogue_groups(self._store))
        return groups

    def collections(self, viewer: Viewer) -> list[Collection]:
        """The collections holding at least one object ``viewer`` may see, plus "all"."""
        self.refresh()
        names = self._names()
        origins: set[KeyId] = set()
        categories: set[str] = set()
        quarantined = self._store.quarantined_origins()
        for origin, category, tlp, recipients in self._distinct_groups():
            if origin not in quarantined and viewer.may_view(
                Distribution(tlp=tlp, recipients=recipients), origin=origin, server=self._server
            ):
                origins.add(origin)
                if category is not None:
                    categories.add(category)
        found = [Collection(ALL_COLLECTION, "All indicators", "Every object this node may show you")]
        for origin in sorted(origins):
            name = names.get(origin, origin[:12])
            found.append(
                Collection(
                    collection_id("origin", origin),
                    f"Origin: {name}",
                    f"Published by {origin}",
                    origin=origin,
                )
            )
        for category in sorted(categories):
            found.append(
                Collection(
                    collection_id("category", category),
                    f"Category: {category}",
                    f"Indicators labelled {category}",
                    category=category,
                )
            )
        return found

    def collection(self, viewer: Viewer, wanted: str) -> Collection:
        """One collection by id; NotFound for one that does not exist or that ``viewer`` cannot see."""
        for found in self.collections(viewer):
            if found.id == wanted:
                return found
        raise NotFound("no such collection")

    def page(
        self, viewer: Viewer, collection: Collection, query: ObjectQuery, *, cursor: str | None, limit: int
    ) -> Page:
        """Up to ``limit`` visible rows after ``cursor``, with the cursor of the next page if any."""
        self.refresh()
        query = ObjectQuery(
            origin=collection.origin,
            category=collection.category,
            ids=query.ids,
            types=query.types,
            versions=query.versions,
            added_after=query.added_after,
            shared_ids=_TLP_IDS,
            labels=query.labels,
        )
        after = 0 if cursor is None else decode_cursor(cursor)
        rows: list[CatalogueRow] = []
        quarantined = self._store.quarantined_origins()
        while len(rows) <= limit:
            batch = catalogue_rows(self._store, query, after=after, limit=_SCAN_BATCH)
            if not batch:
                break
            rows.extend(r for r in batch if r.origin not in quarantined and self._visible(viewer, r))
            after = batch[-1].rowid
        if len(rows) > limit:
            return Page(rows=tuple(rows[:limit]), next=encode_cursor(rows[limit - 1].rowid))
        return Page(rows=tuple(rows), next=None)

    def _visible(self, viewer: Viewer, row: CatalogueRow) -> bool:
        distribution = Distribution(tlp=row.tlp, recipients=row.recipients)
        return viewer.may_view(distribution, origin=row.origin, server=self._server)
