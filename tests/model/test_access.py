"""Egress access control: the TLP 2.0 table of DESIGN §5, cell by cell."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.model import Distribution, Tlp
from node.model.access import may_serve
from tests.model.keys import key

ORIGIN = key("origin")
RELAY = key("relay")  # a recipient that holds the entry and serves it onwards
RECIPIENT = key("recipient")
STRANGER = key("stranger")  # an authenticated partner that is not named


def restricted(tlp: Tlp) -> Distribution:
    return Distribution(tlp, frozenset({RELAY, RECIPIENT}))


@pytest.mark.parametrize("tlp", [Tlp.CLEAR, Tlp.GREEN])
@pytest.mark.parametrize("server", [ORIGIN, RELAY])
@pytest.mark.parametrize("caller", [RECIPIENT, STRANGER, RELAY])
def test_clear_and_green_go_to_anyone_from_anyone(tlp: Tlp, server: str, caller: str) -> None:
    assert may_serve(Distribution(tlp), origin=ORIGIN, server=server, caller=caller)


@pytest.mark.parametrize("server", [ORIGIN, RELAY])
def test_amber_goes_to_recipients_from_origin_or_relay(server: str) -> None:
    assert may_serve(restricted(Tlp.AMBER), origin=ORIGIN, server=server, caller=RECIPIENT)


@pytest.mark.parametrize("tlp", [Tlp.AMBER_STRICT, Tlp.RED])
def test_strict_levels_go_to_recipients_from_the_origin(tlp: Tlp) -> None:
    assert may_serve(restricted(tlp), origin=ORIGIN, server=ORIGIN, caller=RECIPIENT)


@pytest.mark.parametrize("tlp", [Tlp.AMBER_STRICT, Tlp.RED])
def test_strict_levels_are_never_served_by_a_relay(tlp: Tlp) -> None:
    assert not may_serve(restricted(tlp), origin=ORIGIN, server=RELAY, caller=RECIPIENT)


@pytest.mark.parametrize("tlp", [Tlp.AMBER, Tlp.AMBER_STRICT, Tlp.RED])
@pytest.mark.parametrize("server", [ORIGIN, RELAY])
def test_restricted_levels_never_go_to_a_non_recipient(tlp: Tlp, server: str) -> None:
    assert not may_serve(restricted(tlp), origin=ORIGIN, server=server, caller=STRANGER)


@pytest.mark.parametrize("tlp", [Tlp.AMBER, Tlp.AMBER_STRICT, Tlp.RED])
def test_an_origin_may_have_its_own_entries_back_from_a_relay(tlp: Tlp) -> None:
    # A node restored from a backup learns its own feed's head this way instead of forking it;
    # the origin wrote the entry, so handing it back discloses nothing to anyone else.
    assert may_serve(restricted(tlp), origin=ORIGIN, server=RELAY, caller=ORIGIN)
    assert not may_serve(restricted(tlp), origin=ORIGIN, server=RELAY, caller=STRANGER)


nodes = st.sampled_from([ORIGIN, RELAY, RECIPIENT, STRANGER])


@settings(max_examples=200, deadline=None)
@given(
    tlp=st.sampled_from(list(Tlp)),
    named=st.sets(nodes, min_size=1),
    server=nodes,
    caller=nodes,
)
def test_table_as_a_property(tlp: Tlp, named: set[str], server: str, caller: str) -> None:
    distribution = Distribution(tlp, frozenset(named) if tlp.names_recipients else frozenset())
    allowed = may_serve(distribution, origin=ORIGIN, server=server, caller=caller)
    if tlp in (Tlp.CLEAR, Tlp.GREEN) or caller == ORIGIN:
        assert allowed
    elif tlp is Tlp.AMBER:
        assert allowed == (caller in named)
    else:
        assert allowed == (caller in named and server == ORIGIN)
