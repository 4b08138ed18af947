-- A least-privilege role for outbox-relay. Optional, not a migration: roles are cluster-wide,
-- and how the relay authenticates (password, certificate, peer) is the DBA's choice.
-- Run as a superuser in the outbox's database, after V1__outbox.sql. Idempotent.
--
-- What the relay needs, and nothing more:
--   REPLICATION  to open a replication connection and create/use its logical slot
--   SELECT       on the outbox table only (USAGE on its schema to reach it)
-- Then give it a password (psql: \password outbox_relay) or another pg_hba.conf method. Its
-- logical replication connections match pg_hba.conf lines by database name, like normal ones
-- (the `replication` keyword there is for physical replication only).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'outbox_relay') THEN
        CREATE ROLE outbox_relay WITH LOGIN REPLICATION;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA outbox TO outbox_relay;
GRANT SELECT ON outbox.outbox TO outbox_relay;
