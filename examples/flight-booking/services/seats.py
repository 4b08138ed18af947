#!/usr/bin/python3
"""Seat service (bounded context "seats"): reserves the seat a new booking asks for.

Consumes booking.events:
  NewBookingCreated     -> reserves the seat: SeatReserved, or SeatReservationFailed with the
                           reason (unknown flight, no such seat, flight full, seat taken)
Consumes ticketing.events:
  TicketIssuanceFailed  -> releases the seat (compensation): SeatReleased
Publishes to seats.events through seats.outbox, in the same transaction as the change.

    seats.py --dsn "host=127.0.0.1 dbname=flight_booking user=flight_seats" \\
             --bootstrap-servers 127.0.0.1:9092
"""

import re
import sys

from eventing import consumer_main, publish, topic_for

SCHEMA = "seats"
SEAT = re.compile(r"^([1-9][0-9]*)([A-F])$")


def reservation_problem(cur, flight, departure, seat):
    """Why the seat cannot be reserved, or None. Locks the flight row: two instances reserving
    on one flight at once serialise here."""
    cur.execute("SELECT seat_rows, capacity FROM seats.flights WHERE flight_number = %s FOR UPDATE",
                (flight,))
    row = cur.fetchone()
    if row is None:
        return "unknown flight"
    seat_rows, capacity = row
    match = SEAT.match(seat)
    if match is None or int(match.group(1)) > seat_rows:
        return f"no seat {seat} on this aircraft"
    cur.execute("SELECT count(*) FROM seats.reservations "
                "WHERE flight_number = %s AND departure_date = %s AND status = 'RESERVED'",
                (flight, departure))
    if cur.fetchone()[0] >= capacity:
        return "flight full"
    cur.execute("SELECT 1 FROM seats.blocked_seats WHERE flight_number = %s AND seat = %s "
                "UNION ALL "
                "SELECT 1 FROM seats.reservations WHERE flight_number = %s "
                "AND departure_date = %s AND seat = %s AND status = 'RESERVED'",
                (flight, seat, flight, departure, seat))
    if cur.fetchone() is not None:
        return "seat already taken"
    return None


def on_new_booking(cur, event):
    booking = event.payload
    booking_id = booking["bookingId"]
    flight, departure, seat = booking["flightNumber"], booking["departureDate"], booking["seat"]
    headers = event.follow_up_headers()
    problem = reservation_problem(cur, flight, departure, seat)
    if problem is not None:
        publish(cur, SCHEMA, "SeatReservation", booking_id, "SeatReservationFailed",
                {"bookingId": booking_id, "flightNumber": flight, "departureDate": departure,
                 "seat": seat, "reason": problem}, headers)
        return f"SeatReservationFailed ({problem}): {flight} {departure} {seat}"
    cur.execute("INSERT INTO seats.reservations "
                "(booking_id, flight_number, departure_date, seat, passenger_name, status) "
                "VALUES (%s, %s, %s, %s, %s, 'RESERVED')",
                (booking_id, flight, departure, seat, booking["passenger"]))
    publish(cur, SCHEMA, "SeatReservation", booking_id, "SeatReserved",
            {"bookingId": booking_id, "flightNumber": flight, "departureDate": departure,
             "seat": seat, "passenger": booking["passenger"]}, headers)
    return f"SeatReserved: {flight} {departure} {seat}"


def on_ticket_failed(cur, event):
    booking_id = event.payload["bookingId"]
    reason = event.payload.get("reason", "ticketing failed")
    cur.execute("UPDATE seats.reservations "
                "SET status = 'RELEASED', release_reason = %s, released_at = now() "
                "WHERE booking_id = %s AND status = 'RESERVED' "
                "RETURNING flight_number, departure_date::text, seat",
                (reason, booking_id))
    row = cur.fetchone()
    if row is None:
        return "no seat held for this booking: nothing to release"
    flight, departure, seat = row
    publish(cur, SCHEMA, "SeatReservation", booking_id, "SeatReleased",
            {"bookingId": booking_id, "flightNumber": flight, "departureDate": departure,
             "seat": seat, "reason": reason}, event.follow_up_headers())
    return f"SeatReleased ({reason}): {flight} {departure} {seat}"


if __name__ == "__main__":
    sys.exit(consumer_main(
        "seats", SCHEMA, __doc__.splitlines()[0],
        lambda template: [topic_for(template, "booking"), topic_for(template, "ticketing")],
        {"NewBookingCreated": on_new_booking, "TicketIssuanceFailed": on_ticket_failed}))
