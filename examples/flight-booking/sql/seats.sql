-- Bounded context "seats": the seat inventory and reservations, the context's own outbox, and
-- what its consumer has processed. Owned by the seat service (role flight_seats), which may
-- touch nothing else. Apply after context.sql. Idempotent: safe to run again. Run as a
-- superuser (it creates the role).
-- The schema, its outbox (published to topic seats.events), publish(), processed_events,
-- duplicate_deliveries, the role and its grants on them: sql/context.sql.
CALL flights_setup.create_bounded_context('seats', 'flight_seats');

-- The inventory. A seat is row number + letter A-F, rows 1..seat_rows. A reservation fails when
-- the flight is unknown, the seat is not on the aircraft, the flight is full (capacity reached:
-- 'XQ 13' is a charter sold out to a tour operator, capacity 0), or the seat is taken (reserved
-- by another booking, or blocked: row 1 of every flight is sold through a partner airline).
-- Failures are therefore decided by the request alone, whatever order events arrive in.
CREATE TABLE IF NOT EXISTS seats.flights (
    flight_number text    PRIMARY KEY,
    seat_rows     integer NOT NULL CHECK (seat_rows > 0),
    capacity      integer NOT NULL CHECK (capacity >= 0)
);
INSERT INTO seats.flights (flight_number, seat_rows, capacity) VALUES
    ('LH 400', 30, 180), ('AF 1234', 30, 180), ('BA 117', 30, 180), ('KL 1002', 30, 180),
    ('IB 3170', 30, 180), ('SK 1415', 30, 180), ('LX 318', 30, 180), ('OS 121', 30, 180),
    ('XQ 13', 30, 0)
ON CONFLICT (flight_number) DO NOTHING;

CREATE TABLE IF NOT EXISTS seats.blocked_seats (
    flight_number text NOT NULL REFERENCES seats.flights,
    seat          text NOT NULL,
    PRIMARY KEY (flight_number, seat)
);
INSERT INTO seats.blocked_seats (flight_number, seat)
SELECT flight_number, '1' || letter
FROM seats.flights, unnest(ARRAY['A', 'B', 'C', 'D', 'E', 'F']) AS letter
ON CONFLICT DO NOTHING;

-- One reservation per booking; RELEASED when ticketing failed (the compensating step).
CREATE TABLE IF NOT EXISTS seats.reservations (
    booking_id     uuid        PRIMARY KEY,
    flight_number  text        NOT NULL REFERENCES seats.flights,
    departure_date date        NOT NULL,
    seat           text        NOT NULL,
    passenger_name text        NOT NULL,
    status         text        NOT NULL CHECK (status IN ('RESERVED', 'RELEASED')),
    release_reason text,
    reserved_at    timestamptz NOT NULL DEFAULT now(),
    released_at    timestamptz
);
-- A seat is held by at most one booking at a time.
CREATE UNIQUE INDEX IF NOT EXISTS reservations_one_holder
    ON seats.reservations (flight_number, departure_date, seat) WHERE status = 'RESERVED';

GRANT SELECT, INSERT, UPDATE ON seats.flights, seats.blocked_seats, seats.reservations
    TO flight_seats;
