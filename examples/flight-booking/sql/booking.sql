-- Bounded context "booking": the bookings, the context's own outbox, and its inbox handler
-- booking.on_event. Owned by the booking service (role flight_booking), which may touch nothing
-- else. Apply after context.sql. Idempotent: safe to run again. Run as a superuser (it creates
-- the role).
-- The schema, its outbox (published to topic booking.events), publish(), follow_up_headers(),
-- the role and its grants on them and on the inbox schema: sql/context.sql.
CALL flights_setup.create_bounded_context('booking', 'flight_booking');

-- services/booking.py inserts the PENDING bookings, each with its NewBookingCreated in the same
-- transaction; booking.on_event takes them to CONFIRMED or CANCELLED.
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

-- PENDING -> new_status, and its event (BookingConfirmed / BookingCancelled) with `detail`
-- ({"ticketNumber": ...} or {"reason": ...}) in its payload. A booking already final stays as
-- it is, and nothing is published.
CREATE OR REPLACE FUNCTION booking.finish(booking_id uuid, new_status text, outcome_event text,
                                          detail jsonb, headers jsonb)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    UPDATE booking.bookings
    SET status = new_status, ticket_number = detail->>'ticketNumber',
        cancel_reason = detail->>'reason', updated_at = now()
    WHERE id = booking_id AND status = 'PENDING';
    IF NOT FOUND THEN
        RAISE LOG 'booking % is not PENDING: left as it is', booking_id;
        RETURN;
    END IF;
    PERFORM booking.publish('Booking', booking_id::text, outcome_event,
                            jsonb_build_object('bookingId', booking_id::text, 'status', new_status) || detail,
                            headers);
END
$$;

-- The inbox handler of the booking context (inbox-booking.yaml routes these types to it),
-- called by `outbox-relay inbox` inside the transaction that records the event's id and Kafka
-- position, so the booking's final state and its event commit with them, once:
--   TicketIssued           -> CONFIRMED, BookingConfirmed
--   SeatReservationFailed  -> CANCELLED, BookingCancelled (nothing to undo)
--   SeatReleased           -> CANCELLED, BookingCancelled (ticketing failed; seats has released
--                             the seat)
CREATE OR REPLACE FUNCTION booking.on_event(id uuid, type text, key text, headers jsonb, payload jsonb)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    follow_up constant jsonb := booking.follow_up_headers(id, headers);
    booking_id constant uuid := (payload->>'bookingId')::uuid;
BEGIN
    CASE type
    WHEN 'TicketIssued' THEN
        PERFORM booking.finish(booking_id, 'CONFIRMED', 'BookingConfirmed',
                               jsonb_build_object('ticketNumber', payload->>'ticketNumber'), follow_up);
    WHEN 'SeatReservationFailed' THEN
        PERFORM booking.finish(booking_id, 'CANCELLED', 'BookingCancelled',
                               jsonb_build_object('reason', 'seat reservation failed: ' || (payload->>'reason')),
                               follow_up);
    WHEN 'SeatReleased' THEN
        PERFORM booking.finish(booking_id, 'CANCELLED', 'BookingCancelled',
                               jsonb_build_object('reason', 'ticketing failed: ' || (payload->>'reason')),
                               follow_up);
    ELSE
        -- inbox.handlers routed a type here that the booking context does not react to.
        RAISE EXCEPTION 'booking.on_event: unexpected event type %', type
            USING HINT = 'route only TicketIssued, SeatReservationFailed, SeatReleased here (inbox-booking.yaml)';
    END CASE;
END
$$;

REVOKE ALL ON FUNCTION booking.finish(uuid, text, text, jsonb, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION booking.on_event(uuid, text, text, jsonb, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION booking.finish(uuid, text, text, jsonb, jsonb),
                          booking.on_event(uuid, text, text, jsonb, jsonb) TO flight_booking;
