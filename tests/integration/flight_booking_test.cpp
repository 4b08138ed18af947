// Flight-booking saga acceptance tests: examples/flight-booking/ end to end. Three bounded
// contexts (booking, seats, ticketing), each with its own schema and outbox, talk only through
// Kafka: one real relay publishes the three outboxes ({schema}.events topics), and one real
// `outbox-relay inbox` per context applies the events it consumes through the context's SQL
// handler (<context>.on_event), which writes the state change and the reply event in the
// inbox's transaction. Inboxes are killed mid-run and restarted, every event is published a
// second time; the tests check that the three contexts agree and that every side effect
// happened exactly once.

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "support/kafka_admin.hpp"
#include "support/kafka_reader.hpp"
#include "support/test_fixture.hpp"

namespace outbox_relay::it {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Debian's interpreter, which has python3-psycopg2 (services/booking.py places the bookings).
constexpr const char* kPython = "/usr/bin/python3";
constexpr const char* kContexts[] = {"booking", "seats", "ticketing"};
constexpr int kPartitions = 3;

// What each context's inbox consumes (inbox-<context>.yaml) and reacts to: the schema whose
// outbox (and so topic) holds the events, and their types. The other events of those topics
// are recorded as skipped (inbox.unhandled: skip).
struct Reaction {
  const char* inbox;
  const char* from_schema;
  const char* types;  // an SQL list
};
constexpr Reaction kReactions[] = {
    {"seats", "booking", "'NewBookingCreated'"}, {"seats", "ticketing", "'TicketIssuanceFailed'"},
    {"ticketing", "seats", "'SeatReserved'"},    {"booking", "seats", "'SeatReservationFailed', 'SeatReleased'"},
    {"booking", "ticketing", "'TicketIssued'"},
};

struct SagaOptions {
  int bookings = 0;
  int seat_failures = 0;    // requests the seats context must refuse
  int ticket_failures = 0;  // requests ticketing must refuse (the seat is then released)

  int Confirmed() const { return bookings - seat_failures - ticket_failures; }
};

long long Count(PgConnection& conn, const std::string& sql) { return std::stoll(conn.Exec(sql).Text(0, 0)); }

class FlightBookingTest : public RelayIntegrationTest {
 protected:
  std::string Example(const std::string& path) const { return SourceDir() + "/examples/flight-booking/" + path; }

  std::string Topic(const std::string& schema) const { return schema + ".events." + suffix_; }

  /// The context's own role: its schema and its rows of the inbox schema only.
  std::string ContextDsn(const std::string& context) const {
    const HarnessEnv& harness = Harness();
    return "host=" + harness.pg_host + " port=" + harness.pg_port + " dbname=" + db_->Name() + " user=flight_" +
           context;
  }

  /// examples/flight-booking/inbox-<context>.yaml with this run's topics in its inbox.handlers
  /// (a file-only key); the addresses and the group come as overrides (InboxEnvironment).
  std::string InboxConfig(const std::string& context) {
    std::string yaml = ReadFile(Example("inbox-" + context + ".yaml"));
    std::size_t rules = 0;
    for (const char* schema : kContexts) {
      const std::string rule = std::string("- topic: ") + schema + ".events\n";
      for (std::size_t at = yaml.find(rule); at != std::string::npos; at = yaml.find(rule, at + 1)) {
        yaml.replace(at, rule.size(), "- topic: " + Topic(schema) + "\n");
        ++rules;
      }
    }
    EXPECT_GT(rules, 0u) << "no topic rule in " << Example("inbox-" + context + ".yaml");
    return WriteConfig("inbox-" + context + ".yaml", yaml);
  }

  /// Creates the database (the inbox schema by `init --inbox`, the three contexts with their
  /// handlers, the publication) and the topics, then starts the relay (the example's
  /// relay.yaml with this test's slot and topics) and waits until it streams.
  void StartRelay() {
    TestDatabase& db = CreateDatabase();
    for (const char* context : kContexts) inbox_configs_[context] = InboxConfig(context);
    RelayProcess& init =
        NewRelayCommand({"init", "--inbox", "--config", inbox_configs_.at("seats")}, "init-inbox");
    init.SetEnvironment({{"OUTBOX_RELAY_SOURCE_DSN", db.RelayDsn()}});
    init.Start();
    const auto init_exit = init.WaitFor(60s);
    ASSERT_TRUE(init_exit && init_exit->exited && init_exit->code == 0) << TailFile(init.StderrPath(), 20);

    PgConnection conn = db.Connect();
    // context.sql first: the three contexts' files call the procedure it defines.
    for (const char* file :
         {"sql/context.sql", "sql/booking.sql", "sql/seats.sql", "sql/ticketing.sql", "sql/publication.sql"}) {
      const std::string sql = ReadFile(Example(file));
      ASSERT_FALSE(sql.empty()) << "cannot read " << Example(file);
      conn.Exec(sql);
    }
    // Before the inboxes subscribe: a topic created later would reach them only at their next
    // metadata refresh.
    KafkaAdmin admin({{"bootstrap.servers", Harness().kafka_bootstrap_servers}});
    for (const char* schema : kContexts) admin.CreateTopic(Topic(schema), kPartitions);

    slot_ = "fb_" + suffix_;
    db.DropSlotAtEnd(slot_);
    relay_ = &NewRelay(Example("relay.yaml"), "relay");
    relay_->SetEnvironment(RelayEnvironment());
    relay_->Start();
    ASSERT_TRUE(db.WaitForSlot(slot_, true, 60s))
        << "the relay did not start streaming from slot " << slot_ << " within 60 s";
  }

  /// relay.yaml's overrides, as run.sh passes them.
  std::map<std::string, std::string> RelayEnvironment() const {
    return {{"OUTBOX_RELAY_SOURCE_DSN", db_->RelayDsn()},
            {"OUTBOX_RELAY_SOURCE_SLOT", slot_},
            {"OUTBOX_RELAY_OUTBOX_TOPIC", "{schema}.events." + suffix_},
            {"OUTBOX_RELAY_KAFKA_BOOTSTRAP_SERVERS", Harness().kafka_bootstrap_servers}};
  }

  /// `outbox-relay inbox --config inbox-<context>.yaml` as the context's role, for each context.
  void StartInboxes() {
    for (const char* context : kContexts) {
      RelayProcess& inbox =
          NewRelayCommand({"inbox", "--config", inbox_configs_.at(context)}, std::string("inbox-") + context);
      inbox.SetEnvironment({{"OUTBOX_RELAY_SOURCE_DSN", ContextDsn(context)},
                            {"OUTBOX_RELAY_KAFKA_BOOTSTRAP_SERVERS", Harness().kafka_bootstrap_servers},
                            {"OUTBOX_RELAY_INBOX_GROUP_ID", "fb-" + suffix_ + "." + context}});
      inbox.Start();
      inboxes_[context] = &inbox;
    }
  }

  /// booking.py place: `count` more bookings, each with its NewBookingCreated, one transaction
  /// each; which ones fail is decided by the request.
  void PlaceBookings(int count, int seat_failures, int ticket_failures) {
    RelayProcess place(
        kPython,
        {Example("services/booking.py"), "place", "--dsn", ContextDsn("booking"), "--count", std::to_string(count),
         "--seat-failures", std::to_string(seat_failures), "--ticket-failures", std::to_string(ticket_failures)},
        temp_->File("place.stdout"), temp_->File("place.stderr"));
    place.Start();
    const auto exit = place.WaitFor(60s);
    ASSERT_TRUE(exit.has_value()) << "booking.py place did not finish within 60 s";
    ASSERT_TRUE(exit->exited && exit->code == 0) << "booking.py place: " << exit->Describe() << "\n"
                                                 << place.StderrTail(20);
  }

  /// Fails the test if the relay or an inbox ended.
  void ExpectAllRunning() {
    ASSERT_TRUE(relay_->Running()) << "the relay ended: " << relay_->LastExit().value_or(ExitStatus{}).Describe();
    for (const auto& [context, inbox] : inboxes_) {
      ASSERT_TRUE(inbox->Running()) << "inbox " << context
                                    << " ended: " << inbox->LastExit().value_or(ExitStatus{}).Describe() << "\n"
                                    << inbox->StderrTail(20);
    }
  }

  /// Events `inbox` reacts to that are in an outbox but not applied (not in inbox.processed).
  long long Backlog(PgConnection& conn, const std::string& inbox) {
    long long backlog = 0;
    for (const Reaction& reaction : kReactions) {
      if (inbox != reaction.inbox) continue;
      backlog += Count(conn, std::string("SELECT count(*) FROM ") + reaction.from_schema +
                                 ".outbox o WHERE type IN (" + reaction.types +
                                 ") AND NOT EXISTS (SELECT 1 FROM inbox.processed p WHERE p.inbox_name = '" +
                                 reaction.inbox + "' AND p.event_id = o.id::text)");
    }
    return backlog;
  }

  /// Events `inbox` reacts to that it applied.
  long long Applied(PgConnection& conn, const std::string& inbox) {
    long long applied = 0;
    for (const Reaction& reaction : kReactions) {
      if (inbox != reaction.inbox) continue;
      applied += Count(conn, std::string("SELECT count(*) FROM ") + reaction.from_schema +
                                 ".outbox o JOIN inbox.processed p ON p.inbox_name = '" + reaction.inbox +
                                 "' AND p.event_id = o.id::text WHERE o.type IN (" + reaction.types + ")");
    }
    return applied;
  }

  /// Every booking placed, none PENDING, and no context has an event left to react to (so no
  /// side effect can still follow).
  bool Settled(PgConnection& conn, int bookings) {
    if (Count(conn, "SELECT count(*) FROM booking.bookings") != bookings ||
        Count(conn, "SELECT count(*) FROM booking.bookings WHERE status = 'PENDING'") != 0) {
      return false;
    }
    for (const char* context : kContexts) {
      if (Backlog(conn, context) != 0) return false;
    }
    return true;
  }

  /// Waits until Settled, failing if the relay or an inbox ends or `timeout` passes.
  void WaitUntilSettled(PgConnection& conn, int bookings, std::chrono::seconds timeout) {
    const auto start = Clock::now();
    auto next_progress = start + 5s;
    while (!Settled(conn, bookings)) {
      ASSERT_NO_FATAL_FAILURE(ExpectAllRunning());
      ASSERT_LT(Clock::now(), start + timeout)
          << "the saga did not settle within " << Seconds(timeout) << ": "
          << conn.Exec(
                     "SELECT string_agg(status || ' ' || n, ', ') FROM (SELECT status, count(*) n "
                     "FROM booking.bookings GROUP BY status) s")
                 .At(0, 0)
                 .value_or("no bookings");
      if (Clock::now() >= next_progress) {
        std::cout << "[ info ] " << Count(conn, "SELECT count(*) FROM booking.bookings WHERE status <> 'PENDING'")
                  << " bookings final\n";
        next_progress += 5s;
      }
      std::this_thread::sleep_for(100ms);
    }
  }

  /// The three contexts agree, and every side effect is there exactly once: states, rows and
  /// events counted, and each event a context reacts to caused exactly one event.
  void ExpectConsistent(PgConnection& conn, const SagaOptions& options) {
    const int confirmed = options.Confirmed();
    const int cancelled = options.seat_failures + options.ticket_failures;
    EXPECT_EQ(Count(conn, "SELECT count(*) FROM booking.bookings WHERE status = 'CONFIRMED'"), confirmed);
    EXPECT_EQ(Count(conn,
                    "SELECT count(*) FROM booking.bookings WHERE status = 'CANCELLED' "
                    "AND cancel_reason LIKE 'seat reservation failed: %'"),
              options.seat_failures);
    EXPECT_EQ(Count(conn,
                    "SELECT count(*) FROM booking.bookings WHERE status = 'CANCELLED' "
                    "AND cancel_reason LIKE 'ticketing failed: %'"),
              options.ticket_failures);
    // Exactly the requests designed to fail were cancelled: the sold-out flight, a blocked seat,
    // a passenger ticketing refuses.
    EXPECT_EQ(Count(conn,
                    "SELECT count(*) FROM booking.bookings WHERE (status = 'CANCELLED') <> "
                    "(flight_number = 'XQ 13' OR seat LIKE '1_' "
                    "OR passenger_name IN ('Frank Abagnale', 'Carmen Sandiego'))"),
              0);
    // Across the contexts: a CONFIRMED booking has its seat reserved and its ticket, nothing more.
    EXPECT_EQ(Count(conn, R"sql(
        SELECT count(*) FROM booking.bookings b WHERE b.status = 'CONFIRMED'
          AND (SELECT count(*) FROM seats.reservations r WHERE r.booking_id = b.id
                 AND r.status = 'RESERVED' AND r.flight_number = b.flight_number
                 AND r.departure_date = b.departure_date AND r.seat = b.seat) = 1
          AND (SELECT count(*) FROM ticketing.tickets t WHERE t.booking_id = b.id
                 AND t.ticket_number = b.ticket_number AND t.seat = b.seat) = 1)sql"),
              confirmed);
    // A CANCELLED one holds no seat (at most a released one) and has no ticket.
    EXPECT_EQ(Count(conn, R"sql(
        SELECT count(*) FROM booking.bookings b WHERE b.status = 'CANCELLED'
          AND (EXISTS (SELECT 1 FROM seats.reservations r WHERE r.booking_id = b.id AND r.status = 'RESERVED')
               OR EXISTS (SELECT 1 FROM ticketing.tickets t WHERE t.booking_id = b.id)))sql"),
              0);

    // Side effects, counted.
    EXPECT_EQ(Count(conn, "SELECT count(*) FROM ticketing.tickets"), confirmed);
    EXPECT_EQ(Count(conn, "SELECT count(*) FROM seats.reservations"), options.bookings - options.seat_failures);
    EXPECT_EQ(Count(conn, "SELECT count(*) FROM seats.reservations WHERE status = 'RESERVED'"), confirmed);
    EXPECT_EQ(Count(conn, "SELECT count(*) FROM seats.reservations WHERE status = 'RELEASED'"),
              options.ticket_failures);
    std::map<std::string, long long> expected_events = {
        {"booking NewBookingCreated", options.bookings},
        {"booking BookingConfirmed", confirmed},
        {"booking BookingCancelled", cancelled},
        {"seats SeatReserved", options.bookings - options.seat_failures},
        {"seats SeatReservationFailed", options.seat_failures},
        {"seats SeatReleased", options.ticket_failures},
        {"ticketing TicketIssued", confirmed},
        {"ticketing TicketIssuanceFailed", options.ticket_failures}};
    std::erase_if(expected_events, [](const auto& entry) { return entry.second == 0; });
    std::map<std::string, long long> events;
    for (const char* schema : kContexts) {
      const PgResult rows =
          conn.Exec(std::string("SELECT type, count(*) FROM ") + schema + ".outbox GROUP BY type");
      for (std::size_t i = 0; i < rows.Size(); ++i) {
        events[std::string(schema) + " " + rows.Text(i, 0)] = std::stoll(rows.Text(i, 1));
      }
    }
    EXPECT_EQ(events, expected_events) << "events written to the outboxes";

    // Each booking's outcome once: one BookingConfirmed or BookingCancelled per booking.
    EXPECT_EQ(
        Count(conn,
              "SELECT count(*) FROM booking.bookings b WHERE (SELECT count(*) FROM booking.outbox o "
              "WHERE o.aggregateid = b.id::text AND o.type IN ('BookingConfirmed', 'BookingCancelled')) <> 1"),
        0);
    // Each handler call once: every event a context reacts to was applied by its inbox and
    // caused exactly one event, which names it as causation_id and carries its trace.
    const std::map<std::string, long long> expected_applied = {
        {"seats", options.bookings + options.ticket_failures},
        {"ticketing", options.bookings - options.seat_failures},
        {"booking", options.bookings}};
    for (const auto& [inbox, expected] : expected_applied) EXPECT_EQ(Applied(conn, inbox), expected) << inbox;
    for (const Reaction& reaction : kReactions) {
      const std::string reacting_schema = reaction.inbox;
      EXPECT_EQ(
          Count(conn, std::string("SELECT count(*) FROM ") + reaction.from_schema + ".outbox o WHERE type IN (" +
                          reaction.types + ") AND (SELECT count(*) FROM " + reacting_schema +
                          ".outbox r WHERE r.headers->>'causation_id' = o.id::text "
                          "AND r.headers->>'trace_id' = o.headers->>'trace_id') <> 1"),
          0)
          << reaction.inbox << "'s reactions to " << reaction.types << " of " << reaction.from_schema;
    }
  }

  /// Reads the three topics and checks every outbox row arrived as the README says: key =
  /// aggregate id, value = payload, headers id, type, aggregate_type, commit_lsn, source and
  /// the row's trace_id.
  void ExpectEveryOutboxRowInKafka(PgConnection& conn) {
    std::map<std::string, std::vector<std::string>> rows;  // id -> topic, key, type, source
    for (const char* schema : kContexts) {
      const PgResult result =
          conn.Exec(std::string("SELECT id::text, aggregateid, type FROM ") + schema + ".outbox");
      for (std::size_t i = 0; i < result.Size(); ++i) {
        rows[result.Text(i, 0)] = {Topic(schema), result.Text(i, 1), result.Text(i, 2),
                                   std::string("table:") + schema + ".outbox"};
      }
    }
    KafkaReader reader(Harness().kafka_bootstrap_servers, {Topic("booking"), Topic("seats"), Topic("ticketing")});
    std::set<std::string> seen;
    // The relay may still be publishing the last ones.
    WaitUntil(
        [&] {
          reader.CatchUp(30s);
          for (const KafkaRecord& record : reader.Records()) {
            if (auto id = record.Header("id")) seen.insert(*id);
          }
          return seen.size() >= rows.size();
        },
        60s);
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
  }

  /// Whether every inbox has applied (or skipped) every record now in the topics it consumes:
  /// its positions in PostgreSQL are at the topics' end offsets.
  bool InboxesCaughtUp(PgConnection& conn) {
    KafkaAdmin admin({{"bootstrap.servers", Harness().kafka_bootstrap_servers}});
    std::map<std::string, std::int64_t> end;  // topic -> records
    for (const char* schema : kContexts) {
      for (const auto& [partition, offset] : admin.EndOffsets(Topic(schema), kPartitions)) end[schema] += offset;
    }
    std::set<std::pair<std::string, std::string>> consumed;  // inbox, schema of the topic
    for (const Reaction& reaction : kReactions) consumed.emplace(reaction.inbox, reaction.from_schema);
    for (const auto& [inbox, schema] : consumed) {
      const long long position =
          Count(conn, "SELECT coalesce(sum(next_offset), 0) FROM inbox.positions WHERE inbox_name = '" + inbox +
                          "' AND topic = '" + Topic(schema) + "'");
      if (position < end[schema]) return false;
    }
    return true;
  }

  /// `outbox-relay replay` of every outbox row: each event a second time, with its id, after the
  /// originals.
  void ReplayEverything() {
    RelayProcess& replay =
        NewRelayCommand({"replay", "--config", Example("relay.yaml"), "--from", "2000-01-01T00:00:00Z"}, "replay");
    replay.SetEnvironment(RelayEnvironment());
    replay.Start();
    const auto exit = replay.WaitFor(120s);
    ASSERT_TRUE(exit && exit->exited && exit->code == 0) << TailFile(replay.StderrPath(), 20);
    std::cout << "[ info ] " << TailFile(replay.StdoutPath(), 1);
  }

  /// SIGTERM to every inbox and the relay: each drains and exits 0.
  void StopAll() {
    for (auto& [context, inbox] : inboxes_) inbox->Signal(SIGTERM);
    for (auto& [context, inbox] : inboxes_) {
      const auto exit = inbox->WaitFor(30s);
      ASSERT_TRUE(exit.has_value()) << "inbox " << context << " did not exit within 30 s of SIGTERM";
      EXPECT_TRUE(exit->exited && exit->code == 0) << "inbox " << context << ": " << exit->Describe();
    }
    relay_->Signal(SIGTERM);
    const auto exit = relay_->WaitFor(60s);
    ASSERT_TRUE(exit.has_value()) << "the relay did not exit within 60 s of SIGTERM";
    EXPECT_TRUE(exit->exited && exit->code == 0) << "relay: " << exit->Describe();
  }

  /// SIGKILLs the context's inbox while it has events to react to that it has not applied, and
  /// starts it again. SIGSTOP first, wherever it is (waiting for records, in a batch's open
  /// transaction), so that `more_work` (which makes its input grow) cannot be drained before
  /// the kill.
  template <typename MoreWork>
  void KillInboxWithBacklog(PgConnection& conn, const std::string& context, MoreWork more_work) {
    RelayProcess& inbox = *inboxes_.at(context);
    ASSERT_TRUE(inbox.Running()) << "inbox " << context << " ended: " << inbox.StderrTail(20);
    inbox.Signal(SIGSTOP);
    ASSERT_NO_FATAL_FAILURE(more_work());
    long long backlog = 0;
    ASSERT_TRUE(WaitUntil([&] { return (backlog = Backlog(conn, context)) > 0; }, 60s))
        << "inbox " << context << " got nothing to react to within 60 s";
    const long long applied = Applied(conn, context);
    const ExitStatus killed = inbox.Kill();
    ASSERT_TRUE(!killed.exited && killed.signal == SIGKILL) << "inbox " << context << ": " << killed.Describe();
    inbox.Start();
    std::cout << "[ info ] SIGKILLed inbox " << context << " with " << applied << " events applied and " << backlog
              << " not yet; restarted\n";
  }

  std::string slot_;
  RelayProcess* relay_ = nullptr;
  std::map<std::string, std::string> inbox_configs_;  // context -> its inbox config
  std::map<std::string, RelayProcess*> inboxes_;      // context -> its inbox process
};

// 100 bookings in three rounds, 10 asking for seats the seats context must refuse. Each of the
// three inboxes is SIGKILLed while it has events to react to and restarted; then every event is
// published a second time (replay). Every booking ends CONFIRMED (one reserved seat, one
// ticket) or CANCELLED (no seat, no ticket), and every handler ran once per event: the events,
// rows and reactions are counted before and after the replay.
TEST_F(FlightBookingTest, SagaStaysConsistentWhenConsumersAreKilled) {
  const auto test_start = Clock::now();
  const SagaOptions options{.bookings = 100, .seat_failures = 10};
  ASSERT_NO_FATAL_FAILURE(StartRelay());
  ASSERT_NO_FATAL_FAILURE(StartInboxes());
  PgConnection conn = db_->Connect();

  // Round 1: 40 bookings; every context at work.
  ASSERT_NO_FATAL_FAILURE(PlaceBookings(40, 4, 0));
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (const char* context : kContexts) {
          if (Applied(conn, context) == 0) return false;
        }
        return true;
      },
      60s))
      << "not every inbox applied an event within 60 s";
  // Round 2 (30 bookings) while seats is stopped, then killed; ticketing killed with the
  // SeatReserved events of round 2 waiting; round 3 (30 bookings) while booking is stopped,
  // then killed.
  ASSERT_NO_FATAL_FAILURE(KillInboxWithBacklog(conn, "seats", [&] { PlaceBookings(30, 3, 0); }));
  ASSERT_NO_FATAL_FAILURE(KillInboxWithBacklog(conn, "ticketing", [] {}));
  ASSERT_NO_FATAL_FAILURE(KillInboxWithBacklog(conn, "booking", [&] { PlaceBookings(30, 3, 0); }));

  ASSERT_NO_FATAL_FAILURE(WaitUntilSettled(conn, options.bookings, 90s));
  std::cout << "[ info ] settled after " << Seconds(Clock::now() - test_start) << "\n";
  ExpectConsistent(conn, options);
  EXPECT_EQ(Count(conn, "SELECT count(*) FROM seats.reservations WHERE status = 'RELEASED'"), 0);
  ExpectEveryOutboxRowInKafka(conn);

  // Every event again, under the same id: each inbox reads past them all, and nothing changes.
  ASSERT_NO_FATAL_FAILURE(ReplayEverything());
  ASSERT_TRUE(WaitUntil([&] { return InboxesCaughtUp(conn); }, 60s))
      << "the inboxes did not read the replayed records within 60 s";
  std::cout << "[ info ] every inbox read past the replayed records\n";
  ExpectConsistent(conn, options);
  ASSERT_NO_FATAL_FAILURE(ExpectAllRunning());

  ASSERT_NO_FATAL_FAILURE(StopAll());
  std::cout << "[ info ] test took " << Seconds(Clock::now() - test_start) << "\n";
}

// A booking ticketing refuses is compensated across two contexts: the seats context releases
// its seat (SeatReleased), then the booking context cancels it; no ticket exists for it.
TEST_F(FlightBookingTest, TicketingFailureReleasesTheSeat) {
  const auto test_start = Clock::now();
  const SagaOptions options{.bookings = 20, .seat_failures = 2, .ticket_failures = 3};
  ASSERT_NO_FATAL_FAILURE(StartRelay());
  ASSERT_NO_FATAL_FAILURE(StartInboxes());
  ASSERT_NO_FATAL_FAILURE(PlaceBookings(options.bookings, options.seat_failures, options.ticket_failures));
  PgConnection conn = db_->Connect();
  ASSERT_NO_FATAL_FAILURE(WaitUntilSettled(conn, options.bookings, 60s));
  std::cout << "[ info ] settled after " << Seconds(Clock::now() - test_start) << "\n";

  ExpectConsistent(conn, options);
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
  // The compensation's chain of causes: TicketIssuanceFailed -> SeatReleased -> BookingCancelled.
  EXPECT_EQ(Count(conn, R"sql(
      SELECT count(*) FROM ticketing.outbox f
      JOIN seats.outbox r ON r.type = 'SeatReleased' AND r.headers->>'causation_id' = f.id::text
      JOIN booking.outbox c ON c.type = 'BookingCancelled' AND c.headers->>'causation_id' = r.id::text
      WHERE f.type = 'TicketIssuanceFailed' AND f.aggregateid = r.aggregateid
        AND r.aggregateid = c.aggregateid)sql"),
            3);

  ExpectEveryOutboxRowInKafka(conn);
  ASSERT_NO_FATAL_FAILURE(StopAll());
  std::cout << "[ info ] test took " << Seconds(Clock::now() - test_start) << "\n";
}

}  // namespace
}  // namespace outbox_relay::it
