"""The succession rule: only seq == head+1 with prev == digest(head) is accepted as NEXT."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.model import Digest, Head, Seq
from node.model.chain import Succession, classify
from tests.model.keys import digest, key

ORIGIN = key("origin")


def head_at(seq: int, name: str = "head") -> Head:
    return Head(origin=ORIGIN, seq=Seq(seq), digest=digest(name))


def test_first_entry_of_an_unknown_origin_is_next() -> None:
    assert classify(None, seq=Seq(1), prev=None, digest=digest("e1"), held_digest=None) is Succession.NEXT


def test_first_entry_with_a_prev_is_a_broken_chain() -> None:
    verdict = classify(None, seq=Seq(1), prev=digest("x"), digest=digest("e1"), held_digest=None)
    assert verdict is Succession.BROKEN_CHAIN


def test_successor_of_the_head_is_next() -> None:
    verdict = classify(head_at(4), seq=Seq(5), prev=digest("head"), digest=digest("e5"), held_digest=None)
    assert verdict is Succession.NEXT


def test_successor_with_another_prev_is_a_broken_chain() -> None:
    verdict = classify(head_at(4), seq=Seq(5), prev=digest("other"), digest=digest("e5"), held_digest=None)
    assert verdict is Succession.BROKEN_CHAIN


def test_successor_without_prev_is_a_broken_chain() -> None:
    verdict = classify(head_at(4), seq=Seq(5), prev=None, digest=digest("e5"), held_digest=None)
    assert verdict is Succession.BROKEN_CHAIN


@pytest.mark.parametrize(("head", "seq"), [(None, 2), (None, 7), (4, 6), (4, 100)])
def test_beyond_head_plus_one_is_a_gap(head: int | None, seq: int) -> None:
    current = None if head is None else head_at(head)
    verdict = classify(current, seq=Seq(seq), prev=digest("head"), digest=digest("e"), held_digest=None)
    assert verdict is Succession.GAP


def test_same_seq_same_digest_is_a_duplicate() -> None:
    verdict = classify(
        head_at(4), seq=Seq(3), prev=digest("e2"), digest=digest("e3"), held_digest=digest("e3")
    )
    assert verdict is Succession.DUPLICATE


def test_duplicate_of_the_head_itself() -> None:
    verdict = classify(
        head_at(4), seq=Seq(4), prev=digest("e3"), digest=digest("head"), held_digest=digest("head")
    )
    assert verdict is Succession.DUPLICATE


def test_same_seq_other_digest_is_equivocation() -> None:
    verdict = classify(
        head_at(4), seq=Seq(3), prev=digest("e2"), digest=digest("fork"), held_digest=digest("e3")
    )
    assert verdict is Succession.EQUIVOCATION


def test_equivocation_is_detected_even_when_the_chain_would_fit() -> None:
    # The forked entry names the right prev: still a second entry at a held seq.
    verdict = classify(
        head_at(4), seq=Seq(4), prev=digest("e3"), digest=digest("fork"), held_digest=digest("head")
    )
    assert verdict is Succession.EQUIVOCATION


def test_old_seq_that_we_do_not_hold_is_not_trusted() -> None:
    verdict = classify(head_at(4), seq=Seq(2), prev=digest("e1"), digest=digest("e2"), held_digest=None)
    assert verdict is Succession.BROKEN_CHAIN


digests = st.sampled_from([digest(n) for n in ("a", "b", "c")])


@settings(max_examples=200, deadline=None)
@given(
    head_seq=st.none() | st.integers(min_value=1, max_value=6),
    head_digest=digests,
    seq=st.integers(min_value=1, max_value=9),
    prev=st.none() | digests,
    entry_digest=digests,
)
def test_only_the_successor_with_the_right_prev_is_next(
    head_seq: int | None, head_digest: Digest, seq: int, prev: Digest | None, entry_digest: Digest
) -> None:
    head = None if head_seq is None else Head(origin=ORIGIN, seq=Seq(head_seq), digest=head_digest)
    verdict = classify(head, seq=Seq(seq), prev=prev, digest=entry_digest, held_digest=None)
    expected_seq = 1 if head is None else head.seq + 1
    expected_prev = None if head is None else head.digest
    assert (verdict is Succession.NEXT) == (seq == expected_seq and prev == expected_prev)
    if seq > expected_seq:
        assert verdict is Succession.GAP


@settings(max_examples=100, deadline=None)
@given(
    head_seq=st.integers(min_value=1, max_value=6),
    seq=st.integers(min_value=1, max_value=6),
    held=digests,
    entry_digest=digests,
    prev=st.none() | digests,
)
def test_a_held_seq_is_never_next(
    head_seq: int, seq: int, held: Digest, entry_digest: Digest, prev: Digest | None
) -> None:
    verdict = classify(head_at(head_seq), seq=Seq(seq), prev=prev, digest=entry_digest, held_digest=held)
    assert verdict is (Succession.DUPLICATE if held == entry_digest else Succession.EQUIVOCATION)
