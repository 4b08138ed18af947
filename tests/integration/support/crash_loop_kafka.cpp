// KafkaWatch: what Kafka holds while the crash loop runs, and the snapshots of what the slot
// confirmed against it.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/crash_loop_run.hpp"
#include "support/lsn_text.hpp"

namespace outbox_relay::it::crash_loop_detail {

using namespace std::chrono_literals;

KafkaWatch::KafkaWatch(const std::string& bootstrap_servers, std::vector<std::string> topics)
    : reader_(bootstrap_servers, std::move(topics)) {}

void KafkaWatch::CatchUp(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    try {
      reader_.CatchUp(std::max<std::chrono::milliseconds>(
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()), 5s));
      break;
    } catch (const std::runtime_error& e) {
      if (Clock::now() >= deadline) throw;
      std::cout << "[ kafka ] read failed, retrying: " << e.what() << "\n";
      std::this_thread::sleep_for(500ms);
    }
  }
  const auto& records = reader_.Records();
  for (; scanned_ < records.size(); ++scanned_) {
    if (auto id = records[scanned_].Header("id")) seen_.insert(*id);
  }
}

void KafkaWatch::Snapshot(int fault_point, std::uint64_t confirmed, int committed,
                          bool read_kafka) {
  if (read_kafka) CatchUp(120s);
  AckSnapshot snapshot;
  snapshot.fault_point = fault_point;
  snapshot.confirmed_flush_lsn = confirmed;
  snapshot.committed_when_taken = committed;
  snapshot.ids = seen_;
  snapshot.records = reader_.Records().size();
  snapshots_.push_back(std::move(snapshot));
}

std::string KafkaWatch::LastSnapshotText() const {
  const AckSnapshot& last = snapshots_.back();
  return "slot confirmed_flush_lsn " + FormatLsn(last.confirmed_flush_lsn) + ", Kafka holds " +
         std::to_string(last.ids.size()) + " distinct events in " +
         std::to_string(last.records) + " records";
}

}  // namespace outbox_relay::it::crash_loop_detail
