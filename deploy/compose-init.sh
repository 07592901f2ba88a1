#!/bin/sh
# One-shot setup for deploy/compose.yaml: create the three node homes and pin their keys
# (and, for the partners a node pulls from, their TLS certificate fingerprints).
#
# Runs in a throwaway container (as root) with each node's volume mounted under $HOMES_DIR.
# Safe to run again: existing homes and pins are kept. The pins mirror deploy/federation.py:
#   hub      pulls ngo (key + endpoint), knows platform by key (so platform may call it)
#   platform pulls hub (key + endpoint), pins ngo by key only: ngo's entries arrive relayed
#            by the hub, and the platform verifies ngo's own signature on them
#   ngo      knows hub and platform by key (they may call it)
#
# Settings (environment):
#   HOMES_DIR     where the homes are mounted             (default /homes)
#   PARTNER_PORT  the port every node serves partners on  (default 7700)
#   DATA_OWNER    uid:gid to hand the homes to afterwards (default: leave as is)
#   ACCORD        the accord command                      (default accord)
set -eu

HOMES_DIR="${HOMES_DIR:-/homes}"
PARTNER_PORT="${PARTNER_PORT:-7700}"
DATA_OWNER="${DATA_OWNER:-}"
ACCORD="${ACCORD:-accord}"

# create_home NODE: `accord init` unless the home already holds an identity.
create_home() {
    if "$ACCORD" --home "$HOMES_DIR/$1" identity >/dev/null 2>&1; then
        echo "$1: home exists, kept"
    else
        "$ACCORD" --home "$HOMES_DIR/$1" init --name "$1"
    fi
}

# card NODE FIELD: a field of `accord identity --json` (public_key, tls_fingerprint).
card() {
    "$ACCORD" --home "$HOMES_DIR/$1" identity --json |
        python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"
}

# is_pinned NODE PARTNER: whether NODE has a partner of that name already.
is_pinned() {
    "$ACCORD" --home "$HOMES_DIR/$1" partner list --json |
        python3 -c 'import json, sys; sys.exit(sys.argv[1] not in {p["name"] for p in json.load(sys.stdin)})' "$2"
}

# pin NODE PARTNER [pull]: pin PARTNER's key at NODE; with "pull", also its endpoint and its TLS
# certificate (the partner API serves TLS on the container network).
pin() {
    if is_pinned "$1" "$2"; then
        echo "$1: $2 already pinned, kept"
        return 0
    fi
    if [ "${3:-}" = pull ]; then
        "$ACCORD" --home "$HOMES_DIR/$1" partner add "$2" --key "$(card "$2" public_key)" \
            --endpoint "$2:$PARTNER_PORT" --cert-fingerprint "$(card "$2" tls_fingerprint)"
    else
        "$ACCORD" --home "$HOMES_DIR/$1" partner add "$2" --key "$(card "$2" public_key)"
    fi
}

for node in ngo hub platform; do
    create_home "$node"
done

pin hub ngo pull
pin hub platform
pin platform hub pull
pin platform ngo
pin ngo hub
pin ngo platform

if [ -n "$DATA_OWNER" ]; then
    for node in ngo hub platform; do
        chown -R "$DATA_OWNER" "$HOMES_DIR/$node"
    done
fi
echo "federation homes ready in $HOMES_DIR"
