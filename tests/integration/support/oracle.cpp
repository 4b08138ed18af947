#include "support/oracle.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <iostream>
#include <sstream>
#include <thread>

#include "support/lsn_text.hpp"

namespace outbox_relay::it {
namespace {

constexpr std::size_t kMaxSamples = 20;

std::optional<nlohmann::json> ParseJson(const std::string& text) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

}  // namespace

std::string TopicFor(const std::string& topic_template, const std::string& aggregate_type) {
  std::string topic = topic_template;
  const std::string placeholder = "{aggregate_type}";
  for (auto pos = topic.find(placeholder); pos != std::string::npos;
       pos = topic.find(placeholder, pos + aggregate_type.size())) {
    topic.replace(pos, placeholder.size(), aggregate_type);
  }
  return topic;
}

std::vector<LedgerEvent> ReadLedger(PgConnection& conn) {
  auto rows = conn.Exec(
      "SELECT id::text, aggregatetype, aggregateid, type, payload::text, headers::text,"
      " (payload->>'seq')::int FROM outbox.outbox ORDER BY aggregateid, (payload->>'seq')::int");
  std::vector<LedgerEvent> ledger;
  ledger.reserve(rows.Size());
  for (std::size_t r = 0; r < rows.Size(); ++r) {
    LedgerEvent event;
    event.id = rows.Text(r, 0);
    event.aggregate_type = rows.Text(r, 1);
    event.aggregate_id = rows.Text(r, 2);
    event.type = rows.Text(r, 3);
    event.payload = rows.At(r, 4);
    event.headers = rows.At(r, 5);
    event.seq = rows.At(r, 6) ? std::stoi(*rows.At(r, 6)) : 0;
    ledger.push_back(std::move(event));
  }
  return ledger;
}

std::string PgOutputOracleSlot(const std::string& slot) { return slot + "_pgo"; }

void CreateOracleSlot(PgConnection& conn, const std::string& slot) {
  conn.ExecParams("SELECT pg_create_logical_replication_slot($1, 'test_decoding')", {slot});
  conn.ExecParams("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", {PgOutputOracleSlot(slot)});
}

namespace {

// Commit end LSN → commit LSN, from the pgoutput companion slot's Commit messages.
std::unordered_map<std::uint64_t, std::uint64_t> ReadCommitStarts(PgConnection& conn, const std::string& slot) {
  auto rows = conn.ExecParams(
      "SELECT encode(substring(data from 3 for 8), 'hex'), encode(substring(data from 11 for 8), 'hex') "
      "FROM pg_logical_slot_peek_binary_changes($1, NULL, NULL, 'proto_version', '1', "
      "'publication_names', 'outbox_relay') WHERE get_byte(data, 0) = ascii('C')",
      {PgOutputOracleSlot(slot)});
  std::unordered_map<std::uint64_t, std::uint64_t> starts;
  for (std::size_t r = 0; r < rows.Size(); ++r) {
    starts[std::stoull(rows.Text(r, 1), nullptr, 16)] = std::stoull(rows.Text(r, 0), nullptr, 16);
  }
  return starts;
}

}  // namespace

CommitOracle ReadCommitOracle(PgConnection& conn, const std::string& slot) {
  auto rows = conn.ExecParams("SELECT lsn::text, data FROM pg_logical_slot_peek_changes($1, NULL, NULL)", {slot});
  CommitOracle oracle;
  std::vector<std::string> open;  // outbox ids of the transaction being read
  bool in_transaction = false;
  const std::string insert_prefix = "table outbox.outbox: INSERT: ";
  const std::string id_marker = "id[uuid]:'";
  for (std::size_t r = 0; r < rows.Size(); ++r) {
    const std::string& lsn_text = rows.Text(r, 0);
    const std::string& data = rows.Text(r, 1);
    if (data.rfind("BEGIN", 0) == 0) {
      if (in_transaction) oracle.anomalies.push_back("BEGIN inside a transaction at " + lsn_text);
      in_transaction = true;
      open.clear();
    } else if (data.rfind("COMMIT", 0) == 0) {
      auto lsn = ParseLsnText(lsn_text);
      if (!lsn) {
        oracle.anomalies.push_back("unparsable lsn " + lsn_text);
        continue;
      }
      if (!open.empty()) {
        ++oracle.transactions;
        oracle.max_commit_end_lsn = std::max(oracle.max_commit_end_lsn, *lsn);
      }
      for (const auto& id : open) oracle.commit_end_lsn[id] = *lsn;
      open.clear();
      in_transaction = false;
    } else if (data.rfind(insert_prefix, 0) == 0) {
      auto pos = data.find(id_marker, insert_prefix.size());
      if (pos == std::string::npos || pos + id_marker.size() + 36 > data.size()) {
        oracle.anomalies.push_back("no id in: " + data.substr(0, 120));
        continue;
      }
      open.push_back(data.substr(pos + id_marker.size(), 36));
    }
  }
  if (in_transaction && !open.empty()) {
    oracle.anomalies.push_back("last transaction has no COMMIT row");
  }
  const auto starts = ReadCommitStarts(conn, slot);
  for (const auto& [id, end_lsn] : oracle.commit_end_lsn) {
    const auto start = starts.find(end_lsn);
    if (start == starts.end()) {
      oracle.anomalies.push_back("pgoutput oracle has no commit ending at " + FormatLsn(end_lsn));
      continue;
    }
    oracle.commit_lsn[id] = start->second;
  }
  return oracle;
}

std::size_t DeliveryReport::MismatchTotal() const {
  std::size_t total = 0;
  for (const auto& entry : mismatches) total += entry.second;
  return total;
}

std::string DeliveryReport::Summary() const {
  std::ostringstream out;
  out << "committed=" << committed << " records=" << records << " distinct_delivered=" << distinct_delivered
      << " lost=" << lost << " duplicated=" << duplicated
      << " (events delivered more than once: " << duplicated_ids << ") reordered=" << reordered
      << " rolled_back_delivered=" << rolled_back_delivered << " unknown_delivered=" << unknown_delivered
      << " keys_in_several_partitions=" << keys_in_several_partitions << " field_mismatches=" << MismatchTotal()
      << " value_text_differs_from_jsonb_output=" << value_text_differs;
  for (const auto& [check, count] : mismatches) out << "\n    mismatch " << check << ": " << count;
  for (const auto& sample : samples) out << "\n    e.g. " << sample;
  return out.str();
}

DeliveryReport Analyze(const std::vector<LedgerEvent>& ledger, const std::vector<KafkaRecord>& records,
                       const AnalysisOptions& options) {
  DeliveryReport report;
  report.committed = ledger.size();
  report.records = records.size();

  std::unordered_map<std::string, const LedgerEvent*> by_id;
  by_id.reserve(ledger.size());
  for (const auto& event : ledger) by_id.emplace(event.id, &event);

  auto mismatch = [&](const std::string& check, const std::string& detail) {
    ++report.mismatches[check];
    if (report.samples.size() < kMaxSamples) report.samples.push_back(check + ": " + detail);
  };

  // Records in partition order (the order a consumer of one key sees).
  std::vector<const KafkaRecord*> ordered;
  ordered.reserve(records.size());
  for (const auto& record : records) ordered.push_back(&record);
  std::stable_sort(ordered.begin(), ordered.end(), [](const KafkaRecord* a, const KafkaRecord* b) {
    if (a->topic != b->topic) return a->topic < b->topic;
    if (a->partition != b->partition) return a->partition < b->partition;
    return a->offset < b->offset;
  });

  std::unordered_map<std::string, std::size_t> copies;
  std::map<std::string, std::vector<int>> first_seqs;  // aggregate id → seqs, first occurrences
  std::map<std::pair<std::string, std::string>, std::set<std::int32_t>> partitions_of_key;

  for (const KafkaRecord* record : ordered) {
    std::string where =
        record->topic + "/" + std::to_string(record->partition) + "@" + std::to_string(record->offset);
    if (record->key) partitions_of_key[{record->topic, *record->key}].insert(record->partition);
    auto id = record->Header("id");
    if (!id) {
      mismatch("id header missing", where);
      ++report.unknown_delivered;
      continue;
    }
    if (options.rolled_back_ids.count(*id) != 0) {
      ++report.rolled_back_delivered;
      if (report.samples.size() < kMaxSamples) {
        report.samples.push_back("event of a rolled-back transaction delivered: " + *id + " at " + where);
      }
      continue;
    }
    auto found = by_id.find(*id);
    if (found == by_id.end()) {
      ++report.unknown_delivered;
      if (report.samples.size() < kMaxSamples) {
        report.samples.push_back("record with unknown id " + *id + " at " + where);
      }
      continue;
    }
    const LedgerEvent& event = *found->second;
    if (++copies[event.id] == 1) first_seqs[event.aggregate_id].push_back(event.seq);

    // Field checks, on every copy.
    std::string expected_topic = TopicFor(options.topic_template, event.aggregate_type);
    if (record->topic != expected_topic) {
      mismatch("topic", where + " expected " + expected_topic);
    }
    if (!record->key || *record->key != event.aggregate_id) {
      mismatch("key", where + " key=" + record->key.value_or("<null>") + " expected " + event.aggregate_id);
    }
    if (event.payload) {
      auto expected = ParseJson(*event.payload);
      auto actual = record->value ? ParseJson(*record->value) : std::nullopt;
      if (!actual || !expected || *actual != *expected) {
        mismatch("value", where + " value=" + record->value.value_or("<null>").substr(0, 200) + " expected " +
                              event.payload->substr(0, 200));
      } else if (*record->value != *event.payload) {
        ++report.value_text_differs;
      }
    } else if (record->value) {
      mismatch("value", where + " expected a null value");
    }
    for (const auto& [name, expected] : {std::pair<std::string, std::string>{"id", event.id},
                                         {"type", event.type},
                                         {"aggregate_type", event.aggregate_type},
                                         {"source", std::string("table:outbox.outbox")}}) {
      if (record->HeaderCount(name) != 1 || record->Header(name) != expected) {
        mismatch("header " + name, where + " got " + record->Header(name).value_or("<none>") + " x" +
                                       std::to_string(record->HeaderCount(name)) + " expected " + expected);
      }
    }
    auto commit_lsn_text = record->Header("commit_lsn");
    auto commit_lsn = commit_lsn_text ? ParseLsnText(*commit_lsn_text) : std::nullopt;
    if (record->HeaderCount("commit_lsn") != 1 || !commit_lsn) {
      mismatch("header commit_lsn", where + " got " + commit_lsn_text.value_or("<none>"));
    } else if (options.oracle != nullptr) {
      auto oracle = options.oracle->commit_lsn.find(event.id);
      if (oracle == options.oracle->commit_lsn.end()) {
        mismatch("commit_lsn oracle has no entry", event.id);
      } else if (oracle->second != *commit_lsn) {
        mismatch("commit_lsn != oracle commit lsn",
                 where + " header " + *commit_lsn_text + " oracle " + FormatLsn(oracle->second));
      }
    }
    // One header per entry of the row's headers jsonb: strings as-is, others as JSON text.
    std::set<std::string> allowed = {"id", "type", "aggregate_type", "commit_lsn", "source"};
    if (event.headers) {
      auto entries = ParseJson(*event.headers);
      if (entries && entries->is_object()) {
        for (const auto& [name, value] : entries->items()) {
          allowed.insert(name);
          auto got = record->Header(name);
          bool ok = record->HeaderCount(name) == 1 && got.has_value();
          if (ok && value.is_string()) {
            ok = *got == value.get<std::string>();
          } else if (ok) {
            auto parsed = ParseJson(*got);
            ok = parsed && *parsed == value;
          }
          if (!ok) {
            mismatch("jsonb header entry " + name,
                     where + " got " + got.value_or("<none>") + " expected " + value.dump());
          }
        }
      }
    }
    for (const auto& header : record->headers) {
      if (allowed.count(header.first) == 0) {
        mismatch("unexpected header", where + " " + header.first);
      }
    }
  }

  report.distinct_delivered = copies.size();
  for (const auto& [id, count] : copies) {
    if (count > 1) {
      report.duplicated += count - 1;
      ++report.duplicated_ids;
    }
  }
  std::size_t lost_samples = 0;
  for (const auto& event : ledger) {
    if (copies.count(event.id) == 0) {
      ++report.lost;
      if (lost_samples++ < 5 && report.samples.size() < kMaxSamples) {
        report.samples.push_back("lost " + event.id + " " + event.aggregate_id + " seq " +
                                 std::to_string(event.seq));
      }
    }
  }
  for (const auto& [aggregate, seqs] : first_seqs) {
    int previous = 0;
    for (int seq : seqs) {
      if (seq != previous + 1) {
        ++report.reordered;
        if (report.samples.size() < kMaxSamples) {
          report.samples.push_back("order: " + aggregate + " seq " + std::to_string(seq) + " after " +
                                   std::to_string(previous));
        }
      }
      previous = seq;
    }
  }
  for (const auto& [key, parts] : partitions_of_key) {
    if (parts.size() > 1) ++report.keys_in_several_partitions;
  }
  return report;
}

std::size_t CountDelivered(const std::unordered_set<std::string>& wanted,
                           const std::vector<KafkaRecord>& records) {
  std::unordered_set<std::string> seen;
  for (const auto& record : records) {
    auto id = record.Header("id");
    if (id && wanted.count(*id) != 0) seen.insert(*id);
  }
  return seen.size();
}

std::size_t WaitForDelivery(const ReadRecords& read, const std::string& where,
                            const std::unordered_set<std::string>& wanted, std::chrono::milliseconds timeout,
                            const std::function<bool()>& still_running) {
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + timeout;
  auto last_print = start;
  std::size_t delivered = 0;
  while (true) {
    delivered = CountDelivered(wanted, read());
    const auto now = std::chrono::steady_clock::now();
    if (delivered >= wanted.size() || now >= deadline) break;
    if (still_running && !still_running()) {
      std::cout << "[ wait ] relay is not running any more\n";
      break;
    }
    if (now - last_print >= std::chrono::seconds(10)) {
      last_print = now;
      std::cout << "[ wait ] " << delivered << " of " << wanted.size() << " events in " << where << " after "
                << std::chrono::duration_cast<std::chrono::seconds>(now - start).count() << "s\n";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  return delivered;
}

std::size_t WaitForDelivery(KafkaReader& reader, const std::unordered_set<std::string>& wanted,
                            std::chrono::milliseconds timeout, const std::function<bool()>& still_running) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const auto catch_up = [&]() -> const std::vector<KafkaRecord>& {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    try {
      reader.CatchUp(std::max(left, std::chrono::milliseconds(30000)));
    } catch (const std::exception& e) {
      std::cout << "[ wait ] kafka read: " << e.what() << "\n";
    }
    return reader.Records();
  };
  return WaitForDelivery(catch_up, "Kafka", wanted, timeout, still_running);
}

std::size_t CountAcknowledgedButMissing(const std::vector<LedgerEvent>& ledger, const CommitOracle& oracle,
                                        const AckSnapshot& snapshot, std::vector<std::string>* samples) {
  std::size_t missing = 0;
  for (const auto& event : ledger) {
    auto lsn = oracle.commit_end_lsn.find(event.id);
    if (lsn == oracle.commit_end_lsn.end()) continue;  // reported separately
    if (lsn->second <= snapshot.confirmed_flush_lsn && snapshot.ids.count(event.id) == 0) {
      ++missing;
      if (samples != nullptr && samples->size() < 10) {
        samples->push_back("fault point " + std::to_string(snapshot.fault_point) + ": " + event.id + " (" +
                           event.aggregate_id + " seq " + std::to_string(event.seq) + ") commit end " +
                           FormatLsn(lsn->second) + " <= confirmed_flush " +
                           FormatLsn(snapshot.confirmed_flush_lsn) + " but not in Kafka");
      }
    }
  }
  return missing;
}

std::optional<std::uint64_t> CheckpointHistory::Last() const {
  if (commit_lsns.empty()) return std::nullopt;
  return commit_lsns.back();
}

CheckpointHistory ReadCheckpoints(const std::vector<KafkaRecord>& records, const std::string& slot) {
  std::vector<const KafkaRecord*> mine;
  for (const auto& record : records) {
    if (record.key == slot) mine.push_back(&record);
  }
  std::stable_sort(mine.begin(), mine.end(), [](const KafkaRecord* a, const KafkaRecord* b) {
    return a->partition != b->partition ? a->partition < b->partition : a->offset < b->offset;
  });
  CheckpointHistory history;
  auto problem = [&](const std::string& what) {
    if (history.samples.size() < kMaxSamples) history.samples.push_back(what);
  };
  for (const KafkaRecord* record : mine) {
    history.partitions.insert(record->partition);
    const std::string where =
        "checkpoint " + std::to_string(record->partition) + "@" + std::to_string(record->offset);
    auto value = record->value ? ParseJson(*record->value) : std::nullopt;
    std::optional<std::uint64_t> lsn;
    if (value && value->is_object() && value->value("slot", "") == slot && value->contains("commit_lsn") &&
        (*value)["commit_lsn"].is_string()) {
      lsn = ParseLsnText((*value)["commit_lsn"].get<std::string>());
    }
    if (!lsn) {
      ++history.malformed;
      problem(where + " malformed: " + record->value.value_or("<null>").substr(0, 200));
      continue;
    }
    if (!history.commit_lsns.empty() && *lsn < history.commit_lsns.back()) {
      ++history.regressions;
      problem(where + " commit_lsn " + FormatLsn(*lsn) + " after " + FormatLsn(history.commit_lsns.back()));
    }
    history.commit_lsns.push_back(*lsn);
  }
  return history;
}

void ExpectNothingLostOrReordered(const DeliveryReport& report) {
  EXPECT_EQ(report.lost, 0u);
  EXPECT_EQ(report.reordered, 0u);
  EXPECT_EQ(report.rolled_back_delivered, 0u);
  EXPECT_EQ(report.unknown_delivered, 0u);
  EXPECT_EQ(report.MismatchTotal(), 0u) << "includes commit_lsn header == oracle, every record";
}

}  // namespace outbox_relay::it
