"""``accord init``, ``accord identity`` and ``accord serve``."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import click

from node.app import AccordNode, Home, init_home, serve
from node.cli import logs
from node.cli.options import home_option, json_option, open_node, resolve_home, write_json_option
from node.cli.output import emit, print_json, print_table
from node.config import MAX_MATCH_WORKERS, NodeConfig


@click.command("init")
@home_option
@click.option("--name", required=True, help="Your organisation's name, as partners will see it.")
@write_json_option
def init_cmd(home: Path | None, name: str, as_json: bool) -> None:
    """Create a node home: Ed25519 identity (0600), TLS key (0600) and certificate, database, config."""
    root = resolve_home(home)
    init_home(root, name=name)
    node = AccordNode.open(root)
    card = node.identity_card()
    node.close()
    lines = [
        f"created node {name!r} in {root}",
        f"key id:      {card['key_id']}",
        f"fingerprint: {card['fingerprint']}",
        f"public key:  {card['public_key']}",
        f"tls cert:    {card['tls_fingerprint']}",
        "hand the public key and TLS certificate fingerprint to partners; compare them out of band",
    ]
    emit(as_json, {**card, "home": str(root)}, lines)


@click.command("identity")
@home_option
@json_option
def identity_cmd(home: Path | None, as_json: bool) -> None:
    """Print this node's key id, fingerprint, public key and TLS certificate fingerprint for partners."""
    card = open_node(home).identity_card()
    if as_json:
        print_json(card)
        return
    print_table(["field", "value"], list(card.items()))


@click.command("serve")
@home_option
@click.option("--listen", default=None, help="Partner API address HOST:PORT [default: network.listen].")
@click.option(
    "--local-listen", default=None, help="Local API address (loopback) [default: network.local_listen]."
)
@click.option(
    "--name", default="Accord node", show_default=True, help="Name for a node created on first start."
)
@click.option(
    "--insecure-plaintext",
    is_flag=True,
    help="DANGEROUS: serve and reach non-loopback partners without TLS (network.insecure_plaintext).",
)
@click.option(
    "--taxii",
    default=None,
    metavar="HOST:PORT",
    help="Also serve read-only TAXII 2.1 on this loopback address [default: taxii.listen, off].",
)
@click.option(
    "--http",
    default=None,
    metavar="HOST:PORT",
    help="Also serve the HTTP API here (TLS off loopback) [default: http.listen, off].",
)
@click.option(
    "--match-workers",
    type=click.IntRange(0, MAX_MATCH_WORKERS),
    default=None,
    metavar="N",
    help="Also answer Match from N processes, each on its own loopback port from"
    " network.match_listen [default: network.match_workers, 0].",
)
def serve_cmd(
    home: Path | None,
    listen: str | None,
    local_listen: str | None,
    name: str,
    insecure_plaintext: bool,
    taxii: str | None,
    http: str | None,
    match_workers: int | None,
) -> None:
    """Serve partners and the local Match API; pull from partners on a schedule.

    With no node at --home, one is created first (identity, database, default config).
    """
    root = resolve_home(home)
    if not Home(root).exists():
        init_home(root, name=name)
        click.echo(f"accord: created a new node in {root}", err=True)
    node = AccordNode.open(root)
    if not click.get_current_context().find_root().params.get("verbose"):
        logging.getLogger("node").setLevel(node.config.log.level.upper())  # -v overrides the file
    if node.config.log.format == "json":
        logs.use_json()
    if local_listen is not None:
        node.config = _with_local_listen(node, local_listen)
    if insecure_plaintext:
        node.config = replace(node.config, network=replace(node.config.network, insecure_plaintext=True))
    if match_workers is not None:
        node.config = replace(node.config, network=replace(node.config.network, match_workers=match_workers))
    json_lines = node.config.log.format == "json"
    serve(
        node,
        listen=listen,
        taxii=taxii,
        http=http,
        announce=lambda line: click.echo(logs.status_line(line, json_lines=json_lines), err=True),
    )


def _with_local_listen(node: AccordNode, address: str) -> NodeConfig:
    return replace(node.config, network=replace(node.config.network, local_listen=address))


COMMANDS = [init_cmd, identity_cmd, serve_cmd]
