"""Outbound webhook POSTs (issue 14), with httpx: this package is the node's one home of
outbound HTTP (see :mod:`node.taxii.http`).

What a caller may rely on after :meth:`WebhookSender.post` returns:

- the request went only to the URL given (redirects are never followed: a 3xx is a failure);
- it took at most the connect timeout to connect and the read timeout between reads;
- at most :data:`MAX_RESPONSE_BYTES` of the response body were read (a receiver cannot make
  the node download anything), and the connection was closed;
- every failure (refused connection, timeout, TLS, non-2xx) is an :class:`AttemptOutcome`,
  never an exception, so one receiver cannot stop the outbox.

:func:`check_webhook_url` is the SSRF guard: http(s) only, plain http only to loopback unless
the operator allowed it, no credentials in the URL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from node.errors import InvalidInput
from node.model import is_loopback_endpoint
from node.model.deliveries import AttemptOutcome

MAX_RESPONSE_BYTES = 4096  # a receiver's answer is read only to say what went wrong, briefly
MAX_URL_CHARS = 2048
_HOST = re.compile(r"[A-Za-z0-9.-]+|[0-9A-Fa-f:.]+")  # a DNS name, IPv4 or IPv6 (no percent-escapes)


@dataclass(frozen=True, slots=True)
class PostLimits:
    """Timeouts of one POST (from ``[actions]``)."""

    connect_seconds: float
    read_seconds: float


def check_webhook_url(url: str, *, allow_plain_http: bool) -> str:
    """``url`` when the node may POST to it; InvalidInput naming the rule it breaks otherwise."""
    if len(url) > MAX_URL_CHARS or not url.isprintable():
        raise InvalidInput(f"a webhook URL is at most {MAX_URL_CHARS} printable characters")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        raise InvalidInput(f"not a URL: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidInput("a webhook URL must be http:// or https:// with a host (no file:, ftp:, ...)")
    if not _HOST.fullmatch(parsed.host):
        raise InvalidInput("a webhook URL's host name is letters, digits, '.' and '-', or an IP address")
    if parsed.userinfo:
        raise InvalidInput("a webhook URL must not carry credentials; the signature authenticates the node")
    endpoint = f"[{parsed.host}]:0" if ":" in parsed.host else f"{parsed.host}:0"
    if parsed.scheme == "http" and not allow_plain_http and not is_loopback_endpoint(endpoint):
        raise InvalidInput(
            f"plain http to {parsed.host} would send match records readable: use https, or set"
            " actions.allow_plain_http = true (plain http is allowed to loopback only)"
        )
    return url


class WebhookSender:
    """POSTs deliveries for one round over one connection pool; use it as a context manager.

    No redirects are followed and no proxy settings are read from the environment: a webhook
    goes exactly where the operator said. TLS is verified against the system's trust store.
    """

    def __init__(self, limits: PostLimits) -> None:
        self._limits = limits
        self._client = httpx.Client(follow_redirects=False, trust_env=False)

    def __enter__(self) -> WebhookSender:
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.close()

    def post(self, url: str, body: bytes, *, headers: Mapping[str, str]) -> AttemptOutcome:
        """POST ``body`` to ``url`` once (see the module doc for what is guaranteed)."""
        limits = self._limits
        timeout = httpx.Timeout(
            connect=limits.connect_seconds,
            read=limits.read_seconds,
            write=limits.read_seconds,
            pool=limits.connect_seconds,
        )
        try:
            with self._client.stream(
                "POST", url, content=body, headers=dict(headers), timeout=timeout
            ) as answer:
                _read_some(answer)
                status = answer.status_code
        except httpx.TimeoutException as exc:
            return AttemptOutcome(status=None, error=f"timed out ({type(exc).__name__})")
        except httpx.HTTPError as exc:
            return AttemptOutcome(status=None, error=f"{type(exc).__name__}: {exc}")
        if 200 <= status < 300:
            return AttemptOutcome(status=status, error=None)
        if 300 <= status < 400:
            return AttemptOutcome(status=status, error=f"HTTP {status}: redirects are not followed")
        return AttemptOutcome(status=status, error=f"HTTP {status}")


def _read_some(response: httpx.Response) -> None:
    """Read at most MAX_RESPONSE_BYTES of the body, then stop (closing the stream drops the rest)."""
    seen = 0
    for chunk in response.iter_raw(chunk_size=1024):
        seen += len(chunk)
        if seen >= MAX_RESPONSE_BYTES:
            break
