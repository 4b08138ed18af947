-- outbox-relay inbox schema, version 1: the consuming side's half of the outbox pattern, in the
-- consuming service's own database. Idempotent: run it again, or after a partial run.
--   inbox.processed   the ids of the events an inbox applied (its deduplication set)
--   inbox.positions   the next Kafka offset per inbox, topic and partition: where the consumer
--                     resumes, whatever Kafka's own committed offsets say
--   inbox.apply()     one event in the caller's transaction: the id recorded, the handler
--                     called if the id is new (inbox.record_event()), the position moved past
--                     the record (inbox.store_position())
--   inbox.apply_batch() several events of one consumer poll, in order, then each partition's
--                     position once
--   inbox.purge()     retention of old ids
--
-- Applying an event and moving the position commit together, so after a crash at any point
-- the event is either applied with its position stored, or neither: the consumer re-reads it
-- and applies it then. The id set catches the same event delivered twice upstream (an
-- at-least-once relay after a crash), at other offsets.

CREATE SCHEMA IF NOT EXISTS inbox;

CREATE TABLE IF NOT EXISTS inbox.processed (
    inbox_name      text        NOT NULL,
    event_id        text        NOT NULL,
    topic           text        NOT NULL,
    kafka_partition integer     NOT NULL,
    kafka_offset    bigint      NOT NULL,
    applied_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (inbox_name, event_id)
);

-- inbox.purge() deletes by age.
CREATE INDEX IF NOT EXISTS processed_applied_at ON inbox.processed (applied_at);

COMMENT ON TABLE inbox.processed IS
    'Event ids an inbox applied, with the record that carried each: the deduplication set';

CREATE TABLE IF NOT EXISTS inbox.positions (
    inbox_name      text        NOT NULL,
    topic           text        NOT NULL,
    kafka_partition integer     NOT NULL,
    next_offset     bigint      NOT NULL CHECK (next_offset >= 0),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (inbox_name, topic, kafka_partition)
);

COMMENT ON TABLE inbox.positions IS
    'Where each inbox resumes per topic and partition; committed with the effects of the events before it';

-- The event half of applying a record: its id recorded, and the handler called if the id is
-- new; true for a new id, false for an id seen before. A NULL handler records the id only (an
-- event without a handler, or one that went to the dead-letter topic). The handler is called as
-- handler(id, type, key, headers, payload) with literals, so its parameters may be uuid or text,
-- jsonb or json, as the service's functions declare them. A handler that raises aborts the
-- caller's transaction, the recorded id with it.
CREATE OR REPLACE FUNCTION inbox.record_event(
    p_inbox     text,
    p_topic     text,
    p_partition integer,
    p_offset    bigint,
    p_id        text,
    p_type      text,
    p_key       text,
    p_headers   jsonb,
    p_payload   jsonb,
    p_handler   regproc
) RETURNS boolean
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO inbox.processed (inbox_name, event_id, topic, kafka_partition, kafka_offset)
    VALUES (p_inbox, p_id, p_topic, p_partition, p_offset)
    ON CONFLICT (inbox_name, event_id) DO NOTHING;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF p_handler IS NOT NULL THEN
        EXECUTE format('SELECT %s(%L, %L, %L, %L, %L)', p_handler, p_id, p_type, p_key, p_headers, p_payload);
    END IF;
    RETURN true;
END
$$;

-- The position half: the inbox resumes at p_next_offset of the partition. Never backwards: a
-- record read again after a rebalance must not rewind it.
CREATE OR REPLACE FUNCTION inbox.store_position(p_inbox text, p_topic text, p_partition integer,
                                                p_next_offset bigint) RETURNS void
LANGUAGE sql
AS $$
    INSERT INTO inbox.positions (inbox_name, topic, kafka_partition, next_offset)
    VALUES (p_inbox, p_topic, p_partition, p_next_offset)
    ON CONFLICT (inbox_name, topic, kafka_partition) DO UPDATE
        SET next_offset = greatest(inbox.positions.next_offset, excluded.next_offset),
            updated_at = now();
$$;

-- Applies one Kafka record of inbox p_inbox in the caller's transaction: inbox.record_event(),
-- then the position moved past the record. True for a new id, false for an id seen before. A
-- handler that raises aborts the transaction: neither the id nor the position is stored, and
-- the record is read again.
CREATE OR REPLACE FUNCTION inbox.apply(
    p_inbox     text,
    p_topic     text,
    p_partition integer,
    p_offset    bigint,
    p_id        text,
    p_type      text,
    p_key       text,
    p_headers   jsonb,
    p_payload   jsonb,
    p_handler   regproc
) RETURNS boolean
LANGUAGE plpgsql
AS $$
DECLARE
    fresh constant boolean := inbox.record_event(p_inbox, p_topic, p_partition, p_offset, p_id, p_type, p_key,
                                                 p_headers, p_payload, p_handler);
BEGIN
    PERFORM inbox.store_position(p_inbox, p_topic, p_partition, p_offset + 1);
    RETURN fresh;
END
$$;

COMMENT ON FUNCTION inbox.apply(text, text, integer, bigint, text, text, text, jsonb, jsonb, regproc) IS
    'One event of an inbox, in the caller''s transaction: deduplicate, call the handler, store the position';

-- Applies the records of p_records (a JSON array of objects with topic, partition, offset, id,
-- type, key, headers, payload and handler, the handler's name or null) in array order, in the
-- caller's transaction: one round trip for a batch. Each record through inbox.record_event(),
-- then each partition's position once, past its last record: updating the same positions row
-- once per record would leave as many row versions in the transaction, each later update
-- walking them all. Returns how many had a new id and a handler (applied) and how many ids were
-- seen before (duplicates).
CREATE OR REPLACE FUNCTION inbox.apply_batch(p_inbox text, p_records jsonb, OUT applied integer,
                                             OUT duplicates integer)
LANGUAGE plpgsql
AS $$
DECLARE
    r jsonb;
BEGIN
    applied := 0;
    duplicates := 0;
    FOR r IN SELECT e.value FROM jsonb_array_elements(p_records) WITH ORDINALITY AS e(value, n) ORDER BY e.n LOOP
        IF inbox.record_event(p_inbox, r->>'topic', (r->>'partition')::integer, (r->>'offset')::bigint, r->>'id',
                              r->>'type', r->>'key', r->'headers', r->'payload', (r->>'handler')::regproc) THEN
            IF r->>'handler' IS NOT NULL THEN
                applied := applied + 1;
            END IF;
        ELSE
            duplicates := duplicates + 1;
        END IF;
    END LOOP;
    PERFORM inbox.store_position(p_inbox, e->>'topic', (e->>'partition')::integer, max((e->>'offset')::bigint) + 1)
    FROM jsonb_array_elements(p_records) AS e
    GROUP BY e->>'topic', (e->>'partition')::integer;
END
$$;

COMMENT ON FUNCTION inbox.apply_batch(text, jsonb) IS
    'The records of one consumer batch, in order, each through inbox.record_event(), then each partition''s position';

-- Deletes up to p_batch ids of inbox p_inbox applied longer than p_older_than ago; returns how
-- many. Keep ids for longer than any redelivery can lag (an upstream relay's replay, a consumer
-- group reset): a deleted id is applied again if its event comes back.
CREATE OR REPLACE FUNCTION inbox.purge(p_inbox text, p_older_than interval, p_batch integer DEFAULT 10000)
RETURNS bigint
LANGUAGE sql
AS $$
    WITH doomed AS (
        SELECT inbox_name, event_id FROM inbox.processed
        WHERE inbox_name = p_inbox AND applied_at < now() - p_older_than
        LIMIT p_batch
    )
    , deleted AS (
        DELETE FROM inbox.processed p USING doomed d
        WHERE p.inbox_name = d.inbox_name AND p.event_id = d.event_id
        RETURNING 1
    )
    SELECT count(*) FROM deleted;
$$;
