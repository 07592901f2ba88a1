"""C2PA content credentials: read the manifest media carries, with the official ``c2pa-python``.

Read beside hashing (``accord hash``, ``match``, ``attest``, the Match API with media bytes),
never instead of it: a manifest is evidence about the file, and an invalid or stripped one
changes nothing about a hash match. ``c2pa-python`` (~50 MB of native code) is the optional
extra ``c2pa``; without it :func:`read_credentials` raises :class:`MediaError` saying how to
install it, and :func:`credentials_available` lets callers report "not checked" instead.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from node.errors import MediaError, MissingExtra, extra_install_hint
from node.model.provenance import AI_SOURCE_TYPES, MAX_ACTIONS, ContentCredentials, clean_evidence_text

_TRUSTED = "Trusted"
_INTACT = frozenset({"Valid", _TRUSTED})
UNREADABLE = "Unreadable"
"""The state reported when c2pa finds a manifest but cannot parse it at all."""


def credentials_available() -> bool:
    """True when the ``c2pa`` extra is installed."""
    try:
        _c2pa()
    except MediaError:
        return False
    return True


def read_credentials(data: bytes, *, trust_anchors: bytes | None = None) -> ContentCredentials | None:
    """The C2PA manifest summary of media ``data``, or None when it carries no manifest.

    ``trust_anchors`` (PEM certificates) are the only roots a signature is *trusted* under;
    without them a manifest is at most *valid*. The file's own texts (generator, signer) are
    attacker-chosen: they come back cleaned of control characters and length-limited.
    """
    return read_stream_credentials(io.BytesIO(data), trust_anchors=trust_anchors)


def read_stream_credentials(
    stream: BinaryIO, *, trust_anchors: bytes | None = None
) -> ContentCredentials | None:
    """:func:`read_credentials` of the media ``stream`` (an open file: c2pa reads what it
    needs, so a scan never holds a whole video in memory)."""
    c2pa = _c2pa()
    try:
        with c2pa.Reader(None, stream, context=_context(c2pa, trust_anchors)) as reader:
            store = json.loads(reader.json())
    except Exception as exc:  # the bindings raise their own error classes, one per native error
        if "ManifestNotFound" in type(exc).__name__ or "ManifestNotFound" in str(exc):
            return None
        if "NotSupported" in type(exc).__name__ or "UnsupportedType" in str(exc):
            return None  # a format c2pa cannot carry a manifest in: nothing to read
        return ContentCredentials(validation_state=UNREADABLE, valid=False, trusted=False)
    return _summary(store, trusted_possible=trust_anchors is not None)


def load_trust_anchors(path: Path) -> bytes:
    """The PEM trust anchors at ``path`` (MediaError naming it when unreadable or empty)."""
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise MediaError(f"cannot read the C2PA trust anchors {path}: {exc.strerror}") from exc
    if b"-----BEGIN CERTIFICATE-----" not in pem:
        raise MediaError(f"{path} holds no PEM certificate (match.c2pa_trust_anchors)")
    return pem


def _context(c2pa: Any, trust_anchors: bytes | None) -> Any:
    settings: dict[str, Any] = {"verify": {"verify_trust": True}}
    if trust_anchors is not None:
        settings["trust"] = {"trust_anchors": trust_anchors.decode("ascii", "replace")}
    return c2pa.Context(c2pa.Settings.from_dict(settings))


def _summary(store: dict[str, Any], *, trusted_possible: bool) -> ContentCredentials:
    manifest = store.get("manifests", {}).get(store.get("active_manifest"), {})
    state = clean_evidence_text(store.get("validation_state")) or UNREADABLE
    signature = manifest.get("signature_info") or {}
    actions = _actions(manifest)
    return ContentCredentials(
        validation_state=state,
        valid=state in _INTACT,
        trusted=trusted_possible and state == _TRUSTED,
        claim_generator=_generator(manifest),
        signer=clean_evidence_text(signature.get("common_name")),
        issuer=clean_evidence_text(signature.get("issuer")),
        signing_time=clean_evidence_text(signature.get("time")),
        actions=tuple(clean_evidence_text(a.get("action")) or "?" for a in actions)[:MAX_ACTIONS],
        ai_generated=any(str(a.get("digitalSourceType", "")).endswith(AI_SOURCE_TYPES) for a in actions),
    )


def _generator(manifest: dict[str, Any]) -> str | None:
    info = manifest.get("claim_generator_info")
    if isinstance(info, list) and info and isinstance(info[0], dict):
        name, version = info[0].get("name"), info[0].get("version")
        return clean_evidence_text(f"{name} {version}" if version else name)
    return clean_evidence_text(manifest.get("claim_generator"))


def _actions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for assertion in manifest.get("assertions", []):
        if isinstance(assertion, dict) and str(assertion.get("label", "")).startswith("c2pa.actions"):
            actions = (assertion.get("data") or {}).get("actions", [])
            found.extend(a for a in actions if isinstance(a, dict))
    return found


def _c2pa() -> Any:
    try:
        import c2pa  # noqa: PLC0415 - optional extra, imported where it is needed
    except ImportError as exc:
        raise MediaError(
            f"reading C2PA content credentials needs c2pa-python; {extra_install_hint('c2pa')}"
        ) from exc
    return c2pa


@dataclass(frozen=True, slots=True)
class CredentialCheck:
    """Asks a scan to read every media item's C2PA manifest (``accord scan --c2pa``), with the
    operator's trust anchors (PEM) when configured. Plain bytes: it travels to Dask workers."""

    trust_anchors: bytes | None = None

    @property
    def anchors_digest(self) -> str | None:
        """SHA-256 of the trust anchors (None without): a resumed scan reads under the same."""
        return None if self.trust_anchors is None else hashlib.sha256(self.trust_anchors).hexdigest()


def require_credentials(feature: str) -> None:
    """MissingExtra naming the ``c2pa`` extra when it is not installed: for a feature that
    asked for credentials explicitly and fails up front rather than report "not checked"."""
    if not credentials_available():
        raise MissingExtra(feature, "c2pa")


def read_file_credentials(path: Path, check: CredentialCheck) -> ContentCredentials | None:
    """The C2PA summary of the media file at ``path`` (None: no manifest); MediaError when the
    file cannot be opened."""
    try:
        stream = path.open("rb")
    except OSError as exc:
        raise MediaError(f"cannot read {path} for its C2PA manifest: {exc.strerror}") from exc
    with stream:
        return read_stream_credentials(stream, trust_anchors=check.trust_anchors)
