"""Indicators held as runs of siblings (node.model.Indicators): whatever a reader keeps as text,
iterating, indexing and storing give exactly the indicators the constructor makes."""

from __future__ import annotations

import uuid
from dataclasses import replace

from node.model import Indicator, Indicators, Siblings, Signal, SignalType
from node.model.provenance import IndicatorNote
from node.store.codec import ROWS_PER_STATEMENT, upsert_batch
from tests.model.test_indicators import make


def some_id(n: int) -> str:
    return f"indicator--{uuid.UUID(int=n, version=4)}"


def value(n: int) -> str:
    return f"{n:064x}"


def made(first: Indicator, n: int) -> Indicator:
    return replace(first, id=some_id(n), signal=Signal(first.signal.type, value(n)))


def test_runs_read_as_the_indicators_the_constructor_makes() -> None:
    first, other = make(), make(category="ncii", signal=Signal(SignalType.MD5, "0" * 32), quality=None)
    held, expected = Indicators([first]), [first]
    for n in range(1, 4):
        held.append_sibling(first, some_id(n), value(n))
        expected.append(made(first, n))
    held.append(other)  # a single indicator ends the run
    expected.append(other)
    held.append_sibling(first, some_id(9), value(9))  # another run of the same first
    expected.append(made(first, 9))

    assert len(held) == 5 + 1 and held == expected and list(held) == expected
    assert held[2] == expected[2] and held[-1] == expected[-1] and held[1:3] == expected[1:3]
    assert list(held.ids()) == [i.id for i in expected]
    parts = list(held.parts())
    assert [type(p) for p in parts] == [Indicator, Siblings, Indicator, Siblings]
    assert [len(p.ids) for p in parts if isinstance(p, Siblings)] == [3, 1]

    copied = Indicators()
    for part in held.parts():
        copied.extend(part)
    assert len(copied) == len(held) and copied == expected


def test_rows_of_a_run_are_the_rows_of_its_indicators_across_statements() -> None:
    noted = make(note=IndicatorNote(description="seen on a forum", labels=("behaviour:impersonation",)))
    plain = make(category="terrorism", quality=None, signal=Signal(SignalType.MD5, "1" * 32))
    held, expected = Indicators([noted, plain]), [noted, plain]
    count = ROWS_PER_STATEMENT + 7  # a run that spans two statements
    for n in range(1, count + 1):
        first = noted if n % 3 else plain
        text = value(n) if first is noted else f"{n:032x}"
        held.append_sibling(first, some_id(n), text)
        expected.append(replace(first, id=some_id(n), signal=Signal(first.signal.type, text)))

    for local in (False, True):
        runs = upsert_batch(held, entry_seq=7, local=local)
        objects = upsert_batch(expected, entry_seq=7, local=local)
        assert runs == objects
        assert len(runs.notes) == sum(1 for i in expected if i.note is not None) > 0
        assert [len(chunk) for chunk in runs.chunks] == [len(chunk) for chunk in objects.chunks]
