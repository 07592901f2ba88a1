"""One error tree for the whole node.

Every error the node raises on purpose derives from :class:`AccordError`. Each carries a
human explanation (``str(err)``), a stable machine ``reason`` (used as the metrics / rejection
label), and the exit code the CLI uses. The rpc layer maps the classes to gRPC status codes in
one table; the CLI catches ``AccordError`` in one place. Messages never contain hash values.
"""

from __future__ import annotations


class AccordError(Exception):
    """Root of every error the node raises deliberately."""

    reason = "error"
    exit_code = 2

    def diagnostics(self) -> str:
        """A human explanation, suitable for an operator's terminal."""
        return str(self)


# --- input and configuration -------------------------------------------------------------


class InvalidInput(AccordError):
    """A value given by a user or a caller does not have the required form."""

    reason = "invalid_input"


class InvalidSignal(InvalidInput):
    """A hash value is not valid for its signal type (wrong length, not hex, unknown type)."""

    reason = "invalid_signal"


class LowQuality(InvalidInput):
    """A PDQ hash whose quality is below the minimum; such hashes match too much noise."""

    reason = "low_quality"


class MediaError(InvalidInput):
    """A media file could not be read or decoded."""

    reason = "media_error"


class ConfigError(AccordError):
    """The configuration file or environment holds an invalid value."""

    reason = "config_error"


class NotFound(AccordError):
    """A named thing (partner, indicator, home directory) does not exist."""

    reason = "not_found"
    exit_code = 3


class AlreadyExists(AccordError):
    """A thing that must be unique exists already."""

    reason = "already_exists"
    exit_code = 3


# --- the trust boundary: reasons an envelope or entry is refused -------------------------


class Rejected(AccordError):
    """An envelope or entry from a peer was refused. Nothing of it was stored."""

    reason = "rejected"
    exit_code = 4


class TooLarge(Rejected):
    """Input is larger than a configured limit; refused before parsing."""

    reason = "too_large"


class UnknownSigner(Rejected):
    """The envelope is signed by a key that is not pinned."""

    reason = "unknown_signer"


class BadSignature(Rejected):
    """The signature does not verify over the received bytes."""

    reason = "bad_signature"


class MalformedEntry(Rejected):
    """The verified payload is not a well-formed feed entry."""

    reason = "malformed_entry"


class MalformedStix(Rejected):
    """The entry's STIX bundle does not follow Accord's STIX profile."""

    reason = "malformed_stix"


class Gap(Rejected):
    """The entry's seq is beyond head+1: earlier entries are missing."""

    reason = "gap"


class BrokenChain(Rejected):
    """The entry's prev digest does not match the digest of the origin's head."""

    reason = "broken_chain"


class Replayed(Rejected):
    """The entry was already accepted (same origin, seq and digest); it is ignored."""

    reason = "replayed"


class Equivocation(Rejected):
    """Two validly signed entries share an (origin, seq) but differ: the origin forked its feed."""

    reason = "equivocation"


class RetiredKey(Rejected):
    """The entry is signed by a key its origin rotated away from (or not yet rotated to)."""

    reason = "retired_key"


class Compromised(Rejected):
    """The entry comes from a feed position at or after the one its key was marked compromised."""

    reason = "compromised"


class Quarantined(Rejected):
    """The origin is quarantined (e.g. after equivocation); nothing more is accepted from it."""

    reason = "quarantined"


class BodyMismatch(Rejected):
    """A body that is not the one its signed header names (swapped, stripped, or unsealed)."""

    reason = "body_mismatch"


class BodyWithheld(Rejected):
    """A peer served a header without the body it should hold (or with one that is not it)."""

    reason = "body_withheld"


class Withheld(Rejected):
    """A peer showed an origin-signed head further than the entries it served: an omission."""

    reason = "withheld"


# --- peers and transport -----------------------------------------------------------------


class PeerError(AccordError):
    """A peer could not be reached or answered with an error."""

    reason = "peer_error"
    exit_code = 4


class PeerCertificateMismatch(PeerError):
    """A peer presented a TLS certificate other than the one pinned for it."""

    reason = "tls_pin_mismatch"


class PlaintextRefused(PeerError):
    """A peer would have to be reached without TLS where TLS is required."""

    reason = "tls_required"


class Unauthenticated(AccordError):
    """A request's signed metadata is missing, stale, replayed or does not verify."""

    reason = "unauthenticated"
    exit_code = 4


# --- the node's own state ----------------------------------------------------------------


class NodeBusy(AccordError):
    """A running ``accord serve`` holds this home; the operation would pull its database away."""

    reason = "node_busy"
    exit_code = 3


class RestoredFeed(AccordError):
    """This node was restored from a backup and has not yet learned its own feed's head.

    Publishing now could reuse a seq that partners already hold with another entry: a fork.
    A pull from the partners (``accord sync``) brings back what it published after the backup.
    """

    reason = "restored"
    exit_code = 4


class SealedBodyInvalid(Rejected):
    """A sealed body whose key stanza opened does not decrypt, match its digest, or have its shape."""

    reason = "sealed_body_invalid"


# --- optional extras -----------------------------------------------------------------------


def extra_install_hint(extra: str) -> str:
    """How to install one of the project's optional extras. Accord is installed from its
    checkout, not from PyPI: a bare ``pip install 'accord-node[...]'`` would fetch whatever
    PyPI holds under that name."""
    return f"install the project's '{extra}' extra: pip install -e '.[{extra}]' in the Accord checkout"


class MissingExtra(AccordError):
    """A feature needs an optional extra of the project that is not installed."""

    reason = "missing_extra"

    def __init__(self, feature: str, extra: str) -> None:
        super().__init__(
            f"{feature} needs an optional dependency that is not installed; {extra_install_hint(extra)}"
        )
        self.extra = extra


class Overloaded(AccordError):
    """The node is at a configured capacity (e.g. media hashing) and refused rather than queue."""

    reason = "overloaded"
    exit_code = 3


# --- the HTTP API ----------------------------------------------------------------------------


class Forbidden(AccordError):
    """An authenticated account asked for something its role does not allow."""

    reason = "forbidden"
    exit_code = 4


class RateLimited(AccordError):
    """An account sent requests faster than its rate limit; it may retry after a pause."""

    reason = "rate_limited"
    exit_code = 4

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotReady(AccordError):
    """The node is still loading its match lists; answering now would miss matches."""

    reason = "not_ready"
    exit_code = 4
