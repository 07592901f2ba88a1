"""Indicators: one shared signal with its labels, as the domain sees it (not as STIX spells it)."""

from __future__ import annotations

import difflib
import enum
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import overload

from node.errors import InvalidInput
from node.model.ids import KeyId
from node.model.provenance import IndicatorNote
from node.model.signals import PDQ_MIN_QUALITY, Signal, SignalType
from node.model.tlp import Tlp

KNOWN_CATEGORIES = (
    "csam",
    "aig-csam",
    "csem",
    "ncii",
    "tvec",
    "election-deepfake",
    "impersonation-deepfake",
    "benign",
    "nudify-service",
    "abusive-model",
)
"""The small shared vocabulary (DESIGN §1). It is open: a bundle may carry its own slug."""

CATEGORY_DESCRIPTIONS = {
    "nudify-service": "a website, app or API that strips clothing from or sexualises images of real"
    ' people ("nudify"/"undress" services), listed by url: or domain:',
    "abusive-model": "a generative model (checkpoint, LoRA, embedding) built or fine-tuned to produce"
    " sexual abuse material or non-consensual intimate imagery, listed by model: or sha256:",
}
"""What the categories added for abusive models and nudify services mean (issue 15; the Safety
by Design principle to remove such models and services from platforms and search results)."""

_CATEGORY = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
INDICATOR_ID = re.compile(r"indicator--[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
"""What :func:`parse_indicator_id` accepts (fullmatch)."""


def parse_category(text: str) -> str:
    """A harm category slug: lowercase letters, digits and dashes, at most 63 characters."""
    slug = text.strip().lower()
    if not _CATEGORY.fullmatch(slug):
        raise InvalidInput(
            "a category is a lowercase slug of letters, digits and '-', e.g. "
            + ", ".join(KNOWN_CATEGORIES[:4])
        )
    return slug


def unknown_category_reason(slug: str) -> str | None:
    """None for a category of the shared vocabulary, else why ``slug`` is refused, with the
    nearest known slug when one is close (a typo such as ``cssam`` must not become a new
    category that partners' lists and TAXII collections carry)."""
    if slug in KNOWN_CATEGORIES:
        return None
    near = difflib.get_close_matches(slug, KNOWN_CATEGORIES, n=1, cutoff=0.6)
    hint = f"did you mean {near[0]!r}? " if near else ""
    return (
        f"unknown category {slug!r}: {hint}known: {', '.join(KNOWN_CATEGORIES)};"
        " give --new-category to publish under a new one"
    )


def parse_indicator_id(text: str) -> str:
    """A STIX indicator id with a version-4 UUID, as Accord creates them."""
    if not isinstance(text, str) or not INDICATOR_ID.fullmatch(text):
        raise InvalidInput("an indicator id looks like indicator--<uuid4>")
    return text


class ContentType(enum.Enum):
    """What kind of media a signal was taken from."""

    IMAGE = "image"
    VIDEO = "video"
    FILE = "file"

    @classmethod
    def parse(cls, text: str) -> ContentType:
        """The content type named ``text`` (``photo`` accepted for ``image``)."""
        name = text.strip().lower()
        name = "image" if name == "photo" else name
        for member in cls:
            if member.value == name:
                return member
        raise InvalidInput(f"unknown content type {text[:20]!r} (image, video, file)")

    @classmethod
    def default_for(cls, signal_type: SignalType) -> ContentType:
        """PDQ is computed from images, vPDQ from videos; cryptographic hashes of any file."""
        if signal_type is SignalType.VPDQ:
            return cls.VIDEO
        return cls.IMAGE if signal_type is SignalType.PDQ else cls.FILE


@dataclass(frozen=True, slots=True)
class Indicator:
    """One version of a shared signal, created by ``origin``.

    Versions of one indicator share ``id`` and differ by ``modified``; a version with
    ``revoked=True`` retracts it for good.
    """

    id: str
    signal: Signal
    category: str
    content_type: ContentType
    tlp: Tlp
    origin: KeyId
    created: datetime
    modified: datetime
    revoked: bool = False
    quality: int | None = None
    valid_until: datetime | None = None
    # The origin's description, labels and, for an attestation, its provenance record.
    note: IndicatorNote | None = None

    def __post_init__(self) -> None:
        parse_indicator_id(self.id)
        parse_category(self.category)
        for stamp in (self.created, self.modified):
            if stamp.tzinfo is None:
                raise InvalidInput("indicator timestamps must be timezone-aware (UTC)")
        if self.modified < self.created:
            raise InvalidInput("an indicator's modified time precedes its created time")
        if self.quality is not None:
            if not 0 <= self.quality <= 100:
                raise InvalidInput("PDQ quality is between 0 and 100")
            if self.signal.type is SignalType.PDQ and self.quality < PDQ_MIN_QUALITY:
                raise InvalidInput(f"PDQ quality {self.quality} is below {PDQ_MIN_QUALITY}")

    def sibling(self, id_: str, signal: Signal) -> Indicator:
        """This version with another ``id_`` and ``signal`` of the same type, checked as the
        constructor checks them. Nothing else is checked again: category, times and quality
        are this one's, held to the rules when it was made, and the quality rule depends only
        on the signal's type. For a reader meeting thousands of indicators alike but for those
        two (node/sync/bundle_text.py), at ~70% of the constructor's cost."""
        parse_indicator_id(id_)
        if signal.type is not self.signal.type:
            raise InvalidInput("a sibling indicator has its signal's type")
        twin = _new_object(Indicator)
        _set_attribute(twin, "id", id_)
        _set_attribute(twin, "signal", signal)
        for name in _SHARED_BY_SIBLINGS:
            _set_attribute(twin, name, getattr(self, name))
        return twin


_new_object = object.__new__
_set_attribute = object.__setattr__  # frozen: the constructor sets its fields the same way
_SHARED_BY_SIBLINGS = tuple(name for name in Indicator.__slots__ if name not in ("id", "signal"))


@dataclass(slots=True)
class Siblings:
    """Indicators alike but for their id and signal value: ``first``'s siblings
    (:meth:`Indicator.sibling`), in order, held as two lists of text rather than as objects.
    Whoever adds to them has checked each id (``INDICATOR_ID``) and each value (in its normal
    form for ``first``'s signal type): :class:`Indicators` builds the objects only when asked."""

    first: Indicator  # the one they are alike to (not itself one of them)
    ids: list[str]
    values: list[str]


class Indicators(Sequence[Indicator]):
    """A bundle's indicators in order, as single indicators and runs of :class:`Siblings`.

    An entry of 20,000 indicators mostly differs only in ids and hashes; a reader of its text
    (node/sync/bundle_text.py) keeps those as text, and storing them (node/store/codec.py)
    builds rows from :meth:`parts` without making 20,000 objects. Iterating or indexing makes
    the indicators, equal to what the constructor makes."""

    __slots__ = ("_count", "_parts")

    def __init__(self, indicators: Iterable[Indicator] = ()) -> None:
        self._parts: list[Indicator | Siblings] = list(indicators)
        self._count = len(self._parts)

    def append(self, indicator: Indicator) -> None:
        """Add one indicator at the end."""
        self._parts.append(indicator)
        self._count += 1

    def append_sibling(self, first: Indicator, id_: str, value: str) -> None:
        """Add ``first``'s sibling with ``id_`` and ``value`` at the end (both checked by the
        caller, see :class:`Siblings`)."""
        last = self._parts[-1] if self._parts else None
        if isinstance(last, Siblings) and last.first is first:
            last.ids.append(id_)
            last.values.append(value)
        else:
            self._parts.append(Siblings(first, [id_], [value]))
        self._count += 1

    def extend(self, part: Indicator | Siblings) -> None:
        """Add a part of another :class:`Indicators` (a run is shared, not copied)."""
        if isinstance(part, Siblings):
            self._parts.append(part)
            self._count += len(part.ids)
        else:
            self.append(part)

    def parts(self) -> Iterator[Indicator | Siblings]:
        """The single indicators and runs of siblings, in order."""
        return iter(self._parts)

    def ids(self) -> Iterator[str]:
        """Each indicator's id, in order, without making the indicators."""
        for part in self._parts:
            if isinstance(part, Siblings):
                yield from part.ids
            else:
                yield part.id

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Indicator]:
        for part in self._parts:
            if isinstance(part, Siblings):
                first, kind = part.first, part.first.signal.type
                for id_, value in zip(part.ids, part.values, strict=True):
                    yield first.sibling(id_, Signal(kind, value))
            else:
                yield part

    @overload
    def __getitem__(self, index: int) -> Indicator: ...
    @overload
    def __getitem__(self, index: slice) -> list[Indicator]: ...
    def __getitem__(self, index: int | slice) -> Indicator | list[Indicator]:
        return list(self)[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Indicators | list | tuple):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, as a list

    def __repr__(self) -> str:
        return f"Indicators({list(self)!r})"
