"""Accounts of the HTTP API: a name, a role and a maximum TLP (DESIGN §6, issue 14).

A role says which endpoints an account may call; the maximum TLP says which indicators and
matches it may see. Both are decided from the account the token verified as, never from
anything the request says about itself.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from node.errors import InvalidInput
from node.model.tlp import Tlp
from node.model.viewers import parse_account_name, tlp_at_most


class Role(enum.Enum):
    """What an account is for. ``matcher`` is a service token of an upload pipeline;
    ``contributor`` one of a case-management system that contributes and curates our own
    indicators (and matches), with nothing of an admin's beyond that."""

    ADMIN = "admin"
    REVIEWER = "reviewer"
    ANALYST = "analyst"
    MATCHER = "matcher"
    CONTRIBUTOR = "contributor"

    @classmethod
    def parse(cls, text: str) -> Role:
        """The role named ``text``."""
        for member in cls:
            if member.value == text.strip().lower():
                return member
        raise InvalidInput(f"unknown role {text[:20]!r} (admin, reviewer, analyst, matcher, contributor)")


@dataclass(frozen=True, slots=True)
class Account:
    """An account as the API sees it once its token verified (the token is never kept)."""

    name: str
    role: Role
    max_tlp: Tlp
    added_at: str
    # A pinned partner this account stands for: TAXII serves it exactly what the Federation
    # API would serve that partner; the HTTP API, only what any partner may see (GREEN).
    partner: str | None = None

    def __post_init__(self) -> None:
        parse_account_name(self.name)

    def may_see(self, tlp: Tlp) -> bool:
        """True when something marked ``tlp`` is within this account's maximum TLP."""
        return tlp_at_most(tlp, self.max_tlp)

    @property
    def visible_tlps(self) -> frozenset[Tlp]:
        """Every TLP level this account may see."""
        return frozenset(t for t in Tlp if self.may_see(t))


@dataclass(frozen=True, slots=True)
class LoginFailures:
    """Failed logins of one account name (lowercased) or client address, as kept across
    restarts: ``kind`` is ``name`` or ``address``; instants are wall-clock seconds."""

    kind: str
    key: str
    count: int
    lockouts: int
    locked_until: float
    last: float
