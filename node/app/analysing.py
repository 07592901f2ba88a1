"""Analysts and reports: query, provenance, exports, scans, opinions and feedback.

One use-case family of :class:`node.app.node.AccordNode` (a mixin over :class:`NodeParts`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from node.app.contribute import Progress
from node.app.near_queries import near_via_running_node
from node.app.parts import NodeParts
from node.app.scan import CHUNK_ROWS, ScanReport, run_scan
from node.errors import InvalidInput
from node.hashing.credentials import CredentialCheck, load_trust_anchors, require_credentials
from node.match import builtin_warninglists
from node.model import OpinionValue, Tlp
from node.model.clock import utc_now
from node.model.provenance import ATTESTED_CATEGORY
from node.model.queries import IndicatorQuery, QueryAnswer
from node.stix import build_export_bundle
from node.sync.analysts import NewAccount
from node.sync.export import (
    MATCH_LIST_FORMATS,
    STDOUT,
    export_bundle,
    export_stream,
    match_list_rows,
    write_match_list,
)
from node.sync.lookup import Provenance
from node.sync.opinions import FeedbackItem
from node.sync.report import TransparencyReport, build_report
from node.sync.sightings import SightingTotal

log = logging.getLogger(__name__)


class AnalysingMixin(NodeParts):
    """Analysts and reports."""

    def export_stix(self, path: Path, *, include_red: bool) -> int:
        """Write a STIX 2.1 bundle of held indicators to ``path`` (``-``: stdout; a file is 0600);
        returns how many it holds. Audited."""
        bundle, count = export_bundle(self.store, names=self.names(), include_red=include_red)
        with export_stream(path) as stream:
            stream.write(json.dumps(bundle, indent=1, ensure_ascii=False) + "\n")
        self._audit_export(path, fmt="stix", count=count, include_red=include_red)
        return count

    def _audit_export(self, path: Path, *, fmt: str, count: int, include_red: bool) -> None:
        target = "stdout" if path == STDOUT else str(path)
        self.audit.record(
            "export", {"path": target, "format": fmt, "indicators": count, "include_red": include_red}
        )

    def add_analyst(self, name: str, *, max_tlp: Tlp | None, partner: str | None) -> NewAccount:
        """Create a TAXII account (a credential: audited, without its token)."""
        account = self.bridges.add_analyst(name, max_tlp=max_tlp, partner=partner)
        level = None if max_tlp is None else max_tlp.value
        self.audit.record("analyst-add", {"analyst": name, "max_tlp": level, "partner": partner})
        return account

    def remove_analyst(self, name: str) -> None:
        """Delete a TAXII account (audited)."""
        self.bridges.remove_analyst(name)
        self.audit.record("analyst-remove", {"analyst": name})

    def query(
        self, query: IndicatorQuery, *, actor: str | None = None, prefer_running_node: bool = False
    ) -> QueryAnswer:
        """Indicators selected by ``query``; a query that may return RED rows is audited. With
        ``prefer_running_node``, a near-duplicate search (without RED) asks this node's running
        ``accord serve``, whose index answers in milliseconds; without one it scans here."""
        if prefer_running_node and query.near is not None and not query.include_red:
            answered = near_via_running_node(
                query,
                lookup=self.lookup,
                address=self.config.network.local_listen,
                key_id=self.key_id,
                timeout=self.config.network.rpc_timeout_seconds,
            )
            if answered is not None:
                return answered
        answer = self.lookup.query(query)
        if query.include_red:
            red = sum(1 for r in answer.rows if r.indicator.tlp is Tlp.RED)
            self.audit.record(
                "query-red", {**describe_query(query), "rows": len(answer.rows), "red_rows": red}, actor=actor
            )
        return answer

    def show(self, target: str, *, include_red: bool) -> list[Provenance]:
        """Full provenance of an indicator id or of every indicator listing a signal (audited)."""
        self.match_log.flush()  # this process's matches so far count
        found = self.lookup.show(target, include_red=include_red)
        named = target if target.startswith("indicator--") else target.split(":", 1)[0] + ":<value>"
        self.audit.record("show", {"target": named, "indicators": len(found), "include_red": include_red})
        return found

    def stix_bundle(self, answer: QueryAnswer) -> dict[str, object]:
        """A STIX 2.1 bundle of the indicators in ``answer`` (with their TLP definitions), without
        attestations."""
        # Attested originals are provenance, not indicators of harm: never in an exported bundle.
        rows = [r for r in answer.rows if r.indicator.category != ATTESTED_CATEGORY]
        indicators = [r.indicator for r in rows]
        names = {r.indicator.origin: r.origin_name for r in rows}
        return build_export_bundle(indicators, origin_names=names)

    def report(self, *, since: datetime, until: datetime) -> TransparencyReport:
        """The transparency report for ``[since, until)``."""
        self.match_log.flush()
        return build_report(
            self.store, node=self.config.node.name, names=self.names(), since=since, until=until
        )

    def export_match_list(self, path: Path, *, fmt: str, include_red: bool) -> int:
        """Write the match lists as ``pytx`` lines or ``hma-csv`` to ``path`` (``-``: stdout; a
        file is 0600); returns the rows written. Audited."""
        if fmt not in MATCH_LIST_FORMATS:
            raise InvalidInput(f"unknown export format {fmt!r} (pytx, hma-csv, stix)")
        observed = {k for k, p in self.store.partner_policies().items() if not p.trust.matches}
        observed |= {s.origin for s in self.bridges.sources() if not s.trust.matches}
        rows = match_list_rows(
            self.store,
            names=self.names(),
            include_red=include_red,
            now=utc_now(),
            observed=frozenset(observed),
            warninglisted=lambda signal: builtin_warninglists().list_of(signal) is not None,
        )
        with export_stream(path) as stream:
            written = write_match_list(stream, rows, fmt=fmt)
        self._audit_export(path, fmt=fmt, count=written, include_red=include_red)
        return written

    def scan(
        self,
        source: Path,
        out: Path,
        *,
        fmt: str,
        chunk_rows: int = CHUNK_ROWS,
        progress: Progress | None = None,
        c2pa: CredentialCheck | None = None,
    ) -> ScanReport:
        """Match a data-set manifest (or a media directory) against the lists into a report;
        with ``c2pa`` (:meth:`scan_credential_check`), read each media item's C2PA manifest."""
        if not self.lists.ready:
            self.load_lists()
        return run_scan(
            self.matcher, source, out, fmt=fmt, chunk_rows=chunk_rows, progress=progress, c2pa=c2pa
        )

    def scan_credential_check(self) -> CredentialCheck:
        """What ``accord scan --c2pa`` reads manifests with: ``match.c2pa_trust_anchors`` when
        configured. MissingExtra naming the ``c2pa`` extra when c2pa-python is not installed."""
        require_credentials("reading C2PA manifests (accord scan --c2pa)")
        name = self.config.match.c2pa_trust_anchors
        return CredentialCheck(load_trust_anchors(self.home.root / name) if name else None)

    def record_scan_matches(self, indicator_ids: Sequence[str], others: Sequence[str]) -> None:
        """Count a distributed scan's matches as a single-machine scan's matcher does: in the
        local match log, and other origins' for sightings."""
        if indicator_ids:
            self.store.record_matches(indicator_ids)
        self.counter.record(others)

    def opine(self, targets: Sequence[str], *, value: OpinionValue, explanation: str | None) -> list[int]:
        """Publish our opinion of the indicators ``targets`` name; returns the entries' seqs."""
        ids = self.opinions.resolve(targets)
        seqs = [int(s) for s in self.opinions.state(ids, value=value, explanation=explanation)]
        self.audit.record(
            "opinion", {"indicator_ids": [i.id for i in ids], "opinion": value.value, "entries": seqs}
        )
        return seqs

    def withdraw_opinions(self, targets: Sequence[str]) -> list[int]:
        """Withdraw our current opinions of the indicators ``targets`` name."""
        ids = self.opinions.resolve(targets)
        seqs = [int(s) for s in self.opinions.withdraw(ids)]
        self.audit.record("opinion-withdraw", {"indicator_ids": [i.id for i in ids], "entries": seqs})
        return seqs

    def feedback(self) -> tuple[list[FeedbackItem], list[SightingTotal]]:
        """Other origins' current opinions about, and sightings of, our own indicators."""
        return self.opinions.feedback(), self.sightings.totals()


def describe_query(query: IndicatorQuery) -> dict[str, object]:
    """The filters of ``query`` for the audit log: which were used, never a hash value."""
    return {
        "signal_type": None if query.signal is None else query.signal.type.value,
        "near_search": None if query.near is None else query.distance,
        "categories": sorted(query.categories),
        "origins": sorted(query.origins),
        "tlps": sorted(t.value for t in query.tlps),
        "statuses": sorted(s.value for s in query.statuses),
        "since": None if query.since is None else query.since.isoformat(),
        "until": None if query.until is None else query.until.isoformat(),
        "include_red": query.include_red,
    }
