-- The flight-booking example service's own table. Apply after the outbox migrations (outbox-relay init).
-- Idempotent: safe to run again.
CREATE SCHEMA IF NOT EXISTS booking;

CREATE TABLE IF NOT EXISTS booking.bookings (
    id             uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    flight_number  text        NOT NULL,
    departure_date date        NOT NULL,
    passenger_name text        NOT NULL,
    seat           text        NOT NULL,
    price_cents    integer     NOT NULL CHECK (price_cents > 0),
    currency       text        NOT NULL DEFAULT 'EUR',
    status         text        NOT NULL DEFAULT 'CONFIRMED',
    created_at     timestamptz NOT NULL DEFAULT now()
);
