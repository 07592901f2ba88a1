"""Appeals: a confirmed item re-enters review with its decision shown; a reversal disputes."""

from __future__ import annotations

import pytest

from node.errors import AlreadyExists, InvalidInput, NotFound
from node.model.review import AppealOutcome, Decision, ItemStatus
from tests.review.conftest import Pair


def _confirmed(pair: Pair, content: str = "upload-1") -> int:
    item = pair.submit(content, 1)
    assert item is not None
    pair.platform.node.decide_review(item.id, Decision.CONFIRM, actor="api:alice")
    return item.id


def _ngo_opinions(pair: Pair) -> list[tuple[str, str | None]]:
    pair.ngo.node.sync("platform")
    opinions, _ = pair.ngo.node.feedback()
    return [(f.opinion.value.value, f.opinion.explanation) for f in opinions]


def test_an_appeal_reenters_review_showing_the_original_decision(pair: Pair) -> None:
    item_id = _confirmed(pair)
    appeal = pair.platform.node.add_appeal("upload-1", "this is my holiday photo", actor="api:platform")
    assert appeal.item_id == item_id and appeal.submitted_by == "api:platform"

    [waiting] = pair.platform.node.review_queue()
    assert waiting.id == item_id and waiting.status is ItemStatus.APPEALED
    assert waiting.current_decision is not None and waiting.current_decision.decision is Decision.CONFIRM
    assert waiting.current_decision.reviewer == "api:alice"
    assert [a.statement for a in waiting.appeals] == ["this is my holiday photo"]
    with pytest.raises(InvalidInput, match="under appeal"):
        pair.platform.node.decide_review(item_id, Decision.FALSE_POSITIVE)
    with pytest.raises(AlreadyExists):
        pair.platform.node.add_appeal("upload-1", "again")


def test_reversing_an_appeal_disputes_the_indicator_as_a_false_positive_would(pair: Pair) -> None:
    item_id = _confirmed(pair)
    assert _ngo_opinions(pair) == [("agree", None)]
    appeal = pair.platform.node.add_appeal("upload-1", "not what you think")

    decided = pair.platform.node.decide_appeal(
        appeal.id, AppealOutcome.REVERSED, reason="reviewed again: benign", actor="api:carol"
    )
    assert decided.outcome is AppealOutcome.REVERSED and decided.decided_by == "api:carol"
    assert _ngo_opinions(pair) == [("disagree", "reviewed again: benign")]  # our agree became a dispute
    item = pair.platform.node.review_item(item_id)
    assert item.status is ItemStatus.DECIDED and pair.platform.node.review_queue() == []
    assert item.current_decision is not None and item.current_decision.appeal_id == appeal.id
    actions = [(r.action, r.actor) for r in pair.platform.node.audit.records()]
    assert ("appeal-decision", "api:carol") in actions
    with pytest.raises(AlreadyExists, match="decided already"):
        pair.platform.node.decide_appeal(appeal.id, AppealOutcome.UPHELD)
    with pytest.raises(InvalidInput, match="final"):
        pair.platform.node.undo_review(item_id)


def test_upholding_an_appeal_keeps_the_agreement(pair: Pair) -> None:
    _confirmed(pair)
    appeal = pair.platform.node.add_appeal("upload-1", "please look again")
    pair.platform.node.decide_appeal(appeal.id, AppealOutcome.UPHELD, reason="still matches")
    assert _ngo_opinions(pair) == [("agree", None)]
    [listed] = pair.platform.node.appeals()
    assert listed.outcome is AppealOutcome.UPHELD and pair.platform.node.appeals(open_only=True) == []


def test_only_a_confirmed_decision_can_be_appealed(pair: Pair) -> None:
    with pytest.raises(NotFound, match="no confirmed review decision"):
        pair.platform.node.add_appeal("never-reviewed", "why?")
    item = pair.submit("upload-2", 1)
    assert item is not None
    pair.platform.node.decide_review(item.id, Decision.FALSE_POSITIVE)
    with pytest.raises(NotFound):
        pair.platform.node.add_appeal("upload-2", "nothing was removed")
    with pytest.raises(InvalidInput, match="statement"):
        pair.platform.node.add_appeal("upload-2", "   ")
