#!/usr/bin/python3
"""Booking service (bounded context "booking"): takes bookings.

    booking.py place --dsn ... --count N [--seat-failures K] [--ticket-failures M]
        Creates N bookings, each PENDING with its NewBookingCreated event (booking.outbox) in
        one transaction. K of them ask for a seat the seats context must refuse (alternately a
        sold-out flight and a blocked seat), M others a passenger ticketing must refuse: which
        ones fail is decided by the request, so a run fails exactly K + M bookings.

The rest of the saga is SQL: `outbox-relay inbox --config inbox-booking.yaml` applies the
replies (TicketIssued, SeatReservationFailed, SeatReleased) through booking.on_event
(sql/booking.sql), which confirms or cancels the booking and publishes BookingConfirmed or
BookingCancelled in the same transaction.

The dsn is the booking service's own role (user=flight_booking): it can reach schema booking
only; the other contexts are known through their events. Uses Debian's python3-psycopg2.
"""

import argparse
import datetime
import json
import random
import sys
import uuid

import psycopg2

FLIGHTS = ["LH 400", "AF 1234", "BA 117", "KL 1002", "IB 3170", "SK 1415", "LX 318", "OS 121"]
SOLD_OUT_FLIGHT = "XQ 13"  # seats.flights: capacity 0
FIRST = ["Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances", "John", "Margaret",
         "Ken"]
LAST = ["Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Knuth", "Allen", "Backus",
        "Hamilton", "Thompson"]
DENIED = ["Frank Abagnale", "Carmen Sandiego"]  # ticketing.denied_passengers
FIRST_DATE = datetime.date(2026, 12, 1)
SEATS_PER_FLIGHT = 29 * 6  # rows 2..30, A..F: row 1 is blocked (seats.blocked_seats)


def spread(count, wanted):
    """Exactly `wanted` of range(count), evenly spread (Bresenham)."""
    return {i for i in range(count) if (i + 1) * wanted // count != i * wanted // count}


def requests(first_index, count, seat_failures, ticket_failures, rng):
    """The booking requests: (flight, date, seat, passenger, what should happen)."""
    seat_failing = spread(count, seat_failures)
    others = [i for i in range(count) if i not in seat_failing]
    ticket_failing = {others[i] for i in spread(len(others), ticket_failures)}
    made, failed = [], 0
    for i in range(count):
        # Every request that should succeed gets a seat of its own: index -> flight, date, seat.
        n = first_index + i
        j = n // len(FLIGHTS)
        flight = FLIGHTS[n % len(FLIGHTS)]
        date = FIRST_DATE + datetime.timedelta(days=j // SEATS_PER_FLIGHT)
        k = j % SEATS_PER_FLIGHT
        seat = f"{2 + k // 6}{'ABCDEF'[k % 6]}"
        passenger = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        expect = "confirmed"
        if i in seat_failing:
            if failed % 2 == 0:
                flight, expect = SOLD_OUT_FLIGHT, "cancelled: flight full"
            else:
                seat, expect = f"1{'ABCDEF'[failed % 6]}", "cancelled: seat already taken"
            failed += 1
        elif i in ticket_failing:
            passenger = DENIED[len(ticket_failing & set(range(i))) % len(DENIED)]
            expect = "cancelled: ticketing refuses passenger"
        made.append((flight, date.isoformat(), seat, passenger, expect))
    return made


def place(argv):
    parser = argparse.ArgumentParser(prog="booking.py place",
                                     description="creates bookings, each with its event")
    parser.add_argument("--dsn", required=True,
                        help="libpq connection string, as role flight_booking")
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--seat-failures", type=int, default=0,
                        help="how many requests the seat service must refuse")
    parser.add_argument("--ticket-failures", type=int, default=0,
                        help="how many (other) requests ticketing must refuse")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    if args.seat_failures + args.ticket_failures > args.count:
        parser.error("more failures than bookings")

    conn = psycopg2.connect(args.dsn, application_name="booking-place")
    try:
        with conn, conn.cursor() as cur:
            # Later runs against the same database continue with fresh seats.
            cur.execute("SELECT count(*) FROM booking.bookings")
            first_index = cur.fetchone()[0]
        rng = random.Random(args.seed + first_index)
        for flight, date, seat, passenger, expect in requests(
                first_index, args.count, args.seat_failures, args.ticket_failures, rng):
            price = rng.randrange(4900, 89900, 100)
            trace_id = uuid.UUID(int=rng.getrandbits(128), version=4).hex
            with conn, conn.cursor() as cur:  # one booking, one transaction
                cur.execute(
                    "INSERT INTO booking.bookings "
                    "(flight_number, departure_date, passenger_name, seat, price_cents, trace_id) "
                    "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id::text, currency",
                    (flight, date, passenger, seat, price, trace_id))
                booking_id, currency = cur.fetchone()
                # booking.publish(): as outbox.publish(), into the context's own outbox.
                cur.execute("SELECT booking.publish('Booking', %s, 'NewBookingCreated', "
                            "%s::jsonb, %s::jsonb)::text", (booking_id, json.dumps({
                                "bookingId": booking_id, "flightNumber": flight,
                                "departureDate": date, "passenger": passenger, "seat": seat,
                                "price": {"amountCents": price, "currency": currency},
                                "status": "PENDING"}), json.dumps({"trace_id": trace_id})))
                (event_id,) = cur.fetchone()
            print(f"booking {booking_id} PENDING  {passenger:<16} {flight:<8} {date} "
                  f"seat {seat:<4} event {event_id}  ({expect})", flush=True)
    finally:
        conn.close()
    print(f"{args.count} bookings placed ({args.seat_failures} designed to fail at seats, "
          f"{args.ticket_failures} at ticketing)", flush=True)
    return 0


def main():
    if len(sys.argv) < 2 or sys.argv[1] != "place":
        print(__doc__, file=sys.stderr)
        return 2
    return place(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
