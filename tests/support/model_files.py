"""Small model weight files written byte by byte: safetensors and GGUF (issue 15 tests).

No ML library: the bytes follow the two formats' specifications, so the tests also pin what
the parser reads. Tensor data is deterministic pseudo-random bytes per name.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path

_WIDTH = {"F32": 4, "F16": 2, "BF16": 2, "I8": 1, "U8": 1, "I32": 4, "F64": 8}
_GGML_TYPE = {"F32": 0, "F16": 1, "I8": 24, "I32": 26, "F64": 28, "BF16": 30}


class Tensor:
    """A tensor's dtype, shape and data bytes."""

    def __init__(
        self, dtype: str, shape: Sequence[int], data: bytes | None = None, *, seed: str = ""
    ) -> None:
        self.dtype = dtype
        self.shape = tuple(shape)
        size = math.prod(self.shape) * _WIDTH[dtype]
        self.data = data if data is not None else _bytes(seed or f"{dtype}{shape}", size)
        assert len(self.data) == size


def _bytes(seed: str, size: int) -> bytes:
    out = b""
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}/{counter}".encode()).digest()
        counter += 1
    return out[:size]


def model_tensors(count: int, *, prefix: str = "w", rows: int = 8, cols: int = 16) -> dict[str, Tensor]:
    """``count`` distinct F32 tensors named ``<prefix>.<n>.weight``."""
    return {f"{prefix}.{n}.weight": Tensor("F32", (rows, cols), seed=f"{prefix}-{n}") for n in range(count)}


def safetensors_bytes(
    tensors: Mapping[str, Tensor],
    *,
    order: Sequence[str] | None = None,
    metadata: Mapping[str, str] | None = None,
) -> bytes:
    """A safetensors file: header length, JSON header, data laid out in ``order``."""
    names = list(order if order is not None else tensors)
    header: dict[str, object] = {}
    if metadata:
        header["__metadata__"] = dict(metadata)
    offset = 0
    for name in names:
        tensor = tensors[name]
        header[name] = {
            "dtype": tensor.dtype,
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + len(tensor.data)],
        }
        offset += len(tensor.data)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)  # the format pads the header to 8 bytes with spaces
    return struct.pack("<Q", len(raw)) + raw + b"".join(tensors[n].data for n in names)


def write_safetensors(path: Path, tensors: Mapping[str, Tensor], **kwargs: object) -> Path:
    """Write ``safetensors_bytes`` to ``path``."""
    path.write_bytes(safetensors_bytes(tensors, **kwargs))  # type: ignore[arg-type]
    return path


def raw_safetensors(path: Path, header: object, data: bytes, *, claimed: int | None = None) -> Path:
    """A safetensors file with any header (hostile cases): ``claimed`` overrides its length."""
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw) if claimed is None else claimed) + raw + data)
    return path


def gguf_string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def gguf_bytes(
    tensors: Mapping[str, Tensor],
    *,
    alignment: int = 32,
    metadata: Mapping[str, str] | None = None,
    raw_kv: Sequence[bytes] = (),
) -> bytes:
    """A GGUF version 3 file: metadata strings, ``general.alignment`` when not 32, tensor infos
    (dimensions innermost first), then the data, each tensor aligned."""
    kv = b""
    keys = 0
    for key, value in (metadata or {}).items():
        kv += gguf_string(key) + struct.pack("<I", 8) + gguf_string(value)
        keys += 1
    for item in raw_kv:  # a key and a typed value, already encoded
        kv += item
        keys += 1
    if alignment != 32:
        kv += gguf_string("general.alignment") + struct.pack("<II", 4, alignment)
        keys += 1
    infos = b""
    data = b""
    for name, tensor in tensors.items():
        data += b"\0" * (-len(data) % alignment)
        dims = list(reversed(tensor.shape))
        infos += (
            gguf_string(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        )
        infos += struct.pack("<IQ", _GGML_TYPE[tensor.dtype], len(data))
        data += tensor.data
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), keys) + kv + infos
    head += b"\0" * (-len(head) % alignment)
    return head + data
