"""Curation and the partner-published safelist between two real ``accord serve`` processes.

The NGO revokes in bulk, expires and relabels its indicators; the platform sees each new
version after its scheduled pull. The NGO's ``benign`` indicators safelist an image on the
platform: it stops matching as harmful there, and contributing it is refused unless forced.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from node.app import AccordNode
from node.model import Signal
from tests.integration.test_two_nodes import federation  # noqa: F401 - the two-node fixture
from tests.support.feeds import md5_signal
from tests.support.media import make_image, make_variant
from tests.support.processes import ServeProcess, accord, accord_json, wait_for


@pytest.fixture
def nodes(federation: dict[str, ServeProcess]) -> dict[str, ServeProcess]:  # noqa: F811
    """The NGO and platform of the two-node federation fixture."""
    return federation


def _match(home: Path, *args: str | Path) -> list[dict[str, Any]]:
    result = accord("match", "--home", home, "--json", *args)
    assert result.returncode in (0, 1), result.stderr
    data: list[dict[str, Any]] = json.loads(result.stdout)
    return data


def _categories(home: Path, signal: str) -> list[str]:
    return [m["category"] for m in _match(home, "--signal", signal)[0]["matches"]]


def test_partner_sees_bulk_revocation_expiry_and_relabelling(
    nodes: dict[str, ServeProcess],
    tmp_path: Path,
) -> None:
    ngo, platform = nodes["ngo"], nodes["platform"]
    signals = [str(md5_signal(500 + n)) for n in range(5)]
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"{s}\n" for s in signals))
    assert accord("contribute", "--home", ngo.home, "--list", listing, "--category", "csam").returncode == 0
    wait_for(lambda: all(_categories(platform.home, s) == ["csam"] for s in signals), timeout=30)

    revoke_list = tmp_path / "revoke.txt"
    revoke_list.write_text(f"{signals[0]}\n{signals[1]}\n")
    assert accord("revoke", "--home", ngo.home, "--list", revoke_list).returncode == 0
    expiry = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    expired = accord("expire", "--home", ngo.home, signals[2], "--at", expiry.isoformat())
    assert expired.returncode == 0, expired.stderr
    relabelled = accord("relabel", "--home", ngo.home, signals[3], "--category", "aig-csam")
    assert relabelled.returncode == 0, relabelled.stderr

    wait_for(lambda: _categories(platform.home, signals[3]) == ["aig-csam"], timeout=30)
    wait_for(lambda: not _categories(platform.home, signals[0]), timeout=30)
    assert not _categories(platform.home, signals[1])
    assert _categories(platform.home, signals[2]) == ["csam"]  # until its valid_until passes
    assert _categories(platform.home, signals[4]) == ["csam"]  # untouched
    # The platform holds the expiring version; its matcher drops it once the time has come.
    node = AccordNode.open(platform.home)
    try:
        [held] = node.store.indicators_with_signal(Signal.parse(signals[2]))
        assert held.valid_until == expiry
        node.load_lists()
        node.matcher.clock = lambda: expiry + timedelta(seconds=1)
        after = node.matcher.match([Signal.parse(s) for s in signals])
        assert [bool(r.matches) for r in after] == [False, False, False, True, True]
    finally:
        node.close()
    status = accord_json("status", "--home", platform.home)
    assert status["partners"][0]["head_seq"] == 4  # contribute, revoke, expire, relabel


def test_partner_benign_indicators_safelist_an_image(
    nodes: dict[str, ServeProcess],
    tmp_path: Path,
) -> None:
    ngo, platform = nodes["ngo"], nodes["platform"]
    meme = make_image(tmp_path / "meme.png", seed=61)
    copy = make_variant(meme, tmp_path / "meme-copy.jpg", scale=0.7, quality=85)
    harmful = make_image(tmp_path / "harmful.png", seed=62)
    # The platform once listed the meme as harmful by mistake; the NGO knows it is benign.
    assert accord("contribute", "--home", platform.home, meme, harmful, "--category", "csam").returncode == 0
    assert accord("match", "--home", platform.home, copy).returncode == 0
    assert accord("contribute", "--home", ngo.home, meme, "--category", "benign").returncode == 0

    wait_for(lambda: accord("match", "--home", platform.home, copy).returncode == 1, timeout=30)
    pdq = next(r for r in _match(platform.home, copy) if r["signal_type"] == "pdq")
    assert pdq["safelisted"] is True and pdq["matches"] == []
    assert [m["category"] for m in pdq["suppressed"]] == ["csam"]  # reported, not acted on
    text = accord("match", "--home", platform.home, copy).stdout
    assert "safelisted (known benign)" in text
    assert accord("match", "--home", platform.home, harmful).returncode == 0

    again = accord("contribute", "--home", platform.home, copy, "--category", "ncii")
    assert again.returncode == 2 and "on the safelist" in again.stderr
    forced = accord("contribute", "--home", platform.home, copy, "--category", "ncii", "--force")
    assert forced.returncode == 0 and "--force" in forced.stderr
