#include "support/workload.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <random>
#include <thread>

namespace outbox_relay::it {

std::string AggregateId(int index) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "agg-%03d", index);
  return buffer;
}

void CreateOtherTable(PgConnection& conn) {
  conn.Exec(
      "CREATE TABLE IF NOT EXISTS public.other_table ("
      " id bigserial PRIMARY KEY, note text NOT NULL, amount numeric,"
      " created_at timestamptz NOT NULL DEFAULT now())");
}

namespace {

class Writer {
 public:
  static constexpr int kMaxAttempts = 20;  // tries of one committed transaction (reconnecting)

  Writer(PgConnection& conn, const WorkloadOptions& options)
      : conn_(conn), options_(options), rng_(options.seed), seq_(options.aggregates, 0) {
    PrepareStatements();
    start_ = std::chrono::steady_clock::now();
  }

  // Writes one other_table row inside the open transaction; counted in `rows`.
  void OtherRow(int& rows) {
    ++other_counter_;
    conn_.ExecPrepared("it_other",
                       {"other row " + std::to_string(other_counter_), std::to_string(other_counter_) + ".25"});
    ++rows;
  }

  // Publishes one event inside the open transaction, tentatively advancing `pending` seqs.
  std::string Publish(std::map<int, int>& pending) {
    Pace();
    std::uniform_int_distribution<int> pick(0, options_.aggregates - 1);
    int agg = pick(rng_);
    int seq = (pending.count(agg) ? pending[agg] : seq_[agg]) + 1;
    pending[agg] = seq;
    ++event_counter_;
    const std::string& type =
        options_.aggregate_types[static_cast<std::size_t>(agg) % options_.aggregate_types.size()];
    nlohmann::json payload = {{"agg", AggregateId(options_.first_aggregate + agg)},
                              {"seq", seq},
                              {"n", event_counter_},
        // Escapes and non-ASCII text must survive the trip unchanged.
                              {"note", "caf\xc3\xa9 \"quoted\" back\\slash tab\t \xe2\x9c\x93"},
                              {"amount", 12.5},
                              {"items", {1, 2, 3}},
                              {"nested", {{"k", nullptr}, {"flag", true}}}};
    std::optional<std::string> headers;
    if (event_counter_ % 10 != 0) {  // every 10th event has NULL headers
      headers = nlohmann::json{{"trace", "t-" + std::to_string(event_counter_)},
                               {"n", event_counter_ % 100},
                               {"ok", true},
                               {"ctx", {{"tenant", "acme"}, {"v", 2}}}}
                    .dump();
    }
    std::string event_type = type + ".updated.v" + std::to_string(seq % 3 + 1);
    auto rows = conn_.ExecPrepared(
        "it_publish", {type, AggregateId(options_.first_aggregate + agg), event_type, payload.dump(), headers});
    ++rows_written_;
    return rows.Text(0, 0);
  }

  void CommittedTransaction(int size, WorkloadResult& result) {
    for (int attempt = 1;; ++attempt) {
      std::map<int, int> pending;
      std::vector<std::string> ids;
      int other_rows = 0;
      try {
        conn_.Exec("BEGIN");
        for (int i = 0; i < size; ++i) {
          ids.push_back(Publish(pending));
          if (++row_counter_ % options_.other_row_every == 0) OtherRow(other_rows);
        }
        conn_.Exec("COMMIT");
      } catch (const PgError& error) {
        if (attempt >= kMaxAttempts) throw;
        Reconnect(error, result);
        // Every publish returned before COMMIT was sent, so `ids` is complete if it committed.
        if (ids.size() < static_cast<std::size_t>(size) || !Exists(ids.front())) continue;
        ++result.commits_found_after_error;
      }
      for (const auto& [agg, seq] : pending) seq_[static_cast<std::size_t>(agg)] = seq;
      result.committed_ids.insert(result.committed_ids.end(), ids.begin(), ids.end());
      result.committed_events += size;
      result.other_table_rows += other_rows;
      ++result.committed_transactions;
      return;
    }
  }

  // A transaction that publishes and rolls back: nothing to retry when the connection drops.
  void RolledBackTransaction(WorkloadResult& result) {
    std::map<int, int> pending;
    std::uniform_int_distribution<int> rows(1, 5);
    int count = rows(rng_);
    int other_rows = 0;
    try {
      conn_.Exec("BEGIN");
      for (int i = 0; i < count; ++i) result.rolled_back_ids.push_back(Publish(pending));
      OtherRow(other_rows);
      conn_.Exec("ROLLBACK");
    } catch (const PgError& error) {
      Reconnect(error, result);
    }
    ++result.rolled_back_transactions;
  }

  // Two other_table rows; skipped when the connection drops (nothing of the oracle's).
  void OtherTableTransaction(WorkloadResult& result) {
    int other_rows = 0;
    try {
      conn_.Exec("BEGIN");
      OtherRow(other_rows);
      OtherRow(other_rows);
      conn_.Exec("COMMIT");
    } catch (const PgError& error) {
      Reconnect(error, result);
      return;
    }
    result.other_table_rows += other_rows;
    ++result.other_table_transactions;
  }

  std::mt19937_64& Rng() { return rng_; }

 private:
  void PrepareStatements() {
    conn_.Prepare("it_publish", "SELECT outbox.publish($1, $2, $3, $4::jsonb, $5::jsonb)::text", 5);
    conn_.Prepare("it_other", "INSERT INTO public.other_table (note, amount) VALUES ($1, $2::numeric)", 2);
  }

  // After a failed statement: rethrows unless reconnecting is enabled; otherwise replaces the
  // connection (the server rolls back whatever the old one had open) within reconnect_timeout.
  void Reconnect(const PgError& error, WorkloadResult& result) {
    if (options_.reconnect_conninfo.empty()) throw error;
    const auto start = std::chrono::steady_clock::now();
    const auto deadline = start + options_.reconnect_timeout;
    while (true) {
      try {
        conn_ = PgConnection(options_.reconnect_conninfo);
        PrepareStatements();
        break;
      } catch (const PgError& again) {
        if (std::chrono::steady_clock::now() >= deadline) {
          throw PgError(std::string("writer could not reconnect after \"") + error.what() + "\": " + again.what());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
    }
    ++result.reconnects;
    std::cout << "[ writer ] " << error.what() << "; reconnected after "
              << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() << " s\n";
  }

  bool Exists(const std::string& id) {
    return !conn_.ExecParams("SELECT 1 FROM outbox.outbox WHERE id = $1::uuid", {id}).Empty();
  }

  void Pace() {
    if (options_.events_per_second <= 0) return;
    auto due = start_ +
               std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                   std::chrono::duration<double>(static_cast<double>(rows_written_) / options_.events_per_second));
    std::this_thread::sleep_until(due);
  }

  PgConnection& conn_;
  const WorkloadOptions& options_;
  std::mt19937_64 rng_;
  std::vector<int> seq_;  // last committed seq per aggregate
  long event_counter_ = 0;
  long row_counter_ = 0;
  long other_counter_ = 0;
  long rows_written_ = 0;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace

WorkloadResult RunWorkload(PgConnection& conn, const WorkloadOptions& options, std::atomic<int>* committed_events,
                           const std::atomic<bool>* stop) {
  const auto start = std::chrono::steady_clock::now();
  Writer writer(conn, options);
  std::vector<int> sizes;
  sizes.insert(sizes.end(), static_cast<std::size_t>(options.single_row_transactions), 1);
  sizes.insert(sizes.end(), static_cast<std::size_t>(options.ten_row_transactions), 10);
  sizes.insert(sizes.end(), static_cast<std::size_t>(options.thousand_row_transactions), 1000);
  std::shuffle(sizes.begin(), sizes.end(), writer.Rng());

  WorkloadResult result;
  for (std::size_t t = 0; t < sizes.size(); ++t) {
    if (stop != nullptr && stop->load()) break;
    if (options.rollback_every > 0 && t % static_cast<std::size_t>(options.rollback_every) == 3) {
      writer.RolledBackTransaction(result);
    }
    if (options.other_table_every > 0 && t % static_cast<std::size_t>(options.other_table_every) == 5) {
      writer.OtherTableTransaction(result);
    }
    writer.CommittedTransaction(sizes[t], result);
    if (committed_events != nullptr) committed_events->store(result.committed_events);
  }
  result.elapsed = std::chrono::steady_clock::now() - start;
  return result;
}

BackgroundWriter::BackgroundWriter(PgConnection conn, const WorkloadOptions& options)
    : options_(options), conn_(std::move(conn)) {
  thread_ = std::thread([this] {
    try {
      result_ = RunWorkload(conn_, options_, &committed_, &stop_);
    } catch (const std::exception& e) {
      error_ = e.what();
    }
    done_ = true;
  });
}

BackgroundWriter::~BackgroundWriter() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

bool BackgroundWriter::WaitFor(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done_.load()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (thread_.joinable()) thread_.join();
  return true;
}

}  // namespace outbox_relay::it
