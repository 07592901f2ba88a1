"""``accord scan`` on a real Dask cluster (issue 16): the report equals a single-machine scan's,
whether a worker or the client is killed midway; a missing extra is named.

The cluster tests share one local cluster of 2 worker processes (started here, handed to
``accord scan --cluster``) except the first, which lets ``accord scan --dask`` start its own.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.app import AccordNode, init_home
from node.app.scan_dask import ClusterChoice, ScanJob, run_distributed_scan
from node.errors import InvalidInput
from node.hashing.credentials import CredentialCheck
from node.model import Tlp
from tests.support.feeds import md5_signal
from tests.support.media import make_image, make_non_image, make_variant
from tests.support.processes import ACCORD, accord, wait_for

distributed = pytest.importorskip("distributed")

LISTED_MD5 = md5_signal(161616)
_SIZE = (160, 120)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A node listing three images (GREEN) and an md5 (CLEAR, another category), a media
    directory mixing near variants, exact copies, unrelated images and a non-image, and a
    manifest mixing hashes, media paths (one missing) and unusable values; with the reports a
    single-machine scan writes of both (built in this process: only the Dask scans need one
    of their own)."""
    root = tmp_path_factory.mktemp("dask-scan")
    sources = [make_image(root / f"listed-{s}.png", seed=s, size=_SIZE) for s in (1, 2, 3)]
    media = root / "media"
    (media / "sub").mkdir(parents=True)
    for n in range(24):
        if n % 6 == 0:
            make_variant(sources[n % 3], media / f"variant-{n:02d}.jpg")
        elif n % 7 == 0:
            shutil.copy(sources[1], media / "sub" / f"copy-{n:02d}.png")
        elif n == 11:
            make_non_image(media / "notes.bin")
        else:
            make_image(media / f"other-{n:02d}.png", seed=500 + n, size=_SIZE)
    manifest = root / "manifest.csv"
    lines = ["id,md5,path"]
    for n in range(40):
        if n % 8 == 0:
            lines.append(f"item-{n},{LISTED_MD5.value},")
        elif n % 9 == 0:
            lines.append(f"item-{n},not-an-md5,")
        elif n % 10 == 0:
            lines.append(f"item-{n},,media/variant-{n % 24 // 6 * 6:02d}.jpg")
        elif n == 13:
            lines.append(f"item-{n},,media/gone.png")  # missing: reported by id
        else:
            lines.append(f"item-{n},{n:032x},")
    manifest.write_text("\n".join(lines) + "\n")
    home = root / "lab"
    init_home(home, name="AI lab")
    node = AccordNode.open(home)
    try:
        node.contribute(files=sources, category="csam", tlp=Tlp.GREEN)
        node.contribute(signals=[str(LISTED_MD5)], category="ncii", tlp=Tlp.CLEAR)
        node.scan(media, root / "single.jsonl", fmt="jsonl")
        node.scan(manifest, root / "single.csv", fmt="csv")
    finally:
        node.close()
    return {"root": root, "home": home, "media": media, "manifest": manifest}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A real local cluster: 2 worker processes, one thread each, with Accord imported."""
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=50
        ) as local,
        distributed.Client(local) as client,
    ):
        client.run(_warm)
        yield client


def _warm() -> None:
    import node.app.scan_dask  # noqa: F401 - imported once per worker, before any test times it


def _single(lab: dict[str, Path], report: str) -> bytes:
    """The report of the single-machine scan (``single.jsonl`` of the media, ``single.csv`` of
    the manifest)."""
    return (lab["root"] / report).read_bytes()


def _markers(state: Path) -> int:
    parts = state / "parts"
    return len(list(parts.glob("*.done"))) if parts.is_dir() else 0


def test_a_dask_scan_on_its_own_local_cluster_writes_the_single_machine_report(
    lab: dict[str, Path], tmp_path: Path
) -> None:
    expected = _single(lab, "single.jsonl")
    out = tmp_path / "dask.jsonl"
    result = accord(
        "scan", "--home", lab["home"], lab["media"], "--out", out, "--dask", "--workers", "2",
        "--partition-rows", "5", "--progress", "--json", timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == expected
    assert expected.count(b"\n") == 7  # 4 variants (PDQ) and 3 copies (md5, sha256, PDQ)
    data = json.loads(result.stdout)
    assert data["workers"] == 2
    assert data["partitions"] == 5
    assert data["rows"] == 24
    assert data["failed"] == []
    assert "local cluster of 2 worker(s)" in result.stderr
    assert "partitions 5/5" in result.stderr and "items/s" in result.stderr
    assert not Path(str(out) + ".parts").exists()  # complete: the state is gone


def test_a_manifest_by_url_on_an_existing_cluster_equals_the_single_machine_csv(
    lab: dict[str, Path], cluster: Any, tmp_path: Path
) -> None:
    expected = _single(lab, "single.csv")
    out = tmp_path / "dask.csv"
    # A file:// URL goes through fsspec as s3:// or gs:// would; relative media paths need a
    # local manifest, so this copy names them absolutely.
    remote = tmp_path / "remote-manifest.csv"
    remote.write_text(lab["manifest"].read_text().replace(",media/", f",{lab['root']}/media/"))
    result = accord(
        "scan", "--home", lab["home"], f"file://{remote}", "--out", out,
        "--cluster", cluster.scheduler.address, "--partition-rows", "7", "--json", timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == expected
    data = json.loads(result.stdout)
    assert data["rows"] == 40
    assert data["matched"] == 8  # five by the listed md5, three media paths by PDQ
    assert [f["id"] for f in data["failed"]] == ["item-13"]  # the missing file, by id
    assert "item 'item-13' failed" in result.stderr


def test_a_worker_killed_midway_leaves_the_report_complete_and_equal(
    lab: dict[str, Path], cluster: Any, tmp_path: Path
) -> None:
    expected = _single(lab, "single.jsonl")
    out, state = tmp_path / "dask.jsonl", tmp_path / "state"
    args = [
        *ACCORD, "scan", "--home", str(lab["home"]), str(lab["media"]), "--out", str(out),
        "--cluster", cluster.scheduler.address, "--state", str(state), "--partition-rows", "1",
    ]  # fmt: skip
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: _markers(state) >= 2 or process.poll() is not None, timeout=120, interval=0.02)
        assert process.poll() is None, "the scan finished before a worker could be killed"
        victim = next(iter(cluster.run(os.getpid).values()))
        os.kill(victim, signal.SIGKILL)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    assert "scanned 24 item(s)" in stdout
    assert out.read_bytes() == expected
    cluster.wait_for_workers(2, timeout=60)  # the nanny restarted it


def test_a_client_killed_and_restarted_skips_the_done_partitions(
    lab: dict[str, Path], cluster: Any, tmp_path: Path
) -> None:
    expected = _single(lab, "single.jsonl")
    out, state = tmp_path / "dask.jsonl", tmp_path / "state"
    args = [
        *ACCORD, "scan", "--home", str(lab["home"]), str(lab["media"]), "--out", str(out),
        "--cluster", cluster.scheduler.address, "--state", str(state), "--partition-rows", "1",
    ]  # fmt: skip
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _markers(state) >= 3 or process.poll() is not None, timeout=120, interval=0.02)
        assert process.poll() is None, "the scan finished before it could be killed"
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(30)
    assert not out.exists()
    done = _markers(state)
    assert 3 <= done < 24
    # A partition's results altered (or torn) behind the scan's back are scanned again.
    first = sorted((state / "parts").glob("*.done"))[0].with_suffix(".report")
    first.write_bytes(first.read_bytes() + b'{"id": "forged"}\n')
    rerun = subprocess.run([*args, "--json"], capture_output=True, text=True, timeout=120, check=False)
    assert rerun.returncode == 0, rerun.stderr
    data = json.loads(rerun.stdout)
    assert data["skipped_partitions"] >= done - 1  # every partition done before the kill but one
    assert data["scanned"] + data["skipped_partitions"] == 24
    assert out.read_bytes() == expected


def test_a_rerun_with_another_source_into_the_same_state_is_refused(
    lab: dict[str, Path], tmp_path: Path
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    plan = {"format": "accord-scan-state", "source": "/elsewhere", "fmt": "jsonl", "partition_rows": 5}
    (state / "plan.json").write_text(json.dumps({**plan, "snapshot": "0" * 64}))
    job = ScanJob(str(lab["manifest"]), tmp_path / "r.jsonl", "jsonl", str(state), partition_rows=5)
    with pytest.raises(InvalidInput, match="holds a scan of another source"):
        run_distributed_scan(
            job,
            snapshot_source=_never,
            cluster=ClusterChoice(address="tcp://127.0.0.1:1"),
            record=lambda ids, others: None,
        )
    assert not (tmp_path / "r.jsonl").exists()


def _never() -> Any:
    raise AssertionError("a refused scan takes no snapshot")


def test_without_the_scan_extra_a_dask_scan_names_it(lab: dict[str, Path], tmp_path: Path) -> None:
    # A real process in which importing distributed fails, as when the extra is not installed.
    blocked = (
        "import sys; sys.modules['distributed'] = None; sys.modules['fsspec'] = None;"
        "from node.cli.main import main; sys.argv[0] = 'accord'; main()"
    )
    result = subprocess.run(
        [sys.executable, "-c", blocked, "scan", "--home", str(lab["home"]), str(lab["manifest"]),
         "--out", str(tmp_path / "r.jsonl"), "--dask"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "a distributed scan (accord scan --dask) needs an optional dependency" in result.stderr
    assert "'scan' extra" in result.stderr
    assert not (tmp_path / "r.jsonl").exists()


# --- --c2pa (issue 15) --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def c2pa_lab(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A node trusting one CA and listing a photo it signed, the signed data set of
    :func:`tests.support.credentials.signed_dataset` and a manifest naming some of it by path;
    with the reports a single-machine --c2pa scan writes of both."""
    pytest.importorskip("c2pa")
    from tests.support.credentials import make_signer, signed_dataset

    root = tmp_path_factory.mktemp("dask-c2pa")
    trusted, other = make_signer("Newsroom Photo Desk"), make_signer("Generator Service")
    media = signed_dataset(root / "media", trusted=trusted, other=other)
    manifest = root / "manifest.csv"
    manifest.write_text(
        "id,md5,path\nai,,media/ai.png\nlisted,,media/listed.png\n"
        f"hashes,{LISTED_MD5.value},\ntampered,{md5_signal(5).value},media/tampered.png\n"
    )
    home = root / "lab"
    init_home(home, name="AI lab")
    (home / "anchors.pem").write_bytes(trusted.ca_pem)
    toml = home / "accord.toml"
    toml.write_text(toml.read_text().replace('c2pa_trust_anchors = ""', 'c2pa_trust_anchors = "anchors.pem"'))
    node = AccordNode.open(home)
    try:
        node.contribute(files=[media / "listed.png"], category="csam", tlp=Tlp.GREEN)
        check = node.scan_credential_check()
        assert check.trust_anchors == trusted.ca_pem
        node.scan(media, root / "single.jsonl", fmt="jsonl", c2pa=check)
        node.scan(manifest, root / "single.csv", fmt="csv", c2pa=check)
    finally:
        node.close()
    return {"root": root, "home": home, "media": media, "manifest": manifest}


def test_a_c2pa_scan_on_dask_equals_the_single_machine_one(
    c2pa_lab: dict[str, Path], cluster: Any, tmp_path: Path
) -> None:
    out, table = tmp_path / "dask.jsonl", tmp_path / "dask.csv"
    result = accord(
        "scan", "--home", c2pa_lab["home"], c2pa_lab["media"], "--out", out, "--c2pa",
        "--cluster", cluster.scheduler.address, "--partition-rows", "2", "--json", timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    expected = (c2pa_lab["root"] / "single.jsonl").read_bytes()
    assert out.read_bytes() == expected
    lines = [json.loads(line) for line in expected.splitlines()]
    assert [
        (r["id"], r["c2pa"]["valid"], r["c2pa"]["trusted"], r["c2pa"]["ai_generated"]) for r in lines
    ] == [
        ("ai.png", True, False, True),
        ("listed.png", True, True, False),
        ("tampered.png", False, False, False),
    ]
    data = json.loads(result.stdout)
    assert data["c2pa"] == {"items": 3, "ai_generated": 1} and data["matched"] == 1
    manifest = accord(
        "scan", "--home", c2pa_lab["home"], c2pa_lab["manifest"], "--out", table, "--c2pa",
        "--cluster", cluster.scheduler.address, "--partition-rows", "3", timeout=120,
    )  # fmt: skip
    assert manifest.returncode == 0, manifest.stderr
    assert table.read_bytes() == (c2pa_lab["root"] / "single.csv").read_bytes()
    assert table.read_text().splitlines()[0].endswith(",c2pa_state,c2pa_valid,c2pa_trusted,c2pa_ai_generated")
    assert "C2PA: 3 item(s) carry a manifest, 1 declare AI generation" in manifest.stdout


def test_a_dask_rerun_with_the_other_c2pa_setting_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    source = tmp_path / "media"
    source.mkdir()
    plan = {
        "format": "accord-scan-state",
        "source": str(source.resolve()),
        "fmt": "jsonl",
        "partition_rows": 5,
    }
    (state / "plan.json").write_text(json.dumps({**plan, "c2pa": True, "snapshot": "0" * 64}))
    job = ScanJob(str(source), tmp_path / "r.jsonl", "jsonl", str(state), partition_rows=5)
    with pytest.raises(InvalidInput, match="holds an interrupted scan with --c2pa; run it again with --c2pa"):
        run_distributed_scan(
            job,
            snapshot_source=_never,
            cluster=ClusterChoice(address="tcp://127.0.0.1:1"),
            record=lambda ids, others: None,
        )
    (state / "plan.json").write_text(json.dumps({**plan, "snapshot": "0" * 64}))  # made before --c2pa
    with_c2pa = ScanJob(
        str(source), tmp_path / "r.jsonl", "jsonl", str(state), partition_rows=5, c2pa=CredentialCheck()
    )
    with pytest.raises(InvalidInput, match="holds an interrupted scan without --c2pa"):
        run_distributed_scan(
            with_c2pa,
            snapshot_source=_never,
            cluster=ClusterChoice(address="tcp://127.0.0.1:1"),
            record=lambda ids, others: None,
        )
    anchored = {**plan, "c2pa": True, "c2pa_anchors": "0" * 64}  # under anchors since replaced
    (state / "plan.json").write_text(json.dumps({**anchored, "snapshot": "0" * 64}))
    with pytest.raises(InvalidInput, match="interrupted --c2pa scan under other trust anchors"):
        run_distributed_scan(
            with_c2pa,
            snapshot_source=_never,
            cluster=ClusterChoice(address="tcp://127.0.0.1:1"),
            record=lambda ids, others: None,
        )
    assert not (tmp_path / "r.jsonl").exists()
