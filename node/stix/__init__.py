"""The STIX codec: Accord's STIX 2.1 profile, written and read (DESIGN §7).

Publish turns indicators into a bundle with :func:`build_bundle`; ingest turns a verified
entry's bundle back into indicators with :func:`read_bundle`. Both are plain-JSON fast paths.
This package is the only home of the ``stix2`` library, used by :func:`parse_with_stix2`.
"""

from __future__ import annotations

from node.stix.foreign import StixRefusal, StixSignal, read_stix_signals
from node.stix.library import parse_with_stix2
from node.stix.profile import origin_identity_id
from node.stix.reader import BundleContents, read_bundle, read_entry_bundle
from node.stix.timestamps import format_timestamp, parse_timestamp
from node.stix.writer import build_bundle, build_export_bundle

__all__ = [
    "BundleContents",
    "StixRefusal",
    "StixSignal",
    "build_bundle",
    "build_export_bundle",
    "format_timestamp",
    "origin_identity_id",
    "parse_timestamp",
    "parse_with_stix2",
    "read_bundle",
    "read_entry_bundle",
    "read_stix_signals",
]
