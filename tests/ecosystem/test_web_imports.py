"""url and domain indicators through every import path (issue 15): ``contribute --stix`` of a
third-party bundle, a MISP feed directory and a pull from a real TAXII server (medallion).

Values are normalised by the url:/domain: rules; a public suffix, a non-http URL or a malformed
one is refused by reason (never by value) and counted, never imported raw. A category named in
labels or tags applies, else the default; ``accord match`` of a subdomain URL then finds the
imported domain.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import stix2
from stix2validator import ValidationOptions, validate_string

from node.app import AccordNode
from node.model.sources import Trust
from node.sync.sources import IMPORT_REFUSED
from tests.ecosystem.medallion import COLLECTION_ID, PASSWORD, USER, Medallion
from tests.ecosystem.test_misp_import import attribute, write_feed
from tests.support.cli import run

VALID_FROM = "2026-01-01T00:00:00Z"
GREEN_V1 = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"
REFUSED_PATTERN = (  # each value refused by the url:/domain: rules, never imported raw
    "[domain-name:value = 'vercel.app' OR domain-name:value = 'com' OR url:value = 'ftp://nudify-app.example/'"
    " OR url:value = 'javascript:alert(1)' OR url:value = 'nudify-app.example/no-scheme']"
)


def cli_match(home: Path, signal: str) -> list[dict[str, Any]]:
    """The matches ``accord match --signal`` reports for ``signal`` (loaded here: --offline)."""
    result = run("match", "--home", home, "--signal", signal, "--offline", "--json")
    assert result.exit_code in (0, 1), result.output
    [answer] = json.loads(result.stdout)
    matches: list[dict[str, Any]] = answer["matches"]
    return matches


def web_bundle() -> str:
    """A third-party bundle as the stix2 library writes it: web indicators of several shapes."""
    common = {"pattern_type": "stix", "valid_from": VALID_FROM, "description": "from a partner's list"}
    bundle = stix2.Bundle(
        stix2.Indicator(
            name="web indicator 1",
            pattern="[domain-name:value = 'Nudify-App.Example.' OR url:value = "
            "'HTTPS://free-undress.example:443/./app?id=7#pricing']",
            labels=["nudify-service"],
            **common,
        ),
        stix2.Indicator(
            name="web indicator 2",  # an escaped quote inside the value; no label: the default category
            pattern="[url:value = 'https://models.example/it\\'s/undress-v2.safetensors']",
            **common,
        ),
        stix2.Indicator(
            name="web indicator 3",
            pattern="[domain-name:value IN ('undress-now.example', 'deepnude.example')]",
            labels=["abusive-model"],
            **common,
        ),
        stix2.Indicator(name="web indicator 4", pattern=REFUSED_PATTERN, **common),
        stix2.Indicator(
            name="web indicator 5",
            pattern="[file:name = 'url:value = \\'https://decoy.example/\\'']",
            **common,
        ),
    )
    text: str = bundle.serialize(pretty=True)
    for strict in (False, True):
        result = validate_string(text, ValidationOptions(strict=strict))
        assert result.is_valid and not result.warnings, result.as_dict()
    return text


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "platform"
    assert run("init", "--home", path, "--name", "Example Platform").exit_code == 0
    return path


def test_contribute_stix_imports_url_and_domain_indicators(home: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "partner-bundle.json"
    bundle.write_text(web_bundle())
    result = run("contribute", "--home", home, "--stix", bundle, "--category", "nudify-service", "--json")
    assert result.exit_code == 2, result.output  # some values were refused, the rest published
    report = json.loads(result.stdout)
    assert report["added"] == 5, report
    reasons = [r["reason"] for r in report["refused"]]
    assert sum("public suffix" in r for r in reasons) == 2
    assert sum("absolute http or https URL" in r for r in reasons) == 3
    assert (
        sum("compares no md5, sha1, sha256 or pdq file hash, url or domain-name" in r for r in reasons) == 1
    )
    assert not any("nudify-app" in r or "decoy" in r for r in reasons)  # reasons never hold values

    # A subdomain URL matches the imported domain; the listed URL matches in any spelling.
    [deep] = cli_match(home, "url:https://cdn.eu.nudify-app.example/upload")
    assert (deep["signal_type"], deep["category"]) == ("domain", "nudify-service")
    assert [m["signal_type"] for m in cli_match(home, "url:https://FREE-undress.example/app?id=7")] == ["url"]
    [model] = cli_match(home, "url:https://models.example/it's/undress-v2.safetensors")
    assert model["category"] == "nudify-service"  # no label: --category
    assert [m["category"] for m in cli_match(home, "url:https://www.deepnude.example/")] == ["abusive-model"]
    assert cli_match(home, "url:https://notnudify-app.example/") == []
    assert cli_match(home, "domain:nudify-app.example.org") == []
    assert cli_match(home, "url:https://decoy.example/") == []  # text inside a literal is no comparison
    held = json.loads(run("query", "--home", home, "--json").stdout)["rows"]
    assert sorted(r["value"] for r in held) == [
        "deepnude.example",
        "https://free-undress.example/app?id=7",
        "https://models.example/it's/undress-v2.safetensors",
        "nudify-app.example",
        "undress-now.example",
    ]


EVENT_WEB = str(uuid.UUID("7b2e5e3c-9d8a-4d2c-9c75-2c3e4f5a6b70"))
EVENT_MODELS = str(uuid.UUID("8c3f6f4d-ae9b-4e3d-8d86-3d4f5a6b7c81"))
EVENT_UNTAGGED = str(uuid.UUID("9d4a7a5e-bfac-4f4e-9e97-4e5a6b7c8d92"))


def test_a_misp_feed_imports_url_domain_and_hostname_attributes(home: Path, tmp_path: Path) -> None:
    feed = write_feed(
        tmp_path / "feed",
        {
            EVENT_WEB: {
                "info": "nudify services",
                "Tag": [{"name": "tlp:green"}, {"name": "nudify-service"}],
                "Attribute": [
                    attribute("url", "https://Free-Undress.example/app/../app?id=7"),
                    attribute("domain", "nudify-app.example"),
                    attribute("hostname", "cdn.undress-now.example."),
                    attribute("domain|ip", "DeepNude.Example|198.51.100.7"),
                    attribute("domain", "com"),  # public suffixes: refused
                    attribute("hostname", "vercel.app"),
                    attribute("url", "ftp://nudify-app.example/"),  # not http(s): refused
                    attribute("url", "hxxps://nudify-app.example/"),  # defanged: refused, not repaired
                    attribute("domain", "nudify-app.example|junk"),  # not a name: refused
                    {**attribute("domain", "context.example"), "to_ids": False},  # context only
                    attribute("ip-dst", "198.51.100.7"),  # another type: skipped
                ],
            },
            EVENT_MODELS: {
                "Tag": [{"name": "abusive-model"}],
                "Attribute": [attribute("url", "https://models.example/undress-v2.safetensors")],
            },
            EVENT_UNTAGGED: {"Attribute": [attribute("url", "https://plain.example/")]},
        },
    )
    result = run(
        "import-misp", "--home", home, feed, "--source", "hotline", "--trust", "auto",
        "--category", "nudify-service", "--json",
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    report = json.loads(result.stdout)
    assert (report["added"], report["skipped"]) == (6, 1), report
    reasons = [r["reason"] for r in report["refused"]]
    assert sum("public suffix" in r for r in reasons) == 2
    assert sum("absolute http or https URL" in r for r in reasons) == 2
    assert sum("dot-separated labels" in r for r in reasons) == 1
    assert sum("to_ids=false" in r for r in reasons) == 1
    assert not any("nudify-app" in r or "junk" in r for r in reasons)  # reasons never hold values

    [hit] = cli_match(home, "url:https://eu.cdn.nudify-app.example/upload")
    assert (hit["origin_name"], hit["category"], hit["tlp"]) == ("hotline", "nudify-service", "green")
    assert [m["signal_type"] for m in cli_match(home, "url:https://img.cdn.undress-now.example/a")] == [
        "domain"
    ]
    assert cli_match(home, "url:https://undress-now.example/") == []  # only the hostname was listed
    assert len(cli_match(home, "url:https://www.deepnude.example/")) == 1  # domain|ip: the name
    assert len(cli_match(home, "url:https://free-undress.example/app?id=7")) == 1
    [model] = cli_match(home, "url:https://models.example/undress-v2.safetensors")
    assert model["category"] == "abusive-model"  # the event's tag
    [plain] = cli_match(home, "url:https://plain.example/")
    assert plain["category"] == "nudify-service"  # untagged: --category, as for hashes
    assert cli_match(home, "domain:context.example") == []


@pytest.fixture(scope="module")
def medallion(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Medallion]:
    server = Medallion(tmp_path_factory.mktemp("medallion-web"), page_size=2).start()
    yield server
    server.stop()


def test_a_taxii_pull_imports_url_and_domain_indicators(home: Path, medallion: Medallion) -> None:
    objects = list(json.loads(web_bundle())["objects"])
    objects[0]["object_marking_refs"] = [GREEN_V1]
    medallion.add(objects)
    node = AccordNode.open(home)
    try:
        node.bridges.add_taxii_source(
            "intel", url=medallion.api_root, collection=COLLECTION_ID, username=USER, secret=PASSWORD,
            trust=Trust.AUTO, category="nudify-service",
        )  # fmt: skip
        [report] = node.sync("intel")
        assert report.error is None
        assert report.indicators == 5 and report.rejected[IMPORT_REFUSED] == 6
        messages = [
            m
            for (m,) in node.store.reader.execute(
                "SELECT message FROM rejections WHERE reason = ? AND partner = 'intel'", (IMPORT_REFUSED,)
            )
        ]
    finally:
        node.close()
    assert sum("public suffix" in m for m in messages) == 2
    assert sum("absolute http or https URL" in m for m in messages) == 3
    assert sum("compares no file hash, url or domain" in m for m in messages) == 1
    assert not any("nudify-app" in m or "decoy" in m for m in messages)

    [deep] = cli_match(home, "url:https://cdn.eu.nudify-app.example/upload")
    assert (deep["origin_name"], deep["category"], deep["tlp"]) == ("intel", "nudify-service", "green")
    [model] = cli_match(home, "url:https://models.example/it's/undress-v2.safetensors")
    assert (model["category"], model["tlp"]) == ("nudify-service", "amber")  # the source's defaults
    assert [m["category"] for m in cli_match(home, "url:https://a.b.undress-now.example/")] == [
        "abusive-model"
    ]
    assert cli_match(home, "url:https://notnudify-app.example/") == []
