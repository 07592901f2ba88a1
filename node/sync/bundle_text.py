"""Reading an entry's bundle from its canonical text: most indicators are never parsed as JSON.

An origin writes each body as RFC 8785 canonical JSON (node/feed/canonical.py), and an entry's
indicators mostly differ only in their ``id`` and the hash in their ``pattern``. So the bytes of
two such indicators are the same but for those two strings. This reader walks the bundle's text
object by object. The first indicator of each shape is parsed strictly and read by the STIX
reader (:class:`node.stix.reader.BundleReader`) like any object; when the fast path accepted it
and its text is exactly its canonical serialisation, its text becomes a *template*: the same
characters with the id and the hash left open, each open part held to what the fast path itself
checks (``parse_indicator_id``'s UUID-4 form; the lowercase hex of the signal type's length).
Each later object whose text fits a template is that indicator with another id and hash.

Why this is exactly what parsing would give: canonical JSON has one text per value, and a
string of UUID or hex characters needs no escape; so an object whose text fits the template is
the canonical text of the learned object's value with that id and hash, parsed it has no
duplicate key, and the fast path would read it as the learned indicator with that id and
signal (every other field is the same text). It is kept as that id and hash, a sibling of
the learned indicator (node.model.Siblings: the id held to ``INDICATOR_ID`` as the model's
constructor holds it, the hash already in its normal form), so that storing an entry builds
its rows without an object per indicator; repeats of a version are dropped by the same reader.

Anything else takes the ordinary path with no difference in outcome: an object that fits no
template is parsed strictly where it starts and read by the same reader, and the moment the text
is not what this walk expects (whitespace, another key order, a bundle property more or less,
more than ``max_objects`` objects, bad UTF-8 or JSON) it returns None and the caller parses
and reads the whole body as before, which decides (and names) what is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from node.errors import MalformedEntry
from node.feed.canonical import canonical_json
from node.feed.entries import strict_json_at
from node.model import Indicator, KeyId, SignalType
from node.model.indicators import INDICATOR_ID
from node.stix.fastpath import hash_pattern
from node.stix.reader import BundleContents, BundleReader

_HEAD: Final = re.compile(
    r'\{"id":"bundle--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}","objects":\['
)
_TAIL: Final = '],"type":"bundle"}'
MAX_TEMPLATES: Final = 8  # shapes per bundle (an entry's indicators share one or a few)
# Marks put where the id and the pattern go, to find them in a canonical text: private-use
# characters, written as themselves by canonical JSON; a text holding them already is not used.
_ID_MARK: Final = "\ue000"
_PATTERN_MARK: Final = "\ue001"


_ID_CHARS: Final = len("indicator--") + 36  # every id INDICATOR_ID accepts has this length


@dataclass(frozen=True, slots=True)
class _Template:
    """The text of an indicator shape with its id and hash open, and the indicator it read as:
    ``before`` + id + ``between`` + pattern + ``after``. The three are compared as text (a
    memory compare each), the pattern by ``pattern`` (the fast path's own), the id by the
    model's check (``INDICATOR_ID``, of fixed length) as the indicator is built."""

    before: str
    between: str
    pattern: re.Pattern[str]
    after: str
    read: Indicator  # each later indicator is its sibling (another id and signal)

    def fit(self, text: str, position: int) -> tuple[str, str, int] | None:
        """The id and hash of the object at ``position`` if it has this shape, and where it
        ends; None when it does not."""
        if not text.startswith(self.before, position):
            return None
        at = position + len(self.before)
        id_ = text[at : at + _ID_CHARS]
        at += _ID_CHARS
        if not text.startswith(self.between, at):
            return None
        value = self.pattern.match(text, at + len(self.between))
        if value is None or not text.startswith(self.after, value.end()):
            return None
        return id_, value[1], value.end() + len(self.after)


def read_entry_text(plaintext: bytes, *, origin: KeyId, max_objects: int) -> BundleContents | None:
    """What :func:`node.stix.read_entry_bundle` reads from ``plaintext`` parsed strictly, or
    None when the walk cannot tell (the caller then parses and reads it whole)."""
    try:
        text = plaintext.decode("utf-8")
    except UnicodeDecodeError:
        return None
    head = _HEAD.match(text)
    if head is None or not text.endswith(_TAIL):
        return None
    walk = _Walk(text, BundleReader(origin=origin))
    end, position, index = len(text) - len(_TAIL), head.end(), 0
    while True:
        if index >= max_objects:
            return None  # the whole read refuses it, saying how many
        after = walk.take(position, index)
        if after is None:
            return None
        if after == end:
            return walk.reader.contents
        if text[after] != ",":
            return None
        position, index = after + 1, index + 1


class _Walk:
    """The templates learned so far in one bundle's text, and the reader they feed."""

    def __init__(self, text: str, reader: BundleReader) -> None:
        self.text = text
        self.reader = reader
        self.templates: list[_Template] = []

    def take(self, position: int, index: int) -> int | None:
        """Read the object at ``position``; where it ends, or None when it is not JSON."""
        for template in self.templates:
            fits = template.fit(self.text, position)
            if fits is None:
                continue
            id_, value, end = fits
            # Held to what Indicator.sibling checks: an id that is not INDICATOR_ID (a quote in
            # it, another length) is read, and named, by the ordinary path. The value is the
            # signal's normal form: the template's pattern is the fast path's own.
            if not INDICATOR_ID.fullmatch(id_):
                break
            self.reader.take_sibling(index, template.read, id_, value)
            return end
        try:
            stix, after = strict_json_at(self.text, position)
        except (ValueError, MalformedEntry, RecursionError):
            return None
        fast = self.reader.take(index, stix)
        if fast is not None and len(self.templates) < MAX_TEMPLATES:
            learned = _template(stix, fast, self.text[position:after])
            if learned is not None:
                self.templates.append(learned)
        return after


def _template(stix: dict[str, Any], indicator: Indicator, text: str) -> _Template | None:
    """The template of ``stix`` (read by the fast path as ``indicator``), if its text is
    canonical and its signal is a fixed-length hash."""
    kind = indicator.signal.type
    pattern = hash_pattern(kind)
    if pattern is None or kind is SignalType.VPDQ or kind is SignalType.MODEL:
        return None
    try:
        if canonical_json(stix).decode("utf-8") != text:
            return None
        marked = canonical_json({**stix, "id": _ID_MARK, "pattern": _PATTERN_MARK}).decode("utf-8")
    except (ValueError, TypeError):
        return None
    if text.count(_ID_MARK) or text.count(_PATTERN_MARK) or marked.count(_ID_MARK) != 1:
        return None
    before, rest = marked.split(_ID_MARK)
    if rest.count(_PATTERN_MARK) != 1:
        return None
    between, after = rest.split(_PATTERN_MARK)
    return _Template(
        before,
        between,
        pattern,
        after,
        indicator,
    )
