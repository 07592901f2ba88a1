"""Node configuration: one TOML file in the home directory, overridable by ``ACCORD_*`` variables.

Every key has a safe default, so a node runs with no file at all. ``ACCORD_<SECTION>_<KEY>``
overrides ``[section] key`` (e.g. ``ACCORD_SYNC_INTERVAL_SECONDS=5``). Unknown keys are errors:
a misspelt limit silently falling back to its default is how a limit gets lost.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.errors import ConfigError

CONFIG_FILE = "accord.toml"
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
ENV_PREFIX = "ACCORD_"


@dataclass(frozen=True, slots=True)
class NodeSection:
    """Who this node is to humans."""

    name: str = "Accord node"


@dataclass(frozen=True, slots=True)
class NetworkSection:
    """Where the node listens."""

    listen: str = "127.0.0.1:7700"  # partner-facing Federation API
    local_listen: str = "127.0.0.1:7701"  # the operator's Matching/Status API; loopback only
    max_message_bytes: int = 32 * 1024 * 1024  # gRPC receive/send cap: one page (or envelope) + framing
    max_concurrent_rpcs: int = 64  # beyond this the server answers RESOURCE_EXHAUSTED
    rpc_timeout_seconds: float = 30.0  # deadline on every outgoing call
    grace_seconds: float = 5.0  # graceful shutdown: in-flight calls get this long
    metrics_listen: str = ""  # Prometheus /metrics on a loopback HOST:PORT; empty = off


@dataclass(frozen=True, slots=True)
class SyncSection:
    """The pull schedule (DESIGN §10)."""

    interval_seconds: float = 60.0
    jitter_seconds: float = 5.0
    max_backoff_seconds: float = 900.0  # a failing peer is retried at most this far apart
    refresh_seconds: float = 0.5  # how often match lists pick up newly committed rows
    sightings_seconds: float = 3600.0  # how often sightings go to partners that opted in


@dataclass(frozen=True, slots=True)
class LimitsSection:
    """Input limits, checked before parsing (DESIGN §4)."""

    # One entry of 20,000 indicators is ~17 MiB (~870 bytes each) and parses into ~60 MB of
    # objects. Bigger entries make ingest cheaper: at million-row scale each commit rewrites
    # most pages of the random-key id index, so 20,000 rows per transaction write far fewer
    # pages per indicator than 5,000 (commits of a 1M-row sync: 15.5 s → 6.8 s), at the same
    # durability. Receivers must accept what publishers send: change these together.
    max_envelope_bytes: int = 24 * 1024 * 1024
    max_objects_per_entry: int = 20_000  # keeps one entry's transaction and parse bounded
    max_page_bytes: int = 2 * 1024 * 1024  # a pull page holds whole envelopes up to this size
    clock_skew_seconds: int = 300  # tolerated difference between partners' clocks
    max_batch_signals: int = 10_000  # signals per local Match call


@dataclass(frozen=True, slots=True)
class MatchSection:
    """Matching thresholds (DESIGN §9).

    ``pdq_threshold`` applies unless a partner (by its local name) or a category has its own;
    when both have one, the stricter (smaller) applies. In TOML the overrides are tables,
    e.g. ``category_thresholds = { ncii = 24 }``; in the environment ``ncii=24,csam=31``.
    """

    pdq_threshold: int = 31
    category_thresholds: dict[str, int] = field(default_factory=dict)
    partner_thresholds: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LogSection:
    """Logging."""

    level: str = "INFO"
    format: str = "text"  # "json": one JSON object per line, for log shippers


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """The whole configuration. Build with :func:`load_config`."""

    node: NodeSection = field(default_factory=NodeSection)
    network: NetworkSection = field(default_factory=NetworkSection)
    sync: SyncSection = field(default_factory=SyncSection)
    limits: LimitsSection = field(default_factory=LimitsSection)
    match: MatchSection = field(default_factory=MatchSection)
    log: LogSection = field(default_factory=LogSection)

    def __post_init__(self) -> None:
        match = self.match
        named = {"match.pdq_threshold": match.pdq_threshold}
        named |= {f"match.category_thresholds.{k}": v for k, v in match.category_thresholds.items()}
        named |= {f"match.partner_thresholds.{k}": v for k, v in match.partner_thresholds.items()}
        for key, threshold in named.items():
            if not 0 <= threshold <= 128:
                raise ConfigError(f"{key} must be between 0 and 128, not {threshold}")
        sync = self.sync
        if not all(
            math.isfinite(v)
            for v in (
                sync.interval_seconds,
                sync.refresh_seconds,
                sync.jitter_seconds,
                sync.max_backoff_seconds,
                self.network.rpc_timeout_seconds,
                self.network.grace_seconds,
            )
        ):
            raise ConfigError("sync and network durations must be finite numbers")
        if sync.interval_seconds <= 0 or sync.refresh_seconds <= 0 or self.network.rpc_timeout_seconds <= 0:
            raise ConfigError("sync intervals and the rpc timeout must be positive")
        if sync.jitter_seconds < 0 or sync.max_backoff_seconds < 0 or self.network.grace_seconds < 0:
            raise ConfigError("jitter, backoff and grace periods cannot be negative")
        if self.log.format not in ("text", "json"):
            raise ConfigError("log.format must be text or json")
        if self.log.level.upper() not in _LOG_LEVELS:
            raise ConfigError(f"log.level must be one of {', '.join(_LOG_LEVELS)}")
        if self.limits.max_page_bytes < 1024 or self.limits.max_envelope_bytes < 1024:
            raise ConfigError("limits below 1 KiB cannot carry one entry")


def load_config(home: Path, env: Mapping[str, str] | None = None) -> NodeConfig:
    """Read ``home/accord.toml`` (if present), then apply ``ACCORD_*`` overrides from ``env``."""
    raw: dict[str, Any] = {}
    path = home / CONFIG_FILE
    if path.exists():
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    _apply_env(raw, os.environ if env is None else env)
    return _build(raw, source=str(path))


_SECTION_TYPES: dict[str, type[Any]] = {
    "node": NodeSection,
    "network": NetworkSection,
    "sync": SyncSection,
    "limits": LimitsSection,
    "match": MatchSection,
    "log": LogSection,
}


def _apply_env(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    for name, text in env.items():
        if not name.startswith(ENV_PREFIX) or name == "ACCORD_HOME":
            continue
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("_")
        if section in _SECTION_TYPES and key:
            raw.setdefault(section, {})[key] = text


def _build(raw: dict[str, Any], *, source: str) -> NodeConfig:
    unknown = set(raw) - set(_SECTION_TYPES)
    if unknown:
        raise ConfigError(f"{source}: unknown section(s) {', '.join(sorted(unknown))}")
    sections = {name: _section(cls, raw.get(name, {}), name) for name, cls in _SECTION_TYPES.items()}
    return NodeConfig(**sections)


def _section(cls: type[Any], values: object, name: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"[{name}] must be a table")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(values) - set(fields)
    if unknown:
        raise ConfigError(f"[{name}] has unknown key(s) {', '.join(sorted(unknown))}")
    return cls(**{key: _value(fields[key], value, f"{name}.{key}") for key, value in values.items()})


def _value(spec: dataclasses.Field[Any], value: object, label: str) -> object:
    if spec.default is dataclasses.MISSING:  # the tables: name -> threshold
        return _threshold_table(value, label)
    return _coerce(spec.default, value, label)


def _threshold_table(value: object, label: str) -> dict[str, int]:
    """A table of name → integer threshold, from TOML or from ``a=1,b=2`` in the environment."""
    if isinstance(value, str):
        pairs = [item.partition("=") for item in value.split(",") if item.strip()]
        if any(not sep for _, sep, _ in pairs):
            raise ConfigError(f"{label} must be written name=threshold,name=threshold")
        value = {k.strip(): v.strip() for k, _, v in pairs}
    if not isinstance(value, dict):
        raise ConfigError(f"{label} must be a table of name = threshold")
    return {str(k): int(_coerce(0, v, f"{label}.{k}")) for k, v in value.items()}  # type: ignore[call-overload]


def _coerce(default: object, value: object, label: str) -> object:
    """Convert ``value`` (from TOML, or an environment string) to the type of ``default``.

    TOML values must already have the right type (no float truncated into an int, no list
    turned into a string); environment values are strings and are parsed.
    """
    kind = type(default)
    from_env = isinstance(value, str)
    if kind is str and from_env:
        return value
    try:
        if kind is int and (from_env or (isinstance(value, int) and not isinstance(value, bool))):
            return int(value)  # type: ignore[call-overload]
        if kind is float and (from_env or (isinstance(value, int | float) and not isinstance(value, bool))):
            return float(value)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ConfigError(f"{label} must be a {kind.__name__}, not {value!r}") from exc
    raise ConfigError(f"{label} must be a {kind.__name__}, not {value!r}")


def render_default_config(name: str) -> str:
    """The config file ``accord init`` writes: every key with its default, commented."""
    lines = ["# Accord node configuration. Every key is optional; see deploy/accord.example.toml.", ""]
    config = NodeConfig(node=NodeSection(name=name))
    for section_name in _SECTION_TYPES:
        section = getattr(config, section_name)
        lines.append(f"[{section_name}]")
        for f in dataclasses.fields(section):
            lines.append(f"{f.name} = {_toml_value(getattr(section, f.name))}")
        lines.append("")
    return "\n".join(lines)


def _toml_value(value: object) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {v}" for k, v in value.items()) + " }" if value else "{}"
    if isinstance(value, str):
        # A JSON string is a valid TOML basic string once DEL, which TOML forbids raw, is escaped
        # too (JSON escapes the other control characters; non-ASCII stays as UTF-8).
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)
