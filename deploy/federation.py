"""Start a local three-node Accord federation on loopback, for demos and tests.

    ngo ──pulled by──▶ hub ──pulled by──▶ platform

The NGO contributes; the hub pulls the NGO's feed and relays its entries unchanged; the
platform pulls only the hub, yet accepts the NGO's entries because it pins the NGO's key and
verifies the origin's signature, never the relay's (DESIGN §4). Nodes are driven through the
``accord`` command only, so this exercises exactly what an operator runs. ``--demo`` adds a
scripted contribute → match → revoke round and exits; its test image needs Pillow and numpy,
which the node already depends on. Run it with the Python of the venv that holds ``accord``.

This file is the topology and the entry point; federation_nodes.py runs `accord` commands,
federation_processes.py supervises the three servers, federation_demo.py is the demo.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from federation_demo import run_demo
from federation_nodes import (
    ACCORD_EXIT_NOT_FOUND,
    HOST,
    AccordCli,
    FederationError,
    Node,
    NodeSpec,
    find_accord,
    node_environment,
    say,
)
from federation_processes import Interrupted, StopSignal, Supervisor, choose_ports

DEFAULT_BASE_PORT = 7800
DEFAULT_INTERVAL_SECONDS = 2.0  # two hops of this, plus jitter: a match arrives in ~5 s
POLL_SECONDS = 0.5
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
LOG_TAIL_LINES = 15

NODES = (
    NodeSpec("ngo", "Demo NGO", 0),
    NodeSpec("hub", "Demo hub", 10),
    NodeSpec("platform", "Demo platform", 20),
)

# Who pins whom. True: pin key and endpoint, i.e. pull that node's feed. False: pin the key
# only, so that node may call us, and entries it originated are accepted when a relay serves
# them. The platform pins the NGO's key without an endpoint: its entries arrive via the hub.
PINS: dict[str, tuple[tuple[str, bool], ...]] = {
    "ngo": (("hub", False), ("platform", False)),
    "hub": (("ngo", True), ("platform", False)),
    "platform": (("hub", True), ("ngo", False)),
}


# --- setting up homes and keys -------------------------------------------------------------


def prepare_homes(cli: AccordCli, nodes: Sequence[Node]) -> dict[str, dict[str, str]]:
    """Create each home that does not exist yet; return each node's identity card."""
    cards = {}
    for node in nodes:
        probe = cli.run(node.home, "identity", "--json", ok=(0, ACCORD_EXIT_NOT_FOUND))
        if probe.returncode == ACCORD_EXIT_NOT_FOUND:
            cli.run(node.home, "init", "--name", node.spec.title)
            say(f"created {node.name} in {node.home}")
            probe = cli.run(node.home, "identity", "--json")
        cards[node.name] = json.loads(probe.stdout)
    return cards


def pin_partners(cli: AccordCli, nodes: Sequence[Node], cards: dict[str, dict[str, str]]) -> None:
    """Make each node's pins match PINS; re-pin a partner whose key or endpoint changed."""
    by_name = {node.name: node for node in nodes}
    for node in nodes:
        pinned = {p["name"]: p for p in cli.json(node.home, "partner", "list")}
        for partner, pulls in PINS[node.name]:
            card = cards[partner]
            endpoint = by_name[partner].endpoint if pulls else None
            current = pinned.get(partner)
            if current is not None and (current["key_id"], current["endpoint"]) == (card["key_id"], endpoint):
                continue
            if current is not None:  # an earlier run used other ports (or a re-created home)
                cli.run(node.home, "partner", "remove", partner)
            extra = [] if endpoint is None else ["--endpoint", endpoint]
            keys = ["--key", card["public_key"], "--encryption-key", card["encryption_key"]]
            cli.run(node.home, "partner", "add", partner, *keys, *extra)


# --- output ------------------------------------------------------------------------------


def print_guide(cli: AccordCli, nodes: dict[str, Node], folder: Path) -> None:
    """What is running and what to try against it."""
    roles = {
        "ngo": "contributor; pins hub and platform by key",
        "hub": "pulls ngo, relays to platform",
        "platform": "pulls hub; pins ngo's key to verify relayed entries",
    }
    say(f"\nAccord federation on {HOST} (homes and logs in {folder}):")
    for node in nodes.values():
        say(f"  {node.name:<9} partner API :{node.port}  local API :{node.local_port}  ({roles[node.name]})")

    def cmd(node: str, *args: str) -> str:
        return shlex.join(cli.argv(nodes[node].home, *args))

    say("\nTry, in another terminal:")
    say(f"  {cmd('ngo', 'contribute', 'photo.jpg', '--category', 'csam', '--tlp', 'green')}")
    say(f"  {cmd('platform', 'match', 'photo.jpg')}    # matches within a few seconds")
    say(f"  {cmd('platform', 'status')}")
    say(f"  {shlex.join(cli.argv(None, 'hash', 'photo.jpg'))}    # the signals to revoke")
    say(f"  {cmd('ngo', 'revoke', 'pdq:<hex>')}")
    say(f"  {cmd('hub', 'sync')}    # pull now instead of waiting for the schedule")
    say("\nCtrl-C stops all three nodes.")


def print_log_tails(nodes: dict[str, Node]) -> None:
    """The last lines of each node's log, to stderr, after a failure."""
    for node in nodes.values():
        if node.log_path.exists():
            lines = node.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
            print(f"--- last lines of {node.log_path}", file=sys.stderr)
            for line in lines[-LOG_TAIL_LINES:]:
                print(f"    {line}", file=sys.stderr)


# --- main --------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=Path("federation-data"), help="homes and logs go here")
    parser.add_argument(
        "--base-port",
        type=int,
        default=DEFAULT_BASE_PORT,
        help="ngo uses BASE and BASE+1, hub BASE+10/11, platform BASE+20/21; 0 picks free ports",
    )
    parser.add_argument(
        "--interval", type=float, default=DEFAULT_INTERVAL_SECONDS, help="seconds between scheduled pulls"
    )
    parser.add_argument("--demo", action="store_true", help="contribute, match, revoke, then exit")
    parser.add_argument("--timeout", type=float, default=30.0, help="demo: seconds to wait for each step")
    parser.add_argument("--seed", type=int, default=None, help="demo: image seed (default: the clock)")
    args = parser.parse_args(argv)
    if args.interval <= 0 or args.timeout <= 0:
        parser.error("--interval and --timeout must be positive")
    if not 0 <= args.base_port <= 65535 - 21:
        parser.error("--base-port must be between 0 and 65514")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Set up, start, demo or wait, and always stop the nodes. Returns the exit code."""
    args = parse_args(argv)
    folder: Path = args.dir.resolve()
    nodes: dict[str, Node] = {}
    with StopSignal().installed() as stop:
        try:
            cli = AccordCli(find_accord(), node_environment(args.interval))
            ports = choose_ports(args.base_port, NODES)
            _make_folder(folder)
            nodes = {s.name: Node(s, folder / s.name, *ports[s.name]) for s in NODES}
            pin_partners(cli, list(nodes.values()), prepare_homes(cli, list(nodes.values())))
            with Supervisor(cli, stop) as supervisor:
                for node in nodes.values():  # upstream first, so no first pull meets a closed port
                    supervisor.start(node)
                    say(f"{node.name} is serving on {node.endpoint} (log: {node.log_path})")
                if args.demo:
                    seed = args.seed if args.seed is not None else time.time_ns() % 2**32
                    run_demo(cli, nodes, folder=folder / "demo", timeout=args.timeout, seed=seed, stop=stop)
                    say("demo: OK; stopping the nodes")
                    return 0
                print_guide(cli, nodes, folder)
                while True:
                    supervisor.check_alive()
                    time.sleep(POLL_SECONDS)
        except Interrupted as interrupted:
            say(f"{interrupted}: stopped the nodes")
            return EXIT_INTERRUPTED if args.demo else 0
        except (FederationError, subprocess.TimeoutExpired, OSError) as exc:
            print(f"federation: error: {exc}", file=sys.stderr)
            print_log_tails(nodes)
            return EXIT_FAILED


def _make_folder(folder: Path) -> None:
    """Create the data folder; keep it out of version control when it lands inside a checkout."""
    folder.mkdir(parents=True, exist_ok=True)
    ignore = folder / ".gitignore"
    if not ignore.exists():
        ignore.write_text(
            "# created by deploy/federation.py: node homes, keys and logs\n*\n", encoding="utf-8"
        )


if __name__ == "__main__":
    sys.exit(main())
