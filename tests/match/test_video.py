"""The video (vPDQ) index: Meta's frame-share rule, exact frame search, removal, persistence."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from node.errors import ConfigError
from node.match import ListUpdate, MatchLists, VideoIndex
from node.model import Signal, VideoHit, VideoThresholds
from tests.match.pdq_data import flip, random_hashes


def frames(n: int, seed: int) -> list[bytes]:
    return [row.tobytes() for row in random_hashes(n, np.random.default_rng(seed))]


def shifted(frame: bytes, bits: int) -> bytes:
    return flip(np.frombuffer(frame, dtype=np.uint8).copy(), list(range(bits))).tobytes()


LISTED = frames(10, seed=1)
OTHER = frames(10, seed=2)


@pytest.fixture
def index() -> VideoIndex:
    videos = VideoIndex()
    videos.add("video-a", LISTED)
    videos.add("video-b", OTHER)
    return videos


def test_a_copy_with_frames_within_the_threshold_matches_with_its_shares(index: VideoIndex) -> None:
    query = [shifted(f, 31) for f in LISTED[:8]]  # 8 of the 10 listed frames, each 31 bits off
    [hit] = index.query(query, VideoThresholds())
    assert hit == VideoHit("video-a", 31, 100.0, 80.0)


def test_frames_one_bit_past_the_threshold_do_not_count(index: VideoIndex) -> None:
    assert index.query([shifted(f, 32) for f in LISTED], VideoThresholds()) == []
    assert index.query([shifted(f, 32) for f in LISTED], VideoThresholds(frame_threshold=32)) != []


def test_query_share_is_the_share_of_the_query_frames_that_match(index: VideoIndex) -> None:
    # 8 of 10 query frames come from video-a: exactly 80% passes the default, 70% does not.
    eighty = LISTED[:8] + frames(2, seed=9)
    seventy = LISTED[:7] + frames(3, seed=9)
    assert [h.query_match_percent for h in index.query(eighty, VideoThresholds())] == [80.0]
    assert index.query(seventy, VideoThresholds()) == []
    assert len(index.query(seventy, VideoThresholds(query_match_percent=70.0))) == 1


def test_compared_share_requires_covering_the_listed_video(index: VideoIndex) -> None:
    clip = LISTED[:3]  # a short clip: all its frames match, but only 30% of the listed video
    [hit] = index.query(clip, VideoThresholds())
    assert (hit.query_match_percent, hit.compared_match_percent) == (100.0, 30.0)
    assert index.query(clip, VideoThresholds(compared_match_percent=50.0)) == []


def test_unrelated_video_does_not_match_and_empty_query_matches_nothing(index: VideoIndex) -> None:
    assert index.query(frames(10, seed=3), VideoThresholds()) == []
    assert index.query([], VideoThresholds()) == []


def test_removal_and_replacement_take_effect_at_once(index: VideoIndex) -> None:
    index.remove("video-a")
    assert index.query(LISTED, VideoThresholds()) == []
    assert len(index) == 1 and len(index.frames) == 10
    index.add("video-b", LISTED[:5])  # a new listing replaces every old frame
    assert index.query(OTHER, VideoThresholds()) == []
    [hit] = index.query(LISTED[:5], VideoThresholds())
    assert (hit.indicator_id, hit.compared_match_percent) == ("video-b", 100.0)
    index.remove("never-listed")


def test_best_first_by_query_share_then_distance() -> None:
    videos = VideoIndex()
    videos.add("near", LISTED)
    videos.add("far", [shifted(f, 20) for f in LISTED])
    videos.add("part", LISTED[:9] + frames(1, seed=7))
    hits = videos.query(LISTED, VideoThresholds())
    assert [(h.indicator_id, h.distance) for h in hits] == [("near", 0), ("far", 20), ("part", 0)]


def test_save_and_load_answer_the_same(index: VideoIndex, tmp_path: Path) -> None:
    index.remove("video-b")
    index.save(tmp_path, meta={"cursor": 7})
    loaded, meta = VideoIndex.load(tmp_path)
    assert meta == {"cursor": 7}
    assert len(loaded) == 1
    assert loaded.query(LISTED, VideoThresholds()) == index.query(LISTED, VideoThresholds())
    assert loaded.query(OTHER, VideoThresholds()) == []


def test_load_refuses_missing_or_bad_frame_counts(index: VideoIndex, tmp_path: Path) -> None:
    index.frames.save(tmp_path)  # a plain PDQ index: no counts
    with pytest.raises(ConfigError, match="frame counts"):
        VideoIndex.load(tmp_path)
    index.frames.save(tmp_path, meta={"video_frames": json.dumps({"video-a": -1})})
    with pytest.raises(ConfigError, match="frame counts"):
        VideoIndex.load(tmp_path)


def test_match_lists_route_vpdq_updates_and_queries() -> None:
    lists = MatchLists()
    listed = Signal.vpdq(f.hex() for f in LISTED)
    lists.apply([ListUpdate("indicator-v", listed, active=True)])
    query = Signal.vpdq(shifted(f, 10).hex() for f in LISTED)
    [hit] = lists.query(query, pdq_threshold=31)
    assert isinstance(hit, VideoHit) and hit.indicator_id == "indicator-v"
    assert lists.query_many([query], pdq_threshold=31) == [[hit]]
    assert lists.sizes()["vpdq"] == 1
    lists.apply([ListUpdate("indicator-v", listed, active=False)])
    assert lists.query(query, pdq_threshold=31) == []
