"""Near-duplicate queries through the match lists' index: in the serving process from its
loaded lists, and in a CLI process by asking the running node over its Local API (as
``accord match`` does), reading the rows it names from the shared database (issue 16)."""

from __future__ import annotations

import logging

from node.errors import PeerError
from node.match import MatchLists
from node.model import Signal
from node.model.queries import IndicatorQuery, QueryAnswer
from node.rpc.client import LocalClient
from node.rpc.queries import query_to_proto
from node.sync.lookup import Lookup
from node.sync.refresh import ListRefresher

log = logging.getLogger(__name__)


def near_from_lists(
    lists: MatchLists, refresher: ListRefresher, signal: Signal, distance: int
) -> dict[str, int] | None:
    """Ids and distances of listed PDQ rows within ``distance`` of ``signal``; None when this
    process has not loaded its lists (then the caller scans). The lists first take in what was
    committed since their last refresh, so the answer is as current as a scan's."""
    if not lists.ready:
        return None
    refresher.refresh()
    return {hit.indicator_id: hit.distance for hit in lists.pdq.query(signal.pdq_bytes(), distance)}


def near_via_running_node(
    query: IndicatorQuery, *, lookup: Lookup, address: str, key_id: str, timeout: float
) -> QueryAnswer | None:
    """The answer of this node's own ``accord serve`` (its index), or None when it is not
    running, is another node, or is still loading (then the caller scans)."""
    client = LocalClient(address, timeout=timeout)
    try:
        status = client.status()
        if status.key_id != key_id or not status.ready:
            return None
        response = client.query(query_to_proto(query))
    except PeerError as exc:
        log.debug("near query: no running node answered (%s); scanning", exc)
        return None
    finally:
        client.close()
    hits = {row.id: row.distance for row in response.rows}
    return lookup.rows_by_id(hits, query=query, truncated=response.truncated)
