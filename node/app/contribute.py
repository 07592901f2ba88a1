"""Bulk contribution: media directories, hash lists and STIX bundles → contributions (issue 5).

Every source yields contributions or per-item refusals naming the file and line (or object);
a refused item never stops the batch. The safelist check and the publish happen in the node.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from node.errors import InvalidInput, MediaError
from node.hashing import (
    ListRefusal,
    hash_file,
    hash_model_file,
    is_model_file,
    media_files,
    media_kind,
    read_hash_list,
    sniff_content_type,
)
from node.match import Warninglists
from node.model import (
    KNOWN_CATEGORIES,
    PDQ_MIN_QUALITY,
    ContentType,
    Distribution,
    Indicator,
    KeyId,
    Signal,
    Tlp,
    parse_category,
    unknown_category_reason,
)
from node.model.access import shrinks, widens
from node.model.provenance import ATTESTED_CATEGORY, ContentCredentials, IndicatorNote
from node.stix import StixRefusal, read_stix_signals
from node.stix.markings import strictest
from node.sync.publish import Contribution, PublishReport
from node.sync.query import BENIGN

ATTESTED_RESERVED = (
    f"the category {ATTESTED_CATEGORY!r} is reserved for provenance records of original media:"
    " publish one with 'accord attest FILE', never as a contribution to a block list"
)

NOT_MEDIA = (
    "not an image or video, nor a model weights file (judged by its content): give hash lists"
    " with --list FILE, STIX bundles with --stix FILE, or --any-file to share this file's own md5 and sha256"
)
"""Why a positional path that is not media is refused: a stray README, notes file, Thumbs.db or
PDF in a drop folder, or a hash list passed without --list, would otherwise become a shared
abuse hash of the file itself."""

Progress = Callable[[int], None]
"""Told how many more source items (files, lines, objects) were read."""

CredentialReader = Callable[[Path], ContentCredentials | None]
"""Reads the C2PA manifest summary of a media file (None: it carries none); MediaError when the
file cannot be read for it."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """An item a command could not use, and why (never the hash value itself)."""

    source: str
    reason: str
    known: bool = False  # an earlier run refused this item for the same reason
    forced_by: str = "--force"  # for an item kept anyway: the option that kept it


@dataclass(slots=True)
class Collected:
    """Contributions read from the sources, what was refused, and the TLP markings they carried
    (signal → the strictest TLP its source marked it with)."""

    items: list[Contribution] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    marked: dict[Signal, Tlp] = field(default_factory=dict)
    # Media files whose C2PA manifest was read (with what it said), and how many were not
    # checked because the c2pa extra is missing.
    credentials: list[tuple[str, ContentCredentials]] = field(default_factory=list)
    unchecked: int = 0
    # Media files whose manifest could not be read at all (path, why): hashes still shared.
    unread: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Sources:
    """What to contribute: media (files or directories), hash lists, STIX bundles, signals."""

    files: Sequence[Path] = ()
    lists: Sequence[Path] = ()
    stix: Sequence[Path] = ()
    signals: Sequence[str] = ()
    any_file: bool = False  # share files that are not images or videos too (by md5 and sha256)


def collect(
    sources: Sources,
    *,
    content_type: ContentType | None,
    valid_until: datetime | None,
    now: datetime,
    progress: Progress | None = None,
    credentials: CredentialReader | None = None,
) -> Collected:
    """Read every source; each usable signal becomes a contribution carrying ``valid_until``
    (or its source's own, when that is earlier). STIX indicators expired by ``now`` are refused.
    A media file's C2PA summary (read with ``credentials``; None: the extra is missing) goes
    in the note of every contribution made from that file."""
    tick = progress or (lambda _n: None)
    out = Collected()
    for path in media_files(sources.files):
        _from_media(path, out, content_type, any_file=sources.any_file, credentials=credentials)
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


def _from_model(path: Path, out: Collected, content_type: ContentType | None) -> None:
    """A model weights file: its md5, sha256 and model signal (issue 15); a pickled checkpoint
    gives its file hashes only, and a note says so."""
    try:
        hashes = hash_model_file(path)
    except InvalidInput as exc:
        out.refused.append(Refusal(str(path), str(exc)))
        return
    kind = content_type or ContentType.FILE
    out.items.extend(Contribution(signal, kind) for signal in hashes.signals)
    if hashes.note:
        out.refused.append(Refusal(str(path), f"{hashes.note}; md5 and sha256 shared"))


def _from_media(
    path: Path,
    out: Collected,
    content_type: ContentType | None,
    *,
    any_file: bool,
    credentials: CredentialReader | None,
) -> None:
    if is_model_file(path):
        _from_model(path, out, content_type)
        return
    try:
        found = media_kind(path)
        if not any_file and found is None:
            out.refused.append(Refusal(str(path), NOT_MEDIA))
            return
        hashes = hash_file(path)
    except InvalidInput as exc:
        out.refused.append(Refusal(str(path), str(exc)))
        return
    # An image that could not be decoded (a media bomb, over the pixel limit) is still an image.
    undecoded = found is ContentType.IMAGE and hashes.pdq is None
    kind = content_type or (ContentType.IMAGE if undecoded else sniff_content_type(path, hashes.content_type))
    note = _credentials_note(path, out, credentials)
    out.items.append(Contribution(hashes.md5, kind, note=note))
    out.items.append(Contribution(hashes.sha256, kind, note=note))
    if hashes.vpdq is not None:
        out.items.append(Contribution(hashes.vpdq, kind, note=note))
    elif hashes.video_unhashed or (undecoded and hashes.note):
        out.refused.append(Refusal(str(path), f"{hashes.note}; md5 and sha256 shared"))
    if hashes.pdq is None:
        return
    quality = hashes.pdq_quality if hashes.pdq_quality is not None else 0
    if quality < PDQ_MIN_QUALITY:
        out.refused.append(
            Refusal(str(path), f"pdq quality {quality} is below {PDQ_MIN_QUALITY}: pdq not shared")
        )
    else:
        out.items.append(Contribution(hashes.pdq, kind, quality, note=note))


def _credentials_note(path: Path, out: Collected, read: CredentialReader | None) -> IndicatorNote | None:
    """The note recording the file's C2PA summary, or None (no manifest, or not checked).

    Evidence, never a gate: an invalid manifest is recorded as invalid, and a file whose
    manifest cannot be read at all still contributes its hashes (a note says why, not a
    refusal: nothing of the file was held back).
    """
    if read is None:
        out.unchecked += 1
        return None
    try:
        found = read(path)
    except MediaError as exc:
        out.unread.append((str(path), str(exc)))
        return None
    if found is None:
        return None
    out.credentials.append((str(path), found))
    return IndicatorNote(c2pa=found)


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


# --- screening: what a careless contribution must not become (issue 13) ---------------------


def vetted_category(text: str, *, new_category: bool) -> str:
    """The category slug; one outside the shared vocabulary only with ``new_category``."""
    slug = parse_category(text)
    if slug == ATTESTED_CATEGORY:
        raise InvalidInput(ATTESTED_RESERVED)
    reason = None if new_category else unknown_category_reason(slug)
    if reason is not None:
        raise InvalidInput(reason)
    return slug


def screen_item_categories(collected: Collected, *, new_category: bool = False) -> None:
    """Refuse list or bundle items whose own category is outside the shared vocabulary (unless
    ``new_category``), and always those claiming the reserved attestation category."""
    kept: list[Contribution] = []
    for item in collected.items:
        category = item.category
        reason = None if new_category or category is None else unknown_category_reason(category)
        if item.category == ATTESTED_CATEGORY:
            reason = ATTESTED_RESERVED
        if reason is None:
            kept.append(item)
        else:
            collected.refused.append(Refusal(item.signal.redacted(), reason))
    collected.items = kept


def screen_warninglisted(
    collected: Collected, warninglists: Callable[[], Warninglists], *, category: str, force: bool
) -> tuple[Refusal, ...]:
    """Refuse (or, with ``force``, keep and report) harmful contributions whose value a MISP
    warninglist names as known benign (the empty file, common system files, test files).
    Returns the notes of what ``force`` kept."""
    exact = [
        i for i in collected.items if not i.signal.type.is_perceptual and (i.category or category) != BENIGN
    ]
    if not exact:
        return ()  # the lists are not even read
    lists = warninglists()
    named = {i.signal: name for i in exact if (name := lists.list_of(i.signal)) is not None}
    notes = tuple(
        Refusal(s.redacted(), f"on the MISP warninglist {n!r} (known benign)") for s, n in named.items()
    )
    if force:
        return tuple(
            replace(n, reason=n.reason + "; it will not match on any node", forced_by="--force-warninglisted")
            for n in notes
        )
    collected.items = [i for i in collected.items if i.signal not in named]
    collected.refused.extend(
        replace(n, reason=n.reason + ": refused, use --force-warninglisted to contribute it anyway")
        for n in notes
    )
    return ()


def screen_relabels(
    collected: Collected,
    current: Mapping[Signal, tuple[Indicator, Distribution]],
    *,
    category: str,
    distribution: Distribution,
) -> None:
    """Refuse items that would change the category of a signal we already share (``current``:
    our live indicator of it and the audience of its entry), or widen who receives it:
    contributing again never relabels silently; ``accord relabel`` does it, audited."""
    kept: list[Contribution] = []
    refused: set[Signal] = set()
    for item in collected.items:
        shared = current.get(item.signal)
        reason = None if shared is None else _relabel_reason(*shared, item.category or category, distribution)
        if reason is None:
            kept.append(item)
        elif item.signal not in refused:
            refused.add(item.signal)
            collected.refused.append(Refusal(item.signal.redacted(), reason))
    collected.items = kept


def _relabel_reason(current: Indicator, old: Distribution, category: str, new: Distribution) -> str | None:
    if category != current.category:
        return (
            f"already shared under category {current.category!r}: contribute never changes a category"
            f" (use 'accord relabel TYPE:VALUE --category {category}')"
        )
    if widens(new, old):
        return (
            f"already shared as TLP:{old.tlp.value.upper()}: contribute never widens who receives it"
            f" (use 'accord relabel TYPE:VALUE --tlp {new.tlp.value}', which is audited)"
        )
    if shrinks(new, old):
        return (
            f"already shared as TLP:{old.tlp.value.upper()}: a smaller audience would leave a partner"
            f" holding the wider version (use 'accord relabel TYPE:VALUE --tlp {new.tlp.value}',"
            " which revokes it first)"
        )
    return None
