"""POST /v1/match with media bytes (multipart/form-data) and the min_trust / list_kinds filters,
over a real node and real generated images; hostile uploads first-class."""

from __future__ import annotations

import io
import json
import socket
from typing import Any

import httpx
import pytest

from node.app import AccordNode
from node.app.http_api import media_signals
from node.hashing.gate import MediaGate
from node.hashing.media import hash_bytes
from node.model import ContentType, KeyId, Match, MatchResult, SignalType, Tlp, Trust
from node.model.match_filters import ListKind, MatchFilter
from tests.http.conftest import GREEN_SEED, Served, signal_of, start_server
from tests.http.test_api import assert_problem
from tests.support.feeds import pdq_signal
from tests.support.media import make_image, png_bomb, render_image

GREEN_IMAGE_SEED, RED_IMAGE_SEED, UNKNOWN_IMAGE_SEED = 41, 42, 43


def jpeg(seed: int, size: tuple[int, int] = (640, 480)) -> bytes:
    out = io.BytesIO()
    render_image(seed=seed, size=size).save(out, "JPEG", quality=92)
    return out.getvalue()


@pytest.fixture(scope="module")
def images(published: AccordNode, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """A GREEN and a RED (to the partner) indicator contributed from real image files."""
    root = tmp_path_factory.mktemp("images")
    made = {}
    for name, seed, tlp, to in (
        ("green", GREEN_IMAGE_SEED, Tlp.GREEN, ()),
        ("red", RED_IMAGE_SEED, Tlp.RED, ("partner",)),
    ):
        path = make_image(root / f"{name}.jpg", seed=seed, fmt="JPEG")
        report = published.contribute(files=[path], category="csam", tlp=tlp, recipients=to)
        assert report.publish is not None and not report.refused
        made[name] = path.read_bytes()
    published.load_lists()
    made["unknown"] = jpeg(UNKNOWN_IMAGE_SEED)
    return made


def upload(client: httpx.Client, *files: tuple[str, bytes], options: object = None) -> httpx.Response:
    data = {} if options is None else {"options": json.dumps(options)}
    parts = [("file", (name, content, "application/octet-stream")) for name, content in files]
    return client.post("/v1/match", files=parts, data=data)


def by_type(item: dict[str, Any]) -> dict[str, Any]:
    """A file's results by signal type."""
    return {r["query"]: r for r in item["results"]}


# --- happy paths ------------------------------------------------------------------------------


def test_a_matcher_uploads_images_and_gets_one_result_per_file(
    served: Served, images: dict[str, bytes]
) -> None:
    with served.client("matcher") as client:
        response = upload(client, ("green.jpg", images["green"]), ("other.jpg", images["unknown"]))
    assert response.status_code == 200, response.text
    first, second = response.json()["results"]
    assert first["query"] == "files[0]" and first["filename"] == "green.jpg" and first["notes"] == []
    found = by_type(first)
    assert set(found) == {"md5", "sha256", "pdq"}  # the same signals as the gRPC media path
    expected = hash_bytes(images["green"])
    assert found["pdq"]["signal"] == str(expected.pdq) and found["md5"]["signal"] == str(expected.md5)
    assert [m["tlp"] for m in found["pdq"]["matches"]] == ["green"]
    assert found["pdq"]["matches"][0]["distance"] == 0 and found["pdq"]["matches"][0]["category"] == "csam"
    assert second["filename"] == "other.jpg"
    assert all(r["matches"] == [] for r in second["results"])


def test_a_red_image_is_invisible_below_a_red_ceiling(served: Served, images: dict[str, bytes]) -> None:
    with served.client("matcher") as client:
        capped = upload(client, ("x.jpg", images["red"])).json()["results"][0]
        unknown = upload(client, ("x.jpg", images["unknown"])).json()["results"][0]
    with served.client("red-matcher") as client:
        allowed = upload(client, ("x.jpg", images["red"])).json()["results"][0]
    assert [m["tlp"] for m in by_type(allowed)["pdq"]["matches"]] == ["red"]
    red_id = by_type(allowed)["pdq"]["matches"][0]["indicator_id"]
    assert red_id not in json.dumps(capped)
    # the same answer as for an image the node never saw, apart from the image's own hashes
    assert [(r["query"], r["matches"], r["corroboration"], r["suppressed"]) for r in capped["results"]] == [
        (r["query"], r["matches"], r["corroboration"], r["suppressed"]) for r in unknown["results"]
    ]


def test_media_options_filter_like_a_json_match(served: Served, images: dict[str, bytes]) -> None:
    with served.client("matcher") as client:
        ncii = upload(client, ("g.jpg", images["green"]), options={"categories": ["ncii"]})
        auto = upload(client, ("g.jpg", images["green"]), options={"min_trust": "auto"})
        safelist_only = upload(client, ("g.jpg", images["green"]), options={"list_kinds": ["safelist"]})
        block = upload(client, ("g.jpg", images["green"]), options={"list_kinds": ["block"]})
    assert by_type(ncii.json()["results"][0])["pdq"]["matches"] == []
    assert len(by_type(auto.json()["results"][0])["pdq"]["matches"]) == 1  # our own: trust "own" > auto
    assert by_type(safelist_only.json()["results"][0])["pdq"]["matches"] == []
    assert len(by_type(block.json()["results"][0])["pdq"]["matches"]) == 1


def test_json_match_takes_min_trust_and_list_kinds(served: Served) -> None:
    green = str(signal_of(GREEN_SEED))
    with served.client("matcher") as client:
        review = client.post("/v1/match", json={"signals": [green], "min_trust": "review"})
        no_block = client.post("/v1/match", json={"signals": [green], "list_kinds": ["safelist"]})
        own = client.post("/v1/match", json={"signals": [green], "min_trust": "own"})
        bad_kind = client.post("/v1/match", json={"signals": [green], "list_kinds": ["imported"]})
        bad_type = client.post("/v1/match", json={"signals": [green], "min_trust": 3})
    assert len(review.json()["results"][0]["matches"]) == 1
    assert no_block.json()["results"][0]["matches"] == []
    assert_problem(own, 400, "invalid_input")  # own is not a level a caller asks for
    assert_problem(bad_kind, 400, "invalid_input")
    assert_problem(bad_type, 400, "invalid_input")


def _match(origin: str, trust: Trust) -> Match:
    return Match(
        indicator_id=f"indicator--{origin}",
        origin=KeyId(origin * 64),
        origin_name=origin,
        category="csam",
        signal_type=SignalType.PDQ,
        content_type=ContentType.IMAGE,
        distance=0,
        tlp=Tlp.GREEN,
        trust=trust,
    )


def test_min_trust_orders_own_auto_review() -> None:
    result = MatchResult(
        query=pdq_signal(1),
        matches=(_match("a", Trust.OWN), _match("b", Trust.AUTO), _match("c", Trust.REVIEW)),
    )
    names = {
        trust: [m.origin_name for m in MatchFilter(min_trust=trust).apply(result).matches]
        for trust in (Trust.AUTO, Trust.REVIEW, Trust.OBSERVE)
    }
    assert names == {Trust.AUTO: ["a", "b"], Trust.REVIEW: ["a", "b", "c"], Trust.OBSERVE: ["a", "b", "c"]}
    assert {m.corroboration for m in MatchFilter(min_trust=Trust.AUTO).apply(result).matches} == {3}


def test_list_kinds_choose_block_matches_or_what_the_safelist_suppressed() -> None:
    safe = MatchResult(
        query=pdq_signal(1), matches=(), suppressed=(_match("a", Trust.AUTO),), safelisted=True
    )
    hit = MatchResult(query=pdq_signal(2), matches=(_match("b", Trust.AUTO),))
    block = MatchFilter(list_kinds=frozenset({ListKind.BLOCK}))
    safelist = MatchFilter(list_kinds=frozenset({ListKind.SAFELIST}))
    assert block.apply(safe).suppressed == () and block.apply(safe).safelisted
    assert len(block.apply(hit).matches) == 1
    assert len(safelist.apply(safe).suppressed) == 1 and safelist.apply(hit).matches == ()
    assert len(MatchFilter().apply(safe).suppressed) == 1  # default: both
    assert ListKind.parse(" Block ") is ListKind.BLOCK


# --- hostile uploads --------------------------------------------------------------------------


def test_a_media_bomb_gets_no_pdq_and_says_why_while_the_rest_is_answered(
    served: Served, images: dict[str, bytes]
) -> None:
    bomb = png_bomb(width=10_000, height=10_000)  # ~100 KB that would decode to 100 megapixels
    with served.client("matcher") as client:
        response = upload(client, ("bomb.png", bomb), ("green.jpg", images["green"]))
    assert response.status_code == 200
    refused, fine = response.json()["results"]
    assert set(by_type(refused)) == {"md5", "sha256"}  # never decoded: no pdq
    assert refused["notes"] and "no pdq" in refused["notes"][0]
    assert "pixel" in refused["notes"][0] or "too large" in refused["notes"][0]
    assert len(by_type(fine)["pdq"]["matches"]) == 1


def test_an_empty_file_is_that_item_s_error(served: Served, images: dict[str, bytes]) -> None:
    with served.client("matcher") as client:
        response = upload(client, ("empty.jpg", b""), ("green.jpg", images["green"]))
    empty, fine = response.json()["results"]
    assert empty["error"] == "the file part is empty" and empty["results"] == []
    assert len(by_type(fine)["pdq"]["matches"]) == 1


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", b'--x\r\nContent-Disposition: form-data; name="f"\r\n\r\nabc\r\n--x--\r\n'),
        ("multipart/form-data; boundary=x", b"this is not multipart at all"),
        ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data\r\n\r\nabc\r\n--x--\r\n"),
        ("multipart/form-data; boundary=x", b""),
    ],
    ids=["no-boundary", "garbage", "part-without-name", "empty"],
)
def test_malformed_multipart_is_400(served: Served, content_type: str, body: bytes) -> None:
    with served.client("matcher") as client:
        response = client.post("/v1/match", content=body, headers={"Content-Type": content_type})
    assert_problem(response, 400, "invalid_input")


def test_bad_options_and_extra_fields_are_400(served: Served, images: dict[str, bytes]) -> None:
    parts = [("file", ("g.jpg", images["green"], "image/jpeg"))]
    with served.client("matcher") as client:
        not_json = client.post("/v1/match", files=parts, data={"options": "{nope"})
        unknown = client.post("/v1/match", files=parts, data={"options": json.dumps({"signals": ["x"]})})
        extra = client.post("/v1/match", files=parts, data={"comment": "hi"})
        no_file = client.post("/v1/match", files=[("options", (None, "{}"))])
        twice = client.post("/v1/match", files=[*parts, ("options", (None, "{}")), ("options", (None, "{}"))])
    for response in (not_json, unknown, extra, no_file, twice):
        assert_problem(response, 400, "invalid_input")


def test_an_oversized_upload_is_413_before_it_is_parsed(published: AccordNode, served: Served) -> None:
    server = start_server(
        published, max_media_bytes=50_000, max_media_files=2, rate_burst=10_000, rate_per_second=10_000.0
    )
    try:
        headers = {"Authorization": f"Bearer {served.tokens['matcher']}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", headers=headers, timeout=30) as client:
            big = upload(client, ("big.bin", b"\xff" * 60_000))
            three = upload(client, ("a", b"1"), ("b", b"2"), ("c", b"3"))
            chunked = client.post(
                "/v1/match",
                content=iter([b"--x\r\n"] + [b"\0" * 10_000] * 10),
                headers={"Content-Type": "multipart/form-data; boundary=x"},
            )
    finally:
        server.stop()
    body = assert_problem(big, 413, "too_large")
    assert "http.max_media_bytes" in str(body["detail"])
    assert_problem(chunked, 413, "too_large")  # no Content-Length: counted while read
    assert_problem(three, 400, "invalid_input")  # over max_media_files


def test_no_token_is_401_and_every_role_may_match_media(served: Served, images: dict[str, bytes]) -> None:
    with httpx.Client(base_url=served.url) as client:
        assert_problem(upload(client, ("g.jpg", images["green"])), 401, "unauthenticated")
    for account in ("matcher", "analyst", "reviewer", "admin"):
        with served.client(account) as client:
            assert upload(client, ("g.jpg", images["green"])).status_code == 200


def test_header_injection_in_a_file_name_stays_data(served: Served, images: dict[str, bytes]) -> None:
    boundary = "b0undary"
    name = 'evil.jpg"\r\nX-Injected: yes\r\nContent-Type: text/html'
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n\r\n'.encode()
        + images["green"]
        + f"\r\n--{boundary}--\r\n".encode()
    )
    token = served.tokens["matcher"]
    raw = _raw_post(served, "/v1/match", body, f"multipart/form-data; boundary={boundary}", token)
    head, _, _ = raw.partition(b"\r\n\r\n")
    assert b"x-injected" not in head.lower()
    assert head.startswith(b"HTTP/1.1 400") or head.startswith(b"HTTP/1.1 200")


def _raw_post(served: Served, path: str, body: bytes, content_type: str, token: str) -> bytes:
    request = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    with socket.create_connection(("127.0.0.1", served.server.port), timeout=30) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_http_media_hashes_share_the_node_s_pixel_budget(published: AccordNode, served: Served) -> None:
    """The HTTP API hashes through the node's one MediaGate (the gRPC Local API's too, via the
    same ``media_signals``): with the budget held elsewhere, an upload is refused with 503."""
    gate = MediaGate(budget_pixels=1_000_000, wait_seconds=0.2)
    published.__dict__["media_gate"] = gate  # the node's cached gate, with a short wait
    server = start_server(published, rate_burst=10_000, rate_per_second=10_000.0)
    try:
        headers = {"Authorization": f"Bearer {served.tokens['matcher']}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", headers=headers, timeout=30) as client:
            with gate.hold(1_000_000):  # another hash (HTTP or gRPC) holds every pixel
                busy = upload(client, ("g.jpg", jpeg(GREEN_IMAGE_SEED)))
            after = upload(client, ("g.jpg", jpeg(GREEN_IMAGE_SEED)))
    finally:
        server.stop()
        del published.__dict__["media_gate"]
    assert_problem(busy, 503, "overloaded")
    assert after.status_code == 200
    assert media_signals(published).keywords["gate"] is published.media_gate
