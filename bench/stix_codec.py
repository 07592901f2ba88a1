"""Throughput of Accord's STIX codec against the stix2 library (DESIGN §7).

    .venv/bin/python -m bench.stix_codec

build_bundle and read_bundle run on 100,000 indicators (the hot path: publishing and ingesting
big hash lists); stix2.parse runs on 2,000 objects, because at ~2,000 objects/s a larger run
only takes longer. The target is at least 50,000 indicators/s for both codec directions.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import stix2

from node.model import ContentType, Indicator, KeyId, Signal, SignalType, Tlp
from node.stix import build_bundle, read_bundle

ORIGIN = KeyId(hashlib.sha256(b"bench origin").hexdigest())
ORIGIN_NAMES = {ORIGIN: "Bench Origin"}
CODEC_COUNT = 100_000
LIBRARY_COUNT = 2_000
TARGET_PER_SECOND = 50_000


def make_indicators(count: int, seed: int = 7) -> list[Indicator]:
    """A realistic mix: mostly PDQ, some cryptographic hashes, every TLP level."""
    rng = random.Random(seed)
    created = datetime(2025, 6, 1, 12, 0, 0, 250000, tzinfo=UTC)
    kinds = [SignalType.PDQ] * 6 + [SignalType.MD5, SignalType.SHA1, SignalType.SHA256]
    indicators = []
    for n in range(count):
        kind = kinds[n % len(kinds)]
        indicators.append(
            Indicator(
                id=f"indicator--{uuid.UUID(int=rng.getrandbits(128), version=4)}",
                signal=Signal(kind, f"{rng.getrandbits(4 * kind.hex_length):0{kind.hex_length}x}"),
                category="csam" if n % 3 else "ncii",
                content_type=ContentType.default_for(kind),
                tlp=list(Tlp)[n % len(Tlp)],
                origin=ORIGIN,
                created=created,
                modified=created + timedelta(seconds=n % 60),
                quality=90 if kind is SignalType.PDQ else None,
            )
        )
    return indicators


def rate(count: int, action: Callable[[], Any]) -> float:
    """Objects per second of ``action`` over ``count`` objects, best of three runs."""
    best = min(_timed(action) for _ in range(3))
    return count / best


def _timed(action: Callable[[], Any]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    indicators = make_indicators(CODEC_COUNT)
    bundle = json.loads(json.dumps(build_bundle(indicators, origin_names=ORIGIN_NAMES)))
    limit = len(bundle["objects"])
    build = rate(CODEC_COUNT, lambda: build_bundle(indicators, origin_names=ORIGIN_NAMES))
    read = rate(CODEC_COUNT, lambda: read_bundle(bundle, origin=ORIGIN, max_objects=limit))

    small = json.dumps(build_bundle(indicators[: LIBRARY_COUNT - 3], origin_names=ORIGIN_NAMES))
    library = rate(LIBRARY_COUNT, lambda: stix2.parse(small, allow_custom=False))

    print(f"build_bundle  {build:>10,.0f} indicators/s  ({CODEC_COUNT:,} indicators)")
    print(f"read_bundle   {read:>10,.0f} indicators/s  ({CODEC_COUNT:,} indicators, parsed JSON)")
    print(f"stix2.parse   {library:>10,.0f} objects/s     ({LIBRARY_COUNT:,} objects, from JSON text)")
    print(f"ratio: build {build / library:.0f}x, read {read / library:.0f}x the stix2 library")
    slow = [name for name, value in (("build", build), ("read", read)) if value < TARGET_PER_SECOND]
    print("target met" if not slow else f"BELOW the {TARGET_PER_SECOND:,}/s target: {', '.join(slow)}")


if __name__ == "__main__":
    main()
