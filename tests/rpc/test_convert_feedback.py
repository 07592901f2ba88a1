"""The Local API carries every match's feedback and trust fields both ways, unchanged."""

from __future__ import annotations

from node.model import ContentType, KeyId, Match, MatchResult, SignalType, Tlp, Trust
from node.rpc.convert import match_result_from_proto, match_result_to_proto
from node.rpc.pb import local_pb2
from tests.support.feeds import md5_signal


def test_feedback_fields_survive_the_local_api() -> None:
    match = Match(
        indicator_id="indicator--6f1d2a4e-2a5b-4c1d-9e8f-0123456789ab",
        origin=KeyId("a" * 64),
        origin_name="ngo",
        category="csam",
        signal_type=SignalType.MD5,
        content_type=ContentType.FILE,
        distance=0,
        tlp=Tlp.AMBER,
        agreed=2,
        disputed=1,
        corroboration=3,
        trust=Trust.REVIEW,
    )
    result = MatchResult(query=md5_signal(1), matches=(match,))
    wire = local_pb2.MatchResult.FromString(match_result_to_proto(result).SerializeToString())
    [sent] = wire.matches
    assert (sent.agreed, sent.disputed, sent.consensus, sent.corroboration, sent.trust) == (
        2,
        1,
        "contested",
        3,
        "review",
    )
    assert match_result_from_proto(wire) == result
