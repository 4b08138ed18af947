-- Bounded context "booking": the bookings, the context's own outbox, and what its consumer has
-- processed. Owned by the booking service (role flight_booking), which may touch nothing else.
-- Idempotent: safe to run again. Run as a superuser (it creates the role).
CREATE SCHEMA IF NOT EXISTS booking;

CREATE TABLE IF NOT EXISTS booking.bookings (
    id             uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    flight_number  text        NOT NULL,
    departure_date date        NOT NULL,
    passenger_name text        NOT NULL,
    seat           text        NOT NULL,
    price_cents    integer     NOT NULL CHECK (price_cents > 0),
    currency       text        NOT NULL DEFAULT 'EUR',
    status         text        NOT NULL DEFAULT 'PENDING'
                               CHECK (status IN ('PENDING', 'CONFIRMED', 'CANCELLED')),
    ticket_number  text,       -- set when CONFIRMED
    cancel_reason  text,       -- set when CANCELLED
    trace_id       text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- The context's outbox: the columns of outbox.outbox (outbox/sql/V1__outbox.sql), so the relay
-- reads it like any outbox table (outbox.tables). Published to topic booking.events.
CREATE TABLE IF NOT EXISTS booking.outbox (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    aggregatetype text        NOT NULL,
    aggregateid   text        NOT NULL,
    type          text        NOT NULL,
    payload       jsonb,
    headers       jsonb,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE OR REPLACE FUNCTION booking.publish(
    aggregate_type text,
    aggregate_id   text,
    event_type     text,
    payload        jsonb,
    headers        jsonb DEFAULT NULL)
RETURNS uuid
LANGUAGE sql
AS $$
    INSERT INTO booking.outbox (aggregatetype, aggregateid, type, payload, headers)
    VALUES (aggregate_type, aggregate_id, event_type, payload, headers)
    RETURNING id;
$$;

-- The idempotent consumer's memory: the Kafka `id` header of every event it acted on, written
-- in the same transaction as the state change and the outbox row that event caused.
CREATE TABLE IF NOT EXISTS booking.processed_events (
    event_id        uuid        PRIMARY KEY,
    event_type      text        NOT NULL,
    topic           text        NOT NULL,
    kafka_partition integer     NOT NULL,
    kafka_offset    bigint      NOT NULL,
    processed_at    timestamptz NOT NULL DEFAULT now()
);

-- Redeliveries of an already-processed id, skipped (one row per skip): evidence, not state.
CREATE TABLE IF NOT EXISTS booking.duplicate_deliveries (
    event_id        uuid        NOT NULL,
    event_type      text        NOT NULL,
    topic           text        NOT NULL,
    kafka_partition integer     NOT NULL,
    kafka_offset    bigint      NOT NULL,
    seen_at         timestamptz NOT NULL DEFAULT now()
);

DO $$
BEGIN
    CREATE ROLE flight_booking LOGIN;
EXCEPTION WHEN duplicate_object THEN
    NULL;  -- roles are cluster-wide: another database of the example created it already
END
$$;
GRANT USAGE ON SCHEMA booking TO flight_booking;
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA booking TO flight_booking;
