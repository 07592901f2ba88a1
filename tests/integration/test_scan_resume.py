"""``accord scan`` as a real process: killed mid-scan it resumes without duplicates, and its
memory does not grow with the manifest's length."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.feeds import md5_signal
from tests.support.processes import ACCORD, accord, wait_for

LISTED = md5_signal(424242)


def _manifest(path: Path, rows: int) -> Path:
    """``rows`` items; every 10th carries the listed md5, the rest unlisted ones."""
    with path.open("w") as stream:
        stream.write("id,md5\n")
        for n in range(rows):
            value = LISTED.value if n % 10 == 0 else f"{n:032x}"
            stream.write(f"item-{n},{value}\n")
    return path


def _home(tmp_path: Path) -> Path:
    home = tmp_path / "lab"
    assert accord("init", "--home", home, "--name", "AI lab").returncode == 0
    added = accord("contribute", "--home", home, "--signal", str(LISTED), "--category", "csam")
    assert added.returncode == 0, added.stderr
    return home


def _checkpointed_rows(out: Path) -> int:
    try:
        return int(json.loads(Path(str(out) + ".checkpoint").read_text())["rows"])
    except (OSError, ValueError, KeyError):
        return 0


def test_scan_killed_midway_resumes_and_reports_each_item_once(tmp_path: Path) -> None:
    home = _home(tmp_path)
    manifest = _manifest(tmp_path / "dataset.csv", 120_000)
    out = tmp_path / "report.jsonl"
    args = [*ACCORD, "scan", "--home", str(home), str(manifest), "--out", str(out), "--chunk-rows", "2000"]
    process = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ)
    )
    try:
        wait_for(
            lambda: _checkpointed_rows(out) >= 4000 or process.poll() is not None, timeout=120, interval=0.05
        )
        assert process.poll() is None, "the scan finished before it could be interrupted"
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(30)
    done = _checkpointed_rows(out)
    assert 0 < done < 120_000

    resumed = accord("scan", "--home", home, manifest, "--out", out, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed after row {done}" in resumed.stdout
    assert "scanned 120000 item(s): 12000 matched" in resumed.stdout
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert len(ids) == len(set(ids)) == 12_000
    assert ids == [f"item-{n}" for n in range(0, 120_000, 10)]
    assert not Path(str(out) + ".checkpoint").exists()


def _peak_rss_kib(args: list[str]) -> int:
    """Peak resident memory of one run of ``args`` (in a fresh parent, so only that child counts)."""
    probe = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True)\n"
        "assert done.returncode == 0, done.stderr\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, check=True)
    return int(result.stdout.strip())


def test_scan_memory_does_not_grow_with_the_manifest(tmp_path: Path) -> None:
    home = _home(tmp_path)
    small = _manifest(tmp_path / "small.csv", 20_000)
    large = _manifest(tmp_path / "large.csv", 200_000)  # 10x the rows
    base = [*ACCORD, "scan", "--home", str(home)]
    small_peak = _peak_rss_kib([*base, str(small), "--out", str(tmp_path / "small.jsonl")])
    large_peak = _peak_rss_kib([*base, str(large), "--out", str(tmp_path / "large.jsonl")])
    # Streaming: ten times the rows may not cost more than a chunk's worth of slack (30 MiB).
    assert large_peak - small_peak < 30 * 1024, (small_peak, large_peak)
