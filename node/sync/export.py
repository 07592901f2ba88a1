"""Export the indicators this node holds as one STIX 2.1 bundle or as match lists, respecting TLP.

RED is never exported in bulk unless the operator asks for it explicitly (DESIGN §5): RED
data leaving in a file is a decision a person makes, not a default. A quarantined origin's
indicators (it equivocated) are never exported.
"""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from node.errors import InvalidInput
from node.model import KeyId, Signal, SignalType, Tlp
from node.model.provenance import ATTESTED_CATEGORY
from node.stix import build_export_bundle
from node.store import Store

_NOT_LISTED = frozenset({"benign", ATTESTED_CATEGORY})
"""Categories that never go into a match list: known-benign media, and attested originals."""

STDOUT = Path("-")
"""The export target meaning standard output (``accord export --out -``)."""

EXPORT_MODE = 0o600
"""Exports may hold restricted (AMBER, RED) indicators: only the operator's account reads them."""


@contextmanager
def export_stream(path: Path) -> Iterator[TextIO]:
    """A text stream for an export to ``path`` (``-``: standard output).

    A file is written under a temporary name created with mode 0600 and renamed over ``path``
    only when complete: an interrupted export leaves no half-written file, and a file that
    existed before with a wider mode is replaced by a 0600 one, never widened."""
    if path == STDOUT:
        yield sys.stdout
        sys.stdout.flush()
        return
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, EXPORT_MODE)
    except OSError as exc:
        raise InvalidInput(f"cannot write the export to {path}: {exc.strerror}") from exc
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def export_bundle(
    store: Store, *, names: Mapping[KeyId, str], include_red: bool
) -> tuple[dict[str, Any], int]:
    """A bundle of every active indicator (RED only with ``include_red``) and how many it holds,
    with the TLP 2.0 marking-definitions they reference."""
    quarantined = store.quarantined_origins()
    indicators = [
        ind
        for ind in store.iter_indicators(include_revoked=False)
        if (include_red or ind.tlp is not Tlp.RED)
        and ind.origin not in quarantined
        and ind.category != ATTESTED_CATEGORY  # provenance, never part of a block list (issue 15)
    ]
    origin_names = {ind.origin: names.get(ind.origin, ind.origin[:12]) for ind in indicators}
    return build_export_bundle(indicators, origin_names=origin_names), len(indicators)


# --- match lists for HMA and python-threatexchange -----------------------------------------

PYTX_SIGNAL_TYPES = {SignalType.PDQ: "pdq"}
"""Our signal types that python-threatexchange's core knows (``PdqSignal.get_name()``). Its
``video_md5`` is an MD5 of video files only, so our md5 of any file is not exported as one."""

HMA_CSV_HEADER = ("bank", "content_id", "signal_type", "signal_value", "category", "origin", "tlp")
"""HMA bank CSV: one row per bank content signal. ``accord contribute --list`` reads it back
(``signal_type``/``signal_value``/``category`` columns), so the two directions share one reader."""


@dataclass(frozen=True, slots=True)
class MatchListRow:
    """One active, harmful indicator as a match-list row."""

    indicator_id: str
    signal: Signal
    category: str
    origin_name: str
    tlp: Tlp


def match_list_rows(
    store: Store,
    *,
    names: Mapping[KeyId, str],
    include_red: bool,
    now: datetime,
    observed: frozenset[KeyId] = frozenset(),
    warninglisted: Callable[[Signal], bool] | None = None,
) -> Iterator[MatchListRow]:
    """Every indicator that would match: active, unexpired, not ``benign``, of an origin not
    quarantined and not ``observed`` (trust observe), not a ``warninglisted`` value; RED only
    when asked."""
    quarantined = store.quarantined_origins()
    for ind in store.iter_indicators(include_revoked=False):
        if (
            (ind.tlp is Tlp.RED and not include_red)
            or ind.category in _NOT_LISTED
            or ind.origin in quarantined
        ):
            continue
        if ind.origin in observed:
            continue
        if warninglisted is not None and warninglisted(ind.signal):
            continue
        if ind.valid_until is not None and ind.valid_until <= now:
            continue
        yield MatchListRow(ind.id, ind.signal, ind.category, names.get(ind.origin, ind.origin[:12]), ind.tlp)


def pytx_lines(rows: Iterable[MatchListRow]) -> Iterator[str]:
    """``signal_type signal`` lines, as python-threatexchange's local file exchange reads them."""
    seen: set[Signal] = set()
    for row in rows:
        name = PYTX_SIGNAL_TYPES.get(row.signal.type)
        if name is not None and row.signal not in seen:
            seen.add(row.signal)
            yield f"{name} {row.signal.value}"


def hma_csv_rows(rows: Iterable[MatchListRow]) -> Iterator[tuple[str, ...]]:
    """HMA bank CSV rows (without the header): the bank is ``<origin>-<category>``."""
    for row in rows:
        bank = f"{row.origin_name}-{row.category}"
        yield (
            bank,
            row.indicator_id,
            row.signal.type.value,
            row.signal.value,
            row.category,
            row.origin_name,
            row.tlp.value,
        )


MATCH_LIST_FORMATS = ("pytx", "hma-csv")


def write_match_list(stream: TextIO, rows: Iterable[MatchListRow], *, fmt: str) -> int:
    """Write ``rows`` to ``stream`` as ``pytx`` lines or ``hma-csv``; returns the rows written."""
    written = 0
    if fmt == "pytx":
        for line in pytx_lines(rows):
            stream.write(line + "\n")
            written += 1
    elif fmt == "hma-csv":
        writer = csv.writer(stream)
        writer.writerow(HMA_CSV_HEADER)
        for row in hma_csv_rows(rows):
            writer.writerow(row)
            written += 1
    else:
        raise InvalidInput(f"unknown export format {fmt!r} (pytx, hma-csv, stix)")
    return written
