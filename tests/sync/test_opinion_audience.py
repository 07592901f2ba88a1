"""Our opinion of an indicator is addressed no wider than the indicator itself."""

from __future__ import annotations

import json

from node.config import LimitsSection
from node.model import Distribution, OpinionValue, Tlp
from node.model.clock import format_timestamp
from node.store import Store
from node.sync.ingest import Ingestor
from node.sync.opinions import OpinionDesk
from node.sync.publish import Publisher
from tests.support.feeds import T0, FeedWriter, identity, indicator, md5_signal
from tests.sync.conftest import RECEIVER_KEYS


def test_an_opinion_of_a_restricted_indicator_goes_to_its_audience_and_origin(
    store: Store, pinned, ingestor: Ingestor, ngo: FeedWriter, lab: FeedWriter
) -> None:
    us = identity(3)
    listed = indicator(ngo.origin, md5_signal(1), tlp=Tlp.AMBER)
    audience = Distribution(tlp=Tlp.AMBER, recipients=frozenset({us.key_id, lab.origin}))
    ingestor.ingest(ngo.entry([listed], distribution=audience), pinned=pinned, via="ngo")
    publisher = Publisher(
        store=store,
        identity=us,
        name="us",
        limits=LimitsSection(),
        clock=lambda: T0,
        encryption=RECEIVER_KEYS,
    )
    with store.write() as tx:  # both confirmed their encryption keys to us (they sync with us)
        for writer in (ngo, lab):
            key = writer.encryption
            tx.record_encryption_key(
                node=writer.origin,
                key_id=key.key_id,
                key=key.public,
                announced=format_timestamp(T0),
                source="test",
            )
    desk = OpinionDesk(store=store, publisher=publisher, clock=lambda: T0)

    [seq] = desk.state(desk.resolve([str(md5_signal(1))]), value=OpinionValue.DISAGREE, explanation="benign")

    tlp, recipients = store.reader.execute(
        "SELECT tlp, recipients FROM entries WHERE origin = ? AND seq = ?", (us.key_id, seq)
    ).fetchone()
    assert tlp == "amber" and set(json.loads(recipients)) == {ngo.origin, lab.origin}
