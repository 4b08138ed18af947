package outboxrelay.bench.debezium;

import io.debezium.embedded.Connect;
import io.debezium.engine.DebeziumEngine;
import io.debezium.engine.RecordChangeEvent;
import io.debezium.engine.format.ChangeEventFormat;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.connect.header.Header;
import org.apache.kafka.connect.json.JsonConverter;
import org.apache.kafka.connect.source.SourceRecord;
import org.apache.kafka.connect.storage.Converter;
import org.apache.kafka.connect.storage.SimpleHeaderConverter;
import org.apache.kafka.connect.storage.StringConverter;

/**
 * Baseline for the outbox-relay benchmarks: Debezium Embedded (PostgreSQL connector, pgoutput,
 * outbox EventRouter SMT) streaming from an existing slot and publication, producing each routed
 * record to Kafka with a KafkaProducer (acks=all, idempotence), at least once: a batch is marked
 * processed only after the producer has flushed it.
 *
 * <p>When the expected number of events has been acknowledged by the broker it prints one JSON
 * line on stdout and exits 0; on timeout or failure it exits 1, on a bad option 2. Everything
 * else (logs, progress) goes to stderr.
 */
public final class DebeziumOutboxBench {
    private static final int EXIT_FAILURE = 1;
    private static final int EXIT_USAGE = 2;
    private static final long CLOSE_TIMEOUT_SECONDS = 30;
    private static final String DEFAULT_TOPIC_REPLACEMENT = "bench.debezium.${routedByValue}";

    private static final String USAGE_RESOURCE = "/usage.txt";

    private DebeziumOutboxBench() {}

    // One text for run.sh --help (which shows it without building) and the jar's --help.
    private static String usage() {
        try (InputStream in = DebeziumOutboxBench.class.getResourceAsStream(USAGE_RESOURCE)) {
            return in == null ? "usage.txt missing from the jar\n" : new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "cannot read usage.txt: " + e + "\n";
        }
    }

    public static void main(String[] args) {
        final Options options;
        try {
            options = Options.parse(args);
        } catch (UsageException e) {
            System.err.println("debezium-bench: " + e.getMessage());
            System.exit(EXIT_USAGE);
            return;
        }
        if (options == null) {  // --help
            System.out.print(usage());
            System.exit(0);
            return;
        }
        int rc;
        try {
            rc = new Run(options).execute();
        } catch (Exception e) {
            System.err.println("debezium-bench: FAILED: " + e);
            e.printStackTrace(System.err);
            rc = EXIT_FAILURE;
        }
        System.exit(rc);
    }

    /** Bad or missing option: the message names the key. */
    static final class UsageException extends Exception {
        UsageException(String message) {
            super(message);
        }
    }

    /** Command line and properties file, resolved against the environment. */
    static final class Options {
        long events;
        String pgHost;
        int pgPort;
        String pgDb;
        String pgUser;
        String pgPassword;
        String slot;
        String publication;
        String table;
        String bootstrapServers;
        String topic;  // null: route by aggregatetype
        String valueFormat;
        long timeoutSeconds;
        final Map<String, String> dbzOverrides = new LinkedHashMap<>();
        final Map<String, String> producerOverrides = new LinkedHashMap<>();

        /** Returns null for --help. */
        static Options parse(String[] args) throws UsageException {
            Map<String, String> flat = new LinkedHashMap<>();
            Map<String, String> dbz = new LinkedHashMap<>();
            Map<String, String> producer = new LinkedHashMap<>();
            String configFile = null;
            for (int i = 0; i < args.length; ++i) {
                String arg = args[i];
                if (arg.equals("--help") || arg.equals("-h")) {
                    return null;
                }
                if (!arg.startsWith("--")) {
                    throw new UsageException("unexpected argument '" + arg + "' (see --help)");
                }
                String key;
                String value;
                int eq = arg.indexOf('=');
                if (eq > 0) {
                    key = arg.substring(2, eq);
                    value = arg.substring(eq + 1);
                } else {
                    key = arg.substring(2);
                    if (i + 1 >= args.length) {
                        throw new UsageException("--" + key + " needs a value");
                    }
                    value = args[++i];
                }
                switch (key) {
                    case "config" -> configFile = value;
                    case "dbz" -> putPair(dbz, "--dbz", value);
                    case "producer" -> putPair(producer, "--producer", value);
                    default -> flat.put(key, value);
                }
            }
            // The file first, so the command line overrides it key by key.
            if (configFile != null) {
                Properties file = new Properties();
                try (InputStream in = Files.newInputStream(Path.of(configFile))) {
                    file.load(in);
                } catch (IOException e) {
                    throw new UsageException("--config: cannot read " + configFile + ": " + e.getMessage());
                }
                for (String name : file.stringPropertyNames()) {
                    String value = file.getProperty(name).trim();
                    if (name.startsWith("dbz.")) {
                        dbz.putIfAbsent(name.substring(4), value);
                    } else if (name.startsWith("producer.")) {
                        producer.putIfAbsent(name.substring(9), value);
                    } else {
                        flat.putIfAbsent(name, value);
                    }
                }
            }

            Options o = new Options();
            o.events = parseLong(flat, "events", null, 1);
            o.pgHost = get(flat, "pg-host", env("PGHOST", "127.0.0.1"));
            if (o.pgHost.startsWith("/")) {
                throw new UsageException("pg-host: '" + o.pgHost
                        + "' is a socket directory; Debezium (JDBC) needs a TCP host");
            }
            o.pgPort = (int) parseLong(flat, "pg-port", env("PGPORT", "5432"), 1);
            o.pgDb = get(flat, "pg-db", env("PGDATABASE", null));
            o.pgUser = get(flat, "pg-user", env("PGUSER", "postgres"));
            o.pgPassword = get(flat, "pg-password", env("PGPASSWORD", null));
            o.slot = get(flat, "slot", "dbz_bench");
            o.publication = get(flat, "publication", "outbox_relay");
            o.table = get(flat, "table", "outbox.outbox");
            o.bootstrapServers = get(flat, "bootstrap-servers", env("KAFKA_BOOTSTRAP_SERVERS", null));
            o.topic = get(flat, "topic", null);
            o.valueFormat = get(flat, "value-format", "string");
            o.timeoutSeconds = parseLong(flat, "timeout-seconds", "600", 1);
            o.dbzOverrides.putAll(dbz);
            o.producerOverrides.putAll(producer);
            if (o.pgDb == null || o.pgDb.isEmpty()) {
                throw new UsageException("pg-db: required (or set PGDATABASE)");
            }
            if (o.bootstrapServers == null || o.bootstrapServers.isEmpty()) {
                throw new UsageException("bootstrap-servers: required (or set KAFKA_BOOTSTRAP_SERVERS)");
            }
            if (!o.valueFormat.equals("string") && !o.valueFormat.equals("json")) {
                throw new UsageException("value-format: must be string or json, not '" + o.valueFormat + "'");
            }
            if (o.topic != null && o.topic.contains("$")) {
                throw new UsageException("topic: must be a plain topic name, not '" + o.topic + "'");
            }
            if (!flat.isEmpty()) {
                throw new UsageException("unknown option --" + flat.keySet().iterator().next() + " (see --help)");
            }
            return o;
        }

        private static void putPair(Map<String, String> into, String flag, String pair) throws UsageException {
            int eq = pair.indexOf('=');
            if (eq <= 0) {
                throw new UsageException(flag + ": expected KEY=VALUE, got '" + pair + "'");
            }
            into.put(pair.substring(0, eq), pair.substring(eq + 1));
        }

        // Removes the key, so leftovers are unknown options.
        private static String get(Map<String, String> flat, String key, String fallback) {
            String value = flat.remove(key);
            return value != null ? value : fallback;
        }

        private static long parseLong(Map<String, String> flat, String key, String fallback, long min)
                throws UsageException {
            String text = get(flat, key, fallback);
            if (text == null) {
                throw new UsageException(key + ": required");
            }
            try {
                long value = Long.parseLong(text.trim());
                if (value < min) {
                    throw new UsageException(key + ": must be at least " + min + ", not " + value);
                }
                return value;
            } catch (NumberFormatException e) {
                throw new UsageException(key + ": not an integer: '" + text + "'");
            }
        }

        private static String env(String name, String fallback) {
            String value = System.getenv(name);
            return value != null && !value.isEmpty() ? value : fallback;
        }
    }

    /** One benchmark run: engine + producer + the accounting. */
    static final class Run {
        private final Options options;
        private final PrintStream err = System.err;
        private final Converter keyConverter = new StringConverter();
        private final Converter valueConverter;
        private final SimpleHeaderConverter headerConverter = new SimpleHeaderConverter();
        private final AtomicLong produced = new AtomicLong();
        private final AtomicLong acked = new AtomicLong();
        private final AtomicReference<Throwable> failure = new AtomicReference<>();
        private final CountDownLatch finished = new CountDownLatch(1);
        private volatile long firstRecordNanos = 0;
        private volatile long doneNanos = 0;  // when the N-th event was acked
        // This JVM's CPU time (all threads) at the first record and at the N-th ack: the CPU
        // the events cost, over the same window as `seconds`.
        private volatile long firstRecordCpuNanos = 0;
        private volatile long doneCpuNanos = 0;
        private volatile boolean engineStopped = false;
        private long startNanos = 0;
        private KafkaProducer<byte[], byte[]> producer;

        Run(Options options) {
            this.options = options;
            keyConverter.configure(Map.of(), true);
            if (options.valueFormat.equals("json")) {
                valueConverter = new JsonConverter();
                valueConverter.configure(Map.of("schemas.enable", "false"), false);
            } else {
                valueConverter = new StringConverter();
                valueConverter.configure(Map.of(), false);
            }
            headerConverter.configure(Map.of());
        }

        int execute() throws Exception {
            Properties engineProps = engineProperties();
            producer = new KafkaProducer<>(producerProperties());
            DebeziumEngine<RecordChangeEvent<SourceRecord>> engine = DebeziumEngine.create(ChangeEventFormat.of(Connect.class))
                    .using(engineProps)
                    .notifying(this::handleBatch)
                    .using((success, message, error) -> onEngineStopped(success, message, error))
                    .build();
            err.printf("debezium-bench: engine %s; slot %s, publication %s, table %s; waiting for %d events%n",
                    engine.getClass().getSimpleName(), options.slot, options.publication, options.table,
                    options.events);

            ExecutorService engineThread = Executors.newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, "debezium-engine");
                t.setDaemon(true);
                return t;
            });
            startNanos = System.nanoTime();
            engineThread.execute(engine);

            boolean done = finished.await(options.timeoutSeconds, TimeUnit.SECONDS);
            Throwable error = failure.get();
            int rc;
            if (done && error == null && doneNanos != 0) {
                // A high-water mark: read it now, so the shutdown work does not count.
                long peakRss = peakRssBytes();
                double seconds = (doneNanos - firstRecordNanos) / 1e9;
                double secondsTotal = (doneNanos - startNanos) / 1e9;
                double cpuSeconds = (doneCpuNanos - firstRecordCpuNanos) / 1e9;
                System.out.printf(Locale.ROOT,
                        "{\"events\":%d,\"seconds\":%.3f,\"seconds_total\":%.3f,\"peak_rss_bytes\":%d,"
                                + "\"cpu_seconds\":%.3f}%n",
                        options.events, seconds, secondsTotal, peakRss, cpuSeconds);
                System.out.flush();
                err.printf(Locale.ROOT, "debezium-bench: %d events acked in %.3f s: %.0f events/s (%.0f incl. start-up)%n",
                        options.events, seconds, options.events / seconds, options.events / secondsTotal);
                rc = 0;
            } else if (error != null) {
                err.println("debezium-bench: FAILED after " + acked.get() + " of " + options.events
                        + " events acked: " + error);
                rc = EXIT_FAILURE;
            } else {
                err.printf("debezium-bench: FAILED: timeout after %d s (timeout-seconds): %d of %d events acked, "
                        + "%d produced, first record %s%n", options.timeoutSeconds, acked.get(),
                        options.events, produced.get(),
                        firstRecordNanos == 0 ? "never received (slot empty? wrong slot, publication or table?)"
                                : produced.get() > acked.get() ? "received, acks missing (is bootstrap-servers reachable?)"
                                : "received, too few events (did the slot hold N events?)");
                rc = EXIT_FAILURE;
            }

            // Stop the engine (it commits offsets; Debezium confirms the committed LSN to the slot
            // on its next status update, so a tail may be sent again next time: at least once).
            // engine.close() waits for the engine's own shutdown: bound it, the result is out.
            Thread closer = new Thread(() -> {
                try {
                    if (!engineStopped) {
                        engine.close();
                    }
                } catch (IOException | RuntimeException e) {
                    err.println("debezium-bench: engine close: " + e);
                }
                engineThread.shutdown();
                try {
                    engineThread.awaitTermination(CLOSE_TIMEOUT_SECONDS, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }, "debezium-close");
            closer.setDaemon(true);
            closer.start();
            closer.join(TimeUnit.SECONDS.toMillis(CLOSE_TIMEOUT_SECONDS));
            if (closer.isAlive() || !engineThread.isTerminated()) {
                err.println("debezium-bench: engine did not stop within " + CLOSE_TIMEOUT_SECONDS
                        + " s; exiting anyway");
            }
            producer.close(Duration.ofSeconds(5));
            return rc;
        }

        private Properties engineProperties() {
            Properties p = new Properties();
            p.setProperty("name", "dbz-outbox-bench");
            p.setProperty("connector.class", "io.debezium.connector.postgresql.PostgresConnector");
            // One-shot run: nothing to resume from, so offsets stay in memory. Debezium still
            // confirms the flushed LSN to the slot when it commits offsets.
            p.setProperty("offset.storage", "org.apache.kafka.connect.storage.MemoryOffsetBackingStore");
            p.setProperty("offset.flush.interval.ms", "1000");
            p.setProperty("topic.prefix", "dbzbench");

            p.setProperty("database.hostname", options.pgHost);
            p.setProperty("database.port", Integer.toString(options.pgPort));
            p.setProperty("database.user", options.pgUser);
            if (options.pgPassword != null) {
                p.setProperty("database.password", options.pgPassword);
            }
            p.setProperty("database.dbname", options.pgDb);
            p.setProperty("plugin.name", "pgoutput");
            p.setProperty("slot.name", options.slot);
            p.setProperty("publication.name", options.publication);
            // The publication belongs to the schema migration (outbox/sql/V1__outbox.sql).
            p.setProperty("publication.autocreate.mode", "disabled");
            p.setProperty("table.include.list", options.table);
            // Off: the four __debezium.context.* headers (connector name, task, run id) on every
            // record are bookkeeping the relay does not send; they would only add bytes.
            p.setProperty("extended.headers.enabled", "false");
            // Stream only what the slot holds: no initial copy of the table (3.x name of "never").
            p.setProperty("snapshot.mode", "no_data");

            p.setProperty("transforms", "outbox");
            p.setProperty("transforms.outbox.type", "io.debezium.transforms.outbox.EventRouter");
            p.setProperty("transforms.outbox.table.field.event.id", "id");
            p.setProperty("transforms.outbox.table.field.event.key", "aggregateid");
            p.setProperty("transforms.outbox.table.field.event.payload", "payload");
            p.setProperty("transforms.outbox.route.by.field", "aggregatetype");
            p.setProperty("transforms.outbox.route.topic.replacement",
                    options.topic != null ? options.topic : DEFAULT_TOPIC_REPLACEMENT);
            // payload is jsonb: Debezium hands it over as JSON text (io.debezium.data.Json); keep
            // it as text, like the relay's payload format does.
            p.setProperty("transforms.outbox.table.expand.json.payload", "false");
            // The relay sends id, type and aggregate_type headers; EventRouter adds id itself.
            p.setProperty("transforms.outbox.table.fields.additional.placement",
                    "type:header:type,aggregatetype:header:aggregate_type");

            for (Map.Entry<String, String> e : options.dbzOverrides.entrySet()) {
                p.setProperty(e.getKey(), e.getValue());
            }
            return p;
        }

        private Properties producerProperties() {
            Properties p = new Properties();
            p.setProperty(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, options.bootstrapServers);
            p.setProperty(ProducerConfig.ACKS_CONFIG, "all");
            p.setProperty(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
            p.setProperty(ProducerConfig.CLIENT_ID_CONFIG, "dbz-outbox-bench");
            p.setProperty(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
            p.setProperty(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
            for (Map.Entry<String, String> e : options.producerOverrides.entrySet()) {
                p.setProperty(e.getKey(), e.getValue());
            }
            return p;
        }

        // Called by the engine on its consumer thread, one batch at a time, in source order.
        private void handleBatch(List<RecordChangeEvent<SourceRecord>> records,
                                 DebeziumEngine.RecordCommitter<RecordChangeEvent<SourceRecord>> committer)
                throws InterruptedException {
            if (records.isEmpty()) {
                committer.markBatchFinished();
                return;
            }
            if (firstRecordNanos == 0) {
                firstRecordCpuNanos = processCpuNanos();
                firstRecordNanos = System.nanoTime();
                err.printf(Locale.ROOT, "debezium-bench: first record after %.3f s%n",
                        (firstRecordNanos - startNanos) / 1e9);
            }
            for (RecordChangeEvent<SourceRecord> event : records) {
                SourceRecord record = event.record();
                // EventRouter drops what is not an outbox insert; anything left is sent as is
                // (a null value would be a tombstone).
                String topic = record.topic();
                byte[] key = keyConverter.fromConnectData(topic, record.keySchema(), record.key());
                byte[] value = record.value() == null
                        ? null
                        : valueConverter.fromConnectData(topic, record.valueSchema(), record.value());
                RecordHeaders headers = new RecordHeaders();
                for (Header h : record.headers()) {
                    headers.add(h.key(), headerConverter.fromConnectHeader(topic, h.key(), h.schema(), h.value()));
                }
                produced.incrementAndGet();
                producer.send(new ProducerRecord<>(topic, null, key, value, headers), (metadata, sendError) -> {
                    if (sendError != null) {
                        failure.compareAndSet(null, sendError);
                        finished.countDown();
                        return;
                    }
                    long ackedNow = acked.incrementAndGet();
                    if (ackedNow == options.events) {
                        doneCpuNanos = processCpuNanos();
                        doneNanos = System.nanoTime();
                        finished.countDown();
                    }
                });
            }
            // At least once, like the relay: the batch counts as processed (and its offsets may
            // be committed, i.e. the LSN confirmed to the slot) only once the broker has it.
            producer.flush();
            Throwable error = failure.get();
            if (error != null) {
                throw new IllegalStateException("Kafka produce failed; batch not marked processed", error);
            }
            for (RecordChangeEvent<SourceRecord> event : records) {
                committer.markProcessed(event);
            }
            committer.markBatchFinished();
        }

        private void onEngineStopped(boolean success, String message, Throwable error) {
            engineStopped = true;
            if (doneNanos == 0) {
                // Stopped before the goal: whatever the reason, the run failed.
                String why = "engine stopped: " + message;
                failure.compareAndSet(null, error != null ? new IllegalStateException(why, error)
                                                           : new IllegalStateException(why));
                finished.countDown();
            } else if (!success) {
                err.println("debezium-bench: engine stopped with an error after the run: " + message);
            }
        }

        /** CPU time of this process, all threads, in nanoseconds. */
        static long processCpuNanos() {
            return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
                    .getProcessCpuTime();
        }

        /** VmHWM of this process from /proc/self/status, in bytes; -1 where there is none. */
        static long peakRssBytes() {
            try {
                for (String line : Files.readAllLines(Path.of("/proc/self/status"), StandardCharsets.US_ASCII)) {
                    if (line.startsWith("VmHWM:")) {
                        String[] parts = line.substring(6).trim().split("\\s+");
                        return Long.parseLong(parts[0]) * 1024L;  // the kernel reports kB
                    }
                }
            } catch (IOException | NumberFormatException e) {
                System.err.println("debezium-bench: cannot read VmHWM: " + e);
            }
            return -1;
        }
    }
}
