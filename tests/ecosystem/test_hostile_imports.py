"""Hostile import servers (issue 13): real loopback HTTP servers that redirect credentials
elsewhere, redirect to ftp://, trickle bytes, or answer JSON nested a hundred thousand deep.
Each is refused by name; the credentials never leave their origin; other sources still sync."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from node.app import AccordNode, init_home
from node.errors import PeerError
from node.model.sources import Trust
from node.taxii.http import _next_url
from tests.support.feeds import md5_signal
from tests.support.hostile_http import http_server, redirect, send_json, trickle
from tests.support.processes import accord

COLLECTION = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"
TOKEN = "s3cret-token"
DEEP = b"[" * 100_000 + b"]" * 100_000


def envelope(*hashes: str) -> dict[str, object]:
    created = "2026-03-01T10:00:00.000Z"
    objects = [
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": f"indicator--{uuid.uuid5(uuid.NAMESPACE_URL, value)}",
            "created": created,
            "modified": created,
            "pattern": f"[file:hashes.MD5 = '{value}']",
            "pattern_type": "stix",
            "valid_from": created,
            "labels": ["csam"],
        }
        for value in hashes
    ]
    return {"more": False, "objects": objects}


@pytest.fixture
def node(tmp_path: Path) -> Iterator[AccordNode]:
    init_home(tmp_path / "home", name="Example Platform")
    (tmp_path / "home" / "accord.toml").write_text(
        "[imports]\ndeadline_seconds = 2.0\ntimeout_seconds = 30.0\n"
    )
    opened = AccordNode.open(tmp_path / "home")
    yield opened
    opened.close()


def add_source(node: AccordNode, name: str, url: str, *, username: str | None = None) -> None:
    node.bridges.add_taxii_source(
        name, url=url, collection=COLLECTION, username=username, secret=TOKEN, trust=Trust.AUTO, category=None
    )


def good_taxii(handler: BaseHTTPRequestHandler) -> None:
    send_json(handler, envelope(md5_signal(1).value))


@pytest.mark.parametrize("username", [None, "reader"])
def test_a_redirect_to_another_port_does_not_carry_the_credentials(
    node: AccordNode, username: str | None
) -> None:
    with http_server(good_taxii) as elsewhere, http_server(redirect_to_same_path(elsewhere.url)) as source:
        add_source(node, "feed", source.url, username=username)
        report = node.bridges.pull_source("feed")
    assert report.error is None and report.added == 1
    expected = (
        f"Basic {base64.b64encode(f'reader:{TOKEN}'.encode()).decode()}" if username else f"Bearer {TOKEN}"
    )
    assert source.seen[0]["authorization"] == expected  # the source's own origin gets them
    assert elsewhere.seen and all("authorization" not in seen for seen in elsewhere.seen)


def test_a_redirect_within_the_origin_keeps_the_credentials(node: AccordNode) -> None:
    def answer(handler: BaseHTTPRequestHandler) -> None:
        if handler.path.startswith("/moved/"):
            good_taxii(handler)
        else:
            redirect("/moved" + handler.path, status=307)(handler)

    with http_server(answer) as source:
        add_source(node, "feed", source.url)
        report = node.bridges.pull_source("feed")
    assert report.error is None and report.added == 1
    assert [seen.get("authorization") for seen in source.seen] == [f"Bearer {TOKEN}"] * 2


@pytest.mark.parametrize("target", ["ftp://127.0.0.1:2121/objects.json", "file:///etc/passwd"])
def test_a_redirect_that_changes_the_scheme_is_refused(node: AccordNode, target: str) -> None:
    with http_server(redirect(target)) as source:
        add_source(node, "feed", source.url)
        report = node.bridges.pull_source("feed")
    scheme = target.split(":", maxsplit=1)[0]
    assert (
        report.error is not None and f"may not change the scheme (http → {scheme}); refused" in report.error
    )
    assert TOKEN not in report.error


def test_a_trickling_server_is_cut_at_the_total_deadline(node: AccordNode) -> None:
    # One byte every 0.4 s never trips a per-read timeout (30 s here); 100 bytes would take 40 s.
    with http_server(trickle(every=0.4, total_bytes=100)) as source:
        add_source(node, "slow", source.url)
        started = time.monotonic()
        report = node.bridges.pull_source("slow")
        elapsed = time.monotonic() - started
    assert report.error == "the import's deadline of 2 s passed before the server finished"
    assert elapsed < 3.5


def test_nested_json_from_one_source_is_a_named_refusal_and_the_others_still_sync(node: AccordNode) -> None:
    with http_server(lambda h: send_json(h, DEEP)) as deep, http_server(good_taxii) as good:
        add_source(node, "a-deep", deep.url)
        add_source(node, "b-good", good.url)
        reports = {report.partner: report for report in node.sync()}
    assert reports["a-deep"].error is not None and "nests deeper than 64 levels" in reports["a-deep"].error
    assert reports["b-good"].error is None and reports["b-good"].indicators == 1


def test_accord_sync_names_the_nested_source_exits_4_and_syncs_the_others(node: AccordNode) -> None:
    with http_server(lambda h: send_json(h, DEEP)) as deep, http_server(good_taxii) as good:
        add_source(node, "a-deep", deep.url)
        add_source(node, "b-good", good.url)
        result = accord("sync", "--home", node.home.root, "--json")
    assert result.returncode == 4, result.stderr  # `accord sync`'s "a peer failed"
    reports = {r["partner"]: r for r in json.loads(result.stdout)}
    assert "the TAXII response nests deeper than 64 levels" in reports["a-deep"]["error"]
    assert reports["b-good"]["ok"] and reports["b-good"]["indicators"] == 1


def test_a_redirect_from_https_to_http_is_refused() -> None:
    with pytest.raises(PeerError, match=r"may not change the scheme \(https → http\); refused"):
        _next_url("https://taxii.example/api/", "http://taxii.example/api/")


def test_nested_json_in_a_misp_event_over_http_refuses_that_event(node: AccordNode) -> None:
    deep_id, good_id = str(uuid.uuid4()), str(uuid.uuid4())
    good_event = {
        "Event": {
            "uuid": good_id,
            "Tag": [{"name": "csam"}],
            "Attribute": [
                {
                    "uuid": str(uuid.uuid4()),
                    "type": "md5",
                    "value": md5_signal(2).value,
                    "timestamp": "1767225600",
                }
            ],
        }
    }

    def answer(handler: BaseHTTPRequestHandler) -> None:
        files = {
            "/manifest.json": {deep_id: {}, good_id: {}},
            f"/{deep_id}.json": DEEP,
            f"/{good_id}.json": good_event,
        }
        send_json(handler, files[handler.path])

    with http_server(answer) as feed:
        report = node.bridges.import_misp(feed.url, name="misp", trust=Trust.AUTO, category=None)
    assert report.added == 1
    assert [(r.item, r.reason) for r in report.refused] == [
        (f"event {deep_id}", f"event {deep_id} nests deeper than 64 levels")
    ]


def redirect_to_same_path(base: str) -> object:
    def answer(handler: BaseHTTPRequestHandler) -> None:
        redirect(base.rstrip("/") + handler.path)(handler)

    return answer
