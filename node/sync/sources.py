"""Unsigned sources (TAXII collections, MISP feeds): register them and import what they send.

Imported indicators carry the source's synthetic origin (``node.model.sources``) and no entry
(``entry_seq`` 0): they are never served to partners or over TAXII, which serve signed entries
only. Trust (the partners' vocabulary) decides where they go: ``auto`` and ``review`` into the
indicators (matched; each match reports the level), ``observe`` into ``staged_indicators``
(counted, never matched) until ``accord partner accept`` raises the source to ``review``. Each
import is one transaction; refused items are counted by reason, never with their hash value.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from node.errors import AlreadyExists, InvalidInput, NotFound
from node.model import Indicator, Seq
from node.model.sources import Source, SourceKind, Trust
from node.store import Store
from node.store.bridges import (
    add_source,
    remove_source,
    set_source_cursor,
    set_source_trust,
    sources,
    stage_indicators,
    staged_indicators,
    unstage,
)

log = logging.getLogger(__name__)

IMPORT_REFUSED = "import_refused"  # the rejection counter's reason for refused imported items
_NO_ENTRY = Seq(0)  # imported indicators came in no signed entry


@dataclass(frozen=True, slots=True)
class ItemRefusal:
    """One refused item of an import and why (no hash values)."""

    item: str
    reason: str


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What one import wrote."""

    source: str
    added: int
    staged: int
    unchanged: int
    refused: tuple[ItemRefusal, ...] = ()
    skipped: int = 0
    error: str | None = None


def register_source(store: Store, source: Source) -> Source:
    """Store a new source; its name may not be a partner's or another source's."""
    if store.partner(source.name) is not None:
        raise AlreadyExists(f"{source.name!r} is a pinned partner's name; choose another")
    try:
        with store.write() as tx:
            add_source(tx, source)
    except sqlite3.IntegrityError as exc:
        raise AlreadyExists(f"a source named {source.name!r} exists already") from exc
    log.info("added %s source %s (trust=%s)", source.kind.value, source.name, source.trust.value)
    return source


def find_source(store: Store, name: str) -> Source:
    """The source named ``name``."""
    for source in sources(store):
        if source.name == name:
            return source
    raise NotFound(f"no source named {name!r} (see 'accord partner sources')")


def source_for_import(store: Store, *, name: str, kind: SourceKind, url: str, trust: Trust) -> Source:
    """The existing source ``name`` of ``kind``, or a new one registered now."""
    for source in sources(store):
        if source.name == name:
            if source.kind is not kind:
                raise InvalidInput(f"source {name!r} is a {source.kind.value} source, not {kind.value}")
            return source
    return register_source(store, Source(name=name, kind=kind, url=url, trust=trust))


def delete_source(store: Store, name: str) -> None:
    """Forget a source and what it staged; indicators it already contributed stay as history."""
    with store.write() as tx:
        if not remove_source(tx, name):
            raise NotFound(f"no source named {name!r} (see 'accord partner sources')")


def import_indicators(
    store: Store,
    source: Source,
    indicators: Sequence[Indicator],
    *,
    refused: Sequence[ItemRefusal] = (),
    skipped: int = 0,
    cursor: str | None = None,
) -> ImportReport:
    """Write one batch from ``source`` in one transaction: indicators or staged rows, refusals, cursor."""
    wrong = [i for i in indicators if i.origin != source.origin]
    if wrong:
        raise InvalidInput("an imported indicator is attributed to another origin than its source")
    with store.write() as tx:
        if source.trust.matches:
            written = tx.upsert_indicators_counted(indicators, entry_seq=_NO_ENTRY)
            added, staged = written, 0
        else:
            added, staged = 0, stage_indicators(tx, source.name, indicators)
        for refusal in refused:
            tx.record_rejection(
                partner=source.name,
                origin=None,
                seq=None,
                reason=IMPORT_REFUSED,
                message=f"{refusal.item}: {refusal.reason}",
            )
        if cursor is not None:
            set_source_cursor(tx, source.name, cursor)
    unchanged = len(indicators) - added - staged
    log.info(
        "imported from %s: %d added, %d staged, %d unchanged, %d refused, %d skipped",
        source.name,
        added,
        staged,
        unchanged,
        len(refused),
        skipped,
    )
    return ImportReport(source.name, added, staged, unchanged, tuple(refused), skipped)


def record_import(store: Store, report: ImportReport) -> None:
    """Remember how the last pull of a source went (shown by ``accord status``)."""
    with store.write() as tx:
        tx.record_sync(
            partner=report.source,
            success=report.error is None,
            result="ok" if report.error is None else "failed",
            error=report.error,
            received=report.added + report.staged,
            rejected=len(report.refused),
        )


def accept_staged(store: Store, name: str) -> int:
    """Move what a source staged into the indicators and raise an ``observe`` source to
    ``review``: its indicators match from now on, each match saying ``review``. Returns how
    many were moved."""
    source = find_source(store, name)
    with store.write() as tx:
        pending = staged_indicators(tx, source.name)
        written = tx.upsert_indicators_counted(pending, entry_seq=_NO_ENTRY)
        unstage(tx, source.name)
        if source.trust is Trust.OBSERVE:
            set_source_trust(tx, source.name, Trust.REVIEW)
    log.info("accepted %d staged indicators from %s (trust %s)", written, source.name, source.trust.value)
    return written


def list_sources(store: Store) -> list[Source]:
    """Every unsigned source."""
    return sources(store)
