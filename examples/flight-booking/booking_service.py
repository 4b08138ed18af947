#!/usr/bin/python3
"""A tiny flight-booking service that uses the transactional outbox.

Every booking is written to booking.bookings and, in the SAME transaction, announced with
SELECT outbox.publish('Booking', <booking id>, 'NewBookingCreated', <payload>, <headers>).
The event exists exactly when the booking does: a rolled-back transaction leaves neither.

Some transactions book several passengers at once (one request, one trace id); one
transaction is rolled back on purpose to show its event never reaches Kafka.

    booking_service.py --dsn "host=127.0.0.1 port=5432 dbname=flights user=postgres" --count 20

--committed-file / --rolled-back-file write the booking ids (one a line), for checking.
Uses Debian's python3-psycopg2.
"""

import argparse
import datetime
import random
import sys
import uuid

import psycopg2

FLIGHTS = ["LH 400", "AF 1234", "BA 117", "KL 1002", "IB 3170", "SK 1415", "LX 318", "OS 121"]
FIRST = ["Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances", "John", "Margaret", "Ken"]
LAST = ["Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Knuth", "Allen", "Backus",
        "Hamilton", "Thompson"]

# Several passengers per transaction now and then; sizes cycle until --count bookings are made.
TRANSACTION_SIZES = [1, 3, 1, 2, 1, 5, 1, 1, 4, 1]

INSERT_BOOKING = """
    INSERT INTO booking.bookings (flight_number, departure_date, passenger_name, seat, price_cents)
    VALUES (%s, %s::date, %s, %s, %s)
    RETURNING id::text, currency, status
"""

PUBLISH = """
    SELECT outbox.publish(
        'Booking',
        %(booking_id)s::text,
        'NewBookingCreated',
        jsonb_build_object(
            'bookingId', %(booking_id)s::text,
            'flightNumber', %(flight)s::text,
            'departureDate', %(departure)s::text,
            'passenger', %(passenger)s::text,
            'seat', %(seat)s::text,
            'price', jsonb_build_object('amountCents', %(price)s::integer, 'currency', %(currency)s::text),
            'status', %(status)s::text),
        jsonb_build_object('trace_id', %(trace_id)s::text))::text
"""


def book(cur, rng, trace_id):
    """Inserts one booking and publishes its event; returns (booking id, event id, text)."""
    flight = rng.choice(FLIGHTS)
    departure = (datetime.date(2026, 12, 1) + datetime.timedelta(days=rng.randrange(60))).isoformat()
    passenger = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    seat = f"{rng.randrange(1, 40)}{rng.choice('ABCDEF')}"
    price = rng.randrange(4900, 89900, 100)
    cur.execute(INSERT_BOOKING, (flight, departure, passenger, seat, price))
    booking_id, currency, status = cur.fetchone()
    cur.execute(PUBLISH, {
        "booking_id": booking_id, "flight": flight, "departure": departure,
        "passenger": passenger, "seat": seat, "price": price, "currency": currency,
        "status": status, "trace_id": trace_id,
    })
    (event_id,) = cur.fetchone()
    return booking_id, event_id, f"{passenger:<18} {flight:<8} {departure} seat {seat:<4}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True, help="libpq connection string")
    parser.add_argument("--count", type=int, default=20, help="committed bookings to make")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--committed-file")
    parser.add_argument("--rolled-back-file")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    committed, rolled_back = [], []
    conn = psycopg2.connect(args.dsn, application_name="flight-booking-demo")
    try:
        tx = 0
        while len(committed) < args.count:
            size = min(TRANSACTION_SIZES[tx % len(TRANSACTION_SIZES)], args.count - len(committed))
            tx += 1
            trace_id = uuid.UUID(int=rng.getrandbits(128), version=4).hex
            with conn.cursor() as cur:
                made = [book(cur, rng, trace_id) for _ in range(size)]
            conn.commit()
            committed.extend(booking_id for booking_id, _, _ in made)
            print(f"tx {tx:>2} COMMIT   {size} booking(s), trace_id {trace_id}")
            for booking_id, event_id, text in made:
                print(f"        booking {booking_id}  {text}  event {event_id}")

            if tx == 3:
                # A booking whose payment fails: the whole transaction is rolled back, the
                # booking row and its outbox event with it. Nothing reaches Kafka.
                with conn.cursor() as cur:
                    booking_id, event_id, text = book(cur, rng, uuid.UUID(int=rng.getrandbits(128), version=4).hex)
                conn.rollback()
                rolled_back.append(booking_id)
                print(f"tx    ROLLBACK 1 booking (payment declined), never published")
                print(f"        booking {booking_id}  {text}  event {event_id}")
    finally:
        conn.close()

    if args.committed_file:
        with open(args.committed_file, "w", encoding="utf-8") as out:
            out.writelines(f"{booking_id}\n" for booking_id in committed)
    if args.rolled_back_file:
        with open(args.rolled_back_file, "w", encoding="utf-8") as out:
            out.writelines(f"{booking_id}\n" for booking_id in rolled_back)
    print(f"{len(committed)} bookings committed in {tx} transactions, "
          f"{len(rolled_back)} rolled back")
    return 0


if __name__ == "__main__":
    sys.exit(main())
