"""Model weight files → the ``model:`` signal: digests of their tensors (issue 15).

A tensor's digest is SHA-256 over its dtype, its shape and its data bytes, never its name, so
the same weights under another header order, metadata, file name or sharding list the same
digests. The model signal is the sorted set of distinct digests (``Signal.model``).

safetensors and GGUF headers are parsed here, by hand, under strict limits (header size,
tensor count, offsets inside the file, no two tensors overlapping): a weights file from a
partner or a scraped site is hostile input. The file is then read once, in chunks, feeding the
file's own SHA-256 and MD5 and each tensor's digest: never the whole file in memory.

Pickled checkpoints (``.ckpt``, ``.pt``, ``.pth``, ``.bin``) are never unpickled and their zip
entries are not interpreted: they get their file hashes only. Their tensor layout lives in the
pickle, and reading it safely would mean a restricted unpickler this node does not carry.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Final

from node.errors import InvalidInput, MediaError
from node.hashing.files import describe_os_error, open_regular_file
from node.model import MODEL_MAX_TENSORS, Signal, SignalType
from node.model.jsontext import parse_json

CHUNK_BYTES: Final = 1 << 20  # one read; what a reading holds in memory at most, beside the header

SAFETENSORS_MAX_HEADER: Final = 16 << 20
"""Largest safetensors header read (16 MiB). A Stable Diffusion XL checkpoint's is about 200 KB;
the reference implementation allows 100 MB, which a hostile file would make every reader
parse."""

GGUF_MAX_METADATA: Final = 256 << 20
"""Most header bytes a GGUF file may take before its tensor data (256 MiB): tokenizer vocabularies
of large language models reach tens of MB. Values are skipped as read, never held."""

MAX_TENSORS: Final = 100_000
"""Most tensors a header may declare; real models hold a few thousand."""

MAX_DIMS: Final = 8  # GGML allows 4, safetensors has no limit; 8 covers every real layout
MAX_STRING: Final = 1 << 20  # longest GGUF string (a key, a tensor name, one metadata value)
MAX_ARRAY_DEPTH: Final = 4

PICKLED_SUFFIXES: Final = frozenset({".ckpt", ".pt", ".pth", ".bin"})
"""Names of pickled PyTorch checkpoints: shared by their file hashes, never unpickled."""

_TENSOR_DOMAIN: Final = b"accord-tensor/1\0"  # separates tensor digests from any other SHA-256 use

# safetensors dtypes and their bytes per element.
_SAFETENSORS_DTYPES: Final = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E5M2": 1,
    "F8_E4M3": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "F64": 8,
    "I64": 8,
    "U64": 8,
}

# GGML tensor types: name (the safetensors name where the two agree, so a tensor converted
# without a cast keeps its digest), elements per block, bytes per block (ggml.c type traits).
_GGML_TYPES: Final[dict[int, tuple[str, int, int]]] = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("GGML_Q4_0", 32, 18),
    3: ("GGML_Q4_1", 32, 20),
    6: ("GGML_Q5_0", 32, 22),
    7: ("GGML_Q5_1", 32, 24),
    8: ("GGML_Q8_0", 32, 34),
    9: ("GGML_Q8_1", 32, 36),
    10: ("GGML_Q2_K", 256, 84),
    11: ("GGML_Q3_K", 256, 110),
    12: ("GGML_Q4_K", 256, 144),
    13: ("GGML_Q5_K", 256, 176),
    14: ("GGML_Q6_K", 256, 210),
    15: ("GGML_Q8_K", 256, 292),
    16: ("GGML_IQ2_XXS", 256, 66),
    17: ("GGML_IQ2_XS", 256, 74),
    18: ("GGML_IQ3_XXS", 256, 98),
    19: ("GGML_IQ1_S", 256, 50),
    20: ("GGML_IQ4_NL", 32, 18),
    21: ("GGML_IQ3_S", 256, 110),
    22: ("GGML_IQ2_S", 256, 82),
    23: ("GGML_IQ4_XS", 256, 136),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    29: ("GGML_IQ1_M", 256, 56),
    30: ("BF16", 1, 2),
}
_GGUF_MAGIC: Final = b"GGUF"
_GGUF_VERSIONS: Final = frozenset({2, 3})  # version 1 used 32-bit counts and is long gone
_GGUF_DEFAULT_ALIGNMENT: Final = 32
# GGUF metadata value types with a fixed size: bytes of one value.
_GGUF_FIXED: Final = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_GGUF_STRING, _GGUF_ARRAY, _GGUF_UINT32 = 8, 9, 4


@dataclass(frozen=True, slots=True)
class TensorSpan:
    """One tensor: where its data lies in the file, and what its digest covers besides."""

    start: int
    end: int
    dtype: str
    shape: tuple[int, ...]

    def prefix(self) -> bytes:
        """The bytes hashed before the data: dtype and shape, never the tensor's name."""
        shape = ",".join(str(n) for n in self.shape)
        return _TENSOR_DOMAIN + f"{self.dtype}\0{shape}\0".encode("ascii")


@dataclass(frozen=True, slots=True)
class ModelHashes:
    """What a model file yields: its file hashes and, for safetensors and GGUF, its model signal."""

    path: str
    format: str  # "safetensors", "gguf" or "pickle"
    md5: Signal
    sha256: Signal
    model: Signal | None
    tensors: int  # tensors in the file (before removing repeats)
    tensor_bytes: int
    note: str | None = None

    @property
    def signals(self) -> tuple[Signal, ...]:
        """The signals to share or match: md5, sha256 and the model signal when there is one."""
        return (self.md5, self.sha256) if self.model is None else (self.md5, self.sha256, self.model)


def model_format(path: str | os.PathLike[str]) -> str | None:
    """ "safetensors" or "gguf" when the file's first bytes say so, "pickle" for a pickled
    checkpoint's name with a zip or pickle signature, else None. Reads 9 bytes."""
    name = os.fspath(path)
    with open_regular_file(name, what="model file", error=MediaError) as stream:
        head = _read(stream, 9, name)
    if head[:4] == _GGUF_MAGIC:
        return "gguf"
    if len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") >= 2:
        return "safetensors"
    suffix = os.path.splitext(name)[1].lower()
    if suffix in PICKLED_SUFFIXES and (head[:4] == b"PK\x03\x04" or head[:1] == b"\x80"):
        return "pickle"
    return None


def is_model_file(path: str | os.PathLike[str]) -> bool:
    """True for a regular file whose first bytes say safetensors, GGUF or pickled checkpoint;
    False for anything else, including a file that cannot be read (hashing it names why)."""
    try:
        return os.path.isfile(path) and model_format(path) is not None
    except MediaError:
        return False


def hash_model_file(path: str | os.PathLike[str]) -> ModelHashes:
    """Hash the model file at ``path``: MediaError naming the file and the rule broken when it
    is not a model file, is truncated, or its header breaks a limit."""
    name = os.fspath(path)
    kind = model_format(name)
    if kind is None:
        raise MediaError(f"{name!r} is not a safetensors, GGUF or pickled checkpoint file")
    with open_regular_file(name, what="model file", error=MediaError) as stream:
        size = os.fstat(stream.fileno()).st_size
        spans = _PARSERS[kind](stream, size, name) if kind in _PARSERS else []
        stream.seek(0)
        md5, sha256, digests = _stream_digests(stream, spans, name)
    note = None
    model = None
    distinct = set(digests)
    if kind == "pickle":
        note = "pickled checkpoint: never unpickled, shared by its file hashes only"
    elif not distinct:
        note = "the file holds no tensor: no model signal"
    elif len(distinct) > MODEL_MAX_TENSORS:
        note = f"more than {MODEL_MAX_TENSORS} distinct tensors: no model signal, file hashes only"
    else:
        model = Signal.model(distinct)
    tensor_bytes = sum(s.end - s.start for s in spans)
    return ModelHashes(name, kind, md5, sha256, model, len(spans), tensor_bytes, note)


# --- safetensors ---------------------------------------------------------------------------


def _safetensors_spans(stream: BinaryIO, size: int, name: str) -> list[TensorSpan]:
    """The tensors of a safetensors file: an 8-byte little-endian header length, the JSON
    header, then the data; each tensor's ``data_offsets`` count from the start of the data."""
    length = int.from_bytes(_exactly(stream, 8, name), "little")
    if length > SAFETENSORS_MAX_HEADER:
        raise MediaError(
            f"{name!r}: the safetensors header claims {length} bytes,"
            f" over the {SAFETENSORS_MAX_HEADER}-byte limit"
        )
    if 8 + length > size:
        raise MediaError(f"{name!r}: the safetensors header runs past the end of the file (truncated?)")
    try:
        header = parse_json(_exactly(stream, length, name), what=f"the safetensors header of {name!r}")
    except MediaError:
        raise
    except InvalidInput as exc:  # not JSON, or nested too deep: a media error of this file
        raise MediaError(str(exc)) from exc
    if not isinstance(header, dict):
        raise MediaError(f"{name!r}: the safetensors header is not a JSON object")
    entries = {k: v for k, v in header.items() if k != "__metadata__"}
    if len(entries) > MAX_TENSORS:
        raise MediaError(f"{name!r}: more than {MAX_TENSORS} tensors declared")
    base = 8 + length
    spans = [_safetensors_span(entry, base=base, size=size, name=name) for entry in entries.values()]
    return _checked_layout(spans, name)


def _safetensors_span(entry: object, *, base: int, size: int, name: str) -> TensorSpan:
    if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= entry.keys():
        raise MediaError(f"{name!r}: a safetensors tensor entry lacks dtype, shape or data_offsets")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    width = _SAFETENSORS_DTYPES.get(dtype) if isinstance(dtype, str) else None
    if width is None:
        raise MediaError(f"{name!r}: a tensor has an unknown safetensors dtype")
    dims = _dims(shape, name)
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_count(n) for n in offsets)):
        raise MediaError(f"{name!r}: a tensor's data_offsets are not two non-negative integers")
    start, end = base + offsets[0], base + offsets[1]
    if not start <= end <= size:
        raise MediaError(f"{name!r}: a tensor's data lies outside the file (truncated or hostile offsets)")
    if end - start != math.prod(dims) * width:
        raise MediaError(f"{name!r}: a tensor's data size does not match its dtype and shape")
    return TensorSpan(start, end, dtype, dims)


# --- GGUF ----------------------------------------------------------------------------------


class _Header:
    """A bounded reader of a GGUF header: every read counts against GGUF_MAX_METADATA."""

    def __init__(self, stream: BinaryIO, name: str) -> None:
        self._stream, self.name, self.position = stream, name, 0

    def take(self, count: int) -> bytes:
        if self.position + count > GGUF_MAX_METADATA:
            raise MediaError(f"{self.name!r}: the GGUF header is over the {GGUF_MAX_METADATA}-byte limit")
        data = _exactly(self._stream, count, self.name)
        self.position += count
        return data

    def skip(self, count: int) -> None:
        """Read past ``count`` bytes, a chunk at a time (a tokenizer's array may be MBs)."""
        if self.position + count > GGUF_MAX_METADATA:
            raise MediaError(f"{self.name!r}: the GGUF header is over the {GGUF_MAX_METADATA}-byte limit")
        while count:
            step = min(count, CHUNK_BYTES)
            self.take(step)
            count -= step

    def u32(self) -> int:
        return int(struct.unpack("<I", self.take(4))[0])

    def u64(self) -> int:
        return int(struct.unpack("<Q", self.take(8))[0])

    def string(self) -> bytes:
        length = self.u64()
        if length > MAX_STRING:
            raise MediaError(f"{self.name!r}: a GGUF string claims {length} bytes, over {MAX_STRING}")
        return self.take(length)


def _gguf_spans(stream: BinaryIO, size: int, name: str) -> list[TensorSpan]:
    """The tensors of a GGUF file (spec: github.com/ggml-org/ggml docs/gguf.md): magic, version,
    tensor and metadata counts, the metadata, the tensor infos, then data aligned to
    ``general.alignment`` (32 by default), tensor offsets counting from its start."""
    header = _Header(stream, name)
    header.take(4)  # the magic, checked by model_format
    version = header.u32()
    if version not in _GGUF_VERSIONS:
        raise MediaError(f"{name!r}: GGUF version {version} is not read (2 and 3 are)")
    tensors, keys = header.u64(), header.u64()
    if tensors > MAX_TENSORS or keys > MAX_TENSORS:
        raise MediaError(f"{name!r}: the GGUF header declares more than {MAX_TENSORS} tensors or keys")
    alignment = _GGUF_DEFAULT_ALIGNMENT
    for _ in range(keys):
        key, kind = header.string(), header.u32()
        if key == b"general.alignment" and kind == _GGUF_UINT32:
            alignment = header.u32()
            if alignment == 0 or alignment % 8 or alignment > 1 << 20:
                raise MediaError(f"{name!r}: general.alignment must be a multiple of 8 up to 1 MiB")
        else:
            _skip_value(header, kind, depth=0)
    infos = [_gguf_info(header, name) for _ in range(tensors)]
    data = -(-header.position // alignment) * alignment
    spans = []
    for dtype, dims, offset, length in infos:
        if offset % alignment:
            raise MediaError(f"{name!r}: a GGUF tensor offset is not a multiple of the alignment")
        start = data + offset
        if start + length > size:
            raise MediaError(
                f"{name!r}: a tensor's data lies outside the file (truncated or hostile offsets)"
            )
        spans.append(TensorSpan(start, start + length, dtype, dims))
    return _checked_layout(spans, name)


def _gguf_info(header: _Header, name: str) -> tuple[str, tuple[int, ...], int, int]:
    """One tensor info: its dtype name, its shape outermost first (GGUF lists the innermost
    dimension first: reversed, it reads as the row-major shape safetensors gives), its offset
    and its length in bytes."""
    header.string()  # the name: not part of the digest
    n_dims = header.u32()
    if not 1 <= n_dims <= MAX_DIMS:
        raise MediaError(f"{name!r}: a GGUF tensor has {n_dims} dimensions (1 to {MAX_DIMS} are read)")
    dims = [header.u64() for _ in range(n_dims)]
    traits = _GGML_TYPES.get(header.u32())
    if traits is None:
        raise MediaError(f"{name!r}: a GGUF tensor has an unknown GGML type")
    dtype, block, block_bytes = traits
    if dims[0] % block:
        raise MediaError(f"{name!r}: a GGUF tensor's row is not a whole number of {dtype} blocks")
    length = math.prod(dims) // block * block_bytes
    return dtype, tuple(reversed(dims)), header.u64(), length


def _skip_value(header: _Header, kind: int, *, depth: int) -> None:
    fixed = _GGUF_FIXED.get(kind)
    if fixed is not None:
        header.take(fixed)
    elif kind == _GGUF_STRING:
        header.string()
    elif kind == _GGUF_ARRAY and depth < MAX_ARRAY_DEPTH:
        item, count = header.u32(), header.u64()
        width = _GGUF_FIXED.get(item)
        if width is not None:
            header.skip(count * width)
        else:
            for _ in range(count):
                _skip_value(header, item, depth=depth + 1)
    else:
        raise MediaError(
            f"{header.name!r}: a GGUF metadata value has an unknown type or nests arrays too deeply"
        )


# --- shared --------------------------------------------------------------------------------


def _dims(shape: object, name: str) -> tuple[int, ...]:
    if not (isinstance(shape, list) and len(shape) <= MAX_DIMS and all(_is_count(n) for n in shape)):
        raise MediaError(
            f"{name!r}: a tensor shape is not a list of at most {MAX_DIMS} non-negative integers"
        )
    return tuple(shape)


def _is_count(value: object) -> bool:
    return type(value) is int and 0 <= value < 1 << 62


def _checked_layout(spans: list[TensorSpan], name: str) -> list[TensorSpan]:
    """``spans`` in file order; MediaError when two tensors' data overlap (a hostile file could
    otherwise make one region count as many tensors)."""
    ordered = sorted(spans, key=lambda s: (s.start, s.end))
    for before, after in itertools.pairwise(ordered):
        if after.start < before.end:
            raise MediaError(f"{name!r}: two tensors' data overlap")
    return ordered


def _stream_digests(stream: BinaryIO, spans: list[TensorSpan], name: str) -> tuple[Signal, Signal, list[str]]:
    """One pass over the file: its MD5 and SHA-256, and the digest of each tensor in ``spans``
    (in file order, not overlapping), one chunk in memory at a time."""
    md5 = hashlib.md5(usedforsecurity=False)  # identifies content in MD5 lists; protects nothing
    sha256 = hashlib.sha256()
    hashers = [hashlib.sha256(span.prefix()) for span in spans]
    current, position = 0, 0
    for chunk in _chunks(stream, name):
        md5.update(chunk)
        sha256.update(chunk)
        end = position + len(chunk)
        while current < len(spans) and spans[current].start < end:
            span = spans[current]
            hashers[current].update(chunk[max(span.start - position, 0) : min(span.end, end) - position])
            if span.end > end:
                break
            current += 1
        position = end
    digests = [h.hexdigest() for h in hashers]
    return Signal(SignalType.MD5, md5.hexdigest()), Signal(SignalType.SHA256, sha256.hexdigest()), digests


def _chunks(stream: BinaryIO, name: str) -> Iterator[bytes]:
    while chunk := _read(stream, CHUNK_BYTES, name):
        yield chunk


def _read(stream: BinaryIO, count: int, name: str) -> bytes:
    try:
        return stream.read(count)
    except OSError as exc:
        raise MediaError(f"cannot read model file {name!r}: {describe_os_error(exc)}") from exc


def _exactly(stream: BinaryIO, count: int, name: str) -> bytes:
    data = _read(stream, count, name)
    if len(data) != count:
        raise MediaError(f"{name!r}: the file ends inside its header (truncated)")
    return data


_PARSERS: Final[dict[str, Callable[[BinaryIO, int, str], list[TensorSpan]]]] = {
    "safetensors": _safetensors_spans,
    "gguf": _gguf_spans,
}
