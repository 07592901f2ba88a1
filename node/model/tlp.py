"""TLP 2.0 levels and the recipients they name (DESIGN §5)."""

from __future__ import annotations

import enum

from node.errors import InvalidInput


class Tlp(enum.Enum):
    """Traffic Light Protocol 2.0, ordered from least to most restricted."""

    CLEAR = "clear"
    GREEN = "green"
    AMBER = "amber"
    AMBER_STRICT = "amber+strict"
    RED = "red"

    @property
    def names_recipients(self) -> bool:
        """AMBER, AMBER+STRICT and RED go only to recipients named in the entry."""
        return self in (Tlp.AMBER, Tlp.AMBER_STRICT, Tlp.RED)

    @property
    def origin_only(self) -> bool:
        """AMBER+STRICT and RED are served by their origin only, never relayed."""
        return self in (Tlp.AMBER_STRICT, Tlp.RED)

    @classmethod
    def parse(cls, text: str) -> Tlp:
        """The level named ``text`` (``clear``, ``green``, ``amber``, ``amber+strict``, ``red``)."""
        name = text.strip().lower().removeprefix("tlp:").replace("_", "+")
        if name == "white":  # TLP 1.0's name for CLEAR, still common in partners' tooling
            name = "clear"
        for member in cls:
            if member.value == name:
                return member
        raise InvalidInput(f"unknown TLP level {text[:20]!r} (clear, green, amber, amber+strict, red)")
