"""The match lists of a distributed scan, frozen into files a worker loads once (issue 16).

A worker of a Dask scan has no node home and no database: it gets everything the
:class:`~node.sync.query.Matcher` reads, as of one point of the change stream, in a directory
the client writes once per scan:

``pdq/`` and ``video/``
    the PDQ and video indexes in the node's own saved-index format (:mod:`node.match.persist`:
    numpy arrays and a checked manifest, never pickle);
``lists.json``
    the exact lists (md5, sha256, sha1 rows; values a MISP warninglist names, which the node
    never indexes, left out), the provenance of every listed indicator
    (category, TLP, origin, validity), the current opinions about them, the operator's
    partner policies, quarantined origins, compromise marks, origin names, source trust, the
    thresholds and the operator's safelist file.

The worker rebuilds a real ``Matcher`` over an in-memory provenance source
(:class:`FrozenProvenance`), so what matches, under which TLP and policy, is decided by the
same code as a single-machine scan. The digest (SHA-256 over the files) names a snapshot: a
worker caches the matcher it built per digest and never loads one twice.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from node.errors import ConfigError
from node.match import ListUpdate, MatchLists, PdqIndex, VideoIndex, persist
from node.model import (
    Compromise,
    ContentType,
    Indicator,
    KeyId,
    Opinion,
    OpinionValue,
    PartnerPolicy,
    PdqThresholds,
    Seq,
    Signal,
    SignalType,
    Tlp,
    Trust,
    VideoThresholds,
)
from node.model.clock import utc_now
from node.sync.query import Matcher

FORMAT = "accord-scan-snapshot"
VERSION = 1
LISTS = "lists.json"
_PDQ, _VIDEO = "pdq", "video"
_ID_BATCH = 5_000


@dataclass(frozen=True, slots=True)
class SnapshotSource:
    """What a node hands over to freeze its lists (the parts of ``AccordNode`` a scan reads)."""

    lists: MatchLists
    store: Any  # node.store.Store: the provenance source, read once here
    names: Mapping[KeyId, str]
    source_trust: Mapping[KeyId, Trust]
    thresholds: PdqThresholds
    video: VideoThresholds
    safelist: list[tuple[str, Signal]]
    safelist_threshold: int
    self_key: KeyId


def write_snapshot(directory: Path, source: SnapshotSource, *, cursor: int) -> str:
    """Freeze ``source`` (whose lists reflect ``cursor``) into ``directory``; returns its digest.

    Written into a temporary sibling and renamed, so a crash leaves no half snapshot."""
    temporary = directory.with_name(directory.name + ".tmp")
    if temporary.exists():
        _remove_tree(temporary)
    temporary.mkdir(parents=True)
    meta: dict[str, str | int] = {"cursor": cursor}
    persist.save(temporary / _PDQ, source.lists.pdq.snapshot(meta=meta))
    persist.save(temporary / _VIDEO, source.lists.video.snapshot(meta=meta))
    store = source.store
    held = source.lists.warninglisted()  # on a MISP warninglist: never indexed, never shipped
    exact = [
        [c.indicator_id, c.signal_type, c.value]
        for batch in store.active_changes_upto(cursor, _EXACT_TYPES, batch=_ID_BATCH)
        for c in batch
        if c.indicator_id not in held
    ]
    ids = [
        c.indicator_id
        for batch in store.active_changes_upto(cursor, _ALL_TYPES, batch=_ID_BATCH)
        for c in batch
        if c.indicator_id not in held
    ]
    indicators: dict[str, Indicator] = {}
    opinions: dict[str, list[Opinion]] = {}
    for chunk in _chunks(ids, _ID_BATCH):
        indicators.update(store.indicators_by_id(chunk))
        opinions.update(store.opinions_about(chunk))
    compromises: dict[KeyId, Compromise] = store.compromises()
    suspect = [i for i, ind in indicators.items() if ind.origin in compromises]
    document = {
        "format": FORMAT,
        "version": VERSION,
        "cursor": cursor,
        "exact": exact,
        "indicators": [_indicator(i) for i in indicators.values()],
        "opinions": [_opinion(o) for found in opinions.values() for o in found],
        "policies": {k: _policy(p) for k, p in store.partner_policies().items()},
        "quarantined": sorted(store.quarantined_origins()),
        "compromises": {k: [c.from_seq, c.marked_at.isoformat()] for k, c in compromises.items()},
        "entry_seqs": store.entry_seqs_of(suspect) if suspect else {},
        "names": dict(source.names),
        "source_trust": {k: t.value for k, t in source.source_trust.items()},
        "thresholds": {
            "default": source.thresholds.default,
            "by_category": dict(source.thresholds.by_category),
            "by_partner": dict(source.thresholds.by_partner),
        },
        "video": [
            source.video.frame_threshold,
            source.video.query_match_percent,
            source.video.compared_match_percent,
        ],
        "safelist": [[name, s.type.value, s.value] for name, s in source.safelist],
        "safelist_threshold": source.safelist_threshold,
        "self_key": source.self_key,
    }
    with (temporary / LISTS).open("w", encoding="utf-8") as stream:
        json.dump(document, stream, separators=(",", ":"), sort_keys=True)
        stream.flush()
        os.fsync(stream.fileno())
    if directory.exists():
        _remove_tree(directory)
    os.replace(temporary, directory)
    return snapshot_digest(directory)


def snapshot_digest(directory: Path) -> str:
    """SHA-256 over the snapshot's files (names and contents), in a stable order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(directory)).encode() + b"\0")
        with path.open("rb") as stream:
            while block := stream.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


def load_matcher(directory: Path) -> Matcher:
    """A matcher over the snapshot in ``directory``; ConfigError when it is not one."""
    try:
        document = json.loads((directory / LISTS).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the scan snapshot {directory / LISTS}: {exc}") from exc
    if (
        not isinstance(document, dict)
        or document.get("format") != FORMAT
        or document.get("version") != VERSION
    ):
        raise ConfigError(f"{directory} is not an Accord scan snapshot of version {VERSION}")
    try:
        pdq = PdqIndex.load(directory / _PDQ, background_merge=False)
        video, _ = VideoIndex.load(directory / _VIDEO)
        return _matcher(document, pdq, video)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"the scan snapshot in {directory} is malformed: {exc}") from exc


def _matcher(document: dict[str, Any], pdq: PdqIndex, video: VideoIndex) -> Matcher:
    lists = MatchLists(pdq=pdq, video=video)  # warninglisted values were left out by the client
    lists.apply(ListUpdate(i, Signal(SignalType(t), v), active=True) for i, t, v in document["exact"])
    lists.ready = True
    safelist = MatchLists()
    safelist.apply(ListUpdate(n, Signal(SignalType(t), v), active=True) for n, t, v in document["safelist"])
    safelist.ready = True
    names = {KeyId(k): str(v) for k, v in document["names"].items()}
    trust = {KeyId(k): Trust(v) for k, v in document["source_trust"].items()}
    thresholds = document["thresholds"]
    frame, query_percent, compared_percent = document["video"]
    return Matcher(
        lists=lists,
        store=FrozenProvenance(document),
        thresholds=PdqThresholds(
            default=int(thresholds["default"]),
            by_category={str(k): int(v) for k, v in thresholds["by_category"].items()},
            by_partner={str(k): int(v) for k, v in thresholds["by_partner"].items()},
        ),
        names=lambda: names,
        video=VideoThresholds(
            frame_threshold=int(frame),
            query_match_percent=float(query_percent),
            compared_match_percent=float(compared_percent),
        ),
        safelist=safelist,
        safelist_threshold=int(document["safelist_threshold"]),
        clock=utc_now,
        self_key=KeyId(document["self_key"]),
        source_trust=lambda: trust,
        generation=lambda: 0,  # a snapshot never changes: each indicator's answer is worked out once
    )


class FrozenProvenance:
    """The store's provenance answers (``ProvenanceSource``) as they stood at the snapshot."""

    def __init__(self, document: dict[str, Any]) -> None:
        self._indicators = {i.id: i for i in map(_read_indicator, document["indicators"])}
        self._opinions: dict[str, list[Opinion]] = {}
        for raw in document["opinions"]:
            opinion = _read_opinion(raw)
            self._opinions.setdefault(opinion.indicator_id, []).append(opinion)
        self._policies = {KeyId(k): _read_policy(v) for k, v in document["policies"].items()}
        self._quarantined = {KeyId(k) for k in document["quarantined"]}
        self._compromises = {
            KeyId(k): Compromise(KeyId(k), Seq(int(seq)), datetime.fromisoformat(at))
            for k, (seq, at) in document["compromises"].items()
        }
        self._seqs = {str(k): int(v) for k, v in document["entry_seqs"].items()}

    def indicators_by_id(self, ids: Iterable[str]) -> dict[str, Indicator]:
        """Current versions of the given indicators that were listed at the snapshot."""
        return {i: found for i in ids if (found := self._indicators.get(i)) is not None}

    def quarantined_origins(self) -> set[KeyId]:
        """Origins quarantined at the snapshot."""
        return set(self._quarantined)

    def opinions_about(self, indicator_ids: Iterable[str]) -> dict[str, list[Opinion]]:
        """Opinions about the given indicators at the snapshot."""
        return {i: list(self._opinions[i]) for i in indicator_ids if i in self._opinions}

    def partner_policies(self) -> dict[KeyId, PartnerPolicy]:
        """The operator's partner policies at the snapshot."""
        return dict(self._policies)

    def compromises(self) -> dict[KeyId, Compromise]:
        """Compromise marks at the snapshot."""
        return dict(self._compromises)

    def entry_seqs_of(self, indicator_ids: Iterable[str]) -> dict[str, int]:
        """Feed positions of compromised origins' indicators."""
        return {i: self._seqs[i] for i in indicator_ids if i in self._seqs}


_EXACT_TYPES = tuple(t.value for t in SignalType if not t.is_perceptual)
_ALL_TYPES = tuple(t.value for t in SignalType)


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _stamp(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _indicator(ind: Indicator) -> list[Any]:
    return [
        ind.id,
        ind.signal.type.value,
        ind.signal.value,
        ind.category,
        ind.content_type.value,
        ind.tlp.value,
        ind.origin,
        ind.created.isoformat(),
        ind.modified.isoformat(),
        ind.revoked,
        ind.quality,
        _stamp(ind.valid_until),
    ]


def _read_indicator(raw: list[Any]) -> Indicator:
    id_, kind, value, category, content, tlp, origin, created, modified, revoked, quality, until = raw
    return Indicator(
        id=id_,
        signal=Signal(SignalType(kind), value),
        category=category,
        content_type=ContentType(content),
        tlp=Tlp(tlp),
        origin=KeyId(origin),
        created=datetime.fromisoformat(created),
        modified=datetime.fromisoformat(modified),
        revoked=bool(revoked),
        quality=quality,
        valid_until=None if until is None else datetime.fromisoformat(until),
    )


def _opinion(o: Opinion) -> list[Any]:
    return [
        o.id,
        o.origin,
        o.indicator_id,
        o.value.value,
        o.created.isoformat(),
        o.modified.isoformat(),
        o.revoked,
    ]


def _read_opinion(raw: list[Any]) -> Opinion:
    id_, origin, indicator_id, value, created, modified, revoked = raw
    return Opinion(
        id=id_,
        origin=KeyId(origin),
        indicator_id=indicator_id,
        value=OpinionValue(value),
        created=datetime.fromisoformat(created),
        modified=datetime.fromisoformat(modified),
        revoked=bool(revoked),
    )


def _policy(p: PartnerPolicy) -> dict[str, Any]:
    return {
        "categories": None if p.categories is None else sorted(p.categories),
        "signal_types": None if p.signal_types is None else sorted(t.value for t in p.signal_types),
        "trust": p.trust.value,
        "share_sightings": p.share_sightings,
    }


def _read_policy(raw: dict[str, Any]) -> PartnerPolicy:
    categories, kinds = raw["categories"], raw["signal_types"]
    return PartnerPolicy(
        categories=None if categories is None else frozenset(categories),
        signal_types=None if kinds is None else frozenset(SignalType(k) for k in kinds),
        trust=Trust(raw["trust"]),
        share_sightings=bool(raw["share_sightings"]),
    )


def _remove_tree(path: Path) -> None:
    for child in sorted(path.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        child.rmdir() if child.is_dir() else child.unlink()
    path.rmdir()
