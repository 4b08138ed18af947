#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "relay/pg/lsn.hpp"
#include "relay/pipeline/change_source.hpp"
#include "relay/pipeline/clock.hpp"

namespace outbox_relay::fakes {

/// One outbox row as a test writes it; a NULL aggregate id makes it a poison row (missing_key).
struct OutboxRow {
  std::string id;
  std::optional<std::string> aggregate_id = "booking-1";
  std::string aggregate_type = "booking";
  std::string type = "created";
  std::string payload = "{}";
};

/// A PostgreSQL server with one logical slot, as far as the relay can tell: the test commits
/// transactions of outbox rows and keepalives into its WAL, and every connection made through
/// NewSource() streams them from the slot's confirmed position, the way a walsender re-sends
/// what was not confirmed. Faults on command: a disconnect after any number of messages, a
/// failing call, the slot held by another relay. Records every standby status update.
/// Single-threaded; waits use `clock`.
class ScriptedServer {
 public:
  /// The slot starts confirmed at `confirmed`.
  explicit ScriptedServer(pipeline::Clock& clock, pg::Lsn confirmed = pg::Lsn(0x1000000));
  ~ScriptedServer();

  /// A replication connection to this server (what the relay is given as its ChangeSource).
  std::unique_ptr<pipeline::ChangeSource> NewSource();

  // ---- the WAL ----
  /// Commits a transaction inserting `rows` into outbox.outbox; returns its commit's end LSN
  /// (what the slot is confirmed to once it is delivered). The commit time is the clock's now.
  pg::Lsn Commit(const std::vector<OutboxRow>& rows);
  /// Commits `count` rows with ids "<prefix>-0", "<prefix>-1", ... of aggregate `aggregate_id`.
  pg::Lsn CommitEvents(const std::string& prefix, std::size_t count,
                       const std::string& aggregate_id = "booking-1");
  /// A keepalive at the WAL's end, after `skip` more bytes of WAL the relay does not see
  /// (other tables' changes, which move the server's position on).
  void Keepalive(bool reply_requested = false, std::uint64_t skip = 0);
  /// Everything committed so far, in commit order: the oracle's ledger of event ids.
  const std::vector<std::string>& CommittedIds() const { return committed_ids_; }
  /// End of the WAL (of the last commit, or of a keepalive's skip).
  pg::Lsn WalEnd() const { return wal_end_; }
  /// A committed transaction: where its commit record starts (the exactly-once checkpoint's
  /// unit) and ends (what the slot is confirmed to), and how many messages it took.
  struct Transaction {
    pg::Lsn commit_lsn;
    pg::Lsn end_lsn;
    std::size_t messages = 0;
  };
  const std::vector<Transaction>& Transactions() const { return transactions_; }

  // ---- faults ----
  /// The next Read on the open connection fails (retryable) after `messages` more messages.
  void DisconnectAfter(std::size_t messages);
  /// Open connections are lost now (with `only`, that connection alone): a pending Read fails, and
  /// so does everything after until the relay reconnects.
  void Disconnect(const pipeline::ChangeSource* only = nullptr);
  /// The next call of `call` fails with `error` (once).
  enum class Call { kConnect, kEnsureSlot, kStart, kSendStatus, kFinish };
  void FailNext(Call call, base::Error error);
  /// Another relay streams from the slot: Start reports it held elsewhere until released.
  void HoldSlotElsewhere(bool held) { held_elsewhere_ = held; }
  /// Messages are available but not handed out until released (the relay waits in Read).
  void Pause(bool paused);
  /// Hands out `messages` more messages, then pauses.
  void PauseAfter(std::size_t messages);

  // ---- what the relay did ----
  struct Status {
    pg::Lsn received;
    pg::Lsn flushed;
  };
  const std::vector<Status>& Statuses() const { return statuses_; }
  /// The slot's confirmed_flush_lsn: the highest flush position any status update sent.
  pg::Lsn Confirmed() const { return confirmed_; }
  /// True if a status update ever confirmed less than an earlier one had.
  bool FlushWentBackwards() const { return flush_went_backwards_; }
  std::size_t Connects() const { return connects_; }
  std::size_t Starts() const { return starts_; }
  std::size_t Finishes() const { return finishes_; }
  /// Messages handed to readers in all (a measure of how far reading got).
  std::size_t MessagesRead() const { return messages_read_; }
  /// Messages the open connection has not handed out yet.
  std::size_t Backlog() const;
  /// Whether a connection is streaming from the slot.
  bool SlotActive() const { return active_ != nullptr; }

  class Connection;

 private:
  friend class Connection;
  struct Message {
    pg::Lsn position;  // a transaction's messages carry its end LSN; a keepalive its WAL end
    std::string bytes;
  };
  std::optional<base::Error> TakeFailure(Call call);
  void Wake();

  pipeline::Clock& clock_;
  pg::Lsn confirmed_;
  pg::Lsn wal_end_;
  std::vector<Message> wal_;
  std::vector<std::string> committed_ids_;
  std::vector<Transaction> transactions_;
  std::optional<std::size_t> pause_after_;
  std::optional<std::size_t> disconnect_after_;
  std::vector<std::pair<Call, base::Error>> failures_;
  bool held_elsewhere_ = false;
  bool paused_ = false;
  std::vector<Status> statuses_;
  bool flush_went_backwards_ = false;
  std::size_t connects_ = 0;
  std::size_t starts_ = 0;
  std::size_t finishes_ = 0;
  std::size_t messages_read_ = 0;
  std::vector<Connection*> connections_;
  Connection* active_ = nullptr;  // the connection streaming from the slot
};

}  // namespace outbox_relay::fakes
