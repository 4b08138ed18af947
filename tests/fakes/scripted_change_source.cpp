#include "tests/fakes/scripted_change_source.hpp"

#include <algorithm>
#include <utility>

#include "relay/pg/replication_protocol.hpp"
#include "tests/unit/support/byte_builder.hpp"

namespace outbox_relay::fakes {

namespace {

using boost::asio::awaitable;
using pg::Lsn;
using test::ByteBuilder;

constexpr std::uint32_t kOutboxOid = 16'400;
constexpr std::uint32_t kTextOid = 25;
constexpr std::uint32_t kJsonbOid = 3802;
constexpr std::uint64_t kMessageSpan = 0x10;  // WAL bytes each scripted message takes

std::string XLogData(Lsn wal_start, Lsn wal_end, std::string_view payload) {
  return ByteBuilder{}
      .Put8('w')
      .Put64(wal_start.Value())
      .Put64(wal_end.Value())
      .Put64(0)
      .PutBytes(payload)
      .Build();
}

std::string RelationMessage() {
  ByteBuilder bytes;
  bytes.Put8('R').Put32(kOutboxOid).PutString("outbox").PutString("outbox").Put8('d').Put16(5);
  for (const char* column : {"id", "aggregatetype", "aggregateid", "type", "payload"}) {
    const bool key = std::string_view(column) == "id";
    bytes.Put8(key ? 1 : 0).PutString(column).Put32(std::string_view(column) == "payload" ? kJsonbOid : kTextOid);
    bytes.Put32(0xFFFF'FFFF);
  }
  return bytes.Build();
}

std::string InsertMessage(const OutboxRow& row) {
  ByteBuilder bytes;
  bytes.Put8('I').Put32(kOutboxOid).Put8('N').Put16(5);
  const auto text = [&bytes](const std::optional<std::string>& value) {
    if (!value) {
      bytes.Put8('n');
      return;
    }
    bytes.Put8('t').Put32(value->size()).PutBytes(*value);
  };
  text(row.id);
  text(row.aggregate_type);
  text(row.aggregate_id);
  text(row.type);
  text(row.payload);
  return bytes.Build();
}

base::Error Lost() { return base::Error::Retryable("replication connection lost (scripted)"); }

}  // namespace

// One replication connection of the relay to the scripted server.
class ScriptedServer::Connection final : public pipeline::ChangeSource {
 public:
  explicit Connection(ScriptedServer& server) : server_(server), wakeup_(server.clock_.MakeTimer()) {
    server_.connections_.push_back(this);
  }
  ~Connection() override {
    Release();
    std::erase(server_.connections_, this);
  }

  awaitable<base::Result<void>> Connect() override {
    if (auto failure = server_.TakeFailure(Call::kConnect)) co_return std::move(*failure);
    ++server_.connects_;
    open_ = true;
    lost_ = false;
    co_return boost::outcome_v2::success();
  }

  awaitable<base::Result<Lsn>> EnsureSlot() override {
    if (auto failure = server_.TakeFailure(Call::kEnsureSlot)) co_return std::move(*failure);
    if (!open_ || lost_) co_return Lost();
    co_return server_.confirmed_;
  }

  awaitable<base::Result<pipeline::StartOutcome>> Start(Lsn start) override {
    if (auto failure = server_.TakeFailure(Call::kStart)) co_return std::move(*failure);
    if (!open_ || lost_) co_return Lost();
    if (server_.held_elsewhere_ || (server_.active_ != nullptr && server_.active_ != this)) {
      co_return pipeline::StartOutcome{"replication slot \"relay\" is active for PID 4242 (scripted)"};
    }
    server_.active_ = this;
    ++server_.starts_;
    // The walsender resumes from the slot when asked for an earlier position.
    const Lsn from = std::max(start, server_.confirmed_);
    next_ = static_cast<std::size_t>(std::find_if(server_.wal_.begin(), server_.wal_.end(),
                                                  [&](const Message& m) { return m.position > from; }) -
                                     server_.wal_.begin());
    co_return pipeline::StartOutcome{};
  }

  awaitable<base::Result<std::optional<pipeline::ChangeData>>> Read(TimePoint deadline) override {
    base::Result<std::optional<pipeline::ChangeData>> result = std::optional<pipeline::ChangeData>();
    bool done = false;
    while (!done) {
      done = TryRead(result);
      if (done) break;
      // Wakes when a message is appended, the read is cancelled or the connection dropped.
      const bool expired = co_await wakeup_->WaitUntil(deadline);
      if (expired) {
        if (!TryRead(result)) result = std::optional<pipeline::ChangeData>();
        done = true;
      }
    }
    co_return result;
  }

  // The outcome of a read that need not wait, in `result`; false when it must wait.
  bool TryRead(base::Result<std::optional<pipeline::ChangeData>>& result) {
    if (cancelled_) {
      result = std::optional<pipeline::ChangeData>();
      return true;
    }
    if (!open_ || lost_ || server_.active_ != this) {
      result = Lost();
      return true;
    }
    if (server_.disconnect_after_ == 0) {
      server_.disconnect_after_.reset();
      Drop();
      result = Lost();
      return true;
    }
    if (server_.paused_ || next_ >= server_.wal_.size()) return false;
    ++server_.messages_read_;
    if (server_.disconnect_after_) --*server_.disconnect_after_;
    if (server_.pause_after_ && --*server_.pause_after_ == 0) {
      server_.pause_after_.reset();
      server_.paused_ = true;
    }
    result = std::optional<pipeline::ChangeData>(pipeline::ChangeData(server_.wal_[next_++].bytes));
    return true;
  }

  void CancelRead() override {
    cancelled_ = true;
    wakeup_->Cancel();
  }

  awaitable<base::Result<void>> SendStatus(Lsn received, Lsn flushed) override {
    if (auto failure = server_.TakeFailure(Call::kSendStatus)) co_return std::move(*failure);
    if (!open_ || lost_) co_return Lost();
    if (flushed < server_.confirmed_) server_.flush_went_backwards_ = true;
    server_.statuses_.push_back({received, flushed});
    server_.confirmed_ = std::max(server_.confirmed_, flushed);
    co_return boost::outcome_v2::success();
  }

  awaitable<base::Result<void>> Finish() override {
    if (auto failure = server_.TakeFailure(Call::kFinish)) co_return std::move(*failure);
    if (!open_ || lost_) co_return Lost();
    ++server_.finishes_;
    Release();
    co_return boost::outcome_v2::success();
  }

  void Close() override {
    open_ = false;
    cancelled_ = false;
    Release();
  }

  bool IsOpen() const override { return open_; }

  void Drop() {
    lost_ = true;
    Release();
    wakeup_->Cancel();
  }
  void Wake() { wakeup_->Cancel(); }
  std::size_t Backlog() const { return server_.wal_.size() - std::min(next_, server_.wal_.size()); }

 private:
  void Release() {
    if (server_.active_ == this) server_.active_ = nullptr;
  }

  ScriptedServer& server_;
  std::unique_ptr<pipeline::Timer> wakeup_;
  bool open_ = false;
  bool lost_ = false;
  bool cancelled_ = false;
  std::size_t next_ = 0;  // index into the WAL of the next message to hand out
};

ScriptedServer::ScriptedServer(pipeline::Clock& clock, Lsn confirmed)
    : clock_(clock), confirmed_(confirmed), wal_end_(confirmed) {}

ScriptedServer::~ScriptedServer() = default;

std::unique_ptr<pipeline::ChangeSource> ScriptedServer::NewSource() { return std::make_unique<Connection>(*this); }

std::optional<base::Error> ScriptedServer::TakeFailure(Call call) {
  const auto found =
      std::find_if(failures_.begin(), failures_.end(), [call](const auto& f) { return f.first == call; });
  if (found == failures_.end()) return std::nullopt;
  base::Error error = std::move(found->second);
  failures_.erase(found);
  return error;
}

Lsn ScriptedServer::Commit(const std::vector<OutboxRow>& rows) {
  const Lsn begin(wal_end_.Value() + kMessageSpan);
  const Lsn commit(begin.Value() + kMessageSpan * (rows.size() + 2));
  const Lsn end(commit.Value() + kMessageSpan);
  const pg::PgTimestamp time = pg::ToPgTimestamp(clock_.WallNow());
  std::vector<std::string> payloads;
  payloads.push_back(
      ByteBuilder{}.Put8('B').Put64(commit.Value()).Put64(static_cast<std::uint64_t>(time)).Put32(731).Build());
  payloads.push_back(RelationMessage());
  for (const auto& row : rows) {
    payloads.push_back(InsertMessage(row));
    committed_ids_.push_back(row.id);
  }
  payloads.push_back(ByteBuilder{}
                         .Put8('C')
                         .Put8(0)
                         .Put64(commit.Value())
                         .Put64(end.Value())
                         .Put64(static_cast<std::uint64_t>(time))
                         .Build());
  Lsn position = begin;
  for (const auto& payload : payloads) {
    wal_.push_back({end, XLogData(position, position, payload)});
    position = Lsn(position.Value() + kMessageSpan);
  }
  wal_end_ = end;
  transactions_.push_back({commit, end, payloads.size()});
  Wake();
  return end;
}

Lsn ScriptedServer::CommitEvents(const std::string& prefix, std::size_t count, const std::string& aggregate_id) {
  std::vector<OutboxRow> rows(count);
  for (std::size_t i = 0; i < count; ++i) {
    rows[i].id = prefix + "-" + std::to_string(i);
    rows[i].aggregate_id = aggregate_id;
  }
  return Commit(rows);
}

void ScriptedServer::Keepalive(bool reply_requested, std::uint64_t skip) {
  wal_end_ = Lsn(wal_end_.Value() + skip);
  wal_.push_back(
      {wal_end_, ByteBuilder{}.Put8('k').Put64(wal_end_.Value()).Put64(0).Put8(reply_requested ? 1 : 0).Build()});
  Wake();
}

void ScriptedServer::DisconnectAfter(std::size_t messages) { disconnect_after_ = messages; }

void ScriptedServer::Disconnect(const pipeline::ChangeSource* only) {
  for (Connection* connection : connections_) {
    if (connection->IsOpen() && (only == nullptr || only == connection)) connection->Drop();
  }
}

void ScriptedServer::FailNext(Call call, base::Error error) { failures_.emplace_back(call, std::move(error)); }

void ScriptedServer::Pause(bool paused) {
  paused_ = paused;
  pause_after_.reset();
  Wake();
}

void ScriptedServer::PauseAfter(std::size_t messages) {
  paused_ = messages == 0;
  pause_after_ = messages == 0 ? std::nullopt : std::optional<std::size_t>(messages);
  Wake();
}

std::size_t ScriptedServer::Backlog() const { return active_ == nullptr ? 0 : active_->Backlog(); }

void ScriptedServer::Wake() {
  for (Connection* connection : connections_) connection->Wake();
}

}  // namespace outbox_relay::fakes
