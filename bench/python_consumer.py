#!/usr/bin/python3
"""The baseline of the inbox benchmark: the idempotent consumer loop the flight-booking example
ran before `outbox-relay inbox` replaced it (examples/flight-booking/services/eventing.py until
issue 21), kept as it worked there: per record, one transaction that inserts the record's `id`
header into processed_events (a duplicate is logged in duplicate_deliveries and skipped) and
runs the handler, then a synchronous offset commit. The handler is the benchmark's trivial one:
one INSERT into bench.effects. Logs at WARNING: the example's line per event is not measured.

  python_consumer.py --dsn DSN --bootstrap-servers B --topic T --group-id G
"""

import argparse
import json
import signal
import sys

import psycopg2
from confluent_kafka import Consumer, KafkaError


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--bootstrap-servers", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group-id", required=True)
    args = parser.parse_args()
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    conn = psycopg2.connect(args.dsn, application_name="bench-python-consumer")
    consumer = Consumer({"bootstrap.servers": args.bootstrap_servers, "group.id": args.group_id,
                         "enable.auto.commit": False, "auto.offset.reset": "earliest",
                         "isolation.level": "read_committed"})
    consumer.subscribe([args.topic])
    try:
        while not stopping:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() != KafkaError._PARTITION_EOF:
                    print(f"consumer: {msg.error()}", file=sys.stderr)
                continue
            headers = {name: value.decode() for name, value in msg.headers() or []}
            payload = json.loads(msg.value())
            row = (headers["id"], headers.get("type"), msg.topic(), msg.partition(), msg.offset())
            with conn, conn.cursor() as cur:
                cur.execute("INSERT INTO bench.processed_events (event_id, event_type, topic, kafka_partition, "
                            "kafka_offset) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING", row)
                if cur.rowcount == 0:
                    cur.execute("INSERT INTO bench.duplicate_deliveries (event_id, event_type, topic, "
                                "kafka_partition, kafka_offset) VALUES (%s, %s, %s, %s, %s)", row)
                else:
                    cur.execute("INSERT INTO bench.effects (event_id, aggregate, seq) VALUES (%s, %s, %s)",
                                (headers["id"], msg.key().decode(), payload["seq"]))
            consumer.commit(message=msg, asynchronous=False)
    finally:
        consumer.close()
        conn.close()


if __name__ == "__main__":
    main()
