"""Hasher-Matcher-Actioner 2.0 compatible lookups (GET /m/raw_lookup, GET and POST /m/lookup,
POST /h/hash) against HMA's request and response shapes (OpenMediaMatch blueprints/matching.py
and hashing.py, and the schemas of its OpenAPI document), over a real node and real images."""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import httpx
import pytest

from node.app import AccordNode
from node.hashing.media import hash_bytes
from node.http.hma import content_id
from node.model import Tlp
from tests.http.conftest import AMBER_SEED, GREEN_SEED, RED_SEED, Served, signal_of
from tests.http.test_api import assert_problem
from tests.support.feeds import pdq_signal
from tests.support.media import png_bomb, render_image

BANK = "Example NGO:csam"


def jpeg(seed: int) -> bytes:
    out = io.BytesIO()
    render_image(seed=seed, size=(640, 480)).save(out, "JPEG", quality=92)
    return out.getvalue()


@pytest.fixture(scope="module")
def photo(published: AccordNode, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A GREEN indicator contributed from a real JPEG."""
    path = tmp_path_factory.mktemp("hma") / "photo.jpg"
    path.write_bytes(jpeg(51))
    report = published.contribute(files=[path], category="csam", tlp=Tlp.GREEN)
    assert report.publish is not None and not report.refused
    published.load_lists()
    return path.read_bytes()


def _is_content(item: Any) -> bool:
    """HMA's MatchWithDistance: bank_content_id (int) and distance (str); Accord adds indicator_id."""
    return (
        isinstance(item, dict)
        and isinstance(item["bank_content_id"], int)
        and not isinstance(item["bank_content_id"], bool)
        and isinstance(item["distance"], str)
        and set(item) == {"bank_content_id", "distance", "indicator_id"}
    )


def _is_bank_matches(answer: Any) -> bool:
    """HMA's LookupResponse for one signal type: bank name -> [MatchWithDistance]."""
    return isinstance(answer, dict) and all(
        isinstance(bank, str) and isinstance(items, list) and all(_is_content(i) for i in items)
        for bank, items in answer.items()
    )


# --- raw lookup -------------------------------------------------------------------------------


def test_raw_lookup_answers_content_ids_like_hma(served: Served) -> None:
    green = signal_of(GREEN_SEED)
    with served.client("matcher") as client:
        plain = client.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": green.value})
        with_distance = client.get(
            "/m/raw_lookup", params={"signal_type": "pdq", "signal": green.value, "include_distance": "true"}
        )
        unknown = client.get(
            "/m/raw_lookup", params={"signal_type": "pdq", "signal": pdq_signal(99_999).value}
        )
    assert plain.status_code == 200 and set(plain.json()) == {"matches"}
    (cid,) = plain.json()["matches"]
    assert isinstance(cid, int) and 0 <= cid < 2**53  # exact in every JSON reader
    (item,) = with_distance.json()["matches"]
    assert _is_content(item) and item["bank_content_id"] == cid and item["distance"] == "0"
    assert content_id(item["indicator_id"]) == cid
    assert unknown.json() == {"matches": []}


def test_raw_lookup_filters_by_bank(served: Served) -> None:
    green = signal_of(GREEN_SEED).value
    with served.client("matcher") as client:
        mine = client.get(
            "/m/raw_lookup", params={"signal_type": "pdq", "signal": green, "banks": f"{BANK},X"}
        )
        other = client.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": green, "banks": "OTHER"})
    assert len(mine.json()["matches"]) == 1 and other.json() == {"matches": []}


def test_raw_lookup_never_reveals_red_below_a_red_ceiling(served: Served) -> None:
    red = signal_of(RED_SEED).value
    params = {"signal_type": "pdq", "signal": red, "include_distance": "true"}
    with served.client("matcher") as client:
        capped = client.get("/m/raw_lookup", params=params)
        amber = client.get("/m/raw_lookup", params={**params, "signal": signal_of(AMBER_SEED).value})
    with served.client("red-matcher") as client:
        allowed = client.get("/m/raw_lookup", params=params)
    assert capped.json() == {"matches": []}  # the answer for a hash the node never held
    assert len(amber.json()["matches"]) == 1 and len(allowed.json()["matches"]) == 1


@pytest.mark.parametrize(
    "params",
    [
        {"signal": "ab"},
        {"signal_type": "pdq"},
        {"signal_type": "nope", "signal": "ab"},
        {"signal_type": "pdq", "signal": "zz"},
        {"signal_type": "pdq", "signal": "' OR 1=1 --"},
        {"signal_type": "pdq'; DROP TABLE indicators; --", "signal": "ab"},
    ],
)
def test_bad_lookups_are_400(served: Served, params: dict[str, str]) -> None:
    with served.client("matcher") as client:
        response = client.get("/m/raw_lookup", params=params)
        by_bank = client.get("/m/lookup", params=params)
    for answer in (response, by_bank):
        assert answer.status_code == 400 and answer.json()["status"] == 400
        assert answer.json()["message"] == answer.json()["detail"]  # HMA's ErrorResponse.message


# --- lookup by bank ---------------------------------------------------------------------------


def test_lookup_get_answers_banks_like_hma(served: Served) -> None:
    green = signal_of(GREEN_SEED, 1)
    with served.client("matcher") as client:
        response = client.get("/m/lookup", params={"signal_type": "pdq", "signal": green.value, "seed": "42"})
        md5 = client.get("/m/lookup", params={"signal_type": "video_md5", "signal": "0" * 32})
        url = client.get("/m/lookup", params={"url": "http://169.254.169.254/latest/meta-data/"})
    assert response.status_code == 200 and _is_bank_matches(response.json())
    assert list(response.json()) == [BANK] and response.json()[BANK][0]["distance"] == "0"
    assert md5.json() == {}
    body = assert_problem(url, 400, "invalid_input")
    assert "does not fetch URLs" in str(body["detail"])  # never a server-side fetch


def test_lookup_post_hashes_the_upload_and_answers_by_signal_type(served: Served, photo: bytes) -> None:
    with served.client("matcher") as client:
        response = client.post("/m/lookup", files={"photo": ("p.jpg", photo, "image/jpeg")})
        only_pdq = client.post(
            "/m/lookup", params={"types": "pdq"}, files={"photo": ("p.jpg", photo, "image/jpeg")}
        )
        other_bank = client.post(
            "/m/lookup", params={"banks": "OTHER"}, files={"photo": ("p.jpg", photo, "image/jpeg")}
        )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) == {"pdq", "md5", "sha256"} and all(_is_bank_matches(v) for v in answer.values())
    assert list(answer["pdq"]) == [BANK] and answer["pdq"][BANK][0]["distance"] == "0"
    assert list(answer["md5"]) == [BANK]  # contributed files are listed by their digests too
    assert set(only_pdq.json()) == {"pdq"}
    assert all(v == {} for v in other_bank.json().values())


def test_hash_post_answers_signal_type_to_value(served: Served, photo: bytes) -> None:
    with served.client("matcher") as client:
        response = client.post("/h/hash", files={"photo": ("p.jpg", photo, "image/jpeg")})
    expected = hash_bytes(photo)
    assert response.json() == {
        "pdq": expected.pdq.value if expected.pdq else None,
        "md5": expected.md5.value,
        "sha256": expected.sha256.value,
    }


def test_hma_uploads_take_one_file_named_photo_or_video(served: Served, photo: bytes) -> None:
    with served.client("matcher") as client:
        two = client.post(
            "/m/lookup",
            files=[("photo", ("a.jpg", photo, "image/jpeg")), ("photo", ("b.jpg", photo, "image/jpeg"))],
        )
        named = client.post("/m/lookup", files={"document": ("a.jpg", photo, "image/jpeg")})
        none = client.post("/h/hash", data={"x": "1"}, files={})
        malformed = client.post(
            "/m/lookup",
            content=b"--x\r\nnot a part",
            headers={"Content-Type": "multipart/form-data; boundary=x"},
        )
        bomb = client.post(
            "/h/hash", files={"photo": ("b.png", png_bomb(width=10_000, height=10_000), "image/png")}
        )
    for response in (two, named, none, malformed):
        assert_problem(response, 400, "invalid_input")
    assert bomb.status_code == 200 and "pdq" not in bomb.json() and set(bomb.json()) == {"md5", "sha256"}


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/m/raw_lookup"), ("GET", "/m/lookup"), ("POST", "/m/lookup"), ("POST", "/h/hash")],
)
def test_every_hma_path_needs_a_token(served: Served, method: str, path: str) -> None:
    with httpx.Client(base_url=served.url) as client:
        response = client.request(method, path, params={"signal_type": "pdq", "signal": "0" * 64})
    assert_problem(response, 401, "unauthenticated")


def test_bank_names_and_content_ids_are_stable() -> None:
    some = f"indicator--{uuid.UUID(int=2**127 + 5)}"
    assert content_id(some) == content_id(some) == (2**127 + 5) >> 76
    assert 0 <= content_id("indicator--not-a-uuid") < 2**53
    assert json.loads(json.dumps(content_id(some))) == content_id(some)
