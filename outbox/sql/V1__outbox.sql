-- outbox-relay schema, version 1. Idempotent: safe to run again.
-- A service writes its state change and calls outbox.publish(...) in the same transaction;
-- the relay reads committed rows from logical replication, so nothing here polls or updates rows.
CREATE SCHEMA IF NOT EXISTS outbox;

-- Column names follow Debezium's outbox event router, so a service can switch either way.
CREATE TABLE IF NOT EXISTS outbox.outbox (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    aggregatetype text        NOT NULL,
    aggregateid   text        NOT NULL,
    type          text        NOT NULL,
    payload       jsonb,
    headers       jsonb,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE OR REPLACE FUNCTION outbox.publish(
    aggregate_type text,
    aggregate_id   text,
    event_type     text,
    payload        jsonb,
    headers        jsonb DEFAULT NULL)
RETURNS uuid
LANGUAGE sql
AS $$
    INSERT INTO outbox.outbox (aggregatetype, aggregateid, type, payload, headers)
    VALUES (aggregate_type, aggregate_id, event_type, payload, headers)
    RETURNING id;
$$;

-- Inserts only: rows deleted by a retention job must not turn into events.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'outbox_relay') THEN
        CREATE PUBLICATION outbox_relay FOR TABLE outbox.outbox WITH (publish = 'insert');
    END IF;
END
$$;
