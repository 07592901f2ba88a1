"""From match to decision to action, end to end (issue 14's "done when").

Three real nodes on loopback: an NGO the platform trusts to act automatically, a watchdog whose
indicators a person must confirm (trust ``review``), and the platform, which serves its HTTP API
on loopback with a real webhook receiver behind one rule. A simulated upload pipeline posts real
generated images to ``POST /v1/match`` naming its content:

- an upload matching the NGO's GREEN indicator fires the rule: a signed delivery arrives;
- an upload matching the watchdog's indicator enters the review queue, and no webhook fires for
  it even though the rule selects every match;
- a reviewer's false-positive decision over HTTP publishes a dispute the watchdog reads with
  ``accord feedback`` after its next sync;
- the NGO's indicator, matched in a flood, is held: its next uploads go to review, not to the
  webhook, until a reviewer decides.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest

from node.app.delivering import Deliverer, start_deliverer
from node.app.http_api import http_server
from node.hashing import hash_file
from node.http.server import HttpServer
from node.model import Tlp
from node.model.accounts import Role
from node.model.actions import Rule, RuleCondition
from tests.actions.receiver import Receiver, receiver
from tests.support.media import make_image
from tests.support.nodes import LiveNode
from tests.support.processes import accord, wait_for

FLOOD_AT = 6  # matches of one indicator in the window that hold it (no baseline yet)


@dataclass
class World:
    ngo: LiveNode
    watchdog: LiveNode
    platform: LiveNode
    api: HttpServer
    hook: Receiver
    secret: bytes
    tokens: dict[str, str]
    images: dict[str, bytes]

    def upload(self, content_id: str, image: str) -> dict[str, object]:
        """The upload pipeline: one image of one piece of content, acted on."""
        options = json.dumps({"content": {"id": content_id, "url": f"https://cdn.example/{content_id}"}})
        with self.client("pipeline") as client:
            answer = client.post(
                "/v1/match",
                files={"upload": (f"{content_id}.png", self.images[image], "image/png")},
                data={"options": options},
            )
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def client(self, account: str) -> httpx.Client:
        url = f"http://127.0.0.1:{self.api.port}"
        return httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {self.tokens[account]}"}, timeout=60
        )


def _contribute(node: LiveNode, image: Path) -> None:
    hashes = hash_file(image)
    assert hashes.pdq is not None
    signals = [str(hashes.md5), str(hashes.pdq)]
    node.node.contribute(signals=signals, category="csam", tlp=Tlp.GREEN)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    ngo = LiveNode.start(tmp_path / "ngo", "ngo")
    watchdog = LiveNode.start(tmp_path / "watchdog", "watchdog")
    platform = LiveNode.start(tmp_path / "platform", "platform")
    for origin in (ngo, watchdog):
        name = origin.node.config.node.name
        platform.pin(origin, name, endpoint=origin.address)
        origin.pin(platform, "platform", endpoint=platform.address)
    platform.node.set_partner_policy(
        "watchdog", categories=None, signal_types=None, trust_level="review", share_sightings=None
    )
    images = {
        name: make_image(tmp_path / f"{name}.png", seed=seed)
        for name, seed in (("ngo", 11), ("watchdog", 12))
    }
    _contribute(ngo, images["ngo"])
    _contribute(watchdog, images["watchdog"])
    platform.node.load_lists()
    platform.node.sync("ngo")
    platform.node.sync("watchdog")
    platform.node.refresher.refresh()
    node = platform.node
    node.config = replace(
        node.config,
        flood=replace(node.config.flood, min_matches=FLOOD_AT),
        actions=replace(node.config.actions, poll_seconds=0.05, retry_base_seconds=0.05),
    )
    tokens = {
        "pipeline": node.add_api_account("pipeline", role=Role.MATCHER, max_tlp=Tlp.RED).token or "",
        "alice": node.add_api_account("alice", role=Role.REVIEWER, max_tlp=Tlp.RED).token or "",
    }
    stop, wake = threading.Event(), node.outbox_wake
    with receiver() as hook:
        added = node.add_webhook("takedown", hook.url)
        node.add_rule(Rule(name="everything", when=RuleCondition(), webhooks=("takedown",)))
        deliverer = Deliverer(store=node.store, home=node.home.root, settings=lambda: node.config.actions)
        thread = start_deliverer(deliverer, stop, wake)
        api = http_server(node, "127.0.0.1:0")
        api.start()
        try:
            yield World(
                ngo=ngo,
                watchdog=watchdog,
                platform=platform,
                api=api,
                hook=hook,
                secret=Path(added.secret_path).read_bytes().strip(),
                tokens=tokens,
                images={name: path.read_bytes() for name, path in images.items()},
            )
        finally:
            api.stop()
            stop.set()
            wake.set()
            thread.join(10)
            for live in (platform, watchdog, ngo):
                live.stop()


def _signed(secret: bytes, header: str, body: bytes) -> bool:
    fields = dict(part.split("=", 1) for part in header.split(","))
    mac = hmac.new(secret, fields["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(mac, fields["v1"])


def _deliveries_for(hook: Receiver, content_id: str) -> list[dict[str, object]]:
    return [r.record() for r in hook.received if r.record()["content"]["id"] == content_id]  # type: ignore[index]


def test_an_upload_pipeline_gets_webhooks_for_auto_matches_and_a_queue_for_the_rest(world: World) -> None:
    # 1. the NGO's GREEN indicator, trusted to act: the rule fires and a signed delivery arrives
    first = world.upload("upload-1", "ngo")
    action = first["action"]
    assert isinstance(action, dict)
    assert action["fired"] == ["everything"] and action["for_review"] == [] and action["review_item"] is None
    wait_for(lambda: bool(_deliveries_for(world.hook, "upload-1")), timeout=30)
    [got] = [r for r in world.hook.received if r.record()["content"]["id"] == "upload-1"]  # type: ignore[index]
    assert _signed(world.secret, got.headers["accord-signature"], got.body)
    assert not _signed(b"another secret", got.headers["accord-signature"], got.body)
    results = got.record()["results"]
    assert isinstance(results, list) and results  # one per signal of the image (md5, sha256, pdq)
    assert {m["origin_name"] for r in results for m in r["matches"]} == {"ngo"}

    # 2. the watchdog's indicator needs a person: queued, and the catch-all rule does not fire
    second = world.upload("upload-2", "watchdog")
    action = second["action"]
    assert isinstance(action, dict)
    assert action["fired"] == [] and action["deliveries"] == []
    assert len(action["for_review"]) == 2  # type: ignore[arg-type]  # its md5 and pdq indicators
    item_id = action["review_item"]
    assert isinstance(item_id, int)
    with world.client("alice") as alice:
        queue = alice.get("/v1/review").json()
        assert [i["content_id"] for i in queue["items"]] == ["upload-2"]
        # 3. a false positive: a dispute, which the watchdog reads with `accord feedback`
        decided = alice.post(
            f"/v1/review/{item_id}/decision", json={"decision": "false-positive", "reason": "a holiday photo"}
        )
        assert decided.status_code == 200, decided.text
    world.watchdog.node.sync("platform")
    feedback = accord("feedback", "--home", world.watchdog.node.home.root, "--json")
    assert feedback.returncode == 0, feedback.stderr
    opinions = json.loads(feedback.stdout)["opinions"]
    assert {(o["author_name"], o["opinion"], o["explanation"]) for o in opinions} == {
        ("platform", "disagree", "a holiday photo")
    }
    assert len(opinions) == 2  # both of its indicators the content matched
    assert _deliveries_for(world.hook, "upload-2") == []  # nothing was put in the outbox for it


def test_a_flooded_indicator_is_held_for_review_instead_of_acted_on(world: World) -> None:
    acted = [world.upload(f"burst-{n}", "ngo")["action"] for n in range(FLOOD_AT + 2)]
    held_from = next(n for n, a in enumerate(acted) if a["for_review"])  # type: ignore[index]
    assert held_from <= FLOOD_AT  # held once FLOOD_AT matches were counted, not later
    for a in acted[held_from:]:
        assert a["fired"] == [] and a["review_item"] is not None  # type: ignore[index]
    assert [h.indicator_id for h in world.platform.node.flood.held()] != []
    with world.client("alice") as alice:
        metrics = alice.get("/v1/review/metrics").json()
    assert metrics["flood_held"] >= 1
    wait_for(lambda: len({r.key for r in world.hook.received}) >= held_from, timeout=30)
    sent = {r.record()["content"]["id"] for r in world.hook.received}  # type: ignore[index]
    assert sent == {f"burst-{n}" for n in range(held_from)}  # nothing auto-actioned after the hold
