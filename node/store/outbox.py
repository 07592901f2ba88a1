"""Webhooks, action rules, action runs and the delivery outbox (issue 14).

Writers take the :class:`WriteTx` of the caller's transaction, so the use case decides what
commits together (an action run and its deliveries, always). Readers use the store's read
connection. Rule conditions are kept as JSON of plain values.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from node.model import SignalType, Tlp, Trust
from node.model.action_shapes import condition_json
from node.model.actions import Rule, RuleCondition, Webhook
from node.model.deliveries import Delivery, DeliveryState
from node.store.database import Store
from node.store.transaction import WriteTx

_DELIVERY_COLUMNS = (
    "id, key, webhook, rule, content_id, state, attempts, created, next_attempt_at,"
    " last_attempt_at, last_status, last_error, delivered_at"
)
MAX_ERROR_CHARS = 300  # what a receiver said, kept short: it is shown, never trusted

# --- webhooks ------------------------------------------------------------------------------


def insert_webhook(tx: WriteTx, hook: Webhook) -> None:
    """Store a webhook. Raises sqlite3.IntegrityError when the name exists."""
    tx.execute(
        "INSERT INTO webhooks (name, url, secret_file, max_tlp, added_at) VALUES (?,?,?,?,?)",
        (hook.name, hook.url, hook.secret_file, hook.max_tlp.value, hook.added_at),
    )


def delete_webhook(tx: WriteTx, name: str) -> bool:
    """Delete a webhook; True when one was deleted."""
    return tx.execute("DELETE FROM webhooks WHERE name = ?", (name,)).rowcount > 0


def webhooks(store: Store) -> dict[str, Webhook]:
    """Every webhook by name."""
    rows = store.reader.execute(
        "SELECT name, url, secret_file, max_tlp, added_at FROM webhooks ORDER BY name"
    )
    return {
        r[0]: Webhook(name=r[0], url=r[1], secret_file=r[2], max_tlp=Tlp(r[3]), added_at=r[4]) for r in rows
    }


# --- rules ---------------------------------------------------------------------------------


def insert_rule(tx: WriteTx, rule: Rule, *, added_at: str) -> None:
    """Store a rule. Raises sqlite3.IntegrityError when the name exists."""
    tx.execute(
        "INSERT INTO action_rules (name, condition, webhooks, review, added_at) VALUES (?,?,?,?,?)",
        (
            rule.name,
            json.dumps(condition_json(rule.when)),
            json.dumps(list(rule.webhooks)),
            int(rule.review),
            added_at,
        ),
    )


def delete_rule(tx: WriteTx, name: str) -> bool:
    """Delete a rule; True when one was deleted."""
    return tx.execute("DELETE FROM action_rules WHERE name = ?", (name,)).rowcount > 0


def rules(store: Store) -> list[Rule]:
    """Every rule, by name."""
    rows = store.reader.execute("SELECT name, condition, webhooks, review FROM action_rules ORDER BY name")
    return [
        Rule(
            name=r[0],
            when=condition_from_json(json.loads(r[1])),
            webhooks=tuple(json.loads(r[2])),
            review=bool(r[3]),
        )
        for r in rows
    ]


def rules_naming(store: Store, webhook: str) -> list[str]:
    """Rules that POST to ``webhook``."""
    return [r.name for r in rules(store) if webhook in r.webhooks]


def condition_from_json(data: dict[str, Any]) -> RuleCondition:
    """The inverse of :func:`condition_json`."""
    return RuleCondition(
        list_kinds=frozenset(SignalType(k) for k in data["list_kinds"]),
        categories=frozenset(data["categories"]),
        origins=frozenset(data["origins"]),
        trusts=frozenset(Trust(t) for t in data["trusts"]),
        tlps=frozenset(Tlp(t) for t in data["tlps"]),
        decisions=frozenset(data["decisions"]),
        max_distance=data["max_distance"],
    )


# --- runs and the outbox -------------------------------------------------------------------


def insert_run(
    tx: WriteTx,
    *,
    content_id: str,
    content_url: str | None,
    decision: str | None,
    fired: Sequence[str],
    review: bool,
    created: str,
) -> int:
    """Record one call that acted; returns its id."""
    cursor = tx.execute(
        "INSERT INTO action_runs (content_id, content_url, decision, fired, review, created)"
        " VALUES (?,?,?,?,?,?)",
        (content_id, content_url, decision, json.dumps(list(fired)), int(review), created),
    )
    return int(cursor.lastrowid or 0)


def enqueue(
    tx: WriteTx,
    *,
    key: str,
    run_id: int,
    webhook: str,
    rule: str,
    content_id: str,
    body: bytes,
    created: str,
    due_at: float,
) -> tuple[int, bool]:
    """Accept a delivery into the outbox: (its id, True) — or (the id of the delivery with the
    same key, False): one event is one delivery, however often it is asked for."""
    cursor = tx.execute(
        "INSERT INTO outbox (key, run_id, webhook, rule, content_id, body, state, next_attempt_at, created)"
        " VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (key) DO NOTHING",
        (key, run_id, webhook, rule, content_id, body, DeliveryState.PENDING.value, due_at, created),
    )
    if cursor.rowcount:
        return int(cursor.lastrowid or 0), True
    row = tx.execute("SELECT id FROM outbox WHERE key = ?", (key,)).fetchone()
    return int(row[0]), False


def due_deliveries(store: Store, *, now: float, limit: int) -> list[tuple[Delivery, bytes]]:
    """Pending deliveries whose next attempt is due, oldest due first, with their bodies."""
    rows = store.reader.execute(
        f"SELECT {_DELIVERY_COLUMNS}, body FROM outbox"  # noqa: S608 (constant column list)
        " WHERE state = ? AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?",
        (DeliveryState.PENDING.value, now, limit),
    )
    return [(_delivery(r[:-1]), bytes(r[-1])) for r in rows]


def record_delivered(tx: WriteTx, delivery_id: int, *, status: int, at: str) -> None:
    """A receiver answered 2xx: the delivery is done."""
    tx.execute(
        "UPDATE outbox SET state = ?, attempts = attempts + 1, next_attempt_at = NULL, last_attempt_at = ?,"
        " last_status = ?, last_error = NULL, delivered_at = ? WHERE id = ? AND state = ?",
        (DeliveryState.DELIVERED.value, at, status, at, delivery_id, DeliveryState.PENDING.value),
    )


def record_failed(
    tx: WriteTx, delivery_id: int, *, status: int | None, error: str, at: str, retry_at: float | None
) -> None:
    """An attempt failed: try again at ``retry_at``, or (None) dead-letter the delivery."""
    state = DeliveryState.PENDING if retry_at is not None else DeliveryState.DEAD
    tx.execute(
        "UPDATE outbox SET state = ?, attempts = attempts + 1, next_attempt_at = ?, last_attempt_at = ?,"
        " last_status = ?, last_error = ? WHERE id = ? AND state = ?",
        (
            state.value,
            retry_at,
            at,
            status,
            error[:MAX_ERROR_CHARS],
            delivery_id,
            DeliveryState.PENDING.value,
        ),
    )


def replay(tx: WriteTx, delivery_id: int, *, now: float) -> bool:
    """Put a delivery back in the outbox, due now, with a fresh attempt count (same key and
    body). False when there is no such delivery."""
    cursor = tx.execute(
        "UPDATE outbox SET state = ?, attempts = 0, next_attempt_at = ?, delivered_at = NULL WHERE id = ?",
        (DeliveryState.PENDING.value, now, delivery_id),
    )
    return cursor.rowcount > 0


def deliveries(store: Store, *, state: DeliveryState | None, limit: int) -> list[Delivery]:
    """Deliveries, newest first (of one state, when given)."""
    where, params = ("WHERE state = ?", [state.value]) if state else ("", [])
    rows = store.reader.execute(
        f"SELECT {_DELIVERY_COLUMNS} FROM outbox {where} ORDER BY id DESC LIMIT ?",  # noqa: S608
        (*params, limit),
    )
    return [_delivery(r) for r in rows]


def delivery(store: Store, delivery_id: int) -> Delivery | None:
    """One delivery by id."""
    row = store.reader.execute(
        f"SELECT {_DELIVERY_COLUMNS} FROM outbox WHERE id = ?",  # noqa: S608
        (delivery_id,),
    ).fetchone()
    return None if row is None else _delivery(row)


def delivery_counts(store: Store) -> dict[tuple[str, DeliveryState], int]:
    """Deliveries per (webhook, state)."""
    rows = store.reader.execute("SELECT webhook, state, COUNT(*) FROM outbox GROUP BY webhook, state")
    return {(r[0], DeliveryState(r[1])): int(r[2]) for r in rows}


def oldest_pending(store: Store) -> str | None:
    """When the oldest pending delivery was accepted (None: nothing pending)."""
    row = store.reader.execute(
        "SELECT MIN(created) FROM outbox WHERE state = ?", (DeliveryState.PENDING.value,)
    ).fetchone()
    return None if row is None or row[0] is None else str(row[0])


def _delivery(row: Sequence[Any]) -> Delivery:
    return Delivery(
        id=int(row[0]),
        key=row[1],
        webhook=row[2],
        rule=row[3],
        content_id=row[4],
        state=DeliveryState(row[5]),
        attempts=int(row[6]),
        created=row[7],
        next_attempt_at=row[8],
        last_attempt_at=row[9],
        last_status=row[10],
        last_error=row[11],
        delivered_at=row[12],
    )
