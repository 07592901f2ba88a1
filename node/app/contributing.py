"""Contributing and curating our own feed: contribute, revoke, expire, relabel (TLP changes included).

One use-case family of :class:`node.app.node.AccordNode` (a mixin over :class:`NodeParts`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from node.app.attesting import read_media_for_credentials
from node.app.contribute import (
    Collected,
    CredentialReader,
    Progress,
    Refusal,
    Sources,
    collect,
    distributions_for,
    merge_reports,
    screen_item_categories,
    screen_relabels,
    screen_warninglisted,
    split_by_tlp,
    vetted_category,
)
from node.app.parts import NodeParts
from node.errors import InvalidInput, NotFound, extra_install_hint
from node.hashing import ListRefusal, read_hash_list
from node.hashing.credentials import credentials_available, load_trust_anchors, read_credentials
from node.match import builtin_warninglists
from node.model import (
    ContentType,
    Distribution,
    Indicator,
    Signal,
    Tlp,
)
from node.model.clock import utc_now
from node.model.provenance import ATTESTED_CATEGORY, ContentCredentials, IndicatorNote, note_of
from node.sync import partners as partner_ops
from node.sync.publish import PublishReport
from node.sync.query import BENIGN

log = logging.getLogger(__name__)


# The rejection counter's reason for an item of a local command that was refused: a media file
# that cannot be read, a malformed hash-list line, a STIX object the library refuses, a
# safelisted signal. Counted like partners' refused input (``accord status``, metrics).
LOCAL_REFUSED = "local_input_refused"


@dataclass(frozen=True, slots=True)
class ContributeReport:
    """What ``accord contribute`` did."""

    publish: PublishReport | None
    refused: tuple[Refusal, ...]
    duplicates: int = 0  # read twice in this import, or already published with the same labels
    forced: tuple[Refusal, ...] = ()  # safelisted signals contributed anyway (--force)
    # Media files whose C2PA manifest was recorded with their indicators, with its summary;
    # and why manifests were not checked (the c2pa extra missing), said once per contribution.
    credentials: tuple[tuple[str, ContentCredentials], ...] = ()
    c2pa_note: str | None = None


class ContributingMixin(NodeParts):
    """Contributing and curating our own feed."""

    def contribute(
        self,
        *,
        files: Sequence[Path] = (),
        lists: Sequence[Path] = (),
        stix: Sequence[Path] = (),
        signals: Sequence[str] = (),
        category: str,
        tlp: Tlp,
        content_type: ContentType | None = None,
        recipients: Iterable[str] = (),
        groups: Iterable[str] = (),
        valid_until: datetime | None = None,
        force: bool = False,
        any_file: bool = False,
        new_category: bool = False,
        force_warninglisted: bool = False,
        progress: Progress | None = None,
        description: str | None = None,
        labels: Sequence[str] = (),
    ) -> ContributeReport:
        """Hash media (directories walked), read hash lists, STIX bundles and ``signals``; publish.

        Restartable: a signal already published by us under the same labels is a duplicate and
        adds nothing. A safelisted signal is refused unless ``force``. Large batches are split
        into entries within ``limits.max_objects_per_entry``. ``recipients`` (partner names) and
        ``groups`` (sharing group names) are resolved to key ids here, and those key ids are
        what the signed entry carries. A path that is not an image or video (by its content) is
        refused unless ``any_file``. A category outside the shared vocabulary is refused unless
        ``new_category``. A signal we already share keeps its category and audience: an item
        that would change the category or widen the TLP (or its recipients) is refused, naming
        ``accord relabel``, which does that explicitly. A value on a MISP warninglist of
        known-benign file hashes is refused unless ``force_warninglisted``. ``description`` and
        ``labels`` (the documented vocabulary, :func:`node.model.provenance.parse_label`) go
        with every item; contributing a signal again with another note publishes a new version.
        """
        category = vetted_category(category, new_category=new_category)
        note = note_of(description=description, labels=list(labels))  # refused before any hashing
        keys = partner_ops.resolve_recipients(self.store, partners=list(recipients), groups=list(groups))
        if not stix or tlp.names_recipients:
            # Refused before any hashing. With STIX, --to may address only what its markings restrict.
            Distribution(tlp=tlp, recipients=keys)
        now = utc_now()
        if valid_until is not None and valid_until <= now:
            raise InvalidInput("--valid-until must be in the future")
        sources = Sources(files=files, lists=lists, stix=stix, signals=signals, any_file=any_file)
        collected = collect(
            sources,
            content_type=content_type,
            valid_until=valid_until,
            now=now,
            progress=progress,
            credentials=self._credential_reader() if files else None,
        )
        if note is not None:
            collected.items = [replace(item, note=_with_note(item.note, note)) for item in collected.items]
        c2pa_note = _c2pa_note(collected)
        screen_item_categories(collected, new_category=new_category)
        forced = self._screen_safelisted(collected, category=category, force=force)
        forced += screen_warninglisted(
            collected, builtin_warninglists, category=category, force=force_warninglisted
        )
        if keys or not tlp.names_recipients:
            # Contributing again never relabels: the audience the items would go to (STIX
            # markings may only make it stricter) against the one each is shared with now.
            floor = Distribution(tlp=tlp, recipients=keys if tlp.names_recipients else frozenset())
            screen_relabels(collected, self._own_current(collected), category=category, distribution=floor)
        collected.refused[:] = self._count_refused(collected.refused)
        unique = len({item.signal for item in collected.items})
        repeats = len(collected.items) - unique
        if not collected.items:
            return ContributeReport(
                publish=None, refused=tuple(collected.refused), forced=forced, c2pa_note=c2pa_note
            )
        by_tlp = split_by_tlp(collected, tlp)
        distributions = distributions_for(by_tlp, floor=tlp, recipients=keys)  # before any publish
        reports = [
            self.publisher.contribute(items, category=category, distribution=distributions[level])
            for level, items in by_tlp.items()
        ]
        report = merge_reports(reports)
        if groups and tlp.names_recipients:
            with self.store.write() as tx:
                tx.record_entry_groups(report.seqs, groups)
        self._follow_commits()
        self.audit.record(
            "contribute",
            {
                "category": category,
                "tlp": tlp.value,
                "tlps": {level.value: len(items) for level, items in by_tlp.items()},
                "items": len(collected.items),
                "added": report.added,
                "updated": report.updated,
                "duplicates": repeats + report.unchanged,
                "refused": len(collected.refused),
                "forced": len(forced),
                "entries": list(report.seqs),
                "c2pa": len(collected.credentials),
            },
        )
        return ContributeReport(
            publish=report,
            refused=tuple(collected.refused),
            duplicates=repeats + report.unchanged,
            forced=forced,
            credentials=tuple(collected.credentials),
            c2pa_note=c2pa_note,
        )

    def _credential_reader(self) -> CredentialReader | None:
        """Reads media files' C2PA manifests under ``match.c2pa_trust_anchors`` (loaded once, so
        a broken anchors file is refused before anything is hashed); None without the extra."""
        if not credentials_available():
            return None
        name = self.config.match.c2pa_trust_anchors
        anchors = load_trust_anchors(self.home.root / name) if name else None
        return lambda path: read_credentials(read_media_for_credentials(path), trust_anchors=anchors)

    def _screen_safelisted(self, collected: Collected, *, category: str, force: bool) -> tuple[Refusal, ...]:
        """Refuse (or, with ``force``, keep and report) harmful contributions on the safelist."""
        harmful = [item for item in collected.items if (item.category or category) != BENIGN]
        if not harmful:
            return ()
        holds_benign = self._holds_benign()
        if not (holds_benign or self.matcher.has_local_safelist):
            return ()  # nothing is safelisted: skip the check
        if not self.lists.ready and holds_benign:
            self.load_lists()  # partners' benign indicators live in the lists
        results = self.matcher.match([item.signal for item in harmful])
        flagged = {r.query for r in results if r.safelisted}
        if not flagged:
            return ()
        notes = tuple(Refusal(s.redacted(), "on the safelist (known benign)") for s in flagged)
        if not force:
            collected.items = [i for i in collected.items if i.signal not in flagged]
            collected.refused.extend(
                replace(n, reason=n.reason + ": refused, use --force to contribute it anyway") for n in notes
            )
            return ()
        return notes

    def _own_current(self, collected: Collected) -> dict[Signal, tuple[Indicator, Distribution]]:
        """Our newest live indicator of each collected signal that has one, with its audience."""
        current: dict[Signal, Indicator] = {}
        signals = {item.signal for item in collected.items}
        for signal, found in self.store.local_indicators_with_signals(signals).items():
            # An attestation of the same file is a separate record, never relabelled by this.
            live = [
                i
                for i in found
                if not i.revoked and i.origin == self.origin and i.category != ATTESTED_CATEGORY
            ]
            if live:
                current[signal] = max(live, key=lambda i: i.modified)
        shared = self.store.distributions_of(ind.id for ind in current.values())
        return {s: (ind, shared[ind.id]) for s, ind in current.items() if ind.id in shared}

    def _count_refused(self, refused: Sequence[Refusal]) -> list[Refusal]:
        """Count refused local items, in one transaction; returns them marked ``known`` when an
        earlier run refused the same item for the same reason. A refusal names the item (path,
        line, object, or a redacted signal) and never carries a hash value."""
        if not refused:
            return []
        messages = [f"{refusal.source}: {refusal.reason}" for refusal in refused]
        known = self.store.known_rejections(LOCAL_REFUSED, messages)
        with self.store.write() as tx:
            for message in messages:
                tx.record_rejection(
                    partner=None, origin=None, seq=None, reason=LOCAL_REFUSED, message=message
                )
        return [replace(r, known=m[:500] in known) for r, m in zip(refused, messages, strict=True)]

    def _holds_benign(self) -> bool:
        return any(row.category == BENIGN for row in self.store.counts())

    def own_indicator_ids(self, targets: Iterable[str]) -> list[str]:
        """Ids of our live indicators named by id or ``TYPE:VALUE``; NotFound for any other."""
        ids: list[str] = []
        for target in targets:
            if target.startswith("indicator--"):
                ids.append(target)
                continue
            own = [i for i in self.publisher.own_indicators(Signal.parse(target)) if not i.revoked]
            if not own:
                raise NotFound(
                    f"this node has published no active indicator with {Signal.parse(target).redacted()}"
                )
            ids.extend(i.id for i in own)
        return ids

    def targets_from_list(self, path: Path) -> tuple[list[str], list[Refusal]]:
        """The signals a hash list names (as ``TYPE:VALUE``) and its refused lines (counted)."""
        targets: list[str] = []
        refused: list[Refusal] = []
        for item in read_hash_list(path):
            if isinstance(item, ListRefusal):
                refused.append(Refusal(f"{path}:{item.line}", item.reason))
            else:
                targets.append(str(item.signal))
        return targets, self._count_refused(refused)

    def revoke(self, targets: Sequence[str]) -> PublishReport:
        """Revoke our indicators named by id or by ``TYPE:VALUE``."""
        return self._amend(targets, lambda ind: replace(ind, revoked=True), action="revoke")

    def expire(self, targets: Sequence[str], *, at: datetime) -> PublishReport:
        """Publish versions of our indicators valid until ``at``; they stop matching from then on."""

        def change(ind: Indicator) -> Indicator:
            if at <= ind.created:
                raise InvalidInput(f"{ind.id} was created at {ind.created.isoformat()}; --at must be later")
            return replace(ind, valid_until=at)

        return self._amend(targets, change, action="expire")

    def relabel(
        self,
        targets: Sequence[str],
        *,
        category: str | None,
        content_type: ContentType | None,
        tlp: Tlp | None = None,
        recipients: Sequence[str] = (),
        groups: Sequence[str] = (),
        new_category: bool = False,
    ) -> PublishReport:
        """Publish versions of our indicators under a new category and/or content type, and
        share them under another TLP / audience (``tlp``: the old versions are revoked where they
        were shared and the signals published afresh to the new audience, never a version that
        reaches fewer partners than the one before)."""
        slug = None if category is None else vetted_category(category, new_category=new_category)

        def change(ind: Indicator) -> Indicator:
            return replace(
                ind,
                category=slug or ind.category,
                content_type=content_type or ind.content_type,
            )

        report = self._amend(targets, change, action="relabel")
        if tlp is None:
            return report
        keys = partner_ops.resolve_recipients(self.store, partners=list(recipients), groups=list(groups))
        distribution = Distribution(tlp=tlp, recipients=keys)
        ids = self.own_indicator_ids(targets)
        moved = self.publisher.retarget(ids, distribution)
        self._follow_commits()
        self.audit.record(
            "relabel",
            {"indicator_ids": ids, "tlp": tlp.value, "recipients": sorted(keys), "entries": list(moved.seqs)},
        )
        return PublishReport(
            seqs=report.seqs + moved.seqs,
            added=0,
            updated=max(report.updated, moved.updated),
            unchanged=min(report.unchanged, moved.unchanged),
        )

    def _amend(
        self, targets: Sequence[str], change: Callable[[Indicator], Indicator], *, action: str
    ) -> PublishReport:
        ids = self.own_indicator_ids(targets)
        report = self.publisher.amend(ids, change)
        self._follow_commits()
        self.audit.record(action, {"indicator_ids": ids, "entries": list(report.seqs)})
        return report


def _with_note(read: IndicatorNote | None, given: IndicatorNote) -> IndicatorNote:
    """The command's description and labels, with the C2PA summary read from the item's file."""
    return given if read is None else replace(given, c2pa=read.c2pa)


def _c2pa_note(collected: Collected) -> str | None:
    """Why some media files carry no C2PA reading: the extra is missing, or a manifest could not
    be read (their hashes are shared all the same)."""
    parts = ["C2PA not checked: " + extra_install_hint("c2pa")] if collected.unchecked else []
    parts += [
        f"C2PA manifest of {path} not read ({why}); its hashes shared" for path, why in collected.unread
    ]
    return "; ".join(parts) or None
