"""Provenance: attestations of original media, and the labels and descriptions indicators carry.

An **attestation** is a provenance record an origin publishes for media it vouches is original
(a campaign's photo, a newsroom's clip): its hashes, who published it, when and where. It
travels as indicators of the reserved category :data:`ATTESTED_CATEGORY`, each carrying the
record, so it is signed, sealed and synced like every entry. It is never part of a block list
and never a reason to act: matching reports it beside block-list matches (issue 15).

Every text here may come from a partner, so it is checked on construction: length-limited and
free of control characters (no terminal escape sequence or bidi override can reach an output).
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from node.errors import InvalidInput
from node.model.clock import format_timestamp, parse_timestamp
from node.model.ids import KeyId
from node.model.signals import SignalType
from node.model.tlp import Tlp

ATTESTED_CATEGORY = "attested-original"
"""The category of attestation indicators. Reserved: a contribution may not use it."""

MAX_DESCRIPTION_CHARS = 1024
"""A description is a sentence or two of context, not a document."""
MAX_TEXT_CHARS = 200
"""Publisher names and places: a line each."""
MAX_LABELS = 16
"""Labels per indicator: enough for an entity, behaviours, a jurisdiction and an election."""
MAX_FRAMES = 4096
"""Timed frames per video attestation, as many as a vpdq signal lists (VPDQ_MAX_FRAMES)."""

LABEL_PREFIXES = ("entity", "behaviour", "jurisdiction", "election")
"""The documented label vocabulary: ``prefix:value``, or a free label starting ``x-``."""
_LABEL = re.compile(
    r"(?:(?:entity|behaviour|jurisdiction|election):[a-z0-9][a-z0-9._-]{0,59}|x-[a-z0-9][a-z0-9._:-]{0,60})"
)
_FRAME_HEX = re.compile(r"[0-9a-f]{64}")
_RECORD_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
# Unicode categories refused in partner text: controls (C0, C1, DEL: terminal escapes),
# format characters (bidi overrides that reorder what a reader sees), unassigned, surrogates.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cn", "Cs", "Co"})


def check_text(text: object, *, field: str, limit: int) -> str:
    """``text`` when it is non-empty printable text of at most ``limit`` characters.

    Refused, not repaired: a partner that sends an escape sequence sends something wrong, and
    a repaired text would say something its origin did not sign. The message never echoes it.
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"{field} must be non-empty text")
    if len(text) > limit:
        raise InvalidInput(f"{field} is {len(text)} characters; the limit is {limit}")
    if any(unicodedata.category(c) in _REFUSED_CATEGORIES for c in text):
        raise InvalidInput(
            f"{field} holds control or format characters (refused: they can hide or forge output)"
        )
    return text


def parse_label(text: str) -> str:
    """A label of the vocabulary: ``entity:``, ``behaviour:``, ``jurisdiction:``, ``election:``
    followed by a lowercase slug, or a free label ``x-<slug>`` (e.g. ``election:us-2026``)."""
    label = text.strip().lower() if isinstance(text, str) else ""
    if not _LABEL.fullmatch(label):
        raise InvalidInput(
            "a label is entity:, behaviour:, jurisdiction: or election: followed by a lowercase slug"
            " (letters, digits, '.', '_', '-'; at most 60), or a free label starting x-"
        )
    return label


@dataclass(frozen=True, slots=True)
class AttestedFrame:
    """One sampled frame of an attested video: its time in seconds and its PDQ hash (hex)."""

    timestamp: float
    pdq: str

    def __post_init__(self) -> None:
        if not isinstance(self.timestamp, int | float) or not 0 <= self.timestamp < 10**7:
            raise InvalidInput("a frame time is a number of seconds from 0")
        if not isinstance(self.pdq, str) or not _FRAME_HEX.fullmatch(self.pdq):
            raise InvalidInput("a frame hash is 64 lowercase hex characters")


@dataclass(frozen=True, slots=True)
class Attestation:
    """A provenance record: who published the original, when and where.

    ``record_id`` ties together the indicators of one record (its md5, sha256, pdq or vpdq).
    ``frames`` keeps a video's frame times, so a match can say which segments match.
    """

    record_id: str
    publisher: str
    published_at: datetime
    where: str
    frames: tuple[AttestedFrame, ...] = ()
    c2pa: ContentCredentials | None = None  # the original's C2PA manifest, when it has one

    def __post_init__(self) -> None:
        if not isinstance(self.record_id, str) or not _RECORD_ID.fullmatch(self.record_id):
            raise InvalidInput("an attestation's record id is a version-4 UUID")
        check_text(self.publisher, field="publisher", limit=MAX_TEXT_CHARS)
        check_text(self.where, field="where", limit=MAX_TEXT_CHARS)
        if self.published_at.tzinfo is None:
            raise InvalidInput("published-at must be timezone-aware (UTC)")
        if len(self.frames) > MAX_FRAMES:
            raise InvalidInput(f"an attestation keeps at most {MAX_FRAMES} frames")

    @staticmethod
    def new_record_id() -> str:
        """A fresh record id."""
        return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class IndicatorNote:
    """What an origin says about an indicator beyond its signal: a description, labels from
    the vocabulary (:func:`parse_label`) and, for an attestation, its provenance record.

    ``c2pa``: the C2PA summary the origin read from the file a contribution was hashed from
    (its reading, under its trust anchors: evidence, never trust). An attestation keeps its
    summary in its record instead, so a note never holds both.
    """

    description: str | None = None
    labels: tuple[str, ...] = ()
    attestation: Attestation | None = None
    c2pa: ContentCredentials | None = None

    def __post_init__(self) -> None:
        if self.description is not None:
            check_text(self.description, field="description", limit=MAX_DESCRIPTION_CHARS)
        if len(self.labels) > MAX_LABELS:
            raise InvalidInput(f"at most {MAX_LABELS} labels")
        if any(parse_label(label) != label for label in self.labels):
            raise InvalidInput("labels are written in their normal (lowercase) form")
        if len(set(self.labels)) != len(self.labels) or list(self.labels) != sorted(self.labels):
            raise InvalidInput("labels are listed once each, sorted")
        if self.attestation is not None and self.c2pa is not None:
            raise InvalidInput("an attestation carries its C2PA summary in its record, not beside it")

    @property
    def empty(self) -> bool:
        """True when the note says nothing."""
        return self.description is None and not self.labels and self.attestation is None and self.c2pa is None


def note_of(
    *,
    description: str | None = None,
    labels: tuple[str, ...] | list[str] = (),
    attestation: Attestation | None = None,
    c2pa: ContentCredentials | None = None,
) -> IndicatorNote | None:
    """A note from user input (labels normalised and sorted), or None when it says nothing."""
    note = IndicatorNote(
        description=description,
        labels=tuple(sorted({parse_label(label) for label in labels})),
        attestation=attestation,
        c2pa=c2pa,
    )
    return None if note.empty else note


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of an attested video, from ``start`` to ``end`` seconds, whose frames the query
    video matches (``matched``) or does not."""

    start: float
    end: float
    matched: bool


@dataclass(frozen=True, slots=True)
class AttestationMatch:
    """A query signal that meets an attestation.

    Authentic only for a cryptographic hash (md5, sha256) equal to the attested one: a PDQ or
    vPDQ distance of 0 does not rule out a local edit such as a face swap, so a perceptual hit
    is *similar, possibly altered*, at its distance.
    """

    indicator_id: str
    origin: KeyId
    origin_name: str
    signal_type: SignalType
    distance: int
    tlp: Tlp
    attestation: Attestation
    note: IndicatorNote
    segments: tuple[Segment, ...] = ()

    @property
    def authentic(self) -> bool:
        """True only for an equal cryptographic hash."""
        return not self.signal_type.is_perceptual and self.distance == 0

    @property
    def verdict(self) -> str:
        """``authentic`` or ``similar`` (possibly altered)."""
        return "authentic" if self.authentic else "similar"

    def explanation(self) -> str:
        """One line for people: what the match means."""
        if self.authentic:
            return f"authentic: the {self.signal_type.value} equals the attested original's"
        return (
            f"similar to an attested original at {self.signal_type.value} distance {self.distance}"
            " — possibly altered"
        )


def frame_segments(
    frames: tuple[AttestedFrame, ...], query_frames: list[str], *, threshold: int
) -> tuple[Segment, ...]:
    """Which stretches of an attested video the query's frames match (each attested frame within
    ``threshold`` bits of some query frame), as runs of consecutive frames in time order.

    Pure Python: an attestation and a query hold at most 4096 frames each, and the equal frames
    (the common case for an unaltered stretch) are found by a set lookup first.
    """
    ordered = sorted(frames, key=lambda f: f.timestamp)
    exact = set(query_frames)
    numbers = [int(q, 16) for q in query_frames]
    states = [
        f.pdq in exact or any((int(f.pdq, 16) ^ q).bit_count() <= threshold for q in numbers) for f in ordered
    ]
    segments: list[Segment] = []
    for n, (frame, matched) in enumerate(zip(ordered, states, strict=True)):
        end = ordered[n + 1].timestamp if n + 1 < len(ordered) else frame.timestamp + 1.0
        if segments and segments[-1].matched == matched:
            segments[-1] = Segment(segments[-1].start, end, matched)
        else:
            segments.append(Segment(frame.timestamp, end, matched))
    return tuple(segments)


def note_to_data(note: IndicatorNote) -> dict[str, object]:
    """``note`` as JSON data (the store's form; STIX has its own, in node.stix.provenance)."""
    data: dict[str, object] = {"description": note.description, "labels": list(note.labels)}
    record = note.attestation
    if record is not None:
        data["attestation"] = {
            "record_id": record.record_id,
            "publisher": record.publisher,
            "published_at": format_timestamp(record.published_at),
            "where": record.where,
            "frames": [[f.timestamp, f.pdq] for f in record.frames],
            "c2pa": None if record.c2pa is None else credentials_to_data(record.c2pa),
        }
    if note.c2pa is not None:
        data["c2pa"] = credentials_to_data(note.c2pa)
    return data


def note_from_data(data: dict[str, Any]) -> IndicatorNote:
    """Inverse of :func:`note_to_data`."""
    record = data.get("attestation")
    attestation = None
    if record is not None:
        attestation = Attestation(
            record_id=record["record_id"],
            publisher=record["publisher"],
            published_at=parse_timestamp(record["published_at"]),
            where=record["where"],
            frames=tuple(AttestedFrame(timestamp=t, pdq=p) for t, p in record["frames"]),
            c2pa=None if record.get("c2pa") is None else credentials_from_data(record["c2pa"]),
        )
    c2pa = data.get("c2pa")  # absent in notes stored before contributions recorded it
    return IndicatorNote(
        description=data["description"],
        labels=tuple(data["labels"]),
        attestation=attestation,
        c2pa=None if c2pa is None else credentials_from_data(c2pa),
    )


AI_SOURCE_TYPES = ("trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia")
"""IPTC digital source types by which an asset declares itself made or edited by generative AI."""

MAX_ACTIONS = 32
"""Actions kept from one manifest: what a person reads beside a match, not a full audit."""


def clean_evidence_text(text: object, *, limit: int = MAX_TEXT_CHARS) -> str | None:
    """Text read from a file's own metadata (a C2PA manifest): whoever made the file chose it.
    Control and format characters become U+FFFD and it is cut to ``limit``; None for no text.
    Repaired rather than refused: it is evidence to show, not something an origin signed."""
    if not isinstance(text, str) or not text.strip():
        return None
    cleaned = "".join("\ufffd" if unicodedata.category(c) in _REFUSED_CATEGORIES else c for c in text)
    return cleaned[:limit]


@dataclass(frozen=True, slots=True)
class ContentCredentials:
    """A summary of the C2PA manifest media carries: evidence, never trust.

    ``valid``: the manifest is cryptographically intact (signature and content hashes check).
    ``trusted``: valid and signed under a trust anchor the operator configured. Neither changes
    what a hash match means. ``ai_generated``: an action declares a generative-AI source type.
    """

    validation_state: str  # as c2pa reports it: Valid, Trusted, Invalid (or Unreadable)
    valid: bool
    trusted: bool
    claim_generator: str | None = None
    signer: str | None = None  # the signing certificate's common name
    issuer: str | None = None  # its organisation
    signing_time: str | None = None  # from a time-stamp, when the manifest has one
    actions: tuple[str, ...] = ()
    ai_generated: bool = False

    def __post_init__(self) -> None:
        if self.trusted and not self.valid:
            raise InvalidInput("a C2PA manifest is trusted only when it is valid")
        for text in (
            self.validation_state,
            self.claim_generator,
            self.signer,
            self.issuer,
            self.signing_time,
        ):
            if text is not None:
                check_text(text, field="C2PA summary text", limit=MAX_TEXT_CHARS)
        if len(self.actions) > MAX_ACTIONS:
            raise InvalidInput(f"a C2PA summary keeps at most {MAX_ACTIONS} actions")
        for action in self.actions:
            check_text(action, field="C2PA action", limit=MAX_TEXT_CHARS)

    def summary(self, *, trusted_by: str = "here") -> str:
        """One line for people. ``trusted_by`` says whose trust anchors decided ``trusted``
        (``"by the origin"`` for a summary a partner recorded)."""
        untrusted = f"valid (signer not trusted {trusted_by})"
        trusted = "trusted" if trusted_by == "here" else f"trusted {trusted_by}"
        state = trusted if self.trusted else untrusted if self.valid else "INVALID"
        parts = [f"C2PA {state}"]
        if self.signer or self.issuer:
            parts.append(f"signed by {self.signer or '?'!r} ({self.issuer or '?'!r})")
        if self.claim_generator:
            parts.append(f"made with {self.claim_generator!r}")
        if self.signing_time:
            parts.append(f"at {self.signing_time}")
        if self.ai_generated:
            parts.append("declares itself AI-generated")
        return ", ".join(parts)


def credentials_to_data(credentials: ContentCredentials) -> dict[str, Any]:
    """JSON data of a summary (the same in STIX, the store and JSON outputs)."""
    return {
        "validation_state": credentials.validation_state,
        "valid": credentials.valid,
        "trusted": credentials.trusted,
        "claim_generator": credentials.claim_generator,
        "signer": credentials.signer,
        "issuer": credentials.issuer,
        "signing_time": credentials.signing_time,
        "actions": list(credentials.actions),
        "ai_generated": credentials.ai_generated,
    }


_CREDENTIAL_KEYS = frozenset(credentials_to_data(ContentCredentials("Valid", valid=True, trusted=False)))


def credentials_from_data(data: object) -> ContentCredentials:
    """Inverse of :func:`credentials_to_data`; InvalidInput for anything else (partner data)."""
    if not isinstance(data, dict) or data.keys() != _CREDENTIAL_KEYS:
        raise InvalidInput("a C2PA summary holds exactly " + ", ".join(sorted(_CREDENTIAL_KEYS)))
    flags = [data[k] for k in ("valid", "trusted", "ai_generated")]
    actions = data["actions"]
    if not all(isinstance(f, bool) for f in flags) or not isinstance(actions, list):
        raise InvalidInput("a C2PA summary's flags are true/false and its actions a list")
    texts = [data[k] for k in ("claim_generator", "signer", "issuer", "signing_time")]
    if not isinstance(data["validation_state"], str) or not all(
        t is None or isinstance(t, str) for t in texts
    ):
        raise InvalidInput("a C2PA summary's fields are text")
    return ContentCredentials(
        validation_state=data["validation_state"],
        valid=data["valid"],
        trusted=data["trusted"],
        claim_generator=data["claim_generator"],
        signer=data["signer"],
        issuer=data["issuer"],
        signing_time=data["signing_time"],
        actions=tuple(actions),
        ai_generated=data["ai_generated"],
    )
