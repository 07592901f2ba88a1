"""``accord dispute|agree|withdraw|feedback``, ``accord key rotate``, ``accord partner set|compromise|…``.

Feedback on shared indicators (STIX Opinions in our own feed) and the operator's trust
decisions about partners. The partner subcommands join the ``partner`` group.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from node.cli.commands_partner import partner_group
from node.cli.options import home_option, json_option, open_node, write_json_option
from node.cli.output import emit, print_json, print_table
from node.model import KeyId, OpinionValue, PartnerPolicy

_TARGETS = click.argument("targets", nargs=-1, required=True, metavar="TYPE:VALUE|INDICATOR_ID...")


def _published(seqs: list[int], what: str, *, as_json: bool) -> None:
    text = f"published {what} in entr{'y' if len(seqs) == 1 else 'ies'} seq {', '.join(map(str, seqs))}"
    emit(as_json, {"opinion": what, "entries": seqs}, [text])


@click.command("dispute")
@home_option
@_TARGETS
@click.option(
    "--reason", required=True, help="Why the indicator is wrong (shown to its origin and partners)."
)
@click.option("--strongly", is_flag=True, help="Publish strongly-disagree instead of disagree.")
@write_json_option
def dispute_cmd(
    home: Path | None, targets: tuple[str, ...], reason: str, strongly: bool, as_json: bool
) -> None:
    """Dispute other origins' indicators (e.g. a false positive): a STIX Opinion in our feed.

    TYPE:VALUE names every held indicator of another origin with that signal. A later opinion
    of ours about the same indicator replaces this one.
    """
    value = OpinionValue.STRONGLY_DISAGREE if strongly else OpinionValue.DISAGREE
    _published(open_node(home).opine(targets, value=value, explanation=reason), value.value, as_json=as_json)


@click.command("agree")
@home_option
@_TARGETS
@click.option("--reason", default=None, help="Optional explanation (e.g. 'confirmed by our review').")
@click.option("--strongly", is_flag=True, help="Publish strongly-agree instead of agree.")
@write_json_option
def agree_cmd(
    home: Path | None, targets: tuple[str, ...], reason: str | None, strongly: bool, as_json: bool
) -> None:
    """Confirm other origins' indicators: a STIX Opinion (agree) in our feed."""
    value = OpinionValue.STRONGLY_AGREE if strongly else OpinionValue.AGREE
    _published(open_node(home).opine(targets, value=value, explanation=reason), value.value, as_json=as_json)


@click.command("withdraw")
@home_option
@_TARGETS
@write_json_option
def withdraw_cmd(home: Path | None, targets: tuple[str, ...], as_json: bool) -> None:
    """Withdraw our opinion of indicators (publishes the opinion revoked)."""
    _published(open_node(home).withdraw_opinions(targets), "withdrawal", as_json=as_json)


@click.command("feedback")
@home_option
@json_option
def feedback_cmd(home: Path | None, as_json: bool) -> None:
    """Opinions and sightings other origins published about this node's own indicators."""
    node = open_node(home)
    items, totals = node.feedback()
    names = node.names()

    def name(key: KeyId) -> str:
        return names.get(key, key[:12])

    opinions = [
        {
            "indicator_id": item.opinion.indicator_id,
            "signal_type": item.signal_type,
            "category": item.category,
            "author": item.opinion.origin,
            "author_name": name(item.opinion.origin),
            "opinion": item.opinion.value.value,
            "explanation": item.opinion.explanation,
            "modified": item.opinion.modified.isoformat(),
        }
        for item in items
    ]
    sightings = [
        {
            "indicator_id": total.indicator_id,
            "signal_type": total.signal_type,
            "category": total.category,
            "sighted_by": total.sighted_by,
            "sighted_by_name": name(total.sighted_by),
            "count": total.count,
            "first_seen": total.first_seen.isoformat(),
            "last_seen": total.last_seen.isoformat(),
        }
        for total in totals
    ]
    if as_json:
        print_json({"opinions": opinions, "sightings": sightings})
        return
    _print_feedback(opinions, sightings)


def _print_feedback(opinions: list[dict[str, Any]], sightings: list[dict[str, Any]]) -> None:
    if not opinions and not sightings:
        click.echo("no feedback on this node's indicators")
        return
    if opinions:
        keys = ["indicator_id", "signal_type", "category", "author_name", "opinion", "explanation"]
        headers = ["indicator", "signal", "category", "by", "opinion", "explanation"]
        print_table(headers, [tuple(row[k] or "-" for k in keys) for row in opinions])
    if sightings:
        if opinions:
            click.echo("")
        keys = [
            "indicator_id",
            "signal_type",
            "category",
            "sighted_by_name",
            "count",
            "first_seen",
            "last_seen",
        ]
        headers = ["indicator", "signal", "category", "sighted by", "matches", "first seen", "last seen"]
        print_table(headers, [tuple(row[k] for k in keys) for row in sightings])


@click.command("sightings")
@home_option
def sightings_cmd(home: Path | None) -> None:
    """Publish now the sightings due to partners that opted in (--share-sightings yes).

    'accord serve' does this every sync.sightings_seconds; each indicator's matches since the
    last report go to its origin alone (TLP AMBER+STRICT).
    """
    seqs = open_node(home).publish_sightings()
    if seqs:
        _published(seqs, "sightings", as_json=False)
    else:
        click.echo("no sightings due (no matches of opted-in partners' indicators since the last report)")


def _policy_text(name: str, policy: PartnerPolicy) -> str:
    categories = ",".join(sorted(policy.categories)) if policy.categories is not None else "all"
    kinds = (
        ",".join(sorted(t.value for t in policy.signal_types)) if policy.signal_types is not None else "all"
    )
    sightings = "yes" if policy.share_sightings else "no"
    trust = policy.trust.value
    return f"{name}: categories {categories}; signal types {kinds}; trust {trust}; sightings {sightings}"


@partner_group.command("set")
@home_option
@click.argument("name")
@click.option(
    "--accept-categories",
    "categories",
    multiple=True,
    help="Categories to accept, comma separated, or 'all'.",
)
@click.option(
    "--accept-types",
    "signal_types",
    multiple=True,
    help="Signal types to accept (md5, sha1, sha256, pdq), or 'all'.",
)
@click.option(
    "--trust",
    "trust_level",
    default=None,
    help="auto: matches (may be acted on); review: matches, a person confirms first; "
    "observe: held and counted, never matches.",
)
@click.option(
    "--share-sightings", type=click.Choice(["yes", "no"]), default=None, help="Opt in to sharing sightings."
)
@click.option(
    "--endpoint", default=None, help="Pull the partner from this HOST:PORT from now on ('' stops pulling it)."
)
@json_option
def set_cmd(
    home: Path | None,
    name: str,
    categories: tuple[str, ...],
    signal_types: tuple[str, ...],
    trust_level: str | None,
    share_sightings: str | None,
    endpoint: str | None,
    as_json: bool,
) -> None:
    """Set what this node accepts from partner NAME and how far it trusts it.

    Indicators outside the policy stay stored (the feed is kept whole) but do not match; a
    later change of policy applies to the next match. Options not given keep their value.
    """
    node = open_node(home)
    endpoint_now = None if endpoint is None else node.set_partner_endpoint(name, endpoint).endpoint
    policy = node.set_partner_policy(
        name,
        categories=categories or None,
        signal_types=signal_types or None,
        trust_level=trust_level,
        share_sightings=None if share_sightings is None else share_sightings == "yes",
    )
    if as_json:
        print_json(
            {
                "name": name,
                "categories": sorted(policy.categories) if policy.categories is not None else None,
                "signal_types": sorted(t.value for t in policy.signal_types) if policy.signal_types else None,
                "trust": policy.trust.value,
                "share_sightings": policy.share_sightings,
                **({} if endpoint is None else {"endpoint": endpoint_now}),
            }
        )
        return
    click.echo(_policy_text(name, policy))
    if endpoint is not None:
        click.echo(f"{name}: pulled from {endpoint_now}" if endpoint_now else f"{name}: not pulled")


@partner_group.command("compromise")
@home_option
@click.argument("name")
@click.option(
    "--from-seq", type=click.IntRange(min=1), required=True, help="First feed position to distrust."
)
def compromise_cmd(home: Path | None, name: str, from_seq: int) -> None:
    """Mark partner NAME's key compromised from feed position --from-seq.

    Entries it signs at or after that position are refused, and the signals they carried stop
    matching. Undo only with 'accord partner uncompromise NAME'.
    """
    open_node(home).mark_compromised(name, from_seq=from_seq)
    click.echo(f"{name}: key marked compromised from seq {from_seq}; its later entries are refused")


@partner_group.command("uncompromise")
@home_option
@click.argument("name")
def uncompromise_cmd(home: Path | None, name: str) -> None:
    """Lift the compromise mark on partner NAME's key (an explicit operator decision)."""
    open_node(home).clear_compromise(name)
    click.echo(f"{name}: compromise mark cleared; entries from the marked position match again")


@click.group("key")
def key_group() -> None:
    """Manage this node's signing key."""


@key_group.command("rotate")
@home_option
@click.option(
    "--encryption", is_flag=True, help="Rotate the X25519 encryption key instead of the signing key."
)
def rotate_cmd(home: Path | None, encryption: bool) -> None:
    """Rotate the signing key: a feed entry signed by the old and the new key.

    Partners accept it when both signatures verify, and from then on accept only entries signed
    by the new key. The node's identity (the key id partners pinned) stays the same. The old key
    is kept as identity.key.retired-SEQ (mode 0600); restart a running 'accord serve'.

    With --encryption: a new encryption key (what partners seal restricted bodies to), announced
    in a feed entry and in every request to partners from now on. The old private key is kept in
    encryption-old/ (mode 0600), only to read bodies sealed to it before.
    """
    node = open_node(home)
    if encryption:
        seq, key_id = node.rotate_encryption_key()
        where = f"announced at seq {seq}" if seq is not None else "announced in requests to partners"
        click.echo(f"new encryption key {key_id[:16]}…, {where}; old key kept to read old bodies")
        return
    seq, key_id = node.rotate_key()
    click.echo(f"rotated at seq {seq}: key {key_id[:16]}… signs from now on; identity unchanged")


COMMANDS = [dispute_cmd, agree_cmd, withdraw_cmd, feedback_cmd, sightings_cmd, key_group]
