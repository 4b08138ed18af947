// Flight-booking saga acceptance tests: examples/flight-booking/ end to end. Three Python
// services (booking, seats, ticketing), each with its own schema and outbox, talk only through
// Kafka; one real relay publishes the three outboxes ({schema}.events topics). Consumers are
// killed mid-run and restarted; the tests check that the three contexts agree and that every
// side effect happened exactly once.

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <iostream>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "support/kafka_reader.hpp"
#include "support/test_fixture.hpp"

namespace outbox_relay::it {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Debian's interpreter, which has python3-psycopg2 and python3-confluent-kafka (not pyenv's).
constexpr const char* kPython = "/usr/bin/python3";
constexpr const char* kServices[] = {"booking", "seats", "ticketing"};

struct SagaOptions {
  int bookings = 0;
  int seat_failures = 0;    // requests the seat service must refuse
  int ticket_failures = 0;  // requests ticketing must refuse (the seat is then released)
  int seats_crash_after = 0;  // seats SIGKILLs itself after this DB commit (0: never)
};

class FlightBookingTest : public RelayIntegrationTest {
 protected:
  void TearDown() override {
    for (auto& [name, service] : services_) {
      try {
        if (service->Running()) service->Kill();
      } catch (const std::exception& e) {
        std::cerr << "[cleanup] " << name << ": " << e.what() << "\n";
      }
    }
    if (HasFailure()) {
      for (auto& [name, service] : services_) {
        std::cout << "----- tail of " << service->StderrPath() << " -----\n"
                  << service->StderrTail(40) << "----- end -----\n";
      }
    }
    services_.clear();
    RelayIntegrationTest::TearDown();
  }

  std::string Example(const std::string& path) const { return SourceDir() + "/examples/flight-booking/" + path; }

  /// The service's own role: it can reach its own schema only.
  std::string ServiceDsn(const std::string& service) const {
    const HarnessEnv& harness = Harness();
    return "host=" + harness.pg_host + " port=" + harness.pg_port + " dbname=" + db_->Name() + " user=flight_" +
           service;
  }

  /// Creates the database with the three contexts and the publication, starts the relay (the
  /// example's relay.yaml with this test's slot and topics) and waits until it streams.
  void StartRelay() {
    TestDatabase& db = CreateDatabase();
    PgConnection conn = db.Connect();
    // context.sql first: the three contexts' files call the procedure it defines.
    for (const char* file :
         {"sql/context.sql", "sql/booking.sql", "sql/seats.sql", "sql/ticketing.sql", "sql/publication.sql"}) {
      const std::string sql = ReadFile(Example(file));
      ASSERT_FALSE(sql.empty()) << "cannot read " << Example(file);
      conn.Exec(sql);
    }
    slot_ = "fb_" + suffix_;
    db.DropSlotAtEnd(slot_);
    // A topic name of its own per run: earlier runs' events stay in the shared broker.
    topic_template_ = "{schema}.events." + suffix_;
    const HarnessEnv& harness = Harness();
    const std::string yaml =
        "source:\n"
        "  dsn: \"" +
        db.RelayDsn() +
        "\"\n"
        "  slot: " +
        slot_ +
        "\n"
        "  publication: flight_booking\n"
        "outbox:\n"
        "  tables: [booking.outbox, seats.outbox, ticketing.outbox]\n"
        "  topic: \"" +
        topic_template_ +
        "\"\n"
        "sink:\n"
        "  type: kafka\n"
        "kafka:\n"
        "  bootstrap.servers: \"" +
        harness.kafka_bootstrap_servers +
        "\"\n"
        "  linger.ms: 5\n"
        "http:\n"
        "  listen: \"127.0.0.1:0\"\n"
        "log:\n"
        "  level: info\n";
    relay_ = &NewRelay(WriteConfig("relay.yaml", yaml), "relay");
    relay_->Start();
    ASSERT_TRUE(db.WaitForSlot(slot_, true, 60s))
        << "the relay did not start streaming from slot " << slot_ << " within 60 s";
  }

  std::string Topic(const std::string& schema) const {
    std::string topic = topic_template_;
    return topic.replace(topic.find("{schema}"), 8, schema);
  }

  /// A consumer service as a child process; `extra` arguments appended (e.g. the crash hook).
  /// Logs go to <temp>/<label>.stderr; a new process under the same label appends to them.
  RelayProcess& NewService(const std::string& service, const std::string& label,
                           const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {Example("services/" + service + ".py")};
    if (service == "booking") args.push_back("consume");
    for (const std::string& arg : {std::string("--dsn"), ServiceDsn(service), std::string("--bootstrap-servers"),
                                   Harness().kafka_bootstrap_servers, std::string("--topic-template"),
                                   topic_template_, std::string("--group-id"), "fb-" + suffix_ + "." + service}) {
      args.push_back(arg);
    }
    args.insert(args.end(), extra.begin(), extra.end());
    auto process = std::make_unique<RelayProcess>(kPython, args, temp_->File(label + ".stdout"),
                                                  temp_->File(label + ".stderr"));
    RelayProcess& ref = *process;
    services_[label + "#" + std::to_string(services_.size())] = std::move(process);
    return ref;
  }

  void StartServices(const SagaOptions& options) {
    for (const char* service : kServices) {
      std::vector<std::string> extra;
      if (std::string(service) == "seats" && options.seats_crash_after > 0) {
        extra = {"--crash-after-db-commit", std::to_string(options.seats_crash_after)};
      }
      RelayProcess& process = NewService(service, service, extra);
      process.Start();
      current_[service] = &process;
    }
  }

  /// booking.py place: the bookings, each with its NewBookingCreated, one transaction each.
  void PlaceBookings(const SagaOptions& options) {
    RelayProcess place(kPython,
                       {Example("services/booking.py"), "place", "--dsn", ServiceDsn("booking"), "--count",
                        std::to_string(options.bookings), "--seat-failures", std::to_string(options.seat_failures),
                        "--ticket-failures", std::to_string(options.ticket_failures)},
                       temp_->File("place.stdout"), temp_->File("place.stderr"));
    place.Start();
    const auto exit = place.WaitFor(60s);
    ASSERT_TRUE(exit.has_value()) << "booking.py place did not finish within 60 s";
    ASSERT_TRUE(exit->exited && exit->code == 0) << "booking.py place: " << exit->Describe() << "\n"
                                                 << place.StderrTail(20);
  }

  /// The saga under way: the relay streaming, the three services consuming, the bookings placed.
  void StartSaga(const SagaOptions& options) {
    ASSERT_NO_FATAL_FAILURE(StartRelay());
    ASSERT_NO_FATAL_FAILURE(StartServices(options));
    ASSERT_NO_FATAL_FAILURE(PlaceBookings(options));
  }

  /// Fails the test if a service or the relay ended that was not supposed to.
  void ExpectAlive(const std::string& service) {
    RelayProcess& process = *current_.at(service);
    ASSERT_TRUE(process.Running()) << service << " ended: " << process.LastExit().value_or(ExitStatus{}).Describe()
                                   << "\n"
                                   << process.StderrTail(20);
  }

  /// The saga has settled: no booking is PENDING, and every event some consumer reacts to is
  /// recorded in that consumer's processed_events (so no side effect can still follow).
  bool Settled(PgConnection& conn, int bookings) {
    const PgResult rows = conn.Exec(R"sql(
      SELECT (SELECT count(*) FROM booking.bookings),
             (SELECT count(*) FROM booking.bookings WHERE status = 'PENDING'),
             (SELECT count(*) FROM booking.outbox o WHERE type = 'NewBookingCreated'
                AND NOT EXISTS (SELECT 1 FROM seats.processed_events p WHERE p.event_id = o.id))
           + (SELECT count(*) FROM seats.outbox o WHERE type = 'SeatReserved'
                AND NOT EXISTS (SELECT 1 FROM ticketing.processed_events p WHERE p.event_id = o.id))
           + (SELECT count(*) FROM seats.outbox o
                WHERE type IN ('SeatReservationFailed', 'SeatReleased')
                AND NOT EXISTS (SELECT 1 FROM booking.processed_events p WHERE p.event_id = o.id))
           + (SELECT count(*) FROM ticketing.outbox o WHERE type = 'TicketIssued'
                AND NOT EXISTS (SELECT 1 FROM booking.processed_events p WHERE p.event_id = o.id))
           + (SELECT count(*) FROM ticketing.outbox o WHERE type = 'TicketIssuanceFailed'
                AND NOT EXISTS (SELECT 1 FROM seats.processed_events p WHERE p.event_id = o.id))
    )sql");
    return std::stoi(rows.Text(0, 0)) == bookings && rows.Text(0, 1) == "0" && rows.Text(0, 2) == "0";
  }

  /// SIGTERM to every service and the relay: each drains and exits 0.
  void StopAll() {
    for (auto& [service, process] : current_) process->Signal(SIGTERM);
    for (auto& [service, process] : current_) {
      const auto exit = process->WaitFor(30s);
      ASSERT_TRUE(exit.has_value()) << service << " did not exit within 30 s of SIGTERM";
      EXPECT_TRUE(exit->exited && exit->code == 0) << service << ": " << exit->Describe();
    }
    relay_->Signal(SIGTERM);
    const auto exit = relay_->WaitFor(60s);
    ASSERT_TRUE(exit.has_value()) << "the relay did not exit within 60 s of SIGTERM";
    EXPECT_TRUE(exit->exited && exit->code == 0) << "relay: " << exit->Describe();
  }

  /// Reads the three topics and checks every outbox row arrived as the README says: key =
  /// aggregate id, value = payload, headers id, type, aggregate_type, commit_lsn, source and
  /// the row's trace_id. Returns how many records were read.
  std::size_t ExpectEveryOutboxRowInKafka(PgConnection& conn) {
    std::map<std::string, std::vector<std::string>> rows;  // id -> topic, key, type, source
    for (const char* schema : kServices) {
      const PgResult result =
          conn.Exec(std::string("SELECT id::text, aggregateid, type FROM ") + schema + ".outbox");
      for (std::size_t i = 0; i < result.Size(); ++i) {
        rows[result.Text(i, 0)] = {Topic(schema), result.Text(i, 1), result.Text(i, 2),
                                   std::string("table:") + schema + ".outbox"};
      }
    }
    KafkaReader reader(Harness().kafka_bootstrap_servers, {Topic("booking"), Topic("seats"), Topic("ticketing")});
    const auto deadline = Clock::now() + 60s;
    std::set<std::string> seen;
    while (true) {
      reader.CatchUp(30s);
      for (const KafkaRecord& record : reader.Records()) {
        if (auto id = record.Header("id")) seen.insert(*id);
      }
      if (seen.size() >= rows.size() || Clock::now() >= deadline) break;
      std::this_thread::sleep_for(200ms);  // the relay may still be publishing the last ones
    }
    std::size_t mismatches = 0;
    for (const KafkaRecord& record : reader.Records()) {
      const auto id = record.Header("id");
      const auto found = id ? rows.find(*id) : rows.end();
      if (found == rows.end()) {
        ++mismatches;
        continue;
      }
      const auto& [topic, key, type, source] =
          std::tie(found->second[0], found->second[1], found->second[2], found->second[3]);
      if (record.topic != topic || record.key != key || record.Header("type") != type ||
          record.Header("source") != source || !record.Header("aggregate_type") || !record.Header("commit_lsn") ||
          !record.Header("trace_id") || !record.value) {
        if (mismatches++ < 3) {
          ADD_FAILURE() << "record " << record.topic << "[" << record.partition << "]@" << record.offset
                        << " does not match outbox row " << *id;
        }
      }
    }
    EXPECT_EQ(seen.size(), rows.size()) << "outbox rows missing from Kafka";
    EXPECT_EQ(mismatches, 0u) << "records that are not what their outbox row says";
    std::cout << "[ info ] Kafka: " << reader.Records().size() << " records, " << seen.size() << " distinct ids, "
              << rows.size() << " outbox rows in the three schemas\n";
    return reader.Records().size();
  }

  std::string slot_;
  std::string topic_template_;
  RelayProcess* relay_ = nullptr;
  std::map<std::string, std::unique_ptr<RelayProcess>> services_;  // every process started
  std::map<std::string, RelayProcess*> current_;  // service -> its running process
};

long long Count(PgConnection& conn, const std::string& sql) { return std::stoll(conn.Exec(sql).Text(0, 0)); }

// 100 bookings, 10 of which ask for seats the seat service must refuse: with the seat service
// SIGKILLed between a DB commit and its Kafka offset commit and the ticketing service SIGKILLed
// at an arbitrary point, both restarted, every booking ends CONFIRMED (one reserved seat, one
// ticket) or CANCELLED (no seat, no ticket), each side effect exactly once, and the redelivered
// event is recognised and skipped.
TEST_F(FlightBookingTest, SagaStaysConsistentWhenConsumersAreKilled) {
  const auto test_start = Clock::now();
  const SagaOptions options{.bookings = 100, .seat_failures = 10, .seats_crash_after = 30};
  ASSERT_NO_FATAL_FAILURE(StartSaga(options));
  std::cout << "[ info ] placed " << options.bookings << " bookings after " << Seconds(Clock::now() - test_start)
            << "\n";

  PgConnection conn = db_->Connect();
  bool seats_restarted = false;
  long long tickets_at_kill = -1;
  auto next_progress = Clock::now() + 5s;
  const auto deadline = Clock::now() + 90s;
  while (true) {
    ASSERT_TRUE(relay_->Running()) << "the relay ended: " << relay_->LastExit().value_or(ExitStatus{}).Describe();
    if (!seats_restarted && !current_.at("seats")->Running()) {
      // The crash hook fired: it must have been the SIGKILL, nothing else.
      const ExitStatus exit = current_.at("seats")->LastExit().value_or(ExitStatus{});
      ASSERT_TRUE(!exit.exited && exit.signal == SIGKILL)
          << "seats ended by " << exit.Describe() << " instead of its crash hook\n"
          << current_.at("seats")->StderrTail(20);
      RelayProcess& seats = NewService("seats", "seats");
      seats.Start();
      current_["seats"] = &seats;
      seats_restarted = true;
      std::cout << "[ info ] seats SIGKILLed itself after its DB commit #" << options.seats_crash_after
                << "; restarted after " << Seconds(Clock::now() - test_start) << "\n";
    }
    const long long tickets = Count(conn, "SELECT count(*) FROM ticketing.tickets");
    if (tickets_at_kill < 0 && tickets >= 20) {
      // Wherever ticketing happens to be: between records, mid-transaction, or after a DB
      // commit whose offset is not committed yet.
      current_.at("ticketing")->Kill();
      current_.at("ticketing")->Start();
      tickets_at_kill = tickets;
      std::cout << "[ info ] SIGKILLed ticketing at " << tickets << " tickets and restarted it\n";
    }
    for (const char* service : kServices) {
      if (std::string(service) != "seats" || seats_restarted) {
        ASSERT_NO_FATAL_FAILURE(ExpectAlive(service));
      }
    }
    if (seats_restarted && tickets_at_kill >= 0 && Settled(conn, options.bookings)) break;
    ASSERT_LT(Clock::now(), deadline)
        << "the saga did not settle within 90 s: "
        << conn.Exec(
                   "SELECT string_agg(status || ' ' || n, ', ') FROM (SELECT status, count(*) n "
                   "FROM booking.bookings GROUP BY status) s")
               .At(0, 0)
               .value_or("no bookings");
    if (Clock::now() >= next_progress) {
      std::cout << "[ info ] " << Seconds(Clock::now() - test_start) << ": "
                << Count(conn, "SELECT count(*) FROM booking.bookings WHERE status <> 'PENDING'")
                << " bookings final, " << tickets << " tickets\n";
      next_progress += 5s;
    }
    std::this_thread::sleep_for(100ms);
  }
  std::cout << "[ info ] settled after " << Seconds(Clock::now() - test_start) << "\n";
  EXPECT_LT(tickets_at_kill, 90) << "ticketing was not killed mid-run";

  // Final states.
  EXPECT_EQ(Count(conn, "SELECT count(*) FROM booking.bookings WHERE status = 'CONFIRMED'"), 90);
  EXPECT_EQ(Count(conn,
                  "SELECT count(*) FROM booking.bookings WHERE status = 'CANCELLED' "
                  "AND cancel_reason LIKE 'seat reservation failed: %'"),
            10);
  // Exactly the requests designed to fail were cancelled: the sold-out flight or a blocked seat.
  EXPECT_EQ(Count(conn,
                  "SELECT count(*) FROM booking.bookings WHERE (status = 'CANCELLED') <> "
                  "(flight_number = 'XQ 13' OR seat LIKE '1_')"),
            0);
  // Across the contexts: a CONFIRMED booking has its seat reserved and its ticket, nothing more.
  EXPECT_EQ(Count(conn, R"sql(
      SELECT count(*) FROM booking.bookings b WHERE b.status = 'CONFIRMED'
        AND (SELECT count(*) FROM seats.reservations r WHERE r.booking_id = b.id
               AND r.status = 'RESERVED' AND r.flight_number = b.flight_number
               AND r.departure_date = b.departure_date AND r.seat = b.seat) = 1
        AND (SELECT count(*) FROM ticketing.tickets t WHERE t.booking_id = b.id
               AND t.ticket_number = b.ticket_number AND t.seat = b.seat) = 1)sql"),
            90);
  // A CANCELLED one holds no seat and has no ticket.
  EXPECT_EQ(Count(conn, R"sql(
      SELECT count(*) FROM booking.bookings b WHERE b.status = 'CANCELLED'
        AND (EXISTS (SELECT 1 FROM seats.reservations r WHERE r.booking_id = b.id)
             OR EXISTS (SELECT 1 FROM ticketing.tickets t WHERE t.booking_id = b.id)))sql"),
            0);

  // Side effects, counted: each happened exactly once although events were redelivered.
  EXPECT_EQ(Count(conn, "SELECT count(*) FROM ticketing.tickets"), 90);
  EXPECT_EQ(Count(conn, "SELECT count(*) FROM seats.reservations"), 90);
  EXPECT_EQ(Count(conn, "SELECT count(*) FROM seats.reservations WHERE status = 'RESERVED'"), 90);
  const std::map<std::string, long long> expected_events = {
      {"booking NewBookingCreated", 100}, {"booking BookingConfirmed", 90},    {"booking BookingCancelled", 10},
      {"seats SeatReserved", 90},         {"seats SeatReservationFailed", 10}, {"ticketing TicketIssued", 90}};
  std::map<std::string, long long> events;
  for (const char* schema : kServices) {
    const PgResult rows = conn.Exec(std::string("SELECT type, count(*) FROM ") + schema + ".outbox GROUP BY type");
    for (std::size_t i = 0; i < rows.Size(); ++i) {
      events[std::string(schema) + " " + rows.Text(i, 0)] = std::stoll(rows.Text(i, 1));
    }
  }
  EXPECT_EQ(events, expected_events) << "events written to the outboxes";

  // The consumers' records: every handled event once (100 NewBookingCreated for seats, 90
  // SeatReserved for ticketing, 90 TicketIssued + 10 SeatReservationFailed for booking).
  const std::map<std::string, long long> expected_processed = {
      {"booking", 100}, {"seats", 100}, {"ticketing", 90}};
  for (const auto& [schema, expected] : expected_processed) {
    EXPECT_EQ(Count(conn, "SELECT count(*) FROM " + schema + ".processed_events"), expected) << schema;
    EXPECT_EQ(Count(conn, "SELECT count(*) - count(DISTINCT event_id) FROM " + schema + ".processed_events"), 0)
        << schema;
    std::cout << "[ info ] " << schema << ": " << expected << " events processed, "
              << Count(conn, "SELECT count(*) FROM " + schema + ".duplicate_deliveries")
              << " redeliveries skipped\n";
  }

  // The redelivery the crash hook forced: the event seats committed just before its SIGKILL
  // came again after the restart and was recognised as processed.
  std::smatch match;
  const std::string seats_log = ReadFile(temp_->File("seats.stderr"));
  const std::regex crash_line("crash-after-db-commit: SIGKILL after the DB commit of event ([0-9a-f-]{36})");
  ASSERT_TRUE(std::regex_search(seats_log, match, crash_line)) << "no crash line in seats' log";
  const std::string crashed_event = match[1];
  EXPECT_GE(
      Count(conn, "SELECT count(*) FROM seats.duplicate_deliveries WHERE event_id = '" + crashed_event + "'"), 1)
      << "event " << crashed_event << " was not redelivered to the restarted seat service";
  EXPECT_EQ(Count(conn, "SELECT count(*) FROM seats.processed_events WHERE event_id = '" + crashed_event + "'"),
            1);
  std::cout << "[ info ] event " << crashed_event
            << " (committed right before the SIGKILL) was redelivered and skipped\n";

  ExpectEveryOutboxRowInKafka(conn);
  ASSERT_NO_FATAL_FAILURE(StopAll());
  std::cout << "[ info ] test took " << Seconds(Clock::now() - test_start) << "\n";
}

// A booking ticketing refuses is compensated across two contexts: the seat service releases
// its seat (SeatReleased), then the booking service cancels it; no ticket exists for it.
TEST_F(FlightBookingTest, TicketingFailureReleasesTheSeat) {
  const auto test_start = Clock::now();
  const SagaOptions options{.bookings = 20, .seat_failures = 2, .ticket_failures = 3};
  ASSERT_NO_FATAL_FAILURE(StartSaga(options));

  PgConnection conn = db_->Connect();
  const auto deadline = Clock::now() + 60s;
  while (!Settled(conn, options.bookings)) {
    for (const char* service : kServices) ASSERT_NO_FATAL_FAILURE(ExpectAlive(service));
    ASSERT_LT(Clock::now(), deadline) << "the saga did not settle within 60 s";
    std::this_thread::sleep_for(100ms);
  }
  std::cout << "[ info ] settled after " << Seconds(Clock::now() - test_start) << "\n";

  EXPECT_EQ(Count(conn, "SELECT count(*) FROM booking.bookings WHERE status = 'CONFIRMED'"), 15);
  EXPECT_EQ(Count(conn,
                  "SELECT count(*) FROM booking.bookings WHERE status = 'CANCELLED' "
                  "AND cancel_reason LIKE 'seat reservation failed: %'"),
            2);
  const std::string refused = "passenger_name IN ('Frank Abagnale', 'Carmen Sandiego')";
  EXPECT_EQ(Count(conn,
                  "SELECT count(*) FROM booking.bookings WHERE status = 'CANCELLED' "
                  "AND cancel_reason LIKE 'ticketing failed: %' AND " +
                      refused),
            3);
  // Their seats were reserved, then released by the compensating step; no ticket was issued.
  EXPECT_EQ(Count(conn,
                  "SELECT count(*) FROM seats.reservations WHERE status = 'RELEASED' "
                  "AND release_reason IS NOT NULL AND " +
                      refused),
            3);
  EXPECT_EQ(Count(conn, "SELECT count(*) FROM ticketing.tickets WHERE " + refused), 0);
  EXPECT_EQ(Count(conn, "SELECT count(*) FROM seats.reservations WHERE status = 'RESERVED'"), 15);
  EXPECT_EQ(Count(conn, "SELECT count(*) FROM ticketing.tickets"), 15);
  EXPECT_EQ(Count(conn, "SELECT count(*) FROM seats.outbox WHERE type = 'SeatReleased'"), 3);
  EXPECT_EQ(Count(conn,
                  "SELECT count(*) FROM ticketing.outbox "
                  "WHERE type = 'TicketIssuanceFailed'"),
            3);
  EXPECT_EQ(Count(conn, "SELECT count(*) FROM booking.outbox WHERE type = 'BookingCancelled'"), 5);

  ExpectEveryOutboxRowInKafka(conn);
  ASSERT_NO_FATAL_FAILURE(StopAll());
  std::cout << "[ info ] test took " << Seconds(Clock::now() - test_start) << "\n";
}

}  // namespace
}  // namespace outbox_relay::it
