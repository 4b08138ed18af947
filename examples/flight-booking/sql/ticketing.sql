-- Bounded context "ticketing": issued tickets, the context's own outbox, and what its consumer
-- has processed. Owned by the ticketing service (role flight_ticketing), which may touch nothing
-- else. Idempotent: safe to run again. Run as a superuser (it creates the role).
CREATE SCHEMA IF NOT EXISTS ticketing;

-- Passengers ticketing must refuse (a screening list): their bookings fail at ticketing, after
-- the seat was reserved, so the seat service releases the seat again. Decided by the request
-- alone.
CREATE TABLE IF NOT EXISTS ticketing.denied_passengers (
    passenger_name text PRIMARY KEY,
    reason         text NOT NULL
);
INSERT INTO ticketing.denied_passengers (passenger_name, reason) VALUES
    ('Frank Abagnale', 'passenger failed security screening'),
    ('Carmen Sandiego', 'passenger failed security screening')
ON CONFLICT (passenger_name) DO NOTHING;

CREATE SEQUENCE IF NOT EXISTS ticketing.ticket_serial;

-- One ticket per booking: also a business-level guard on top of the processed-events check.
CREATE TABLE IF NOT EXISTS ticketing.tickets (
    ticket_number  text        PRIMARY KEY,
    booking_id     uuid        NOT NULL UNIQUE,
    flight_number  text        NOT NULL,
    departure_date date        NOT NULL,
    seat           text        NOT NULL,
    passenger_name text        NOT NULL,
    issued_at      timestamptz NOT NULL DEFAULT now()
);

-- The context's outbox: the columns of outbox.outbox (outbox/sql/V1__outbox.sql), so the relay
-- reads it like any outbox table (outbox.tables). Published to topic ticketing.events.
CREATE TABLE IF NOT EXISTS ticketing.outbox (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    aggregatetype text        NOT NULL,
    aggregateid   text        NOT NULL,
    type          text        NOT NULL,
    payload       jsonb,
    headers       jsonb,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE OR REPLACE FUNCTION ticketing.publish(
    aggregate_type text,
    aggregate_id   text,
    event_type     text,
    payload        jsonb,
    headers        jsonb DEFAULT NULL)
RETURNS uuid
LANGUAGE sql
AS $$
    INSERT INTO ticketing.outbox (aggregatetype, aggregateid, type, payload, headers)
    VALUES (aggregate_type, aggregate_id, event_type, payload, headers)
    RETURNING id;
$$;

-- The idempotent consumer's memory: the Kafka `id` header of every event it acted on, written
-- in the same transaction as the state change and the outbox row that event caused.
CREATE TABLE IF NOT EXISTS ticketing.processed_events (
    event_id        uuid        PRIMARY KEY,
    event_type      text        NOT NULL,
    topic           text        NOT NULL,
    kafka_partition integer     NOT NULL,
    kafka_offset    bigint      NOT NULL,
    processed_at    timestamptz NOT NULL DEFAULT now()
);

-- Redeliveries of an already-processed id, skipped (one row per skip): evidence, not state.
CREATE TABLE IF NOT EXISTS ticketing.duplicate_deliveries (
    event_id        uuid        NOT NULL,
    event_type      text        NOT NULL,
    topic           text        NOT NULL,
    kafka_partition integer     NOT NULL,
    kafka_offset    bigint      NOT NULL,
    seen_at         timestamptz NOT NULL DEFAULT now()
);

DO $$
BEGIN
    CREATE ROLE flight_ticketing LOGIN;
EXCEPTION WHEN duplicate_object THEN
    NULL;  -- roles are cluster-wide: another database of the example created it already
END
$$;
GRANT USAGE ON SCHEMA ticketing TO flight_ticketing;
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA ticketing TO flight_ticketing;
GRANT USAGE ON SEQUENCE ticketing.ticket_serial TO flight_ticketing;
