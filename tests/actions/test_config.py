"""The [actions] section: defaults, environment overrides, and values that are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.config import load_config
from node.errors import ConfigError


def test_defaults_and_environment_overrides(tmp_path: Path) -> None:
    actions = load_config(tmp_path, env={}).actions
    assert (actions.max_attempts, actions.allow_plain_http, actions.read_timeout_seconds) == (10, False, 10.0)
    env = {"ACCORD_ACTIONS_MAX_ATTEMPTS": "3", "ACCORD_ACTIONS_ALLOW_PLAIN_HTTP": "yes"}
    overridden = load_config(tmp_path, env=env).actions
    assert (overridden.max_attempts, overridden.allow_plain_http) == (3, True)


@pytest.mark.parametrize(
    "line",
    [
        "max_attempts = 0",
        "retry_base_seconds = 0.0",
        "retry_max_seconds = -1.0",
        "read_timeout_seconds = nan",
        "connect_timeout_seconds = inf",
        "poll_seconds = 0.0",
        "allow_plain_http = 1",
        "max_attempt = 3",
    ],
)
def test_bad_values_are_refused(tmp_path: Path, line: str) -> None:
    (tmp_path / "accord.toml").write_text(f"[actions]\n{line}\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        load_config(tmp_path, env={})
