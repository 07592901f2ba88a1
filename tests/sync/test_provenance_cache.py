"""The Matcher's in-memory provenance gives the store's answers, and sees every change made
after it was filled at the next match: opinions, revocations, quarantine, and changes other
processes commit (issue 16)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from node.feed import payload_digest
from node.match import MatchLists
from node.model import (
    Compromise,
    MatchResult,
    OpinionValue,
    PartnerPolicy,
    PdqThresholds,
    Seq,
    Signal,
    Trust,
)
from node.model.clock import utc_now
from node.store import Store
from node.sync.ingest import Ingestor
from node.sync.provenance import ProvenanceCache
from node.sync.query import Matcher
from node.sync.refresh import ListRefresher
from tests.store.test_commit_watch import WRITE_IN_ANOTHER_PROCESS
from tests.support.feeds import FeedWriter, indicator, md5_signal, pdq_signal
from tests.sync.test_opinions_ingest import opinion_entry, opinion_of


def matchers(store: Store, names: dict[Any, str]) -> tuple[Matcher, Matcher, ProvenanceCache]:
    """A Matcher reading the store, and one reading memory and keeping each indicator's answer
    while the copies' generation holds (as a node's), over the same fresh lists."""
    lists = MatchLists()
    ListRefresher(store=store, lists=lists).load()
    cache = ProvenanceCache(store=store, names=lambda: names, source_trust=dict)
    plain = Matcher(lists=lists, store=store, thresholds=PdqThresholds(default=31), names=lambda: names)
    cached = Matcher(
        lists=lists,
        store=cache,
        thresholds=PdqThresholds(default=31),
        names=cache.names,
        sync=cache.sync,
        generation=cache.generation,
        clock=lambda: now[0],
    )
    return plain, cached, cache


now = [utc_now()]  # the cached Matcher's clock (an expiry test moves it)


@pytest.fixture
def listed(store: Store, pinned, ingestor: Ingestor, ngo: FeedWriter, lab: FeedWriter) -> list[Signal]:
    """ngo lists md5 1 and pdq 2 (entries 1, 2), lab lists md5 1 and md5 3; ngo disputes md5 3."""
    ingestor.ingest(ngo.entry([indicator(ngo.origin, md5_signal(1))]), pinned=pinned, via="ngo")
    ingestor.ingest(
        ngo.entry([indicator(ngo.origin, pdq_signal(2), category="tvec")]), pinned=pinned, via="ngo"
    )
    disputed = indicator(lab.origin, md5_signal(3), category="ncii")
    ingestor.ingest(lab.entry([indicator(lab.origin, md5_signal(1)), disputed]), pinned=pinned, via="lab")
    dispute = opinion_of(ngo, disputed.id, OpinionValue.DISAGREE, at=1)
    ingestor.ingest(opinion_entry(ngo, dispute), pinned=pinned, via="ngo")
    return [md5_signal(1), pdq_signal(2), md5_signal(3), md5_signal(4)]


def flipped(signal: Signal, bits: int) -> Signal:
    """``signal`` (PDQ) with its first ``bits`` bits flipped: that far from it."""
    value = int(signal.value, 16) ^ ((1 << bits) - 1)
    return Signal(signal.type, f"{value:064x}")


def shape(results: list[MatchResult]) -> list[list[tuple[object, ...]]]:
    return [
        sorted(
            (m.indicator_id, m.origin_name, m.trust, m.agreed, m.disputed, m.corroboration, m.distance)
            for m in r.matches
        )
        for r in results
    ]


def test_results_from_memory_equal_results_from_the_store(
    store: Store, listed: list[Signal], ngo: FeedWriter, lab: FeedWriter
) -> None:
    plain, cached, _ = matchers(store, {ngo.origin: "ngo", lab.origin: "lab"})
    near = [flipped(pdq_signal(2), bits) for bits in (3, 0, 9, 3)]  # one indicator, several distances
    for _ in range(2):  # the second round is served from the filled caches
        assert shape(cached.match(listed)) == shape(plain.match(listed))
        assert shape(cached.match(near)) == shape(plain.match(near))
    assert [r.matches[0].distance for r in cached.match(near)] == [3, 0, 9, 3]
    assert shape(cached.match(listed[2:3]))[0][0][4] == 1  # the dispute counts


def test_an_opinion_ingested_after_the_first_match_counts_at_the_next(
    store: Store, pinned, ingestor: Ingestor, listed: list[Signal], ngo: FeedWriter, lab: FeedWriter
) -> None:
    _, cached, _ = matchers(store, {ngo.origin: "ngo", lab.origin: "lab"})
    [before] = cached.match([md5_signal(1)])
    ngo_id = next(m.indicator_id for m in before.matches if m.origin == ngo.origin)
    assert all(m.disputed == 0 for m in before.matches)
    ingestor.ingest(
        opinion_entry(lab, opinion_of(lab, ngo_id, OpinionValue.DISAGREE, at=2)), pinned=pinned, via="lab"
    )
    [after] = cached.match([md5_signal(1)])
    assert {m.origin: m.disputed for m in after.matches} == {ngo.origin: 1, lab.origin: 0}


def test_a_revocation_stops_the_next_match_before_the_lists_refresh(
    store: Store, pinned, ingestor: Ingestor, listed: list[Signal], ngo: FeedWriter, lab: FeedWriter
) -> None:
    _, cached, _ = matchers(store, {ngo.origin: "ngo", lab.origin: "lab"})
    [before] = cached.match([pdq_signal(2)])
    [match] = before.matches
    current = store.indicators_by_id([match.indicator_id])[match.indicator_id]
    revoked = replace(current, revoked=True, modified=current.modified + timedelta(days=1))
    ingestor.ingest(ngo.entry([revoked]), pinned=pinned, via="ngo")
    # The lists still hold it (no refresh ran): the store, read through the cache, says revoked.
    [after] = cached.match([pdq_signal(2)])
    assert after.matches == ()


def test_equivocation_evidence_quarantines_at_the_next_match(
    store: Store, listed: list[Signal], ngo: FeedWriter, lab: FeedWriter
) -> None:
    _, cached, _ = matchers(store, {ngo.origin: "ngo", lab.origin: "lab"})
    assert {m.origin for m in cached.match([md5_signal(1)])[0].matches} == {ngo.origin, lab.origin}
    [held] = store.entries_after(ngo.origin, Seq(0), limit=1)
    with store.write() as tx:
        digest = payload_digest(held.envelope.payload)
        tx.add_evidence(origin=ngo.origin, seq=held.seq, digest=digest, envelope=held.envelope, via="lab")
    assert {m.origin for m in cached.match([md5_signal(1)])[0].matches} == {lab.origin}


def test_changes_committed_by_another_process_are_seen(
    tmp_path: Path, store: Store, listed: list[Signal], ngo: FeedWriter, lab: FeedWriter
) -> None:
    names = {ngo.origin: "ngo", lab.origin: "lab"}
    _, cached, cache = matchers(store, names)
    assert cached.match([pdq_signal(2)])[0].matches
    # What `accord partner policy` does: another process opens the store and commits.
    script = WRITE_IN_ANOTHER_PROCESS
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "receiver.db"), ngo.origin], check=True)
    assert cached.match([pdq_signal(2)])[0].matches == ()
    names[ngo.origin] = "renamed"  # a name source change is read with the provenance tables
    with store.write() as tx:
        tx.set_partner_policy(ngo.origin, PartnerPolicy(trust=Trust.REVIEW))
    [match] = cached.match([pdq_signal(2)])[0].matches
    assert (match.origin_name, match.trust) == ("renamed", Trust.REVIEW)
    assert cache.names()[ngo.origin] == "renamed"


def test_a_row_read_while_a_change_commits_is_not_kept(
    store: Store, pinned, ingestor: Ingestor, listed: list[Signal], ngo: FeedWriter, lab: FeedWriter
) -> None:
    _, cached, _ = matchers(store, {ngo.origin: "ngo", lab.origin: "lab"})
    [match] = cached.match([pdq_signal(2)])[0].matches
    stale = store.indicators_by_id([match.indicator_id])
    current = stale[match.indicator_id]
    revoked = replace(current, revoked=True, modified=current.modified + timedelta(days=1))
    fresh = ProvenanceCache(store=store, names=dict, source_trust=dict)
    fresh.sync()
    original = store.indicators_by_id

    def slow_read(ids: Any) -> dict[str, Any]:
        # Another thread's revocation commits, and its match syncs, while this read is in flight.
        store.indicators_by_id = original  # type: ignore[method-assign]
        ingestor.ingest(ngo.entry([revoked]), pinned=pinned, via="ngo")
        fresh.sync()
        return stale

    store.indicators_by_id = slow_read  # type: ignore[method-assign]
    try:
        assert (
            fresh.indicators_by_id([match.indicator_id])[match.indicator_id].revoked is False
        )  # this call's read
    finally:
        store.indicators_by_id = original  # type: ignore[method-assign]
    fresh.sync()
    assert fresh.indicators_by_id([match.indicator_id])[match.indicator_id].revoked is True


def test_an_expiry_applies_at_its_moment_with_no_change_to_see(
    store: Store, pinned, ingestor: Ingestor, ngo: FeedWriter, lab: FeedWriter
) -> None:
    """The answer kept for an indicator does not keep it matching past its ``valid_until``:
    nothing is committed at that moment, so only the clock can say."""
    expiring = replace(indicator(ngo.origin, md5_signal(7)), valid_until=utc_now() + timedelta(hours=1))
    ingestor.ingest(ngo.entry([expiring]), pinned=pinned, via="ngo")
    _, cached, _ = matchers(store, {ngo.origin: "ngo"})
    now[0] = utc_now()
    try:
        assert cached.match([md5_signal(7)])[0].matches  # kept from here on
        now[0] = utc_now() + timedelta(hours=2)
        assert cached.match([md5_signal(7)])[0].matches == ()
    finally:
        now[0] = utc_now()


def test_an_answer_worked_out_while_a_change_commits_is_not_kept(
    store: Store, pinned, ingestor: Ingestor, listed: list[Signal], ngo: FeedWriter, lab: FeedWriter
) -> None:
    """A match that read an indicator just before its revocation committed (and another match
    saw the change) answers as it read; the next match does not reuse that answer."""
    _, cached, cache = matchers(store, {ngo.origin: "ngo", lab.origin: "lab"})
    [match] = cached.match([pdq_signal(2)])[0].matches
    current = store.indicators_by_id([match.indicator_id])[match.indicator_id]
    revoked = replace(current, revoked=True, modified=current.modified + timedelta(days=1))
    stale = Matcher._prepare

    def prepare_while_revoking(self: Matcher, ids: Any) -> Any:
        answers = stale(self, ids)  # read before the revocation
        Matcher._prepare = stale  # type: ignore[method-assign]
        ingestor.ingest(ngo.entry([revoked]), pinned=pinned, via="ngo")
        cache.sync()  # another thread's match sees the change
        return answers

    fresh = Matcher(
        lists=cached._lists,
        store=cache,
        thresholds=PdqThresholds(default=31),
        names=cache.names,
        sync=cache.sync,
        generation=cache.generation,
    )
    Matcher._prepare = prepare_while_revoking  # type: ignore[method-assign]
    try:
        assert fresh.match([pdq_signal(2)])[0].matches  # this call's read
    finally:
        Matcher._prepare = stale  # type: ignore[method-assign]
    assert fresh.match([pdq_signal(2)])[0].matches == ()
    assert cached.match([pdq_signal(2)])[0].matches == ()


def test_answers_are_kept_between_matches_until_something_changes(
    store: Store, listed: list[Signal], ngo: FeedWriter, lab: FeedWriter
) -> None:
    """What the memo is for: a repeated hit reads nothing from the provenance; a change does."""
    _, cached, cache = matchers(store, {ngo.origin: "ngo", lab.origin: "lab"})
    cached.match(listed)
    reads: list[object] = []
    original = cache.indicators_by_id
    cache.indicators_by_id = lambda ids: reads.append(list(ids)) or original(ids)  # type: ignore[method-assign]
    cached.match(listed)
    assert reads == []
    with store.write() as tx:
        tx.set_partner_policy(ngo.origin, PartnerPolicy(trust=Trust.REVIEW))
    [match] = cached.match([pdq_signal(2)])[0].matches
    assert match.trust is Trust.REVIEW and len(reads) == 1


def test_a_compromise_mark_stops_kept_answers_from_the_stolen_range_at_the_next_match(
    store: Store, listed: list[Signal], ngo: FeedWriter, lab: FeedWriter
) -> None:
    """A partner's signing key was stolen: the operator marks it compromised from entry 2 on.
    The answers kept for its indicators must not keep the forged range matching."""
    _, cached, _ = matchers(store, {ngo.origin: "ngo", lab.origin: "lab"})
    assert cached.match([pdq_signal(2)])[0].matches  # entry 2's indicator, kept from here on
    assert ngo.origin in {m.origin for m in cached.match([md5_signal(1)])[0].matches}  # entry 1's
    with store.write() as tx:
        tx.mark_compromised(Compromise(ngo.origin, Seq(2), utc_now()))
    assert cached.match([pdq_signal(2)])[0].matches == ()
    assert ngo.origin in {m.origin for m in cached.match([md5_signal(1)])[0].matches}  # before the theft
