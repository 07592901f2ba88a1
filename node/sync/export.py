"""Export the indicators this node holds as one STIX 2.1 bundle, respecting TLP.

RED is never exported in bulk unless the operator asks for it explicitly (DESIGN §5): RED
data leaving in a file is a decision a person makes, not a default.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from node.model import KeyId, Signal, SignalType, Tlp
from node.stix import build_bundle
from node.store import Store


def export_bundle(
    store: Store, *, names: Mapping[KeyId, str], include_red: bool
) -> tuple[dict[str, Any], int]:
    """A bundle of every active indicator (RED only with ``include_red``) and how many it holds."""
    indicators = [
        ind for ind in store.iter_indicators(include_revoked=False) if include_red or ind.tlp is not Tlp.RED
    ]
    origin_names = {ind.origin: names.get(ind.origin, ind.origin[:12]) for ind in indicators}
    return build_bundle(indicators, origin_names=origin_names), len(indicators)


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
    """Every indicator that would match: active, unexpired, not ``benign``, not from an
    ``observed`` origin (trust observe), not a ``warninglisted`` value; RED only when asked."""
    for ind in store.iter_indicators(include_revoked=False):
        if (ind.tlp is Tlp.RED and not include_red) or ind.category == "benign" or ind.origin in observed:
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
