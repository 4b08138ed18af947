-- Bounded context "ticketing": issued tickets, the context's own outbox, and what its consumer
-- has processed. Owned by the ticketing service (role flight_ticketing), which may touch nothing
-- else. Apply after context.sql. Idempotent: safe to run again. Run as a superuser (it creates
-- the role).
-- The schema, its outbox (published to topic ticketing.events), publish(), processed_events,
-- duplicate_deliveries, the role and its grants on them: sql/context.sql.
CALL flights_setup.create_bounded_context('ticketing', 'flight_ticketing');

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

GRANT SELECT, INSERT, UPDATE ON ticketing.denied_passengers, ticketing.tickets
    TO flight_ticketing;
GRANT USAGE ON SEQUENCE ticketing.ticket_serial TO flight_ticketing;
