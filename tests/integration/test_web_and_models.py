"""Nudify services and abusive models between two real nodes (issue 15).

Node A (an NGO) lists a nudify domain and a model file; node B (a platform) pulls the signed
feed, then matches a URL on a subdomain of that domain, and a re-packaged copy of the model
(other file name, header order and metadata; and one shard of a re-sharded copy), through the
CLI and its Local (gRPC) Match API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from node.rpc.client import LocalClient
from tests.integration.test_two_nodes import federation  # noqa: F401 - the two-node fixture
from tests.support.model_files import model_tensors, write_safetensors
from tests.support.processes import ServeProcess, accord, accord_json, wait_for


def _matches(home: Path, *args: str | Path) -> list[dict[str, Any]]:
    return [m for result in accord_json("match", "--home", home, *args) for m in result["matches"]]


def test_a_nudify_domain_and_a_model_are_shared_and_matched_on_the_partner(
    federation: dict[str, ServeProcess],  # noqa: F811 - the imported fixture
    tmp_path: Path,
) -> None:
    ngo, platform = federation["ngo"], federation["platform"]
    tensors = model_tensors(10)
    listed = write_safetensors(tmp_path / "undress-v2.safetensors", tensors, metadata={"ss_name": "x"})

    domain = accord(
        "contribute", "--home", ngo.home, "--signal", "domain:Nudify-App.example.",
        "--category", "nudify-service", "--tlp", "green",
    )  # fmt: skip
    assert domain.returncode == 0 and "1 added" in domain.stdout, domain.stderr
    model = accord("contribute", "--home", ngo.home, listed, "--category", "abusive-model", "--tlp", "green")
    assert model.returncode == 0 and "3 added" in model.stdout, model.stderr  # md5, sha256, model

    # B pulls; a URL deep under a subdomain then matches the listed domain (CLI → Local API).
    url = "url:HTTPS://cdn.eu.nudify-app.example:443/upload/../api?x=1#frag"
    wait_for(lambda: accord("match", "--home", platform.home, "--signal", url).returncode == 0, timeout=60)
    [hit] = _matches(platform.home, "--signal", url)
    assert (hit["origin_name"], hit["category"], hit["signal_type"]) == ("ngo", "nudify-service", "domain")
    assert (
        accord("match", "--home", platform.home, "--signal", "url:https://notnudify-app.example/").returncode
        == 1
    )
    assert (
        accord("match", "--home", platform.home, "--signal", "domain:nudify-app.example.org").returncode == 1
    )

    # The Match API carries url signals in its TYPE:VALUE strings: no proto change.
    client = LocalClient(f"127.0.0.1:{platform.local}", timeout=30)
    try:
        response = client.match(["url:https://nudify-app.example/"])
        [result] = response.results
        assert [m.category for m in result.matches] == ["nudify-service"]
    finally:
        client.close()

    # A re-packaged copy: another name, reversed header order, other metadata. Its sha256
    # differs; the model signal still matches, 100% of its tensors.
    names = list(tensors)
    copy = write_safetensors(
        tmp_path / "landscape-helper.safetensors", tensors, order=names[::-1], metadata={"title": "art"}
    )
    wait_for(lambda: bool(_matches(platform.home, copy)), timeout=60)
    [hit] = _matches(platform.home, copy)
    assert (hit["signal_type"], hit["category"]) == ("model", "abusive-model")
    assert hit["query_match_percent"] == 100.0 and hit["compared_match_percent"] == 100.0
    # One shard of a re-sharded copy: all its tensors are in the listed model, half of the model.
    shard = write_safetensors(
        tmp_path / "model-00001-of-00002.safetensors", {n: tensors[n] for n in names[:5]}
    )
    [hit] = _matches(platform.home, shard)
    assert (hit["query_match_percent"], hit["compared_match_percent"]) == (100.0, 50.0)
    table = accord("match", "--home", platform.home, shard)
    assert table.returncode == 0 and "100%/50%" in table.stdout
    unrelated = write_safetensors(tmp_path / "other.safetensors", model_tensors(10, prefix="other"))
    assert accord("match", "--home", platform.home, unrelated).returncode == 1

    assert ngo.stop() == 0 and platform.stop() == 0
    for log in (ngo.log, platform.log):
        assert "nudify-app" not in log.read_text()  # listed addresses stay out of INFO logs


def test_accord_hash_prints_the_model_signal(tmp_path: Path) -> None:
    path = write_safetensors(tmp_path / "m.safetensors", model_tensors(3))
    [row] = accord_json("hash", path)
    assert row["format"] == "safetensors" and (row["tensors"], row["distinct_tensors"]) == (3, 3)
    assert row["model"].startswith("model:") and len(row["model"]) == len("model:") + 3 * 64
    assert row["sha256"].startswith("sha256:") and row["pdq"] is None
    text = accord("hash", path)
    assert (
        text.returncode == 0 and row["model"][:22] in text.stdout and "3 distinct of 3 tensors" in text.stdout
    )
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(path.read_bytes()[:-10])
    failed = accord("hash", broken)
    assert failed.returncode == 2 and "outside the file" in failed.stderr
