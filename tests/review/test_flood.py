"""Flood protection: a spike of matches holds an indicator; a reviewer's decision releases it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from node.app import AccordNode
from node.model.clock import utc_now
from node.model.review import ContentRef, Decision, FloodRule
from tests.review.conftest import Pair, configure, set_trust, signal_of


def _clock(pair: Pair) -> Callable[[datetime], None]:
    """Set the time matches are made and flood protection counts in."""

    def set_to(moment: datetime) -> None:
        pair.platform.node.flood.clock = lambda: moment
        pair.platform.node.matcher.clock = lambda: moment  # a match is counted when it was made

    return set_to


def _matches(pair: Pair, n: int, seed: int = 1, j: int = 0) -> None:
    pair.platform.node.matcher.match([signal_of(seed, j)] * n)


def test_the_rule_needs_both_the_minimum_and_the_ratio() -> None:
    rule = FloodRule(min_matches=50, window_seconds=600, ratio=20, baseline_seconds=6600)
    assert rule.spikes(in_window=50, in_baseline=0)  # no history: the minimum alone decides
    assert not rule.spikes(in_window=49, in_baseline=0)
    assert rule.spikes(in_window=200, in_baseline=100)  # 100 over 6000 s predicts 10 a window
    assert not rule.spikes(in_window=199, in_baseline=100)


def test_a_spike_holds_the_indicator_sends_its_matches_to_review_and_a_decision_releases_it(
    pair: Pair, caplog: pytest.LogCaptureFixture
) -> None:
    set_trust(pair.platform, "ngo", "auto")  # auto-action, unless held
    configure(pair.platform, "flood", min_matches=50)
    node = pair.platform.node
    [result] = pair.match(1)
    indicator_id = result.matches[0].indicator_id
    assert node.submit_for_review(ContentRef("before"), [result]) is None

    with caplog.at_level(logging.WARNING, logger="node.app.flood"):
        _matches(pair, 48)  # 49 with the one above: below the minimum
        assert not node.is_held(indicator_id)
        _matches(pair, 1)
    assert node.is_held(indicator_id)
    assert "flood protection: holding indicator " + indicator_id in caplog.text
    assert signal_of(1).value not in caplog.text  # never the hash value
    assert node.review_metrics().held == 1

    item = pair.submit("during", 1)
    assert item is not None and item.matches[0].reasons == ("flood-hold",)
    _matches(pair, 100)  # held: counted no further, still held
    assert [h.indicator_id for h in node.flood.held()] == [indicator_id]

    node.decide_review(item.id, Decision.CONFIRM, actor="api:alice")
    assert not node.is_held(indicator_id)
    assert pair.submit("after", 1) is None  # back to auto-action
    _matches(pair, 10)
    assert not node.is_held(indicator_id)  # counting restarted at the release


def test_an_indicator_that_always_matches_this_much_is_not_held(pair: Pair) -> None:
    configure(
        pair.platform, "flood", min_matches=50, window_seconds=600.0, ratio=20.0, baseline_seconds=3600.0
    )
    set_clock = _clock(pair)
    now = utc_now()
    for step in range(10):  # the baseline: 100 in the 50 minutes before the window, 20 a window
        set_clock(now - timedelta(minutes=55 - 5 * step))
        _matches(pair, 10)
    set_clock(now)
    _matches(pair, 300)
    [result] = pair.match(1)
    assert not pair.platform.node.is_held(result.matches[0].indicator_id)  # 300 < 20 x 20
    _matches(pair, 100)
    assert pair.platform.node.is_held(result.matches[0].indicator_id)  # 400 >= 20 x 20


def test_holds_survive_a_restart_and_flood_protection_can_be_off(pair: Pair) -> None:
    configure(pair.platform, "flood", enabled=False)
    _matches(pair, 500)
    assert pair.platform.node.flood.held() == []
    configure(pair.platform, "flood", enabled=True, min_matches=20)
    _matches(pair, 20, j=1)
    [held] = pair.platform.node.flood.held()
    home = pair.platform.node.home.root
    pair.platform.stop()

    reopened = AccordNode.open(home)
    try:
        assert reopened.is_held(held.indicator_id)
        assert reopened.review_metrics().held == 1
    finally:
        reopened.close()


def test_matches_made_elsewhere_are_counted_through_note_matches(pair: Pair) -> None:
    configure(pair.platform, "flood", enabled=False)
    [result] = pair.match(1, 2)  # not counted: flood protection was off
    configure(pair.platform, "flood", enabled=True, min_matches=3)
    node = pair.platform.node
    assert node.note_matches([result, result]) == []
    [held] = node.note_matches([result])
    assert held.indicator_id == result.matches[0].indicator_id and held.in_window == 3
    assert node.is_held(held.indicator_id)
