"""Configuration: defaults, the TOML file, ACCORD_* overrides, and refusal of anything unknown."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.config import (
    CONFIG_FILE,
    LimitsSection,
    MatchSection,
    NetworkSection,
    NodeConfig,
    NodeSection,
    SyncSection,
    load_config,
    render_default_config,
)
from node.errors import ConfigError


def write_config(home: Path, text: str) -> None:
    (home / CONFIG_FILE).write_text(text, encoding="utf-8")


def test_defaults_without_a_file(tmp_path: Path) -> None:
    config = load_config(tmp_path, env={})
    assert config == NodeConfig()
    assert config.match.pdq_threshold == 31
    assert config.limits.max_envelope_bytes == 24 * 1024 * 1024
    assert config.network.local_listen.startswith("127.0.0.1:")


def test_values_from_the_file(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        """
        [node]
        name = "Hotline One"

        [sync]
        interval_seconds = 5
        jitter_seconds = 0.5

        [limits]
        max_objects_per_entry = 100

        [match]
        pdq_threshold = 20
        """,
    )
    config = load_config(tmp_path, env={})
    assert config.node.name == "Hotline One"
    assert config.sync.interval_seconds == 5.0
    assert isinstance(config.sync.interval_seconds, float)
    assert config.sync.jitter_seconds == 0.5
    assert config.limits.max_objects_per_entry == 100
    assert config.match.pdq_threshold == 20
    # keys not in the file keep their defaults
    assert config.sync.refresh_seconds == SyncSection().refresh_seconds
    assert config.network == NetworkSection()


def test_environment_overrides_of_every_kind(tmp_path: Path) -> None:
    env = {
        "ACCORD_MATCH_PDQ_THRESHOLD": "12",
        "ACCORD_SYNC_INTERVAL_SECONDS": "2.5",
        "ACCORD_NODE_NAME": "From Env",
        "ACCORD_NETWORK_LOCAL_LISTEN": "127.0.0.1:9999",
        "ACCORD_LIMITS_MAX_PAGE_BYTES": "65536",
    }
    config = load_config(tmp_path, env=env)
    assert config.match.pdq_threshold == 12
    assert type(config.match.pdq_threshold) is int
    assert config.sync.interval_seconds == 2.5
    assert config.node.name == "From Env"
    assert config.network.local_listen == "127.0.0.1:9999"
    assert config.limits.max_page_bytes == 65536


def test_environment_beats_the_file(tmp_path: Path) -> None:
    write_config(tmp_path, "[match]\npdq_threshold = 20\n[node]\nname = 'file'\n")
    config = load_config(tmp_path, env={"ACCORD_MATCH_PDQ_THRESHOLD": "8"})
    assert config.match.pdq_threshold == 8
    assert config.node.name == "file"


def test_unrelated_environment_is_ignored(tmp_path: Path) -> None:
    env = {"ACCORD_HOME": "/elsewhere", "HOME": "/root", "ACCORD_FUZZ_EXAMPLES": "5", "PATH": "/bin"}
    assert load_config(tmp_path, env=env) == NodeConfig()


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("ACCORD_SYNC_INTERVL_SECONDS", "did you mean ACCORD_SYNC_INTERVAL_SECONDS?"),
        ("ACCORD_NETWORK_LISTN", "did you mean ACCORD_NETWORK_LISTEN?"),
        ("ACCORD_LIMIT_CLOCK_SKEW_SECONDS", "did you mean ACCORD_LIMITS_CLOCK_SKEW_SECONDS?"),
        ("ACCORD_HOMEDIR", "did you mean ACCORD_HOME?"),
        ("ACCORD_NODE", ""),
        ("ACCORD_", ""),
    ],
)
def test_an_unknown_accord_variable_is_refused_by_name(tmp_path: Path, name: str, hint: str) -> None:
    """Issue 13: an unknown ACCORD_* variable was silently ignored while an unknown TOML key is an error."""
    with pytest.raises(ConfigError, match=f"unknown environment variable {name}") as caught:
        load_config(tmp_path, env={name: "5"})
    assert hint in str(caught.value)


def test_an_unknown_key_in_the_file_gets_a_suggestion(tmp_path: Path) -> None:
    write_config(tmp_path, "[sync]\ninterval_secs = 5\n")
    with pytest.raises(ConfigError, match="did you mean interval_seconds"):
        load_config(tmp_path, env={})


@pytest.mark.parametrize("skew", ["-1", "0", "3601", "1000000000"])
def test_a_clock_skew_outside_one_second_to_an_hour_is_refused(tmp_path: Path, skew: str) -> None:
    """Issue 13: a negative skew refused every request; a huge one disabled the replay window."""
    with pytest.raises(ConfigError, match=r"limits\.clock_skew_seconds must be between 1 and 3600"):
        load_config(tmp_path, env={"ACCORD_LIMITS_CLOCK_SKEW_SECONDS": skew})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ACCORD_NETWORK_MAX_STREAMS_PER_CONNECTION", "0"),
        ("ACCORD_NETWORK_FIRST_MESSAGE_SECONDS", "0"),
        ("ACCORD_NETWORK_FIRST_MESSAGE_SECONDS", "nan"),
        ("ACCORD_NETWORK_MAX_CALLS_PER_PARTNER", "0"),
    ],
)
def test_hostile_caller_limits_are_checked(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name.removeprefix("ACCORD_NETWORK_").lower()):
        load_config(tmp_path, env={name: value})


def test_os_environ_is_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCORD_LOG_LEVEL", "DEBUG")
    assert load_config(tmp_path).log.level == "DEBUG"


def test_an_unknown_section_is_refused(tmp_path: Path) -> None:
    write_config(tmp_path, "[sink]\nx = 1\n")
    with pytest.raises(ConfigError, match="unknown section"):
        load_config(tmp_path, env={})


@pytest.mark.parametrize(
    "text",
    ["[limits]\nmax_envelope_byte = 10\n", "[sync]\ninterval = 5\n", "[node]\nname = 'x'\ncolour = 'red'\n"],
)
def test_an_unknown_key_is_refused(tmp_path: Path, text: str) -> None:
    write_config(tmp_path, text)
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(tmp_path, env={})


def test_an_unknown_key_from_the_environment_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown environment variable"):
        load_config(tmp_path, env={"ACCORD_SYNC_INTERVL_SECONDS": "5"})


def test_a_section_that_is_not_a_table_is_refused(tmp_path: Path) -> None:
    write_config(tmp_path, "match = 5\n")
    with pytest.raises(ConfigError, match="must be a table"):
        load_config(tmp_path, env={})


@pytest.mark.parametrize(
    "text",
    [
        "[match]\npdq_threshold = 'high'\n",
        "[match]\npdq_threshold = true\n",
        "[sync]\ninterval_seconds = 'soon'\n",
        "[sync]\ninterval_seconds = false\n",
        "[limits]\nmax_page_bytes = [1, 2]\n",
    ],
)
def test_a_wrong_type_is_refused(tmp_path: Path, text: str) -> None:
    write_config(tmp_path, text)
    with pytest.raises(ConfigError, match="must be a"):
        load_config(tmp_path, env={})


@pytest.mark.parametrize(
    ("name", "value"), [("ACCORD_MATCH_PDQ_THRESHOLD", "3.5"), ("ACCORD_SYNC_REFRESH_SECONDS", "fast")]
)
def test_a_wrong_type_from_the_environment_is_refused(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(ConfigError, match="must be a"):
        load_config(tmp_path, env={name: value})


def test_invalid_toml_is_refused(tmp_path: Path) -> None:
    write_config(tmp_path, "[match\npdq_threshold = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(tmp_path, env={})


@pytest.mark.parametrize("threshold", ["-1", "129", "1000"])
def test_an_invalid_threshold_is_refused(tmp_path: Path, threshold: str) -> None:
    with pytest.raises(ConfigError, match="pdq_threshold"):
        load_config(tmp_path, env={"ACCORD_MATCH_PDQ_THRESHOLD": threshold})


@pytest.mark.parametrize("threshold", [0, 128])
def test_threshold_bounds_are_inclusive(threshold: int) -> None:
    assert NodeConfig(match=MatchSection(pdq_threshold=threshold)).match.pdq_threshold == threshold


@pytest.mark.parametrize(
    "env",
    [
        {"ACCORD_SYNC_INTERVAL_SECONDS": "0"},
        {"ACCORD_SYNC_REFRESH_SECONDS": "-1"},
        {"ACCORD_LIMITS_MAX_PAGE_BYTES": "1023"},
        {"ACCORD_LIMITS_MAX_ENVELOPE_BYTES": "10"},
        {"ACCORD_SYNC_PAGE_TIMEOUT_SECONDS": "0"},
        {"ACCORD_NETWORK_MAX_CONCURRENT_RPCS": "0"},
        {"ACCORD_NETWORK_MAX_MESSAGE_BYTES": "100"},
    ],
)
def test_unusable_limits_are_refused(tmp_path: Path, env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        load_config(tmp_path, env=env)


def test_the_default_file_parses_back_to_the_defaults(tmp_path: Path) -> None:
    text = render_default_config("Hotline One")
    parsed = tomllib.loads(text)
    expected = NodeConfig(node=NodeSection(name="Hotline One"))
    for section in ("node", "network", "sync", "limits", "match", "log"):
        assert parsed[section] == dataclasses.asdict(getattr(expected, section))
    write_config(tmp_path, text)
    assert load_config(tmp_path, env={}) == expected


def test_the_default_file_lists_every_key() -> None:
    parsed = tomllib.loads(render_default_config("n"))
    assert set(parsed["limits"]) == {f.name for f in dataclasses.fields(LimitsSection)}


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), max_size=40))
def test_any_printable_name_survives_the_default_file(name: str) -> None:
    assert tomllib.loads(render_default_config(name))["node"]["name"] == name


def test_a_float_for_an_integer_key_is_refused(tmp_path: Path) -> None:
    write_config(tmp_path, "[match]\npdq_threshold = 31.9\n")
    with pytest.raises(ConfigError):
        load_config(tmp_path, env={})


@pytest.mark.parametrize("text", ["[node]\nname = [1, 2]\n", "[log]\nlevel = 5\n"])
def test_a_non_string_for_a_string_key_is_refused(tmp_path: Path, text: str) -> None:
    write_config(tmp_path, text)
    with pytest.raises(ConfigError):
        load_config(tmp_path, env={})


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_a_non_finite_interval_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError):
        load_config(tmp_path, env={"ACCORD_SYNC_INTERVAL_SECONDS": value})


def test_a_name_with_a_control_character_survives_the_default_file() -> None:
    assert tomllib.loads(render_default_config("Hotline\nOne"))["node"]["name"] == "Hotline\nOne"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[limits]\nmax_media_pixels = 0\n", "max_media_pixels must be between"),
        ("[limits]\nmax_media_pixels = 100000000\n", "max_media_pixels must be between"),
        ("[limits]\nmedia_pixels_in_flight = 1000\n", "must hold at least one image"),
        ("[limits]\nmedia_wait_seconds = -1.0\n", "media_wait_seconds"),
    ],
)
def test_media_limits_are_checked(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "accord.toml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path, env={})


def test_scan_workers_is_a_count_of_processes(tmp_path: Path) -> None:
    (tmp_path / "accord.toml").write_text("[scan]\ndask = true\ncluster = 'tcp://10.0.0.5:8786'\n")
    config = load_config(tmp_path, env={})
    assert (config.scan.dask, config.scan.cluster, config.scan.workers) == (True, "tcp://10.0.0.5:8786", 0)
    with pytest.raises(ConfigError, match=r"scan\.workers"):
        load_config(tmp_path, env={"ACCORD_SCAN_WORKERS": "-1"})


@pytest.mark.parametrize("count", ["-1", "65"])
def test_match_workers_is_a_bounded_count_of_processes(tmp_path: Path, count: str) -> None:
    config = load_config(tmp_path, env={"ACCORD_NETWORK_MATCH_WORKERS": "2"})
    assert (config.network.match_workers, config.network.match_listen) == (2, "127.0.0.1:7710")
    with pytest.raises(ConfigError, match=r"network\.match_workers must be between 0 and 64"):
        load_config(tmp_path, env={"ACCORD_NETWORK_MATCH_WORKERS": count})
