-- Bounded context "ticketing": issued tickets, the context's own outbox, and its inbox handler
-- ticketing.on_event. Owned by the ticketing service (role flight_ticketing), which may touch
-- nothing else. Apply after context.sql. Idempotent: safe to run again. Run as a superuser (it
-- creates the role).
-- The schema, its outbox (published to topic ticketing.events), publish(), follow_up_headers(),
-- the role and its grants on them and on the inbox schema: sql/context.sql.
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

-- One ticket per booking: also a business-level guard on top of the inbox's deduplication.
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

-- The inbox handler of the ticketing context (inbox-ticketing.yaml routes SeatReserved to it),
-- called by `outbox-relay inbox` inside the transaction that records the event's id and Kafka
-- position, so the ticket and the reply event commit with them, once:
--   SeatReserved  -> TicketIssued (one ticket per booking), or TicketIssuanceFailed when the
--                    passenger is on the denied list (the seats context then releases the seat)
CREATE OR REPLACE FUNCTION ticketing.on_event(id uuid, type text, key text, headers jsonb, payload jsonb)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    follow_up constant jsonb := ticketing.follow_up_headers(id, headers);
    v_booking constant text := payload->>'bookingId';
    v_denied  text;
    v_ticket  text;
BEGIN
    IF type IS DISTINCT FROM 'SeatReserved' THEN
        -- inbox.handlers routed a type here that the ticketing context does not react to.
        RAISE EXCEPTION 'ticketing.on_event: unexpected event type %', type
            USING HINT = 'route only SeatReserved here (inbox-ticketing.yaml)';
    END IF;
    SELECT d.reason INTO v_denied FROM ticketing.denied_passengers d
    WHERE d.passenger_name = payload->>'passenger';
    IF FOUND THEN
        PERFORM ticketing.publish('Ticket', v_booking, 'TicketIssuanceFailed',
                                  jsonb_build_object('bookingId', v_booking, 'reason', v_denied), follow_up);
        RETURN;
    END IF;
    -- The UNIQUE booking_id guards the business rule (one ticket per booking) on its own; the
    -- inbox's deduplication is what keeps a redelivered SeatReserved from getting here at all.
    INSERT INTO ticketing.tickets (ticket_number, booking_id, flight_number, departure_date, seat, passenger_name)
    VALUES ('220-' || lpad(nextval('ticketing.ticket_serial')::text, 10, '0'), v_booking::uuid,
            payload->>'flightNumber', (payload->>'departureDate')::date, payload->>'seat', payload->>'passenger')
    ON CONFLICT (booking_id) DO NOTHING
    RETURNING ticket_number INTO v_ticket;
    IF v_ticket IS NULL THEN
        RAISE LOG 'booking %: a ticket exists already, nothing issued', v_booking;
        RETURN;
    END IF;
    PERFORM ticketing.publish('Ticket', v_booking, 'TicketIssued',
                              jsonb_build_object('bookingId', v_booking, 'ticketNumber', v_ticket,
                                                 'flightNumber', payload->>'flightNumber',
                                                 'departureDate', payload->>'departureDate',
                                                 'seat', payload->>'seat', 'passenger', payload->>'passenger'),
                              follow_up);
END
$$;

REVOKE ALL ON FUNCTION ticketing.on_event(uuid, text, text, jsonb, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticketing.on_event(uuid, text, text, jsonb, jsonb) TO flight_ticketing;
