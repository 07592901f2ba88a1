"""Row ↔ value conversions shared by the store's reads and writes."""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

from node.model import (
    ContentType,
    Envelope,
    EnvelopeSignature,
    Indicator,
    Indicators,
    KeyId,
    Seq,
    Siblings,
    Signal,
    SignalType,
    Tlp,
)
from node.model.clock import format_timestamp, parse_timestamp
from node.model.provenance import IndicatorNote, note_from_data, note_to_data
from node.store.records import StoredEntry


def signatures_to_text(envelope: Envelope) -> str:
    """Signatures as JSON text (base64 sigs), the form DSSE's JSON envelope uses."""
    return json.dumps(
        [{"keyid": s.keyid, "sig": base64.b64encode(s.sig).decode()} for s in envelope.signatures]
    )


def signatures_from_text(text: str) -> tuple[EnvelopeSignature, ...]:
    """Inverse of :func:`signatures_to_text`."""
    return tuple(
        EnvelopeSignature(keyid=KeyId(item["keyid"]), sig=base64.b64decode(item["sig"]))
        for item in json.loads(text)
    )


# The bundle bytes of an entry this node can read: the body itself when it travels in the
# clear, the opened plaintext of a sealed body; NULL while the body is missing or unreadable.
READABLE_BUNDLE = "(CASE WHEN sealed = 0 THEN body ELSE bundle END)"
ENTRY_COLUMNS = "origin, seq, tlp, recipients, payload_type, payload, signatures, body, sealed"


def stored_entry_from_row(row: sqlite3.Row | tuple[Any, ...]) -> StoredEntry:
    """Columns: :data:`ENTRY_COLUMNS`."""
    origin, seq, tlp, recipients, payload_type, payload, signatures, body, sealed = row
    return StoredEntry(
        origin=KeyId(origin),
        seq=Seq(seq),
        tlp=Tlp(tlp),
        recipients=frozenset(KeyId(r) for r in json.loads(recipients)),
        envelope=Envelope(
            payload_type=payload_type, payload=bytes(payload), signatures=signatures_from_text(signatures)
        ),
        body=None if body is None else bytes(body),
        sealed=bool(sealed),
    )


# Exact lookup by signal value goes through an index on the value's first characters (m013):
# 12 hex digits (48 bits) single out a row among tens of millions, and the index entry is a
# quarter of the full value's, which is what each ingested row costs (a random-key insert).
VALUE_PREFIX_CHARS = 12
# ``+value``: a plain ``value = ?`` beside it makes SQLite 3.40 ignore the expression index.
VALUE_MATCHES = f"substr(value, 1, {VALUE_PREFIX_CHARS}) = ? AND +value = ? AND signal_type = ?"


def value_params(signal_type: str, value: str) -> tuple[str, str, str]:
    """The parameters of :data:`VALUE_MATCHES` for one signal."""
    return value[:VALUE_PREFIX_CHARS], value, signal_type


INDICATOR_COLUMNS = (
    "id, origin, signal_type, value, category, content_type, tlp, quality, "
    "created, modified, valid_until, revoked"
)


def indicator_to_row(indicator: Indicator) -> tuple[Any, ...]:
    """Values in the order of :data:`INDICATOR_COLUMNS`."""
    until = indicator.valid_until
    signal = indicator.signal
    # ``_value_`` is the member's value as a plain attribute; ``.value`` goes through a Python
    # descriptor, three times per row on the ingest path.
    return (
        indicator.id,
        indicator.origin,
        signal.type._value_,
        signal.value,
        indicator.category,
        indicator.content_type._value_,
        indicator.tlp._value_,
        indicator.quality,
        format_timestamp(indicator.created),
        format_timestamp(indicator.modified),
        None if until is None else format_timestamp(until),
        int(indicator.revoked),
    )


# The upsert's parameters, row after row: INDICATOR_COLUMNS, then entry_seq, change_id, local.
UPSERT_WIDTH = 15
# The insert both upserts share (the ordinary one adds ON CONFLICT; a deferred id index's does
# not): its column list and one row's placeholders.
INSERT_INDICATORS = f"INSERT INTO indicators ({INDICATOR_COLUMNS}, entry_seq, change_id, local) VALUES "  # noqa: S608
ROW_PLACEHOLDERS = "(" + ", ".join("?" * UPSERT_WIDTH) + ")"
_CHANGE_ID_SLOT = 13
ROWS_PER_STATEMENT = 2000  # 30,000 variables: below SQLite's default limit of 32,766


@dataclass(frozen=True, slots=True)
class UpsertBatch:
    """An entry's indicators as the upsert's parameters, one flat list per statement.

    Built outside the write transaction (a pull builds it in its helper thread, beside parsing);
    only the change ids are left to fill, by :meth:`assign_change_ids` in the transaction.
    """

    chunks: tuple[list[Any], ...]
    notes: tuple[tuple[str, str, str, str, str], ...] = ()  # :func:`note_row` of noted indicators

    def assign_change_ids(self, first: int) -> Iterator[tuple[int, list[Any]]]:
        """Each chunk with consecutive change ids from ``first`` written in: ``(rows, params)``."""
        for params in self.chunks:
            rows = len(params) // UPSERT_WIDTH
            params[_CHANGE_ID_SLOT::UPSERT_WIDTH] = range(first, first + rows)
            first += rows
            yield rows, params


def upsert_batch(indicators: Sequence[Indicator], *, entry_seq: int, local: bool) -> UpsertBatch:
    """:func:`indicator_to_row` of each indicator with ``entry_seq`` and ``local``, in chunks of
    :data:`ROWS_PER_STATEMENT` rows; the change ids are placeholders until assigned. A run of
    siblings (:class:`node.model.Indicators`) takes its first's row with each id and value."""
    flag = int(local)
    params: list[Any] = []
    notes: list[tuple[str, str, str, str, str]] = []
    parts = indicators.parts() if isinstance(indicators, Indicators) else iter(indicators)
    for part in parts:
        if isinstance(part, Siblings):
            first = (*indicator_to_row(part.first), entry_seq, 0, flag)
            origin, kind, rest = first[1], first[2], first[4:]
            pairs = zip(part.ids, part.values, strict=True)
            params.extend(chain.from_iterable((i, origin, kind, v, *rest) for i, v in pairs))
            if part.first.note is not None:
                note = note_row(part.first)
                notes.extend((i, *note[1:]) for i in part.ids)
        else:
            params.extend((*indicator_to_row(part), entry_seq, 0, flag))
            if part.note is not None:
                notes.append(note_row(part))
    step = ROWS_PER_STATEMENT * UPSERT_WIDTH
    return UpsertBatch(tuple(params[at : at + step] for at in range(0, len(params), step)), tuple(notes))


def note_row(indicator: Indicator) -> tuple[str, str, str, str, str]:
    """The ``indicator_notes`` row of a noted indicator: id, modified, category, labels, note."""
    note = indicator.note
    if note is None:
        raise ValueError("note_row needs an indicator with a note")
    return (
        indicator.id,
        format_timestamp(indicator.modified),
        indicator.category,
        json.dumps(list(note.labels)),
        json.dumps(note_to_data(note), sort_keys=True),
    )


def note_from_text(text: str) -> IndicatorNote:
    """Inverse of the note column of :func:`note_row`."""
    return note_from_data(json.loads(text))


def indicator_from_row(row: sqlite3.Row | tuple[Any, ...]) -> Indicator:
    """Inverse of :func:`indicator_to_row`."""
    (
        id_,
        origin,
        signal_type,
        value,
        category,
        content_type,
        tlp,
        quality,
        created,
        modified,
        until,
        revoked,
    ) = row
    return Indicator(
        id=id_,
        signal=Signal(SignalType(signal_type), value),
        category=category,
        content_type=ContentType(content_type),
        tlp=Tlp(tlp),
        origin=KeyId(origin),
        created=parse_timestamp(created),
        modified=parse_timestamp(modified),
        revoked=bool(revoked),
        quality=quality,
        valid_until=None if until is None else parse_timestamp(until),
    )
