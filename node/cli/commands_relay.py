"""``accord push`` (send our entries to a hub that cannot reach us) and ``accord evidence``."""

from __future__ import annotations

from pathlib import Path

import click

from node.cli.options import home_option, json_option, open_node
from node.cli.output import print_json, print_table

EXIT_PEER = 4


@click.command("push")
@home_option
@click.argument("partner")
@json_option
def push_cmd(home: Path | None, partner: str, as_json: bool) -> None:
    """Push our own entries PARTNER does not hold yet (and may receive, by TLP) to PARTNER.

    For contributors that cannot accept inbound connections: the partner verifies each entry
    with our pinned key exactly as if it had pulled it. Exit 4 when it refused any.
    """
    report = open_node(home).push(partner)
    if as_json:
        print_json(
            {
                "partner": report.partner,
                "resumed_after": report.resumed_after,
                "accepted": report.accepted,
                "refused": report.refused,
            }
        )
    else:
        click.echo(f"{report.partner}: {report.summary()}")
    if report.refused:
        click.get_current_context().exit(EXIT_PEER)


@click.command("evidence")
@home_option
@json_option
def evidence_cmd(home: Path | None, as_json: bool) -> None:
    """Proof of equivocation: envelopes of one origin that name different entries at one seq.

    Each origin listed is quarantined: nothing more is accepted from it and its signals do not
    match. The envelopes are kept exactly as signed, for the operator to hand to the origin.
    """
    node = open_node(home)
    names = node.names()
    records = node.evidence()
    if as_json:
        print_json(
            [
                {
                    "origin": r.origin,
                    "origin_name": names.get(r.origin),
                    "seq": r.seq,
                    "digest": r.digest,
                    "kind": "head" if "head" in r.payload_type else "entry",
                    "via": r.via,
                    "detected_at": r.detected_at,
                }
                for r in records
            ]
        )
        return
    if not records:
        click.echo("no equivocation evidence held")
        return
    print_table(
        ["origin", "seq", "kind", "digest", "via", "detected"],
        [
            (
                names.get(r.origin, r.origin[:12]),
                r.seq,
                "head" if "head" in r.payload_type else "entry",
                r.digest,
                r.via or "-",
                r.detected_at,
            )
            for r in records
        ],
    )


COMMANDS = [push_cmd, evidence_cmd]
