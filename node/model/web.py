"""Web addresses as signals: the normal form of ``url:`` and ``domain:`` values (issue 15).

Two nodes must spell one address the same way, so a value is normalised on construction, the
way RFC 3986 §6.2.2-6.2.3 describes: scheme and host lowercased, the default port, the
fragment and the user information removed, dot-segments removed (§5.2.4), percent-encoding
normalised (uppercase hex, unreserved characters decoded, other non-ASCII or unsafe characters
encoded as UTF-8), internationalised host names in their ASCII (punycode) form, and the
trailing dot of a fully qualified name removed.

A domain signal may not be a public suffix (``com``, ``co.uk``, ``vercel.app``): listing one
would match every site under it. The Public Suffix List is the snapshot shipped inside the
``publicsuffixlist`` package, read from its own file; nothing is fetched at run time.
"""

from __future__ import annotations

import ipaddress
import re
import threading
from functools import lru_cache

import idna
from publicsuffixlist import PublicSuffixList

from node.errors import InvalidSignal

MAX_URL_CHARS = 2048
"""Longest URL accepted (before normalisation): browsers and CDNs cap near 2 KB to 8 KB; a
longer value in a feed is more likely an attack on the reader than an address."""

MAX_HOST_CHARS = 253
"""RFC 1035: a domain name is at most 253 characters in text form (63 per label)."""

SCHEMES = frozenset({"http", "https"})
"""URL signals name web pages and services; other schemes are refused, not guessed at."""

_DEFAULT_PORTS = {"http": 80, "https": 443}
# RFC 3986 Appendix B: the regular expression that splits any URI reference into scheme,
# authority, path, query and fragment (urllib is kept out of the model: it also fetches).
_URI = re.compile(r"(?:([^:/?#]+):)?(?://([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?", re.DOTALL)
_AUTHORITY = re.compile(r"(?:[^@]*@)?(\[[^\]]*\]|[^:]*)(?::([0-9]*))?")
_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# Characters kept as they are in a path or query (RFC 3986 pchar, '/', '?', and '%' of an
# escape); anything else is percent-encoded as UTF-8.
_KEPT = frozenset("!$&'()*+,;=:@/?-._~%") | frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

_psl_lock = threading.Lock()
_psl: PublicSuffixList | None = None


def normal_url(text: str) -> str:
    """``text`` as a normalised http(s) URL; InvalidSignal naming the rule otherwise.

    Messages never repeat the value: a listed address is shared under a TLP like a hash.
    """
    text = text.strip()
    if not text or len(text) > MAX_URL_CHARS:
        raise InvalidSignal(f"a url value is 1 to {MAX_URL_CHARS} characters")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in text):
        raise InvalidSignal("a url value holds no spaces or control characters")
    parts = _URI.fullmatch(text)
    scheme_text, authority, raw_path, raw_query, _fragment = parts.groups() if parts else (None,) * 5
    scheme = (scheme_text or "").lower()
    server = _AUTHORITY.fullmatch(authority or "")
    if scheme not in SCHEMES or server is None or not server.group(1):
        raise InvalidSignal("a url value must be an absolute http or https URL with a host")
    host = _host(server.group(1))
    port = _port(server.group(2))
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = remove_dot_segments(_percent(raw_path or "") or "/")
    query = _percent(raw_query or "")
    return f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "")


def normal_domain(text: str) -> str:
    """``text`` as a normalised domain name that is not a public suffix; InvalidSignal otherwise."""
    text = text.strip()
    if not text or len(text) > MAX_HOST_CHARS + 1:
        raise InvalidSignal(f"a domain value is 1 to {MAX_HOST_CHARS} characters")
    if "/" in text or ":" in text or "@" in text:
        raise InvalidSignal(
            "a domain value is a host name only (no scheme, port or path): use url: for an address"
        )
    name = _domain_name(text)
    if _is_ip(name):
        raise InvalidSignal("a domain value is a name, not an IP address: use url: for an address")
    if len(name.split(".")) < 2 or public_suffixes().is_public(name):
        raise InvalidSignal(
            "a domain value may not be a public suffix (such as com, co.uk or vercel.app, per the "
            "Public Suffix List): it would match every site registered under it"
        )
    return name


def host_of(url: str) -> str:
    """The host of a URL already in normal form (a name, an IPv4 address or [IPv6])."""
    rest = url.partition("://")[2]
    netloc = rest.split("/", 1)[0]
    if netloc.startswith("["):
        return netloc[: netloc.index("]") + 1]
    return netloc.rsplit(":", 1)[0] if ":" in netloc else netloc


def parent_domains(host: str) -> list[str]:
    """``host`` and each domain above it with at least two labels, nearest first: the domain
    values that match it (``a.b.example.org`` → itself, ``b.example.org``, ``example.org``).
    An IP address has none: a domain signal names names."""
    if host.startswith("[") or _is_ip(host):
        return []
    labels = host.split(".")
    return [".".join(labels[n:]) for n in range(len(labels) - 1)]


def public_suffixes() -> PublicSuffixList:
    """The Public Suffix List snapshot bundled with the ``publicsuffixlist`` package (parsed once).

    ``PublicSuffixList()`` with no source reads the package's own ``public_suffix_list.dat``;
    the package fetches only when its separate ``publicsuffixlist.update`` module is run,
    which this node never imports.
    """
    global _psl  # noqa: PLW0603 - one parse per process (about 10k rules)
    with _psl_lock:
        if _psl is None:
            _psl = PublicSuffixList()
        return _psl


def remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4: the path with every ``.`` and ``..`` segment resolved (the
    algorithm as the RFC states it, step by step)."""
    rest, output = path, list[str]()
    while rest:
        if rest.startswith("../"):
            rest = rest[3:]
        elif rest.startswith("./"):
            rest = rest[2:]
        elif rest.startswith("/./") or rest == "/.":
            rest = "/" + rest[3:]
        elif rest.startswith("/../") or rest == "/..":
            rest = "/" + rest[4:]
            if output:
                output.pop()
        elif rest in (".", ".."):
            rest = ""
        else:
            cut = rest.find("/", 1)
            cut = len(rest) if cut == -1 else cut
            output.append(rest[:cut])
            rest = rest[cut:]
    return "".join(output)


def _port(text: str | None) -> int | None:
    """The port of an authority (None when absent or empty, as RFC 3986 §6.2.3 allows)."""
    if not text:
        return None
    if len(text) > 5 or int(text) > 65535:
        raise InvalidSignal("a url's port is a number from 0 to 65535")
    return int(text)


def _host(hostname: str) -> str:
    if hostname.startswith("["):
        try:
            return f"[{ipaddress.IPv6Address(hostname[1:-1]).compressed}]"
        except ValueError as exc:
            raise InvalidSignal("a url's bracketed host must be an IPv6 address") from exc
    if _is_ip(hostname):
        return str(ipaddress.IPv4Address(hostname))
    return _domain_name(hostname)


@lru_cache(maxsize=4096)  # indicators of one site repeat its host; values are normalised often
def _domain_name(text: str) -> str:
    name = text.lower().removesuffix(".")
    if "%" in name:
        raise InvalidSignal("a host name holds no percent-encoding")
    if not name.isascii():
        try:
            name = idna.encode(name, uts46=True, transitional=False).decode("ascii")
        except idna.IDNAError as exc:
            raise InvalidSignal(f"a host name is not a valid internationalised domain name: {exc}") from exc
    labels = name.split(".")
    if len(name) > MAX_HOST_CHARS or not all(_LABEL.fullmatch(label) for label in labels):
        raise InvalidSignal(
            "a host name is dot-separated labels of letters, digits, '-' and '_' (at most 63 each,"
            f" {MAX_HOST_CHARS} in all)"
        )
    return name


def _is_ip(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


def _percent(component: str) -> str:
    """Percent-encoding in normal form: escapes of unreserved characters decoded, other escapes
    in uppercase hex, and characters outside ``_KEPT`` (non-ASCII included) encoded as UTF-8."""
    out: list[str] = []
    for char in component:
        if char in _KEPT:
            out.append(char)
        else:
            out.extend(f"%{byte:02X}" for byte in char.encode("utf-8"))
    encoded = "".join(out)
    # A '%' not followed by two hex digits is itself encoded, so every escape is well formed.
    encoded = re.sub(r"%(?![0-9A-Fa-f]{2})", "%25", encoded)
    return _PERCENT.sub(_normal_escape, encoded)


def _normal_escape(found: re.Match[str]) -> str:
    byte = int(found.group(1), 16)
    return chr(byte) if byte in _UNRESERVED else f"%{byte:02X}"
