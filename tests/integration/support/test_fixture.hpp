#pragma once

// Per-test isolation for the integration tests: a temp dir, a database of its own with the
// outbox schema applied, its own slot and topic names, relay processes that are killed (by
// pid) and slots that are dropped when the test ends, whether it passed or not.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/harness_env.hpp"
#include "support/pg_client.hpp"
#include "support/relay_process.hpp"

namespace outbox_relay::it {

/// Whether `text` has `part` anywhere in it.
inline bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

/// 8 lower-case hex characters, different in every call and every process.
std::string RandomSuffix();

/// A fresh directory under $TMPDIR; removed by the destructor unless Keep() was called.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& Path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }
  void Keep() { keep_ = true; }

 private:
  std::string path_;
  bool keep_ = false;
};

struct SlotState {
  bool active = false;
  std::optional<std::int64_t> active_pid;
  std::optional<std::uint64_t> confirmed_flush_lsn;
  std::string plugin;
};

/// CREATE DATABASE it_<name>_<random>; applies the outbox/sql migrations. The destructor
/// drops the slots registered with it (waiting for them to become inactive) and the database.
class TestDatabase {
 public:
  TestDatabase(const HarnessEnv& harness, const std::string& name);
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  const std::string& Name() const { return name_; }
  /// The conninfo the relay gets (no connect_timeout, exactly the documented form).
  std::string RelayDsn() const;
  PgConnection Connect() const;

  /// Remembers a replication slot to drop at the end (created by us or by the relay).
  void DropSlotAtEnd(const std::string& slot);
  /// Drops the slot now if it exists (waits up to `timeout` for it to be inactive).
  void DropSlot(const std::string& slot, std::chrono::milliseconds timeout) const;

  std::optional<SlotState> Slot(const std::string& slot) const;
  /// Polls pg_replication_slots until the slot exists with active == `active`.
  bool WaitForSlot(const std::string& slot, bool active, std::chrono::milliseconds timeout) const;

 private:
  const HarnessEnv& harness_;
  std::string name_;
  std::vector<std::string> slots_;
  bool created_ = false;
};

struct RelayConfigOptions {
  std::string dsn;
  std::string slot;
  std::string publication = "outbox_relay";
  std::string topic;
  std::string sink = "kafka";
  std::string bootstrap_servers;  // omitted when empty
  std::map<std::string, std::string> kafka_properties;  // more kafka.* settings
  std::optional<std::size_t> max_in_flight_events;     // flow.max_in_flight_events
  std::string log_level = "info";
  std::string log_format;  // log.format ("json", "text"); omitted when empty
  std::string delivery;  // top-level `delivery:` ("exactly-once", ...); omitted when empty
  /// More keys by section, written as plain YAML scalars: source.* keys join the source block,
  /// other sections (e.g. "exactly_once") get blocks of their own.
  std::map<std::string, std::map<std::string, std::string>> more;
};

/// A 127.0.0.1 port nothing listened on a moment ago (bound to port 0, then closed): a
/// connection to it is refused, and a server may be started on it.
int UnusedLoopbackPort();

/// The YAML the relay reads (source / outbox / sink / kafka / log). Unless more["http"] names
/// a `listen`, the HTTP port is "127.0.0.1:0" (a free port, logged), so relays never collide.
std::string RenderRelayConfig(const RelayConfigOptions& options);

/// Base fixture: owns the temp dir and the relays a test starts; prints every relay's stderr
/// tail (and keeps the temp dir) when the test failed. Relays are SIGKILLed in TearDown before
/// the database and its slots are dropped.
class RelayIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  /// A short name of the running test for database / slot / topic names ([a-z0-9_]).
  std::string ShortTestName() const;
  /// Creates the test database (kept by the fixture; dropped in TearDown).
  TestDatabase& CreateDatabase();
  /// Writes `yaml` to <temp>/<file_name> and returns the path.
  std::string WriteConfig(const std::string& file_name, const std::string& yaml);
  /// A relay process `run --config <path>`, stdout/stderr into the temp dir; not started yet.
  RelayProcess& NewRelay(const std::string& config_path, const std::string& label);
  /// A relay process `outbox-relay <args>` (replay, check, ...), output into the temp dir.
  RelayProcess& NewRelayCommand(std::vector<std::string> args, const std::string& label);

  std::unique_ptr<TempDir> temp_;
  std::string suffix_;
  std::unique_ptr<TestDatabase> db_;
  std::vector<std::unique_ptr<RelayProcess>> relays_;
};

/// Elapsed time as seconds with one decimal, for progress lines.
std::string Seconds(std::chrono::steady_clock::duration duration);

/// Waits until `done` holds, polling every `interval`; false after `timeout`.
template <typename Predicate>
bool WaitUntil(Predicate done, std::chrono::milliseconds timeout,
               std::chrono::milliseconds interval = std::chrono::milliseconds(200)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(interval);
  }
  return true;
}

/// Waits until the file at `path` contains `part`, reading it every 100 ms; false after `timeout`.
bool WaitForText(const std::string& path, const std::string& part, std::chrono::milliseconds timeout);

}  // namespace outbox_relay::it
