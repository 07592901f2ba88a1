"""Which matches enter the review queue, how items group and order, and that they survive a restart."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from node.app import AccordNode
from node.errors import InvalidInput, NotFound
from node.model import ContentType, KeyId, Match, MatchResult, OpinionValue, SignalType, Tlp, Trust
from node.model.review import ContentRef, Decision, ItemStatus, ReviewItem, queue_order, review_reasons
from tests.review.conftest import Pair, configure, publish_category, set_trust, signal_of


def _match(**overrides: object) -> Match:
    values: dict[str, object] = {
        "indicator_id": "indicator--00000000-0000-4000-8000-000000000001",
        "origin": KeyId("a" * 64),
        "origin_name": "ngo",
        "category": "csam",
        "signal_type": SignalType.PDQ,
        "content_type": ContentType.IMAGE,
        "distance": 3,
        "tlp": Tlp.GREEN,
    }
    return Match(**(values | overrides))  # type: ignore[arg-type]


def test_review_reasons_name_every_policy_reason_and_none_for_a_plain_auto_match() -> None:
    result = MatchResult(query=signal_of(1), matches=(_match(),))
    assert review_reasons(result) == {}

    plain = _match()
    flagged = _match(trust=Trust.REVIEW, disputed=1, corroboration=1)
    result = MatchResult(query=signal_of(1), matches=(flagged,))
    reasons = review_reasons(result, min_corroboration=2, held=lambda i: i == plain.indicator_id)
    assert reasons == {plain.indicator_id: ("trust-review", "low-corroboration", "disputed", "flood-hold")}

    near = MatchResult(query=signal_of(1), matches=(), suppressed=(plain,), safelisted=True)
    assert review_reasons(near) == {plain.indicator_id: ("near-safelist",)}


def test_a_review_trust_match_enters_the_queue_and_an_auto_match_only_when_a_rule_says_so(pair: Pair) -> None:
    item = pair.submit("upload-1", 1)
    assert item is not None and item.status is ItemStatus.OPEN
    [match] = item.matches
    assert (match.origin_name, match.category, match.reasons) == ("ngo", "csam", ("trust-review",))

    set_trust(pair.platform, "ngo", "auto")
    assert pair.submit("upload-2", 1) is None  # nothing for a person to decide
    ruled = pair.submit("upload-2", 1, reasons=("csam-escalation",))
    assert ruled is not None and ruled.matches[0].reasons == ("rule:csam-escalation",)
    with pytest.raises(InvalidInput, match="rule reason"):
        pair.submit("upload-3", 1, reasons=("DROP TABLE review_items;",))
    assert pair.submit("nothing", 99) is None  # no match at all


def test_a_disputed_or_thinly_corroborated_indicator_goes_to_review(pair: Pair) -> None:
    set_trust(pair.platform, "ngo", "auto")
    configure(pair.platform, "review", min_corroboration=2)
    item = pair.submit("upload-1", 1)
    assert item is not None and item.matches[0].reasons == ("low-corroboration",)

    configure(pair.platform, "review", min_corroboration=0)
    [result] = pair.match(1, 1)
    pair.platform.node.opine([result.matches[0].indicator_id], value=OpinionValue.DISAGREE, explanation="x")
    item = pair.submit("upload-2", 1, 1)
    assert item is not None and item.matches[0].reasons == ("disputed",)


def test_one_item_per_piece_of_content_groups_every_indicator_it_matched(pair: Pair) -> None:
    first = pair.submit("upload-1", 1, 0)
    again = pair.submit("upload-1", 1, 1)
    other = pair.submit("upload-2", 1, 2)
    assert first is not None and again is not None and other is not None
    assert again.id == first.id and len(again.matches) == 2
    assert other.id != first.id
    assert [i.id for i in pair.platform.node.review_queue()] == [first.id, other.id]

    # Once the item is decided, new matches of the same content open a new item.
    pair.platform.node.decide_review(first.id, Decision.ESCALATE)
    pair.platform.node.decide_review(first.id, Decision.CONFIRM)
    later = pair.submit("upload-1", 1, 0)
    assert later is not None and later.id not in (first.id, other.id)


def test_the_queue_is_ordered_by_category_priority_then_age(pair: Pair) -> None:
    publish_category(pair.ngo, 7, "ncii")
    pair.sync()
    spam_old = pair.submit("old-ncii", 7)
    csam_new = pair.submit("new-csam", 1)
    assert spam_old is not None and csam_new is not None
    assert [i.id for i in pair.platform.node.review_queue()] == [spam_old.id, csam_new.id]  # age alone

    configure(pair.platform, "review", category_priority={"csam": 100, "ncii": 50})
    assert [i.id for i in pair.platform.node.review_queue()] == [csam_new.id, spam_old.id]
    assert [i.id for i in pair.platform.node.review_queue(limit=1)] == [csam_new.id]


def test_queue_order_breaks_ties_by_age_then_id() -> None:
    def item(id_: int, category: str, minute: int) -> ReviewItem:
        at = datetime(2026, 1, 1, 12, minute, tzinfo=UTC)
        match = _match(category=category)
        from node.model.review import ReviewMatch

        review = ReviewMatch(
            match.indicator_id, match.origin, "ngo", category, Tlp.GREEN, "pdq", 0, Trust.AUTO, ()
        )
        return ReviewItem(id_, ContentRef(f"c{id_}"), ItemStatus.OPEN, at, at, (review,))

    items = [item(1, "spam", 0), item(2, "csam", 5), item(3, "csam", 1), item(4, "spam", 0)]
    assert [i.id for i in queue_order(items, {"csam": 10})] == [3, 2, 1, 4]


def test_the_queue_its_decisions_and_the_safelist_survive_a_restart(pair: Pair) -> None:
    item = pair.submit("upload-1", 1, 0, reasons=())
    assert item is not None
    decided = pair.platform.node.decide_review(
        item.id, Decision.FALSE_POSITIVE, reason="benign meme", safelist=True, actor="api:alice"
    )
    waiting = pair.submit("upload-2", 1, 1)
    assert waiting is not None
    home = pair.platform.node.home.root
    pair.platform.stop()

    reopened = AccordNode.open(home)
    try:
        assert [i.id for i in reopened.review_queue()] == [waiting.id]
        kept = reopened.review_item(item.id)
        assert kept.status is ItemStatus.DECIDED and kept.decisions == decided.decisions
        reopened.load_lists()
        [result] = reopened.matcher.match([signal_of(1, 0)])
        assert result.safelisted and not result.matches  # the reviewer's safelist entry still applies
        again = reopened.submit_for_review(ContentRef("upload-3"), [result])
        assert again is not None and again.matches[0].reasons[0] == "near-safelist"
    finally:
        reopened.close()


def test_content_references_are_checked_and_never_carry_media() -> None:
    assert ContentRef("abc", "https://example.org/u/1").url == "https://example.org/u/1"
    for bad in ("", " ", "x" * 257, "tab\there"):
        with pytest.raises(InvalidInput):
            ContentRef(bad)
    for url in ("javascript:alert(1)", "file:///etc/passwd", "https://" + "x" * 2050):
        with pytest.raises(InvalidInput):
            ContentRef("abc", url)


def test_an_unknown_item_is_not_found(pair: Pair) -> None:
    with pytest.raises(NotFound):
        pair.platform.node.review_item(404)


def test_a_hostile_content_id_is_stored_verbatim_and_breaks_nothing(pair: Pair) -> None:
    hostile = "x'); DROP TABLE review_items; --"
    item = pair.submit(hostile, 1)
    assert item is not None and item.content.id == hostile
    again = pair.submit(hostile, 1, 1)
    assert again is not None and again.id == item.id and len(pair.platform.node.review_queue()) == 1
