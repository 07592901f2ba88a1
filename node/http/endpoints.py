"""Media matching, near queries, provenance and curation over HTTP (issue 14).

``POST /v1/match`` with multipart/form-data hashes each file part through the node's media
gate (the same hashing and limits as the gRPC Local.Match media path) and answers one result
per file. ``/v1/indicators/near``, ``/v1/indicators/{id}`` and the curation endpoints call the
same use cases as ``accord query --near``, ``accord show``, ``accord contribute``, ``revoke``,
``expire`` and ``relabel``, and answer with their ``--json`` shapes. ``POST /v1/indicators``
with multipart/form-data contributes media files (a case-management system's evidence), hashed
as ``accord contribute FILE`` hashes them.

The account's maximum TLP bounds every answer and every write: an indicator above it is
answered exactly like one the node does not hold (404), and nothing can be relabelled above it
(403). Contributing needs an admin or contributor whose maximum is red: a contribution is screened against
everything the node published, and its refusals name the TLP of what is already shared.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from node.errors import AccordError, Forbidden, InvalidInput, NotFound, NotReady, Overloaded
from node.http.limits import read_json_body
from node.http.requests import act_on_request, indicator_query, media_options
from node.http.routing import ANALYSTS, CURATORS, ApiRoute
from node.http.uploads import Form, Upload, is_multipart, read_form
from node.model import ContentType, KeyId, MatchResult, Signal, Tlp, parse_category
from node.model.accounts import Account
from node.model.match_filters import MatchFilter
from node.model.queries import IndicatorQuery, QueryAnswer, parse_time_bound
from node.model.review import ContentRef
from node.model.shapes import match_result_json, query_row_json

OPTIONS_PART = "options"
CONTRIBUTE_FIELDS = frozenset(
    {
        "signals",
        "category",
        "tlp",
        "to",
        "groups",
        "valid_until",
        "content_type",
        "force",
        "force_warninglisted",
        "new_category",
        "any_file",
    }
)
RELABEL_FIELDS = frozenset({"category", "content_type", "tlp", "to", "groups", "new_category"})
NEAR_PARAMETERS = frozenset({"signal", "distance", "limit"})
NOT_HELD = "this node holds no indicator {target} visible to this account"

MediaSignals = Callable[[bytes], tuple[list[Signal], list[str]]]


@dataclass(frozen=True, slots=True)
class Contribution:
    """What ``POST /v1/indicators`` asks to publish (the fields of ``accord contribute``)."""

    signals: tuple[str, ...]
    category: str
    tlp: Tlp
    recipients: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    valid_until: datetime | None = None
    content_type: ContentType | None = None
    force: bool = False
    force_warninglisted: bool = False
    new_category: bool = False
    media: tuple[Upload, ...] = ()  # uploaded files, hashed like ``accord contribute FILE``
    any_file: bool = False  # share a file that is not media by its md5 and sha256 (--any-file)


@dataclass(frozen=True, slots=True)
class Relabel:
    """What ``POST /v1/indicators/{id}/relabel`` asks to change (``accord relabel``)."""

    category: str | None
    content_type: ContentType | None
    tlp: Tlp | None
    recipients: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    new_category: bool = False


@dataclass(frozen=True, slots=True)
class EndpointServices:
    """The use cases these endpoints call (handed in by node/app/http_api.py). ``actor`` is
    ``api:<account>``, the name the audit log records for the call."""

    media_signals: MediaSignals  # media bytes -> (signals, notes), under the node's media limits
    match: Callable[[Sequence[Signal]], list[MatchResult]]
    names: Callable[[], Mapping[KeyId, str]]
    query: Callable[[IndicatorQuery, str], QueryAnswer]  # (query, actor)
    show: Callable[[str, bool, str], list[dict[str, Any]]]  # (target, include_red, actor) -> show --json
    tlps_of: Callable[[str], list[Tlp]]  # TLP of each indicator a target names (not audited)
    contribute: Callable[[Contribution, str], dict[str, Any]]  # -> contribute --json
    revoke: Callable[[str, str], dict[str, Any]]  # (target, actor) -> revoke --json
    expire: Callable[[str, datetime, str], dict[str, Any]]
    relabel: Callable[[str, Relabel, str], dict[str, Any]]
    # act on one piece of the caller's content (an ``options.content`` of a media match)
    respond: Callable[[ContentRef, Sequence[MatchResult], str | None], dict[str, Any]] | None = None


@dataclass(frozen=True, slots=True)
class EndpointSettings:
    """Limits of the media and curation endpoints (from ``[http]`` and ``[limits]``)."""

    max_media_bytes: int = 32 * 1024 * 1024
    max_media_files: int = 16
    max_body_bytes: int = 4 * 1024 * 1024
    max_batch: int = 10_000


class Endpoints:
    """The handlers of this module, bound to the node's use cases."""

    def __init__(self, services: EndpointServices, settings: EndpointSettings) -> None:
        self._services = services
        self._settings = settings

    def routes(self) -> list[ApiRoute]:
        """Every route this module serves, with who may call it."""
        return [
            ApiRoute("GET", "/v1/indicators/near", self.near, ANALYSTS),
            ApiRoute("POST", "/v1/indicators", self.contribute, CURATORS),
            ApiRoute("GET", "/v1/indicators/{id}", self.show, ANALYSTS),
            ApiRoute("POST", "/v1/indicators/{id}/revoke", self.revoke, CURATORS),
            ApiRoute("POST", "/v1/indicators/{id}/expire", self.expire, CURATORS),
            ApiRoute("POST", "/v1/indicators/{id}/relabel", self.relabel, CURATORS),
        ]

    # --- media --------------------------------------------------------------------------

    async def read_media(self, request: Request, *, max_files: int | None = None) -> Form:
        """The multipart body of a media request, within the media limits."""
        return await read_form(
            request,
            limit=self._settings.max_media_bytes,
            max_files=max_files or self._settings.max_media_files,
            setting="http.max_media_bytes",
        )

    async def hash_upload(self, upload: Upload) -> tuple[list[Signal], list[str]]:
        """The signals of one uploaded file and notes on what could not be used (a media bomb
        or an image over the pixel limit gets no PDQ, and a note says so). Overloaded (503)
        when the node's media pixel budget stays full; an empty file is InvalidInput."""
        if not upload.data:
            raise InvalidInput("the file part is empty")
        return await run_in_threadpool(self._services.media_signals, upload.data)

    async def match_media(self, request: Request, account: Account | None) -> Response:
        """``POST /v1/match`` as multipart/form-data: one result per file part, in order."""
        account = _required(account)
        form = await self.read_media(request)
        unknown = set(form.texts) - {OPTIONS_PART}
        if unknown:
            raise InvalidInput(f'the only text part is "{OPTIONS_PART}" (a JSON object of match filters)')
        if not form.files:
            raise InvalidInput("attach at least one media file (a file part of multipart/form-data)")
        options = form.json_part(OPTIONS_PART)
        wants_names = isinstance(options, dict) and "origins" in options
        names = await run_in_threadpool(self._services.names) if wants_names else {}
        chosen = media_options(options, account=account, names=names)
        act = act_on_request(options) if isinstance(options, dict) else None
        results: list[dict[str, Any]] = []
        matched: list[MatchResult] = []
        for i, upload in enumerate(form.files):
            shown, found = await self._media_result(i, upload, chosen)
            results.append(shown)
            matched += found
        if act is None:
            return JSONResponse({"results": results})
        if self._services.respond is None:
            raise NotReady("this node does not act on matches (no action services wired)")
        action = await run_in_threadpool(self._services.respond, act.content, matched, act.decision)
        return JSONResponse({"results": results, "action": action})

    async def _media_result(
        self, position: int, upload: Upload, chosen: MatchFilter
    ) -> tuple[dict[str, Any], list[MatchResult]]:
        """One file's answer, and its results under ``chosen`` (for acting on the content)."""
        label = {"query": f"files[{position}]", "filename": upload.filename}
        try:
            signals, notes = await self.hash_upload(upload)
        except Overloaded:
            raise  # the node is at capacity: the whole request is refused (503), not one item
        except AccordError as exc:
            return {**label, "error": str(exc), "results": [], "notes": []}, []
        raw = await run_in_threadpool(self._services.match, signals) if signals else []
        matched = [chosen.apply(r) for r in raw]
        results = [match_result_json(s.type.value, r) for s, r in zip(signals, matched, strict=True)]
        return {**label, "results": results, "notes": notes}, matched

    # --- queries --------------------------------------------------------------------------

    async def near(self, request: Request, account: Account | None) -> Response:
        """``accord query --near``: indicators within a PDQ Hamming distance of ``signal``."""
        account = _required(account)
        params = {key: request.query_params.getlist(key) for key in request.query_params}
        unknown = set(params) - NEAR_PARAMETERS
        if unknown:
            raise InvalidInput(f"unknown parameter(s) {', '.join(sorted(unknown))} (signal, distance, limit)")
        signal = params.pop("signal", [])
        if len(signal) != 1:
            raise InvalidInput("give one signal=pdq:<64 hex> to search near")
        names = await run_in_threadpool(self._services.names)
        query = indicator_query(
            {**params, "near": signal, "sort": ["distance"]}, account=account, names=names
        )
        if query is None:  # every account sees CLEAR at least; kept for the type
            return JSONResponse({"rows": [], "truncated": False})
        answer = await run_in_threadpool(self._services.query, query, _actor(account))
        rows = [query_row_json(r) for r in answer.rows if account.may_see(r.indicator.tlp)]
        return JSONResponse({"rows": rows, "truncated": answer.truncated})

    async def show(self, request: Request, account: Account | None) -> Response:
        """``accord show --json`` of one indicator id (or every indicator listing a signal)."""
        account = _required(account)
        target = _target(request)
        found = await run_in_threadpool(
            self._services.show, target, account.may_see(Tlp.RED), _actor(account)
        )
        visible = [item for item in found if account.may_see(Tlp.parse(item["tlp"]))]
        if not visible:
            raise NotFound(NOT_HELD.format(target=_named(target)))
        return JSONResponse(visible)

    # --- curation -------------------------------------------------------------------------

    async def contribute(self, request: Request, account: Account | None) -> Response:
        """``accord contribute --json``: publish signals (JSON) or media files (multipart, one
        part per file and a JSON part named ``options`` with the other fields) to our feed."""
        account = _required(account)
        if not account.may_see(Tlp.RED):
            # A contribution is screened against everything this node has published, at any
            # TLP: a refusal names the TLP and category an existing indicator is shared under.
            # Answering an account capped below RED would tell it about RED indicators.
            # Refused before the body is read: an upload is not buffered for a refusal.
            raise Forbidden(
                f"account {account.name} may not contribute: contributing needs an admin or contributor"
                f" account whose maximum TLP is red (this one's is {account.max_tlp.value})"
            )
        if is_multipart(request):
            asked = await self._media_contribution(request)
        else:
            body = await read_json_body(request, limit=self._settings.max_body_bytes)
            asked = contribution(body, max_batch=self._settings.max_batch)
        return JSONResponse(await run_in_threadpool(self._services.contribute, asked, _actor(account)))

    async def _media_contribution(self, request: Request) -> Contribution:
        """The files of a multipart contribution, with the fields of its ``options`` part."""
        form = await self.read_media(request)
        unknown = set(form.texts) - {OPTIONS_PART}
        if unknown:
            raise InvalidInput(
                f'the only text part is "{OPTIONS_PART}" (a JSON object: category, tlp, to, ...)'
            )
        if not form.files:
            raise InvalidInput("attach at least one media file (a file part of multipart/form-data)")
        empty = [i for i, upload in enumerate(form.files) if not upload.data]
        if empty:
            raise InvalidInput(f"file part files[{empty[0]}] is empty")
        options = form.json_part(OPTIONS_PART)
        return replace(
            contribution(options, max_batch=self._settings.max_batch, signals_required=False),
            media=tuple(form.files),
        )

    async def revoke(self, request: Request, account: Account | None) -> Response:
        """``accord revoke --json`` of one of this node's indicators."""
        account = _required(account)
        target = await self._visible_target(request, account)
        await _empty_body(request, self._settings.max_body_bytes)
        return JSONResponse(await run_in_threadpool(self._services.revoke, target, _actor(account)))

    async def expire(self, request: Request, account: Account | None) -> Response:
        """``accord expire --at --json``: the indicator stops matching from ``at``."""
        account = _required(account)
        target = await self._visible_target(request, account)
        body = _object(await read_json_body(request, limit=self._settings.max_body_bytes), {"at"})
        at = body.get("at")
        if not isinstance(at, str):
            raise InvalidInput('"at" is required: the expiry time (RFC 3339 UTC, e.g. 2027-01-31T00:00:00Z)')
        when = parse_time_bound(at)
        return JSONResponse(await run_in_threadpool(self._services.expire, target, when, _actor(account)))

    async def relabel(self, request: Request, account: Account | None) -> Response:
        """``accord relabel --json``: a new category, content type and/or TLP."""
        account = _required(account)
        target = await self._visible_target(request, account)
        change = relabelling(await read_json_body(request, limit=self._settings.max_body_bytes))
        if change.tlp is not None and not account.may_see(change.tlp):
            raise Forbidden(
                f"account {account.name} may not share at TLP {change.tlp.value}"
                f" (its maximum is {account.max_tlp.value})"
            )
        return JSONResponse(await run_in_threadpool(self._services.relabel, target, change, _actor(account)))

    async def _visible_target(self, request: Request, account: Account) -> str:
        """The path's target, when it names an indicator this account may see; else the same
        NotFound as for an indicator the node does not hold."""
        target = _target(request)
        tlps = await run_in_threadpool(self._services.tlps_of, target)
        if not tlps or not all(account.may_see(t) for t in tlps):
            raise NotFound(NOT_HELD.format(target=_named(target)))
        return target


def contribution(body: object, *, max_batch: int, signals_required: bool = True) -> Contribution:
    """The contribution ``body`` asks for (validation only; the use case screens the signals).
    Beside media files (``signals_required`` False) the signals are optional."""
    fields = _object(body, CONTRIBUTE_FIELDS)
    signals = _strings(fields, "signals")
    if not signals and signals_required:
        raise InvalidInput('"signals" must be a non-empty list of TYPE:VALUE strings')
    if len(signals) > max_batch:
        raise InvalidInput(f"a contribution takes at most {max_batch} signals (limits.max_batch_signals)")
    category = fields.get("category")
    if not isinstance(category, str) or not category.strip():
        raise InvalidInput('"category" is required: a harm category such as csam, ncii or tvec')
    valid_until = _optional_text(fields, "valid_until")
    content_type = _optional_text(fields, "content_type")
    return Contribution(
        signals=tuple(signals),
        category=category,
        tlp=Tlp.parse(_optional_text(fields, "tlp") or Tlp.GREEN.value),
        recipients=tuple(_strings(fields, "to")),
        groups=tuple(_strings(fields, "groups")),
        valid_until=None if valid_until is None else parse_time_bound(valid_until),
        content_type=None if content_type is None else ContentType.parse(content_type),
        force=_flag(fields, "force"),
        force_warninglisted=_flag(fields, "force_warninglisted"),
        new_category=_flag(fields, "new_category"),
        any_file=_flag(fields, "any_file"),
    )


def relabelling(body: object) -> Relabel:
    """The change ``body`` asks for: at least one of category, content_type and tlp."""
    fields = _object(body, RELABEL_FIELDS)
    category = _optional_text(fields, "category")
    content_type = _optional_text(fields, "content_type")
    tlp = _optional_text(fields, "tlp")
    if category is None and content_type is None and tlp is None:
        raise InvalidInput('give "category", "content_type" and/or "tlp"')
    recipients, groups = _strings(fields, "to"), _strings(fields, "groups")
    if (recipients or groups) and tlp is None:
        raise InvalidInput('"to" and "groups" go with "tlp"')
    return Relabel(
        category=None if category is None else parse_category(category),
        content_type=None if content_type is None else ContentType.parse(content_type),
        tlp=None if tlp is None else Tlp.parse(tlp),
        recipients=tuple(recipients),
        groups=tuple(groups),
        new_category=_flag(fields, "new_category"),
    )


def _required(account: Account | None) -> Account:
    if account is None:
        raise InvalidInput("this endpoint needs an API token")  # unreachable: every route is guarded
    return account


def _actor(account: Account) -> str:
    return f"api:{account.name}"


def _target(request: Request) -> str:
    """The indicator id (or TYPE:VALUE) the path names, checked before any use case sees it."""
    target = str(request.path_params.get("id", ""))
    if target.startswith("indicator--"):
        if len(target) > 100 or not all(c.isalnum() or c == "-" for c in target):
            raise InvalidInput("an indicator id is indicator--<uuid>")
        return target
    return str(Signal.parse(target))  # InvalidInput names the problem without the value


def _named(target: str) -> str:
    """``target`` as an error may name it: an id, or a signal's type only."""
    return target if target.startswith("indicator--") else target.split(":", 1)[0] + ":<value>"


async def _empty_body(request: Request, limit: int) -> None:
    """Revoke takes no fields: an empty body or {}."""
    if int(request.headers.get("content-length") or 0) == 0 and "transfer-encoding" not in request.headers:
        return
    _object(await read_json_body(request, limit=limit), frozenset())


def _object(body: object, allowed: frozenset[str] | set[str]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object")
    unknown = set(body) - set(allowed)
    if unknown:
        known = ", ".join(sorted(allowed)) or "none"
        raise InvalidInput(f"unknown field(s) {', '.join(sorted(unknown))[:200]} (known: {known})")
    return body


def _strings(body: Mapping[str, Any], field: str) -> list[str]:
    value = body.get(field, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f'"{field}" must be a list of strings')
    return value


def _optional_text(body: Mapping[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is not None and not isinstance(value, str):
        raise InvalidInput(f'"{field}" must be a string')
    return value


def _flag(body: Mapping[str, Any], field: str) -> bool:
    value = body.get(field, False)
    if not isinstance(value, bool):
        raise InvalidInput(f'"{field}" must be true or false')
    return value
