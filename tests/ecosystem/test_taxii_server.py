"""The read-only TAXII 2.1 server, driven by the OASIS ``taxii2-client`` against a real loopback server."""

from __future__ import annotations

import base64
import json
import sqlite3
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import Message
from typing import Any, TypeVar

import pytest
import requests
from taxii2client.common import TokenAuth
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

from node.model import ContentType, Distribution, Signal, Tlp
from node.model.provenance import note_of
from node.sync.catalogue import ALL_COLLECTION, collection_id
from node.sync.publish import Contribution
from tests.ecosystem.conftest import PLATFORM, Taxii
from tests.support.feeds import md5_signal, pdq_signal

T = TypeVar("T")
MEDIA_TYPE = "application/taxii+json;version=2.1"
_CLIENTS: list[Any] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _CLIENTS:
        _CLIENTS.pop().close()


def opened(client: T) -> T:
    """Closes ``client`` (a taxii2-client endpoint) after the test."""
    _CLIENTS.append(client)
    return client


def contribute(
    taxii: Taxii,
    signals: list[Signal],
    *,
    category: str = "csam",
    tlp: Tlp = Tlp.GREEN,
    to: tuple[str, ...] = (),
) -> None:
    recipients = frozenset(p.key_id for p in taxii.node.partners() if p.name in to)
    items = [
        Contribution(s, ContentType.default_for(s.type), 100 if s.type.is_perceptual else None)
        for s in signals
    ]
    taxii.node.publisher.contribute(
        items, category=category, distribution=Distribution(tlp=tlp, recipients=recipients)
    )


def collection(taxii: Taxii, account: str, ident: str = ALL_COLLECTION) -> Collection:
    return Collection(
        f"{taxii.api_root}collections/{ident}/", user=account_user(account), password=taxii.tokens[account]
    )


def account_user(account: str) -> str:
    return {"platform": "as-platform", "outsider": "as-outsider"}.get(account, account)


def indicator_values(objects: list[dict[str, Any]]) -> set[str]:
    return {o["pattern"].split("'")[-2] for o in objects if o["type"] == "indicator"}


def get(url: str, *, headers: dict[str, str]) -> tuple[int, Message, Any]:
    """Status, headers (names case-insensitive, as in HTTP) and JSON body of a GET."""
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers, json.loads(exc.read())


def bearer(taxii: Taxii, account: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {taxii.tokens[account]}", "Accept": MEDIA_TYPE}


# --- discovery and collections -------------------------------------------------------------


def test_discovery_api_root_and_collections_by_origin_and_category(taxii: Taxii) -> None:
    contribute(taxii, [pdq_signal(1)], category="csam")
    contribute(taxii, [md5_signal(2)], category="ncii")

    server = opened(Server(f"{taxii.url}/taxii2/", user="alice", password=taxii.tokens["alice"]))
    assert server.title.startswith("Accord node")
    assert [r.url for r in server.api_roots] == [taxii.api_root]
    root = server.default
    assert MEDIA_TYPE in root.versions
    found = {c.id: c for c in root.collections}
    assert set(found) == {
        ALL_COLLECTION,
        collection_id("origin", taxii.node.key_id),
        collection_id("category", "csam"),
        collection_id("category", "ncii"),
    }
    assert all(c.can_read and not c.can_write for c in found.values())
    csam = found[collection_id("category", "csam")].get_objects()
    assert indicator_values(csam["objects"]) == {pdq_signal(1).value}


def test_bearer_and_token_schemes_work_too(taxii: Taxii) -> None:
    contribute(taxii, [md5_signal(1)])
    root = opened(ApiRoot(taxii.api_root, auth=TokenAuth(taxii.tokens["alice"])))
    assert ALL_COLLECTION in {c.id for c in root.collections}
    status, headers, body = get(f"{taxii.api_root}collections/", headers=bearer(taxii, "alice"))
    assert status == 200 and headers["Content-Type"] == MEDIA_TYPE and body["collections"]


# --- authentication ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer accord_not-a-token"},
        {"Authorization": "Basic " + base64.b64encode(b"alice:wrong").decode()},
        {"Authorization": "Basic !!!not base64"},
        {"Authorization": "Digest whatever"},
    ],
)
def test_without_valid_credentials_every_resource_answers_401(taxii: Taxii, headers: dict[str, str]) -> None:
    for path in (
        "/taxii2/",
        "/accord/",
        "/accord/collections/",
        f"/accord/collections/{ALL_COLLECTION}/objects/",
    ):
        status, answer, body = get(taxii.url + path, headers=headers)
        assert status == 401, path
        assert "Bearer" in answer["WWW-Authenticate"] and body["http_status"] == "401"


def test_taxii2_client_without_credentials_gets_401(taxii: Taxii) -> None:
    with pytest.raises(requests.exceptions.HTTPError) as caught:
        opened(Server(f"{taxii.url}/taxii2/")).refresh()
    assert caught.value.response.status_code == 401


def test_basic_auth_needs_the_accounts_own_name(taxii: Taxii) -> None:
    token = taxii.tokens["chief"]
    with pytest.raises(requests.exceptions.HTTPError):
        opened(ApiRoot(taxii.api_root, user="alice", password=token)).refresh()
    opened(ApiRoot(taxii.api_root, user="chief", password=token)).refresh()


def test_a_removed_account_is_refused_at_once(taxii: Taxii) -> None:
    taxii.node.bridges.remove_analyst("alice")
    status, _, _ = get(f"{taxii.api_root}collections/", headers=bearer(taxii, "alice"))
    assert status == 401


def test_only_a_hash_of_each_token_is_stored(taxii: Taxii) -> None:
    raw = taxii.node.home.db_path.read_bytes()
    wal = taxii.node.home.db_path.with_name(taxii.node.home.db_path.name + "-wal")
    everything = raw + (wal.read_bytes() if wal.exists() else b"")
    for token in taxii.tokens.values():
        assert token.encode() not in everything
    with sqlite3.connect(taxii.node.home.db_path) as conn:
        rows = conn.execute("SELECT COUNT(*) FROM http_accounts WHERE role = 'analyst'").fetchone()[0]
    assert rows == len(taxii.tokens)


# --- TLP ------------------------------------------------------------------------------------


def test_tlp_filtering_per_account(taxii: Taxii) -> None:
    contribute(taxii, [md5_signal(1)], tlp=Tlp.GREEN)
    contribute(taxii, [md5_signal(2)], tlp=Tlp.AMBER, to=("platform",))
    contribute(taxii, [md5_signal(3)], tlp=Tlp.RED, to=("platform",))
    contribute(taxii, [md5_signal(4)], tlp=Tlp.RED, to=("outsider",))
    every = {md5_signal(n).value for n in (1, 2, 3, 4)}

    def seen(account: str) -> set[str]:
        return indicator_values(collection(taxii, account).get_objects()["objects"])

    assert seen("chief") == every
    assert seen("alice") == every - {md5_signal(3).value, md5_signal(4).value}  # RED above amber+strict
    assert seen("green") == {md5_signal(1).value}
    assert seen("platform") == every - {md5_signal(4).value}  # its own RED, never another's
    assert seen("outsider") == every - {md5_signal(2).value, md5_signal(3).value}


def test_a_red_indicator_is_not_found_by_id_for_an_account_that_may_not_see_it(taxii: Taxii) -> None:
    contribute(taxii, [md5_signal(9)], tlp=Tlp.RED, to=("platform",))
    red_id = next(
        o["id"] for o in collection(taxii, "chief").get_objects()["objects"] if o["type"] == "indicator"
    )
    assert collection(taxii, "platform").get_object(red_id)["objects"][0]["id"] == red_id
    for account in ("alice", "outsider"):
        with pytest.raises(requests.exceptions.HTTPError) as caught:
            collection(taxii, account).get_object(red_id)
        assert caught.value.response.status_code == 404
        status, _, _ = get(
            f"{taxii.api_root}collections/{ALL_COLLECTION}/objects/{red_id}/versions/",
            headers=bearer(taxii, account),
        )
        assert status == 404


def test_a_collection_the_account_cannot_see_looks_like_none(taxii: Taxii) -> None:
    contribute(taxii, [md5_signal(1)], category="ncii", tlp=Tlp.RED, to=("platform",))
    ncii = collection_id("category", "ncii")
    assert ncii in {
        c.id
        for c in opened(ApiRoot(taxii.api_root, user="chief", password=taxii.tokens["chief"])).collections
    }
    status, _, body = get(f"{taxii.api_root}collections/{ncii}/objects/", headers=bearer(taxii, "alice"))
    assert status == 404 and "ncii" not in json.dumps(body)
    status, _, _ = get(f"{taxii.api_root}collections/no-such-collection/", headers=bearer(taxii, "chief"))
    assert status == 404


# --- paging ---------------------------------------------------------------------------------


def test_paging_through_ten_thousand_objects_sharing_one_timestamp_loses_none(taxii: Taxii) -> None:
    signals = [pdq_signal(n) for n in range(10_000)]
    contribute(taxii, signals)  # one entry: every object gets the same date_added
    manifest = collection(taxii, "alice").get_manifest(limit=5)
    assert len({m["date_added"] for m in manifest["objects"]}) == 1

    pages = list(as_pages(collection(taxii, "alice").get_objects, per_request=500))
    ids = [o["id"] for page in pages for o in page["objects"]]
    assert len(pages) > 20
    assert len(ids) == len(set(ids))  # no duplicate
    assert indicator_values([o for page in pages for o in page["objects"]]) == {s.value for s in signals}
    assert all(page["more"] == ("next" in page) for page in pages)


def test_objects_added_while_paging_come_on_a_later_page(taxii: Taxii) -> None:
    contribute(taxii, [md5_signal(n) for n in range(30)])
    reader = collection(taxii, "alice")
    first = reader.get_objects(limit=10)
    contribute(taxii, [md5_signal(n) for n in range(30, 40)])  # committed mid-way through the paging
    pages = [first]
    while pages[-1]["more"]:
        pages.append(reader.get_objects(limit=10, next=pages[-1]["next"]))
    seen = indicator_values([o for page in pages for o in page["objects"]])
    assert seen == {md5_signal(n).value for n in range(40)}


def test_the_limit_is_capped_and_bad_paging_parameters_are_400(taxii: Taxii) -> None:
    contribute(taxii, [md5_signal(n) for n in range(1200)])
    page = collection(taxii, "alice").get_objects(limit=5000)
    assert len(page["objects"]) == 1000 and page["more"]
    base = f"{taxii.api_root}collections/{ALL_COLLECTION}/objects/"
    for query in (
        "limit=0",
        "limit=-3",
        "limit=x",
        "next=forged",
        "next=" + base64.b64encode(b"1").decode(),
        "added_after=yesterday",
        "match[version]=newest",
    ):
        status, _, body = get(f"{base}?{query}", headers=bearer(taxii, "alice"))
        assert status == 400, query
        assert body["http_status"] == "400" and body["description"]


# --- filters, versions, manifest ------------------------------------------------------------


def test_match_filters_by_type_and_id(taxii: Taxii) -> None:
    contribute(taxii, [md5_signal(1), md5_signal(2)])
    reader = collection(taxii, "alice")
    identities = reader.get_objects(type="identity")["objects"]
    assert identities and {o["type"] for o in identities} == {"identity"}
    indicators = reader.get_objects(type="indicator")["objects"]
    assert len(indicators) == 2
    wanted = indicators[0]["id"]
    assert [o["id"] for o in reader.get_objects(id=wanted)["objects"]] == [wanted]
    both = reader.get_objects(id=[wanted, indicators[1]["id"]], type="indicator")["objects"]
    assert len(both) == 2


def test_versions_last_first_all_and_the_versions_endpoint(taxii: Taxii) -> None:
    contribute(taxii, [md5_signal(1)], category="csam")
    contribute(taxii, [md5_signal(1)], category="ncii")  # a new version of the same indicator
    reader = collection(taxii, "chief")
    last = reader.get_objects(type="indicator")["objects"]
    assert len(last) == 1 and last[0]["extensions"]
    obj_id = last[0]["id"]
    every = reader.get_objects(id=obj_id, version="all")["objects"]
    assert len(every) == 2
    first = reader.get_objects(id=obj_id, version="first")["objects"]
    assert first[0]["modified"] == min(o["modified"] for o in every)
    assert last[0]["modified"] == max(o["modified"] for o in every)
    versions = reader.object_versions(obj_id)
    assert versions["versions"] == sorted(o["modified"] for o in every)
    exact = reader.get_objects(id=obj_id, version=first[0]["modified"])["objects"]
    assert [o["modified"] for o in exact] == [first[0]["modified"]]


def test_added_after_and_the_manifest(taxii: Taxii) -> None:
    contribute(taxii, [md5_signal(1)])
    reader = collection(taxii, "alice")
    before = reader.get_manifest()["objects"]
    assert all(m["media_type"] == "application/stix+json;version=2.1" for m in before)
    cut = max(m["date_added"] for m in before)
    contribute(taxii, [md5_signal(2)])
    later = reader.get_objects(added_after=cut)["objects"]
    assert indicator_values(later) == {md5_signal(2).value}
    status, headers, _ = get(
        f"{taxii.api_root}collections/{ALL_COLLECTION}/objects/?added_after={cut}",
        headers=bearer(taxii, "alice"),
    )
    assert status == 200 and headers["X-TAXII-Date-Added-First"] > cut


def test_objects_are_served_exactly_as_the_origin_signed_them(taxii: Taxii) -> None:
    contribute(taxii, [pdq_signal(5)])
    served = [o for o in collection(taxii, "alice").get_objects()["objects"] if o["type"] == "indicator"]
    [entry] = taxii.node.store.entries_after(taxii.node.key_id, 0, limit=1)  # type: ignore[arg-type]
    assert entry.body is not None and not entry.sealed  # a GREEN body is the bundle its header names
    signed = [o for o in json.loads(entry.body)["objects"] if o["type"] == "indicator"]
    assert served == signed


def test_the_server_is_read_only_and_answers_only_taxii_media(taxii: Taxii) -> None:
    url = f"{taxii.api_root}collections/{ALL_COLLECTION}/objects/"
    request = urllib.request.Request(url, data=b"{}", method="POST", headers=bearer(taxii, "alice"))
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    caught.value.close()
    assert caught.value.code == 405
    status, _, _ = get(url, headers={**bearer(taxii, "alice"), "Accept": "text/html"})
    assert status == 406
    status, _, _ = get(
        url, headers={**bearer(taxii, "alice"), "Accept": "application/taxii+json;version=2.0"}
    )
    assert status == 406


def test_a_partner_account_sees_what_the_federation_api_would_serve(taxii: Taxii) -> None:
    contribute(taxii, [md5_signal(1)], tlp=Tlp.AMBER, to=("platform",))
    # Mapped to the partner's key: the same rule as Pull (node.model.access.may_serve).
    viewer = taxii.node.bridges.viewer(taxii.tokens["platform"], None)
    assert viewer.partner_key == PLATFORM.key_id


def test_match_label_filters_indicators_by_their_labels(taxii: Taxii) -> None:
    labelled = note_of(labels=["election:us-2026"])
    items = [
        Contribution(md5_signal(n), ContentType.FILE, note=labelled if n < 3 else None) for n in range(5)
    ]
    taxii.node.publisher.contribute(
        items, category="election-deepfake", distribution=Distribution(tlp=Tlp.GREEN)
    )
    reader = collection(taxii, "alice")
    found = reader.get_objects(label="election:us-2026")["objects"]
    assert len(found) == 3 and all(o["labels"] == ["election:us-2026"] for o in found)
    assert reader.get_objects(label="election:fr-2027")["objects"] == []
    status, _, body = get(
        f"{taxii.api_root}collections/{ALL_COLLECTION}/objects/?match[label]=Not%20a%20label",
        headers=bearer(taxii, "alice"),
    )
    assert status == 400 and "a label is" in body["description"]
