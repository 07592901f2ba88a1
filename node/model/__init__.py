"""Pure domain values: signals, indicators, feed entries, TLP, matches. Stdlib only, no I/O
(web addresses also use the IDNA tables and the Public Suffix List shipped in packages)."""

from node.model.certificates import (
    CertFingerprint,
    cert_fingerprint_of,
    fingerprints_match,
    parse_cert_fingerprint,
)
from node.model.entries import (
    ENTRY_PAYLOAD_TYPE,
    ENTRY_PAYLOAD_TYPE_V1,
    Distribution,
    EntryHeader,
    Grant,
    Head,
    Seal,
    SignedEntry,
)
from node.model.envelopes import Envelope, EnvelopeSignature
from node.model.ids import Digest, KeyId, Seq, fingerprint, parse_digest, parse_key_id
from node.model.indicators import (
    KNOWN_CATEGORIES,
    ContentType,
    Indicator,
    Indicators,
    Siblings,
    parse_category,
    unknown_category_reason,
)
from node.model.matches import (
    IndexHit,
    Match,
    MatchResult,
    ModelHit,
    PdqThresholds,
    VideoHit,
    VideoThresholds,
)
from node.model.opinions import Consensus, Opinion, OpinionTally, OpinionValue
from node.model.partners import (
    Partner,
    SharingGroup,
    is_loopback_endpoint,
    parse_endpoint,
    parse_partner_name,
)
from node.model.policy import Compromise, PartnerPolicy, Trust
from node.model.rotation import KeyRotation, SigningKey
from node.model.sightings import Sighting
from node.model.signals import (
    MODEL_MAX_TENSORS,
    PDQ_DEFAULT_THRESHOLD,
    PDQ_MIN_QUALITY,
    VPDQ_MAX_FRAMES,
    Signal,
    SignalType,
)
from node.model.tlp import Tlp

__all__ = [
    "ENTRY_PAYLOAD_TYPE",
    "ENTRY_PAYLOAD_TYPE_V1",
    "KNOWN_CATEGORIES",
    "MODEL_MAX_TENSORS",
    "PDQ_DEFAULT_THRESHOLD",
    "PDQ_MIN_QUALITY",
    "VPDQ_MAX_FRAMES",
    "CertFingerprint",
    "Compromise",
    "Consensus",
    "ContentType",
    "Digest",
    "Distribution",
    "EntryHeader",
    "Envelope",
    "EnvelopeSignature",
    "Grant",
    "Head",
    "IndexHit",
    "Indicator",
    "Indicators",
    "KeyId",
    "KeyRotation",
    "Match",
    "MatchResult",
    "ModelHit",
    "Opinion",
    "OpinionTally",
    "OpinionValue",
    "Partner",
    "PartnerPolicy",
    "PdqThresholds",
    "Seal",
    "Seq",
    "SharingGroup",
    "Siblings",
    "Sighting",
    "Signal",
    "SignalType",
    "SignedEntry",
    "SigningKey",
    "Tlp",
    "Trust",
    "VideoHit",
    "VideoThresholds",
    "cert_fingerprint_of",
    "fingerprint",
    "fingerprints_match",
    "is_loopback_endpoint",
    "parse_category",
    "parse_cert_fingerprint",
    "parse_digest",
    "parse_endpoint",
    "parse_key_id",
    "parse_partner_name",
    "unknown_category_reason",
]
