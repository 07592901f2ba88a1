"""The OpenAPI document against the routes, and the transport rules: TLS off loopback."""

from __future__ import annotations

import json
import re
import ssl
from dataclasses import fields, replace
from pathlib import Path

import httpx
import pytest
from starlette.routing import Route

from node.app import AccordNode
from node.app.http_api import http_server, http_tls
from node.errors import ConfigError
from node.http.actions import DeliveryServices
from node.http.api import ApiServices, ApiSettings, build_app
from node.http.endpoints import EndpointServices
from node.http.server import HttpServer, TlsFiles, check_transport
from tests.http.conftest import Served

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_the_served_document_is_the_checked_in_one(served: Served) -> None:
    with httpx.Client(base_url=served.url) as client:
        response = client.get("/v1/openapi.json")  # no token: it describes the API, holds no data
    assert response.status_code == 200
    assert response.json() == json.loads(DOCUMENT.read_text(encoding="utf-8")), (
        "docs/openapi.json is stale: python -m node.http.openapi > docs/openapi.json"
    )
    assert response.json()["openapi"] == "3.1.0"


def _routes(services: ApiServices) -> set[tuple[str, str]]:
    app = build_app(
        services,
        ApiSettings(max_batch=1, max_body_bytes=1024, rate_per_second=1, rate_burst=1),
        endpoints=_endpoint_services(),
    )
    return {
        (route.path, method.lower())
        for route in app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }


def _services() -> ApiServices:
    def unused(*args: object) -> object:
        raise AssertionError("not called")

    return ApiServices(
        authenticate=unused,  # type: ignore[arg-type]
        ready=lambda: True,
        status=unused,  # type: ignore[arg-type]
        match=unused,  # type: ignore[arg-type]
        query=unused,  # type: ignore[arg-type]
        names=unused,  # type: ignore[arg-type]
        deliveries=DeliveryServices(deliveries=unused, replay=unused),  # type: ignore[arg-type]
    )


def _endpoint_services() -> EndpointServices:
    def unused(*args: object) -> object:
        raise AssertionError("not called")

    return EndpointServices(**{f.name: unused for f in fields(EndpointServices)})  # type: ignore[arg-type]


def test_every_route_is_in_the_document_and_nothing_else() -> None:
    document = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    routes = _routes(_services())
    assert routes - documented == set(), "routes missing from docs/openapi.json"
    assert documented - routes == set(), "the document describes routes that do not exist"


OPEN_ROUTES = {("/v1/health", "get"), ("/v1/openapi.json", "get"), ("/v1/login", "post")}


def test_every_documented_route_but_health_description_and_login_wants_a_token(served: Served) -> None:
    """Walks the document, not a hand-kept list: a route added without roles would answer."""
    document = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    answered: dict[tuple[str, str], int] = {}
    with httpx.Client(base_url=served.url, timeout=30) as client:
        for path, item in document["paths"].items():
            for method in item:
                concrete = re.sub(r"\{[^}]+\}", "1", path)
                answered[(path, method)] = client.request(method.upper(), concrete, json={}).status_code
    assert {route for route, status in answered.items() if status != 401} == OPEN_ROUTES
    assert set(answered) == _routes(_services())  # the whole API was walked


def test_plaintext_off_loopback_is_refused_unless_insecure_plaintext_is_set() -> None:
    with pytest.raises(ConfigError, match=r"plaintext on 0\.0\.0\.0:7800"):
        check_transport("0.0.0.0:7800", tls=None, allow_plaintext=False)
    with pytest.raises(ConfigError, match="not loopback"):
        HttpServer(
            build_app(_services(), _settings()), address="192.0.2.1:0", tls=None
        )  # refused before binding
    check_transport("0.0.0.0:7800", tls=None, allow_plaintext=True)  # the operator's explicit, logged choice
    check_transport("127.0.0.1:7800", tls=None, allow_plaintext=False)
    check_transport("[::1]:7800", tls=None, allow_plaintext=False)
    check_transport("0.0.0.0:7800", tls=TlsFiles(Path("k"), Path("c")), allow_plaintext=False)


def _settings() -> ApiSettings:
    return ApiSettings(max_batch=1, max_body_bytes=1024, rate_per_second=1, rate_burst=1)


def test_off_loopback_the_node_serves_its_own_certificate(published: AccordNode) -> None:
    tls = http_tls(published, "0.0.0.0:7800")
    assert tls == TlsFiles(key=published.home.tls_key_path, cert=published.home.tls_cert_path)
    assert http_tls(published, "127.0.0.1:7800") is None
    plain = replace(published.config.network, insecure_plaintext=True)
    original = published.config
    try:
        published.config = replace(original, network=plain)
        assert http_tls(published, "0.0.0.0:7800") is None  # plaintext, explicitly allowed (and warned about)
    finally:
        published.config = original


def test_tls_always_serves_https_with_the_node_certificate_on_loopback(published: AccordNode) -> None:
    original = published.config
    published.config = replace(original, network=replace(original.network, tls="always"))
    try:
        server = http_server(published, "127.0.0.1:0")
    finally:
        published.config = original
    server.start()
    try:
        context = ssl.create_default_context(cafile=str(published.home.tls_cert_path))
        context.check_hostname = (
            False  # the certificate names accord-node.invalid; it is pinned as the only root
        )
        with httpx.Client(base_url=f"https://127.0.0.1:{server.port}", verify=context) as client:
            assert client.get("/v1/health").json() == {"status": "serving"}
        with (
            httpx.Client(base_url=f"http://127.0.0.1:{server.port}") as plain,
            pytest.raises(httpx.HTTPError),
        ):
            plain.get("/v1/health")  # no plaintext on a TLS port
    finally:
        server.stop()
