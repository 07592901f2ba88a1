"""Bulk contribution: media directories, hash lists and STIX bundles → contributions (issue 5).

Every source yields contributions or per-item refusals naming the file and line (or object);
a refused item never stops the batch. The safelist check and the publish happen in the node.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from node.errors import InvalidInput
from node.hashing import ListRefusal, hash_file, media_files, read_hash_list, sniff_content_type
from node.model import KNOWN_CATEGORIES, PDQ_MIN_QUALITY, ContentType, Distribution, KeyId, Signal, Tlp
from node.stix import StixRefusal, read_stix_signals
from node.stix.markings import strictest
from node.sync.publish import Contribution, PublishReport

Progress = Callable[[int], None]
"""Told how many more source items (files, lines, objects) were read."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """An item a command could not use, and why (never the hash value itself)."""

    source: str
    reason: str
    known: bool = False  # an earlier run refused this item for the same reason


@dataclass(slots=True)
class Collected:
    """Contributions read from the sources, what was refused, and the TLP markings they carried
    (signal → the strictest TLP its source marked it with)."""

    items: list[Contribution] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    marked: dict[Signal, Tlp] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Sources:
    """What to contribute: media (files or directories), hash lists, STIX bundles, signals."""

    files: Sequence[Path] = ()
    lists: Sequence[Path] = ()
    stix: Sequence[Path] = ()
    signals: Sequence[str] = ()


def collect(
    sources: Sources,
    *,
    content_type: ContentType | None,
    valid_until: datetime | None,
    now: datetime,
    progress: Progress | None = None,
) -> Collected:
    """Read every source; each usable signal becomes a contribution carrying ``valid_until``
    (or its source's own, when that is earlier). STIX indicators expired by ``now`` are refused."""
    tick = progress or (lambda _n: None)
    out = Collected()
    for path in media_files(sources.files):
        _from_media(path, out, content_type)
        tick(1)
    for path in sources.lists:
        _from_list(path, out, content_type, tick)
    for path in sources.stix:
        _from_stix(path, out, content_type, tick, now)
    for text in sources.signals:
        signal = Signal.parse(text)
        out.items.append(Contribution(signal, content_type or ContentType.default_for(signal.type)))
    if valid_until is not None:
        out.items = [replace(item, valid_until=_earlier(item.valid_until, valid_until)) for item in out.items]
    return out


def _earlier(first: datetime | None, second: datetime) -> datetime:
    return second if first is None else min(first, second)


def split_by_tlp(collected: Collected, floor: Tlp) -> dict[Tlp, list[Contribution]]:
    """The contributions grouped by TLP: the stricter of ``floor`` (``--tlp``) and their marking."""
    groups: dict[Tlp, list[Contribution]] = {}
    for item in collected.items:
        level = strictest([floor, collected.marked.get(item.signal, floor)]) or floor
        groups.setdefault(level, []).append(item)
    return groups


def distributions_for(
    levels: Iterable[Tlp], *, floor: Tlp, recipients: frozenset[KeyId]
) -> dict[Tlp, Distribution]:
    """The distribution of each TLP group, refused as a whole before anything is published.

    Recipients address the restricted groups only: ``--tlp green --to X`` sends the indicators
    that their source marked AMBER or RED to X and the rest to every partner.
    """
    levels = sorted(set(levels), key=list(Tlp).index)
    restricted = [level for level in levels if level.names_recipients]
    if restricted and not recipients:
        names = ", ".join(level.value for level in restricted)
        raise InvalidInput(
            f"the STIX markings make some indicators TLP {names} (stricter than --tlp {floor.value}):"
            " a restricted contribution needs recipients, give --to PARTNER or --group GROUP"
        )
    if recipients and not restricted:
        raise InvalidInput(f"TLP {floor.value} is not addressed to recipients (drop --to/--group)")
    return {
        level: Distribution(level, recipients if level.names_recipients else frozenset()) for level in levels
    }


def count_items(sources: Sources) -> int:
    """About how many items the sources hold (media files, list lines): a progress bar's length."""
    total = sum(1 for _ in media_files(sources.files))
    for path in sources.lists:
        try:
            with open(path, "rb") as stream:
                while chunk := stream.read(1 << 20):
                    total += chunk.count(b"\n")
        except OSError:
            continue  # reading it will refuse it by name
    return total


def merge_reports(reports: Sequence[PublishReport]) -> PublishReport:
    """One report for the publish calls of one contribution (one per TLP group)."""
    return PublishReport(
        seqs=tuple(seq for report in reports for seq in report.seqs),
        added=sum(report.added for report in reports),
        updated=sum(report.updated for report in reports),
        unchanged=sum(report.unchanged for report in reports),
    )


def _from_media(path: Path, out: Collected, content_type: ContentType | None) -> None:
    try:
        hashes = hash_file(path)
    except InvalidInput as exc:
        out.refused.append(Refusal(str(path), str(exc)))
        return
    kind = content_type or sniff_content_type(path, hashes.content_type)
    out.items.append(Contribution(hashes.md5, kind))
    out.items.append(Contribution(hashes.sha256, kind))
    if hashes.vpdq is not None:
        out.items.append(Contribution(hashes.vpdq, kind))
    elif hashes.video_unhashed:
        out.refused.append(Refusal(str(path), f"{hashes.note}; md5 and sha256 shared"))
    if hashes.pdq is None:
        return
    quality = hashes.pdq_quality if hashes.pdq_quality is not None else 0
    if quality < PDQ_MIN_QUALITY:
        out.refused.append(
            Refusal(str(path), f"pdq quality {quality} is below {PDQ_MIN_QUALITY}: pdq not shared")
        )
    else:
        out.items.append(Contribution(hashes.pdq, kind, quality))


def _from_list(path: Path, out: Collected, content_type: ContentType | None, tick: Progress) -> None:
    for item in read_hash_list(path):
        tick(1)
        if isinstance(item, ListRefusal):
            out.refused.append(Refusal(f"{path}:{item.line}", item.reason))
            continue
        kind = content_type or ContentType.default_for(item.signal.type)
        out.items.append(Contribution(item.signal, kind, category=item.category))


def _from_stix(
    path: Path, out: Collected, content_type: ContentType | None, tick: Progress, now: datetime
) -> None:
    for item in read_stix_signals(path, known_categories=frozenset(KNOWN_CATEGORIES), now=now):
        tick(1)
        where = f"{path}:object {item.index}"
        if isinstance(item, StixRefusal):
            out.refused.append(Refusal(where, item.reason))
        elif item.revoked:
            out.refused.append(Refusal(where, "the source has revoked this indicator"))
        else:
            kind = content_type or ContentType.default_for(item.signal.type)
            contribution = Contribution(
                item.signal, kind, category=item.category, valid_until=item.valid_until
            )
            out.items.append(contribution)
            if item.tlp is not None:
                seen = out.marked.get(item.signal, item.tlp)
                out.marked[item.signal] = strictest([seen, item.tlp]) or item.tlp
