"""Media uploads: multipart/form-data bodies, read under a size cap before they are parsed.

The whole body is counted while it is read (a declared Content-Length above the cap is
refused before anything is read), then handed to Starlette's multipart parser. Malformed
multipart is InvalidInput (400), a body over the cap TooLarge (413). Each file part becomes an
:class:`Upload`; text parts are returned by name for the caller to judge.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from node.errors import InvalidInput, TooLarge

MAX_TEXT_PART_BYTES = 64 * 1024  # an options part is a few hundred bytes of JSON


@dataclass(frozen=True, slots=True)
class Upload:
    """One file part: its form field, the file name the client gave (never trusted), the bytes."""

    field: str
    filename: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Form:
    """A parsed multipart body: its files in order, and its text parts by name."""

    files: tuple[Upload, ...]
    texts: dict[str, str]

    def json_part(self, name: str) -> Any:
        """The text part ``name`` parsed as JSON ({} when absent)."""
        text = self.texts.get(name)
        if text is None:
            return {}
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f'the "{name}" part is not valid JSON ({type(exc).__name__})') from exc


def is_multipart(request: Request) -> bool:
    """True when the request says its body is multipart/form-data."""
    return request.headers.get("content-type", "").lower().startswith("multipart/form-data")


async def read_limited(request: Request, *, limit: int, setting: str) -> bytes:
    """The whole body, or TooLarge as soon as it is (or says it is) over ``limit`` bytes."""
    declared = request.headers.get("content-length")
    too_large = f"the request body is larger than {limit} bytes ({setting})"
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise TooLarge(too_large)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(too_large)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_form(request: Request, *, limit: int, max_files: int, setting: str) -> Form:
    """The multipart body of ``request``: at most ``max_files`` files, ``limit`` bytes in all."""
    if not is_multipart(request):
        raise InvalidInput("send media as multipart/form-data (one part per file)")
    body = await read_limited(request, limit=limit, setting=setting)

    async def stream() -> AsyncGenerator[bytes, None]:
        yield body

    parser = MultiPartParser(
        request.headers, stream(), max_files=max_files, max_fields=16, max_part_size=MAX_TEXT_PART_BYTES
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise InvalidInput(f"malformed multipart/form-data body: {exc.message}") from exc
    files: list[Upload] = []
    texts: dict[str, str] = {}
    try:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                files.append(
                    Upload(field=name, filename=(value.filename or "")[:200], data=await value.read())
                )
            elif name in texts:
                raise InvalidInput(f'give the form field "{name[:40]}" at most once')
            else:
                texts[name] = value
    finally:
        await form.close()
    return Form(files=tuple(files), texts=texts)
