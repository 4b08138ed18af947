-- A least-privilege role for the inbox consumer (`outbox-relay inbox`). Optional, not a
-- migration: roles are cluster-wide. Run as a superuser in the consuming service's database,
-- after V1__inbox.sql. Idempotent.
--
-- What the consumer needs, and nothing more:
--   CONNECT             on this database
--   USAGE on inbox      to reach its tables and functions (inbox.apply_batch() and what it calls)
--   SELECT              on inbox.positions: where to resume after start and every rebalance
--   SELECT, INSERT      on inbox.processed: the id of each applied event (INSERT ... ON CONFLICT
--                       needs SELECT on the conflict's columns to find a duplicate)
--   INSERT, UPDATE      on inbox.positions: the position, moved with each event
-- No DELETE: inbox.purge() is the retention job's, run as its own role. No REPLICATION.
-- inbox.apply() runs the handler with the consumer's privileges: grant this role EXECUTE on
-- each handler function and what the handler writes, or make the handler SECURITY DEFINER
-- (owned by the service's role) and grant EXECUTE on it only.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'outbox_inbox') THEN
        CREATE ROLE outbox_inbox WITH LOGIN;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO outbox_inbox', current_database());
END
$$;

GRANT USAGE ON SCHEMA inbox TO outbox_inbox;
GRANT SELECT, INSERT, UPDATE ON inbox.positions TO outbox_inbox;
GRANT SELECT, INSERT ON inbox.processed TO outbox_inbox;
GRANT EXECUTE ON FUNCTION inbox.apply(text, text, integer, bigint, text, text, text, jsonb, jsonb, regproc)
    TO outbox_inbox;
GRANT EXECUTE ON FUNCTION inbox.apply_batch(text, jsonb) TO outbox_inbox;
GRANT EXECUTE ON FUNCTION inbox.record_event(text, text, integer, bigint, text, text, text, jsonb, jsonb, regproc)
    TO outbox_inbox;
GRANT EXECUTE ON FUNCTION inbox.store_position(text, text, integer, bigint) TO outbox_inbox;
