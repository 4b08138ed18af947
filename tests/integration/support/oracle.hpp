#pragma once

// The test oracle (shared/notes/failure-modes.md): the ledger of what committed is the outbox
// table itself; the commit end LSN of every event comes from an independent test_decoding
// slot; a read_committed consumer's records are compared against both.
//   lost       = ledger minus seen
//   duplicated = records beyond the first per event id
//   reordered  = per aggregate, first occurrences in partition order whose seq is not the
//                previous one + 1

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "support/kafka_reader.hpp"
#include "support/pg_client.hpp"

namespace outbox_relay::it {

struct LedgerEvent {
  std::string id;
  std::string aggregate_type;
  std::string aggregate_id;
  std::string type;
  std::optional<std::string> payload;  // jsonb text output
  std::optional<std::string> headers;  // jsonb text output
  int seq = 0;                         // payload->seq
};

/// Every committed row of outbox.outbox.
std::vector<LedgerEvent> ReadLedger(PgConnection& conn);

struct CommitOracle {
  std::unordered_map<std::string, std::uint64_t> commit_end_lsn;  // event id → COMMIT row lsn
  std::unordered_map<std::string, std::uint64_t> commit_lsn;      // event id → commit record start
  std::size_t transactions = 0;  // transactions that inserted outbox rows
  std::uint64_t max_commit_end_lsn = 0;
  std::vector<std::string> anomalies;  // unparsable lines etc.
};

/// Creates the oracle slots (before the writer starts): `slot` with the test_decoding plugin
/// and PgOutputOracleSlot(slot) with pgoutput.
void CreateOracleSlot(PgConnection& conn, const std::string& slot);

/// The name of the pgoutput companion of an oracle slot.
std::string PgOutputOracleSlot(const std::string& slot);

/// Reads the oracle slots. test_decoding (pg_logical_slot_peek_changes) gives rows
/// "BEGIN <xid>", "table outbox.outbox: INSERT: id[uuid]:'<uuid>' ...", "COMMIT <xid>"; the lsn
/// of a COMMIT row is the transaction's END LSN (its commit callback writes at txn->end_lsn, just
/// past the commit record): what the relay confirms to its slot. The relay's commit_lsn header is
/// the commit record's START (pgoutput's commit LSN, Begin's final_lsn), which test_decoding
/// does not print; the pgoutput companion slot's Commit messages (read here as raw bytes:
/// 'C', flags, commit LSN, end LSN) map each end LSN to its commit LSN.
CommitOracle ReadCommitOracle(PgConnection& conn, const std::string& slot);

struct AnalysisOptions {
  std::string topic_template;                 // "it.xxx.{aggregate_type}"
  const CommitOracle* oracle = nullptr;       // check the commit_lsn header against it
  std::set<std::string> rolled_back_ids;      // must never appear
};

struct DeliveryReport {
  std::size_t committed = 0;
  std::size_t records = 0;
  std::size_t distinct_delivered = 0;
  std::size_t lost = 0;
  std::size_t duplicated = 0;      // extra copies
  std::size_t duplicated_ids = 0;  // events delivered more than once
  std::size_t reordered = 0;
  std::size_t rolled_back_delivered = 0;
  std::size_t unknown_delivered = 0;  // records whose id header matches no ledger row
  std::size_t keys_in_several_partitions = 0;
  std::size_t value_text_differs = 0;  // value parses equal to the payload but is other text
  std::map<std::string, std::size_t> mismatches;  // field check → failing records
  std::vector<std::string> samples;               // first few problems, human readable

  std::size_t MismatchTotal() const;
  std::string Summary() const;
};

DeliveryReport Analyze(const std::vector<LedgerEvent>& ledger, const std::vector<KafkaRecord>& records,
                       const AnalysisOptions& options);

/// The delivery contract every delivery test holds a report to (gtest EXPECTs): nothing lost,
/// first deliveries in per-aggregate order, nothing rolled back or unknown delivered, every
/// field as the oracle says. Duplicates are the caller's to judge.
void ExpectNothingLostOrReordered(const DeliveryReport& report);

/// Distinct event ids of `wanted` among the records (by their "id" header).
std::size_t CountDelivered(const std::unordered_set<std::string>& wanted, const std::vector<KafkaRecord>& records);

/// Reads what arrived since its last call and returns every record read so far.
using ReadRecords = std::function<const std::vector<KafkaRecord>&()>;

/// Calls `read` until every id of `wanted` was read or `timeout` passed; prints progress every
/// ~10 s, naming the broker `where`. `still_running` (may be empty) stops the wait early when it
/// returns false (the relay died). Returns the number of distinct wanted ids read.
std::size_t WaitForDelivery(const ReadRecords& read, const std::string& where,
                            const std::unordered_set<std::string>& wanted, std::chrono::milliseconds timeout,
                            const std::function<bool()>& still_running);

/// The same, catching the Kafka reader up.
std::size_t WaitForDelivery(KafkaReader& reader, const std::unordered_set<std::string>& wanted,
                            std::chrono::milliseconds timeout, const std::function<bool()>& still_running);

/// A view of Kafka taken after a fault (or during one), with the slot's confirmed_flush_lsn read
/// before Kafka was: whatever the slot confirmed then must be among `ids`.
struct AckSnapshot {
  int fault_point = 0;
  std::uint64_t confirmed_flush_lsn = 0;
  std::unordered_set<std::string> ids;  // event ids (header "id") in Kafka at that moment
  std::size_t records = 0;
  int committed_when_taken = 0;
};

/// Committed events whose commit end LSN <= the snapshot's confirmed_flush_lsn but which were
/// not in Kafka at that moment (must be 0). `samples` gets a few of them.
std::size_t CountAcknowledgedButMissing(const std::vector<LedgerEvent>& ledger, const CommitOracle& oracle,
                                        const AckSnapshot& snapshot, std::vector<std::string>* samples);

/// The exactly-once checkpoints of one slot: records keyed by the slot name whose value is
/// {"slot": "<slot>", "commit_lsn": "X/Y"}, in partition / offset order.
struct CheckpointHistory {
  std::vector<std::uint64_t> commit_lsns;  // every well-formed checkpoint, oldest first
  std::size_t malformed = 0;    // unparsable value, slot field != key, bad commit_lsn
  std::size_t regressions = 0;  // a commit_lsn below the one before it
  std::set<std::int32_t> partitions;  // partitions holding the slot's records (1 expected)
  std::vector<std::string> samples;   // first few problems, human readable

  std::optional<std::uint64_t> Last() const;
};

/// The history of `slot` among records read from the checkpoint topic.
CheckpointHistory ReadCheckpoints(const std::vector<KafkaRecord>& records, const std::string& slot);

/// The topic for an aggregate type: `{aggregate_type}` replaced.
std::string TopicFor(const std::string& topic_template, const std::string& aggregate_type);

}  // namespace outbox_relay::it
