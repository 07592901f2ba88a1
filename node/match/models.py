"""Model index: listed model files by the digests of their tensors (issue 15).

A model signal lists the distinct tensor digests of a weights file (node.hashing.models). The
index maps each digest to the listed models holding it, so a query model is matched by share
of tensors: the same weights re-packaged (another header order, metadata, file name) list the
same digests and match at 100%/100%; one shard of a re-sharded model, or a checkpoint that
kept most of a listed model's tensors, matches with the shares reported.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from typing import Final

from node.model import ModelHit

MIN_SHARE_PERCENT: Final = 50.0
"""A model matches when at least this share of the query's tensors, or of the listed model's,
is shared. Stable Diffusion 1.5 checkpoints commonly share their VAE and text encoder (about
40% of their tensors, 20% of their bytes) with unrelated fine-tunes: 50% stays above that."""

MIN_SHARED_TENSORS: Final = 4
"""And at least this many tensors are shared (fewer when a model lists fewer): a tiny file
holding one common tensor (a zero bias, position ids) is not "100% of a listed model"."""


class ModelIndex:
    """Listed models. Lock-free readers (dict operations are atomic under the GIL), one writer."""

    def __init__(self) -> None:
        self._models_by_digest: dict[str, frozenset[str]] = {}
        self._digests_by_model: dict[str, tuple[str, ...]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._digests_by_model)

    def add(self, indicator_id: str, digests: Sequence[str]) -> None:
        """List ``indicator_id`` with its distinct tensor digests (replacing an earlier listing)."""
        with self._lock:
            self._remove_locked(indicator_id)
            self._digests_by_model[indicator_id] = tuple(digests)
            for digest in digests:
                self._models_by_digest[digest] = self._models_by_digest.get(digest, frozenset()) | {
                    indicator_id
                }

    def remove(self, indicator_id: str) -> None:
        """Stop ``indicator_id`` matching; a no-op when it is not listed."""
        with self._lock:
            self._remove_locked(indicator_id)

    def _remove_locked(self, indicator_id: str) -> None:
        # The count goes first: a reader still seeing a digest of this model finds no listing
        # and drops the hit, so a revoked model never half-matches.
        digests = self._digests_by_model.pop(indicator_id, ())
        for digest in digests:
            left = self._models_by_digest.get(digest, frozenset()) - {indicator_id}
            if left:
                self._models_by_digest[digest] = left
            else:
                self._models_by_digest.pop(digest, None)

    def query(self, digests: Sequence[str]) -> list[ModelHit]:
        """Listed models sharing enough of ``digests`` (a query model's distinct tensors), the
        largest share of the query first."""
        if not digests:
            return []
        shared: Counter[str] = Counter()
        for digest in digests:
            shared.update(self._models_by_digest.get(digest, ()))
        hits = [hit for model, count in shared.items() if (hit := self._judge(model, count, len(digests)))]
        hits.sort(key=lambda h: (-h.query_match_percent, -h.compared_match_percent, h.indicator_id))
        return hits

    def _judge(self, model: str, count: int, queried: int) -> ModelHit | None:
        listed = len(self._digests_by_model.get(model, ()))
        if not listed:
            return None  # removed while this query ran
        query_share = 100.0 * count / queried
        compared_share = 100.0 * count / listed
        if count < min(MIN_SHARED_TENSORS, listed):
            return None
        if max(query_share, compared_share) < MIN_SHARE_PERCENT:
            return None
        return ModelHit(model, 0, round(query_share, 2), round(compared_share, 2))
