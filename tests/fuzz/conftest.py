"""Fuzzing budget: a few hundred examples per target in CI, 10,000 with ``-m slow`` runs.

``ACCORD_FUZZ_EXAMPLES`` overrides both. The long run: ``pytest -m slow --timeout 0 tests/fuzz``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

CI_EXAMPLES = 200
LONG_EXAMPLES = 10_000


def examples(*, long: bool = False) -> int:
    """How many examples a fuzz target runs."""
    override = os.environ.get("ACCORD_FUZZ_EXAMPLES")
    if override:
        return int(override)
    return LONG_EXAMPLES if long else CI_EXAMPLES


def fuzz_settings(*, long: bool = False) -> settings:
    """Hypothesis settings for a fuzz target (no deadline: CI machines are shared)."""
    return settings(
        max_examples=examples(long=long),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        database=None,
    )
