#pragma once

// The Relay on fakes (tests/fakes/): a scripted PostgreSQL, a recording Kafka, a manual clock.
// A "process" is one relay with its own io_context; a crash stops running it (its connection
// dropped, its producer gone) and a restart is a new process on the same server and Kafka.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "config/config.hpp"
#include "relay/pipeline/relay.hpp"
#include "relay/server/metrics.hpp"
#include "tests/fakes/manual_clock.hpp"
#include "tests/fakes/recording_sink.hpp"
#include "tests/fakes/scripted_change_source.hpp"
#include "tests/unit/support/lsn_printer.hpp"

namespace outbox_relay::pipeline {

class RelayProcess {
 public:
  boost::asio::io_context io;
  server::RelayMetrics metrics;
  std::unique_ptr<Relay> relay;
  const ChangeSource* source = nullptr;
  // The sink the relay uses now (the newest it was given), as its recording and, in exactly-once
  // mode, as the transactional sink.
  fakes::RecordingSink* records = nullptr;
  fakes::RecordingTransactionalSink* transactional = nullptr;
  std::size_t sinks_made = 0;
  std::optional<int> exit_code;
  bool crashed = false;
};

class RelayTest : public ::testing::Test {
 protected:
  RelayTest() {
    config_.source.slot = "relay";
    config_.source.status_interval = std::chrono::seconds(10);
    config_.source.reconnect_backoff_initial = std::chrono::milliseconds(200);
    config_.source.reconnect_backoff_max = std::chrono::seconds(5);
    config_.dead_letter.topic = "outbox.dead-letter";
    config_.shutdown.timeout = std::chrono::seconds(30);
    config_.ready.max_lag = std::chrono::seconds(60);
    config_.ha.takeover = std::chrono::seconds(10);
    config_.exactly_once.max_batch = std::chrono::milliseconds(100);
    config_.exactly_once.max_batch_events = 1000;
  }

 public:
  ~RelayTest() override {
    // Relays first (their timers and connections), then their io_contexts with the coroutine
    // frames still suspended in them, never resumed.
    for (auto& process : processes_) process->relay.reset();
    processes_.clear();
  }

 protected:
  void ExactlyOnce() { config_.delivery = config::DeliveryMode::kExactlyOnce; }

  /// Starts a relay process and runs it until it waits (connected and reading, or standing by).
  RelayProcess& StartRelay(bool auto_ack = false) {
    auto process = std::make_unique<RelayProcess>();
    RelayProcess& p = *process;
    auto make_sink = [this, &p, auto_ack]() -> std::unique_ptr<sinks::Sink> {
      ++p.sinks_made;
      if (config_.delivery == config::DeliveryMode::kExactlyOnce) {
        auto sink = std::make_unique<fakes::RecordingTransactionalSink>(p.io, kafka_, clock_);
        p.transactional = sink.get();
        p.records = &sink->Records();
        p.records->SetAutoAck(auto_ack);
        return sink;
      }
      auto sink = std::make_unique<fakes::RecordingSink>(p.io, kafka_);
      p.transactional = nullptr;
      p.records = sink.get();
      p.records->SetAutoAck(auto_ack);
      return sink;
    };
    auto source = server_.NewSource();
    p.source = source.get();
    auto first = make_sink();
    p.relay =
        std::make_unique<Relay>(p.io, config_, std::move(source), clock_, std::move(first), make_sink, p.metrics);
    boost::asio::co_spawn(p.io, p.relay->Run(), [&p](const std::exception_ptr& failure, int code) {
      p.exit_code = failure ? -1 : code;
    });
    processes_.push_back(std::move(process));
    Settle();
    return p;
  }

  /// The newest process.
  RelayProcess& Process() { return *processes_.back(); }
  fakes::RecordingSink& Sink() { return *Process().records; }
  fakes::RecordingTransactionalSink& TransactionalSink() { return *Process().transactional; }
  Relay& TheRelay() { return *Process().relay; }

  /// Runs every live process until none has anything left to do without time passing.
  void Settle() {
    for (int round = 0; round < 10000; ++round) {
      std::size_t ran = 0;
      for (auto& process : processes_) {
        if (process->crashed) continue;
        process->io.restart();
        ran += process->io.poll();
      }
      if (ran == 0) return;
    }
    FAIL() << "the relay keeps running without time passing";
  }

  /// Moves the clock on in steps to each pending deadline (at most `by`), settling after each.
  void Advance(std::chrono::steady_clock::duration by) {
    const auto until = clock_.Now() + by;
    Settle();
    while (true) {
      const auto next = clock_.NextDeadline();
      if (!next || *next > until) break;
      clock_.Advance(*next - clock_.Now());
      Settle();
    }
    clock_.Advance(until - clock_.Now());
    Settle();
  }

  /// Advances time until `done` holds, up to `limit`; false if it never did.
  bool AdvanceUntil(const std::function<bool()>& done,
                    std::chrono::steady_clock::duration limit = std::chrono::minutes(5)) {
    const auto until = clock_.Now() + limit;
    Settle();
    while (!done()) {
      const auto next = clock_.NextDeadline();
      if (!next || *next > until) return false;
      clock_.Advance(*next - clock_.Now());
      Settle();
    }
    return true;
  }

  /// The process dies: its connection drops, its producer's unreported records reach Kafka
  /// (`persisted`) or not, and it runs no more.
  void Crash(RelayProcess& process, bool persisted = false) {
    server_.Disconnect(process.source);
    if (process.records != nullptr) process.records->Crash(persisted);
    process.crashed = true;
  }

  /// A status update so the slot's confirmed position is current (the status interval passes).
  void PassStatusInterval() { Advance(config_.source.status_interval); }

  /// The graceful stop of SIGTERM, run until the relay exits (or `limit` passes).
  void StopAndWait(RelayProcess& process, std::chrono::steady_clock::duration limit = std::chrono::minutes(1)) {
    process.relay->Stop();
    AdvanceUntil([&] { return process.exit_code.has_value(); }, limit);
  }

  config::Config config_;
  fakes::ManualClock clock_;
  fakes::ScriptedServer server_{clock_};
  fakes::FakeKafka kafka_;
  std::vector<std::unique_ptr<RelayProcess>> processes_;
};

}  // namespace outbox_relay::pipeline
