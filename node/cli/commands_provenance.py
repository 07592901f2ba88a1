"""``accord attest``: publish a provenance record of original media (issue 15), and the lines
that show attestations beside match results."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from node.app.attesting import read_media_for_credentials
from node.cli.bulk import parse_time
from node.cli.options import home_option, json_option, open_node, resolve_home
from node.cli.output import print_json, warn
from node.config import load_config
from node.errors import MediaError
from node.hashing.credentials import load_trust_anchors, read_credentials
from node.model import MatchResult, Tlp
from node.model.provenance import (
    AttestationMatch,
    ContentCredentials,
    credentials_from_data,
    credentials_to_data,
)
from node.model.shapes import attestation_json

TLP_CHOICES = [t.value for t in Tlp]


@click.command("attest")
@home_option
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--publisher", required=True, help="Who published the original (e.g. 'Campaign X press office')."
)
@click.option(
    "--published-at", required=True, help="When it was first published (ISO 8601, e.g. 2026-11-03T09:00:00Z)."
)
@click.option("--where", "where", required=True, help="Where it was first published (a URL or a place).")
@click.option(
    "--tlp", type=click.Choice(TLP_CHOICES, case_sensitive=False), default="clear", show_default=True
)
@click.option(
    "--to", "recipients", multiple=True, help="Recipient partner (amber, amber+strict, red). Repeatable."
)
@click.option(
    "--group", "groups", multiple=True, help="Sharing group whose members are recipients. Repeatable."
)
@click.option("--description", default=None, help="Context for whoever matches it (at most 1024 characters).")
@click.option(
    "--label",
    "labels",
    multiple=True,
    help="entity:, behaviour:, jurisdiction:, election: + a slug, or x-<slug>. Repeatable.",
)
@json_option
def attest_cmd(
    home: Path | None,
    file: Path,
    publisher: str,
    published_at: str,
    where: str,
    tlp: str,
    recipients: tuple[str, ...],
    groups: tuple[str, ...],
    description: str | None,
    labels: tuple[str, ...],
    as_json: bool,
) -> None:
    """Attest FILE as an original: hash it (md5, sha256, pdq or vpdq with frame times) and
    publish its provenance record through this node's feed. An attestation is never part of a
    block list: a partner matching the same bytes is told *authentic*, a visually similar copy
    *similar to an attested original, possibly altered*.
    """
    report = open_node(home).attest(
        file,
        publisher=publisher,
        published_at=parse_time(published_at, "--published-at"),
        where=where,
        tlp=Tlp.parse(tlp),
        recipients=recipients,
        groups=groups,
        description=description,
        labels=labels,
    )
    kinds = [s.type.value for s in report.signals]
    data = {
        "record": attestation_json(report.record),
        "signals": kinds,
        "entries": list(report.publish.seqs),
        "c2pa_note": report.c2pa_note,
    }
    if as_json:
        print_json(data)
        return
    if report.record.c2pa is not None:
        click.echo(f"recorded with it: {report.record.c2pa.summary()}")
    elif report.c2pa_note is not None:
        warn(f"accord: {report.c2pa_note}")
    click.echo(f"attested record {report.record.record_id}: {', '.join(kinds)} in entries {data['entries']}")


def print_attestations(labelled: Sequence[tuple[str, MatchResult]]) -> None:
    """One line per attested original met, then a verdict per record: *authentic* only when
    some cryptographic hash of the query equals the attested one."""
    best: dict[str, AttestationMatch] = {}
    for label, result in labelled:
        for a in result.attestations:
            click.echo(f"{label}: attestation: {_line(a)}")
            kept = best.get(a.attestation.record_id)
            if kept is None or (a.authentic, -a.distance) > (kept.authentic, -kept.distance):
                best[a.attestation.record_id] = a
    for record_id, a in best.items():
        click.echo(f"attested original {record_id}: {a.explanation()}")
        if a.attestation.c2pa is not None:
            click.echo(f"  the original's credentials: {a.attestation.c2pa.summary()}")
        for segment in a.segments:
            state = "matches" if segment.matched else "DOES NOT MATCH (possibly altered)"
            click.echo(f"  {segment.start:g}s-{segment.end:g}s {state}")


def print_recorded_credentials(labelled: Sequence[tuple[str, MatchResult]]) -> None:
    """One line per query and origin whose matching indicators carry the C2PA summary their
    origin recorded: beside the matches, never changing them."""
    seen: set[tuple[str, str, str]] = set()
    for label, result in labelled:
        for m in (*result.matches, *result.suppressed):
            if m.c2pa is None:
                continue
            line = origin_reading(credentials_to_data(m.c2pa))
            if (label, m.origin, line) not in seen:
                seen.add((label, m.origin, line))
                click.echo(f"{label}: {m.origin_name!r} recorded with its indicator: {line}")


def origin_reading(data: dict[str, Any]) -> str:
    """A C2PA summary an origin recorded, as a line: its reading under its trust anchors (the
    texts came from the file and were cleaned; this node did not check that manifest itself)."""
    summary = credentials_from_data(data).summary(trusted_by="by the origin")
    return f"{summary} (the origin's reading, not checked here; a hash match means the same)"


def local_credentials(home: Path | None) -> Callable[[Path], ContentCredentials | None]:
    """Reads a file's C2PA summary with no node open: trust anchors come from the home's
    ``match.c2pa_trust_anchors`` when that home exists (``accord hash`` needs no node)."""
    root = resolve_home(home)
    name = load_config(root).match.c2pa_trust_anchors if root.is_dir() else ""
    anchors = load_trust_anchors(root / name) if name else None

    def read(path: Path) -> ContentCredentials | None:
        return read_credentials(read_media_for_credentials(path), trust_anchors=anchors)

    return read


def credentials_row(
    node_credentials: Callable[[Path], ContentCredentials | None], path: Path
) -> dict[str, Any]:
    """``{"c2pa": summary or None}`` for a file, or ``{"c2pa_note": why unchecked}``."""
    try:
        found = node_credentials(path)
    except MediaError as exc:
        return {"c2pa": None, "c2pa_note": f"C2PA not checked: {exc}"}
    return {"c2pa": None if found is None else credentials_to_data(found)}


def credentials_line(label: str, row: dict[str, Any]) -> str | None:
    """The text line for :func:`credentials_row` (None: no manifest, nothing to say)."""
    if row.get("c2pa_note"):
        return f"{label}: {row['c2pa_note']}"
    data = row.get("c2pa")
    if data is None:
        return None
    return f"{label}: {credentials_from_data(data).summary()} (evidence only: a hash match means the same)"


def _line(a: AttestationMatch) -> str:
    record = a.attestation
    text = (
        f"{a.verdict} ({a.signal_type.value} distance {a.distance}) — published by {record.publisher!r}"
        f" at {record.published_at.isoformat()} in {record.where!r}, shared by {a.origin_name!r}"
    )
    if a.note.labels:
        text += f"; labels {', '.join(a.note.labels)}"
    if a.note.description is not None:
        text += f"; {a.note.description!r}"
    return text


COMMANDS = [attest_cmd]
