"""Storage: SQLite through sqlite-utils. The entries table is the source of truth (DESIGN §8)."""

from node.store.codec import UpsertBatch, upsert_batch
from node.store.database import Store
from node.store.records import (
    CountRow,
    EncryptionKeyRecord,
    EvidenceRecord,
    IndicatorChange,
    PdqStretch,
    PeerHead,
    RefusedCall,
    StoredBody,
    StoredEntry,
    SyncRecord,
)
from node.store.transaction import WriteTx

__all__ = [
    "CountRow",
    "EncryptionKeyRecord",
    "EvidenceRecord",
    "IndicatorChange",
    "PdqStretch",
    "PeerHead",
    "RefusedCall",
    "Store",
    "StoredBody",
    "StoredEntry",
    "SyncRecord",
    "UpsertBatch",
    "WriteTx",
    "upsert_batch",
]
