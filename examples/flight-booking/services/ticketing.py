#!/usr/bin/python3
"""Ticketing service (bounded context "ticketing"): issues a ticket once a seat is reserved.

Consumes seats.events:
  SeatReserved  -> TicketIssued (one ticket per booking), or TicketIssuanceFailed when the
                   passenger is on the denied list (the seat service then releases the seat)
Publishes to ticketing.events through ticketing.outbox, in the same transaction as the change.

    ticketing.py --dsn "host=127.0.0.1 dbname=flight_booking user=flight_ticketing" \\
                 --bootstrap-servers 127.0.0.1:9092
"""

import sys

from eventing import consumer_main, publish, topic_for

SCHEMA = "ticketing"


def on_seat_reserved(cur, event):
    seat = event.payload
    booking_id = seat["bookingId"]
    headers = event.follow_up_headers()
    cur.execute("SELECT reason FROM ticketing.denied_passengers WHERE passenger_name = %s",
                (seat["passenger"],))
    denied = cur.fetchone()
    if denied is not None:
        publish(cur, SCHEMA, "Ticket", booking_id, "TicketIssuanceFailed",
                {"bookingId": booking_id, "reason": denied[0]}, headers)
        return f"TicketIssuanceFailed ({denied[0]})"
    # The UNIQUE booking_id guards the business rule (one ticket per booking) on its own; the
    # processed-events check is what keeps a redelivered SeatReserved from getting here at all.
    cur.execute("INSERT INTO ticketing.tickets "
                "(ticket_number, booking_id, flight_number, departure_date, seat, passenger_name) "
                "VALUES ('220-' || lpad(nextval('ticketing.ticket_serial')::text, 10, '0'), "
                "        %s, %s, %s, %s, %s) "
                "ON CONFLICT (booking_id) DO NOTHING RETURNING ticket_number",
                (booking_id, seat["flightNumber"], seat["departureDate"], seat["seat"],
                 seat["passenger"]))
    row = cur.fetchone()
    if row is None:
        return "a ticket exists for this booking already: nothing issued"
    publish(cur, SCHEMA, "Ticket", booking_id, "TicketIssued",
            {"bookingId": booking_id, "ticketNumber": row[0],
             "flightNumber": seat["flightNumber"], "departureDate": seat["departureDate"],
             "seat": seat["seat"], "passenger": seat["passenger"]}, headers)
    return f"TicketIssued {row[0]}"


if __name__ == "__main__":
    sys.exit(consumer_main(
        "ticketing", SCHEMA, __doc__.splitlines()[0],
        lambda template: [topic_for(template, "seats")],
        {"SeatReserved": on_seat_reserved}))
