"""``accord partner add|list|remove``: pinning partners (no trust on first use)."""

from __future__ import annotations

from pathlib import Path

import click

from node.cli.options import home_option, json_option, open_node
from node.cli.output import print_json, print_table, warn
from node.model import fingerprint, is_loopback_endpoint


@click.group("partner")
def partner_group() -> None:
    """Pin, list and unpin partners."""


@partner_group.command("add")
@home_option
@click.argument("name")
@click.option("--key", "public_key", required=True, help="The partner's public key, ed25519:<base64>.")
@click.option("--endpoint", default=None, help="HOST:PORT of its partner API, if this node pulls from it.")
@click.option(
    "--cert-fingerprint",
    default=None,
    help="SHA-256 fingerprint of its TLS certificate (sha256:<hex>, from its 'accord identity').",
)
@click.option(
    "--encryption-key",
    default=None,
    help="Its encryption key, x25519:<base64> (from its 'accord identity'): what AMBER and RED bodies"
    " are sealed to. Without it, the partner confirms its key on its first sync with this node.",
)
def add_cmd(
    home: Path | None,
    name: str,
    public_key: str,
    endpoint: str | None,
    cert_fingerprint: str | None,
    encryption_key: str | None,
) -> None:
    """Pin partner NAME with its public key (and endpoint to pull from, and TLS certificate).

    Without --cert-fingerprint the partner is reached in plaintext, which the node allows only
    for a loopback endpoint (or with network.insecure_plaintext). Restricted (AMBER, RED) bodies
    are sealed only to an encryption key the partner confirmed: pinned here, or signed by the
    partner in its requests to this node and in what peers pass on.
    """
    partner = open_node(home).add_partner(
        name,
        public_key=public_key,
        endpoint=endpoint,
        cert_fingerprint=cert_fingerprint,
        encryption_key=encryption_key,
    )
    click.echo(f"pinned {partner.name}: key id {partner.key_id} (fingerprint {fingerprint(partner.key_id)})")
    if partner.cert_fingerprint is not None:
        click.echo(f"TLS certificate pinned: {partner.cert_fingerprint}")
    elif partner.endpoint is not None and not is_loopback_endpoint(partner.endpoint):
        warn(
            f"no TLS certificate pinned for {partner.name}: pulls from {partner.endpoint} are refused"
            " until you run 'accord partner pin' (or set network.insecure_plaintext)"
        )


@partner_group.command("pin")
@home_option
@click.argument("name")
@click.option("--cert-fingerprint", required=True, help="The partner's new TLS certificate fingerprint.")
def pin_cmd(home: Path | None, name: str, cert_fingerprint: str) -> None:
    """Pin a (new) TLS certificate fingerprint for partner NAME, e.g. after it rotated it."""
    partner = open_node(home).pin_partner_certificate(name, cert_fingerprint)
    click.echo(f"TLS certificate pinned for {partner.name}: {partner.cert_fingerprint}")


@partner_group.command("list")
@home_option
@json_option
def list_cmd(home: Path | None, as_json: bool) -> None:
    """List pinned partners."""
    partners = open_node(home).partners()
    if as_json:
        print_json(
            [
                {
                    "name": p.name,
                    "key_id": p.key_id,
                    "endpoint": p.endpoint,
                    "cert_fingerprint": p.cert_fingerprint,
                }
                for p in partners
            ]
        )
        return
    if not partners:
        click.echo("no partners pinned (add one with 'accord partner add')")
        return
    print_table(
        ["name", "fingerprint", "endpoint", "tls certificate"],
        [(p.name, fingerprint(p.key_id), p.endpoint or "-", p.cert_fingerprint or "-") for p in partners],
    )


@partner_group.command("remove")
@home_option
@click.argument("name")
def remove_cmd(home: Path | None, name: str) -> None:
    """Unpin partner NAME (its entries stay as history; nothing more is accepted from it)."""
    open_node(home).remove_partner(name)
    click.echo(f"unpinned {name}")


COMMANDS = [partner_group]
