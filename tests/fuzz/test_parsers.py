"""Every parser of outside input, fed arbitrary input: it either returns or raises the
project's own refusal for that input — never another exception (DESIGN §4, issue 6)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.config import load_config
from node.errors import (
    AccordError,
    InvalidInput,
    MalformedEntry,
    MalformedStix,
    Rejected,
    SealedBodyInvalid,
    TooLarge,
)
from node.feed import decode_bundle, decode_header, open_envelope
from node.feed.sealing import open_sealed
from node.hashing import ListItem, ListRefusal, read_hash_list
from node.model import ENTRY_PAYLOAD_TYPE, Distribution, Envelope, EnvelopeSignature, KeyId, Signal, Tlp
from node.stix import build_bundle, read_bundle
from tests.fuzz.conftest import fuzz_settings
from tests.support.feeds import FeedWriter, encryption_keys, identity, indicator, md5_signal, pdq_signal

SIGNER = identity(1)
WRITER = FeedWriter(SIGNER, name="ngo")
GOOD = WRITER.entry(
    [indicator(SIGNER.key_id, pdq_signal(1)), indicator(SIGNER.key_id, md5_signal(2), tlp=Tlp.GREEN)]
)
assert GOOD.body is not None
GOOD_BUNDLE = json.loads(GOOD.body)
READER = encryption_keys(3)  # the one reader a sealed AMBER body is sealed to
SEALED = WRITER.entry(
    [indicator(SIGNER.key_id, md5_signal(3), tlp=Tlp.AMBER)],
    distribution=Distribution(Tlp.AMBER, recipients=frozenset({identity(3).key_id})),
    readers=[READER.public],
)
SEALED_HEADER = decode_header(SEALED.header.payload)
assert SEALED.body is not None and SEALED_HEADER.seal is not None

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=80),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=20), inner, max_size=6),
    max_leaves=40,
)


def mutate(data: bytes, edits: list[tuple[int, int]]) -> bytes:
    buffer = bytearray(data)
    for position, value in edits:
        if buffer:
            buffer[position % len(buffer)] = value
    return bytes(buffer)


def both_modes(*args, **kwargs):  # type: ignore[no-untyped-def]
    """Wrap a check as two fuzz tests over the same strategies: CI (few examples), long (many)."""

    def build(check):  # type: ignore[no-untyped-def]
        ci = fuzz_settings()(given(*args, **kwargs)(check))
        long = pytest.mark.slow(fuzz_settings(long=True)(given(*args, **kwargs)(check)))
        return ci, long

    return build


def _entry_bytes(payload: bytes) -> None:
    with contextlib.suppress(MalformedEntry):
        decode_header(payload)


test_entry_decoder, test_entry_decoder_long = both_modes(
    st.binary(max_size=2048)
    | st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=8).map(
        lambda e: mutate(GOOD.header.payload, e)
    )
    | st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=8).map(
        lambda e: mutate(SEALED.header.payload, e)
    )
)(_entry_bytes)


def _body_bytes(body: bytes) -> None:
    with contextlib.suppress(MalformedEntry):
        decode_bundle(body)


test_body_decoder, test_body_decoder_long = both_modes(
    st.binary(max_size=2048)
    | st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=8).map(
        lambda e: mutate(GOOD.body or b"", e)
    )
)(_body_bytes)


def _sealed_bodies(edits: list[tuple[int, int]], stanza_edits: list[tuple[int, int]]) -> None:
    # A relay's altered ciphertext or key stanza: the reader gets the origin's exact bundle,
    # nothing (no stanza opens), or the sealed-body refusal; never other bytes, never a crash.
    assert SEALED_HEADER.seal is not None and SEALED.body is not None
    stanzas = list(SEALED_HEADER.seal.stanzas)
    stanzas[0] = mutate(stanzas[0], stanza_edits)
    try:
        opened = open_sealed(
            mutate(SEALED.body, edits),
            origin=SEALED_HEADER.origin,
            seq=SEALED_HEADER.seq,
            stanzas=stanzas,
            plaintext_digest=SEALED_HEADER.seal.plaintext_digest,
            keys=[READER],
        )
    except SealedBodyInvalid:
        return
    if opened is not None:
        assert json.loads(opened.bundle)["objects"] and b"indicator" in opened.bundle


test_sealed_body_opener, test_sealed_body_opener_long = both_modes(
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=8),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=4),
)(_sealed_bodies)


def _envelopes(payload: bytes, payload_type: str, keyid: str, sig: bytes) -> None:
    envelope = Envelope(payload_type, payload, (EnvelopeSignature(KeyId(keyid), sig),))
    with pytest.raises(Rejected):
        open_envelope(
            envelope,
            pinned={SIGNER.key_id: SIGNER.public_key},
            expected_type=ENTRY_PAYLOAD_TYPE,
            max_bytes=4096,
        )


test_envelope_opener, test_envelope_opener_long = both_modes(
    payload=st.binary(max_size=512),
    payload_type=st.sampled_from([ENTRY_PAYLOAD_TYPE, "", "application/json"]),
    keyid=st.sampled_from([SIGNER.key_id, "", "0" * 64]),
    sig=st.binary(max_size=80),
)(_envelopes)


def _arbitrary_bundles(bundle: object) -> None:
    with contextlib.suppress(MalformedStix, TooLarge):
        read_bundle(bundle, origin=SIGNER.key_id, max_objects=50)


test_stix_reader, test_stix_reader_long = both_modes(
    st.one_of(
        json_values,
        st.builds(
            lambda objs: {"type": "bundle", "id": "bundle--x", "objects": objs},
            st.lists(json_values, max_size=5),
        ),
    )
)(_arbitrary_bundles)


def _corrupted_bundles(index: int, field: str, value: object) -> None:
    bundle = json.loads(json.dumps(GOOD_BUNDLE))
    target = bundle["objects"][index % len(bundle["objects"])]
    target[field] = value
    with contextlib.suppress(MalformedStix, TooLarge):
        read_bundle(bundle, origin=SIGNER.key_id, max_objects=50)


test_stix_reader_corruption, test_stix_reader_corruption_long = both_modes(
    st.integers(0, 200),
    st.sampled_from(
        [
            "pattern",
            "created",
            "modified",
            "id",
            "object_marking_refs",
            "extensions",
            "created_by_ref",
            "valid_from",
            "revoked",
        ]
    ),
    json_values,
)(_corrupted_bundles)


def _signals(text: str) -> None:
    with contextlib.suppress(InvalidInput):
        Signal.parse(text)


test_signal_parser, test_signal_parser_long = both_modes(st.text(max_size=200))(_signals)


def _hash_lists(content: bytes) -> None:
    path = Path(f"/tmp/accord-fuzz-list-{id(content)}.txt")
    path.write_bytes(content)
    try:
        for item in read_hash_list(path):
            assert isinstance(item, ListItem | ListRefusal)
            if isinstance(item, ListRefusal):
                assert item.reason
    except InvalidInput:
        pass
    finally:
        path.unlink()


test_hash_list_reader, test_hash_list_reader_long = both_modes(
    st.binary(max_size=600) | st.text(max_size=600).map(str.encode)
)(_hash_lists)


toml_fragments = st.lists(
    st.sampled_from(
        [
            "[node]",
            "[network]",
            "[sync]",
            "[limits]",
            "[match]",
            "[log]",
            "[bogus]",
            "name = 'x'",
            "listen = 5",
            "interval_seconds = -1",
            "interval_seconds = 1e400",
            "pdq_threshold = 31.5",
            "level = 'LOUD'",
            "category_thresholds = { a = 1 }",
            "category_thresholds = 7",
            "x = [",
            "format = 'json'",
            "= =",
            "\x00",
        ]
    ),
    max_size=8,
).map("\n".join)


def _configs(text: str) -> None:
    directory = Path(f"/tmp/accord-fuzz-config-{id(text)}")
    directory.mkdir(exist_ok=True)
    # Lone surrogates cannot be written as UTF-8; a file on disk never holds them.
    (directory / "accord.toml").write_bytes(text.encode("utf-8", errors="replace"))
    try:
        load_config(directory, env={})
    except AccordError:
        pass
    finally:
        (directory / "accord.toml").unlink(missing_ok=True)
        directory.rmdir()


test_config_loader, test_config_loader_long = both_modes(toml_fragments | st.text(max_size=300))(_configs)


def test_a_valid_entry_still_decodes() -> None:
    # The corpus above starts from a good entry; make sure it is good, or the mutations prove little.
    assert decode_header(GOOD.header.payload).seq == 1
    assert decode_bundle(GOOD.body or b"")["type"] == "bundle"
    assert SEALED_HEADER.seal is not None and SEALED.body is not None
    opened = open_sealed(
        SEALED.body,
        origin=SEALED_HEADER.origin,
        seq=SEALED_HEADER.seq,
        stanzas=SEALED_HEADER.seal.stanzas,
        plaintext_digest=SEALED_HEADER.seal.plaintext_digest,
        keys=[READER],
    )
    assert opened is not None and md5_signal(3).value.encode() in opened.bundle
    assert len(read_bundle(GOOD_BUNDLE, origin=SIGNER.key_id, max_objects=50)) == 2
    assert build_bundle([], origin_names={})["type"] == "bundle"
