"""Request bodies and query strings of the HTTP API, converted to the use cases' values.

Validation only: every error is an InvalidInput naming the field, and a malformed signal in a
match batch becomes that item's own error instead of failing the batch. Values given by the
caller are never echoed (a malformed signal may still be most of a restricted hash).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from node.errors import InvalidInput
from node.model import ContentType, KeyId, Signal, Tlp, parse_category
from node.model.accounts import Account
from node.model.match_filters import ListKind, MatchFilter
from node.model.policy import Trust
from node.model.provenance import parse_label
from node.model.queries import IndicatorQuery, IndicatorStatus, SortKey, parse_time_bound
from node.model.review import ContentRef

T = TypeVar("T")

FILTER_FIELDS = frozenset({"categories", "origins", "min_corroboration", "min_trust", "list_kinds"})
# A match that names the caller's content is acted on (rules, webhooks, the review queue).
ACT_FIELDS = frozenset({"content", "decision"})
MATCH_FIELDS = FILTER_FIELDS | ACT_FIELDS | {"signals"}
OPTION_FIELDS = FILTER_FIELDS | ACT_FIELDS
QUERY_PARAMETERS = frozenset(
    {
        "signal",
        "near",
        "distance",
        "category",
        "origin",
        "tlp",
        "status",
        "content_type",
        "since",
        "until",
        "sort",
        "limit",
        "label",
    }
)


@dataclass(frozen=True, slots=True)
class RefusedItem:
    """A batch item that cannot be matched: where it was, and why."""

    label: str
    error: str


@dataclass(frozen=True, slots=True)
class MatchRequest:
    """A match batch: each item parsed or refused, in order, and the caller's filter."""

    items: tuple[Signal | RefusedItem, ...]
    filter: MatchFilter
    act: ActOn | None = None  # the caller's content: act on the matches (None: only answer)

    @property
    def signals(self) -> list[Signal]:
        """The items that parsed, in order."""
        return [item for item in self.items if isinstance(item, Signal)]


def match_request(
    body: object, *, max_batch: int, account: Account, names: Mapping[KeyId, str]
) -> MatchRequest:
    """The batch ``body`` asks to match, filtered for ``account``."""
    if not isinstance(body, dict):
        raise InvalidInput('the body must be a JSON object like {"signals": ["pdq:..."]}')
    unknown = set(body) - MATCH_FIELDS
    if unknown:
        raise InvalidInput(
            f"unknown field(s) {', '.join(sorted(unknown))} ({', '.join(sorted(MATCH_FIELDS))})"
        )
    items = body.get("signals")
    if not isinstance(items, list) or not items:
        raise InvalidInput('"signals" must be a non-empty list of TYPE:VALUE strings')
    if len(items) > max_batch:
        raise InvalidInput(f"a match request takes at most {max_batch} signals (limits.max_batch_signals)")
    return MatchRequest(
        items=tuple(_signal_or_refused(i, item) for i, item in enumerate(items)),
        filter=match_filter(body, account=account, names=names),
        act=act_on_request(body),
    )


@dataclass(frozen=True, slots=True)
class ActOn:
    """The caller's piece of content the matches belong to, and its own decision if any."""

    content: ContentRef
    decision: str | None


def act_on_request(body: Mapping[str, Any]) -> ActOn | None:
    """``{"content": {"id", "url"}, "decision"}`` of a match request, or None without content."""
    content = body.get("content")
    if content is None:
        if "decision" in body:
            raise InvalidInput('"decision" needs "content": the piece of content it was made about')
        return None
    if (
        not isinstance(content, dict)
        or set(content) - {"id", "url"}
        or not isinstance(content.get("id"), str)
    ):
        raise InvalidInput('"content" must be an object like {"id": "upload-1", "url": "https://..."}')
    url = content.get("url")
    decision = body.get("decision")
    if url is not None and not isinstance(url, str):
        raise InvalidInput('"content.url" must be a string')
    if decision is not None and not isinstance(decision, str):
        raise InvalidInput('"decision" must be a string (the caller\'s own decision, e.g. "blocked")')
    return ActOn(ContentRef(content["id"], url), decision)


def match_filter(body: Mapping[str, Any], *, account: Account, names: Mapping[KeyId, str]) -> MatchFilter:
    """The per-request filter ``body`` asks for (its filter fields), under ``account``'s ceiling."""
    min_trust = body.get("min_trust", Trust.OBSERVE.value)
    if not isinstance(min_trust, str):
        raise InvalidInput('"min_trust" must be one of auto, review, observe')
    return MatchFilter(
        max_tlp=account.max_tlp,
        categories=frozenset(parse_category(c) for c in _strings(body, "categories")),
        origins=frozenset(origin_key(o, names) for o in _strings(body, "origins")),
        min_corroboration=_integer(body.get("min_corroboration", 1), "min_corroboration"),
        min_trust=Trust.parse(min_trust),
        list_kinds=frozenset(ListKind.parse(k) for k in _strings(body, "list_kinds")),
    )


def media_options(body: object, *, account: Account, names: Mapping[KeyId, str]) -> MatchFilter:
    """The ``options`` part of a multipart match: a JSON object of filter fields only."""
    if not isinstance(body, dict):
        raise InvalidInput('the "options" part must be a JSON object like {"min_trust": "auto"}')
    unknown = set(body) - OPTION_FIELDS
    if unknown:
        raise InvalidInput(
            f"unknown option(s) {', '.join(sorted(unknown))} ({', '.join(sorted(OPTION_FIELDS))})"
        )
    return match_filter(body, account=account, names=names)


def _signal_or_refused(position: int, item: object) -> Signal | RefusedItem:
    label = f"signals[{position}]"
    if not isinstance(item, str):
        return RefusedItem(label, "a signal is a string TYPE:VALUE")
    try:
        return Signal.parse(item)
    except InvalidInput as exc:
        return RefusedItem(label, str(exc))


def indicator_query(
    params: Mapping[str, Sequence[str]], *, account: Account, names: Mapping[KeyId, str]
) -> IndicatorQuery | None:
    """The query ``params`` ask for, within ``account``'s maximum TLP; None when the caller
    asked only for TLP levels above it (the answer is then empty, like for nothing held)."""
    unknown = set(params) - QUERY_PARAMETERS
    if unknown:
        raise InvalidInput(
            f"unknown parameter(s) {', '.join(sorted(unknown))} ({', '.join(sorted(QUERY_PARAMETERS))})"
        )
    asked = frozenset(Tlp.parse(t) for t in params.get("tlp", ()))
    tlps = (asked or frozenset(Tlp)) & account.visible_tlps
    if not tlps:
        return None
    return IndicatorQuery(
        signal=_optional(params, "signal", Signal.parse),
        near=_optional(params, "near", Signal.parse),
        distance=_integer(_single(params, "distance") or "31", "distance"),
        categories=frozenset(parse_category(c) for c in params.get("category", ())),
        origins=frozenset(origin_key(o, names) for o in params.get("origin", ())),
        tlps=tlps,
        statuses=frozenset(IndicatorStatus.parse(s) for s in params.get("status", ())),
        content_types=frozenset(ContentType.parse(c) for c in params.get("content_type", ())),
        since=_optional(params, "since", parse_time_bound),
        until=_optional(params, "until", parse_time_bound),
        sort=SortKey.parse(_single(params, "sort") or SortKey.NEWEST.value),
        limit=_integer(_single(params, "limit") or "100", "limit"),
        include_red=Tlp.RED in tlps,  # only an account whose maximum TLP is red gets here with it
        labels=frozenset(parse_label(label) for label in params.get("label", ())),
    )


def origin_key(text: object, names: Mapping[KeyId, str]) -> KeyId:
    """An origin named by its local name (partner, source or this node) or its key id."""
    if isinstance(text, str):
        by_name = {name: key for key, name in names.items()}
        if text in by_name:
            return by_name[text]
        if text in names:
            return KeyId(text)
    raise InvalidInput("an origin is a partner's or this node's name or key id (see 'accord partner list')")


def _strings(body: Mapping[str, Any], field: str) -> list[str]:
    value = body.get(field, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f'"{field}" must be a list of strings')
    return value


def _integer(value: object, field: str) -> int:
    if isinstance(value, bool):
        raise InvalidInput(f'"{field}" must be an integer')
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 9:
        return int(value)
    raise InvalidInput(f'"{field}" must be an integer')


def _single(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = params.get(name, ())
    if len(values) > 1:
        raise InvalidInput(f"give the parameter {name} at most once")
    return values[0] if values else None


def _optional(params: Mapping[str, Sequence[str]], name: str, parse: Callable[[str], T]) -> T | None:
    text = _single(params, name)
    return None if text is None else parse(text)
