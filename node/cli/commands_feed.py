"""``accord contribute``, ``accord revoke`` and ``accord export``: writing to our own feed."""

from __future__ import annotations

from pathlib import Path

import click

from node.cli.options import home_option, open_node
from node.cli.output import warn
from node.model import ContentType, Tlp

EXIT_PARTIAL = 2

TLP_CHOICES = [t.value for t in Tlp]


@click.command("contribute")
@home_option
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--list",
    "lists",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Hash list file: 'signal_type value' lines or CSV with a header. Repeatable.",
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
def contribute_cmd(
    home: Path | None,
    files: tuple[Path, ...],
    lists: tuple[Path, ...],
    signals: tuple[str, ...],
    category: str,
    tlp: str,
    content_type: str | None,
    recipients: tuple[str, ...],
    groups: tuple[str, ...],
) -> None:
    """Add FILES (hashed locally), hash lists and signals to this node's feed as one signed batch."""
    if not (files or lists or signals):
        raise click.UsageError("give media FILES, --list FILE or --signal TYPE:VALUE")
    report = open_node(home).contribute(
        files=files,
        lists=lists,
        signals=signals,
        category=category,
        tlp=Tlp.parse(tlp),
        content_type=None if content_type is None else ContentType.parse(content_type),
        recipients=recipients,
        groups=groups,
    )
    for refusal in report.refused:
        warn(f"refused {refusal.source}: {refusal.reason}")
    if report.publish is not None:
        p = report.publish
        seqs = ", ".join(str(s) for s in p.seqs) or "none (nothing changed)"
        click.echo(
            f"published entry seq {seqs}: {p.added} added, {p.updated} relabelled, {p.unchanged} unchanged"
        )
    else:
        click.echo("nothing published")
    if report.refused:
        warn(f"{len(report.refused)} item(s) refused; everything else was published")
        click.get_current_context().exit(EXIT_PARTIAL)


@click.command("revoke")
@home_option
@click.argument("targets", nargs=-1, required=True)
def revoke_cmd(home: Path | None, targets: tuple[str, ...]) -> None:
    """Revoke our own indicators, named as TYPE:VALUE or indicator--<uuid>.

    Partners stop matching them after their next sync; replaying the old entry cannot revive them.
    """
    report = open_node(home).revoke(targets)
    seqs = ", ".join(str(s) for s in report.seqs) or "none"
    click.echo(
        f"revoked {report.updated} indicator(s) in entry seq {seqs}; {report.unchanged} already revoked"
    )


@click.command("export")
@home_option
@click.option(
    "--stix",
    "path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a STIX 2.1 bundle to this file.",
)
@click.option("--include-red", is_flag=True, help="Also export TLP:RED indicators (never by default).")
def export_cmd(home: Path | None, path: Path, include_red: bool) -> None:
    """Export the active indicators this node holds as a STIX 2.1 bundle."""
    count = open_node(home).export_stix(path, include_red=include_red)
    click.echo(f"wrote {count} indicator(s) to {path}" + ("" if include_red else " (TLP:RED left out)"))


COMMANDS = [contribute_cmd, revoke_cmd, export_cmd]
