"""``accord hash``, ``accord match``, ``accord sync`` and ``accord status``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from node.app.shapes import status_json
from node.cli.commands_provenance import (
    credentials_line,
    credentials_row,
    local_credentials,
    print_attestations,
    print_recorded_credentials,
)
from node.cli.options import home_option, json_option, open_node
from node.cli.output import print_json, print_table, warn
from node.errors import InvalidInput
from node.hashing import MediaHashes, ModelHashes, hash_file, hash_model_file, is_model_file
from node.model import PDQ_MIN_QUALITY, Match, MatchResult, Signal
from node.model.shapes import match_result_json, refused_query_json

if TYPE_CHECKING:
    from node.app.node import AccordNode

EXIT_NO_MATCH = 1
EXIT_FAILED = 2
EXIT_PEER = 4


@click.command("hash")
@home_option
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@json_option
def hash_cmd(home: Path | None, files: tuple[Path, ...], as_json: bool) -> None:
    """Print the signals of each file: md5, sha256 and, for images, pdq with its quality; for
    videos, vpdq (the distinct frame PDQ hashes of quality 50 or more, needs the video extra);
    for safetensors and GGUF model files, model (the digests of their tensors).

    Hashing is local and needs no node: --home is accepted for symmetry and not used.
    """
    rows: list[dict[str, Any]] = []
    failed = 0
    credentials = local_credentials(home)
    for path in files:
        try:
            row = _model_row(hash_model_file(path)) if is_model_file(path) else _hash_row(hash_file(path))
            rows.append({**row, **credentials_row(credentials, path)})
        except InvalidInput as exc:
            warn(f"accord: {path}: {exc}")
            failed += 1
    if as_json:
        print_json(rows)
    else:
        for row in rows:
            click.echo(row["file"])
            for key in ("md5", "sha256", "pdq"):
                if row[key]:
                    suffix = f"  (quality {row['pdq_quality']})" if key == "pdq" else ""
                    click.echo(f"  {row[key]}{suffix}")
            if row["vpdq"]:
                click.echo(f"  {row['vpdq'][:21]}…  ({row['vpdq_frames']} frames; full value with --json)")
            if row.get("model"):
                click.echo(
                    f"  {row['model'][:22]}…  ({row['format']}, {row['distinct_tensors']} distinct of "
                    f"{row['tensors']} tensors; full value with --json)"
                )
            if row["note"]:
                click.echo(f"  note: {row['note']}")
            line = credentials_line(" ", row)
            if line is not None:
                click.echo(f" {line}")
    if failed:
        click.get_current_context().exit(EXIT_FAILED)


def _model_row(hashes: ModelHashes) -> dict[str, Any]:
    """A model file's row: the media row's keys (pdq and vpdq empty) and the model signal."""
    model = hashes.model
    return {
        "file": hashes.path,
        "md5": str(hashes.md5),
        "sha256": str(hashes.sha256),
        "pdq": None,
        "pdq_quality": None,
        "vpdq": None,
        "vpdq_frames": None,
        "content_type": "file",
        "format": hashes.format,
        "model": None if model is None else str(model),
        "tensors": hashes.tensors,
        "distinct_tensors": 0 if model is None else len(model.tensor_digests()),
        "tensor_bytes": hashes.tensor_bytes,
        "note": hashes.note,
    }


def _hash_row(hashes: MediaHashes) -> dict[str, Any]:
    return {
        "file": hashes.path,
        "md5": str(hashes.md5),
        "sha256": str(hashes.sha256),
        "pdq": None if hashes.pdq is None else str(hashes.pdq),
        "pdq_quality": hashes.pdq_quality,
        "vpdq": None if hashes.vpdq is None else str(hashes.vpdq),
        "vpdq_frames": None if hashes.vpdq is None else len(hashes.vpdq.frames()),
        "content_type": hashes.content_type.value,
        "note": hashes.note,
    }


@click.command("match")
@home_option
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option("--signal", "signals", multiple=True, help="A signal TYPE:VALUE to match. Repeatable.")
@click.option("--offline", is_flag=True, help="Load the lists here even when the node is serving.")
@json_option
def match_cmd(
    home: Path | None, files: tuple[Path, ...], signals: tuple[str, ...], offline: bool, as_json: bool
) -> None:
    """Match FILES and/or signals against the node's lists. Exit 0: match; 1: no match; 2: no
    match, and some --signal could not be read (each is named; the others were still matched).

    When this node is serving, its running Local API answers (lists already in memory);
    otherwise the lists are loaded from the database in this process. Same engine either way.
    """
    if not (files or signals):
        raise click.UsageError("give media FILES or --signal TYPE:VALUE")
    node = open_node(home)
    queries, refused = signal_queries(signals)
    evidence: dict[str, dict[str, Any]] = {}
    for path in files:
        queries.extend((str(path), signal) for signal in file_signals(path))
        evidence[str(path)] = credentials_row(node.file_credentials, path)
    results = (
        node.match([signal for _, signal in queries], prefer_running_node=not offline) if queries else []
    )
    labelled = list(zip([label for label, _ in queries], results, strict=True))
    for label, error in refused:
        warn(f"accord: refused {label}: {error}")
    _print_matches(labelled, as_json, refused=refused, evidence=evidence)
    if not any(r.matches for r in results):
        click.get_current_context().exit(EXIT_FAILED if refused else EXIT_NO_MATCH)


def signal_queries(signals: tuple[str, ...]) -> tuple[list[tuple[str, Signal]], list[tuple[str, str]]]:
    """The --signal values that parse, labelled by themselves, and those that do not, labelled
    by position (a malformed value may still be most of a restricted hash: it is not echoed)."""
    queries: list[tuple[str, Signal]] = []
    refused: list[tuple[str, str]] = []
    for position, text in enumerate(signals, start=1):
        try:
            queries.append((text, Signal.parse(text)))
        except InvalidInput as exc:
            refused.append((f"--signal #{position}", str(exc)))
    return queries, refused


def file_signals(path: Path) -> list[Signal]:
    """The signals of a media or model file, as `accord match FILE` queries them."""
    if is_model_file(path):
        model = hash_model_file(path)
        if model.note:
            warn(f"accord: {path}: {model.note}")
        return list(model.signals)
    hashes = hash_file(path)
    signals = [hashes.md5, hashes.sha256]
    if hashes.pdq is not None and (hashes.pdq_quality or 0) >= PDQ_MIN_QUALITY:
        signals.append(hashes.pdq)
    elif hashes.pdq is not None:
        quality = hashes.pdq_quality
        warn(f"accord: {path}: pdq quality {quality} is below {PDQ_MIN_QUALITY}; matched by md5/sha256 only")
    if hashes.vpdq is not None:
        signals.append(hashes.vpdq)
    elif hashes.video_unhashed:
        warn(f"accord: {path}: {hashes.note}; matched by md5/sha256 only")
    return signals


def _print_matches(
    labelled: list[tuple[str, MatchResult]],
    as_json: bool,
    *,
    refused: list[tuple[str, str]],
    evidence: dict[str, dict[str, Any]] | None = None,
) -> None:
    """``evidence``: per file label, its C2PA summary (shown beside, never changing, matches)."""
    evidence = evidence or {}
    if as_json:
        errors = [refused_query_json(label, error) for label, error in refused]
        print_json(
            errors + [{**match_result_json(label, r), **evidence.get(label, {})} for label, r in labelled]
        )
        return
    for label, row in evidence.items():
        line = credentials_line(label, row)
        if line is not None:
            click.echo(line)
    rows = [
        (
            label,
            m.origin_name,
            m.category,
            m.signal_type.value,
            m.distance,
            _frames(m),
            m.tlp.value,
            m.trust.value,
            _opinions_text(m),
            m.corroboration,
            m.indicator_id,
        )
        for label, result in labelled
        for m in result.matches
    ]
    print_attestations(labelled)
    print_recorded_credentials(labelled)
    for label, result in labelled:
        if result.safelisted:
            click.echo(
                f"{label}: {result.query.type.value} is safelisted (known benign); "
                f"{len(result.suppressed)} match(es) suppressed"
            )
    if not rows:
        click.echo("no match")
        return
    print_table(
        [
            "query",
            "origin",
            "category",
            "signal",
            "distance",
            "frames",
            "tlp",
            "trust",
            "opinions",
            "origins",
            "indicator",
        ],
        rows,
    )


def _frames(match: Match) -> str:
    """Video matches: the share of the query's frames matched / of the listed video's; model
    matches: the same for tensors (query's tensors in the listed model / listed model's in it)."""
    if match.query_match_percent is None or match.compared_match_percent is None:
        return "-"
    return f"{match.query_match_percent:g}%/{match.compared_match_percent:g}%"


def _opinions_text(match: Match) -> str:
    """e.g. ``contested +2/-1``: the consensus, then agreeing / disputing origins."""
    if not (match.agreed or match.disputed):
        return "-"
    return f"{match.consensus.value} +{match.agreed}/-{match.disputed}"


@click.command("sync")
@home_option
@click.option("--partner", default=None, help="Pull from this partner only.")
@json_option
def sync_cmd(home: Path | None, partner: str | None, as_json: bool) -> None:
    """Pull once from partners with an endpoint, in the foreground, and report the outcome."""
    reports = open_node(home).sync(partner)
    if as_json:
        print_json(
            [
                {
                    "partner": r.partner,
                    "accepted": r.accepted,
                    "indicators": r.indicators,
                    "rejected": dict(r.rejected),
                    "error": r.error,
                    "skipped": r.skipped,  # another process (the running node) was pulling it
                    "ok": r.ok,
                }
                for r in reports
            ]
        )
    elif not reports:
        click.echo("no partner with an endpoint to pull from")
    for report in reports:
        if not as_json:
            click.echo(f"{report.partner}: {report.summary()}")
    if any(r.error is not None for r in reports):  # a pull skipped because one runs already is fine
        click.get_current_context().exit(EXIT_PEER)


@click.command("status")
@home_option
@json_option
def status_cmd(home: Path | None, as_json: bool) -> None:
    """Identity, partners with their last sync, counts per origin / category / signal type."""
    node = open_node(home)
    status = node.status(count_warninglisted=True)
    names = node.names()
    if as_json:
        print_json(status_json(node, status))
        return
    click.echo(f"node: {status.name}  key id {status.key_id}  own feed head seq {status.own_head_seq}")
    click.echo("")
    if status.partners:
        print_table(
            ["partner", "endpoint", "head", "last sync", "last success", "result"],
            [
                (
                    p.partner.name,
                    p.partner.endpoint or "-",
                    p.head_seq,
                    (p.sync.last_attempt if p.sync else None) or "never",
                    (p.sync.last_success if p.sync else None) or "never",
                    (p.sync.last_result if p.sync else None) or "-",
                )
                for p in status.partners
            ],
        )
    else:
        click.echo("no partners pinned")
    click.echo("")
    if status.counts:
        print_table(
            ["origin", "category", "signal", "indicators"],
            [(names.get(c.origin, c.origin[:12]), c.category, c.signal_type, c.count) for c in status.counts],
        )
    else:
        click.echo("no indicators held")
    refused = ", ".join(f"{reason} {n}" for reason, n in status.rejections.items()) or "none"
    click.echo(f"\nrefused input: {refused}; equivocation evidence: {status.evidence}")
    for listed, n in status.warninglisted.items():
        click.echo(f"warninglisted: {n} held indicator(s) on {listed!r} (known benign: held, never matched)")
    for origin in status.quarantined:
        click.echo(
            f"QUARANTINED: origin {names.get(origin, origin[:12])} ({origin}) equivocated;"
            " see 'accord evidence'"
        )
    for name, mark in node.compromised().items():
        click.echo(
            f"COMPROMISED: partner {name}'s key, from seq {mark.from_seq} (entries refused, not matched)"
        )
    for origin, signed in status.stale.items():
        click.echo(
            f"STALE: origin {names.get(origin, origin[:12])}'s newest signed head is from {signed};"
            " a relay may be hiding newer entries (pull from the origin or another peer)"
        )
    if status.bodies_missing:
        click.echo(
            f"bodies missing: {status.bodies_missing} (fetched from any peer that holds them);"
            f" {status.bodies_missing_long} missing for several sync rounds"
        )
    _print_deliveries(node.delivery_summary())
    _print_review(node)


def _print_deliveries(summary: dict[str, Any]) -> None:
    """The webhook outbox in one line, when it holds anything (``accord delivery list``)."""
    if summary["pending"] or summary["dead"] or summary["delivered"]:
        click.echo(
            f"webhook deliveries: {summary['pending']} pending, {summary['delivered']} delivered,"
            f" {summary['dead']} DEAD (accord delivery list --state dead; replay to resend)"
        )


def _print_review(node: AccordNode) -> None:
    """The review queue and flood holds in a line each, when there is anything."""
    queue = node.review_metrics()
    if queue.depth or queue.held:
        oldest = "" if queue.oldest_age_seconds is None else f", oldest {queue.oldest_age_seconds:.0f} s"
        click.echo(f"review queue: {queue.depth} waiting{oldest}; {queue.appeals_open} appeal(s) open")
    if queue.held:
        click.echo(f"FLOOD: {queue.held} indicator(s) held for review; see 'accord review held'")


COMMANDS = [hash_cmd, match_cmd, sync_cmd, status_cmd]
