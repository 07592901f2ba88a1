"""Repeated first syncs against one published origin, to compare code versions fairly.

    .venv/bin/python -m bench.sync_trials [--indicators 1000000] [--trials 3] [--data DIR]

``bench.sync`` publishes its origin every run (over a minute at 1M). This publishes it once per
code version and count (cached under ``--data``, default ``.bench-data/``, keyed by the code's
directory name) and then runs ``--trials`` first syncs, each from fresh copies of the origin
and an empty receiver, printing one line per trial: the sum (verified + stored + matchable),
the pull and list load, both ingest steps' thread time, when the deferred indexes were built,
the receiver's CPU and the origin's (its serving process). On this shared VM a run's figures
move by a third between minutes: to compare two versions, run each from its own checkout,
alternately, e.g. ``for i in 1 2 3; do (cd ../old && python -m bench.sync_trials --trials 1
--data D); python -m bench.sync_trials --trials 1 --data D; done``.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
from pathlib import Path

from bench import sync
from bench.cold_start import REPO
from node.feed import public_key_to_text
from node.feed.encryption import encryption_key_to_text
from node.model import Distribution, Tlp


def published(root: Path, count: int) -> Path:
    """An origin home holding ``count`` published PDQ indicators and an empty receiver home
    it shares with, made once under ``root``."""
    home = root / f"sync-trials-{REPO.name}-{count}"
    if (home / "complete").exists():
        return home
    shutil.rmtree(home, ignore_errors=True)
    origin = sync.open_node(home / "origin", "Origin NGO")
    receiver = sync.open_node(home / "receiver", "Receiving platform")
    try:
        origin.add_partner(
            "receiver",
            public_key=public_key_to_text(receiver.identity.public_key),
            endpoint=None,
            encryption_key=encryption_key_to_text(receiver.encryption.current.public),
        )
        sync.publish(origin, sync.pdq_signals(count), Distribution(Tlp.GREEN))
    finally:
        origin.close()
        receiver.close()
    (home / "complete").write_text("1\n")
    return home


def trial(home: Path, count: int) -> str:
    """One first sync from fresh copies of ``home``'s origin and receiver; its line."""
    with tempfile.TemporaryDirectory(prefix="accord-trial-") as tmp:
        shutil.copytree(home / "origin", Path(tmp) / "origin")
        shutil.copytree(home / "receiver", Path(tmp) / "receiver")
        origin = sync.open_existing(Path(tmp) / "origin")
        receiver = sync.open_existing(Path(tmp) / "receiver")
        try:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            with sync.serving(origin, same_process=False) as port:
                sync.pin_both_ways(origin, receiver, port)
                result = sync.first_sync(receiver)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            sync.check_matchable(receiver, sync.pdq_signals(count), count)
        finally:
            origin.close()
            receiver.close()
    steps = result.steps
    origin_cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return (
        f"sync {result.total.seconds:5.1f} s ({result.total.rate(count):,.0f}/s)"
        f"  pull {result.pull.seconds:5.1f}"
        f"  load {result.load.seconds:4.1f}  prepare {steps.prepare:5.1f}  commit {steps.commit:5.1f}"
        f"  indexes built {steps.indexes:4.1f} s after the pull  receiver CPU {result.cpu_seconds:5.1f}"
        f"  origin CPU {origin_cpu:4.1f}"
    )


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(prog="python -m bench.sync_trials", description=__doc__.split("\n")[0])
    parser.add_argument("--indicators", type=int, default=sync.FULL_COUNT)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--data", type=Path, default=REPO / ".bench-data")
    args = parser.parse_args()
    home = published(args.data, args.indicators)
    print(f"code {REPO} ({args.indicators:,} indicators, origin cached in {home})")
    for n in range(args.trials):
        print(f"trial {n + 1}: {trial(home, args.indicators)}", flush=True)


if __name__ == "__main__":
    main()
