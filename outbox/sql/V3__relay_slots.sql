-- outbox-relay schema, version 3: on top of V2__publish_message_purge.sql, or alone. Idempotent.
--   outbox.relay_slots   one row per replication slot a relay created for this database
--
-- A logical replication slot lives outside the WAL of ordinary tables: before PostgreSQL 17's
-- failover slots, a promoted standby has none, and a relay that simply created a new one would
-- start at "now", silently skipping every event committed since its last acknowledgement. This
-- table is replicated like any other, so after a failover it still says the slot existed; the
-- relay then refuses to create the slot and `outbox-relay init --recreate-slot` is the
-- operator's explicit decision to start over (docs/operations.md).

-- Its own schema too, so that a service with an outbox table of its own (which needs neither
-- V1 nor V2) can apply this file alone.
CREATE SCHEMA IF NOT EXISTS outbox;

CREATE TABLE IF NOT EXISTS outbox.relay_slots (
    slot_name    text        PRIMARY KEY,
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_lsn  pg_lsn      NOT NULL,
    -- Set by `init --recreate-slot`: the slot was made anew knowingly, at created_lsn.
    recreated_at timestamptz
);

COMMENT ON TABLE outbox.relay_slots IS
    'Replication slots outbox-relay created here: evidence that a missing slot was lost, not never made';
