#!/usr/bin/env bash
# Prepares the benchmark workload on a PostgreSQL 15 with wal_level=logical (e.g. the test
# harness: tests/harness/harness.sh start DIR; set -a; . DIR/env; set +a):
#
#   bench/debezium/prepare-workload.sh DB [ROWS] [SLOT] [ROWS_PER_TXN]
#
# drops and creates database DB, applies outbox/sql/V1__outbox.sql and V2, creates the pgoutput
# slot SLOT (default dbz_bench) BEFORE any row exists, then inserts ROWS (default 100000) outbox
# rows in transactions of ROWS_PER_TXN (default 1000): aggregatetype 'Order', 1000 distinct
# aggregate ids, a ~220-byte jsonb payload. Connection from the usual PG* variables.
# Any slot named SLOT in DB is dropped with the database; one in another database is an error.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly SQL_DIR="$SCRIPT_DIR/../../outbox/sql"

db="${1:?usage: prepare-workload.sh DB [ROWS] [SLOT] [ROWS_PER_TXN]}"
rows="${2:-100000}"
slot="${3:-dbz_bench}"
per_txn="${4:-1000}"
[[ "$rows" =~ ^[0-9]+$ && "$per_txn" =~ ^[1-9][0-9]*$ ]] || { echo "ROWS and ROWS_PER_TXN must be integers" >&2; exit 2; }

psql_admin() { psql -X -q -v ON_ERROR_STOP=1 -d postgres "$@"; }
psql_db() { psql -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"; }

# A slot pins its database: drop ours first (inactive only; an active one means a run is going).
psql_admin -At -v slot="$slot" -v db="$db" >/dev/null <<'SQL'
SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
 WHERE slot_name = :'slot' AND database = :'db' AND NOT active;
SQL
psql_admin -v db="$db" <<'SQL'
SET client_min_messages = warning;
DROP DATABASE IF EXISTS :"db";
CREATE DATABASE :"db";
SQL

psql_db -f "$SQL_DIR/V1__outbox.sql" -f "$SQL_DIR/V2__publish_message_purge.sql"
psql_db -At -v slot="$slot" <<'SQL'
SELECT 'created slot ' || slot_name || ' at ' || lsn FROM pg_create_logical_replication_slot(:'slot', 'pgoutput');
SQL

start=$(date +%s%N)
batch_start=1
while (( batch_start <= rows )); do
  batch_end=$(( batch_start + per_txn - 1 ))
  (( batch_end > rows )) && batch_end=$rows
  printf "INSERT INTO outbox.outbox (aggregatetype, aggregateid, type, payload)
SELECT 'Order', 'order-' || (g %% 1000), 'OrderCreated', jsonb_build_object('seq', g, 'pad', repeat('x', 200))
FROM generate_series(%d, %d) g;\n" "$batch_start" "$batch_end"
  batch_start=$(( batch_end + 1 ))
done | psql_db
end=$(date +%s%N)
printf 'inserted %s rows into %s.outbox.outbox in transactions of %s (%.1f s)\n' \
  "$(psql_db -Atc 'SELECT count(*) FROM outbox.outbox')" "$db" "$per_txn" "$(( (end - start) / 1000000 ))e-3" >&2
