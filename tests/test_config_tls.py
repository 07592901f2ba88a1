"""The transport keys of the configuration: ``network.tls`` and ``network.insecure_plaintext``."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.config import load_config
from node.errors import ConfigError


def write(home: Path, text: str) -> Path:
    (home / "accord.toml").write_text(text, encoding="utf-8")
    return home


def test_defaults_are_tls_off_loopback_and_never_insecure(tmp_path: Path) -> None:
    network = load_config(tmp_path, env={}).network
    assert (network.tls, network.insecure_plaintext) == ("auto", False)


@pytest.mark.parametrize(("text", "expected"), [("true", True), ("1", True), ("no", False), ("FALSE", False)])
def test_insecure_plaintext_comes_from_the_environment(tmp_path: Path, text: str, expected: bool) -> None:
    network = load_config(tmp_path, env={"ACCORD_NETWORK_INSECURE_PLAINTEXT": text}).network
    assert network.insecure_plaintext is expected


def test_insecure_plaintext_must_be_a_toml_boolean(tmp_path: Path) -> None:
    assert load_config(
        write(tmp_path, "[network]\ninsecure_plaintext = true\n"), env={}
    ).network.insecure_plaintext
    with pytest.raises(ConfigError, match=r"network\.insecure_plaintext must be true or false"):
        load_config(write(tmp_path, '[network]\ninsecure_plaintext = "yes please"\n'), env={})
    with pytest.raises(ConfigError, match="true or false"):
        load_config(tmp_path, env={"ACCORD_NETWORK_INSECURE_PLAINTEXT": "maybe"})


def test_tls_mode_is_checked(tmp_path: Path) -> None:
    assert load_config(tmp_path, env={"ACCORD_NETWORK_TLS": "always"}).network.tls == "always"
    with pytest.raises(ConfigError, match=r"network\.tls must be one of auto, always"):
        load_config(tmp_path, env={"ACCORD_NETWORK_TLS": "never"})


def test_always_tls_and_insecure_plaintext_contradict_each_other(tmp_path: Path) -> None:
    env = {"ACCORD_NETWORK_TLS": "always", "ACCORD_NETWORK_INSECURE_PLAINTEXT": "true"}
    with pytest.raises(ConfigError, match="contradicts"):
        load_config(tmp_path, env=env)
