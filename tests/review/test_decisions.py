"""Decisions publish real opinions the origin sees, are audited, undone within the window, and
feed the transparency report."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from node.errors import AlreadyExists, InvalidInput, NotFound, RestoredFeed
from node.model.clock import utc_now
from node.model.review import Decision, ItemStatus
from tests.review.conftest import Pair, configure
from tests.support.processes import accord_json


def _feedback(pair: Pair, *, cli: bool = False) -> list[dict[str, object]]:
    """The opinions the origin (the NGO) reads about its indicators after it pulled the platform:
    through ``accord feedback --json`` (a process of its own) or the same use case in-process."""
    pair.ngo.node.sync("platform")
    if cli:
        return accord_json("feedback", "--home", pair.ngo.node.home.root)["opinions"]  # type: ignore[no-any-return]
    opinions, _ = pair.ngo.node.feedback()
    return [
        {
            "opinion": f.opinion.value.value,
            "indicator_id": f.opinion.indicator_id,
            "explanation": f.opinion.explanation,
        }
        for f in opinions
    ]


def test_a_false_positive_publishes_a_dispute_the_origin_sees_in_accord_feedback(pair: Pair) -> None:
    item = pair.submit("upload-1", 1)
    assert item is not None
    decided = pair.platform.node.decide_review(
        item.id, Decision.FALSE_POSITIVE, reason="a benign meme template", actor="api:alice"
    )
    assert decided.status is ItemStatus.DECIDED

    [opinion] = _feedback(pair, cli=True)
    assert opinion["opinion"] == "disagree" and opinion["author_name"] == "platform"
    assert opinion["indicator_id"] == item.matches[0].indicator_id
    assert opinion["explanation"] == "a benign meme template"
    [row] = [r for r in pair.platform.node.audit.records() if r.action == "review-decision"]
    assert row.actor == "api:alice" and '"decision":"false-positive"' in row.details


def test_a_confirmation_publishes_agree_and_counts_a_sighting(pair: Pair) -> None:
    item = pair.submit("upload-1", 1)
    assert item is not None
    pair.platform.node.counter.drain()  # the match itself was counted when it matched
    pair.platform.node.decide_review(item.id, Decision.CONFIRM, actor="api:bob")

    [opinion] = _feedback(pair)
    assert opinion["opinion"] == "agree"
    counted = {c.indicator_id: c.count for c in pair.platform.node.counter.drain()}
    assert counted == {item.matches[0].indicator_id: 1}


def test_escalate_keeps_the_item_in_the_queue_and_publishes_nothing(pair: Pair) -> None:
    item = pair.submit("upload-1", 1)
    assert item is not None
    escalated = pair.platform.node.decide_review(item.id, Decision.ESCALATE, reason="needs legal")
    assert escalated.status is ItemStatus.ESCALATED
    assert [i.id for i in pair.platform.node.review_queue()] == [item.id]
    assert _feedback(pair) == []
    with pytest.raises(InvalidInput, match="safelist"):
        pair.platform.node.decide_review(item.id, Decision.CONFIRM, safelist=True)


def test_a_decided_item_cannot_be_decided_again_until_undone(pair: Pair) -> None:
    item = pair.submit("upload-1", 1)
    assert item is not None
    pair.platform.node.decide_review(item.id, Decision.CONFIRM)
    with pytest.raises(AlreadyExists, match="decided already"):
        pair.platform.node.decide_review(item.id, Decision.FALSE_POSITIVE)


def test_undo_within_the_window_withdraws_the_dispute_and_reopens_the_item(pair: Pair) -> None:
    item = pair.submit("upload-1", 1)
    assert item is not None
    pair.platform.node.decide_review(item.id, Decision.FALSE_POSITIVE, reason="benign", safelist=True)
    assert pair.platform.node.matcher.match([pair.match(1)[0].query])[0].safelisted
    assert len(_feedback(pair)) == 1

    undone = pair.platform.node.undo_review(item.id, actor="api:alice")
    assert undone.status is ItemStatus.OPEN and undone.current_decision is None
    assert undone.decisions[0].undone_by == "api:alice"
    assert _feedback(pair) == []  # the dispute was withdrawn where the origin reads it
    assert not pair.match(1)[0].safelisted  # and the safelist entry is gone
    assert [r.action for r in pair.platform.node.audit.records()][-1] == "review-undo"
    with pytest.raises(NotFound, match="no decision"):
        pair.platform.node.undo_review(item.id)

    # Decided again, it can be undone again: a withdrawn opinion is final, a new one starts.
    pair.platform.node.decide_review(item.id, Decision.FALSE_POSITIVE, reason="benign after all")
    assert [o["explanation"] for o in _feedback(pair)] == ["benign after all"]


def test_undo_after_the_window_is_refused_and_changes_nothing(pair: Pair) -> None:
    configure(pair.platform, "review", undo_seconds=0.05)
    item = pair.submit("upload-1", 1)
    assert item is not None
    pair.platform.node.decide_review(item.id, Decision.FALSE_POSITIVE, reason="benign")
    time.sleep(0.1)
    with pytest.raises(InvalidInput, match="undo window has passed"):
        pair.platform.node.undo_review(item.id)
    assert pair.platform.node.review_item(item.id).status is ItemStatus.DECIDED
    assert len(_feedback(pair)) == 1


def test_decisions_feed_the_transparency_report_per_origin_and_category(pair: Pair) -> None:
    for n, decision in enumerate([Decision.CONFIRM, Decision.FALSE_POSITIVE, Decision.FALSE_POSITIVE]):
        item = pair.submit(f"upload-{n}", 1, n)
        assert item is not None
        pair.platform.node.decide_review(item.id, decision)
    undone = pair.submit("upload-9", 2, 0)  # AMBER, undone: not counted
    assert undone is not None
    pair.platform.node.decide_review(undone.id, Decision.CONFIRM)
    pair.platform.node.undo_review(undone.id)

    now = utc_now()
    report = pair.platform.node.report(since=now - timedelta(hours=1), until=now + timedelta(minutes=1))
    [row] = report.review
    assert (row.origin, row.category, row.confirmed, row.false_positive) == ("ngo", "csam", 1, 2)
    assert row.false_positive_rate == pytest.approx(2 / 3)
    assert report.as_json()["review"][0]["false_positive"] == 2
    from node.app.report import render_markdown

    assert "| ngo | csam | 1 | 2 | 0 | 67% |" in render_markdown(report)


def test_a_decision_whose_opinion_cannot_be_published_leaves_the_item_waiting(pair: Pair) -> None:
    item = pair.submit("upload-1", 1)
    assert item is not None
    with pair.platform.node.store.write() as tx:
        tx.mark_restored(source="backup.db")  # a restored node may not publish until its partners confirm
    with pytest.raises(RestoredFeed):
        pair.platform.node.decide_review(item.id, Decision.FALSE_POSITIVE, reason="benign")
    kept = pair.platform.node.review_item(item.id)
    assert kept.status is ItemStatus.OPEN and kept.decisions == ()
    assert "review-decision" not in [r.action for r in pair.platform.node.audit.records()]
    escalated = pair.platform.node.decide_review(item.id, Decision.ESCALATE)  # publishes nothing: allowed
    assert escalated.status is ItemStatus.ESCALATED


def test_two_reviewers_deciding_at_once_publish_one_opinion(pair: Pair) -> None:
    item = pair.submit("upload-1", 1)
    assert item is not None
    outcomes: list[str] = []

    def decide(decision: Decision) -> None:
        try:
            pair.platform.node.decide_review(item.id, decision, actor=f"api:{decision.value}")
            outcomes.append("decided")
        except AlreadyExists:
            outcomes.append("refused")

    threads = [
        threading.Thread(target=decide, args=(d,)) for d in (Decision.CONFIRM, Decision.FALSE_POSITIVE)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["decided", "refused"]
    assert len(pair.platform.node.review_item(item.id).decisions) == 1
    assert len(_feedback(pair)) == 1
