"""TAXII 2.1 over HTTP: the client that imports collections (the read-only server is Starlette
routes in :mod:`node.http.taxii`, served by the HTTP API's uvicorn machinery).

This package is the one home of outbound HTTP (``http``, over httpx); it sits beside ``rpc`` and
``scheduler`` and calls the use cases in ``sync``.
"""

from node.taxii.client import TaxiiClient, fetch_url
from node.taxii.http import Deadline

__all__ = ["Deadline", "TaxiiClient", "fetch_url"]
