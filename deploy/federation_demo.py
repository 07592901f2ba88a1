"""``federation.py --demo``: contribute at the NGO, match at the platform, revoke, see it go.

The image is drawn here (Pillow and numpy, dependencies of the node itself) rather than read
from disk, and each run uses a new seed, so repeated demos in one directory never meet an
earlier, revoked contribution.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from federation_nodes import ACCORD_EXIT_NO_MATCH, AccordCli, FederationError, Node, say
from federation_processes import StopSignal

T = TypeVar("T")
POLL_SECONDS = 0.5


def make_demo_images(folder: Path, *, seed: int) -> tuple[Path, Path]:
    """Draw an original image and its everyday re-upload: resized to 60 % and saved as JPEG.

    The picture is deliberately busy (overlapping waves, outlined shapes): PDQ needs detail to
    reach a high quality score and stable bits. Different seeds give unrelated pictures; the
    copy stays well inside the PDQ threshold of 31 (at most 16 bits away over 60 seeds tried).
    """
    import numpy as np  # noqa: PLC0415 - only the demo needs these
    from PIL import Image, ImageDraw, ImageFilter  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    width, height = 800, 600
    ys, xs = np.mgrid[0:height, 0:width] / width
    channels = []
    for _ in range(3):
        waves = sum(
            rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * (fx * xs + fy * ys) + rng.uniform(0, 2 * np.pi))
            for fx, fy in rng.uniform(-6, 6, size=(6, 2))
        )
        channels.append((waves - waves.min()) / (waves.max() - waves.min()) * 255)
    image = Image.fromarray(np.stack(channels, axis=-1).astype(np.uint8), mode="RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        box = (x0, y0, x0 + int(rng.integers(20, 200)), y0 + int(rng.integers(20, 200)))
        colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape(box, fill=colour, outline=(0, 0, 0), width=3)
    image = image.filter(ImageFilter.GaussianBlur(radius=1.2))
    folder.mkdir(parents=True, exist_ok=True)
    original, variant = folder / f"original-{seed}.png", folder / f"variant-{seed}.jpg"
    image.save(original)
    image.resize((width * 3 // 5, height * 3 // 5), Image.Resampling.LANCZOS).save(variant, quality=75)
    return original, variant


def run_demo(
    cli: AccordCli, nodes: dict[str, Node], *, folder: Path, timeout: float, seed: int, stop: StopSignal
) -> None:
    """Contribute at the NGO, see the platform match a variant, revoke, see the match go."""
    ngo, platform = nodes["ngo"], nodes["platform"]
    original, variant = make_demo_images(folder, seed=seed)
    hashes = cli.json(None, "hash", str(original))[0]
    signals = [hashes["md5"], hashes["sha256"], hashes["pdq"]]
    quality = hashes["pdq_quality"]
    say(f"demo: synthetic test image {original.name} (pdq quality {quality}), variant {variant.name}")

    say("demo: the NGO contributes it as category csam, TLP:GREEN")
    started = time.monotonic()
    published = cli.run(ngo.home, "contribute", str(original), "--category", "csam", "--tlp", "green")
    say(f"demo:   ngo: {published.stdout.strip()}")
    match = wait_for(
        lambda: pdq_match(cli, platform, variant),
        timeout=timeout,
        what="the platform to match the variant",
        stop=stop,
    )
    to_match = time.monotonic() - started
    say(
        f"demo: MATCH at the platform after {to_match:.1f} s: {variant.name} is within PDQ distance "
        f"{match['distance']} of {match['indicator_id']} (origin {match['origin_name']}, "
        f"category {match['category']}, tlp {match['tlp']}), relayed by the hub"
    )

    say("demo: the NGO revokes the image's md5, sha256 and pdq indicators")
    started = time.monotonic()
    revoked = cli.run(ngo.home, "revoke", *signals)
    say(f"demo:   ngo: {revoked.stdout.strip()}")
    wait_for(
        lambda: no_match(cli, platform, original, variant),
        timeout=timeout,
        what="the platform to stop matching after the revocation",
        stop=stop,
    )
    to_revoke = time.monotonic() - started
    say(f"demo: REVOKED: the platform no longer matches the image or its variant after {to_revoke:.1f} s")
    say(f"demo: timings: contribute → match {to_match:.1f} s; revoke → no match {to_revoke:.1f} s")


def pdq_match(cli: AccordCli, node: Node, path: Path) -> dict[str, Any] | None:
    """The first PDQ match ``node`` reports for the image at ``path``, if any."""
    results = cli.json(node.home, "match", str(path), ok=(0, ACCORD_EXIT_NO_MATCH))
    matches = [m for result in results for m in result["matches"] if m["signal_type"] == "pdq"]
    return matches[0] if matches else None


def no_match(cli: AccordCli, node: Node, *paths: Path) -> bool | None:
    """True once ``node`` matches none of ``paths`` (by any signal); None while it still does."""
    result = cli.run(node.home, "match", *map(str, paths), ok=(0, ACCORD_EXIT_NO_MATCH))
    return True if result.returncode == ACCORD_EXIT_NO_MATCH else None


def wait_for(probe: Callable[[], T | None], *, timeout: float, what: str, stop: StopSignal) -> T:
    """Poll ``probe`` until it returns something other than None."""
    deadline = time.monotonic() + timeout
    while True:
        stop.check()
        found = probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise FederationError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(POLL_SECONDS)
