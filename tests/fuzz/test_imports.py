"""Fuzz targets for the hostile-import crash paths (issue 13): data-set manifests (``accord
scan``), third-party STIX files (``contribute --stix``), TAXII pages over real loopback HTTP
(``accord sync``), MISP events, and images that declare huge dimensions (the Match API). Each
parser either returns or raises the project's own refusal, whatever the nesting or field size."""

from __future__ import annotations

import contextlib
import struct
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from hypothesis import strategies as st

from node.errors import InvalidInput, PeerError, TooLarge
from node.hashing import hash_bytes
from node.hashing.manifests import ManifestRow, read_manifest
from node.model import KNOWN_CATEGORIES
from node.model.clock import utc_now
from node.stix import StixRefusal, read_stix_signals
from node.sync.misp import DEFAULT_TAG_CATEGORIES, MispRules, event_uuids, read_event
from node.taxii import TaxiiClient
from tests.fuzz.test_parsers import both_modes
from tests.support.feeds import identity, md5_signal
from tests.support.hostile_http import HttpServer, http_server, send_json

ORIGIN = identity(3).key_id
RULES = MispRules(tag_categories=DEFAULT_TAG_CATEGORIES, default_category=None)


def nested(depth: int, kind: str, core: str) -> str:
    """``core`` inside ``depth`` arrays or objects (unbalanced when ``core`` says so)."""
    opening, closing = ("[", "]") if kind == "list" else ('{"a":', "}")
    return opening * depth + core + closing * depth


# Nesting around and far beyond Python's recursion limit, balanced or cut short.
deep_json = st.builds(
    nested,
    st.integers(0, 3000) | st.integers(50_000, 120_000),
    st.sampled_from(["list", "dict"]),
    st.sampled_from(["1", '"x"', "{}", "[]", "", "]"]),
)
long_fields = st.builds(
    lambda n, c: c * n, st.integers(0, 400_000), st.sampled_from(["f", "\u00e9", '"', ",", "\n"])
)


def _manifests(suffix: str, rows: list[str]) -> None:
    path = Path(f"/tmp/accord-fuzz-manifest-{threading.get_ident()}{suffix}")
    header = "id,md5\n" if suffix == ".csv" else ""
    path.write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
    try:
        for batch in read_manifest(path, batch_rows=4):
            assert all(isinstance(row, ManifestRow) for row in batch)
    except InvalidInput:
        pass
    finally:
        path.unlink()


test_manifest_reader, test_manifest_reader_long = both_modes(
    st.sampled_from([".csv", ".jsonl"]),
    st.lists(
        deep_json
        | long_fields
        | st.builds(lambda f: f"a,{f}", long_fields)
        | st.just(f"b,{md5_signal(1).value}"),
        max_size=4,
    ),
)(_manifests)


def _stix_files(text: str) -> None:
    path = Path(f"/tmp/accord-fuzz-stix-{threading.get_ident()}.json")
    path.write_text(text, encoding="utf-8")
    try:
        for item in read_stix_signals(path, known_categories=frozenset(KNOWN_CATEGORIES), now=utc_now()):
            if isinstance(item, StixRefusal):
                assert item.reason
    except InvalidInput:
        pass
    finally:
        path.unlink()


def _bundle_with(inner: str) -> str:
    return (
        '{"type": "bundle", "id": "bundle--1", "objects": [{"type": "indicator", "spec_version": "2.1",'
        ' "pattern": "[file:hashes.MD5 = \'' + md5_signal(1).value + '\']", "x_deep": ' + inner + "}]}"
    )


test_stix_file_reader, test_stix_file_reader_long = both_modes(
    deep_json | deep_json.map(_bundle_with) | long_fields
)(_stix_files)


def _misp(document: str) -> None:
    data = document.encode()
    with contextlib.suppress(InvalidInput):
        event_uuids(data)
    with contextlib.suppress(InvalidInput):
        read_event(data, uuid="5c6d3b0e-1c0a-4b55-9a6c-8d5a2e1f0b3a", origin=ORIGIN, rules=RULES)


test_misp_event_reader, test_misp_event_reader_long = both_modes(
    deep_json | deep_json.map(lambda inner: '{"Event": {"Attribute": ' + inner + "}}")
)(_misp)


@pytest.fixture(scope="module")
def taxii() -> Iterator[tuple[HttpServer, dict[str, bytes]]]:
    """One loopback TAXII server whose every answer is the body the current example sets."""
    body = {"now": b"{}"}
    with http_server(lambda handler: _answer(handler, body["now"])) as server:
        yield server, body


def _answer(handler: BaseHTTPRequestHandler, body: bytes) -> None:
    send_json(handler, body)


def _taxii_pages(taxii: tuple[HttpServer, dict[str, bytes]], text: str) -> None:
    server, body = taxii
    body["now"] = text.encode()
    client = TaxiiClient(
        server.url, "c", username=None, secret="t", stall_seconds=5, deadline_seconds=10, max_bytes=1 << 20
    )
    with contextlib.suppress(PeerError, TooLarge):
        for page in client.pages(added_after=None):
            assert isinstance(page.objects, list)
            break


test_taxii_pages, test_taxii_pages_long = both_modes(
    text=deep_json | deep_json.map(lambda inner: '{"more": false, "objects": [' + inner + "]}")
)(_taxii_pages)


def _png_header(width: int, height: int, tail: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", tail) + chunk(b"IEND", b"")


def _declared_sizes(width: int, height: int, tail: bytes) -> None:
    # Dimensions up to 2^31 on a few bytes of data: over the limit is a note, never a decode.
    hashes = hash_bytes(_png_header(width, height, tail), max_pixels=4_000_000)
    if width * height > 4_000_000:
        assert hashes.pdq is None and hashes.note is not None


test_declared_image_size, test_declared_image_size_long = both_modes(
    st.integers(1, 2**31 - 1) | st.integers(1, 3000),
    st.integers(1, 2**31 - 1) | st.integers(1, 3000),
    st.binary(max_size=64) | st.just(zlib.compress(b"\x00" * 4096)),
)(_declared_sizes)
