"""Hasher-Matcher-Actioner 2.0 compatible lookups: the paths an HMA upload pipeline calls.

HMA (facebook/ThreatExchange, OpenMediaMatch) answers lookups with *banks*: named lists of
*bank content*, each with an integer id. An Accord node maps them as follows, so an HMA
client reads its answers unchanged:

- a bank is ``<origin name>:<category>`` (e.g. ``Example NGO:csam``): the partner, source or
  this node that published the indicator, and its harm category;
- ``bank_content_id`` is a stable integer derived from the indicator id (the first 52 bits of
  its UUID: exact in any JSON number); ``indicator_id`` is added beside it for ``accord show``
  and ``GET /v1/indicators/{id}``;
- ``distance`` is a string, as HMA's ``pretty_str`` gives it (PDQ Hamming distance, 0 exact).

Signal types by HMA name: ``pdq``, ``video_md5`` (the file's MD5), and Accord's own ``md5``,
``sha1``, ``sha256``. Every bank is enabled for every lookup (Accord has no coin flip), so
``seed`` and ``bypass_coinflip`` change nothing. Fetching a ``url`` is refused: the node never
fetches arbitrary URLs for a caller; upload the bytes instead (``POST /m/lookup``).

Every answer is limited to the account's maximum TLP, like ``/v1/match``; a safelisted query
has no matches. Errors are the API's problem details with HMA's ``message`` member added (its
``ErrorResponse``), so either kind of client reads them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from node.errors import AccordError, InvalidInput, NotReady
from node.http.endpoints import Endpoints
from node.http.problems import PROBLEM_MEDIA_TYPE, problem_for
from node.http.routing import EVERY_ROLE, ApiRoute
from node.model import Match, MatchResult, Signal, SignalType
from node.model.accounts import Account
from node.model.match_filters import MatchFilter

SIGNAL_TYPES: Mapping[str, SignalType] = {
    "pdq": SignalType.PDQ,
    "video_md5": SignalType.MD5,
    "md5": SignalType.MD5,
    "sha1": SignalType.SHA1,
    "sha256": SignalType.SHA256,
}
CONTENT_FIELDS = ("photo", "video")  # HMA's content type names: the file part's field name
TRUE = frozenset({"true", "1", "yes", "on"})


class HmaLookups:
    """The HMA-compatible handlers, over the same matcher and media hashing as /v1/match."""

    def __init__(
        self,
        *,
        endpoints: Endpoints,
        match: Callable[[Sequence[Signal]], list[MatchResult]],
        ready: Callable[[], bool],
    ) -> None:
        self._endpoints = endpoints
        self._match = match
        self._ready = ready

    def routes(self) -> list[ApiRoute]:
        """The HMA paths served; any account may look up (its maximum TLP filters answers)."""
        return [
            ApiRoute("GET", "/m/raw_lookup", _hma_errors(self.raw_lookup), EVERY_ROLE),
            ApiRoute("GET", "/m/lookup", _hma_errors(self.lookup_get), EVERY_ROLE),
            ApiRoute("POST", "/m/lookup", _hma_errors(self.lookup_post), EVERY_ROLE),
            ApiRoute("POST", "/h/hash", _hma_errors(self.hash_post), EVERY_ROLE),
        ]

    async def raw_lookup(self, request: Request, account: Account | None) -> Response:
        """``GET /m/raw_lookup?signal_type=pdq&signal=<hex>[&include_distance=true][&banks=A,B]``
        -> ``{"matches": [id, ...]}`` or, with distances, ``[{"bank_content_id", "distance"}]``."""
        account = _account(account)
        signal = _signal(request.query_params.get("signal_type"), request.query_params.get("signal"))
        matches = await self._matches(signal, account, _banks(request))
        if request.query_params.get("include_distance", "false").lower() in TRUE:
            return JSONResponse({"matches": [_content(m) for m in matches]})
        return JSONResponse({"matches": [content_id(m.indicator_id) for m in matches]})

    async def lookup_get(self, request: Request, account: Account | None) -> Response:
        """``GET /m/lookup?signal_type=pdq&signal=<hex>[&banks=A,B]`` -> ``{bank: [content]}``."""
        account = _account(account)
        if request.query_params.get("url"):
            raise InvalidInput(
                "this node does not fetch URLs for a caller; upload the media (POST /m/lookup)"
                " or look up its hash (signal_type and signal)"
            )
        params = request.query_params
        if not params.get("signal") or not params.get("signal_type"):
            raise InvalidInput("Either url or both signal and signal_type are required")
        signal = _signal(params.get("signal_type"), params.get("signal"))
        return JSONResponse(_by_bank(await self._matches(signal, account, _banks(request))))

    async def lookup_post(self, request: Request, account: Account | None) -> Response:
        """``POST /m/lookup`` with one file part named ``photo`` or ``video`` ->
        ``{signal_type: {bank: [content]}}``."""
        account = _account(account)
        hashes = await self._hashes(request)
        banks = _banks(request)
        answer: dict[str, Any] = {}
        for name, signal in hashes.items():
            answer[name] = _by_bank(await self._matches(signal, account, banks))
        return JSONResponse(answer)

    async def hash_post(self, request: Request, account: Account | None) -> Response:
        """``POST /h/hash`` with one file part named ``photo`` or ``video`` -> ``{signal_type: value}``."""
        _account(account)
        hashes = await self._hashes(request)
        return JSONResponse({name: signal.value for name, signal in hashes.items()})

    async def _hashes(self, request: Request) -> dict[str, Signal]:
        """The HMA-named signals of the one uploaded file (HMA takes one file a request)."""
        form = await self._endpoints.read_media(request, max_files=1)
        if len(form.files) != 1 or form.texts:
            raise InvalidInput("Only one file allowed per request, in a part named photo or video")
        upload = form.files[0]
        if upload.field not in CONTENT_FIELDS:
            raise InvalidInput(f"no such content_type: the file part is named {' or '.join(CONTENT_FIELDS)}")
        signals, _notes = await self._endpoints.hash_upload(upload)
        wanted = _types(request)
        named = {_hma_name(s.type, upload.field): s for s in signals}
        return {name: s for name, s in named.items() if wanted is None or name in wanted}

    async def _matches(self, signal: Signal, account: Account, banks: frozenset[str] | None) -> list[Match]:
        if not self._ready():
            raise NotReady("index not yet ready: the match lists are still loading")
        (result,) = await run_in_threadpool(self._match, [signal])
        visible = MatchFilter(max_tlp=account.max_tlp).apply(result).matches
        return [m for m in visible if banks is None or bank_name(m) in banks]


def _hma_errors(
    handler: Callable[[Request, Account | None], Awaitable[Response]],
) -> Callable[[Request, Account | None], Awaitable[Response]]:
    """``handler`` with its errors as problem details plus HMA's ``message``."""

    async def answer(request: Request, account: Account | None) -> Response:
        try:
            return await handler(request, account)
        except AccordError as exc:
            plain = problem_for(exc)
            body = json.loads(bytes(plain.body))
            headers = {
                k: v for k, v in plain.headers.items() if k.lower() not in {"content-length", "content-type"}
            }
            return JSONResponse(
                {**body, "message": body["detail"]},
                status_code=plain.status_code,
                headers=headers,
                media_type=PROBLEM_MEDIA_TYPE,
            )

    return answer


def bank_name(match: Match) -> str:
    """The HMA bank a match belongs to: its origin's local name and its category."""
    return f"{match.origin_name}:{match.category}"


def content_id(indicator_id: str) -> int:
    """A stable integer for an indicator id (52 bits of its UUID), as HMA's bank_content_id."""
    try:
        return uuid.UUID(indicator_id.removeprefix("indicator--")).int >> 76
    except ValueError:  # not a UUID (never for indicators this node holds): a hash of the id
        return int.from_bytes(uuid.uuid5(uuid.NAMESPACE_URL, indicator_id).bytes[:7]) >> 4


def _content(match: Match) -> dict[str, Any]:
    return {
        "bank_content_id": content_id(match.indicator_id),
        "distance": str(match.distance),
        "indicator_id": match.indicator_id,
    }


def _by_bank(matches: Sequence[Match]) -> dict[str, list[dict[str, Any]]]:
    answer: dict[str, list[dict[str, Any]]] = {}
    for m in matches:
        answer.setdefault(bank_name(m), []).append(_content(m))
    return answer


def _signal(type_name: str | None, value: str | None) -> Signal:
    if not type_name:
        raise InvalidInput("signal_type is required (pdq, video_md5, md5, sha1, sha256)")
    if not value:
        raise InvalidInput("signal is required")
    kind = SIGNAL_TYPES.get(type_name.strip().lower())
    if kind is None:
        raise InvalidInput(f"No such SignalType {type_name[:20]!r} (pdq, video_md5, md5, sha1, sha256)")
    return Signal.parse(f"{kind.value}:{value.strip()}")


def _hma_name(kind: SignalType, field: str) -> str:
    if kind is SignalType.MD5 and field == "video":
        return "video_md5"
    return kind.value


def _banks(request: Request) -> frozenset[str] | None:
    text = request.query_params.get("banks")
    return frozenset(b.strip() for b in text.split(",") if b.strip()) if text else None


def _types(request: Request) -> frozenset[str] | None:
    text = request.query_params.get("types")
    return frozenset(t.strip() for t in text.split(",") if t.strip()) if text else None


def _account(account: Account | None) -> Account:
    if account is None:
        raise InvalidInput("this endpoint needs an API token")  # unreachable: every route is guarded
    return account
