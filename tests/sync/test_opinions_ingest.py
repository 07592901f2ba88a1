"""Opinions at ingest: stored with the entry in one transaction, authored by the entry's origin,
replaced only by that author's later opinion, withdrawn by a revoked version."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from node.model import Compromise, Distribution, Opinion, OpinionTally, OpinionValue, Seq, Tlp
from node.stix import build_bundle
from node.store import Store
from node.sync.ingest import Ingestor
from tests.support.feeds import T0, FeedWriter, indicator, md5_signal


def opinion_of(writer: FeedWriter, target: str, value: OpinionValue, *, at: int, **changes: Any) -> Opinion:
    fields: dict[str, Any] = {
        "id": f"opinion--{uuid.uuid4()}",
        "origin": writer.origin,
        "indicator_id": target,
        "value": value,
        "created": T0,
        "modified": T0 + timedelta(seconds=at),
    }
    return Opinion(**{**fields, **changes})


def opinion_entry(writer: FeedWriter, *opinions: Opinion, tlp: Tlp = Tlp.GREEN, **distribution: Any) -> Any:
    bundle = build_bundle(
        [], origin_names={writer.origin: writer.name}, opinions=[(o, tlp) for o in opinions]
    )
    return writer.entry([], bundle=bundle, distribution=Distribution(tlp=tlp, **distribution))


@pytest.fixture
def target(store: Store, pinned, ingestor: Ingestor, ngo: FeedWriter) -> str:
    listed = indicator(ngo.origin, md5_signal(1))
    ingestor.ingest(ngo.entry([listed]), pinned=pinned, via="ngo")
    return listed.id


def tally(store: Store, target: str) -> OpinionTally:
    return OpinionTally.of(store.opinions_about([target]).get(target, []))


def test_a_later_opinion_replaces_and_a_revoked_one_withdraws(
    store: Store, pinned, ingestor: Ingestor, lab: FeedWriter, target: str
) -> None:
    first = opinion_of(lab, target, OpinionValue.DISAGREE, at=1, explanation="benign")
    ingestor.ingest(opinion_entry(lab, first), pinned=pinned, via="lab")
    assert tally(store, target) == OpinionTally(agreed=0, disputed=1)

    changed = opinion_of(lab, target, OpinionValue.AGREE, at=2, id=first.id)
    ingestor.ingest(opinion_entry(lab, changed), pinned=pinned, via="lab")
    assert tally(store, target) == OpinionTally(agreed=1, disputed=0)

    # An older version arriving later (a new entry, so not a replay) changes nothing.
    ingestor.ingest(
        opinion_entry(lab, opinion_of(lab, target, OpinionValue.DISAGREE, at=1)), pinned=pinned, via="lab"
    )
    assert tally(store, target) == OpinionTally(agreed=1, disputed=0)

    withdrawn = opinion_of(lab, target, OpinionValue.AGREE, at=3, id=first.id, revoked=True)
    ingestor.ingest(opinion_entry(lab, withdrawn), pinned=pinned, via="lab")
    assert tally(store, target) == OpinionTally()
    assert store.opinion_of(lab.origin, target) == withdrawn


def test_an_opinion_is_authored_by_the_entrys_origin_only(
    store: Store, pinned, ingestor: Ingestor, ngo: FeedWriter, lab: FeedWriter, target: str
) -> None:
    # The lab cannot put an opinion in the NGO's name: created_by_ref must be the lab's identity.
    forged = opinion_of(ngo, target, OpinionValue.AGREE, at=1)
    bundle = build_bundle([], origin_names={ngo.origin: "ngo"}, opinions=[(forged, Tlp.GREEN)])
    accepted = ingestor.ingest(lab.entry([], bundle=bundle), pinned=pinned, via="lab")
    assert accepted.dropped == 1  # the forged object is dropped; the lab's feed goes on
    assert "created_by_ref" in store.reader.execute("SELECT message FROM rejections").fetchone()[0]
    assert store.opinions_about([target]) == {}


def test_an_opinion_marked_with_another_tlp_than_its_entry_is_dropped(
    store: Store, pinned, ingestor: Ingestor, lab: FeedWriter, target: str
) -> None:
    opinion = opinion_of(lab, target, OpinionValue.DISAGREE, at=1)
    bundle = build_bundle([], origin_names={lab.origin: "lab"}, opinions=[(opinion, Tlp.CLEAR)])
    accepted = ingestor.ingest(lab.entry([], bundle=bundle), pinned=pinned, via="lab")
    assert accepted.dropped == 1
    assert store.opinions_about([target]) == {} and store.head(lab.origin).seq == 1


def test_opinions_from_a_compromised_range_do_not_count(
    store: Store, pinned, ingestor: Ingestor, lab: FeedWriter, target: str
) -> None:
    ingestor.ingest(
        opinion_entry(lab, opinion_of(lab, target, OpinionValue.DISAGREE, at=1)), pinned=pinned, via="lab"
    )
    with store.write() as tx:
        tx.mark_compromised(Compromise(key_id=lab.origin, from_seq=Seq(1), marked_at=T0))
    assert tally(store, target) == OpinionTally()
    with store.write() as tx:
        tx.clear_compromise(lab.origin)
    assert tally(store, target) == OpinionTally(agreed=0, disputed=1)
