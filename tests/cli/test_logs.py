"""Log formats: text for people, JSON lines for shippers; the serve process honours the config."""

from __future__ import annotations

import json
import logging
import signal
from pathlib import Path

from node.cli.logs import JsonFormatter, status_line
from tests.support.processes import ServeProcess, accord, free_port


def test_json_records_carry_time_level_logger_and_message() -> None:
    record = logging.LogRecord(
        "node.sync.pull", logging.WARNING, __file__, 1, "pull from %s failed", ("hub",), None
    )
    document = json.loads(JsonFormatter().format(record))
    assert document["level"] == "WARNING" and document["logger"] == "node.sync.pull"
    assert document["message"] == "pull from hub failed"
    assert document["time"].endswith("+00:00")


def test_status_lines_follow_the_format() -> None:
    assert status_line("SERVING", json_lines=False) == "SERVING"
    assert json.loads(status_line("SERVING", json_lines=True))["message"] == "SERVING"


def test_serve_writes_only_json_lines_when_configured(tmp_path: Path) -> None:
    home = tmp_path / "node"
    assert accord("init", "--home", home, "--name", "json").returncode == 0
    env = {"ACCORD_LOG_FORMAT": "json", "ACCORD_NETWORK_METRICS_LISTEN": f"127.0.0.1:{free_port()}"}
    node = ServeProcess(home, listen=free_port(), local=free_port(), log=tmp_path / "serve.log", env=env)
    assert node.stop() == 0
    lines = [line for line in node.log.read_text().splitlines() if line.strip()]
    documents = [json.loads(line) for line in lines]  # every line parses
    messages = " ".join(d["message"] for d in documents)
    assert "SERVING" in messages and "metrics on http://127.0.0.1:" in messages


def test_a_native_crash_of_serve_leaves_its_stacks_in_the_log(tmp_path: Path) -> None:
    # A segfault in a C extension used to end `accord serve` with no word in its log.
    home = tmp_path / "node"
    assert accord("init", "--home", home, "--name", "crash").returncode == 0
    node = ServeProcess(home, listen=free_port(), local=free_port(), log=tmp_path / "serve.log")
    node.process.send_signal(signal.SIGSEGV)
    node.process.wait(30)
    assert node.stop() == -signal.SIGSEGV
    log = node.log.read_text()
    assert "Fatal Python error: Segmentation fault" in log
    assert "most recent call first" in log  # the Python stacks of its threads
