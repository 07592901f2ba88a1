"""``accord query``, ``accord show``, ``accord audit`` and ``accord report``: analysts' commands."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from node.app import AccordNode
from node.app.shapes import provenance_json
from node.cli.commands_provenance import origin_reading
from node.cli.options import home_option, json_option, open_node
from node.cli.output import print_json, print_table
from node.model import ContentType, KeyId, Signal, Tlp, parse_category
from node.model.clock import utc_now
from node.model.provenance import parse_label
from node.model.queries import (
    IndicatorQuery,
    IndicatorStatus,
    QueryAnswer,
    SortKey,
    parse_time_bound,
)
from node.model.shapes import query_row_json
from node.sync.lookup import Provenance

EXIT_BROKEN = 2
CSV_COLUMNS = [
    "id",
    "origin",
    "origin_name",
    "signal_type",
    "value",
    "category",
    "content_type",
    "tlp",
    "status",
    "created",
    "modified",
    "valid_until",
    "distance",
    "warninglisted",
    "labels",  # space-separated; the description stays out of CSV (free text; see --json)
]


@click.command("query")
@home_option
@click.option("--signal", default=None, help="Exact signal TYPE:VALUE (pdq, md5, sha1, sha256).")
@click.option("--near", default=None, help="Near-duplicate search: pdq:HEX within --distance.")
@click.option("--distance", type=int, default=31, show_default=True, help="Hamming distance for --near.")
@click.option("--category", "categories", multiple=True, help="Harm category. Repeatable.")
@click.option(
    "--origin", "origins", multiple=True, help="Origin: partner name, our node name or key id. Repeatable."
)
@click.option("--tlp", "tlps", multiple=True, help="TLP level. Repeatable. RED also needs --include-red.")
@click.option(
    "--status", "statuses", multiple=True, help="active, revoked, disputed, expired, quarantined. Repeatable."
)
@click.option("--content-type", "content_types", multiple=True, help="image, video or file. Repeatable.")
@click.option("--since", default=None, help="First published at or after (YYYY-MM-DD or RFC 3339 UTC).")
@click.option("--until", default=None, help="First published before (YYYY-MM-DD or RFC 3339 UTC).")
@click.option(
    "--sort",
    default="-created",
    show_default=True,
    help="-created, created, -modified, category, origin, distance (with --near).",
)
@click.option("--limit", type=int, default=100, show_default=True, help="At most this many rows.")
@click.option(
    "--label",
    "labels",
    multiple=True,
    help="Only indicators carrying this label (e.g. election:us-2026). Repeatable.",
)
@click.option("--include-red", is_flag=True, help="Include TLP:RED indicators (recorded in the audit log).")
@json_option
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV with a header row.")
@click.option("--stix", "as_stix", is_flag=True, help="Print the results as a STIX 2.1 bundle.")
@click.option("--offline", is_flag=True, help="--near: scan the database here even when the node is serving.")
def query_cmd(home: Path | None, **options: Any) -> None:
    """Find indicators this node holds. Exit 0: rows found; 1: none; 2: invalid filter."""
    formats = [f for f in ("as_json", "as_csv", "as_stix") if options.pop(f)]
    if len(formats) > 1:
        raise click.UsageError("choose one of --json, --csv and --stix")
    offline = options.pop("offline")
    node = open_node(home)
    query = _query(options, node.names())
    # A near-duplicate search asks the running node's index (milliseconds); else it scans.
    answer = node.query(query, prefer_running_node=not offline)
    _print_answer(node, answer, formats[0] if formats else "table")
    if not answer.rows:
        click.get_current_context().exit(1)


def _query(options: dict[str, Any], names: dict[KeyId, str]) -> IndicatorQuery:
    return IndicatorQuery(
        signal=None if options["signal"] is None else Signal.parse(options["signal"]),
        near=None if options["near"] is None else Signal.parse(options["near"]),
        distance=options["distance"],
        categories=frozenset(parse_category(c) for c in options["categories"]),
        origins=frozenset(_origin(o, names) for o in options["origins"]),
        tlps=frozenset(Tlp.parse(t) for t in options["tlps"]),
        statuses=frozenset(IndicatorStatus.parse(s) for s in options["statuses"]),
        content_types=frozenset(ContentType.parse(c) for c in options["content_types"]),
        since=None if options["since"] is None else parse_time_bound(options["since"]),
        until=None if options["until"] is None else parse_time_bound(options["until"]),
        sort=SortKey.parse(options["sort"]),
        limit=options["limit"],
        include_red=options["include_red"],
        labels=frozenset(parse_label(label) for label in options["labels"]),
    )


def _origin(text: str, names: dict[KeyId, str]) -> KeyId:
    by_name = {name: key for key, name in names.items()}
    if text in by_name:
        return by_name[text]
    if text in names:
        return KeyId(text)
    raise click.BadParameter(
        f"no partner or node named {text!r} (see 'accord partner list')", param_hint="--origin"
    )


_row_json = query_row_json


def _print_answer(node: AccordNode, answer: QueryAnswer, form: str) -> None:
    rows = [_row_json(r) for r in answer.rows]
    if form == "as_json":
        print_json({"rows": rows, "truncated": answer.truncated})
    elif form == "as_csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        writer.writerows({**r, "labels": " ".join(r["labels"])} for r in rows)
        click.echo(buffer.getvalue(), nl=False)
    elif form == "as_stix":
        print_json(node.stix_bundle(answer))
    elif rows:
        print_table(
            ["signal", "category", "origin", "tlp", "status", "created", "distance", "labels", "indicator"],
            [
                (
                    f"{r['signal_type']}:{r['value']}",
                    r["category"],
                    r["origin_name"],
                    r["tlp"],
                    r["status"] + (" (warninglisted)" if r["warninglisted"] else ""),
                    r["created"][:19],
                    "-" if r["distance"] is None else r["distance"],
                    " ".join(r["labels"]) or "-",
                    r["id"],
                )
                for r in rows
            ],
        )
        if answer.truncated:
            click.echo(f"(first {len(rows)} rows; raise --limit for more)")
    else:
        click.echo("no indicator matches these filters")


@click.command("show")
@home_option
@click.argument("target")
@click.option("--include-red", is_flag=True, help="Also show TLP:RED indicators (recorded in the audit log).")
@json_option
def show_cmd(home: Path | None, target: str, include_red: bool, as_json: bool) -> None:
    """Full provenance of an indicator id or of every indicator listing a signal TYPE:VALUE.

    Every version with the feed entry that carried it (origin, seq, digest, the peer it came
    through, when), the signature re-verified now, opinions, sightings and local matches.
    """
    found = open_node(home).show(target, include_red=include_red)
    if as_json:
        print_json([_provenance_json(p) for p in found])
        return
    for number, item in enumerate(found):
        if number:
            click.echo("")
        _print_provenance(item)


_provenance_json = provenance_json


def _print_note(data: dict[str, Any]) -> None:
    """Description, labels and attestation record. Texts are quoted with repr(): they come
    from the origin (checked free of control characters on receipt; quoted all the same)."""
    if data["labels"]:
        click.echo(f"{'labels:':14} {' '.join(data['labels'])}")
    if data["description"] is not None:
        click.echo(f"{'description:':14} {data['description']!r}")
    record = data["attestation"]
    if record is not None:
        click.echo(
            f"{'attestation:':14} original published by {record['publisher']!r} at"
            f" {record['published_at']} in {record['where']!r} (record {record['record_id']},"
            f" {record['frames']} timed frames); provenance only, never a block-list entry"
        )
    credentials = data["c2pa"] if data["c2pa"] is not None else (record or {}).get("c2pa")
    if credentials is not None:
        click.echo(f"{'c2pa:':14} {origin_reading(credentials)}")


def _print_provenance(item: Provenance) -> None:
    data = _provenance_json(item)
    for key in (
        "id",
        "signal_type",
        "value",
        "origin_name",
        "origin",
        "category",
        "content_type",
        "tlp",
        "status",
        "created",
        "modified",
        "valid_until",
        "warninglisted",
    ):
        click.echo(f"{key + ':':14} {data[key] if data[key] is not None else '-'}")
    _print_note(data)
    click.echo("")
    print_table(
        ["seq", "version", "category", "revoked", "via", "received", "signature", "digest"],
        [
            (
                v["seq"],
                v["modified"] or "-",
                v["category"] or "-",
                v["revoked"],
                v["via"] or "(published here)",
                v["received_at"],
                v["verification"],
                v["digest"],
            )
            for v in data["versions"]
        ],
    )
    matches = data["matches"]
    click.echo("")
    click.echo(
        "local matches: "
        + (
            "none"
            if matches is None
            else f"{matches['count']} (first {matches['first_day']}, last {matches['last_at']})"
        )
    )
    click.echo("opinions: none held" if not data["opinions"] else f"opinions: {data['opinions']}")
    click.echo("sightings: none held" if not data["sightings"] else f"sightings: {data['sightings']}")


@click.group("audit")
def audit_group() -> None:
    """The append-only, hash-chained log of operator and analyst actions."""


@audit_group.command("list")
@home_option
@click.option("--since", default=None, help="Only rows at or after (YYYY-MM-DD or RFC 3339 UTC).")
@json_option
def audit_list_cmd(home: Path | None, since: str | None, as_json: bool) -> None:
    """Print the audit log, oldest first."""
    records = open_node(home).audit.records(since=None if since is None else parse_time_bound(since))
    if as_json:
        print_json(
            [
                {
                    "seq": r.seq,
                    "at": r.at,
                    "actor": r.actor,
                    "action": r.action,
                    "details": r.details,
                    "prev_hash": r.prev_hash,
                    "row_hash": r.row_hash,
                }
                for r in records
            ]
        )
    elif records:
        print_table(
            ["seq", "at", "actor", "action", "details"],
            [(r.seq, r.at, r.actor, r.action, r.details) for r in records],
        )
    else:
        click.echo("no audit rows")


@audit_group.command("verify")
@home_option
@json_option
def audit_verify_cmd(home: Path | None, as_json: bool) -> None:
    """Check the chain and signatures of every row. Exit 0: intact; 2: the first bad row."""
    verdict = open_node(home).audit.verify()
    broken = verdict.broken
    if as_json:
        print_json(
            {
                "rows": verdict.rows,
                "head": verdict.head,
                "ok": broken is None,
                "first_bad_seq": None if broken is None else broken.seq,
                "reason": None if broken is None else broken.reason,
            }
        )
    elif broken is None:
        click.echo(f"audit log intact: {verdict.rows} rows, head {verdict.head}")
    else:
        click.echo(
            f"audit log BROKEN at row {broken.seq} (position {broken.position + 1}): {broken.reason}",
            err=True,
        )
    if broken is not None:
        click.get_current_context().exit(EXIT_BROKEN)


@click.command("report")
@home_option
@click.option(
    "--since", default=None, help="Period start (YYYY-MM-DD or RFC 3339 UTC) [default: 30 days ago]."
)
@click.option("--until", default=None, help="Period end, excluded [default: now].")
@click.option("--format", "form", type=click.Choice(["md", "json"]), default="md", show_default=True)
@click.option(
    "--charts",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also write PNG charts into this directory.",
)
def report_cmd(
    home: Path | None, since: str | None, until: str | None, form: str, charts: Path | None
) -> None:
    """Transparency report: contributed and received per category and origin, matches,
    revocations and disputes, sync health per partner."""
    from node.app.report import render_charts, render_markdown  # noqa: PLC0415 - only here

    end = utc_now() if until is None else parse_time_bound(until)
    start = end - timedelta(days=30) if since is None else parse_time_bound(since)
    node = open_node(home)
    report = node.report(since=start, until=end)
    if form == "json":
        print_json(report.as_json())
    else:
        click.echo(render_markdown(report), nl=False)
    if charts is not None:
        for path in render_charts(report, charts):
            click.echo(f"chart: {path}", err=True)


COMMANDS = [query_cmd, show_cmd, audit_group, report_cmd]
