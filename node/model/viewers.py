"""Who reads the node over TAXII, and what each may see (DESIGN §5 applied to HTTP readers).

A reader is either a local analyst account, which sees what the node holds up to its maximum
TLP, or a token mapped to a pinned partner, which sees exactly what the Federation API would
serve that partner (:func:`node.model.access.may_serve`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from node.errors import InvalidInput
from node.model.access import may_serve
from node.model.entries import Distribution
from node.model.ids import KeyId
from node.model.tlp import Tlp

_TLP_ORDER = list(Tlp)
_ACCOUNT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


def parse_account_name(text: str) -> str:
    """An analyst account name: letters, digits, '.', '_' and '-', up to 63 characters."""
    if not _ACCOUNT.fullmatch(text):
        raise InvalidInput("an account name is 1-63 letters, digits, '.', '_' or '-' (no spaces)")
    return text


def tlp_at_most(tlp: Tlp, ceiling: Tlp) -> bool:
    """True when ``tlp`` is no more restricted than ``ceiling``."""
    return _TLP_ORDER.index(tlp) <= _TLP_ORDER.index(ceiling)


@dataclass(frozen=True, slots=True)
class Viewer:
    """An authenticated reader: an analyst (``max_tlp``) or a partner's token (``partner_key``)."""

    name: str
    max_tlp: Tlp
    partner_key: KeyId | None = None

    def may_view(self, distribution: Distribution, *, origin: KeyId, server: KeyId) -> bool:
        """True when this reader may see an object carried under ``distribution`` by ``origin``."""
        if self.partner_key is not None:
            return may_serve(distribution, origin=origin, server=server, caller=self.partner_key)
        return tlp_at_most(distribution.tlp, self.max_tlp)
