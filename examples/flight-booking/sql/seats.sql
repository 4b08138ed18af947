-- Bounded context "seats": the seat inventory and reservations, the context's own outbox, and
-- its inbox handler seats.on_event. Owned by the seat service (role flight_seats), which may
-- touch nothing else. Apply after context.sql. Idempotent: safe to run again. Run as a
-- superuser (it creates the role).
-- The schema, its outbox (published to topic seats.events), publish(), follow_up_headers(),
-- the role and its grants on them and on the inbox schema: sql/context.sql.
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

-- Why the seat cannot be reserved, or NULL. Locks the flight row: two reservations on one
-- flight at once (several inbox processes, one per partition) serialise here.
CREATE OR REPLACE FUNCTION seats.reservation_problem(p_flight text, p_departure date, p_seat text)
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
    flight seats.flights%ROWTYPE;
    parts  text[];
BEGIN
    SELECT * INTO flight FROM seats.flights WHERE flight_number = p_flight FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 'unknown flight';
    END IF;
    parts := regexp_match(p_seat, '^([1-9][0-9]*)([A-F])$');
    IF parts IS NULL OR parts[1]::numeric > flight.seat_rows THEN
        RETURN format('no seat %s on this aircraft', p_seat);
    END IF;
    IF (SELECT count(*) FROM seats.reservations r
        WHERE r.flight_number = p_flight AND r.departure_date = p_departure
          AND r.status = 'RESERVED') >= flight.capacity THEN
        RETURN 'flight full';
    END IF;
    IF EXISTS (SELECT 1 FROM seats.blocked_seats b WHERE b.flight_number = p_flight AND b.seat = p_seat)
       OR EXISTS (SELECT 1 FROM seats.reservations r
                  WHERE r.flight_number = p_flight AND r.departure_date = p_departure
                    AND r.seat = p_seat AND r.status = 'RESERVED') THEN
        RETURN 'seat already taken';
    END IF;
    RETURN NULL;
END
$$;

-- The inbox handler of the seats context (inbox-seats.yaml routes these types to it), called by
-- `outbox-relay inbox` inside the transaction that records the event's id and Kafka position,
-- so the reservation and the reply event commit with them, once:
--   NewBookingCreated     -> reserves the seat: SeatReserved, or SeatReservationFailed with the
--                            reason (unknown flight, no such seat, flight full, seat taken)
--   TicketIssuanceFailed  -> releases the seat (compensation): SeatReleased
CREATE OR REPLACE FUNCTION seats.on_event(id uuid, type text, key text, headers jsonb, payload jsonb)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    follow_up  constant jsonb := seats.follow_up_headers(id, headers);
    v_booking  constant text := payload->>'bookingId';
    v_flight   text := payload->>'flightNumber';
    v_date     text := payload->>'departureDate';
    v_seat     text := payload->>'seat';
    v_reason   text;
BEGIN
    CASE type
    WHEN 'NewBookingCreated' THEN
        v_reason := seats.reservation_problem(v_flight, v_date::date, v_seat);
        IF v_reason IS NOT NULL THEN
            PERFORM seats.publish('SeatReservation', v_booking, 'SeatReservationFailed',
                                  jsonb_build_object('bookingId', v_booking, 'flightNumber', v_flight,
                                                     'departureDate', v_date, 'seat', v_seat,
                                                     'reason', v_reason),
                                  follow_up);
            RETURN;
        END IF;
        INSERT INTO seats.reservations (booking_id, flight_number, departure_date, seat, passenger_name, status)
        VALUES (v_booking::uuid, v_flight, v_date::date, v_seat, payload->>'passenger', 'RESERVED');
        PERFORM seats.publish('SeatReservation', v_booking, 'SeatReserved',
                              jsonb_build_object('bookingId', v_booking, 'flightNumber', v_flight,
                                                 'departureDate', v_date, 'seat', v_seat,
                                                 'passenger', payload->>'passenger'),
                              follow_up);
    WHEN 'TicketIssuanceFailed' THEN
        v_reason := coalesce(payload->>'reason', 'ticketing failed');
        UPDATE seats.reservations r
        SET status = 'RELEASED', release_reason = v_reason, released_at = now()
        WHERE r.booking_id = v_booking::uuid AND r.status = 'RESERVED'
        RETURNING r.flight_number, r.departure_date::text, r.seat INTO v_flight, v_date, v_seat;
        IF NOT FOUND THEN
            RAISE LOG 'booking %: no seat held, nothing to release', v_booking;
            RETURN;
        END IF;
        PERFORM seats.publish('SeatReservation', v_booking, 'SeatReleased',
                              jsonb_build_object('bookingId', v_booking, 'flightNumber', v_flight,
                                                 'departureDate', v_date, 'seat', v_seat,
                                                 'reason', v_reason),
                              follow_up);
    ELSE
        -- inbox.handlers routed a type here that the seats context does not react to.
        RAISE EXCEPTION 'seats.on_event: unexpected event type %', type
            USING HINT = 'route only NewBookingCreated and TicketIssuanceFailed here (inbox-seats.yaml)';
    END CASE;
END
$$;

REVOKE ALL ON FUNCTION seats.reservation_problem(text, date, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION seats.on_event(uuid, text, text, jsonb, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION seats.reservation_problem(text, date, text),
                          seats.on_event(uuid, text, text, jsonb, jsonb) TO flight_seats;
