"""Composition root: builds a node from its home and config; start, stop, health."""

from node.app.backup import RestoreReport, restore_database
from node.app.contribute import Refusal
from node.app.home import Home, init_home, require_home
from node.app.node import AccordNode, ContributeReport
from node.app.serve import serve

__all__ = [
    "AccordNode",
    "ContributeReport",
    "Home",
    "Refusal",
    "RestoreReport",
    "init_home",
    "require_home",
    "restore_database",
    "serve",
]
