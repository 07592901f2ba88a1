"""url: and domain: signals (issue 15): one normal form per address, public suffixes refused."""

from __future__ import annotations

import socket

import pytest

from node.errors import InvalidSignal
from node.model import Signal, SignalType, web
from node.model.web import normal_domain, normal_url, parent_domains, remove_dot_segments

NORMALISATION = [
    # scheme and host lowercased, default port and fragment removed, empty path is "/"
    ("HTTPS://Evil.EXAMPLE:443/Path#frag", "https://evil.example/Path"),
    ("http://evil.example:80", "http://evil.example/"),
    ("http://evil.example:8080/", "http://evil.example:8080/"),
    ("https://evil.example:/x", "https://evil.example/x"),
    # dot-segments removed (RFC 3986 §5.2.4)
    ("https://evil.example/a/b/c/./../../g", "https://evil.example/a/g"),
    ("https://evil.example/../a/./b/..", "https://evil.example/a/"),
    # percent-encoding: uppercase hex, unreserved decoded, reserved kept encoded
    ("https://evil.example/%7euser/%2f%41", "https://evil.example/~user/%2FA"),
    ("https://evil.example/a%2e%2E/b", "https://evil.example/a../b"),
    ("https://evil.example/%2E%2E/x", "https://evil.example/x"),
    ("https://evil.example/100%", "https://evil.example/100%25"),
    ("https://evil.example/ä?q=ü", "https://evil.example/%C3%A4?q=%C3%BC"),
    ("https://evil.example/?", "https://evil.example/"),
    ("https://evil.example/p?b=2&a=1", "https://evil.example/p?b=2&a=1"),  # query order is kept
    # user information dropped, trailing dot removed, IDN to punycode, IP literals
    ("https://user:secret@evil.example/", "https://evil.example/"),
    ("https://evil.example./x", "https://evil.example/x"),
    ("https://Bücher.example/", "https://xn--bcher-kva.example/"),
    ("https://ＥＶＩＬ.example/", "https://evil.example/"),  # full-width letters (UTS 46 mapping)
    ("http://[2001:DB8::0001]:80/", "http://[2001:db8::1]/"),
    ("http://192.0.2.1:8080/a", "http://192.0.2.1:8080/a"),
]


@pytest.mark.parametrize(("given", "normal"), NORMALISATION)
def test_url_normalisation(given: str, normal: str) -> None:
    signal = Signal.parse(f"url:{given}")
    assert (signal.type, signal.value) == (SignalType.URL, normal)
    assert Signal.parse(str(signal)) == signal  # the normal form is a fixed point


@pytest.mark.parametrize(
    "given",
    [
        "",
        "evil.example/x",  # no scheme
        "//evil.example/x",
        "ftp://evil.example/",  # only http and https
        "javascript:alert(1)",
        "https:///x",  # no host
        "https://evil.example:99999/",
        "https://evil.example:8o/",
        "https://evil example/",
        "https://evil.example/a b",
        "https://ev%69l.example/",  # percent-encoding in a host
        "https://[not-v6]/",
        "https://-evil.example/",
        "https://" + "a" * 64 + ".example/",  # a label over 63
        "https://evil.example/" + "a" * 2100,
    ],
)
def test_malformed_urls_are_refused_without_echoing_them(given: str) -> None:
    with pytest.raises(InvalidSignal) as caught:
        Signal(SignalType.URL, given)
    assert "evil" not in str(caught.value)


def test_remove_dot_segments_follows_the_rfc_examples() -> None:
    # RFC 3986 §5.2.4 and §5.4.1 examples
    assert remove_dot_segments("/a/b/c/./../../g") == "/a/g"
    assert remove_dot_segments("mid/content=5/../6") == "mid/6"
    assert remove_dot_segments("/..") == "/"
    assert remove_dot_segments("/a/b/.") == "/a/b/"


@pytest.mark.parametrize(
    ("given", "normal"),
    [
        ("Evil.Example", "evil.example"),
        ("evil.example.", "evil.example"),
        ("a.b.Evil.example", "a.b.evil.example"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("nudify-app.vercel.app", "nudify-app.vercel.app"),  # a site under a private suffix
        ("someone.github.io", "someone.github.io"),
        ("evil.co.uk", "evil.co.uk"),
    ],
)
def test_domain_normalisation(given: str, normal: str) -> None:
    assert Signal.parse(f"domain:{given}").value == normal


@pytest.mark.parametrize(
    "suffix", ["com", "COM.", "co.uk", "vercel.app", "github.io", "example", "localhost"]
)
def test_a_public_suffix_is_refused_as_a_domain(suffix: str) -> None:
    with pytest.raises(InvalidSignal, match="public suffix"):
        Signal(SignalType.DOMAIN, suffix)


@pytest.mark.parametrize("given", ["https://evil.example", "evil.example:443", "evil.example/x", "192.0.2.1"])
def test_a_domain_is_a_name_only(given: str) -> None:
    with pytest.raises(InvalidSignal):
        normal_domain(given)


def test_parent_domains_are_whole_labels() -> None:
    assert parent_domains("a.b.evil.example") == ["a.b.evil.example", "b.evil.example", "evil.example"]
    assert parent_domains("192.0.2.1") == [] and parent_domains("[2001:db8::1]") == []


def test_the_public_suffix_list_is_read_from_the_package_never_fetched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_network(*_args: object, **_kwargs: object) -> socket.socket:
        raise AssertionError("the Public Suffix List must not be fetched")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(web, "_psl", None)  # parse again, with the network forbidden
    assert web.public_suffixes().is_public("vercel.app")
    assert normal_url("https://x.vercel.app/") == "https://x.vercel.app/"
    assert normal_domain("x.vercel.app") == "x.vercel.app"
