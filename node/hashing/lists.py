"""Hash-list files → signals: how an operator imports a list it already holds (DESIGN §1).

The layout is detected from the first line that is neither blank nor a ``#`` comment:

* plain lines ``TYPE VALUE`` (what python-threatexchange's local file exchange reads and
  writes) or ``TYPE:VALUE``, one signal a line;
* CSV with a header naming a value column (``signal``, ``signal_str``, ``value``, ``hash``…)
  and optionally a type and a category column. ``threatexchange dataset -P --csv`` output
  (``signal_type,signal_str,collab,category,tags``) is read as such.

Each line yields a :class:`ListItem` or a :class:`ListRefusal`; a bad line never stops the rest.
The file is read a line at a time, so memory does not grow with its length.
"""

from __future__ import annotations

import codecs
import csv
import os
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import BinaryIO

from node.errors import InvalidInput
from node.hashing.files import open_regular_file
from node.model import Signal, SignalType, parse_category

MAX_LINE_BYTES = 4096
"""Longest line read. A real line is under 200 bytes (a type, 64 hex digits, a category, a
few tags); the bound keeps memory constant even for a file with no newline at all."""

_VALUE_COLUMNS = ("signal", "signal_str", "signal_value", "value", "hash", "hash_value")
_TYPE_COLUMNS = ("signal_type", "type", "hash_type")
_CATEGORY_COLUMNS = ("category", "harm_category")

# ThreatExchange exports put an opinion class, not a harm category, in "category".
# NEGATIVE_CLASS means the source says the content is NOT harmful: importing it as a
# harmful hash would invert the source's meaning, so such rows are refused.
_OPINION_CLASSES = {"positive_class": True, "investigation_seed": True, "negative_class": False}


@dataclass(frozen=True, slots=True)
class ListItem:
    """One signal read from a hash list, with the category the file gives it (if any)."""

    line: int
    signal: Signal
    category: str | None


@dataclass(frozen=True, slots=True)
class ListRefusal:
    """A line that was not imported. ``reason`` is human text and never contains the hash value."""

    line: int
    reason: str


def read_hash_list(
    path: str | os.PathLike[str], *, default_type: SignalType | None = None
) -> Generator[ListItem | ListRefusal, None, None]:
    """The signals of the hash list at ``path``, one result per non-blank, non-comment line.

    ``default_type`` is the type of values written without one (a bare hex value a line, or a
    CSV without a type column). Raises :class:`InvalidInput` naming the file when it cannot be
    read at all, here for an unreadable path and at the first ``next()`` for a CSV whose first
    line is not a header. ``close()`` the generator to stop early and release the file.
    """
    name = os.fspath(path)
    # Checked now so the caller hears of a bad path at the call, not at the first next().
    open_regular_file(name, what="hash list", error=InvalidInput).close()
    return _read(name, default_type)


class _Refused(Exception):
    """A reason to refuse the current line; becomes a ListRefusal."""


def _read(name: str, default_type: SignalType | None) -> Generator[ListItem | ListRefusal, None, None]:
    with open_regular_file(name, what="hash list", error=InvalidInput) as stream:
        parse_line = None
        for number, text in _text_lines(stream):
            if isinstance(text, ListRefusal):
                yield text
                continue
            if not text.strip() or text.lstrip().startswith("#"):
                continue
            if parse_line is None:
                parse_line = _choose_parser(name, number, text, default_type)
                if isinstance(parse_line, _CsvParser):
                    continue
            try:
                result: ListItem | ListRefusal = parse_line(number, text)
            except _Refused as exc:
                result = ListRefusal(number, str(exc))
            yield result


def _text_lines(stream: BinaryIO) -> Iterator[tuple[int, str | ListRefusal]]:
    """Numbered lines decoded as UTF-8 (a BOM is dropped); undecodable or overlong ones refused."""
    number = 0
    while raw := stream.readline(MAX_LINE_BYTES + 1):
        number += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            _skip_rest_of_line(stream)
            yield number, ListRefusal(number, f"line is longer than {MAX_LINE_BYTES} bytes")
            continue
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        try:
            yield number, raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            yield number, ListRefusal(number, "line is not valid UTF-8 text")


def _skip_rest_of_line(stream: BinaryIO) -> None:
    while (chunk := stream.readline(MAX_LINE_BYTES)) and not chunk.endswith(b"\n"):
        pass


def _choose_parser(
    name: str, number: int, first: str, default_type: SignalType | None
) -> _PlainParser | _CsvParser:
    """Plain lines unless the first line has a comma, which makes it a CSV header."""
    if "," not in first:
        return _PlainParser(default_type)
    try:
        header = _csv_cells(first)
    except _Refused:
        header = []
    layout = _CsvParser.from_header(header, line=number, default_type=default_type)
    if layout is None:
        raise InvalidInput(
            f"hash list {name!r} looks like CSV, but line {number} is not a header naming a "
            f"value column (one of: {', '.join(_VALUE_COLUMNS)})"
        )
    return layout


# --- plain lines -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _PlainParser:
    """``TYPE VALUE`` or ``TYPE:VALUE``; text after ``#`` is a comment (``#`` is never hex)."""

    default_type: SignalType | None

    def __call__(self, number: int, text: str) -> ListItem:
        fields = text.split("#", 1)[0].split()
        if len(fields) == 2:
            kind, value = fields[0].rstrip(":"), fields[1]
        elif len(fields) == 1:
            kind, value = None, fields[0]
        else:
            raise _Refused(f"expected 'TYPE VALUE' or 'TYPE:VALUE', found {len(fields)} fields")
        return ListItem(number, _signal(kind, value, self.default_type), None)


# --- CSV ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _CsvParser:
    """Rows of a CSV list, read by the column positions its header names."""

    header_line: int
    width: int
    value: int
    type: int | None
    category: int | None
    default_type: SignalType | None

    @classmethod
    def from_header(
        cls, cells: list[str], *, line: int, default_type: SignalType | None
    ) -> _CsvParser | None:
        """The layout named by a header row, or None when it names no value column."""
        names = [cell.strip().lower().replace("-", "_").replace(" ", "_") for cell in cells]
        value = _find(names, _VALUE_COLUMNS)
        if value is None:
            return None
        return cls(
            header_line=line,
            width=len(names),
            value=value,
            type=_find(names, _TYPE_COLUMNS),
            category=_find(names, _CATEGORY_COLUMNS),
            default_type=default_type,
        )

    def __call__(self, number: int, text: str) -> ListItem:
        cells = _csv_cells(text)
        if len(cells) != self.width:
            raise _Refused(
                f"row has {len(cells)} fields where the header (line {self.header_line}) has {self.width}"
            )
        kind = cells[self.type] if self.type is not None else None
        signal = _signal(kind, cells[self.value], self.default_type)
        category = cells[self.category] if self.category is not None else None
        return ListItem(number, signal, _category(category))


def _csv_cells(text: str) -> list[str]:
    try:
        return next(csv.reader([text], strict=True), [])
    except csv.Error as exc:
        raise _Refused(f"not a well-formed CSV row ({exc})") from exc


def _find(names: list[str], wanted: tuple[str, ...]) -> int | None:
    """Position of the first column (in ``wanted`` order of preference) the header names."""
    for candidate in wanted:
        if candidate in names:
            return names.index(candidate)
    return None


# --- values ------------------------------------------------------------------------------


def _signal(kind: str | None, value: str, default_type: SignalType | None) -> Signal:
    """A validated signal; refusal reasons describe the value's defect, never the value."""
    kind = (kind or "").strip() or None
    value = value.strip()
    if kind is None and ":" in value:
        kind, _, value = value.partition(":")
    if not value:
        raise _Refused("no signal value")
    signal_type = _signal_type(kind) if kind is not None else default_type
    if signal_type is None:
        raise _Refused("no signal type: write TYPE VALUE or TYPE:VALUE, or give a type column")
    try:
        return Signal(signal_type, value)
    except InvalidInput as exc:
        raise _Refused(str(exc)) from exc


@lru_cache(maxsize=64)
def _signal_type(text: str) -> SignalType:
    """Cached: a list repeats a handful of type names hundreds of thousands of times."""
    try:
        return SignalType.parse(text)
    except InvalidInput as exc:
        known = ", ".join(member.value for member in SignalType)
        raise _Refused(f"unknown signal type{_quoted_type(text)} (known: {known})") from exc


def _quoted_type(text: str) -> str:
    """`` 'name'`` for a plausible type name; nothing for text that could be a hash value.

    Columns get swapped; a type field holding hex digits may be the hash itself, and refusal
    reasons reach logs and terminals.
    """
    looks_like_hex = all(c in "0123456789abcdefABCDEF" for c in text)
    return "" if looks_like_hex or len(text) > 20 else f" {text!r}"


def _category(text: str | None) -> str | None:
    if text is None or not text.strip():
        return None
    opinion = _OPINION_CLASSES.get(text.strip().lower())
    if opinion is not None:
        if not opinion:
            raise _Refused("the source marks this signal NEGATIVE_CLASS (not harmful)")
        return None
    try:
        return parse_category(text)
    except InvalidInput as exc:
        raise _Refused(str(exc)) from exc
