-- Bounded context "booking": the bookings, the context's own outbox, and what its consumer has
-- processed. Owned by the booking service (role flight_booking), which may touch nothing else.
-- Apply after context.sql. Idempotent: safe to run again. Run as a superuser (it creates the
-- role).
-- The schema, its outbox (published to topic booking.events), publish(), processed_events,
-- duplicate_deliveries, the role and its grants on them: sql/context.sql.
CALL flights_setup.create_bounded_context('booking', 'flight_booking');

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

GRANT SELECT, INSERT, UPDATE ON booking.bookings TO flight_booking;
