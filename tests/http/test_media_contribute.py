"""POST /v1/indicators with media files (multipart/form-data): a case-management system's
evidence hashed on the node exactly as ``accord contribute FILE`` hashes it, published once,
refusals naming the part, and nothing of an upload left on disk; hostile uploads first-class."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pytest

from node.app.uploads import upload_label
from node.hashing.media import hash_bytes
from node.model import Tlp
from node.model.accounts import Role
from tests.http.conftest import Served, start_server
from tests.http.test_api import assert_problem
from tests.support.media import png_bomb, render_image


def jpeg(seed: int, size: tuple[int, int] = (480, 360)) -> bytes:
    out = io.BytesIO()
    render_image(seed=seed, size=size).save(out, "JPEG", quality=92)
    return out.getvalue()


def contribute(
    client: httpx.Client,
    *files: tuple[str, bytes],
    options: object = None,
    texts: dict[str, str] | None = None,
) -> httpx.Response:
    data = dict(texts or {})
    if options is not None:
        data["options"] = json.dumps(options)
    parts = [("file", (name, content, "application/octet-stream")) for name, content in files]
    return client.post("/v1/indicators", files=parts, data=data)


def rows_for(client: httpx.Client, signal: object) -> list[dict[str, object]]:
    return list(client.get("/v1/indicators", params={"signal": str(signal), "limit": "100"}).json()["rows"])


def leftovers(home: Path) -> list[Path]:
    return [p for p in home.iterdir() if p.name.startswith(".uploads-")]


def test_uploaded_images_are_hashed_like_the_cli_and_published_once(served: Served) -> None:
    first, second = jpeg(8101), jpeg(8102)
    options = {"category": "csam", "tlp": "green"}
    with served.client("admin") as client:
        response = contribute(client, ("a.jpg", first), ("b.jpg", second), options=options)
        again = contribute(client, ("a.jpg", first), options=options)
        expected = hash_bytes(first)
        pdq_rows = rows_for(client, expected.pdq)
        md5_rows = rows_for(client, expected.md5)
        other = rows_for(client, hash_bytes(second).sha256)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["published"] is True and answer["added"] == 6  # md5, sha256, pdq of each file
    assert answer["refused"] == []
    assert [r["content_type"] for r in pdq_rows] == ["image"] and pdq_rows[0]["category"] == "csam"
    assert len(md5_rows) == 1 and len(other) == 1
    assert again.status_code == 200 and again.json()["added"] == 0 and again.json()["duplicates"] == 3
    assert leftovers(served.node.home.root) == []  # the upload is not kept
    records = [r for r in served.node.audit.records() if r.action == "contribute"]
    assert records[-1].actor == "api:admin"
    assert expected.pdq is not None and expected.pdq.value not in json.dumps(records[-1].details)


def test_matching_the_uploaded_image_finds_what_was_contributed(served: Served) -> None:
    photo = jpeg(8103)
    with served.client("admin") as client:
        published = contribute(client, ("case-17.jpg", photo), options={"category": "ncii"})
    served.node.load_lists()
    with served.client("matcher") as client:
        found = client.post("/v1/match", json={"signals": [str(hash_bytes(photo).pdq)]})
    assert published.status_code == 200, published.text
    (result,) = found.json()["results"]
    assert [m["category"] for m in result["matches"]] == ["ncii"]


def test_refusals_name_the_part_and_its_file_name_never_the_path_held(served: Served) -> None:
    notes = b"meeting notes, not an image\n" * 20
    with served.client("admin") as client:
        response = contribute(
            client, ("ok.jpg", jpeg(8104)), ("notes.txt", notes), options={"category": "csam"}
        )
        forced = contribute(client, ("notes.txt", notes), options={"category": "csam", "any_file": True})
    assert response.status_code == 200, response.text
    (refused,) = response.json()["refused"]
    assert refused["source"] == "files[1] (notes.txt)"
    assert '"any_file": true' in refused["reason"] and "--any-file" not in refused["reason"]
    assert ".uploads-" not in response.text and str(served.node.home.root) not in response.text
    assert response.json()["added"] == 3  # the image's three signals still published
    assert forced.status_code == 200 and forced.json()["added"] == 2  # md5 and sha256 of the file


def test_signals_and_files_go_together(served: Served) -> None:
    extra = "md5:" + "ab" * 16
    with served.client("admin") as client:
        response = contribute(client, ("c.jpg", jpeg(8105)), options={"category": "csam", "signals": [extra]})
        rows = rows_for(client, extra)
    assert response.status_code == 200 and response.json()["added"] == 4
    assert len(rows) == 1


@pytest.mark.parametrize(
    ("options", "texts", "files"),
    [
        (None, None, [("a.jpg", b"x")]),  # no options: the category is required
        ({"category": "csam", "tlp": "pink"}, None, [("a.jpg", b"x")]),
        ({"category": "csam", "unknown": 1}, None, [("a.jpg", b"x")]),
        ({"category": "csam"}, None, []),  # no file at all
        ({"category": "csam"}, {"comment": "hi"}, [("a.jpg", b"x")]),  # an unknown text part
        ({"category": "csam"}, None, [("empty.jpg", b"")]),
    ],
)
def test_bad_media_contributions_are_400_and_publish_nothing(
    served: Served, options: object, texts: dict[str, str] | None, files: list[tuple[str, bytes]]
) -> None:
    with served.client("admin") as client:
        before = len(client.get("/v1/indicators", params={"limit": "1000"}).json()["rows"])
        if files:
            response = contribute(client, *files, options=options, texts=texts)
        else:
            response = client.post(
                "/v1/indicators", files={"options": (None, json.dumps(options))}, data=texts or {}
            )
        after = len(client.get("/v1/indicators", params={"limit": "1000"}).json()["rows"])
    assert_problem(response, 400, "invalid_input")
    assert after == before
    assert leftovers(served.node.home.root) == []


def test_malformed_multipart_is_400(served: Served) -> None:
    with served.client("admin") as client:
        response = client.post(
            "/v1/indicators",
            content=b'--x\r\nContent-Disposition: form-data; name="file"\r\n\r\nnever ends',
            headers={"Content-Type": "multipart/form-data; boundary=x"},
        )
    assert response.status_code == 400, response.text


def test_a_media_bomb_is_shared_by_its_digests_only_and_the_answer_says_why(served: Served) -> None:
    bomb = png_bomb(width=10_000, height=10_000)  # ~100 KB that would decode to 100 megapixels
    with served.client("admin") as client:
        response = contribute(client, ("bomb.png", bomb), options={"category": "csam"})
        md5_rows = rows_for(client, hash_bytes(bomb).md5)
    assert response.status_code == 200, response.text
    (refused,) = response.json()["refused"]
    assert refused["source"] == "files[0] (bomb.png)"
    assert refused["reason"] == "image too large to decode: no pdq; md5 and sha256 shared"
    assert response.json()["added"] == 2 and [r["content_type"] for r in md5_rows] == ["image"]
    assert leftovers(served.node.home.root) == []


def test_only_an_admin_whose_ceiling_is_red_may_upload_and_nothing_is_read_first(served: Served) -> None:
    token = served.node.add_api_account("amber-uploader", role=Role.ADMIN, max_tlp=Tlp.AMBER).token
    assert token is not None
    served.tokens["amber-uploader"] = token
    photo = jpeg(8106)
    for account in ("amber-uploader", "analyst", "matcher"):
        with served.client(account) as client:
            response = contribute(client, ("a.jpg", photo), options={"category": "csam"})
        assert response.status_code == 403, (account, response.text)
    with httpx.Client(base_url=served.url) as client:
        assert_problem(
            contribute(client, ("a.jpg", photo), options={"category": "csam"}), 401, "unauthenticated"
        )
    with served.client("admin") as client:
        assert rows_for(client, hash_bytes(photo).md5) == []


def test_an_upload_over_the_media_limit_is_413(served: Served) -> None:
    limit = served.node.config.http.max_media_bytes
    with served.client("admin") as client:
        response = contribute(client, ("big.jpg", b"\xff" * (limit + 1)), options={"category": "csam"})
    assert_problem(response, 413, "too_large")
    assert leftovers(served.node.home.root) == []


def test_a_file_name_is_shown_printable_and_bounded() -> None:
    assert upload_label(3, "evil\x1b[31m\nname.jpg") == "files[3] (evil?[31m?name.jpg)"
    assert upload_label(0, "") == "files[0]"
    assert len(upload_label(1, "x" * 10_000)) < 140


def test_uploads_a_killed_node_left_in_its_home_are_removed_when_it_serves_again(served: Served) -> None:
    home = served.node.home.root
    stale = home / ".uploads-killed"
    stale.mkdir(mode=0o700)
    (stale / "0000.jpg").write_bytes(jpeg(8107))
    elsewhere = home / "uploads-not-ours"
    elsewhere.mkdir()
    server = start_server(served.node)
    try:
        assert not stale.exists() and elsewhere.exists()
    finally:
        server.stop()
        elsewhere.rmdir()
