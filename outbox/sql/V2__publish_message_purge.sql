-- outbox-relay schema, version 2: on top of V1__outbox.sql. Idempotent: safe to run again, and
-- safe on a live V1 outbox that already holds rows.
--   outbox.outbox.created_lsn    where in the WAL each new row was written (replay --from/--to)
--   outbox.publish_message(...)  tableless mode: an event as a transactional logical message
--   outbox.purge(...)            retention: deletes rows the relay has confirmed
-- The publication is unchanged: FOR TABLE outbox.outbox WITH (publish = 'insert').

-- created_lsn, in two statements on purpose. Adding a column with a volatile default such as
-- pg_current_wal_insert_lsn() would rewrite the whole table under an ACCESS EXCLUSIVE lock,
-- computing a value for every existing row. Adding it without a default only changes the
-- catalog (existing rows read NULL: nobody knows where they were written), and SET DEFAULT
-- applies to rows inserted from then on. Each statement still takes a short ACCESS EXCLUSIVE
-- lock, which waits for transactions using the table: on a busy database run this with a
-- lock_timeout and retry.
ALTER TABLE outbox.outbox ADD COLUMN IF NOT EXISTS created_lsn pg_lsn;
ALTER TABLE outbox.outbox ALTER COLUMN created_lsn SET DEFAULT pg_current_wal_insert_lsn();

COMMENT ON COLUMN outbox.outbox.created_lsn IS
    'WAL insert position when the row was inserted (NULL for rows older than V2); used by outbox-relay replay --from/--to';

-- Tableless mode: the event goes into the WAL as a transactional logical decoding message and
-- nowhere else, so it commits or rolls back with the caller's transaction and leaves no row to
-- vacuum or purge (and none to replay). The relay decodes the message content; this JSON layout
-- is its contract, field for field: every value is a JSON string or null, and payload/headers
-- are the jsonb values' text output as strings, the same text the table path would send.
CREATE OR REPLACE FUNCTION outbox.publish_message(
    aggregate_type text,
    aggregate_id   text,
    event_type     text,
    payload        jsonb,
    headers        jsonb DEFAULT NULL,
    prefix         text  DEFAULT 'outbox')
RETURNS uuid
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
    event_id uuid := gen_random_uuid();
BEGIN
    -- The table's NOT NULL columns, so both modes accept the same events.
    IF aggregate_type IS NULL OR aggregate_id IS NULL OR event_type IS NULL THEN
        RAISE EXCEPTION 'outbox.publish_message: aggregate_type, aggregate_id and event_type must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF prefix IS NULL OR prefix = '' THEN
        RAISE EXCEPTION 'outbox.publish_message: prefix must not be empty'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM pg_logical_emit_message(
        true,  -- transactional: decoded inside the caller's transaction, dropped if it aborts
        prefix,
        json_build_object(
            'id',            event_id::text,
            'aggregatetype', aggregate_type,
            'aggregateid',   aggregate_id,
            'type',          event_type,
            'payload',       payload::text,
            'headers',       headers::text)::text);
    RETURN event_id;
END
$$;

-- Retention, safe to schedule (pg_cron) while the relay runs: deletes the rows of outbox_table
-- created more than older_than ago whose inserting transaction the relay has confirmed through
-- slot_name. Returns the number of rows deleted. The deletes are not events: the publication
-- publishes inserts only.
--
-- Why catalog_xmin tells what was delivered: a logical slot's catalog_xmin is the oldest
-- transaction whose catalog snapshot decoding may still need. The server moves it forward only
-- from a running-transactions record in the WAL, and only once the relay's confirmed_flush_lsn
-- has passed that record; the new value is the oldest transaction still running when the
-- record was written. So every transaction older than catalog_xmin had committed (or aborted)
-- before a point the relay has confirmed, and its rows are in Kafka. A row whose transaction
-- the relay has not confirmed has an xmin at or after catalog_xmin and stays, and so does every
-- row committed after it (a later transaction id is never older than catalog_xmin while an
-- earlier one is not). Rows inserted before the slot existed were never going to be sent by
-- it; they are purged like delivered ones once old enough.
--
-- age() compares transaction ids modulo wraparound, which a plain < on xid cannot do.
CREATE OR REPLACE FUNCTION outbox.purge(
    older_than   interval,
    slot_name    name     DEFAULT 'outbox_relay',
    outbox_table regclass DEFAULT 'outbox.outbox')
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
    slot_database name;
    slot_catalog_xmin xid;
    deleted bigint;
BEGIN
    IF older_than IS NULL OR older_than < interval '0' THEN
        RAISE EXCEPTION 'outbox.purge: older_than must be a non-negative interval, not %', older_than
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT s.database, s.catalog_xmin INTO slot_database, slot_catalog_xmin
    FROM pg_replication_slots s
    WHERE s.slot_name = purge.slot_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'outbox.purge: replication slot "%" does not exist', slot_name
            USING ERRCODE = 'undefined_object',
                  HINT = 'pass the relay''s source.slot as slot_name; nothing is deleted without it';
    END IF;
    -- A slot of another database (or a physical slot) says nothing about this outbox.
    IF slot_database IS DISTINCT FROM current_database() OR slot_catalog_xmin IS NULL THEN
        RAISE EXCEPTION 'outbox.purge: replication slot "%" is not a logical slot of database %',
                        slot_name, current_database()
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'pass the slot the relay streams this database''s outbox from (source.slot)';
    END IF;
    EXECUTE format(
        'DELETE FROM %s WHERE created_at < now() - $1 AND age(xmin) > age($2)', outbox_table)
        USING older_than, slot_catalog_xmin;
    GET DIAGNOSTICS deleted = ROW_COUNT;
    RETURN deleted;
END
$$;
