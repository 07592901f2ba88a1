"""The token bucket and the match filter, as pure pieces with an injected clock."""

from __future__ import annotations

import pytest

from node.errors import InvalidInput, RateLimited
from node.http.limits import RateLimiter
from node.model import ContentType, KeyId, Match, MatchResult, SignalType, Tlp
from node.model.match_filters import MatchFilter
from tests.support.feeds import pdq_signal


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_refills_at_its_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock)
    for _ in range(3):
        limiter.take("a")
    with pytest.raises(RateLimited) as refused:
        limiter.take("a")
    assert refused.value.retry_after == pytest.approx(0.5)
    limiter.take("b")  # another account has its own bucket
    clock.now += 0.5
    limiter.take("a")  # one token back after 1/rate seconds
    with pytest.raises(RateLimited):
        limiter.take("a")
    clock.now += 3600
    for _ in range(3):  # never more than the burst, however long the pause
        limiter.take("a")
    with pytest.raises(RateLimited):
        limiter.take("a")


def _match(origin: str, tlp: Tlp, category: str = "csam") -> Match:
    return Match(
        indicator_id=f"indicator--{origin}-{tlp.value}",
        origin=KeyId(origin * 64),
        origin_name=origin,
        category=category,
        signal_type=SignalType.PDQ,
        content_type=ContentType.IMAGE,
        distance=0,
        tlp=tlp,
        corroboration=3,
    )


RESULT = MatchResult(
    query=pdq_signal(1),
    matches=(_match("a", Tlp.GREEN), _match("b", Tlp.RED), _match("c", Tlp.AMBER, "ncii")),
)


def test_the_ceiling_removes_matches_above_it_and_recounts_corroboration() -> None:
    capped = MatchFilter(max_tlp=Tlp.AMBER).apply(RESULT)
    assert [m.origin_name for m in capped.matches] == ["a", "c"]
    assert {m.corroboration for m in capped.matches} == {2}  # origin b is not counted
    assert [m.origin_name for m in MatchFilter().apply(RESULT).matches] == ["a", "b", "c"]


def test_filters_choose_among_visible_matches() -> None:
    assert [m.origin_name for m in MatchFilter(categories=frozenset({"ncii"})).apply(RESULT).matches] == ["c"]
    assert [
        m.origin_name for m in MatchFilter(origins=frozenset({KeyId("a" * 64)})).apply(RESULT).matches
    ] == ["a"]
    assert len(MatchFilter(min_corroboration=3).apply(RESULT).matches) == 3
    assert MatchFilter(min_corroboration=3, max_tlp=Tlp.AMBER).apply(RESULT).matches == ()
    with pytest.raises(InvalidInput):
        MatchFilter(min_corroboration=0)
