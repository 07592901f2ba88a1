"""Sealed bodies: a restricted entry's bundle encrypted once, its key sealed to each reader (DESIGN §5).

The plaintext is ``{"bundle":<bundle bytes>,"salt":"<128-bit hex>"}`` (canonical JSON), padded
with NULs to a power-of-two size class and encrypted with XChaCha20-Poly1305 under a fresh
random content key; the origin and seq are associated data, so a body cannot be moved to
another feed position. The content key is sealed (libsodium sealed box) to every recipient and
to the origin itself; dummy stanzas pad their number to a bucket and all are shuffled, so a
non-recipient learns only the bucket. ``plaintext_digest`` (in the signed header) commits the
content: it is also the key commitment the AEAD alone does not give.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from random import SystemRandom
from typing import Any, Final

from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
)
from nacl.exceptions import CryptoError
from nacl.exceptions import RuntimeError as NaclRuntimeError
from nacl.public import PrivateKey, PublicKey, SealedBox

from node.errors import InvalidInput, MalformedEntry, SealedBodyInvalid
from node.feed.encryption import KEY_BYTES, EncryptionKeyPair
from node.feed.entries import strict_json
from node.feed.envelope import payload_digest
from node.model import Digest, KeyId, Seq, parse_key_id

CONTENT_KEY_BYTES: Final = 32  # XChaCha20-Poly1305 key
NONCE_BYTES: Final = 24  # XChaCha20 nonce: random nonces of this size never collide in practice
TAG_BYTES: Final = 16  # Poly1305 tag
# A sealed box is an ephemeral X25519 public key, then the box (tag + message): 32 + 16 + 32.
STANZA_BYTES: Final = KEY_BYTES + TAG_BYTES + CONTENT_KEY_BYTES
# Each stanza costs a reader one X25519 operation per key it holds; 256 readers of one entry is
# far beyond any sharing group Accord expects, and bounds what a hostile header can cost.
MAX_STANZAS: Final = 256
STANZA_BUCKETS: Final = (4, 8, 16, 32, 64, 128, 256)
# Bodies smaller than this all travel at this size: typical small bundles share one class.
MIN_SIZE_CLASS: Final = 1024
SALT_BYTES: Final = 16  # 128 bits: equal bundles never give equal plaintexts (or digests)
_AD_LABEL: Final = b"accord-body-v2\x00"
_PREFIX: Final = b'{"bundle":'
# What the plaintext adds to the bundle: the prefix, then ',"salt":"' + 32 hex digits + '"}'.
PLAINTEXT_OVERHEAD: Final = len(_PREFIX) + len(b',"salt":"') + 2 * SALT_BYTES + len(b'"}')
# The origin may name the body's audience (the recipients' key ids) inside the plaintext, so a
# recipient can address its own feedback about these objects to the same audience; only
# readers learn it. ``{"audience":[...],`` then stands before ``"bundle":``.
_AUDIENCE_PREFIX: Final = re.compile(rb'\A\{"audience":\[("[0-9a-f]{64}"(?:,"[0-9a-f]{64}")*)\],"bundle":')
_AUDIENCE_ENTRY_BYTES: Final = 67  # "<64 hex>",
_SUFFIX: Final = re.compile(rb',"salt":"[0-9a-f]{%d}"\}\Z' % (2 * SALT_BYTES))
_SHUFFLE: Final = SystemRandom()


@dataclass(frozen=True, slots=True)
class SealedBody:
    """A body as it travels (``ciphertext``: nonce then AEAD output) and what the header carries."""

    ciphertext: bytes
    plaintext_digest: Digest
    stanzas: tuple[bytes, ...]


def size_class(n: int) -> int:
    """The padded size of an ``n``-byte plaintext: the next power of two ≥ max(n, 1024)."""
    if n < 0:
        raise InvalidInput("a size is not negative")
    return max(MIN_SIZE_CLASS, 1 << (n - 1).bit_length()) if n > 0 else MIN_SIZE_CLASS


def sealed_size(bundle_length: int, *, audience: int = 0) -> int:
    """The ciphertext length of a sealed ``bundle_length``-byte bundle (nonce, padded body, tag)
    naming ``audience`` recipients: lets a publisher check a body against a size limit before it
    seals or takes a feed position."""
    named = len(b'"audience":[],') + _AUDIENCE_ENTRY_BYTES * audience if audience else 0
    return NONCE_BYTES + size_class(bundle_length + PLAINTEXT_OVERHEAD + named) + TAG_BYTES


def stanza_bucket(n: int) -> int:
    """How many stanzas carry ``n`` real ones: the smallest bucket that holds them."""
    for bucket in STANZA_BUCKETS:
        if n <= bucket:
            return bucket
    raise InvalidInput(f"a body is sealed to at most {MAX_STANZAS} keys, not {n}")


def associated_data(origin: KeyId, seq: Seq) -> bytes:
    """What binds a body to its feed position: label, origin key id and seq."""
    origin = parse_key_id(origin)
    if type(seq) is not int or seq < 1:
        raise InvalidInput("a seq is a positive integer")
    return _AD_LABEL + origin.encode("ascii") + b"\x00" + str(seq).encode("ascii")


def seal_body(
    bundle_bytes: bytes,
    *,
    origin: KeyId,
    seq: Seq,
    recipients: Iterable[bytes],
    self_key: bytes,
    audience: Iterable[KeyId] = (),
) -> SealedBody:
    """Seal ``bundle_bytes`` (canonical JSON of the bundle) to ``recipients`` and to ``self_key``
    (the origin's own current encryption key, so a restored origin can read its past).

    Every call draws a fresh salt, content key and nonce: two seals of the same bundle share
    nothing a reader of headers could compare. Raises InvalidInput for a key that is not 32
    bytes or is a low-order point, or more than MAX_STANZAS distinct readers.
    """
    if not bundle_bytes.startswith(b"{") or not bundle_bytes.endswith(b"}"):
        raise InvalidInput("a sealed bundle is the canonical JSON of an object")
    named = sorted({parse_key_id(k) for k in audience})
    head = b'{"audience":[' + b",".join(b'"%s"' % k.encode() for k in named) + b"]," if named else b"{"
    salt = secrets.token_hex(SALT_BYTES).encode()
    plaintext = head + _PREFIX[1:] + bundle_bytes + b',"salt":"' + salt + b'"}'
    ad = associated_data(origin, seq)
    content_key = secrets.token_bytes(CONTENT_KEY_BYTES)
    readers = list(dict.fromkeys([*recipients, self_key]))  # deduplicated, order kept
    stanzas = seal_stanzas(content_key, readers)
    nonce = secrets.token_bytes(NONCE_BYTES)
    padded = plaintext.ljust(size_class(len(plaintext)), b"\x00")
    ciphertext = nonce + crypto_aead_xchacha20poly1305_ietf_encrypt(padded, ad, nonce, content_key)
    return SealedBody(ciphertext=ciphertext, plaintext_digest=payload_digest(plaintext), stanzas=stanzas)


def seal_stanzas(content_key: bytes, readers: Sequence[bytes]) -> tuple[bytes, ...]:
    """One stanza per reader plus dummies up to the bucket, in a random order."""
    bucket = stanza_bucket(len(readers))
    stanzas = [seal_content_key(content_key, reader) for reader in readers]
    stanzas += [_dummy_stanza() for _ in range(bucket - len(readers))]
    _SHUFFLE.shuffle(stanzas)
    return tuple(stanzas)


def seal_content_key(content_key: bytes, recipient: bytes) -> bytes:
    """``content_key`` sealed to one X25519 public key: one stanza (also what a grant carries)."""
    if len(content_key) != CONTENT_KEY_BYTES:
        raise InvalidInput(f"a content key is {CONTENT_KEY_BYTES} bytes")
    if not isinstance(recipient, bytes) or len(recipient) != KEY_BYTES:
        raise InvalidInput(f"a recipient encryption key is {KEY_BYTES} bytes")
    try:
        return bytes(SealedBox(PublicKey(recipient)).encrypt(content_key))
    except (CryptoError, NaclRuntimeError) as exc:
        raise InvalidInput(
            "a recipient encryption key is a low-order point; nothing is sealed to it"
        ) from exc


def _dummy_stanza() -> bytes:
    # A genuine sealed box to a throwaway key, not random bytes: a real stanza starts with an
    # X25519 public key (top bit clear, a point of the prime-order subgroup), which random bytes
    # fail half the time, so random dummies would reveal the recipient count.
    throwaway = PrivateKey.generate().public_key
    return bytes(SealedBox(throwaway).encrypt(secrets.token_bytes(CONTENT_KEY_BYTES)))


def open_content_key(stanzas: Sequence[bytes], keys: Sequence[EncryptionKeyPair]) -> bytes | None:
    """The content key, when one of ``keys`` opens one of ``stanzas``; None when none does.

    None is not an error: this node is simply not a reader. Raises SealedBodyInvalid for a
    stanza list no honest origin writes (too many stanzas, or one of another length).
    """
    _check_stanzas(stanzas)
    boxes = [SealedBox(PrivateKey(pair.private)) for pair in keys]
    for stanza in stanzas:
        for box in boxes:
            try:
                return bytes(box.decrypt(stanza))  # 32 bytes: an 80-byte sealed box holds 32
            except CryptoError:
                continue
    return None


def _check_stanzas(stanzas: Sequence[bytes]) -> None:
    if len(stanzas) > MAX_STANZAS:
        raise SealedBodyInvalid(f"a sealed body has {len(stanzas)} key stanzas; at most {MAX_STANZAS}")
    if any(len(stanza) != STANZA_BYTES for stanza in stanzas):
        raise SealedBodyInvalid(f"every key stanza is {STANZA_BYTES} bytes")


def open_body(
    ciphertext: bytes,
    *,
    origin: KeyId,
    seq: Seq,
    stanzas: Sequence[bytes],
    plaintext_digest: Digest,
    keys: Sequence[EncryptionKeyPair],
) -> bytes | None:
    """The exact bundle bytes of a sealed body, or None when no stanza opens with ``keys``.

    Raises SealedBodyInvalid when a stanza opened but the body does not decrypt for this
    (origin, seq), does not match ``plaintext_digest``, or is not a sealed bundle.
    """
    content_key = open_content_key(stanzas, keys)
    if content_key is None:
        return None
    return open_body_with_key(
        ciphertext, origin=origin, seq=seq, content_key=content_key, plaintext_digest=plaintext_digest
    )


def open_body_with_key(
    ciphertext: bytes, *, origin: KeyId, seq: Seq, content_key: bytes, plaintext_digest: Digest
) -> bytes:
    """The exact bundle bytes of a sealed body whose content key is known (e.g. from a grant).

    Returns the bytes the origin committed to in ``plaintext_digest``: decrypted, authenticated
    for this (origin, seq), digest-checked and shape-checked. Raises SealedBodyInvalid otherwise.
    """
    return _bundle_of(
        _decrypt(
            ciphertext, origin=origin, seq=seq, content_key=content_key, plaintext_digest=plaintext_digest
        )
    )


def _decrypt(
    ciphertext: bytes, *, origin: KeyId, seq: Seq, content_key: bytes, plaintext_digest: Digest
) -> bytes:
    """The unpadded plaintext, authenticated for (origin, seq) and checked against its digest."""
    if len(content_key) != CONTENT_KEY_BYTES:
        raise SealedBodyInvalid(f"a content key is {CONTENT_KEY_BYTES} bytes")
    if len(ciphertext) < NONCE_BYTES + TAG_BYTES + MIN_SIZE_CLASS:
        raise SealedBodyInvalid("a sealed body is shorter than the smallest size class")
    nonce, sealed = ciphertext[:NONCE_BYTES], ciphertext[NONCE_BYTES:]
    try:
        padded = crypto_aead_xchacha20poly1305_ietf_decrypt(
            sealed, associated_data(origin, seq), nonce, content_key
        )
    except CryptoError as exc:
        raise SealedBodyInvalid("a sealed body does not decrypt for its origin and seq") from exc
    plaintext = padded.rstrip(b"\x00")  # canonical JSON ends with '}', never with NUL
    if payload_digest(plaintext) != plaintext_digest:
        raise SealedBodyInvalid("a sealed body does not match the plaintext digest its header commits to")
    if len(padded) != size_class(len(plaintext)):
        raise SealedBodyInvalid("a sealed body is not padded to its size class")
    return plaintext


@dataclass(frozen=True, slots=True)
class OpenedBody:
    """A sealed body's content: the exact bundle bytes and the audience its origin named."""

    bundle: bytes
    audience: frozenset[KeyId]
    # The bundle as strictly parsed JSON (what node.feed.decode_bundle returns for ``bundle``):
    # the shape check parses it anyway, and a reader need not parse it a second time.
    document: dict[str, Any] | None = None


def open_sealed(
    ciphertext: bytes,
    *,
    origin: KeyId,
    seq: Seq,
    stanzas: Sequence[bytes],
    plaintext_digest: Digest,
    keys: Sequence[EncryptionKeyPair],
    content_key: bytes | None = None,
    parse: bool = True,
) -> OpenedBody | None:
    """Like :func:`open_body` (or :func:`open_body_with_key` given ``content_key``), with the
    audience the origin named.

    ``parse=False`` leaves out the strict parse that proves the bundle is one JSON object (its
    ``document`` is None): the caller must prove it another way before it trusts the body, or
    call :func:`sealed_bundle_document` (ingest reads the canonical text object by object,
    node/sync/bundle_text.py, which proves it, and parses only when that reader steps aside)."""
    key = content_key if content_key is not None else open_content_key(stanzas, keys)
    if key is None:
        return None
    plaintext = _decrypt(
        ciphertext, origin=origin, seq=seq, content_key=key, plaintext_digest=plaintext_digest
    )
    audience = _AUDIENCE_PREFIX.match(plaintext)
    named = (
        frozenset(KeyId(k.decode()) for k in re.findall(rb"[0-9a-f]{64}", audience.group(1)))
        if audience
        else frozenset()
    )
    if not parse:
        return OpenedBody(bundle=_bundle_slice(plaintext), audience=named)
    bundle, document = _parsed_bundle(plaintext)
    return OpenedBody(bundle=bundle, audience=named, document=document)


def _bundle_of(plaintext: bytes) -> bytes:
    """The raw bytes of the ``bundle`` member, sliced out, never re-serialised."""
    return _parsed_bundle(plaintext)[0]


def _parsed_bundle(plaintext: bytes) -> tuple[bytes, dict[str, Any]]:
    """The raw bytes of the ``bundle`` member, sliced out, never re-serialised, and their
    strict parse (UTF-8, no duplicate keys, no NaN/Infinity: :func:`node.feed.entries.strict_json`).

    A fixed prefix, a fixed-form suffix and a middle that is one JSON object (checked by a strict
    parse) make the whole exactly ``{"bundle":{...},"salt":"<hex>"}``.
    """
    bundle = _bundle_slice(plaintext)
    return bundle, sealed_bundle_document(bundle)


def _bundle_slice(plaintext: bytes) -> bytes:
    """The bytes between the fixed prefix and the fixed-form suffix (not yet proven JSON)."""
    suffix = _SUFFIX.search(plaintext)
    audience = _AUDIENCE_PREFIX.match(plaintext)
    start = audience.end() if audience else len(_PREFIX)
    if not (audience or plaintext.startswith(_PREFIX)) or suffix is None:
        raise SealedBodyInvalid('a sealed body is not {["audience":[...],]"bundle":...,"salt":"<32 hex>"}')
    return plaintext[start : suffix.start()]


def sealed_bundle_document(bundle: bytes) -> dict[str, Any]:
    """The strict parse of a sealed body's bundle bytes; SealedBodyInvalid when they are not
    one JSON object (then the body was never the ``{"bundle":...,"salt":...}`` it claims)."""
    try:
        document = strict_json(bundle, what="a sealed body's bundle")
    except MalformedEntry as exc:
        raise SealedBodyInvalid("a sealed body's bundle is not one JSON object") from exc
    if not isinstance(document, dict):
        raise SealedBodyInvalid("a sealed body's bundle is not one JSON object")
    return document
