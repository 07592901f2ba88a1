"""``accord contribute``, ``accord revoke`` and ``accord export``: writing to our own feed."""

from __future__ import annotations

from pathlib import Path

import click

from node.app import ContributeReport
from node.app.contribute import Sources, count_items
from node.app.shapes import contribute_json
from node.cli.bulk import (
    curation_json,
    gather_targets,
    parse_time,
    progress_bar,
    report_refused,
    targets_options,
)
from node.cli.options import home_option, open_node, write_json_option
from node.cli.output import emit, warn
from node.model import ContentType, Tlp
from node.sync.export import MATCH_LIST_FORMATS, STDOUT

TLP_CHOICES = [t.value for t in Tlp]


@click.command("contribute")
@home_option
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--list",
    "lists",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Hash list: 'signal_type value' lines (pytx), TYPE:VALUE lines, CSV with a header "
    "(HMA bank CSV, ThreatExchange CSV). Repeatable.",
)
@click.option(
    "--stix",
    "stix",
    multiple=True,
    type=click.Path(path_type=Path),
    help="A STIX 2.1 bundle from any tool: file-hash, url and domain-name indicators are imported. "
    "Repeatable.",
)
@click.option("--signal", "signals", multiple=True, help="A signal TYPE:VALUE. Repeatable.")
@click.option("--category", required=True, help="Harm category, e.g. csam, ncii, tvec, election-deepfake.")
@click.option(
    "--tlp", type=click.Choice(TLP_CHOICES, case_sensitive=False), default="green", show_default=True
)
@click.option(
    "--content-type",
    type=click.Choice([c.value for c in ContentType]),
    default=None,
    help="Override the detected content type.",
)
@click.option(
    "--to",
    "recipients",
    multiple=True,
    help="Recipient partner (amber, amber+strict and red need recipients). Repeatable.",
)
@click.option(
    "--group",
    "groups",
    multiple=True,
    help="Sharing group whose members are recipients (see 'accord group'). Repeatable.",
)
@click.option("--valid-until", default=None, help="Expiry (ISO 8601, e.g. 2027-01-31T00:00:00Z).")
@click.option("--force", is_flag=True, help="Contribute safelisted (known-benign) signals anyway.")
@click.option(
    "--force-warninglisted",
    is_flag=True,
    help="Contribute values a MISP warninglist names as known benign (the empty file, common "
    "system files) anyway; no node matches them.",
)
@click.option(
    "--new-category",
    is_flag=True,
    help="Publish under a category outside the shared vocabulary (refused by default, with a did-you-mean).",
)
@click.option(
    "--any-file",
    is_flag=True,
    help="Also share FILES that are not images or videos, by their own md5 and sha256 "
    "(refused by default: hash lists go in --list, STIX bundles in --stix).",
)
@click.option("--progress/--no-progress", default=None, help="Progress bar [default: on a terminal].")
@click.option(
    "--description", default=None, help="Context carried with every item (at most 1024 characters)."
)
@click.option(
    "--label",
    "labels",
    multiple=True,
    help="entity:, behaviour:, jurisdiction:, election: + a slug, or x-<slug>. Repeatable.",
)
@write_json_option
def contribute_cmd(
    home: Path | None,
    files: tuple[Path, ...],
    lists: tuple[Path, ...],
    stix: tuple[Path, ...],
    signals: tuple[str, ...],
    category: str,
    tlp: str,
    content_type: str | None,
    recipients: tuple[str, ...],
    groups: tuple[str, ...],
    valid_until: str | None,
    force: bool,
    force_warninglisted: bool,
    new_category: bool,
    any_file: bool,
    progress: bool | None,
    description: str | None,
    labels: tuple[str, ...],
    as_json: bool,
) -> None:
    """Add media FILES or directories (hashed locally, recursively), hash lists, STIX bundles and
    signals to this node's feed, signed, in entries within the per-entry object limit.

    FILES must be images or videos (judged by content): anything else is refused by name
    unless --any-file. Contributing never widens an indicator's TLP or changes its category:
    that is 'accord relabel'.

    Re-running the same import adds nothing twice. Refused items are listed with file and line;
    they never stop the rest (exit 2 when any was refused; 6 when every refusal repeats one an
    earlier run already reported).
    """
    if not (files or lists or stix or signals):
        raise click.UsageError(
            "give media FILES or directories, --list FILE, --stix FILE or --signal TYPE:VALUE"
        )
    node = open_node(home)
    sources = Sources(files=files, lists=lists, stix=stix)
    with progress_bar(progress, length=count_items(sources), label="importing") as bar:
        report = node.contribute(
            files=files,
            lists=lists,
            stix=stix,
            signals=signals,
            category=category,
            tlp=Tlp.parse(tlp),
            content_type=None if content_type is None else ContentType.parse(content_type),
            recipients=recipients,
            groups=groups,
            valid_until=None if valid_until is None else parse_time(valid_until, "--valid-until"),
            force=force,
            any_file=any_file,
            new_category=new_category,
            force_warninglisted=force_warninglisted,
            progress=bar.update,
            description=description,
            labels=labels,
        )
    data = contribute_json(report)
    if report.c2pa_note is not None:
        warn(f"accord: {report.c2pa_note}")  # once, however many files (on stderr: --json stays clean)
    if not as_json:
        for note in report.forced:
            warn(f"warning: {note.source} is {note.reason}; contributed because of {note.forced_by}")
    emit(as_json, data, _contribute_lines(report))
    report_refused(list(report.refused), as_json=as_json)


def _contribute_lines(report: ContributeReport) -> list[str]:
    if report.publish is None:
        return [f"nothing published; refused {len(report.refused)}"]
    p = report.publish
    seqs = ", ".join(str(s) for s in p.seqs) or "none (nothing changed)"
    # A file's C2PA summary goes with its indicators: evidence for partners, never a gate here.
    credentials = [
        f"{path}: recorded with its indicators: {found.summary()}" for path, found in report.credentials
    ]
    return [
        *credentials,
        f"published entry seq {seqs}",
        f"{p.added} added, {p.updated} relabelled, {report.duplicates} duplicates, "
        f"{len(report.refused)} refused",
    ]


@click.command("revoke")
@home_option
@targets_options("Revoke every signal this hash list names (any format 'contribute --list' reads).")
@write_json_option
def revoke_cmd(home: Path | None, targets: tuple[str, ...], list_path: Path | None, as_json: bool) -> None:
    """Revoke our own indicators, named as TYPE:VALUE or indicator--<uuid>, or listed in a file.

    Partners stop matching them after their next sync; replaying the old entry cannot revive them.
    """
    node = open_node(home)
    names, refused = gather_targets(node, targets, list_path)
    report = node.revoke(names)
    seqs = ", ".join(str(s) for s in report.seqs) or "none"
    text = f"revoked {report.updated} indicator(s) in entry seq {seqs}; {report.unchanged} already revoked"
    emit(as_json, curation_json("revoke", report, refused), [text])
    report_refused(refused, as_json=as_json)


@click.command("export")
@home_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["stix", *MATCH_LIST_FORMATS]),
    default="stix",
    show_default=True,
    help="stix: a STIX 2.1 bundle; pytx: 'signal_type signal' lines for python-threatexchange; "
    "hma-csv: HMA bank CSV.",
)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="Output file (written with mode 0600), or - for standard output.",
)
@click.option("--include-red", is_flag=True, help="Also export TLP:RED indicators (never by default).")
@write_json_option
def export_cmd(home: Path | None, fmt: str, out: Path, include_red: bool, as_json: bool) -> None:
    """Export the active indicators this node holds: a STIX 2.1 bundle, or match lists for HMA/pytx.

    Files are written whole (under a temporary name, then renamed) with mode 0600; every export
    is recorded in the audit log. With --out - the data goes to standard output and the summary
    to standard error.
    """
    node = open_node(home)
    if fmt == "stix":
        count = node.export_stix(out, include_red=include_red)
    else:
        count = node.export_match_list(out, fmt=fmt, include_red=include_red)
    to_stdout = out == STDOUT
    where = "standard output" if to_stdout else str(out)
    text = f"wrote {count} indicator(s) to {where}" + ("" if include_red else " (TLP:RED left out)")
    data = {
        "format": fmt,
        "out": "-" if to_stdout else str(out),
        "indicators": count,
        "include_red": include_red,
    }
    emit(as_json, data, [text], err=to_stdout)


COMMANDS = [contribute_cmd, revoke_cmd, export_cmd]
