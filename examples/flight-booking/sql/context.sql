-- What every bounded context of the example has, written once. Apply the inbox schema first
-- (`outbox-relay init --inbox`, or inbox/sql/V1__inbox.sql), then this file, then booking.sql,
-- seats.sql and ticketing.sql, which each call
--     CALL flights_setup.create_bounded_context('<schema>', '<role>');
-- and add their own tables and their inbox handler. Idempotent: safe to run again. Run as a
-- superuser (the procedure creates roles). Schema flights_setup holds only this procedure; no
-- service role can reach it.
CREATE SCHEMA IF NOT EXISTS flights_setup;

-- Creates, if missing, in schema context_schema:
--   outbox        the context's outbox: the columns of outbox.outbox (outbox/sql/V1__outbox.sql),
--                 so the relay reads it like any outbox table (outbox.tables); relay.yaml routes
--                 it to topic <schema>.events
--   publish(...)  as outbox.publish(): inserts one event into that outbox, returns its id
--   follow_up_headers(id, headers)
--                 the headers of an event the handler publishes in reaction to event `id`:
--                 the same trace_id, and `id` as causation_id
-- and the LOGIN role service_role (roles are cluster-wide: another database of the example may
-- have created it already), with USAGE on the schema and SELECT, INSERT, UPDATE on the outbox.
-- The role is also what the context's `outbox-relay inbox` connects as (inbox-<schema>.yaml):
-- it gets what inbox/sql/inbox_role.sql grants outbox_inbox, on the one inbox schema of the
-- database, where the contexts' rows are kept apart by inbox.name. The inbox calls the
-- context's handler with this role's privileges, so the handler reaches the context's own
-- schema only. The context's own tables and its handler get their grants in its file.
CREATE OR REPLACE PROCEDURE flights_setup.create_bounded_context(context_schema name,
                                                                 service_role   name)
LANGUAGE plpgsql
AS $proc$
BEGIN
    IF to_regproc('inbox.apply_batch') IS NULL THEN
        RAISE EXCEPTION 'the database has no inbox schema'
            USING HINT = 'run outbox-relay init --inbox, or apply inbox/sql/V1__inbox.sql, first';
    END IF;

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
        CREATE OR REPLACE FUNCTION %1$I.follow_up_headers(cause_id uuid, cause_headers jsonb)
        RETURNS jsonb
        LANGUAGE sql
        IMMUTABLE
        AS $fn$
            SELECT jsonb_strip_nulls(jsonb_build_object(
                'causation_id', cause_id::text,
                'trace_id', nullif(cause_headers->>'trace_id', '')));
        $fn$
        $ddl$, context_schema);

    BEGIN
        EXECUTE format('CREATE ROLE %I LOGIN', service_role);
    EXCEPTION WHEN duplicate_object THEN
        NULL;  -- created by an earlier run, or for another database of the example
    END;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', context_schema, service_role);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE ON %I.outbox TO %I', context_schema, service_role);

    -- The inbox's tables and functions (inbox/sql/inbox_role.sql, for this role).
    EXECUTE format('GRANT USAGE ON SCHEMA inbox TO %I', service_role);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE ON inbox.positions TO %I', service_role);
    EXECUTE format('GRANT SELECT, INSERT ON inbox.processed TO %I', service_role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION inbox.apply(text, text, integer, bigint, text, text, text, '
                   'jsonb, jsonb, regproc), inbox.apply_batch(text, jsonb) TO %I', service_role);
END
$proc$;
