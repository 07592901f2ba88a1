"""Use cases: publish, ingest (THE trust boundary), pull, match queries, status, export."""
