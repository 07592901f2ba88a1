"""Match lists: in-memory indexes per signal type, updated incrementally (DESIGN §9)."""

from node.match import persist
from node.match.exact import ExactIndex
from node.match.lists import ListUpdate, MatchLists
from node.match.pdq import PdqIndex
from node.match.video import VideoIndex
from node.match.warninglists import Warninglists, builtin_warninglists

__all__ = [
    "ExactIndex",
    "ListUpdate",
    "MatchLists",
    "PdqIndex",
    "VideoIndex",
    "Warninglists",
    "builtin_warninglists",
    "persist",
]
