#!/usr/bin/python3
"""outbox-relay benchmarks: ratios against baselines measured in the same run.

Runs against a harness (tests/harness/harness.sh) and a release build of the relay:

  1. throughput: relay (rows committed -> all acknowledged by Kafka) / pg_recvlogical (raw
     pgoutput decode of the same rows from a second slot), for 1-, 10-, 1,000-row transactions
     and one 1,000,000-row transaction, over TCP loopback with TLS and without, and over the
     Unix socket;
  2. relay / Debezium Embedded (bench/debezium) on the same rows to the same broker, both over
     TLS: throughput, events per CPU-second and peak RSS;
  3. commit -> ack latency p50/p99/p999 at fixed offered loads (pgbench -R, separate processes);
  4. peak RSS for a 1,000-row vs a 1,000,000-row transaction;
  5. CPU seconds per million events;
  6. the RabbitMQ sink against the Kafka sink: the same rows (1,000-row transactions, TLS to
     PostgreSQL), each sink's relay from a slot of its own, to the harness's RabbitMQ
     (harness.sh start-rabbitmq) and Kafka.
  7. the inbox (`outbox-relay inbox`, a trivial SQL handler) against a plain consumer (kcat)
     and against the Python consumer it replaced (bench/python_consumer.py), on the same records.

Both throughput contestants read WAL that is already written, so neither is bounded by the
insert rate. The relay is started and warmed up (producer id, metadata, slot) before the rows
are inserted, then paused with SIGSTOP and resumed with SIGCONT once they are committed: what is
timed is streaming, not start-up. pg_recvlogical starts in a few milliseconds, so it runs cold.

Writes <out>/results.json and prints the table; bench/plot.py draws the PNG chart.
"""

import argparse
import datetime
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import psycopg2
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAYLOAD_SQL = "jsonb_build_object('seq', g, 'customer', 'c-' || (g % 977), 'pad', repeat('x', 160))"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(message):
    print(f"bench: {message}", file=sys.stderr, flush=True)


def load_env(path):
    env = {}
    with open(path) as handle:
        for line in handle:
            key, _, value = line.strip().partition("=")
            if key:
                env[key] = value
    return env


class Database:
    """A throwaway database with the outbox migrations applied and two slots created first."""

    def __init__(self, env, name):
        self.env = env
        self.name = name
        self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}")
        for migration in ("V1__outbox.sql", "V2__publish_message_purge.sql"):
            with open(os.path.join(REPO, "outbox", "sql", migration)) as sql:
                self.sql(sql.read())

    def admin(self, *statements):
        """Runs statements outside any transaction (CREATE/DROP DATABASE need that)."""
        conn = psycopg2.connect(host=self.env["PGHOST"], port=self.env["PGPORT"], user=self.env["PGUSER"],
                                dbname=self.env["PGDATABASE"])
        conn.autocommit = True
        try:
            for statement in statements:
                conn.cursor().execute(statement)
        finally:
            conn.close()

    def dsn(self, transport):
        """tls: TCP with TLS required (what libpq's default sslmode=prefer picks when the server
        offers it, as managed services and the harness do); tcp: TCP with sslmode=disable; unix:
        the Unix socket, where libpq never uses TLS."""
        host = self.env["PG_SOCKET_DIR"] if transport == "unix" else self.env["PGHOST"]
        sslmode = {"tls": "require", "tcp": "disable", "unix": "disable"}[transport]
        return (f"host={host} port={self.env['PGPORT']} dbname={self.name} user={self.env['PGUSER']} "
                f"sslmode={sslmode}")

    def sql(self, statement, fetch=False):
        """One statement in autocommit mode, so a DO block may COMMIT inside."""
        conn = psycopg2.connect(self.dsn("tcp"))
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
                return cur.fetchall() if fetch else None
        finally:
            conn.close()

    def create_slot(self, slot):
        self.sql(f"SELECT pg_create_logical_replication_slot('{slot}', 'pgoutput')")

    def confirmed(self, slot):
        rows = self.sql(f"SELECT confirmed_flush_lsn - '0/0'::pg_lsn FROM pg_replication_slots "
                        f"WHERE slot_name = '{slot}'", fetch=True)
        return int(rows[0][0]) if rows and rows[0][0] is not None else 0

    def insert(self, rows, per_transaction):
        """Commits `rows` outbox rows in transactions of `per_transaction`; returns the end LSN."""
        transactions = rows // per_transaction
        # A DO block may COMMIT between iterations, so 100,000 one-row transactions cost one
        # round trip instead of 100,000.
        self.sql(f"""
            DO $$
            BEGIN
              FOR t IN 0..{transactions - 1} LOOP
                INSERT INTO outbox.outbox (aggregatetype, aggregateid, type, payload)
                SELECT 'Order', 'order-' || (g % 1000), 'OrderCreated', {PAYLOAD_SQL}
                FROM generate_series(t * {per_transaction} + 1, (t + 1) * {per_transaction}) g;
                COMMIT;
              END LOOP;
            END $$""")
        return int(self.sql("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn", fetch=True)[0][0])

    def drop(self):
        self.admin(f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                   f"WHERE database = '{self.name}' AND NOT active",
                   f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def proc_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def proc_peak_rss(pid):
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


class Relay:
    """The relay under test as a child process with a config of its own."""

    def __init__(self, binary, workdir, dsn, slot, topic, sink, extra=""):
        self.path = os.path.join(workdir, f"{slot}.yaml")
        self.port = free_port()
        with open(self.path, "w") as config:
            config.write(f"""source:
  dsn: "{dsn}"
  slot: {slot}
outbox:
  topic: "{topic}"
{extra}{sink}http:
  listen: "127.0.0.1:{self.port}"
heartbeat:
  interval_ms: 0
log:
  level: warn
""")
        self.stderr = open(os.path.join(workdir, f"{slot}.stderr"), "w")
        self.process = subprocess.Popen([binary, "run", "--config", self.path], stdout=subprocess.DEVNULL,
                                        stderr=self.stderr)

    def published(self):
        """Events Kafka has acknowledged (outbox_relay_events_published_total, all topics)."""
        return metric(self.port, "outbox_relay_events_published_total")

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.send_signal(signal.SIGCONT)  # a paused relay acts on SIGTERM only once resumed
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.stderr.close()


def kafka_sink(kafka):
    """The sink section of a Relay for Kafka at `kafka` (bootstrap servers)."""
    return f"""sink:
  type: kafka
kafka:
  bootstrap.servers: "{kafka}"
"""


def rabbitmq_sink(env, exchange):
    """The sink section of a Relay for the harness's RabbitMQ (rabbitmq.env) and `exchange`."""
    return f"""sink:
  type: rabbitmq
rabbitmq:
  host: {env["RABBITMQ_HOST"]}
  port: {env["RABBITMQ_PORT"]}
  username: {env["RABBITMQ_USER"]}
  password: {env["RABBITMQ_PASSWORD"]}
  exchange: "{exchange}"
"""


def wait_for(predicate, timeout, what, interval=0.005):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout} s waiting for {what}")


def warm_relay(args, db, workdir, transport, slot, topic, extra="", sink=None):
    """Starts the relay (Kafka unless `sink` says otherwise), waits until one warm-up event is
    acknowledged, then pauses it."""
    db.create_slot(slot)
    relay = Relay(args.relay, workdir, db.dsn(transport), slot, topic, sink or kafka_sink(args.kafka), extra)
    db.sql("SELECT outbox.publish('Warmup', 'warmup', 'Warmup', '{}')")
    warm_lsn = int(db.sql("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn", fetch=True)[0][0])
    wait_for(lambda: relay.process.poll() is not None or db.confirmed(slot) >= warm_lsn, 60, "the warm-up event")
    if relay.process.poll() is not None:
        raise RuntimeError(f"relay exited with {relay.process.returncode}; see {relay.stderr.name}")
    relay.process.send_signal(signal.SIGSTOP)
    return relay


def walsender_pid(db, slot):
    rows = db.sql(f"SELECT active_pid FROM pg_replication_slots WHERE slot_name = '{slot}'", fetch=True)
    return rows[0][0] if rows and rows[0][0] else None


def run_relay(relay, events, db, slot, broker_pid, timeout=600):
    """Resumes the paused relay and times it until Kafka acknowledged `events` more events.

    Counted from the relay's own metric rather than the slot's confirmed position: the slot
    only learns of it at the next status update, which would add up to source.status_interval_ms
    to the measurement."""
    target = relay.published() + events
    # Who used the two cores meanwhile: the relay, the walsender feeding it, the broker.
    pids = {"relay": relay.process.pid, "walsender": walsender_pid(db, slot), "broker": broker_pid}
    cpu_before = {name: proc_cpu_seconds(pid) for name, pid in pids.items() if pid}
    start = time.monotonic()
    relay.process.send_signal(signal.SIGCONT)
    done = wait_for(lambda: relay.published() >= target or relay.process.poll() is not None, timeout,
                    "the relay to publish everything", interval=0.05)
    if relay.process.poll() is not None:
        raise RuntimeError(f"relay exited with {relay.process.returncode}; see {relay.stderr.name}")
    seconds = done - start
    cores = {name: (proc_cpu_seconds(pids[name]) - before) / seconds for name, before in cpu_before.items()}
    return {"seconds": seconds, "cpu_seconds": cores["relay"] * seconds, "cores": cores,
            "peak_rss_bytes": proc_peak_rss(relay.process.pid)}


def run_recvlogical(db, transport, slot, end_lsn):
    endpos = f"{end_lsn >> 32:X}/{end_lsn & 0xFFFFFFFF:X}"
    command = ["pg_recvlogical", "-d", db.dsn(transport), "--slot", slot, "--start", "--endpos", endpos,
               "--no-loop", "-o", "proto_version=1", "-o", "publication_names=outbox_relay", "-f", "/dev/null"]
    start = time.monotonic()
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"pg_recvlogical exited with {process.returncode}")
    seconds = time.monotonic() - start
    return {"seconds": seconds, "cpu_seconds": usage.ru_utime + usage.ru_stime}


def throughput_case(args, workdir, name, rows, per_transaction, transport):
    db = Database(args.env, f"bench_{name.replace('-', '_').lower()}_{transport}")
    try:
        db.create_slot("bench_raw")
        topic = f"bench.{name}.{transport}.{int(time.time())}"
        relay = warm_relay(args, db, workdir, transport, "bench_relay", topic)
        try:
            started = time.monotonic()
            end_lsn = db.insert(rows, per_transaction)
            log(f"{name}/{transport}: {rows} rows in {rows // per_transaction} transactions inserted in "
                f"{time.monotonic() - started:.1f} s")
            raw = run_recvlogical(db, transport, "bench_raw", end_lsn)
            measured = run_relay(relay, rows, db, "bench_relay", int(args.env["KAFKA_PID"]))
        finally:
            relay.stop()
    finally:
        db.drop()
    result = {"workload": name, "transport": transport, "rows": rows, "rows_per_transaction": per_transaction,
              "raw_events_per_second": rows / raw["seconds"],
              "relay_events_per_second": rows / measured["seconds"],
              "relay_peak_rss_bytes": measured["peak_rss_bytes"],
              "relay_cpu_seconds_per_million": measured["cpu_seconds"] / rows * 1e6,
              "cores_during_relay": measured["cores"], "pg_recvlogical_cores": raw["cpu_seconds"] / raw["seconds"],
              "pg_recvlogical_cpu_seconds_per_million": raw["cpu_seconds"] / rows * 1e6}
    result["ratio"] = result["relay_events_per_second"] / result["raw_events_per_second"]
    log(f"{name}/{transport}: relay {result['relay_events_per_second']:,.0f}/s, pg_recvlogical "
        f"{result['raw_events_per_second']:,.0f}/s, ratio {result['ratio']:.2f}, peak RSS "
        f"{result['relay_peak_rss_bytes'] / 2**20:.1f} MiB, cores " +
        ", ".join(f"{name} {value:.2f}" for name, value in measured["cores"].items()))
    return result


def sink_case(args, workdir, rows, per_transaction):
    """The RabbitMQ sink / the Kafka sink on the same rows: both relays warmed and paused on slots
    of their own before the rows are written, then timed one after the other."""
    import pika  # only this case needs it (python3-pika, installed with rabbitmq-server)

    subprocess.run([os.path.join(REPO, "tests/harness/harness.sh"), "start-rabbitmq", args.env["HARNESS_DIR"]],
                   check=True, stdout=subprocess.DEVNULL)
    rabbit = load_env(os.path.join(args.env["HARNESS_DIR"], "rabbitmq.env"))
    exchange = queue = f"bench.{int(time.time())}"
    amqp = pika.BlockingConnection(pika.ConnectionParameters(
        rabbit["RABBITMQ_HOST"], int(rabbit["RABBITMQ_PORT"]), "/",
        pika.PlainCredentials(rabbit["RABBITMQ_USER"], rabbit["RABBITMQ_PASSWORD"])))
    channel = amqp.channel()
    channel.exchange_declare(exchange, "topic", durable=True)
    channel.queue_declare(queue, durable=True)
    channel.queue_bind(queue, exchange, "#")
    db = Database(args.env, "bench_sinks")
    measured = {}
    try:
        topic = f"bench.sinks.{int(time.time())}"
        relays = {"kafka": warm_relay(args, db, workdir, "tls", "bench_kafka", topic),
                  "rabbitmq": warm_relay(args, db, workdir, "tls", "bench_rabbitmq", topic,
                                         sink=rabbitmq_sink(rabbit, exchange))}
        try:
            db.insert(rows, per_transaction)
            for name, broker_pid in (("kafka", args.env["KAFKA_PID"]), ("rabbitmq", rabbit["RABBITMQ_PID"])):
                measured[name] = run_relay(relays[name], rows, db, f"bench_{name}", int(broker_pid))
        finally:
            for relay in relays.values():
                relay.stop()
    finally:
        db.drop()
        channel.queue_delete(queue)
        channel.exchange_delete(exchange)
        amqp.close()
    result = {"rows": rows, "rows_per_transaction": per_transaction}
    for name, run in measured.items():
        result[name] = {"events_per_second": rows / run["seconds"],
                        "cpu_seconds_per_million": run["cpu_seconds"] / rows * 1e6,
                        "peak_rss_bytes": run["peak_rss_bytes"], "cores": run["cores"]}
        log(f"sinks: {name} {result[name]['events_per_second']:,.0f} events/s, "
            f"{result[name]['cpu_seconds_per_million']:.2f} relay CPU s per million, cores " +
            ", ".join(f"{part} {value:.2f}" for part, value in run["cores"].items()))
    result["ratio"] = result["rabbitmq"]["events_per_second"] / result["kafka"]["events_per_second"]
    return result


INBOX_SCHEMA_SQL = """
CREATE SCHEMA bench;
CREATE TABLE bench.effects (event_id text NOT NULL, aggregate text NOT NULL, seq int NOT NULL);
CREATE FUNCTION bench.apply(id text, type text, key text, headers jsonb, payload jsonb) RETURNS void
  LANGUAGE sql AS $$ INSERT INTO bench.effects VALUES (id, key, (payload->>'seq')::int) $$;
CREATE TABLE bench.processed_events (event_id text PRIMARY KEY, event_type text, topic text,
  kafka_partition int, kafka_offset bigint, processed_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE bench.duplicate_deliveries (event_id text, event_type text, topic text, kafka_partition int,
  kafka_offset bigint, seen_at timestamptz NOT NULL DEFAULT now());
"""


def produce_events(kafka, topic, events, partitions=3):
    """`events` records in the relay's payload layout (id and type headers, the aggregate id as
    the key, about 220 bytes of JSON), acknowledged by the broker."""
    from confluent_kafka import Producer
    admin = AdminClient({"bootstrap.servers": kafka})  # kept until the topic exists
    for future in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
        future.result()
    producer = Producer({"bootstrap.servers": kafka, "linger.ms": 5, "enable.idempotence": True})
    for seq in range(1, events + 1):
        value = json.dumps({"seq": seq, "customer": f"c-{seq % 977}", "pad": "x" * 160})
        while True:
            try:
                producer.produce(topic, value, key=f"order-{seq % 1000}",
                                 headers=[("id", f"{topic}-{seq}"), ("type", "OrderCreated")])
                break
            except BufferError:
                producer.poll(0.1)
    if producer.flush(120) != 0:
        raise RuntimeError(f"{topic}: not every record was acknowledged")


def inbox_case(args, workdir, events, python_events):
    """The inbox / a plain consumer, and the inbox / the Python consumer it replaced, on the same
    records: `events` in one topic of 3 partitions, each consumer from the beginning.

    plain: kcat (librdkafka, read_committed, no group) reading every record to /dev/null, timed
    from its start to its exit. inbox: `outbox-relay inbox` with the partitions assigned
    statically and the trivial handler bench.apply (one INSERT), timed from its start to its
    outbox_relay_inbox_events_applied_total reaching `events`: both include their start-up.
    Python: bench/python_consumer.py, timed from its first effect to its `python_events`-th, so
    that its group join is not counted against it."""
    db = Database(args.env, "bench_inbox")
    topic = f"bench.inbox.{int(time.time())}"
    try:
        db.sql(INBOX_SCHEMA_SQL)
        produce_events(args.kafka, topic, events)
        log(f"inbox: {events} records produced to {topic}")

        start = time.monotonic()
        subprocess.run(["kcat", "-C", "-b", args.kafka, "-t", topic, "-o", "beginning", "-e", "-q",
                        "-X", "isolation.level=read_committed", "-f", "%o\n"],
                       check=True, stdout=subprocess.DEVNULL)
        plain_seconds = time.monotonic() - start

        port = free_port()
        config = os.path.join(workdir, "inbox.yaml")
        partitions = "".join(f'    - "{topic}:{partition}"\n' for partition in range(3))
        with open(config, "w") as handle:
            handle.write(f"""source:
  dsn: "{db.dsn('tcp')}"
kafka:
  bootstrap.servers: "{args.kafka}"
inbox:
  name: bench
  handlers:
    - {{topic: "{topic}", function: bench.apply}}
  partitions:
{partitions}http:
  listen: "127.0.0.1:{port}"
log:
  level: warn
""")
        subprocess.run([args.relay, "init", "--inbox", "--config", config], check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(workdir, "inbox.stderr"), "w") as stderr:
            start = time.monotonic()
            inbox = subprocess.Popen([args.relay, "inbox", "--config", config], stdout=subprocess.DEVNULL,
                                     stderr=stderr)
            try:
                cpu_before = proc_cpu_seconds(inbox.pid)
                done = wait_for(lambda: inbox.poll() is not None or metric(port, "outbox_relay_inbox_events_applied_total")
                                >= events, 600, "the inbox to apply every record", interval=0.02)
                if inbox.poll() is not None:
                    raise RuntimeError(f"inbox exited with {inbox.returncode}; see {stderr.name}")
                inbox_seconds = done - start
                inbox_cpu = proc_cpu_seconds(inbox.pid) - cpu_before
                inbox_rss = proc_peak_rss(inbox.pid)
            finally:
                inbox.send_signal(signal.SIGTERM)
                inbox.wait(timeout=60)

        python_rate = python_consumer_rate(args, db, topic, python_events)
    finally:
        db.drop()
    result = {"events": events, "python_events": python_events, "plain_events_per_second": events / plain_seconds,
              "inbox_events_per_second": events / inbox_seconds, "python_events_per_second": python_rate,
              "inbox_cpu_seconds_per_million": inbox_cpu / events * 1e6, "inbox_peak_rss_bytes": inbox_rss}
    result["plain_ratio"] = result["inbox_events_per_second"] / result["plain_events_per_second"]
    result["python_ratio"] = result["inbox_events_per_second"] / python_rate
    log(f"inbox: {result['inbox_events_per_second']:,.0f} applied/s, kcat {result['plain_events_per_second']:,.0f} "
        f"read/s, Python consumer {python_rate:,.0f} applied/s; inbox {inbox_rss / 2**20:.0f} MiB peak RSS, "
        f"{result['inbox_cpu_seconds_per_million']:.1f} CPU s per million")
    return result


def metric(port, name):
    """The sum of a metric's samples on the process's /metrics (0 while it does not answer)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return 0
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + " ") or line.startswith(name + "{"))


def python_consumer_rate(args, db, topic, events):
    """Applied events per second of bench/python_consumer.py between its first and its
    `events`-th effect."""
    count = lambda: int(db.sql("SELECT count(*) FROM bench.effects", fetch=True)[0][0])  # noqa: E731
    db.sql("TRUNCATE bench.effects")
    consumer = subprocess.Popen(
        ["/usr/bin/python3", os.path.join(REPO, "bench", "python_consumer.py"), "--dsn", db.dsn("tcp"),
         "--bootstrap-servers", args.kafka, "--topic", topic, "--group-id", f"{topic}.python"])
    try:
        first = wait_for(lambda: consumer.poll() is not None or count() > 0, 120, "the Python consumer's first event",
                         interval=0.01)
        first_count = count()
        done = wait_for(lambda: consumer.poll() is not None or count() >= events, 1800,
                        "the Python consumer", interval=0.05)
        if consumer.poll() is not None:
            raise RuntimeError(f"the Python consumer exited with {consumer.returncode}")
        return (count() - first_count) / (done - first)
    finally:
        consumer.send_signal(signal.SIGTERM)
        consumer.wait(timeout=60)


def median_run(runs):
    """The run with the median ratio, whole, so its rates, CPU and RSS belong together; with the
    ratios of all runs, since one run on a shared machine can be off by a third."""
    ordered = sorted(runs, key=lambda run: run["ratio"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["ratios_of_all_runs"] = [run["ratio"] for run in runs]
    return chosen


def debezium_case(args, workdir, rows, per_transaction):
    """Both over TLS (sslmode=require), as libpq's and Debezium's default sslmode=prefer pick it
    when the server offers TLS."""
    db = Database(args.env, "bench_debezium")
    try:
        db.create_slot("bench_dbz")
        topic = f"bench.relay.{int(time.time())}"
        relay = warm_relay(args, db, workdir, "tls", "bench_relay", topic)
        try:
            db.insert(rows, per_transaction)
            measured = run_relay(relay, rows, db, "bench_relay", int(args.env["KAFKA_PID"]))
        finally:
            relay.stop()
        runner = os.path.join(REPO, "bench", "debezium", "run.sh")
        output = subprocess.run(
            [runner, "--pg-host", args.env["PGHOST"], "--pg-port", args.env["PGPORT"], "--pg-user",
             args.env["PGUSER"], "--pg-db", db.name, "--slot", "bench_dbz", "--publication", "outbox_relay",
             "--bootstrap-servers", args.kafka, "--topic", f"bench.debezium.{int(time.time())}", "--events",
             str(rows + 1), "--dbz", "database.sslmode=require"],
            check=True, capture_output=True, text=True).stdout
        debezium = json.loads(output.strip().splitlines()[-1])
    finally:
        db.drop()
    relay_rate = rows / measured["seconds"]
    debezium_rate = debezium["events"] / debezium["seconds"]
    # Events per CPU-second: each process's own CPU time over its own streaming window.
    relay_per_cpu = rows / measured["cpu_seconds"]
    debezium_per_cpu = debezium["events"] / debezium["cpu_seconds"]
    result = {"rows": rows, "rows_per_transaction": per_transaction, "relay_events_per_second": relay_rate,
              "relay_peak_rss_bytes": measured["peak_rss_bytes"], "debezium_events_per_second": debezium_rate,
              "debezium_peak_rss_bytes": debezium["peak_rss_bytes"],
              "relay_events_per_cpu_second": relay_per_cpu, "debezium_events_per_cpu_second": debezium_per_cpu,
              "throughput_ratio": relay_rate / debezium_rate, "cpu_efficiency_ratio": relay_per_cpu / debezium_per_cpu,
              "rss_ratio": measured["peak_rss_bytes"] / debezium["peak_rss_bytes"]}
    log(f"debezium: relay {relay_rate:,.0f}/s {relay_per_cpu:,.0f}/CPU-s {measured['peak_rss_bytes'] / 2**20:.0f} "
        f"MiB, Debezium {debezium_rate:,.0f}/s {debezium_per_cpu:,.0f}/CPU-s "
        f"{debezium['peak_rss_bytes'] / 2**20:.0f} MiB")
    return result


def latency_case(args, workdir, events_per_second, seconds, per_transaction=10, warmup_seconds=10):
    """Offered load from pgbench at a fixed rate; latency = broker append time - commit time.

    The first `warmup_seconds` of load are not counted: a broker that has just started (its JIT
    still compiling) answers slowly for a while, and that is the broker, not steady state."""
    db = Database(args.env, f"bench_latency_{events_per_second}")
    topic = f"bench.latency.{events_per_second}.{int(time.time())}"
    # LogAppendTime: the broker stamps each record when it appends it, i.e. just before the ack.
    admin = AdminClient({"bootstrap.servers": args.kafka})
    admin.create_topics([NewTopic(topic, 3, 1, config={"message.timestamp.type": "LogAppendTime"})])[topic].result()
    try:
        # cloudevents-binary puts the commit time (pgoutput's, microseconds) in ce_time.
        relay = warm_relay(args, db, workdir, "tls", "bench_relay", topic, "  format: cloudevents-binary\n")
        relay.process.send_signal(signal.SIGCONT)
        script = os.path.join(workdir, "publish.sql")
        with open(script, "w") as handle:
            handle.write("\\set agg random(1, 1000)\nBEGIN;\n")
            for _ in range(per_transaction):
                handle.write("SELECT outbox.publish('Order', 'order-' || :agg, 'OrderCreated', "
                             "jsonb_build_object('customer', 'c-' || :agg, 'pad', repeat('x', 160)));\n")
            handle.write("COMMIT;\n")
        transactions_per_second = events_per_second // per_transaction
        clients = 2 if transactions_per_second <= 500 else 8
        measure_from = time.time() + warmup_seconds
        subprocess.run(["pgbench", "-n", "-f", script, "-R", str(transactions_per_second), "-T",
                        str(seconds + warmup_seconds),
                        "-c", str(clients), "-j", "2", "-h", args.env["PGHOST"], "-p", args.env["PGPORT"],
                        "-U", args.env["PGUSER"], db.name], check=True, capture_output=True)
        end_lsn = int(db.sql("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn", fetch=True)[0][0])
        wait_for(lambda: db.confirmed("bench_relay") >= end_lsn, 120, "the relay to catch up")
        relay.stop()
        timed = read_latencies(args.kafka, topic, measure_from)
    finally:
        db.drop()
    # Whether the tail is spread out or a few stalls: the one-second windows (by commit time)
    # whose slowest event took over 25 ms.
    window_max = {}
    for committed, latency in timed:
        window_max[int(committed)] = max(window_max.get(int(committed), 0), latency)
    latencies = [latency for _, latency in timed]
    offered = len(latencies) / seconds
    latencies.sort()
    quantile = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]  # noqa: E731
    result = {"offered_events_per_second": events_per_second, "events": len(latencies),
              "achieved_events_per_second": offered, "p50_ms": quantile(0.50), "p99_ms": quantile(0.99),
              "p999_ms": quantile(0.999), "mean_ms": statistics.fmean(latencies),
              "windows": len(window_max), "windows_over_25ms": sum(1 for v in window_max.values() if v > 25)}
    log(f"latency at {events_per_second}/s: p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, "
        f"p999 {result['p999_ms']:.1f} ms over {len(latencies)} events; {result['windows_over_25ms']} of "
        f"{result['windows']} one-second windows had an event over 25 ms")
    return result


def read_latencies(kafka, topic, measure_from):
    consumer = Consumer({"bootstrap.servers": kafka, "group.id": f"bench-{topic}", "enable.auto.commit": False,
                         "auto.offset.reset": "earliest"})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    latencies = []
    positions = {p: 0 for p in partitions}
    deadline = time.monotonic() + 120
    while any(positions[p] < ends[p] for p in partitions) and time.monotonic() < deadline:
        for message in consumer.consume(10000, timeout=1):
            if message.error():
                continue
            positions[message.partition()] = message.offset() + 1
            headers = dict(message.headers() or [])
            if headers.get("aggregate_type") != b"Order":
                continue  # the warm-up event
            committed = datetime.datetime.strptime(headers["ce_time"].decode(), "%Y-%m-%dT%H:%M:%S.%fZ")
            committed = committed.replace(tzinfo=datetime.timezone.utc).timestamp()
            if committed >= measure_from:
                latencies.append((committed, message.timestamp()[1] - committed * 1000))
    consumer.close()
    return latencies


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--harness-env", required=True)
    parser.add_argument("--relay", required=True, help="outbox-relay binary (a release build)")
    parser.add_argument("--out", required=True, help="directory for results.json")
    parser.add_argument("--quick", action="store_true", help="smaller workloads, for a smoke run")
    parser.add_argument("--only", default="throughput,debezium,latency,sinks,inbox", help="comma-separated parts to run")
    parser.add_argument("--workloads", default="1-row,10-row,1000-row,1M-row", help="throughput workloads to run")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run each throughput case this many times and keep the run with the median ratio")
    parser.add_argument("--transports", default="tls,tcp,unix",
                        help="throughput transports to run: tls (TCP, sslmode=require), tcp (sslmode=disable), unix")
    args = parser.parse_args()
    args.env = load_env(args.harness_env)
    args.kafka = args.env["KAFKA_BOOTSTRAP_SERVERS"]
    parts = set(args.only.split(","))
    scale = 10 if args.quick else 1
    os.makedirs(args.out, exist_ok=True)
    results = {"machine": {"cpus": os.cpu_count(), "kernel": os.uname().release}, "throughput": [],
               "latency": [], "debezium": None, "sinks": None, "inbox": None}
    with tempfile.TemporaryDirectory(prefix="outbox-relay-bench-") as workdir:
        if "throughput" in parts:
            for name, rows, per_transaction in (("1-row", 100_000, 1), ("10-row", 200_000, 10),
                                                ("1000-row", 1_000_000, 1000), ("1M-row", 1_000_000, 1_000_000)):
                if name not in args.workloads.split(","):
                    continue
                for transport in args.transports.split(","):
                    rows_scaled = max(per_transaction, rows // scale) if name != "1M-row" else rows // scale
                    runs = [throughput_case(args, workdir, name, rows_scaled, min(per_transaction, rows_scaled),
                                            transport) for _ in range(args.repeat)]
                    results["throughput"].append(median_run(runs))
        if "debezium" in parts:
            results["debezium"] = debezium_case(args, workdir, 200_000 // scale, 1000)
        if "sinks" in parts:
            results["sinks"] = sink_case(args, workdir, 200_000 // scale, 1000)
        if "inbox" in parts:
            results["inbox"] = inbox_case(args, workdir, 200_000 // scale, 20_000 // scale)
        if "latency" in parts:
            for load in (1_000, 10_000, 50_000):
                results["latency"].append(latency_case(args, workdir, load, 20 if not args.quick else 5))
    with open(os.path.join(args.out, "results.json"), "w") as handle:
        json.dump(results, handle, indent=2)
    log(f"results in {os.path.join(args.out, 'results.json')}")


if __name__ == "__main__":
    main()
