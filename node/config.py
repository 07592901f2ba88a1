"""Node configuration: one TOML file in the home directory, overridable by ``ACCORD_*`` variables.

Every key has a safe default, so a node runs with no file at all. ``ACCORD_<SECTION>_<KEY>``
overrides ``[section] key`` (e.g. ``ACCORD_SYNC_INTERVAL_SECONDS=5``). Unknown keys are errors:
a misspelt limit silently falling back to its default is how a limit gets lost.
"""

from __future__ import annotations

import dataclasses
import difflib
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
_TLS_MODES = ("auto", "always")
MAX_MATCH_WORKERS = 64  # network.match_workers: each process holds a copy of the lists
_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
_PILLOW_BOMB_PIXELS = (
    89_478_485  # Pillow refuses (or warns about) images above this: PIL.Image.MAX_IMAGE_PIXELS
)
ENV_PREFIX = "ACCORD_"
# ACCORD_* variables that are not configuration: the home directory (CLI) and test budgets.
OTHER_ENV = frozenset({"ACCORD_HOME", "ACCORD_FUZZ_EXAMPLES", "ACCORD_CRASH_HASHES", "ACCORD_CRASH_KILLS"})
MIN_CLOCK_SKEW_SECONDS = 1
MAX_CLOCK_SKEW_SECONDS = 3600


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
    # "auto": the partner API serves TLS unless it listens on loopback, and partners are reached
    # over TLS unless their endpoint is loopback. "always": TLS on loopback too.
    tls: str = "auto"
    # Serve and reach non-loopback partners WITHOUT TLS. Signed requests still authenticate,
    # but every byte (restricted hash lists included) crosses the network readable.
    insecure_plaintext: bool = False
    # Hostile callers (issue 13). HTTP/2 streams one partner connection may hold open at once:
    # more wait in the caller's own queue instead of taking server threads.
    max_streams_per_connection: int = 8
    # A partner call whose request message has not arrived this long after it opened is
    # cancelled: a caller that opens calls and never sends cannot hold a server thread longer.
    first_message_seconds: float = 5.0
    # Calls one claimed partner key may run at once (before its signature is checked too), so
    # callers naming one key cannot take the slots of the others.
    max_calls_per_partner: int = 8
    # The Match API from several processes (issue 16): one Python process answers ~1,500
    # single-signal calls/s here, its threads contending for one GIL. With N > 0, N match
    # processes each hold the lists and answer Match on their own loopback port, from
    # match_listen's port upwards (port 0: free ports); callers spread calls over them
    # (round-robin). The local port still answers everything, Match included.
    match_workers: int = 0
    match_listen: str = "127.0.0.1:7710"


@dataclass(frozen=True, slots=True)
class SyncSection:
    """The pull schedule (DESIGN §10)."""

    interval_seconds: float = 60.0
    jitter_seconds: float = 5.0
    max_backoff_seconds: float = 900.0  # a failing peer is retried at most this far apart
    refresh_seconds: float = 0.5  # how often match lists pick up newly committed rows
    # A peer that sends no page for this long is stalled: the pull gives up (what it committed
    # stays) instead of holding the job until the call's deadline. Time spent committing what
    # arrived does not count; only waiting for the peer does.
    page_timeout_seconds: float = 30.0
    # Partners (names, comma-separated) we push our own entries to after each scheduled pull
    # from them: for a contributor that cannot accept inbound connections. Empty: no push.
    push_to: str = ""

    @property
    def push_targets(self) -> frozenset[str]:
        """The partner names in ``push_to``."""
        return frozenset(name.strip() for name in self.push_to.split(",") if name.strip())

    sightings_seconds: float = 3600.0  # how often sightings go to partners that opted in
    # An origin re-signs its head at every Heads call; a relay that keeps showing a head older
    # than this may be hiding newer entries (a freeze attack): the origin is flagged stale.
    max_head_age_seconds: float = 3 * 3600.0
    # A header whose body no peer served for this many sync rounds is alerted on (log, status).
    body_missing_alert_rounds: int = 3
    # A node restored from a backup publishes again once this many of its partners with an
    # endpoint have shown it their heads of its own feed (and none is beyond what it holds):
    # "majority" (more than half), "all", or a number such as "2" (at most all of them).
    restore_quorum: str = "majority"


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
    # Media given to the Match API is decoded at full size for PDQ (about 8 bytes a pixel).
    # An image above max_media_pixels gets no PDQ (its size is read from the header, it is not
    # decoded); 50 MP covers today's largest phone photos. At most 89 MP: Pillow's own
    # decompression-bomb guard. media_pixels_in_flight bounds the memory of all concurrent
    # media hashes together (~8 bytes x this); a call that waits media_wait_seconds for its
    # share is refused with RESOURCE_EXHAUSTED.
    max_media_pixels: int = 50_000_000
    media_pixels_in_flight: int = 50_000_000
    media_wait_seconds: float = 10.0


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
    # Video (vPDQ), Meta's reference defaults: a query frame matches a listed frame within
    # this many bits; a video matches when this share of the query's frames match...
    vpdq_frame_threshold: int = 31
    vpdq_query_match_percent: float = 80.0
    # ...and this share of the listed video's frames were matched (0: any share).
    vpdq_compared_match_percent: float = 0.0
    # The server saves its PDQ and video indexes (with the change cursor they reflect) this
    # often and on a clean shutdown, so a restart loads them instead of rebuilding; 0: only at
    # shutdown.
    index_save_seconds: float = 600.0
    # A hash list of known-benign media (relative to the home; empty: none). A query within
    # the safelist threshold of it, or of an active ``benign`` indicator, never matches as harmful.
    safelist: str = ""
    safelist_pdq_threshold: int = 31
    # C2PA trust anchors (issue 15): a PEM file of CA certificates, relative to the home; empty:
    # none. A manifest signed under one of them is reported ``trusted``; any other intact one
    # only ``valid``. Evidence either way: a manifest never changes a hash match.
    c2pa_trust_anchors: str = ""


@dataclass(frozen=True, slots=True)
class LogSection:
    """Logging."""

    level: str = "INFO"
    format: str = "text"  # "json": one JSON object per line, for log shippers


@dataclass(frozen=True, slots=True)
class TaxiiSection:
    """The read-only TAXII 2.1 server (off unless ``listen`` is set)."""

    listen: str = ""  # loopback HOST:PORT of the TAXII server; empty = off (or `serve --taxii`)
    analyst_max_tlp: str = "amber+strict"  # what analyst accounts see unless created with --max-tlp
    page_size: int = 100  # objects per response when the client names no limit
    max_page_size: int = 1000  # objects per response whatever the client asks


@dataclass(frozen=True, slots=True)
class ImportsSection:
    """Pulling unsigned sources: TAXII collections and MISP feeds."""

    timeout_seconds: float = 30.0  # a server silent this long (connect or between bytes) is given up
    max_response_bytes: int = 32 * 1024 * 1024  # one TAXII page or MISP event file; refused above
    # MISP tag (lowercase) → category, on top of the built-in map (csam, ncii, terrorism, ...)
    tag_categories: dict[str, str] = field(default_factory=dict, metadata={"table": "names"})
    # Wall clock for one whole import (every page of a TAXII pull, every file of a MISP feed):
    # a server that trickles a byte at a time cannot hold an import open past it.
    deadline_seconds: float = 600.0


@dataclass(frozen=True, slots=True)
class HttpSection:
    """The HTTP API (issue 14): off unless ``listen`` is set (or ``accord serve --http``)."""

    # HOST:PORT; empty = off. Plain HTTP on loopback only; elsewhere TLS with the node's
    # certificate (refused in plaintext unless network.insecure_plaintext).
    listen: str = ""
    # A request body above this is refused (413) before it is read whole or parsed. A batch of
    # limits.max_batch_signals (10,000) PDQ signals is ~750 KiB of JSON.
    max_body_bytes: int = 4 * 1024 * 1024
    # Per account, a token bucket: this many requests per second sustained, bursts up to
    # rate_burst. One batch call can carry thousands of signals, so per request is the unit.
    rate_per_second: float = 50.0
    rate_burst: int = 100
    # Media bytes (POST /v1/match as multipart/form-data, HMA's /m/lookup and /h/hash): a
    # body above this is refused (413) before it is parsed; at most max_media_files file
    # parts a request. Decoding is bounded separately (limits.max_media_pixels and the
    # shared limits.media_pixels_in_flight budget).
    max_media_bytes: int = 32 * 1024 * 1024
    max_media_files: int = 16
    # Requests without a valid token or session (health, login, refused credentials): a token
    # bucket per client address, so a stranger cannot make the node verify credentials at will.
    anonymous_rate_per_second: float = 5.0
    anonymous_rate_burst: int = 20
    # People's sessions (POST /v1/login): a session cookie ends this long after login, or at
    # logout, or when the account is removed.
    session_seconds: int = 8 * 3600  # a working day
    # Failed logins: after this many in a row for one account name (known or not: the answer
    # must not tell them apart), or from one client address, logins there are refused for
    # login_lockout_seconds, doubling at each further lockout up to an hour.
    login_max_failures: int = 5
    login_max_failures_per_address: int = 20
    login_lockout_seconds: float = 60.0
    # Callers that hold connections (HTTP API and TAXII): a request must arrive whole within
    # request_seconds of its connection (a 32 MiB upload at 1 MB/s takes 32 s), and one client
    # address holds at most max_connections_per_address connections at once (503 beyond).
    request_seconds: float = 60.0
    max_connections_per_address: int = 16


@dataclass(frozen=True, slots=True)
class ActionsSection:
    """Webhook deliveries (issue 14): the outbox's retry schedule and the POST's limits."""

    # A delivery is tried this many times in all, then dead-lettered (`accord delivery replay`).
    max_attempts: int = 10
    # Exponential backoff: the n-th retry waits about retry_base * 2^(n-1) seconds, at most
    # retry_max, half of it random (jitter). 10 tries span about two and a half hours.
    retry_base_seconds: float = 10.0
    retry_max_seconds: float = 3600.0
    # A receiver that does not accept the connection / answer in this long fails the attempt.
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 10.0
    # How often `accord serve` looks for due deliveries (deliveries it accepts itself go at once).
    poll_seconds: float = 1.0
    # Webhook URLs are https, or plain http to loopback only; true allows plain http anywhere
    # (the match records and their signatures then cross the network readable).
    allow_plain_http: bool = False


@dataclass(frozen=True, slots=True)
class ScanSection:
    """``accord scan`` on Dask (issue 16; the ``scan`` extra)."""

    dask: bool = False  # scan on Dask by default (else only with --dask or --cluster)
    cluster: str = ""  # scheduler address (tcp://host:8786); empty = a local cluster
    workers: int = 0  # local cluster worker processes; 0 = one per core


@dataclass(frozen=True, slots=True)
class ReviewSection:
    """The review queue (issue 14): when a match needs a person, and how the queue is ordered."""

    # A match corroborated by fewer independent origins than this goes to review; 0 = off.
    min_corroboration: int = 0
    # category -> priority; higher is reviewed first (then oldest first); unlisted categories 0.
    category_priority: dict[str, int] = field(default_factory=dict)
    # A decision may be undone this long after it was made (its opinion is withdrawn).
    undo_seconds: float = 900.0


@dataclass(frozen=True, slots=True)
class FloodSection:
    """Flood protection (issue 14): an indicator whose matches spike is held for review."""

    enabled: bool = True
    # Held when at least min_matches matched in the last window_seconds...
    min_matches: int = 50
    window_seconds: float = 600.0
    # ...and that is at least ratio times its trailing rate over baseline_seconds before the window.
    ratio: float = 20.0
    baseline_seconds: float = 7 * 24 * 3600.0


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """The whole configuration. Build with :func:`load_config`."""

    node: NodeSection = field(default_factory=NodeSection)
    network: NetworkSection = field(default_factory=NetworkSection)
    sync: SyncSection = field(default_factory=SyncSection)
    limits: LimitsSection = field(default_factory=LimitsSection)
    match: MatchSection = field(default_factory=MatchSection)
    log: LogSection = field(default_factory=LogSection)
    taxii: TaxiiSection = field(default_factory=TaxiiSection)
    imports: ImportsSection = field(default_factory=ImportsSection)
    http: HttpSection = field(default_factory=HttpSection)
    actions: ActionsSection = field(default_factory=ActionsSection)
    scan: ScanSection = field(default_factory=ScanSection)
    review: ReviewSection = field(default_factory=ReviewSection)
    flood: FloodSection = field(default_factory=FloodSection)

    def __post_init__(self) -> None:
        self._check_match()
        self._check_durations()
        self._check_network_and_log()
        self._check_restore_quorum()
        self._check_hostile_callers()
        self._check_http()
        self._check_actions()
        if self.scan.workers < 0:
            raise ConfigError("scan.workers is a number of worker processes (0: one per core)")
        self._check_review()

    def _check_review(self) -> None:
        review, flood = self.review, self.flood
        if review.min_corroboration < 0 or any(
            v < -1000 or v > 1000 for v in review.category_priority.values()
        ):
            raise ConfigError("review.min_corroboration must be 0 or more, priorities between -1000 and 1000")
        if not (math.isfinite(review.undo_seconds) and review.undo_seconds >= 0):
            raise ConfigError("review.undo_seconds must be a number of seconds, zero or more")
        if flood.min_matches < 1 or not (math.isfinite(flood.ratio) and flood.ratio >= 1):
            raise ConfigError("flood.min_matches must be at least 1 and flood.ratio at least 1")
        if not 0 < flood.window_seconds < flood.baseline_seconds < math.inf:
            raise ConfigError("flood.window_seconds must be positive and below flood.baseline_seconds")

    def _check_http(self) -> None:
        http = self.http
        if http.max_body_bytes < 1024:
            raise ConfigError("http.max_body_bytes below 1 KiB cannot carry one request")
        if not (math.isfinite(http.rate_per_second) and http.rate_per_second > 0) or http.rate_burst < 1:
            raise ConfigError("http.rate_per_second must be a positive number and http.rate_burst at least 1")
        self._check_http_auth()

    def _check_http_auth(self) -> None:
        http = self.http
        if not (math.isfinite(http.anonymous_rate_per_second) and http.anonymous_rate_per_second > 0):
            raise ConfigError("http.anonymous_rate_per_second must be a positive number")
        if http.anonymous_rate_burst < 1 or http.session_seconds < 60:
            raise ConfigError(
                "http.anonymous_rate_burst must be at least 1 and http.session_seconds at least 60"
            )
        if http.login_max_failures < 1 or http.login_max_failures_per_address < 1:
            raise ConfigError(
                "http.login_max_failures and http.login_max_failures_per_address must be at least 1"
            )
        if not (math.isfinite(http.login_lockout_seconds) and http.login_lockout_seconds > 0):
            raise ConfigError("http.login_lockout_seconds must be a positive number")
        if not (math.isfinite(http.request_seconds) and http.request_seconds > 0):
            raise ConfigError("http.request_seconds must be a positive number")
        if http.max_connections_per_address < 1:
            raise ConfigError("http.max_connections_per_address must be at least 1")

    def _check_actions(self) -> None:
        actions = self.actions
        durations = (
            actions.retry_base_seconds,
            actions.retry_max_seconds,
            actions.connect_timeout_seconds,
            actions.read_timeout_seconds,
            actions.poll_seconds,
        )
        if not all(math.isfinite(v) and v > 0 for v in durations):
            raise ConfigError("actions durations (retries, timeouts, poll) must be positive finite numbers")
        if not 1 <= actions.max_attempts <= 1000:
            raise ConfigError("actions.max_attempts must be between 1 and 1000")

    def _check_match(self) -> None:
        match = self.match
        named = {
            "match.pdq_threshold": match.pdq_threshold,
            "match.vpdq_frame_threshold": match.vpdq_frame_threshold,
        }
        named["match.safelist_pdq_threshold"] = match.safelist_pdq_threshold
        named |= {f"match.category_thresholds.{k}": v for k, v in match.category_thresholds.items()}
        named |= {f"match.partner_thresholds.{k}": v for k, v in match.partner_thresholds.items()}
        for key, threshold in named.items():
            if not 0 <= threshold <= 128:
                raise ConfigError(f"{key} must be between 0 and 128, not {threshold}")
        for key in ("vpdq_query_match_percent", "vpdq_compared_match_percent"):
            share = getattr(match, key)
            if not 0.0 <= share <= 100.0:  # NaN fails too
                raise ConfigError(f"match.{key} must be between 0 and 100, not {share}")
        if not 0.0 <= match.index_save_seconds < math.inf:
            raise ConfigError("match.index_save_seconds must be a finite number, 0 or more")

    def _check_durations(self) -> None:
        sync = self.sync
        if not all(
            math.isfinite(v)
            for v in (
                sync.interval_seconds,
                sync.refresh_seconds,
                sync.jitter_seconds,
                sync.max_backoff_seconds,
                sync.page_timeout_seconds,
                self.network.rpc_timeout_seconds,
                self.network.grace_seconds,
            )
        ):
            raise ConfigError("sync and network durations must be finite numbers")
        if (
            min(sync.interval_seconds, sync.refresh_seconds, sync.page_timeout_seconds) <= 0
            or self.network.rpc_timeout_seconds <= 0
        ):
            raise ConfigError("sync intervals, the page timeout and the rpc timeout must be positive")
        if not 0 <= self.network.match_workers <= MAX_MATCH_WORKERS:
            raise ConfigError(f"network.match_workers must be between 0 and {MAX_MATCH_WORKERS}")
        if self.network.max_concurrent_rpcs < 1 or self.network.max_message_bytes < 1024:
            raise ConfigError("network.max_concurrent_rpcs must be at least 1, max_message_bytes 1 KiB")
        if sync.jitter_seconds < 0 or sync.max_backoff_seconds < 0 or self.network.grace_seconds < 0:
            raise ConfigError("jitter, backoff and grace periods cannot be negative")

    def _check_network_and_log(self) -> None:
        if self.network.tls not in _TLS_MODES:
            raise ConfigError(f"network.tls must be one of {', '.join(_TLS_MODES)}, not {self.network.tls!r}")
        if self.network.tls == "always" and self.network.insecure_plaintext:
            raise ConfigError("network.tls = always contradicts network.insecure_plaintext = true")
        if self.log.format not in ("text", "json"):
            raise ConfigError("log.format must be text or json")
        if self.log.level.upper() not in _LOG_LEVELS:
            raise ConfigError(f"log.level must be one of {', '.join(_LOG_LEVELS)}")
        if self.limits.max_page_bytes < 1024 or self.limits.max_envelope_bytes < 1024:
            raise ConfigError("limits below 1 KiB cannot carry one entry")
        self._check_media_limits()
        self._check_bridges()

    def _check_restore_quorum(self) -> None:
        rule = self.sync.restore_quorum
        if rule not in ("majority", "all") and not (rule.isascii() and rule.isdigit() and int(rule) >= 1):
            raise ConfigError(
                f'sync.restore_quorum must be "majority", "all" or a number of partners, not {rule!r}'
            )

    def _check_media_limits(self) -> None:
        limits = self.limits
        if not 1 <= limits.max_media_pixels <= _PILLOW_BOMB_PIXELS:
            raise ConfigError(f"limits.max_media_pixels must be between 1 and {_PILLOW_BOMB_PIXELS}")
        if limits.media_pixels_in_flight < limits.max_media_pixels:
            raise ConfigError(
                "limits.media_pixels_in_flight must hold at least one image of max_media_pixels"
            )
        if not (math.isfinite(limits.media_wait_seconds) and limits.media_wait_seconds >= 0):
            raise ConfigError("limits.media_wait_seconds must be a number of seconds, zero or more")

    def _check_bridges(self) -> None:
        taxii, imports = self.taxii, self.imports
        if not 1 <= taxii.page_size <= taxii.max_page_size:
            raise ConfigError("taxii.page_size must be between 1 and taxii.max_page_size")
        if taxii.analyst_max_tlp.strip().lower() not in ("clear", "green", "amber", "amber+strict", "red"):
            raise ConfigError("taxii.analyst_max_tlp must be clear, green, amber, amber+strict or red")
        if not (math.isfinite(imports.timeout_seconds) and imports.timeout_seconds > 0):
            raise ConfigError("imports.timeout_seconds must be a positive number")
        if not (math.isfinite(imports.deadline_seconds) and imports.deadline_seconds > 0):
            raise ConfigError("imports.deadline_seconds must be a positive number")
        if imports.max_response_bytes < 1024:
            raise ConfigError("imports.max_response_bytes below 1 KiB cannot carry one page")

    def _check_hostile_callers(self) -> None:
        skew = self.limits.clock_skew_seconds
        if not MIN_CLOCK_SKEW_SECONDS <= skew <= MAX_CLOCK_SKEW_SECONDS:
            # Below 1 s every request is refused; a huge window makes replay protection rest on
            # a nonce cache that would have to remember everything.
            raise ConfigError(
                f"limits.clock_skew_seconds must be between {MIN_CLOCK_SKEW_SECONDS} and"
                f" {MAX_CLOCK_SKEW_SECONDS} seconds, not {skew}"
            )
        network = self.network
        if not 1 <= network.max_streams_per_connection <= 1024:
            raise ConfigError("network.max_streams_per_connection must be between 1 and 1024")
        if not 0 < network.first_message_seconds <= 600:  # NaN fails too
            raise ConfigError("network.first_message_seconds must be more than 0 and at most 600")
        if network.max_calls_per_partner < 1:  # above max_concurrent_rpcs, that limit applies
            raise ConfigError("network.max_calls_per_partner must be at least 1")


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
    "taxii": TaxiiSection,
    "imports": ImportsSection,
    "http": HttpSection,
    "actions": ActionsSection,
    "scan": ScanSection,
    "review": ReviewSection,
    "flood": FloodSection,
}


def _apply_env(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    for name, text in env.items():
        if not name.startswith(ENV_PREFIX) or name in OTHER_ENV:
            continue
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("_")
        if section not in _SECTION_TYPES or not key or key not in _field_names(_SECTION_TYPES[section]):
            # As strict as the file: a misspelt variable must not leave its default in force.
            raise ConfigError(f"unknown environment variable {name}{_did_you_mean(name, _env_names())}")
        raw.setdefault(section, {})[key] = text


def _field_names(cls: type[Any]) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def _env_names() -> list[str]:
    """Every ``ACCORD_*`` variable this node reads."""
    names = [
        f"{ENV_PREFIX}{section}_{key}".upper()
        for section, cls in _SECTION_TYPES.items()
        for key in _field_names(cls)
    ]
    return sorted(OTHER_ENV) + sorted(names)


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


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
        hints = "".join(_did_you_mean(str(key), sorted(fields)) for key in sorted(unknown))
        raise ConfigError(f"[{name}] has unknown key(s) {', '.join(sorted(unknown))}{hints}")
    return cls(**{key: _value(fields[key], value, f"{name}.{key}") for key, value in values.items()})


def _value(spec: dataclasses.Field[Any], value: object, label: str) -> object:
    if spec.metadata.get("table") == "names":  # name -> name (e.g. MISP tag -> category)
        return _name_table(value, label)
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


def _name_table(value: object, label: str) -> dict[str, str]:
    """A table of name → name, from TOML or from ``a=b,c=d`` in the environment."""
    if isinstance(value, str):
        pairs = [item.partition("=") for item in value.split(",") if item.strip()]
        if any(not sep for _, sep, _ in pairs):
            raise ConfigError(f"{label} must be written name=value,name=value")
        value = {k.strip(): v.strip() for k, _, v in pairs}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ConfigError(f'{label} must be a table of name = "value"')
    return {str(k).lower(): v for k, v in value.items()}


def _coerce(default: object, value: object, label: str) -> object:
    """Convert ``value`` (from TOML, or an environment string) to the type of ``default``.

    TOML values must already have the right type (no float truncated into an int, no list
    turned into a string); environment values are strings and are parsed.
    """
    kind = type(default)
    from_env = isinstance(value, str)
    if kind is str and from_env:
        return value
    if kind is bool:
        if isinstance(value, bool):
            return value
        if from_env and str(value).strip().lower() in _BOOLEANS:
            return _BOOLEANS[str(value).strip().lower()]
        raise ConfigError(f"{label} must be true or false, not {value!r}")
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
        items = ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }" if value else "{}"
    if isinstance(value, str):
        # A JSON string is a valid TOML basic string once DEL, which TOML forbids raw, is escaped
        # too (JSON escapes the other control characters; non-ASCII stays as UTF-8).
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)
