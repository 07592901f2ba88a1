"""A receiving node's store with two pinned origins, and writers for their feeds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from node.config import LimitsSection
from node.model import Partner
from node.store import Store
from node.sync.ingest import Ingestor
from tests.support.feeds import FeedWriter, encryption_keys, identity


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    db = Store(tmp_path / "receiver.db")
    yield db
    db.close()


RECEIVER_KEYS = encryption_keys(50)  # the receiving node's encryption key: restricted bodies open


@pytest.fixture
def ngo() -> FeedWriter:
    return FeedWriter(identity(1), name="ngo", readers=[RECEIVER_KEYS.public])


@pytest.fixture
def lab() -> FeedWriter:
    return FeedWriter(identity(2), name="lab", readers=[RECEIVER_KEYS.public])


@pytest.fixture
def pinned(store: Store, ngo: FeedWriter, lab: FeedWriter) -> dict[str, bytes]:
    """Pin both origins in the receiving store; returns key id → public key."""
    with store.write() as tx:
        tx.add_partner(Partner(name="ngo", key_id=ngo.origin, public_key=ngo.signer.public_key))
        tx.add_partner(Partner(name="lab", key_id=lab.origin, public_key=lab.signer.public_key))
    return store.pinned_keys()


@pytest.fixture
def ingestor(store: Store) -> Ingestor:
    return Ingestor(store=store, limits=LimitsSection(), encryption_keys=lambda: [RECEIVER_KEYS])
