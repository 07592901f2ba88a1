"""Export the indicators this node holds as one STIX 2.1 bundle, respecting TLP.

RED is never exported in bulk unless the operator asks for it explicitly (DESIGN §5): RED
data leaving in a file is a decision a person makes, not a default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from node.model import KeyId, Tlp
from node.stix import build_bundle
from node.store import Store


def export_bundle(
    store: Store, *, names: Mapping[KeyId, str], include_red: bool
) -> tuple[dict[str, Any], int]:
    """A bundle of every active indicator (RED only with ``include_red``) and how many it holds."""
    indicators = [
        ind for ind in store.iter_indicators(include_revoked=False) if include_red or ind.tlp is not Tlp.RED
    ]
    origin_names = {ind.origin: names.get(ind.origin, ind.origin[:12]) for ind in indicators}
    return build_bundle(indicators, origin_names=origin_names), len(indicators)
