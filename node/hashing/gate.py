"""A pixel budget shared by the media hashes a server runs at once (the Match API's uploads).

Decoding and hashing an image costs memory in proportion to its pixels (about 8 bytes each on
the PDQ path, see ``node.hashing.pdq``). A count of concurrent calls alone does not bound that:
twenty 49-megapixel uploads cost twenty times one. So each hash first takes its image's pixel
count from a fixed budget and gives it back when done; a call that cannot get its share within
the wait is refused with :class:`Overloaded` instead of queueing without end.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from node.errors import InvalidInput, Overloaded


class MediaGate:
    """Admits media hashes while their pixels fit in ``budget_pixels``; others wait, then fail."""

    def __init__(self, *, budget_pixels: int, wait_seconds: float) -> None:
        if budget_pixels < 1 or wait_seconds < 0:
            raise InvalidInput("a media gate needs a positive pixel budget and a wait of zero or more")
        self.budget_pixels = budget_pixels
        self._wait = wait_seconds
        self._free = budget_pixels
        self._changed = threading.Condition()

    @contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        """Hold ``pixels`` of the budget (capped at the whole budget) for the ``with`` block.

        Raises :class:`Overloaded` when they are not free within the configured wait.
        """
        share = max(1, min(pixels, self.budget_pixels))
        with self._changed:
            if not self._changed.wait_for(lambda: self._free >= share, timeout=self._wait):
                raise Overloaded(
                    f"media hashing is at capacity ({self.budget_pixels} pixels in flight); "
                    f"waited {self._wait:g} s: retry later or send signals instead of media"
                )
            self._free -= share
        try:
            yield
        finally:
            with self._changed:
                self._free += share
                self._changed.notify_all()
