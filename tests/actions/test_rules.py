"""Rule conditions, firing, idempotency keys and the retry schedule (pure model)."""

from __future__ import annotations

import random

import pytest

from node.errors import InvalidInput
from node.model import ContentType, KeyId, Match, MatchResult, SignalType, Tlp, Trust
from node.model.actions import Rule, RuleCondition, fired_rules, idempotency_key
from node.model.deliveries import retry_delay, signature_header
from tests.support.feeds import md5_signal, pdq_signal

ORIGIN = KeyId("a" * 64)


def a_match(**changes: object) -> Match:
    fields: dict[str, object] = {
        "indicator_id": "indicator--1",
        "origin": ORIGIN,
        "origin_name": "ngo",
        "category": "csam",
        "signal_type": SignalType.PDQ,
        "content_type": ContentType.IMAGE,
        "distance": 10,
        "tlp": Tlp.GREEN,
        "trust": Trust.AUTO,
    }
    return Match(**(fields | changes))  # type: ignore[arg-type]


# (condition, a match it selects, a match it does not)
CASES = {
    "list_kind": (RuleCondition(list_kinds=frozenset({SignalType.MD5})), {"signal_type": SignalType.MD5}, {}),
    "category": (RuleCondition(categories=frozenset({"ncii"})), {"category": "ncii"}, {}),
    "origin by name": (RuleCondition(origins=frozenset({"ngo"})), {}, {"origin_name": "other"}),
    "origin by key": (RuleCondition(origins=frozenset({ORIGIN})), {}, {"origin": KeyId("b" * 64)}),
    "trust": (RuleCondition(trusts=frozenset({Trust.REVIEW})), {"trust": Trust.REVIEW}, {}),
    "tlp": (RuleCondition(tlps=frozenset({Tlp.AMBER})), {"tlp": Tlp.AMBER}, {}),
    "max_distance": (RuleCondition(max_distance=10), {}, {"distance": 11}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_condition_selects_what_it_names_and_nothing_else(name: str) -> None:
    when, yes, no = CASES[name]
    assert when.selects(a_match(**yes), None)
    assert not when.selects(a_match(**no), None)


def test_decision_condition_and_undecided_calls() -> None:
    when = RuleCondition(decisions=frozenset({"confirmed"}))
    assert when.selects(a_match(), "confirmed")
    assert not when.selects(a_match(), None)
    undecided = RuleCondition(decisions=frozenset({"none"}))
    assert undecided.selects(a_match(), None)
    assert not undecided.selects(a_match(), "confirmed")


def test_conditions_combine_with_and_across_fields_and_or_within() -> None:
    when = RuleCondition(categories=frozenset({"csam", "ncii"}), trusts=frozenset({Trust.AUTO}))
    assert when.selects(a_match(category="ncii"), None)
    assert not when.selects(a_match(category="ncii", trust=Trust.REVIEW), None)


def test_a_rule_fires_with_only_the_matches_it_selected_and_never_on_suppressed() -> None:
    near, far = a_match(distance=4), a_match(indicator_id="indicator--2", distance=30)
    results = [
        MatchResult(pdq_signal(1), (near, far)),
        MatchResult(md5_signal(1), (), suppressed=(a_match(distance=0),), safelisted=True),
    ]
    rule = Rule(name="close", when=RuleCondition(max_distance=8), review=True)
    [firing] = fired_rules([rule], results, None)
    assert [r.matches for r in firing.results] == [(near,)]
    assert firing.indicator_ids == ("indicator--1",)
    safelisted_only = [MatchResult(md5_signal(1), (), suppressed=(a_match(),), safelisted=True)]
    assert fired_rules([Rule(name="any", when=RuleCondition(), review=True)], safelisted_only, None) == []


def test_a_rule_must_do_something_and_names_are_checked() -> None:
    with pytest.raises(InvalidInput, match="does nothing"):
        Rule(name="idle", when=RuleCondition())
    with pytest.raises(InvalidInput, match="rule name"):
        Rule(name="bad name", when=RuleCondition(), review=True)
    with pytest.raises(InvalidInput, match="webhook name"):
        Rule(name="ok", when=RuleCondition(), webhooks=("../x",))
    with pytest.raises(InvalidInput, match="distance"):
        RuleCondition(max_distance=-1)


def test_idempotency_key_is_stable_and_changes_with_each_part() -> None:
    base = {"content_id": "c1", "rule": "r", "webhook": "w", "decision": None, "ids": ["b", "a"]}
    key = idempotency_key(**base)  # type: ignore[arg-type]
    assert key == idempotency_key(**base | {"ids": ["a", "b"]})  # type: ignore[arg-type]
    for part, other in [
        ("content_id", "c2"),
        ("rule", "r2"),
        ("webhook", "w2"),
        ("decision", "x"),
        ("ids", ["a"]),
    ]:
        assert idempotency_key(**base | {part: other}) != key  # type: ignore[arg-type]


def test_retry_delay_grows_exponentially_with_jitter_within_bounds() -> None:
    rng = random.Random(7)
    for attempts in range(1, 12):
        ceiling = min(100.0, 1.0 * 2 ** (attempts - 1))
        delays = [retry_delay(attempts, base=1.0, cap=100.0, rand=rng.random) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jittered: failures at once do not all come back at once
    assert retry_delay(10_000, base=1.0, cap=100.0, rand=lambda: 1.0) == 100.0


def test_signature_header_format() -> None:
    header = signature_header(b"secret", 1_700_000_000, b"{}")
    assert header.startswith("t=1700000000,v1=")
    assert len(header.split("v1=")[1]) == 64
