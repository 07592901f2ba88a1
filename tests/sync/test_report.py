"""The transparency report's numbers equal what was created, per category, origin and period."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from node.app.report import render_markdown
from node.model import Distribution, KeyId, OpinionValue, Tlp
from node.store import Store
from node.sync.ingest import Ingestor
from node.sync.report import DisputeCount, build_report
from tests.support.feeds import T0, FeedWriter, identity, indicator, md5_signal, pdq_signal
from tests.sync.test_opinions_ingest import opinion_entry, opinion_of

SELF = identity(9)
NAMES = {identity(1).key_id: "ngo", identity(2).key_id: "lab"}


def at(hours: int, ind):  # type: ignore[no-untyped-def]
    return replace(ind, created=T0 + timedelta(hours=hours), modified=T0 + timedelta(hours=hours))


def test_report_counts_what_was_received_revoked_matched_and_refused(
    store: Store, pinned, ingestor: Ingestor, ngo: FeedWriter, lab: FeedWriter
) -> None:
    ngo_csam = [at(1, indicator(ngo.origin, pdq_signal(i))) for i in range(7)]
    ngo_ncii = [at(2, indicator(ngo.origin, md5_signal(i), category="ncii")) for i in range(3)]
    lab_red = [
        at(3, indicator(lab.origin, md5_signal(50 + i), category="tvec", tlp=Tlp.RED)) for i in range(2)
    ]
    outside = [at(48, indicator(lab.origin, md5_signal(90), category="tvec"))]
    ingestor.ingest(ngo.entry(ngo_csam + ngo_ncii), pinned=pinned, via="ngo")
    red = Distribution(tlp=Tlp.RED, recipients=frozenset({SELF.key_id}))
    ingestor.ingest(lab.entry(lab_red, distribution=red), pinned=pinned, via="lab")
    ingestor.ingest(lab.entry(outside), pinned=pinned, via="lab")
    revoked = [replace(ngo_ncii[0], modified=T0 + timedelta(hours=5), revoked=True)]
    ingestor.ingest(ngo.entry(revoked), pinned=pinned, via="ngo")
    store.record_matches([ngo_csam[0].id, ngo_csam[0].id, ngo_csam[1].id, ngo_ncii[1].id])
    with store.write() as tx:
        tx.record_rejection(partner="lab", origin=None, seq=None, reason="bad_signature", message="x")
        tx.record_sync(partner="lab", success=False, result="failed", error="refused", received=0, rejected=1)

    report = build_report(store, node="us", names=NAMES, since=T0, until=T0 + timedelta(days=1))

    assert report.contributed == {}
    assert report.received == {"ngo": {"csam": 7, "ncii": 3}, "lab": {"tvec": 2}}
    assert report.restricted_received == 2
    assert report.revocations == {"ngo": {"ncii": 1}}
    assert report.disputes == ()
    # Matches are counted per day, so the report covers today's too when its period does.
    today = build_report(store, node="us", names=NAMES, since=T0, until=T0 + timedelta(days=3650))
    assert today.matches == {"csam": 3, "ncii": 1}
    assert today.matched_indicators == {"csam": 2, "ncii": 1}
    assert today.received["lab"] == {"tvec": 3}  # the later entry falls inside the longer period
    health = {p.partner: p for p in today.partners}
    assert health["lab"].refused == {"bad_signature": 1} and health["lab"].last_result == "failed"
    assert health["ngo"].entries_received == 2 and health["lab"].entries_received == 2
    assert KeyId(ngo.origin) in NAMES


def test_report_counts_the_disputes_held_in_the_period(
    store: Store, pinned, ingestor: Ingestor, ngo: FeedWriter, lab: FeedWriter
) -> None:
    listed = [at(1, indicator(ngo.origin, md5_signal(i), category="ncii")) for i in range(3)]
    ingestor.ingest(ngo.entry(listed), pinned=pinned, via="ngo")
    disputes = [opinion_of(lab, ind.id, OpinionValue.DISAGREE, at=10 + n) for n, ind in enumerate(listed)]
    agree = opinion_of(lab, listed[0].id, OpinionValue.AGREE, at=5)  # replaced by the later dispute
    ingestor.ingest(opinion_entry(lab, agree), pinned=pinned, via="lab")
    ingestor.ingest(opinion_entry(lab, *disputes), pinned=pinned, via="lab")
    withdrawn = replace(disputes[2], modified=disputes[2].modified + timedelta(seconds=5), revoked=True)
    ingestor.ingest(opinion_entry(lab, withdrawn), pinned=pinned, via="lab")

    report = build_report(store, node="us", names=NAMES, since=T0, until=T0 + timedelta(days=1))
    assert report.disputes == (DisputeCount(author="lab", about="ngo", category="ncii", count=2),)
    text = render_markdown(report)
    assert "Disputes stated in the period (current, not withdrawn): 2." in text
    assert "| lab | ngo | ncii | 2 |" in text and "not recorded" not in text
    later = build_report(
        store, node="us", names=NAMES, since=T0 + timedelta(days=1), until=T0 + timedelta(days=2)
    )
    assert later.disputes == ()
