"""TAXII 2.1 over HTTP: the read-only server (stdlib ``http.server``) and the client that imports.

This package is the one home of HTTP serving and of outbound HTTP (``http``, over httpx); it sits beside
``rpc`` and ``scheduler`` and calls the use cases in ``sync``.
"""

from node.taxii.client import TaxiiClient, fetch_url
from node.taxii.http import Deadline
from node.taxii.server import TaxiiServer, TaxiiSettings

__all__ = ["Deadline", "TaxiiClient", "TaxiiServer", "TaxiiSettings", "fetch_url"]
