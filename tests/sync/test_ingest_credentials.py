"""A partner's C2PA summaries at ingest (issue 15): a contribution's summary is stored as the
origin's reading; a malformed or oversized one drops its object like any other malformed
field (counted, never echoed), the rest of the entry applies, and nothing of it is written."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from node.model.provenance import ContentCredentials, IndicatorNote
from node.stix import build_bundle
from node.stix.profile import EXTENSION_DEFINITION_ID
from node.store import Store
from node.sync.ingest import Ingestor
from tests.support.feeds import FeedWriter, indicator, md5_signal, pdq_signal

AI_READING = ContentCredentials(
    validation_state="Valid",
    valid=True,
    trusted=False,
    claim_generator="ImageGen 2.1",
    signer="ImageGen signing key",
    actions=("c2pa.created",),
    ai_generated=True,
)


def _rows(store: Store, table: str) -> int:
    count: int = store.reader.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    return count


def test_a_partners_c2pa_summary_is_stored_as_its_reading(
    store: Store, pinned: dict[str, bytes], ingestor: Ingestor, ngo: FeedWriter
) -> None:
    read = replace(indicator(ngo.origin, pdq_signal(1)), note=IndicatorNote(c2pa=AI_READING))
    accepted = ingestor.ingest(ngo.entry([read]), pinned=pinned, via="ngo")
    assert (accepted.indicators, accepted.dropped) == (1, 0)
    held = store.indicators_by_id([read.id])[read.id]
    assert held.note is not None and held.note.c2pa == AI_READING


@pytest.mark.parametrize(
    "c2pa",
    [
        "Valid",  # not an object
        {"validation_state": "Valid", "valid": True, "trusted": False, "ai_generated": True, "x": 1},
        {"validation_state": "Valid", "valid": "true", "trusted": False, "ai_generated": True},
        {"validation_state": "Valid", "valid": False, "trusted": True, "ai_generated": False},
        {"validation_state": "V" * 100_000, "valid": True, "trusted": False, "ai_generated": False},
        {"validation_state": "Valid", "valid": True, "trusted": False, "ai_generated": False,
         "actions": ["c2pa.edited"] * 10_000},
        {"validation_state": "Valid", "valid": True, "trusted": False, "ai_generated": False,
         "signer": "Photo Desk\x1b[2J"},
    ],
    ids=["text", "unknown-key", "string-flag", "trusted-invalid", "huge-state", "many-actions", "escape"],
)  # fmt: skip
def test_a_malformed_c2pa_summary_drops_only_its_object(
    store: Store, pinned: dict[str, bytes], ingestor: Ingestor, ngo: FeedWriter, c2pa: Any
) -> None:
    good = indicator(ngo.origin, md5_signal(1))
    carrier = replace(indicator(ngo.origin, pdq_signal(1)), note=IndicatorNote(c2pa=AI_READING))
    bundle = build_bundle([good, carrier], origin_names={ngo.origin: "ngo"})
    bundle["objects"][-1]["extensions"][EXTENSION_DEFINITION_ID]["c2pa"] = c2pa

    accepted = ingestor.ingest(ngo.entry([], bundle=bundle), pinned=pinned, via="ngo")

    assert (accepted.indicators, accepted.dropped, accepted.seq) == (1, 1, 1)  # the chain moves on
    assert set(store.indicators_by_id([good.id, carrier.id])) == {good.id}
    assert (_rows(store, "indicators"), _rows(store, "indicator_notes")) == (1, 0)  # nothing half-written
    assert store.rejection_counts() == {"object_dropped": 1}
    [message] = [r[0] for r in store.reader.execute("SELECT message FROM rejections")]
    assert "\x1b" not in message and "VVVV" not in message and len(message) <= 500
