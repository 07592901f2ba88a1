"""Notes in STIX: an indicator's description, labels and attestation record (issue 15).

Spelled with STIX's own properties where they exist: the origin's description replaces the
generated one in ``description``, labels go in ``labels``. The attestation record, which STIX
has no property for, goes in Accord's property extension as ``attestation``; the C2PA summary
of the file a contribution was hashed from goes there as ``c2pa`` (an attestation keeps its
own inside its record). All of it stays
inside an ``indicator``, so stix2-validator's strict mode has nothing new to warn about.

Reading is strict like the rest of the reader: a text with control characters, an oversized
one, a label outside the vocabulary or an attestation on another category drops the object.
"""

from __future__ import annotations

from typing import Any, Final

from node.errors import InvalidInput, MalformedStix
from node.model.provenance import (
    ATTESTED_CATEGORY,
    MAX_FRAMES,
    Attestation,
    AttestedFrame,
    ContentCredentials,
    IndicatorNote,
    credentials_from_data,
    credentials_to_data,
)
from node.stix.timestamps import format_timestamp, parse_timestamp

_ATTESTATION_REQUIRED: Final = frozenset({"record_id", "publisher", "published_at", "where"})
_ATTESTATION_ALLOWED: Final = _ATTESTATION_REQUIRED | {"frames", "c2pa"}


def note_to_stix(note: IndicatorNote, stix: dict[str, Any], extension: dict[str, Any]) -> None:
    """Write ``note`` into an indicator's JSON data and its Accord extension."""
    if note.description is not None:
        stix["description"] = note.description
    if note.labels:
        stix["labels"] = list(note.labels)
    if note.attestation is not None:
        extension["attestation"] = attestation_to_json(note.attestation)
    if note.c2pa is not None:
        extension["c2pa"] = credentials_to_json(note.c2pa)


def credentials_to_json(credentials: ContentCredentials) -> dict[str, Any]:
    """A C2PA summary in the extension. JSON null is not allowed in STIX, nor is an empty list:
    absent texts and an empty ``actions`` are left out, and read back as None and ()."""
    data = {k: v for k, v in credentials_to_data(credentials).items() if v is not None}
    if not credentials.actions:
        del data["actions"]
    return data


def attestation_to_json(record: Attestation) -> dict[str, Any]:
    """The extension's ``attestation`` object (frame times in integer milliseconds)."""
    data: dict[str, Any] = {
        "record_id": record.record_id,
        "publisher": record.publisher,
        "published_at": format_timestamp(record.published_at),
        "where": record.where,
    }
    if record.frames:
        data["frames"] = [{"time_ms": round(f.timestamp * 1000), "pdq": f.pdq} for f in record.frames]
    if record.c2pa is not None:
        # JSON null is not allowed in STIX: absent texts are left out, and read back as None.
        data["c2pa"] = {k: v for k, v in credentials_to_data(record.c2pa).items() if v is not None}
    return data


def note_from_stix(
    stix: dict[str, Any], extension: dict[str, Any], *, generated_description: str, category: str
) -> IndicatorNote | None:
    """The note an indicator carries, or None. Raises :class:`MalformedStix` naming the rule."""
    description = stix["description"]
    attestation = _attestation(extension.get("attestation"), category)
    try:
        note = IndicatorNote(
            description=None if description == generated_description else description,
            labels=_labels(stix.get("labels")),
            attestation=attestation,
            c2pa=_credentials(extension.get("c2pa"), field="extensions.c2pa"),
        )
    except InvalidInput as exc:
        raise MalformedStix(f"indicator note: {exc}") from exc
    return None if note.empty else note


def _labels(labels: object) -> tuple[str, ...]:
    if labels is None:
        return ()
    if not isinstance(labels, list) or not labels or not all(isinstance(label, str) for label in labels):
        raise MalformedStix("field 'labels' must be a non-empty list of text")
    return tuple(labels)


def _attestation(data: object, category: str) -> Attestation | None:
    if (data is not None) != (category == ATTESTED_CATEGORY):
        raise MalformedStix(
            f"an attestation is carried by, and only by, indicators of category {ATTESTED_CATEGORY}"
        )
    if data is None:
        return None
    if not isinstance(data, dict) or not _ATTESTATION_REQUIRED <= data.keys() <= _ATTESTATION_ALLOWED:
        raise MalformedStix(
            "extensions.attestation must hold record_id, publisher, published_at, where and optional frames"
        )
    try:
        return Attestation(
            record_id=data["record_id"],
            publisher=data["publisher"],
            published_at=parse_timestamp(data["published_at"]),
            where=data["where"],
            frames=_frames(data.get("frames", [])),
            c2pa=_credentials(data.get("c2pa"), field="extensions.attestation.c2pa"),
        )
    except InvalidInput as exc:
        raise MalformedStix(f"extensions.attestation: {exc}") from exc


def _credentials(data: object, *, field: str) -> ContentCredentials | None:
    """A partner's C2PA summary, read as strictly as the store's own form (every key known,
    flags true/false, texts limited and free of control characters): its origin's reading,
    never more. InvalidInput (the caller names the object) for anything else."""
    if data is None:
        return None
    if not isinstance(data, dict):
        raise MalformedStix(f"{field} must be an object")
    texts = ("claim_generator", "signer", "issuer", "signing_time")
    return credentials_from_data({**dict.fromkeys(texts), "actions": [], **data})


def _frames(frames: object) -> tuple[AttestedFrame, ...]:
    if not isinstance(frames, list) or len(frames) > MAX_FRAMES:
        raise MalformedStix(f"extensions.attestation.frames must be a list of at most {MAX_FRAMES} frames")
    read: list[AttestedFrame] = []
    for frame in frames:
        if (
            not isinstance(frame, dict)
            or frame.keys() != {"time_ms", "pdq"}
            or type(frame["time_ms"]) is not int
        ):
            raise MalformedStix("each attested frame holds time_ms (integer) and pdq (64 hex)")
        read.append(AttestedFrame(timestamp=frame["time_ms"] / 1000, pdq=frame["pdq"]))
    return tuple(read)
