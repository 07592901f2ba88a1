"""Accord: a federated node that shares signed STIX 2.1 bundles of media hashes and matches against them."""

__version__ = "0.1.0"
