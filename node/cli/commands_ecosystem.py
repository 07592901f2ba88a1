"""``accord analyst …``, ``accord partner add-taxii|sources|accept|remove-source``, ``accord import-misp``.

The bridges to other tools: accounts for the read-only TAXII server, TAXII collections pulled
as unsigned sources, and MISP feeds imported once. Tokens are printed once and never again.
"""

from __future__ import annotations

from pathlib import Path

import click

from node.cli.bulk import EXIT_PARTIAL
from node.cli.commands_partner import partner_group
from node.cli.options import home_option, json_option, open_node, write_json_option
from node.cli.output import emit, print_json, print_table, warn
from node.errors import InvalidInput
from node.model import Tlp, Trust
from node.sync.sources import ImportReport

_TRUST = click.Choice([t.value for t in (Trust.AUTO, Trust.REVIEW, Trust.OBSERVE)])
_TRUST_HELP = (
    "auto: matches (may be acted on); review: matches, each match says a person confirms first;"
    " observe: held and counted, never matches (until 'accord partner accept')."
)
_SOURCE_TRUST = Trust.REVIEW  # unsigned: matched, but never acted on without a person
_TLP = click.Choice([t.value for t in Tlp])


@click.group("analyst")
def analyst_group() -> None:
    """Accounts that read this node over TAXII: 'accord account' accounts with role analyst
    (tokens are shown once; the same token reads the HTTP API)."""


@analyst_group.command("add")
@home_option
@click.argument("name")
@click.option(
    "--max-tlp", type=_TLP, default=None, help="Most restricted TLP shown [default: taxii.analyst_max_tlp]."
)
@click.option("--partner", default=None, help="Stand for this pinned partner: see exactly what it may pull.")
@write_json_option
def analyst_add_cmd(
    home: Path | None, name: str, max_tlp: str | None, partner: str | None, as_json: bool
) -> None:
    """Create account NAME and print its token (once: only a hash of it is kept). Audited."""
    if max_tlp is not None and partner is not None:
        raise InvalidInput("--max-tlp and --partner exclude each other: a partner sees what it may pull")
    account = open_node(home).add_analyst(
        name, max_tlp=None if max_tlp is None else Tlp.parse(max_tlp), partner=partner
    )
    if as_json:
        level = None if account.max_tlp is None else account.max_tlp.value
        emit(True, {"name": name, "token": account.token, "max_tlp": level, "partner": partner}, [])
        return
    click.echo(account.token)
    warn(
        f"created account {name}: the token above is shown only now;"
        " use it as a Bearer token or as the Basic password"
    )


@analyst_group.command("list")
@home_option
@json_option
def analyst_list_cmd(home: Path | None, as_json: bool) -> None:
    """List accounts (never their tokens)."""
    node = open_node(home)
    ceiling = node.config.taxii.analyst_max_tlp
    rows = [
        {
            "name": a.name,
            "partner": a.partner,
            "max_tlp": a.max_tlp.value if a.max_tlp else None,
            "added_at": a.added_at,
        }
        for a in node.bridges.analysts()
    ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo("no accounts (add one with 'accord analyst add')")
        return
    print_table(
        ["name", "sees", "added"],
        [
            (
                r["name"],
                f"as partner {r['partner']}" if r["partner"] else f"up to {r['max_tlp'] or ceiling}",
                r["added_at"],
            )
            for r in rows
        ],
    )


@analyst_group.command("remove")
@home_option
@click.argument("name")
def analyst_remove_cmd(home: Path | None, name: str) -> None:
    """Delete account NAME: its token stops working at once."""
    open_node(home).remove_analyst(name)
    click.echo(f"removed account {name}")


@partner_group.command("add-taxii")
@home_option
@click.argument("name")
@click.argument("url")
@click.option("--collection", required=True, help="Collection id on that TAXII 2.1 API root.")
@click.option("--user", default=None, help="HTTP Basic user name (the token is then its password).")
@click.option("--token", default=None, help="Bearer token, or Basic password with --user.")
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Read the token from this file instead (keeps it out of shell history).",
)
@click.option(
    "--trust",
    type=_TRUST,
    default=_SOURCE_TRUST.value,
    show_default=True,
    help=_TRUST_HELP,
)
@click.option("--category", default=None, help="Category for objects that carry none [default: unspecified].")
def add_taxii_cmd(
    home: Path | None,
    name: str,
    url: str,
    collection: str,
    user: str | None,
    token: str | None,
    token_file: Path | None,
    trust: str,
    category: str | None,
) -> None:
    """Pull TAXII 2.1 collection ID at API root URL as unsigned source NAME, on the partners' schedule."""
    if token_file is not None:
        token = token_file.read_text(encoding="utf-8").strip()
    if user is not None and token is None:
        raise InvalidInput("--user needs --token or --token-file (the Basic password)")
    source = open_node(home).bridges.add_taxii_source(
        name,
        url=url,
        collection=collection,
        username=user,
        secret=token,
        trust=Trust.parse(trust),
        category=category,
    )
    click.echo(f"added TAXII source {source.name} (trust {source.trust.value}); 'accord sync' pulls it now")


@partner_group.command("sources")
@home_option
@json_option
def sources_cmd(home: Path | None, as_json: bool) -> None:
    """List unsigned sources (TAXII collections, MISP feeds) with their trust and staged counts."""
    node = open_node(home)
    staged = node.bridges.staged_counts()
    rows = [
        {
            "name": s.name,
            "kind": s.kind.value,
            "url": s.url,
            "collection": s.collection,
            "trust": s.trust.value,
            "added_after": s.added_after,
            "staged": staged.get(s.name, 0),
        }
        for s in node.bridges.sources()
    ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo("no unsigned sources (see 'accord partner add-taxii' and 'accord import-misp')")
        return
    print_table(
        ["name", "kind", "trust", "staged", "read up to", "url"],
        [(r["name"], r["kind"], r["trust"], r["staged"], r["added_after"] or "-", r["url"]) for r in rows],
    )


@partner_group.command("accept")
@home_option
@click.argument("name")
def accept_cmd(home: Path | None, name: str) -> None:
    """Raise observe-trust source NAME to review: what it staged matches from now on."""
    count = open_node(home).bridges.accept_source(name)
    click.echo(f"accepted {count} indicators from {name}")


@partner_group.command("remove-source")
@home_option
@click.argument("name")
def remove_source_cmd(home: Path | None, name: str) -> None:
    """Forget source NAME and what it staged (indicators already matched stay as history)."""
    open_node(home).bridges.remove_source(name)
    click.echo(f"removed source {name}")


@click.command("import-misp")
@home_option
@click.argument("location")
@click.option(
    "--source",
    "source_name",
    default="misp",
    show_default=True,
    help="Source the indicators are attributed to.",
)
@click.option(
    "--trust",
    type=_TRUST,
    default=_SOURCE_TRUST.value,
    show_default=True,
    help=_TRUST_HELP,
)
@click.option("--category", default=None, help="Category when no tag maps to one [default: refuse those].")
@json_option
def import_misp_cmd(
    home: Path | None, location: str, source_name: str, trust: str, category: str | None, as_json: bool
) -> None:
    """Import a MISP feed (manifest.json + event files) from directory or http(s) URL LOCATION."""
    report = open_node(home).bridges.import_misp(
        location, name=source_name, trust=Trust.parse(trust), category=category
    )
    _print_import(report, as_json=as_json)
    if report.refused:
        click.get_current_context().exit(EXIT_PARTIAL)


def _print_import(report: ImportReport, *, as_json: bool) -> None:
    if as_json:
        print_json(
            {
                "source": report.source,
                "added": report.added,
                "staged": report.staged,
                "unchanged": report.unchanged,
                "skipped": report.skipped,
                "refused": [{"item": r.item, "reason": r.reason} for r in report.refused],
            }
        )
        return
    click.echo(
        f"{report.source}: {report.added} added, {report.staged} staged, {report.unchanged} unchanged, "
        f"{report.skipped} attributes of other types skipped, {len(report.refused)} refused"
    )
    for refusal in report.refused:
        warn(f"refused {refusal.item}: {refusal.reason}")


COMMANDS = [analyst_group, import_misp_cmd]
