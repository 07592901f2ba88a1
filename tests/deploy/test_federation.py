"""deploy/: the federation demo end to end, the example config, compose and its init script.

The demo test runs deploy/federation.py exactly as an operator would (a subprocess of this
venv's Python, on free loopback ports) and reads what it printed: the platform matched the
NGO's image relayed by the hub, then stopped matching after the NGO revoked it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest

from node.config import NodeConfig, load_config
from tests.support.processes import free_ports

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PORT_OFFSETS = (0, 1, 10, 11, 20, 21)  # ngo, hub and platform: partner and local ports
# Three node starts, two sync hops each way and a dozen CLI runs: ~90 s on a loaded 2-core
# machine. Each `accord serve` now also warms up its compiled search loops before SERVING.
DEMO_TIMEOUT_SECONDS = 240
NODE_NAMES = ("ngo", "hub", "platform")


def free_base_port() -> int:
    """A base port whose federation ports (base + PORT_OFFSETS) are free, outside the ephemeral range."""
    return free_ports(max(PORT_OFFSETS) + 1)


def run_script(*args: str, timeout: float) -> tuple[int, str, str]:
    """Run deploy/federation.py; on timeout let it stop its nodes (SIGTERM) before failing."""
    command = [sys.executable, str(DEPLOY / "federation.py"), *args]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=30)
            pytest.fail(f"federation.py did not finish within {timeout} s\n{out}\n{err}")
    return process.returncode, out, err


def test_demo_matches_through_the_hub_then_revokes(tmp_path: Path) -> None:
    folder = tmp_path / "federation"
    code, out, err = run_script(
        "--demo", "--dir", str(folder), "--base-port", str(free_base_port()), timeout=DEMO_TIMEOUT_SECONDS
    )

    assert code == 0, f"stdout:\n{out}\nstderr:\n{err}"
    match = re.search(r"MATCH at the platform .* within PDQ distance (\d+) .*origin ngo, category csam", out)
    assert match is not None, out
    assert int(match.group(1)) <= 31
    assert out.index("MATCH") < out.index("REVOKED: the platform no longer matches") < out.index("demo: OK")
    assert re.search(r"timings: contribute → match [\d.]+ s; revoke → no match [\d.]+ s", out)
    for name in NODE_NAMES:  # each node stopped through its own graceful shutdown
        log = (folder / f"{name}.log").read_text(encoding="utf-8")
        assert "SERVING" in log
        assert "shutting down" in log


def test_busy_port_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    base = free_base_port()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", base + 10))
        squatter.listen()
        code, out, err = run_script("--dir", str(tmp_path), "--base-port", str(base), timeout=60)

    assert code == 1, out
    assert f"port(s) {base + 10}" in err
    assert "--base-port" in err


# --- the example configuration -------------------------------------------------------------


def _section_classes() -> dict[str, type[Any]]:
    return {f.name: type(getattr(NodeConfig(), f.name)) for f in dataclasses.fields(NodeConfig)}


def test_example_config_loads_to_the_defaults(tmp_path: Path) -> None:
    shutil.copy(DEPLOY / "accord.example.toml", tmp_path / "accord.toml")

    assert load_config(tmp_path, env={}) == NodeConfig()


def test_example_config_lists_every_key_of_every_section() -> None:
    raw = tomllib.loads((DEPLOY / "accord.example.toml").read_text(encoding="utf-8"))

    sections = _section_classes()
    assert set(raw) == set(sections)
    for name, cls in sections.items():
        assert set(raw[name]) == {f.name for f in dataclasses.fields(cls)}, name


def test_example_config_explains_every_key() -> None:
    lines = (DEPLOY / "accord.example.toml").read_text(encoding="utf-8").splitlines()

    for number, line in enumerate(lines):
        if re.match(r"[a-z_]+ = ", line):
            assert lines[number - 1].startswith("#"), f"no comment above {line!r}"


# --- compose ---------------------------------------------------------------------------------


def load_yaml(path: Path) -> Any:
    """Parse YAML with PyYAML: this venv's if it has it, else a system python3's, else skip."""
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        return _load_yaml_elsewhere(path)
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _load_yaml_elsewhere(path: Path) -> Any:
    code = "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)"
    for python in ("python3", "/usr/bin/python3"):
        found = shutil.which(python)
        if found is None or Path(found).resolve() == Path(sys.executable).resolve():
            continue
        result = subprocess.run([found, "-c", code, str(path)], capture_output=True, text=True, check=False)
        if result.returncode == 0:
            return json.loads(result.stdout)
    pytest.skip("no Python with PyYAML to parse compose.yaml")


def test_compose_defines_the_three_nodes_after_init() -> None:
    compose = load_yaml(DEPLOY / "compose.yaml")

    services = compose["services"]
    assert set(NODE_NAMES) <= set(services)
    init = services["init"]
    assert "/compose-init.sh" in " ".join(init["entrypoint"])
    for name in NODE_NAMES:
        node = services[name]
        assert node["depends_on"]["init"]["condition"] == "service_completed_successfully"
        assert f"{name}-data:/data" in node["volumes"]
        assert f"{name}-data:/homes/{name}" in init["volumes"]
        assert node["build"]["dockerfile"] == "deploy/Dockerfile"
        assert node["command"] == ["serve", "--listen", "0.0.0.0:7700"]


def _compose_cli() -> list[str]:
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode == 0
    ):
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy:
        return [legacy]
    pytest.skip("no docker compose or docker-compose on this machine to validate compose.yaml")


def test_compose_file_is_valid_for_compose_itself() -> None:
    """Compose's own schema and interpolation accept the file (no daemon needed for `config`)."""
    result = subprocess.run(
        [*_compose_cli(), "-p", "accord", "-f", str(DEPLOY / "compose.yaml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr


def _partners(home: Path) -> dict[str, str | None]:
    accord = Path(sys.executable).parent / "accord"
    result = subprocess.run(
        [str(accord), "--home", str(home), "partner", "list", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return {p["name"]: p["endpoint"] for p in json.loads(result.stdout)}


def test_compose_init_creates_homes_and_pins_keys_idempotently(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ACCORD")},
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOMES_DIR": str(tmp_path),
    }
    script = str(DEPLOY / "compose-init.sh")

    first = subprocess.run(["sh", script], capture_output=True, text=True, env=env, check=False)
    second = subprocess.run(["sh", script], capture_output=True, text=True, env=env, check=False)

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert "pinned" not in second.stdout.replace("already pinned", "")
    assert _partners(tmp_path / "ngo") == {"hub": None, "platform": None}
    assert _partners(tmp_path / "hub") == {"ngo": "ngo:7700", "platform": None}
    assert _partners(tmp_path / "platform") == {"hub": "hub:7700", "ngo": None}
    # Pulls cross the container network: each pulled partner's TLS certificate is pinned.
    assert _cert_pins(tmp_path / "hub") == {
        "ngo": _identity(tmp_path / "ngo")["tls_fingerprint"],
        "platform": None,
    }
    assert _cert_pins(tmp_path / "platform")["hub"] == _identity(tmp_path / "hub")["tls_fingerprint"]


def _accord_json(home: Path, *args: str) -> Any:
    command = [sys.executable, "-m", "node", "--home", str(home), *args, "--json"]
    return json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


def _identity(home: Path) -> dict[str, str]:
    card: dict[str, str] = _accord_json(home, "identity")
    return card


def _cert_pins(home: Path) -> dict[str, str | None]:
    return {p["name"]: p["cert_fingerprint"] for p in _accord_json(home, "partner", "list")}


# --- the image's health check and the systemd unit ---------------------------------------------


def test_dockerfile_health_check_reports_a_serving_node(tmp_path: Path) -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    found = re.search(r"HEALTHCHECK [^\n]*\\\n\s*CMD (\[.*\])$", dockerfile, re.MULTILINE)
    assert found is not None, "no HEALTHCHECK ... CMD [exec form] in the Dockerfile"
    check = json.loads(found.group(1))
    base = free_base_port()
    check = [sys.executable, *check[1:-1], check[-1].replace("127.0.0.1:7701", f"127.0.0.1:{base + 1}")]
    accord = Path(sys.executable).parent / "accord"
    serve = [str(accord), "--home", str(tmp_path / "node"), "serve"]
    serve += ["--listen", f"127.0.0.1:{base}", "--local-listen", f"127.0.0.1:{base + 1}"]

    with (tmp_path / "serve.log").open("w") as log, subprocess.Popen(serve, stderr=log) as node:
        try:
            outcome = _poll_health(check)
        finally:
            node.terminate()
            node.wait(timeout=30)

    assert outcome == 0, (tmp_path / "serve.log").read_text(encoding="utf-8")


def _poll_health(check: list[str]) -> int:
    """The health check's exit code once it passes, or its last exit code after ~30 s."""
    code = -1
    for _ in range(30):
        code = subprocess.run(check, capture_output=True, check=False, timeout=30).returncode
        if code == 0:
            break
        time.sleep(1)
    return code


def test_systemd_unit_is_hardened() -> None:
    unit = (DEPLOY / "accord.service").read_text(encoding="utf-8")

    for directive in (
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/accord",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "DynamicUser=yes",
        "CapabilityBoundingSet=\n",
    ):
        assert directive in unit, directive
    assert re.search(r"^ExecStart=\S+/accord serve ", unit, re.MULTILINE)


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    accord = Path(sys.executable).parent / "accord"
    unit = (DEPLOY / "accord.service").read_text(encoding="utf-8")
    (tmp_path / "accord.service").write_text(unit.replace("/opt/accord/bin/accord", str(accord)))

    result = subprocess.run(
        [analyze, "verify", "--man=no", str(tmp_path / "accord.service")],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
