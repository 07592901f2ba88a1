"""The database schema as an ordered list of sqlite-utils migrations.

The ``entries`` table is the source of truth: raw envelopes exactly as signed, append-only.
Everything else (heads, indicators, counters) is derived from it and could be rebuilt.
Never edit a migration that has shipped; add a new one.
"""

from __future__ import annotations

import logging

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("accord")


@migrations()
def m001_feeds(db: Database) -> None:
    """Entries (raw envelopes) and the head of each origin's feed."""
    db.execute(
        """
        CREATE TABLE entries (
            origin TEXT NOT NULL,
            seq INTEGER NOT NULL,
            digest TEXT NOT NULL,
            prev TEXT,
            payload_type TEXT NOT NULL,
            payload BLOB NOT NULL,
            signatures TEXT NOT NULL,
            tlp TEXT NOT NULL,
            recipients TEXT NOT NULL,
            created TEXT NOT NULL,
            received_at TEXT NOT NULL,
            via TEXT,
            objects INTEGER NOT NULL,
            PRIMARY KEY (origin, seq)
        ) WITHOUT ROWID
        """
    )
    db.execute(
        """
        CREATE TABLE heads (
            origin TEXT PRIMARY KEY,
            seq INTEGER NOT NULL,
            digest TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE evidence (
            id INTEGER PRIMARY KEY,
            origin TEXT NOT NULL,
            seq INTEGER NOT NULL,
            digest TEXT NOT NULL,
            payload_type TEXT NOT NULL,
            payload BLOB NOT NULL,
            signatures TEXT NOT NULL,
            via TEXT,
            detected_at TEXT NOT NULL,
            UNIQUE (origin, seq, digest)
        )
        """
    )


@migrations()
def m002_indicators(db: Database) -> None:
    """Current version of every indicator, with a change counter the match lists tail."""
    db.execute(
        """
        CREATE TABLE indicators (
            id TEXT PRIMARY KEY,
            origin TEXT NOT NULL,
            signal_type TEXT NOT NULL,
            value TEXT NOT NULL,
            category TEXT NOT NULL,
            content_type TEXT NOT NULL,
            tlp TEXT NOT NULL,
            quality INTEGER,
            created TEXT NOT NULL,
            modified TEXT NOT NULL,
            valid_until TEXT,
            revoked INTEGER NOT NULL DEFAULT 0,
            entry_seq INTEGER NOT NULL,
            change_id INTEGER NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX indicators_signal ON indicators (signal_type, value)")
    db.execute("CREATE INDEX indicators_origin ON indicators (origin, signal_type, value)")
    db.execute("CREATE UNIQUE INDEX indicators_change ON indicators (change_id)")


@migrations()
def m003_partners(db: Database) -> None:
    """Pinned partners, per-partner sync state, and refused input (counted by reason)."""
    db.execute(
        """
        CREATE TABLE partners (
            name TEXT PRIMARY KEY,
            key_id TEXT NOT NULL UNIQUE,
            public_key BLOB NOT NULL,
            endpoint TEXT,
            added_at TEXT NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE sync_state (
            partner TEXT PRIMARY KEY,
            last_attempt TEXT,
            last_success TEXT,
            last_result TEXT,
            last_error TEXT,
            received INTEGER NOT NULL DEFAULT 0,
            rejected INTEGER NOT NULL DEFAULT 0
        )
        """
    )
    db.execute(
        """
        CREATE TABLE rejections (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            partner TEXT,
            origin TEXT,
            seq INTEGER,
            reason TEXT NOT NULL,
            message TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX rejections_reason ON rejections (reason)")


@migrations()
def m004_indicators_by_change(db: Database) -> None:
    """Indicators keyed by their change id, with one random-key index instead of four.

    The change id becomes the rowid (``INTEGER PRIMARY KEY``): new rows append at the end of
    the table in commit order, and the change stream the match lists tail is a rowid range
    scan, so the unique index on ``change_id`` goes. Lookups by signal serve only the node's own
    contributions (re-labelling and revoking them; matching uses the match lists), so the two
    signal indexes over every row give way to a partial index over the rows this node published
    (``local``). At million-row scale each random-key index costs about one 4 KiB page write
    per ingested row; measured on a 1M-row first sync, SQLite's time fell from 24 s to 14 s.
    """
    columns = (
        "change_id, id, origin, signal_type, value, category, content_type, tlp, quality, created,"
        " modified, valid_until, revoked, entry_seq"
    )
    db.execute(
        """
        CREATE TABLE indicators_by_change (
            change_id INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            origin TEXT NOT NULL,
            signal_type TEXT NOT NULL,
            value TEXT NOT NULL,
            category TEXT NOT NULL,
            content_type TEXT NOT NULL,
            tlp TEXT NOT NULL,
            quality INTEGER,
            created TEXT NOT NULL,
            modified TEXT NOT NULL,
            valid_until TEXT,
            revoked INTEGER NOT NULL DEFAULT 0,
            entry_seq INTEGER NOT NULL,
            local INTEGER NOT NULL DEFAULT 0
        )
        """
    )
    # The publisher stores its entries with no ``via``; every other entry came from a peer.
    db.execute(
        f"INSERT INTO indicators_by_change ({columns}, local) SELECT {columns},"  # noqa: S608
        " origin IN (SELECT origin FROM entries WHERE via IS NULL) FROM indicators ORDER BY change_id"
    )
    db.execute("DROP TABLE indicators")  # drops its indexes too
    db.execute("ALTER TABLE indicators_by_change RENAME TO indicators")
    db.execute("CREATE INDEX indicators_local_signal ON indicators (signal_type, value) WHERE local = 1")


@migrations()
def m005_ecosystem(db: Database) -> None:
    """TAXII object catalogue, analyst accounts, and unsigned import sources (TAXII, MISP).

    ``taxii_objects`` is derived from ``entries`` (each object of each bundle, as the origin
    signed it) and can be rebuilt. Its rowid is the order objects were catalogued in and
    ``date_added`` never decreases with it, so a cursor over the rowid loses nothing when many
    objects share a timestamp. ``staged_indicators`` holds what an unsigned source sent while
    the operator only observes it; nothing there matches. A source's password or token is
    not kept here but in a 0600 file of the home (``source-secrets/``).
    """
    db.execute(
        """
        CREATE TABLE taxii_objects (
            rowid INTEGER PRIMARY KEY,
            object_id TEXT NOT NULL,
            type TEXT NOT NULL,
            version TEXT NOT NULL,
            origin TEXT NOT NULL,
            seq INTEGER NOT NULL,
            category TEXT,
            tlp TEXT NOT NULL,
            recipients TEXT NOT NULL,
            date_added TEXT NOT NULL,
            object TEXT NOT NULL,
            UNIQUE (object_id, version)
        )
        """
    )
    db.execute("CREATE TABLE taxii_catalogued (origin TEXT PRIMARY KEY, seq INTEGER NOT NULL)")
    db.execute(
        """
        CREATE TABLE analysts (
            name TEXT PRIMARY KEY,
            token_hash TEXT NOT NULL UNIQUE,
            max_tlp TEXT,
            partner TEXT,
            added_at TEXT NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE sources (
            name TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            url TEXT NOT NULL,
            collection TEXT,
            username TEXT,
            trust TEXT NOT NULL,
            category TEXT,
            origin TEXT NOT NULL UNIQUE,
            added_after TEXT,
            added_at TEXT NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE staged_indicators (
            id TEXT PRIMARY KEY,
            source TEXT NOT NULL,
            modified TEXT NOT NULL,
            revoked INTEGER NOT NULL,
            row TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX staged_indicators_source ON staged_indicators (source)")


@migrations()
def m006_analyst(db: Database) -> None:
    """Indexes for analyst queries, the local match log, and the hash-chained audit log.

    Queries filter by signal value, category, origin and publication time over millions of
    rows; without an index each is a full scan (~0.5 s per million rows here). ``created``
    grows with each origin's feed, so the time-ordered indexes append near their end; only the
    value index takes random keys (the price of an interactive exact lookup, see bench/query.py).
    """
    db.execute("CREATE INDEX indicators_value ON indicators (value)")
    db.execute("CREATE INDEX indicators_created ON indicators (created)")
    db.execute("CREATE INDEX indicators_category_created ON indicators (category, created)")
    db.execute("CREATE INDEX indicators_tlp_created ON indicators (tlp, created)")
    # Provenance narrows an indicator's entries by time before searching their payloads; one
    # row per entry (not per indicator), so ingest does not feel it.
    db.execute("CREATE INDEX entries_origin_created ON entries (origin, created, seq)")
    db.execute("CREATE INDEX indicators_origin_created ON indicators (origin, created)")
    # One row per indicator per UTC day it matched locally: cheap to bump, enough for reports.
    db.execute(
        """
        CREATE TABLE match_log (
            indicator_id TEXT NOT NULL,
            day TEXT NOT NULL,
            count INTEGER NOT NULL,
            last_at TEXT NOT NULL,
            PRIMARY KEY (indicator_id, day)
        ) WITHOUT ROWID
        """
    )
    db.execute("CREATE INDEX match_log_day ON match_log (day)")
    db.execute(
        """
        CREATE TABLE audit_log (
            seq INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            details TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            row_hash TEXT NOT NULL,
            signature TEXT
        )
        """
    )
    # Append-only by construction for the node's own code paths; someone editing the file by
    # hand can drop these, which is what the hash chain and signatures are for.
    for event in ("UPDATE", "DELETE"):
        db.execute(
            f"CREATE TRIGGER audit_log_no_{event.lower()} BEFORE {event} ON audit_log"
            " BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
        )


@migrations()
def m008_tls_pins_and_sharing_groups(db: Database) -> None:
    """Each partner's pinned TLS certificate fingerprint, and named sharing groups of partners.

    A member row goes with its partner (``ON DELETE CASCADE``): unpinning a partner takes it out
    of every group, so a later contribution to the group can never address a stale key.
    """
    db.execute("ALTER TABLE partners ADD COLUMN cert_fingerprint TEXT")
    db.execute("CREATE TABLE sharing_groups (name TEXT PRIMARY KEY, added_at TEXT NOT NULL)")
    db.execute(
        """
        CREATE TABLE sharing_group_members (
            group_name TEXT NOT NULL REFERENCES sharing_groups (name) ON DELETE CASCADE,
            partner TEXT NOT NULL REFERENCES partners (name) ON DELETE CASCADE,
            PRIMARY KEY (group_name, partner)
        )
        """
    )


@migrations()
def m009_peer_heads(db: Database) -> None:
    """Origin-signed feed heads as each peer showed them to us, one per (origin, peer).

    Kept as the signed envelopes: a head is evidence (of equivocation when it names another
    digest at a seq we hold, of omission when a peer served less than it showed) and is passed
    along unchanged to our own partners.
    """
    db.execute(
        """
        CREATE TABLE peer_heads (
            origin TEXT NOT NULL,
            peer TEXT NOT NULL,
            seq INTEGER NOT NULL,
            digest TEXT NOT NULL,
            payload_type TEXT NOT NULL,
            payload BLOB NOT NULL,
            signatures TEXT NOT NULL,
            received_at TEXT NOT NULL,
            PRIMARY KEY (origin, peer)
        )
        """
    )


@migrations()
def m011_restore_state(db: Database) -> None:
    """Whether this database was restored from a backup, and which partners have answered since.

    A restored node may be behind its own feed: entries it published after the backup live on
    at partners. Until every partner it pulls from has answered a pull that asked for our own
    origin's entries, publishing would fork the feed (same seq, different entry), so it refuses.
    """
    db.execute(
        """
        CREATE TABLE restore_state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            restored_at TEXT NOT NULL,
            source TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE TABLE restore_confirmations (partner TEXT PRIMARY KEY, at TEXT NOT NULL)")


@migrations()
def m012_opinions_and_partner_policy(db: Database) -> None:
    """Opinions, sightings and match counts, per-partner policy, compromised and rotated keys.

    Opinions are derived from entries like indicators: the author is the entry's origin, and
    a later version (by ``modified``) replaces the earlier one; a revoked one stays as a row so
    that the withdrawal is remembered. Policies and compromise marks are the operator's own
    settings, keyed by the partner's key id so that they follow the key, not a local name.
    """
    db.execute(
        """
        CREATE TABLE opinions (
            origin TEXT NOT NULL,
            indicator_id TEXT NOT NULL,
            id TEXT NOT NULL,
            opinion TEXT NOT NULL,
            explanation TEXT,
            tlp TEXT NOT NULL,
            created TEXT NOT NULL,
            modified TEXT NOT NULL,
            revoked INTEGER NOT NULL DEFAULT 0,
            entry_seq INTEGER NOT NULL,
            PRIMARY KEY (origin, indicator_id)
        ) WITHOUT ROWID
        """
    )
    db.execute("CREATE INDEX opinions_indicator ON opinions (indicator_id)")
    db.execute(
        """
        CREATE TABLE partner_policies (
            key_id TEXT PRIMARY KEY,
            categories TEXT,
            signal_types TEXT,
            trust TEXT NOT NULL DEFAULT 'auto',
            share_sightings INTEGER NOT NULL DEFAULT 0,
            updated_at TEXT NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE compromised_keys (
            key_id TEXT PRIMARY KEY,
            from_seq INTEGER NOT NULL,
            marked_at TEXT NOT NULL
        )
        """
    )
    # Sightings others published (derived from entries) and our own match counts not yet
    # published as sightings (bookkeeping: folded in by the Matcher, emptied by publishing).
    db.execute(
        """
        CREATE TABLE sightings (
            id TEXT NOT NULL,
            origin TEXT NOT NULL,
            indicator_id TEXT NOT NULL,
            count INTEGER NOT NULL,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            created TEXT NOT NULL,
            tlp TEXT NOT NULL,
            entry_seq INTEGER NOT NULL,
            PRIMARY KEY (origin, id)
        )
        """
    )
    db.execute("CREATE INDEX sightings_indicator ON sightings (indicator_id)")
    db.execute(
        """
        CREATE TABLE match_counts (
            indicator_id TEXT PRIMARY KEY,
            count INTEGER NOT NULL,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL
        )
        """
    )
    # Keys that sign for an origin after a rotation entry (the origin's own key signs until its
    # first rotation). Derived from entries, written in the rotation entry's transaction.
    db.execute(
        """
        CREATE TABLE signing_keys (
            key_id TEXT PRIMARY KEY,
            origin TEXT NOT NULL,
            public_key BLOB NOT NULL,
            from_seq INTEGER NOT NULL,
            UNIQUE (origin, from_seq)
        )
        """
    )


@migrations()
def m013_value_prefix_index(db: Database) -> None:
    """Index exact lookups by the value's first 12 characters instead of the whole value.

    Every ingested row inserts a random key into this index. With 64-character PDQ and SHA-256
    values the index outgrew the writer's cache at about a million rows, and it took 45% of a
    first sync's SQLite time (bench/sync.py); the prefix keeps the lookup exact (the query also
    compares the whole value) at a quarter of the entry size.
    """
    db.execute("DROP INDEX IF EXISTS indicators_value")
    # Queries spell the same expression (node/store/codec.py: VALUE_MATCHES) or SQLite ignores it.
    db.execute("CREATE INDEX indicators_value_prefix ON indicators (substr(value, 1, 12))")


@migrations()
def m014_feed_format_2(db: Database) -> None:
    """Feed format 2 (DESIGN §5): a signed header per entry plus a body held apart from it.

    ``payload`` now holds the header bytes. ``body`` is the body as it travels (ciphertext when
    sealed), NULL while it is missing (fetched later from any peer that holds it); ``bundle`` is
    the plaintext of a sealed body this node could open. ``readable`` marks entries whose
    objects were applied. Encryption keys partners confirmed to us (with the signed statement,
    passed on to other partners like heads), content keys granted to us
    for bodies we do not hold yet, and the signed time of each head a peer showed (freshness).
    """
    db.execute("ALTER TABLE entries ADD COLUMN body BLOB")
    db.execute("ALTER TABLE entries ADD COLUMN bundle BLOB")
    db.execute("ALTER TABLE entries ADD COLUMN body_digest TEXT")
    db.execute("ALTER TABLE entries ADD COLUMN body_size INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE entries ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE entries ADD COLUMN readable INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE entries ADD COLUMN missing_rounds INTEGER NOT NULL DEFAULT 0")
    db.execute("CREATE INDEX entries_missing_body ON entries (origin, seq) WHERE body IS NULL")
    db.execute("ALTER TABLE peer_heads ADD COLUMN signed TEXT")
    db.execute(
        """
        CREATE TABLE encryption_keys (
            node TEXT NOT NULL,
            key_id TEXT NOT NULL,
            key BLOB NOT NULL,
            announced TEXT NOT NULL,
            confirmed_at TEXT NOT NULL,
            source TEXT NOT NULL,
            statement_type TEXT,
            statement BLOB,
            statement_signatures TEXT,
            PRIMARY KEY (node, key_id)
        )
        """
    )
    # Which of our own entries were addressed to a sharing group: a partner who joins the
    # group later is granted those bodies (accord group grant).
    db.execute(
        "CREATE TABLE entry_groups (seq INTEGER NOT NULL, name TEXT NOT NULL, PRIMARY KEY (seq, name))"
    )
    db.execute(
        """
        CREATE TABLE granted_keys (
            origin TEXT NOT NULL,
            seq INTEGER NOT NULL,
            content_key BLOB NOT NULL,
            PRIMARY KEY (origin, seq)
        )
        """
    )


@migrations()
def m015_descriptive_recatalogue(db: Database) -> None:
    """Catalogue descriptive objects again, through the rule that an origin owns its own only.

    Before, an origin could catalogue an identity with another origin's id, or a TLP definition
    or Accord's extension definition of its own making, and TAXII readers took it for the real
    one. The catalogue is derived from ``entries``: its descriptive rows are deleted and every
    entry is read again at the next TAXII request (indicator rows are kept, not duplicated).
    """
    db.execute(
        "DELETE FROM taxii_objects WHERE type IN ('identity', 'extension-definition', 'marking-definition')"
    )
    db.execute("DELETE FROM taxii_catalogued")


@migrations()
def m016_refused_calls(db: Database) -> None:
    """Refused partner calls: counted per hour and reason, and a small sample of them kept.

    One row per refused call let an unauthenticated caller grow the database without bound
    (~950 refusals a second, each a synced write). Calls are now counted in memory and added
    here at most once a second; ``refused_call_samples`` keeps a few rows per reason and minute
    for the operator, capped and pruned (node/rpc/refusals.py).
    """
    db.execute(
        """
        CREATE TABLE refused_calls (
            hour TEXT NOT NULL,
            reason TEXT NOT NULL,
            count INTEGER NOT NULL,
            PRIMARY KEY (hour, reason)
        ) WITHOUT ROWID
        """
    )
    db.execute(
        """
        CREATE TABLE refused_call_samples (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            method TEXT NOT NULL,
            peer TEXT NOT NULL,
            reason TEXT NOT NULL,
            message TEXT NOT NULL
        )
        """
    )


@migrations()
def m017_http_accounts(db: Database) -> None:
    """Accounts of the HTTP API (issue 14): a role, a maximum TLP and the SHA-256 of a token.

    The token itself is never stored. Its hash is unique and indexed, so a request costs one
    row lookup whatever the number of accounts.
    """
    db.execute(
        """
        CREATE TABLE http_accounts (
            name TEXT PRIMARY KEY,
            role TEXT NOT NULL,
            max_tlp TEXT NOT NULL,
            token_hash TEXT NOT NULL UNIQUE,
            added_at TEXT NOT NULL
        )
        """
    )


@migrations()
def m020_httpauth_accounts(db: Database) -> None:
    """One account model (issue 14): people with a password, sessions, TAXII analysts folded in.

    ``http_accounts`` is rebuilt so an account may have a token, an argon2 password hash, or
    both; ``max_tlp`` NULL means "follow taxii.analyst_max_tlp" (what a TAXII analyst created
    without --max-tlp always meant); ``partner`` maps an account to a pinned partner (TAXII
    serves it what the Federation API would). Every ``analysts`` row moves over with its token
    hash, so existing TAXII clients keep working; an analyst whose name an HTTP account already
    has becomes ``NAME.taxii`` (logged). ``http_sessions`` holds only a SHA-256 of each session
    id, so logout and account removal end a session at once.
    """
    db.execute(
        """
        CREATE TABLE http_accounts_m020 (
            name TEXT PRIMARY KEY,
            role TEXT NOT NULL,
            max_tlp TEXT,
            token_hash TEXT UNIQUE,
            password_hash TEXT,
            partner TEXT,
            added_at TEXT NOT NULL
        )
        """
    )
    db.execute(
        "INSERT INTO http_accounts_m020 (name, role, max_tlp, token_hash, added_at)"
        " SELECT name, role, max_tlp, token_hash, added_at FROM http_accounts"
    )
    taken = {row[0] for row in db.execute("SELECT name FROM http_accounts_m020")}
    analysts = db.execute("SELECT name, token_hash, max_tlp, partner, added_at FROM analysts ORDER BY name")
    for name, token_hash, max_tlp, partner, added_at in list(analysts):
        moved = name if name not in taken else f"{name[:56]}.taxii"
        if moved != name:
            logging.getLogger(__name__).warning(
                "TAXII analyst %s is now account %s: an HTTP account has its name", name, moved
            )
        # A partner's account reads the HTTP API only within what any pinned partner may see.
        level = "green" if partner is not None else max_tlp
        db.execute(
            "INSERT INTO http_accounts_m020 (name, role, max_tlp, token_hash, partner, added_at)"
            " VALUES (?, 'analyst', ?, ?, ?, ?)",
            (moved, level, token_hash, partner, added_at),
        )
        taken.add(moved)
    db.execute("DROP TABLE http_accounts")
    db.execute("ALTER TABLE http_accounts_m020 RENAME TO http_accounts")
    db.execute("DROP TABLE analysts")
    db.execute(
        """
        CREATE TABLE http_sessions (
            id_hash TEXT PRIMARY KEY,
            account TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX http_sessions_by_account ON http_sessions (account)")


@migrations()
def m019_actions_outbox(db: Database) -> None:
    """Actions (issue 14): webhooks, rules, the calls that acted, and the delivery outbox.

    ``outbox`` rows are written in the same transaction as the ``action_runs`` row that caused
    them, so an accepted delivery is durable before ``act_on`` returns. ``key`` is unique: the
    same content, rule, webhook, decision and indicators enqueue one delivery, not two. Due
    deliveries are found by (state, next_attempt_at).
    """
    db.execute(
        """
        CREATE TABLE webhooks (
            name TEXT PRIMARY KEY,
            url TEXT NOT NULL,
            secret_file TEXT NOT NULL,
            max_tlp TEXT NOT NULL,
            added_at TEXT NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE action_rules (
            name TEXT PRIMARY KEY,
            condition TEXT NOT NULL,
            webhooks TEXT NOT NULL,
            review INTEGER NOT NULL,
            added_at TEXT NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE action_runs (
            id INTEGER PRIMARY KEY,
            content_id TEXT NOT NULL,
            content_url TEXT,
            decision TEXT,
            fired TEXT NOT NULL,
            review INTEGER NOT NULL,
            created TEXT NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,
            run_id INTEGER NOT NULL REFERENCES action_runs (id),
            webhook TEXT NOT NULL,
            rule TEXT NOT NULL,
            content_id TEXT NOT NULL,
            body BLOB NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL,
            created TEXT NOT NULL,
            last_attempt_at TEXT,
            last_status INTEGER,
            last_error TEXT,
            delivered_at TEXT
        )
        """
    )
    db.execute("CREATE INDEX outbox_due ON outbox (state, next_attempt_at)")


# Tables whose rows decide what may match besides the indicators themselves (read by the
# Matcher's in-memory provenance, node/sync/provenance.py), and the counter each one bumps.
SPEED_WATCHED_TABLES = {
    "partners": "provenance",  # display names (per-partner thresholds are keyed by name)
    "sources": "provenance",  # unsigned sources' names and trust
    "partner_policies": "provenance",  # trust and accepted categories / signal types
    "compromised_keys": "provenance",  # compromise marks
    "evidence": "provenance",  # quarantined (equivocating) origins
    "opinions": "opinions",  # agree / dispute tallies
}


@migrations()
def m022_speed_generations(db: Database) -> None:
    """Counters that change whenever a table the Matcher reads besides indicators changes.

    The Matcher serves policies, compromise marks, quarantined origins, names and opinions from
    memory (issue 16: reading them per hit cost ~140 µs). One read of these counters (and of
    the indicators' newest change id) per match tells it whether anything changed, whichever
    process committed the change; triggers keep them exact, so no write path has to remember.
    """
    db.execute("CREATE TABLE speed_generations (kind TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID")
    db.execute("INSERT INTO speed_generations (kind, n) VALUES ('provenance', 0), ('opinions', 0)")
    for table, kind in SPEED_WATCHED_TABLES.items():
        for event in ("INSERT", "UPDATE", "DELETE"):
            db.execute(
                f"CREATE TRIGGER speed_{table}_{event.lower()} AFTER {event} ON {table}"  # noqa: S608 - constants
                f" BEGIN UPDATE speed_generations SET n = n + 1 WHERE kind = '{kind}'; END"
            )


@migrations()
def m022_speed_revoked_pdq(db: Database) -> None:
    """Revoked PDQ rows, indexed on their own (a partial index: only those rows pay for it).

    A near-duplicate query answered through the match lists' PDQ index (which holds only rows
    in force) reads the revoked ones here when its statuses may include them, instead of
    scanning the table as before (node/sync/near.py).
    """
    db.execute(
        "CREATE INDEX indicators_revoked_pdq ON indicators (id, value)"
        " WHERE signal_type = 'pdq' AND revoked = 1"
    )


@migrations()
def m021_provenance_notes(db: Database) -> None:
    """Notes on indicators (issue 15): the origin's description, labels and attestation record,
    as JSON, for the version of the indicator the row names. Kept beside ``indicators`` rather
    than in it: most indicators have none, and the ingest upsert stays as it was."""
    db.execute(
        """
        CREATE TABLE indicator_notes (
            id TEXT PRIMARY KEY,
            modified TEXT NOT NULL,
            category TEXT NOT NULL,
            labels TEXT NOT NULL,
            note TEXT NOT NULL
        ) WITHOUT ROWID
        """
    )


@migrations()
def m018_review_queue(db: Database) -> None:
    """The review queue, its decisions, appeals, the reviewers' safelist and flood holds (issue 14).

    An item stores the caller's content reference (id, optional URL), never media. The query
    signal of each match is kept only to put the content on the local safelist when a reviewer
    asks; it is never returned by the queue's reads. Flood counts are per indicator and minute,
    pruned past the baseline window.
    """
    db.execute(
        """
        CREATE TABLE review_items (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            content_id TEXT NOT NULL,
            content_url TEXT,
            status TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX review_items_content ON review_items (content_id, status)")
    db.execute("CREATE INDEX review_items_status ON review_items (status, created_at)")
    db.execute(
        """
        CREATE TABLE review_matches (
            item_id INTEGER NOT NULL REFERENCES review_items (id),
            indicator_id TEXT NOT NULL,
            origin TEXT NOT NULL,
            origin_name TEXT NOT NULL,
            category TEXT NOT NULL,
            tlp TEXT NOT NULL,
            signal_type TEXT NOT NULL,
            distance INTEGER NOT NULL,
            trust TEXT NOT NULL,
            reasons TEXT NOT NULL,
            query_signal TEXT NOT NULL,
            PRIMARY KEY (item_id, indicator_id)
        ) WITHOUT ROWID
        """
    )
    db.execute("CREATE INDEX review_matches_indicator ON review_matches (indicator_id)")
    db.execute(
        """
        CREATE TABLE review_decisions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            item_id INTEGER NOT NULL REFERENCES review_items (id),
            decision TEXT NOT NULL,
            reason TEXT,
            reviewer TEXT NOT NULL,
            decided_at TEXT NOT NULL,
            opinion_ids TEXT NOT NULL,
            safelisted INTEGER NOT NULL,
            appeal_id INTEGER,
            undone_at TEXT,
            undone_by TEXT
        )
        """
    )
    db.execute("CREATE INDEX review_decisions_item ON review_decisions (item_id)")
    db.execute("CREATE INDEX review_decisions_at ON review_decisions (decided_at)")
    db.execute(
        """
        CREATE TABLE review_appeals (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            content_id TEXT NOT NULL,
            item_id INTEGER NOT NULL REFERENCES review_items (id),
            statement TEXT NOT NULL,
            submitted_by TEXT NOT NULL,
            submitted_at TEXT NOT NULL,
            outcome TEXT NOT NULL,
            decided_by TEXT,
            decided_at TEXT,
            reason TEXT
        )
        """
    )
    db.execute("CREATE INDEX review_appeals_item ON review_appeals (item_id)")
    db.execute(
        """
        CREATE TABLE review_safelist (
            signal TEXT NOT NULL,
            decision_id INTEGER NOT NULL REFERENCES review_decisions (id),
            added_at TEXT NOT NULL,
            PRIMARY KEY (signal, decision_id)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE flood_counts (
            indicator_id TEXT NOT NULL,
            minute INTEGER NOT NULL,
            count INTEGER NOT NULL,
            PRIMARY KEY (indicator_id, minute)
        ) WITHOUT ROWID
        """
    )
    db.execute("CREATE INDEX flood_counts_minute ON flood_counts (minute)")
    db.execute(
        """
        CREATE TABLE flood_holds (
            indicator_id TEXT PRIMARY KEY,
            origin TEXT NOT NULL,
            category TEXT NOT NULL,
            held_at TEXT NOT NULL,
            in_window INTEGER NOT NULL,
            in_baseline INTEGER NOT NULL,
            released_at TEXT,
            released_by TEXT,
            released_minute INTEGER
        )
        """
    )


@migrations()
def m023_ingest_deferred_indexes(db: Database) -> None:
    """Secondary indexes a first sync into an empty node builds after its rows (node/store/bulk.py).

    A definition recorded here is an index dropped for the bulk load and not built yet; the
    Store builds it on open when a crash interrupted the load.
    """
    db.execute(
        "CREATE TABLE ingest_deferred_indexes (name TEXT PRIMARY KEY, sql TEXT NOT NULL) WITHOUT ROWID"
    )


@migrations()
def m023_ingest_entries_rowid(db: Database) -> None:
    """``entries`` as a rowid table with its ``(origin, seq)`` key in a separate index.

    As a WITHOUT ROWID table every row sat in the key's b-tree, bodies of megabytes included,
    and SQLite reads a cell's whole payload (its overflow chain) to compare keys: each lookup
    of an entry by ``(origin, seq)`` read whole bodies, ~20-30 ms per commit's succession check
    at 60,000 indicators, more as the feed grew. The key index now holds only the key; a row's
    body is read only when a query asks for it. Every column, index and trigger carries over.
    """
    old = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'entries'").fetchone()[0]
    if "WITHOUT ROWID" not in old.upper():
        return
    others = [
        row[0]
        for row in db.execute(
            "SELECT sql FROM sqlite_master WHERE tbl_name = 'entries' AND type IN ('index', 'trigger')"
            " AND sql IS NOT NULL"
        ).fetchall()
    ]
    body = old[old.index("(") : old.upper().rindex("WITHOUT ROWID")].rstrip()
    db.execute(f"CREATE TABLE entries_m023 {body}")
    db.execute("INSERT INTO entries_m023 SELECT * FROM entries")
    db.execute("DROP TABLE entries")  # drops its indexes and triggers too
    db.execute("ALTER TABLE entries_m023 RENAME TO entries")
    for sql in others:
        db.execute(sql)


@migrations()
def m024_accounts_lifecycle_login_failures(db: Database) -> None:
    """Failed HTTP logins per account name and per client address (node/http/logins.py), so a
    restart does not hand an attacker fresh guesses: ``kind`` is ``name`` (lowercased) or
    ``address``; ``locked_until`` and ``last`` are wall-clock seconds (Unix time)."""
    db.execute(
        """
        CREATE TABLE http_login_failures (
            kind TEXT NOT NULL,
            key TEXT NOT NULL,
            count INTEGER NOT NULL,
            lockouts INTEGER NOT NULL,
            locked_until REAL NOT NULL,
            last REAL NOT NULL,
            PRIMARY KEY (kind, key)
        ) WITHOUT ROWID
        """
    )


@migrations()
def m025_ingest_named_id_index(db: Database) -> None:
    """``indicators.id`` unique through a named index, ``indicators_id``, instead of a column
    constraint: a first sync can then drop it and build it after its rows, as it does the
    analyst indexes (node/store/bulk.py, node/store/bulk_ids.py). SQLite cannot drop a
    constraint's index, so the table is rebuilt once; every row, index and change id carries over.
    """
    old = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'indicators'").fetchone()[
        0
    ]
    if "id TEXT NOT NULL UNIQUE" not in old:
        return
    count = db.execute("SELECT COUNT(*) FROM indicators").fetchone()[0]
    if count > 100_000:
        logging.getLogger(__name__).warning(
            "upgrading the indicators table once (m025): %d rows, about 20 s per million here", count
        )
    others = [
        row[0]
        for row in db.execute(
            "SELECT sql FROM sqlite_master WHERE tbl_name = 'indicators' AND type IN ('index', 'trigger')"
            " AND sql IS NOT NULL"
        ).fetchall()
    ]
    body = old[old.index("(") :].replace("id TEXT NOT NULL UNIQUE", "id TEXT NOT NULL", 1)
    db.execute(f"CREATE TABLE indicators_m025 {body}")
    db.execute("INSERT INTO indicators_m025 SELECT * FROM indicators")
    db.execute("DROP TABLE indicators")  # drops its indexes and triggers too
    db.execute("ALTER TABLE indicators_m025 RENAME TO indicators")
    db.execute("CREATE UNIQUE INDEX indicators_id ON indicators (id)")
    for sql in others:
        db.execute(sql)
