"""Exact indexes and the node's match lists: incremental add, deactivate, query, sizes."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from node.match import ExactIndex, ListUpdate, MatchLists, PdqIndex
from node.model import IndexHit, Signal, SignalType

MD5 = Signal(SignalType.MD5, "a" * 32)
SHA1 = Signal(SignalType.SHA1, "b" * 40)
SHA256 = Signal(SignalType.SHA256, "c" * 64)
PDQ = Signal(SignalType.PDQ, "0" * 64)
PDQ_NEAR = Signal(SignalType.PDQ, "0" * 62 + "07")  # 3 bits from PDQ
PDQ_FAR = Signal(SignalType.PDQ, "f" * 64)


def test_exact_index_add_query_remove() -> None:
    index = ExactIndex()
    index.add("i2", "v")
    index.add("i1", "v")
    index.add("i3", "w")
    assert len(index) == 3
    assert index.query("v") == [IndexHit("i1", 0), IndexHit("i2", 0)]
    assert index.query("absent") == []
    index.remove("i1")
    index.remove("i1")
    index.remove("never")
    assert index.query("v") == [IndexHit("i2", 0)]
    assert len(index) == 2


def test_exact_index_re_add_replaces_the_value() -> None:
    index = ExactIndex()
    index.add("i1", "old")
    index.add("i1", "new")
    assert index.query("old") == []
    assert index.query("new") == [IndexHit("i1", 0)]
    assert len(index) == 1


def test_exact_index_forgets_empty_values() -> None:
    index = ExactIndex()
    index.add("i1", "v")
    index.remove("i1")
    assert index._ids_by_value == {}


NEW_TYPES = {"url": 0, "domain": 0, "model": 0}  # issue 15


def active(indicator_id: str, signal: Signal) -> ListUpdate:
    return ListUpdate(indicator_id, signal, active=True)


def inactive(indicator_id: str, signal: Signal) -> ListUpdate:
    return ListUpdate(indicator_id, signal, active=False)


def test_new_lists_are_empty_and_not_ready() -> None:
    lists = MatchLists()
    assert not lists.ready
    assert lists.sizes() == {"md5": 0, "sha1": 0, "sha256": 0, "pdq": 0, "vpdq": 0, **NEW_TYPES}


def test_apply_then_query_each_type() -> None:
    lists = MatchLists()
    applied = lists.apply(
        [active("m", MD5), active("s1", SHA1), active("s2", SHA256), active("p", PDQ), active("pf", PDQ_FAR)]
    )
    assert applied == 5
    assert lists.sizes() == {"md5": 1, "sha1": 1, "sha256": 1, "pdq": 2, "vpdq": 0, **NEW_TYPES}
    assert lists.query(MD5, pdq_threshold=31) == [IndexHit("m", 0)]
    assert lists.query(SHA1, pdq_threshold=31) == [IndexHit("s1", 0)]
    assert lists.query(SHA256, pdq_threshold=31) == [IndexHit("s2", 0)]
    assert lists.query(PDQ_NEAR, pdq_threshold=31) == [IndexHit("p", 3)]
    assert lists.query(PDQ_NEAR, pdq_threshold=2) == []


def test_types_do_not_mix() -> None:
    # The same hex under two types is two different signals.
    lists = MatchLists()
    lists.apply([active("sha", SHA256)])
    assert lists.query(Signal(SignalType.PDQ, SHA256.value), pdq_threshold=256) == []
    lists.apply([active("md5", MD5)])
    assert lists.query(Signal(SignalType.SHA256, "a" * 64), pdq_threshold=31) == []


@pytest.mark.parametrize("signal", [MD5, SHA1, SHA256, PDQ])
def test_deactivation_stops_matching(signal: Signal) -> None:
    lists = MatchLists()
    lists.apply([active("x", signal), active("y", signal)])
    lists.apply([inactive("x", signal)])
    assert lists.query(signal, pdq_threshold=31) == [IndexHit("y", 0)]
    assert lists.sizes()[signal.type.value] == 1


def test_updates_apply_in_order() -> None:
    lists = MatchLists()
    assert lists.apply([active("x", MD5), inactive("x", MD5), active("y", MD5)]) == 3
    assert lists.query(MD5, pdq_threshold=31) == [IndexHit("y", 0)]
    lists.apply([inactive("y", MD5), active("y", MD5)])
    assert lists.query(MD5, pdq_threshold=31) == [IndexHit("y", 0)]


def test_deactivating_an_unknown_indicator_is_a_no_op() -> None:
    lists = MatchLists()
    assert lists.apply([inactive("ghost", PDQ), inactive("ghost", MD5)]) == 2
    assert lists.sizes() == {"md5": 0, "sha1": 0, "sha256": 0, "pdq": 0, "vpdq": 0, **NEW_TYPES}


def test_apply_accepts_a_generator() -> None:
    lists = MatchLists()
    assert lists.apply(active(f"i{n}", MD5) for n in range(10)) == 10
    assert len(lists.query(MD5, pdq_threshold=31)) == 10


def test_concurrent_queries_and_updates_stay_consistent() -> None:
    lists = MatchLists()
    errors: list[BaseException] = []
    stop = threading.Event()

    def query() -> None:
        try:
            while not stop.is_set():
                hits = lists.query(PDQ, pdq_threshold=31)
                assert all(h.distance in (0, 3) for h in hits)
        except BaseException as exc:  # reported below
            errors.append(exc)

    readers = [threading.Thread(target=query) for _ in range(3)]
    for reader in readers:
        reader.start()
    for n in range(400):
        lists.apply([active(f"i{n}", PDQ if n % 2 else PDQ_NEAR)])
        if n % 3 == 0:
            lists.apply([inactive(f"i{n // 2}", PDQ)])
    stop.set()
    for reader in readers:
        reader.join(timeout=10)
    assert errors == []
    assert lists.sizes()["pdq"] == len(lists.query(PDQ, pdq_threshold=31))


def test_pdq_adds_and_removals_interleaved_in_one_apply_keep_their_order() -> None:
    lists = MatchLists()
    lists.apply(
        [active("x", PDQ), active("y", PDQ), inactive("x", PDQ), active("x", PDQ_FAR), active("z", PDQ)]
    )
    assert lists.query(PDQ, pdq_threshold=0) == [IndexHit("y", 0), IndexHit("z", 0)]
    assert lists.query(PDQ_FAR, pdq_threshold=0) == [IndexHit("x", 0)]
    assert lists.sizes()["pdq"] == 3


def test_query_many_answers_each_signal_as_query_does() -> None:
    lists = MatchLists()
    lists.apply([active("m", MD5), active("p", PDQ), active("pf", PDQ_FAR)])
    signals = [PDQ_NEAR, MD5, PDQ_FAR, SHA1]
    assert lists.query_many(signals, pdq_threshold=31) == [lists.query(s, pdq_threshold=31) for s in signals]


def test_lists_can_start_from_a_saved_pdq_index(tmp_path: Path) -> None:
    first = MatchLists()
    first.apply([active("p", PDQ)])
    first.pdq.save(tmp_path)
    second = MatchLists(pdq=PdqIndex.load(tmp_path))
    assert second.query(PDQ_NEAR, pdq_threshold=31) == [IndexHit("p", 3)]


# --- issue 15: url, domain and model signals -------------------------------------------------


def _url(text: str) -> Signal:
    return Signal.parse(f"url:{text}")


def _domain(text: str) -> Signal:
    return Signal.parse(f"domain:{text}")


def test_a_listed_domain_matches_its_subdomains_in_a_url_and_nothing_else() -> None:
    lists = MatchLists()
    lists.apply([active("d", _domain("evil.example")), active("u", _url("https://other.example/page"))])
    hits = lists.query(_url("https://a.b.evil.example/x"), pdq_threshold=31)
    assert hits == [IndexHit("d", 0)]
    assert lists.query(_url("HTTPS://EVIL.example:443/"), pdq_threshold=31) == [IndexHit("d", 0)]
    assert lists.query(_domain("a.evil.example"), pdq_threshold=31) == [IndexHit("d", 0)]
    # Label by label: a name that merely ends with the same letters is another domain.
    assert lists.query(_url("https://notevil.example/x"), pdq_threshold=31) == []
    assert lists.query(_domain("notevil.example"), pdq_threshold=31) == []
    assert lists.query(_url("https://evil.example.org/x"), pdq_threshold=31) == []
    # A listed URL matches that URL (in any spelling of it), not its neighbours.
    assert lists.query(_url("https://Other.Example/a/../page#top"), pdq_threshold=31) == [IndexHit("u", 0)]
    assert lists.query(_url("https://other.example/page2"), pdq_threshold=31) == []
    assert (lists.sizes()["url"], lists.sizes()["domain"]) == (1, 1)


def test_a_url_and_its_domain_both_listed_give_both_hits() -> None:
    lists = MatchLists()
    lists.apply([active("d", _domain("evil.example")), active("u", _url("https://x.evil.example/a"))])
    hits = lists.query(_url("https://x.evil.example/a"), pdq_threshold=31)
    assert sorted(h.indicator_id for h in hits) == ["d", "u"]


def test_a_revoked_domain_stops_matching() -> None:
    lists = MatchLists()
    lists.apply([active("d", _domain("evil.example"))])
    lists.apply([inactive("d", _domain("evil.example"))])
    assert lists.query(_url("https://a.evil.example/"), pdq_threshold=31) == []


def _model(*digests: str) -> Signal:
    return Signal.model(digests)


def _digests(prefix: str, count: int) -> list[str]:
    return [hashlib.sha256(f"{prefix}{n}".encode()).hexdigest() for n in range(count)]


def test_models_match_by_share_of_tensors() -> None:
    base = _digests("base", 20)
    lists = MatchLists()
    lists.apply([active("m", _model(*base))])
    [same] = lists.query(_model(*base), pdq_threshold=31)
    assert (same.indicator_id, same.query_match_percent, same.compared_match_percent) == ("m", 100.0, 100.0)
    # One shard (half the tensors) of a re-sharded copy: all of it is in the listed model.
    [shard] = lists.query(_model(*base[:10]), pdq_threshold=31)
    assert (shard.query_match_percent, shard.compared_match_percent) == (100.0, 50.0)
    # A fine-tune that kept 15 of 20 tensors and changed 5.
    [tuned] = lists.query(_model(*base[:15], *_digests("tuned", 5)), pdq_threshold=31)
    assert (tuned.query_match_percent, tuned.compared_match_percent) == (75.0, 75.0)
    # Sharing a third (a common VAE and text encoder) is not a match; nor is one common tensor.
    assert lists.query(_model(*base[:6], *_digests("other", 12)), pdq_threshold=31) == []
    assert lists.query(_model(base[0]), pdq_threshold=31) == []
    assert lists.sizes()["model"] == 1
    lists.apply([inactive("m", _model(*base))])
    assert lists.query(_model(*base), pdq_threshold=31) == []
