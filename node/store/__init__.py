"""Storage: SQLite through sqlite-utils. The entries table is the source of truth (DESIGN §8)."""

from node.store.codec import UpsertBatch, upsert_batch
from node.store.database import Store
from node.store.records import (
    CountRow,
    EvidenceRecord,
    IndicatorChange,
    PeerHead,
    RefusedCall,
    StoredEntry,
    SyncRecord,
)
from node.store.transaction import WriteTx

__all__ = [
    "CountRow",
    "EvidenceRecord",
    "IndicatorChange",
    "PeerHead",
    "RefusedCall",
    "Store",
    "StoredEntry",
    "SyncRecord",
    "UpsertBatch",
    "WriteTx",
    "upsert_batch",
]
