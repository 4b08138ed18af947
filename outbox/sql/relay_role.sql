-- A least-privilege role for outbox-relay. Optional, not a migration: roles are cluster-wide,
-- and how the relay authenticates (password, certificate, peer) is the DBA's choice.
-- Run as a superuser in the outbox's database, after the migrations (V1__outbox.sql,
-- V2__publish_message_purge.sql, V3__relay_slots.sql). Idempotent.
--
-- What the relay needs, and nothing more:
--   REPLICATION  to open a replication connection and create/use its logical slot
--   CONNECT      on this database, for that connection and for the heartbeat / WAL guard
--                session (PUBLIC has it by default; granted here for databases that revoked it)
--   SELECT       on the outbox table only (USAGE on its schema to reach it): `outbox-relay
--                check` and `outbox-relay replay` read it (streaming itself does not)
-- Nothing for the heartbeat: it calls pg_logical_emit_message(true, ...), which PostgreSQL 15
-- lets any role execute (PUBLIC holds EXECUTE on it by default and the function checks no
-- privilege), and reads pg_replication_slots, a view every role may read.
--   SELECT, INSERT on outbox.relay_slots only: the relay records there the slot it creates, so
--                that after a failover it tells a lost slot from one never made (without it,
--                the relay warns that this protection is off)
-- No other INSERT, no UPDATE or DELETE anywhere, and nothing on outbox.publish*/outbox.purge:
-- services and the retention job run those as their own roles.
-- Then give it a password (psql: \password outbox_relay) or another pg_hba.conf method. Its
-- logical replication connections match pg_hba.conf lines by database name, like normal ones
-- (the `replication` keyword there is for physical replication only).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'outbox_relay') THEN
        CREATE ROLE outbox_relay WITH LOGIN REPLICATION;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO outbox_relay', current_database());
END
$$;

GRANT USAGE ON SCHEMA outbox TO outbox_relay;
GRANT SELECT ON outbox.outbox TO outbox_relay;
GRANT SELECT, INSERT ON outbox.relay_slots TO outbox_relay;
