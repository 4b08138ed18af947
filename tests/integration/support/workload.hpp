#pragma once

// The writer side of the test oracle: ONE connection commits outbox events in transactions of
// 1, 10 and 1,000 rows (sizes shuffled), each event's payload carrying its aggregate id and a
// per-aggregate sequence number 1, 2, 3... in commit order; interleaved with writes to a table
// outside the publication and with rolled-back transactions that also called outbox.publish.
// Optionally it survives a PostgreSQL restart: it reconnects and retries its transaction.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "support/pg_client.hpp"

namespace outbox_relay::it {

struct WorkloadOptions {
  int aggregates = 200;
  int first_aggregate = 0;  // aggregate ids from agg-<first_aggregate>: a later run's own aggregates
  std::vector<std::string> aggregate_types = {"order", "customer", "invoice", "shipment"};
  int single_row_transactions = 2000;  // 2,000 events
  int ten_row_transactions = 300;      // 3,000 events
  int thousand_row_transactions = 5;   // 5,000 events
  int rollback_every = 20;     // before every Nth committed txn: a rolled-back txn that published
  int other_table_every = 7;   // before every Nth committed txn: a txn touching other_table only
  int other_row_every = 97;    // every Nth row inside an outbox txn also writes other_table
  double events_per_second = 0;  // pacing of outbox rows; 0 = as fast as possible
  std::uint64_t seed = 1;
  // When set, a failed statement (e.g. the server restarting) makes the writer reconnect with
  // this conninfo (retrying for up to reconnect_timeout) and retry the transaction. A COMMIT
  // whose outcome is unknown is resolved by looking its first event id up in outbox.outbox.
  std::string reconnect_conninfo;
  std::chrono::milliseconds reconnect_timeout{60000};

  /// `single` 1-row, `ten` 10-row and `thousand` 1,000-row transactions written at `rate`
  /// events per second; the rest as defaulted.
  static WorkloadOptions Sized(int single, int ten, int thousand, double rate) {
    WorkloadOptions workload;
    workload.single_row_transactions = single;
    workload.ten_row_transactions = ten;
    workload.thousand_row_transactions = thousand;
    workload.events_per_second = rate;
    return workload;
  }

  int TotalEvents() const {
    return single_row_transactions + 10 * ten_row_transactions + 1000 * thousand_row_transactions;
  }
};

struct WorkloadResult {
  int committed_events = 0;
  int committed_transactions = 0;
  int rolled_back_transactions = 0;
  int other_table_transactions = 0;
  int other_table_rows = 0;
  int reconnects = 0;               // connections re-established after an error
  int commits_found_after_error = 0;  // COMMITs that failed on the client but took effect
  std::vector<std::string> committed_ids;    // as returned by outbox.publish, commit order
  std::vector<std::string> rolled_back_ids;  // returned by publish in txns that rolled back
  std::chrono::steady_clock::duration elapsed{};
};

/// The aggregate id of aggregate number `index` ("agg-007") and its type (index % types).
std::string AggregateId(int index);

/// Creates public.other_table (not in the publication).
void CreateOtherTable(PgConnection& conn);

/// Runs the workload on `conn`. `committed_events` is updated after every COMMIT (for a
/// watcher thread); `stop` aborts between transactions. Throws PgError on SQL failure (with
/// reconnect_conninfo: when no connection could be made within reconnect_timeout). May
/// replace `conn` by a new connection.
WorkloadResult RunWorkload(PgConnection& conn, const WorkloadOptions& options, std::atomic<int>* committed_events,
                           const std::atomic<bool>* stop);

/// RunWorkload on a thread of its own, on a connection of its own; the destructor stops it
/// (between transactions) and joins it.
class BackgroundWriter {
 public:
  BackgroundWriter(PgConnection conn, const WorkloadOptions& options);
  ~BackgroundWriter();
  BackgroundWriter(const BackgroundWriter&) = delete;
  BackgroundWriter& operator=(const BackgroundWriter&) = delete;

  /// Events committed so far (thread-safe).
  int Committed() const { return committed_.load(); }
  /// True once the workload finished or failed (thread-safe).
  bool Done() const { return done_.load(); }
  /// Waits up to `timeout` for the workload to end; true if it did (then joined).
  bool WaitFor(std::chrono::milliseconds timeout);
  /// Valid after WaitFor returned true: the error message ("" if none) and the result.
  const std::string& Error() const { return error_; }
  const WorkloadResult& Result() const { return result_; }

 private:
  WorkloadOptions options_;
  PgConnection conn_;
  std::atomic<int> committed_{0};
  std::atomic<bool> stop_{false};
  std::atomic<bool> done_{false};
  WorkloadResult result_;
  std::string error_;
  std::thread thread_;
};

}  // namespace outbox_relay::it
