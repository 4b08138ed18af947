-- What every bounded context of the example has, written once: apply this file first, then
-- booking.sql, seats.sql and ticketing.sql, which each call
--     CALL flights_setup.create_bounded_context('<schema>', '<role>');
-- and add their own tables. Idempotent: safe to run again. Run as a superuser (the procedure
-- creates roles). Schema flights_setup holds only this procedure; no service role can reach it.
CREATE SCHEMA IF NOT EXISTS flights_setup;

-- Creates, if missing, in schema context_schema:
--   outbox                the context's outbox: the columns of outbox.outbox
--                         (outbox/sql/V1__outbox.sql), so the relay reads it like any outbox
--                         table (outbox.tables); relay.yaml routes it to topic <schema>.events
--   publish(...)          as outbox.publish(): inserts one event into that outbox, returns its id
--   processed_events      the idempotent consumer's memory: the Kafka `id` header of every event
--                         it acted on, written in the same transaction as the state change and
--                         the outbox row that event caused
--   duplicate_deliveries  redeliveries of an already-processed id, skipped (one row per skip):
--                         evidence, not state
-- and the LOGIN role service_role (roles are cluster-wide: another database of the example may
-- have created it already), with USAGE on the schema and SELECT, INSERT, UPDATE on these tables.
-- The context's own tables get their grants in its file, after it creates them.
CREATE OR REPLACE PROCEDURE flights_setup.create_bounded_context(context_schema name,
                                                                 service_role   name)
LANGUAGE plpgsql
AS $proc$
BEGIN
    EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I', context_schema);

    EXECUTE format($ddl$
        CREATE TABLE IF NOT EXISTS %I.outbox (
            id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
            aggregatetype text        NOT NULL,
            aggregateid   text        NOT NULL,
            type          text        NOT NULL,
            payload       jsonb,
            headers       jsonb,
            created_at    timestamptz NOT NULL DEFAULT now()
        )$ddl$, context_schema);

    EXECUTE format($ddl$
        CREATE OR REPLACE FUNCTION %1$I.publish(
            aggregate_type text,
            aggregate_id   text,
            event_type     text,
            payload        jsonb,
            headers        jsonb DEFAULT NULL)
        RETURNS uuid
        LANGUAGE sql
        AS $fn$
            INSERT INTO %1$I.outbox (aggregatetype, aggregateid, type, payload, headers)
            VALUES (aggregate_type, aggregate_id, event_type, payload, headers)
            RETURNING id;
        $fn$
        $ddl$, context_schema);

    EXECUTE format($ddl$
        CREATE TABLE IF NOT EXISTS %I.processed_events (
            event_id        uuid        PRIMARY KEY,
            event_type      text        NOT NULL,
            topic           text        NOT NULL,
            kafka_partition integer     NOT NULL,
            kafka_offset    bigint      NOT NULL,
            processed_at    timestamptz NOT NULL DEFAULT now()
        )$ddl$, context_schema);

    EXECUTE format($ddl$
        CREATE TABLE IF NOT EXISTS %I.duplicate_deliveries (
            event_id        uuid        NOT NULL,
            event_type      text        NOT NULL,
            topic           text        NOT NULL,
            kafka_partition integer     NOT NULL,
            kafka_offset    bigint      NOT NULL,
            seen_at         timestamptz NOT NULL DEFAULT now()
        )$ddl$, context_schema);

    BEGIN
        EXECUTE format('CREATE ROLE %I LOGIN', service_role);
    EXCEPTION WHEN duplicate_object THEN
        NULL;  -- created by an earlier run, or for another database of the example
    END;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', context_schema, service_role);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE ON %1$I.outbox, %1$I.processed_events, '
                   '%1$I.duplicate_deliveries TO %2$I', context_schema, service_role);
END
$proc$;
