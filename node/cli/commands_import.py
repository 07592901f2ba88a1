"""``accord expire``, ``accord relabel`` and ``accord scan``: curation and training-data scans.

Bulk contribution itself is ``accord contribute`` (directories, lists, STIX) and bulk
revocation ``accord revoke --list``; both live with the other feed-writing commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from node.app.scan import pending_rows
from node.cli.bulk import (
    curation_json,
    gather_targets,
    parse_time,
    progress_bar,
    report_refused,
    targets_options,
)
from node.cli.commands_scan import c2pa_option, c2pa_summary, dask_options, scan_on_dask, wants_dask
from node.cli.options import home_option, open_node, write_json_option
from node.cli.output import emit
from node.model import ContentType, Tlp


@click.command("expire")
@home_option
@targets_options("Hash list of signals to expire.")
@click.option("--at", "at", required=True, help="Expiry time (ISO 8601, e.g. 2027-01-31T00:00:00Z).")
@write_json_option
def expire_cmd(
    home: Path | None, targets: tuple[str, ...], list_path: Path | None, at: str, as_json: bool
) -> None:
    """Set valid_until of our indicators (TYPE:VALUE, indicator ids or --list FILE) to --at.

    Published as new signed versions: partners stop matching them from that time, after their next sync.
    """
    node = open_node(home)
    names, refused = gather_targets(node, targets, list_path)
    report = node.expire(names, at=parse_time(at, "--at"))
    seqs = ", ".join(str(s) for s in report.seqs) or "none"
    text = (
        f"set valid_until on {report.updated} indicator(s) in entry seq {seqs}; {report.unchanged} unchanged"
    )
    emit(as_json, curation_json("expire", report, refused), [text])
    report_refused(refused, as_json=as_json)


@click.command("relabel")
@home_option
@targets_options("Hash list of signals to relabel.")
@click.option("--category", default=None, help="New harm category.")
@click.option(
    "--content-type",
    type=click.Choice([c.value for c in ContentType]),
    default=None,
    help="New content type.",
)
@click.option(
    "--tlp",
    type=click.Choice([t.value for t in Tlp], case_sensitive=False),
    default=None,
    help="Share under another TLP: the old versions are revoked where they were shared first.",
)
@click.option("--to", "recipients", multiple=True, help="Recipient partner for --tlp amber/red. Repeatable.")
@click.option("--group", "groups", multiple=True, help="Sharing group for --tlp amber/red. Repeatable.")
@click.option("--new-category", is_flag=True, help="Allow a category outside the shared vocabulary.")
@write_json_option
def relabel_cmd(
    home: Path | None,
    targets: tuple[str, ...],
    list_path: Path | None,
    category: str | None,
    content_type: str | None,
    tlp: str | None,
    recipients: tuple[str, ...],
    groups: tuple[str, ...],
    new_category: bool,
    as_json: bool,
) -> None:
    """Publish new versions of our indicators with another category, content type or TLP.

    A TLP change never leaves a partner with a version it may no longer hold: each indicator is
    revoked where it was shared, then its signal is published afresh to the new audience.

    Contribute never changes a category or widens a TLP; relabel does it, explicitly, and the
    audit log records it.
    """
    if category is None and content_type is None and tlp is None:
        raise click.UsageError("give --category, --content-type and/or --tlp")
    if (recipients or groups) and tlp is None:
        raise click.UsageError("--to and --group go with --tlp")
    node = open_node(home)
    names, refused = gather_targets(node, targets, list_path)
    report = node.relabel(
        names,
        category=category,
        content_type=None if content_type is None else ContentType.parse(content_type),
        tlp=None if tlp is None else Tlp.parse(tlp),
        recipients=recipients,
        groups=groups,
        new_category=new_category,
    )
    seqs = ", ".join(str(s) for s in report.seqs) or "none"
    text = f"relabelled {report.updated} indicator(s) in entry seq {seqs}; {report.unchanged} unchanged"
    emit(as_json, curation_json("relabel", report, refused), [text])
    report_refused(refused, as_json=as_json)


@click.command("scan")
@home_option
@click.argument("source")
@click.option(
    "--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Report file."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv"]),
    default=None,
    help="Report format [default: from --out's suffix, else jsonl].",
)
@click.option(
    "--chunk-rows",
    default=10_000,
    show_default=True,
    type=click.IntRange(1, 1_000_000),
    help="Rows per checkpoint.",
)
@click.option("--progress/--no-progress", default=None, help="Progress bar [default: on a terminal].")
@c2pa_option
@dask_options
@write_json_option
def scan_cmd(
    home: Path | None,
    source: str,
    out: Path,
    fmt: str | None,
    chunk_rows: int,
    progress: bool | None,
    c2pa: bool,
    as_json: bool,
    **dask: Any,
) -> None:
    """Scan a data-set manifest (CSV, JSON lines or Parquet with an id column and md5 / sha256 /
    pdq columns) or a directory of media against the lists; write matching items to --out.

    Streams in constant memory. Interrupted? Run the same command again: it resumes from its
    checkpoint (--out + '.checkpoint') and the report gets no duplicate. Exit 0 when items
    matched, 1 when none did.

    With --dask or --cluster (the 'scan' extra) it runs on Dask: SOURCE may then be an fsspec
    URL, every core works, and a rerun skips the partitions done (state in --state).

    With --c2pa (the 'c2pa' extra) every media file hashed also has its C2PA manifest read:
    an item carrying one is reported even without a match, with its summary (JSON lines) or
    c2pa_* columns (CSV). Exit 1 still means no item matched.
    """
    fmt = fmt or ("csv" if out.suffix.lower() == ".csv" else "jsonl")
    node = open_node(home)
    check = node.scan_credential_check() if c2pa else None  # a missing extra fails up front
    if wants_dask(node, dask):
        scan_on_dask(node, source, out, fmt=fmt, progress=progress, as_json=as_json, options=dask, c2pa=check)
        return
    path = Path(source)
    if "://" in source or not path.exists():
        raise click.BadParameter(
            f"Path {source!r} does not exist (an fsspec URL needs --dask).", param_hint="'SOURCE'"
        )
    with progress_bar(progress, length=pending_rows(path, out, c2pa=check), label="scanning") as bar:
        report = node.scan(path, out, fmt=fmt, chunk_rows=chunk_rows, progress=bar.update, c2pa=check)
    lines = [f"resumed after row {report.resumed_from}"] if report.resumed_from else []
    lines += [
        f"scanned {report.rows} item(s): {report.matched} matched, "
        f"{report.unusable} without a usable signal; report {out}",
        f"throughput {report.items_per_second:,.0f} items/s ({report.scanned} in {report.seconds:.1f} s)",
    ]
    data = {
        "rows": report.rows,
        "scanned": report.scanned,
        "matched": report.matched,
        "unusable": report.unusable,
        "resumed_from": report.resumed_from,
        "seconds": round(report.seconds, 3),
        "items_per_second": round(report.items_per_second, 1),
        "report": str(out),
        "format": fmt,
    }
    if c2pa:
        lines.append(c2pa_summary(report.credentials, report.ai_generated))
        data["c2pa"] = {"items": report.credentials, "ai_generated": report.ai_generated}
    emit(as_json, data, lines)
    if not report.matched:
        click.get_current_context().exit(1)


COMMANDS = [expire_cmd, relabel_cmd, scan_cmd]
