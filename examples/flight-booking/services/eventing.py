"""What the three flight-booking services share: writing to their own outbox, and the
idempotent Kafka consumer loop.

The consumer loop, for every record:
  1. reads the event id from the record's `id` header (the relay puts the outbox row's id there;
     it is the same on every redelivery);
  2. in ONE database transaction: inserts the id into <schema>.processed_events; if it was
     already there the event is a redelivery and is skipped (logged in
     <schema>.duplicate_deliveries), otherwise the handler changes the service's state and
     writes the resulting events to <schema>.outbox; commit;
  3. only then commits the Kafka offset (synchronously).
A crash between 2 and 3 makes Kafka deliver the record again; step 2 absorbs it.

Uses Debian's python3-psycopg2 and python3-confluent-kafka (run with /usr/bin/python3).
"""

import argparse
import dataclasses
import json
import logging
import os
import signal
import sys
import time

import psycopg2
from confluent_kafka import Consumer, KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic


def topic_for(template, schema):
    """The topic a context's outbox is published to: the relay's outbox.topic with {schema}."""
    return template.replace("{schema}", schema)


def ensure_topics(bootstrap_servers, topics, log):
    """Creates the topics that do not exist yet, with the broker's default partitions and
    replication. A consumer subscribed to a missing topic would only notice it at its next
    metadata refresh, after the relay's first event created it."""
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    futures = admin.create_topics([NewTopic(topic, -1, -1) for topic in topics],
                                  request_timeout=30)
    for topic, future in futures.items():
        try:
            future.result()
            log.info("created topic %s", topic)
        except KafkaException as error:
            if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise


def publish(cur, schema, aggregate_type, aggregate_id, event_type, payload, headers):
    """Writes one event to <schema>.outbox inside the caller's transaction; returns its id."""
    cur.execute(
        f"SELECT {schema}.publish(%s, %s, %s, %s::jsonb, %s::jsonb)::text",
        (aggregate_type, str(aggregate_id), event_type, json.dumps(payload),
         json.dumps(headers) if headers is not None else None))
    return cur.fetchone()[0]


@dataclasses.dataclass
class Event:
    """One Kafka record as the relay produced it."""
    id: str
    type: str
    aggregate_type: str
    key: str
    payload: dict
    headers: dict
    topic: str
    partition: int
    offset: int

    @staticmethod
    def from_message(msg):
        headers = {}
        for name, value in msg.headers() or []:
            headers.setdefault(name, value.decode("utf-8") if value is not None else None)
        value = msg.value()
        return Event(
            id=headers.get("id"),
            type=headers.get("type"),
            aggregate_type=headers.get("aggregate_type"),
            key=msg.key().decode("utf-8") if msg.key() is not None else None,
            payload=json.loads(value) if value else {},
            headers=headers,
            topic=msg.topic(),
            partition=msg.partition(),
            offset=msg.offset())

    def follow_up_headers(self):
        """Headers for an event caused by this one: same trace, this event as the cause."""
        headers = {"causation_id": self.id}
        if self.headers.get("trace_id"):
            headers["trace_id"] = self.headers["trace_id"]
        return headers


def add_consumer_arguments(parser, service):
    parser.add_argument("--dsn", required=True,
                        help="libpq connection string, as the service's own role")
    parser.add_argument("--bootstrap-servers", required=True)
    parser.add_argument("--topic-template", default="{schema}.events",
                        help="the relay's outbox.topic: where each context's events are")
    parser.add_argument("--group-id", default=f"flight-booking.{service}")
    parser.add_argument("--instance-id", default=f"{service}-1",
                        help="group.instance.id (static membership: a restarted instance takes "
                             "its partitions back at once, without waiting for a rebalance)")
    parser.add_argument("--crash-after-db-commit", type=int, default=0, metavar="N",
                        help="test hook: SIGKILL this process right after the Nth handled "
                             "event's DB commit, before its Kafka offset commit")


def configure_logging(service):
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format=f"%(asctime)s {service} %(levelname)s %(message)s")
    return logging.getLogger(service)


class IdempotentConsumer:
    """Consumes `topics` and calls handlers[event.type](cur, event) -> str (what it did) inside
    the transaction that also records the event id. Types without a handler are skipped."""

    MAX_ATTEMPTS = 5  # a record whose handler keeps failing stops the service (poison)

    def __init__(self, service, schema, args, topics, handlers):
        self.service = service
        self.schema = schema
        self.args = args
        self.topics = topics
        self.handlers = handlers
        self.log = logging.getLogger(service)
        self.stopping = False
        self.handled = 0
        self.exit_code = 0
        self.conn = None
        self.consumer = None

    def stop(self, *_):
        self.stopping = True

    def connect_db(self):
        delay = 0.2
        while not self.stopping:
            try:
                self.conn = psycopg2.connect(self.args.dsn, application_name=self.service)
                return
            except psycopg2.OperationalError as error:
                self.log.warning("database unavailable (%s), retrying in %.1f s",
                                 str(error).strip(), delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def run(self):
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        self.connect_db()
        if self.conn is None:
            return 0  # stopped while waiting for the database
        ensure_topics(self.args.bootstrap_servers, self.topics, self.log)
        self.consumer = Consumer({
            "bootstrap.servers": self.args.bootstrap_servers,
            "group.id": self.args.group_id,
            "group.instance.id": self.args.instance_id,
            "client.id": self.service,
            "enable.auto.commit": False,          # offsets are committed after the DB commit
            "auto.offset.reset": "earliest",      # a new group starts at the first event
            "isolation.level": "read_committed",  # also right when the relay is exactly-once
            "session.timeout.ms": 10000,
            "topic.metadata.refresh.interval.ms": 5000,
        })
        self.consumer.subscribe(self.topics)
        self.log.info("started: group %s, instance %s, topics %s",
                      self.args.group_id, self.args.instance_id, ", ".join(self.topics))
        try:
            while not self.stopping:
                msg = self.consumer.poll(0.5)
                if msg is None:
                    continue
                if msg.error():
                    # Transient (topic not created yet, broker restarting): librdkafka recovers.
                    if msg.error().code() != KafkaError._PARTITION_EOF:
                        self.log.warning("consumer: %s", msg.error())
                    continue
                if not self.process(msg):
                    break  # stopping, or a poison event: the offset stays uncommitted
                self.commit_offset(msg)
        finally:
            # With static membership close() does not leave the group: a restart within
            # session.timeout.ms gets the same partitions back without a rebalance.
            self.consumer.close()
            if self.conn is not None:
                self.conn.close()
        self.log.info("stopped after handling %d events", self.handled)
        return self.exit_code

    def commit_offset(self, msg):
        try:
            self.consumer.commit(message=msg, asynchronous=False)
        except KafkaException as error:
            # E.g. the partition moved to another instance: it redelivers, and idempotency
            # absorbs that.
            self.log.warning("offset commit of %s[%d]@%d failed: %s",
                             msg.topic(), msg.partition(), msg.offset(), error)

    def process(self, msg):
        """Handles one record in one DB transaction. False: do not commit its offset, stop."""
        event = Event.from_message(msg)
        if not event.id:
            self.log.warning("record %s[%d]@%d has no id header: skipped (not from the relay?)",
                             event.topic, event.partition, event.offset)
            return True
        handler = self.handlers.get(event.type)
        if handler is None:
            return True  # an event this service does not react to: no state, nothing to record
        for attempt in range(1, self.MAX_ATTEMPTS + 1):
            if self.stopping and attempt > 1:
                return False  # redelivered after the restart
            try:
                outcome = self.handle_once(handler, event)
                break
            except (psycopg2.OperationalError, psycopg2.InterfaceError) as error:
                self.log.warning("database connection lost (%s): reconnecting",
                                 str(error).strip())
                self.reconnect()
                if self.conn is None:
                    return False  # stopped while reconnecting
            except psycopg2.Error as error:
                # E.g. a unique violation against a concurrent instance: retry from a fresh
                # transaction, which sees the other side's commit.
                self.log.warning("event %s %s attempt %d failed: %s",
                                 event.type, event.id, attempt, str(error).strip())
                self.conn.rollback()
                time.sleep(0.1 * attempt)
        else:
            self.log.error("event %s %s failed %d times: stopping (poison event)",
                           event.type, event.id, self.MAX_ATTEMPTS)
            self.exit_code = 1
            return False
        if outcome == "duplicate":
            self.log.info("%s %s redelivered (%s[%d]@%d): already processed, skipped",
                          event.type, event.id, event.topic, event.partition, event.offset)
            return True
        self.handled += 1
        self.log.info("%s %s key %s: %s", event.type, event.id, event.key, outcome)
        if self.args.crash_after_db_commit and self.handled == self.args.crash_after_db_commit:
            self.log.warning("crash-after-db-commit: SIGKILL after the DB commit of event %s, "
                             "before its offset commit", event.id)
            logging.shutdown()
            os.kill(os.getpid(), signal.SIGKILL)
        return True

    def handle_once(self, handler, event):
        row = (event.id, event.type, event.topic, event.partition, event.offset)
        with self.conn:  # one transaction: commit on success, rollback on an exception
            with self.conn.cursor() as cur:
                cur.execute(
                    f"INSERT INTO {self.schema}.processed_events "
                    "(event_id, event_type, topic, kafka_partition, kafka_offset) "
                    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING", row)
                if cur.rowcount == 0:
                    cur.execute(
                        f"INSERT INTO {self.schema}.duplicate_deliveries "
                        "(event_id, event_type, topic, kafka_partition, kafka_offset) "
                        "VALUES (%s, %s, %s, %s, %s)", row)
                    return "duplicate"
                return handler(cur, event)

    def reconnect(self):
        try:
            self.conn.close()
        except psycopg2.Error:
            pass
        self.conn = None
        time.sleep(0.5)
        self.connect_db()


def consumer_main(service, schema, description, topics_of, handlers, argv=None):
    """The `main` of a consumer service: parses its arguments and runs the loop until SIGTERM
    or SIGINT. topics_of(topic template) names the topics to consume."""
    parser = argparse.ArgumentParser(description=description)
    add_consumer_arguments(parser, service)
    args = parser.parse_args(argv)
    configure_logging(service)
    consumer = IdempotentConsumer(service, schema, args, topics_of(args.topic_template), handlers)
    return consumer.run()
