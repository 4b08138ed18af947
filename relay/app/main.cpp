// outbox-relay: wiring only. Parse the command line, load the config, build the sink and the
// relay, run them in one task group on the io_context until the shutdown has run.

#include <csignal>
#include <cstdio>
#include <ctime>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>  // boost/asio/awaitable.hpp uses std::exchange without including it

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "base/exit_code.hpp"
#include "base/logging.hpp"
#include "base/redaction.hpp"
#include "config/config.hpp"
#include "inbox/inbox.hpp"
#include "relay/app/command_line.hpp"
#include "relay/app/shutdown.hpp"
#include "relay/app/task_group.hpp"
#include "relay/ops/cli.hpp"
#include "relay/ops/replay.hpp"
#include "relay/ops/slot_monitor.hpp"
#include "relay/pipeline/pg_change_source.hpp"
#include "relay/pipeline/relay.hpp"
#include "relay/server/http_server.hpp"
#include "relay/server/metrics.hpp"
#include "sinks/kafka_sink.hpp"
#include "sinks/rabbitmq_sink.hpp"
#include "sinks/stdout_sink.hpp"

namespace {

using namespace outbox_relay;

std::unique_ptr<sinks::Sink> MakeSink(boost::asio::io_context& io, const config::Config& config) {
  switch (config.sink.type) {
    case config::SinkType::kStdout:
      return std::make_unique<sinks::StdoutSink>(io, stdout);
    case config::SinkType::kKafka: {
      std::optional<sinks::KafkaTransactionSettings> transactions;
      if (config.delivery == config::DeliveryMode::kExactlyOnce) {
        const auto& eos = config.exactly_once;
        transactions = sinks::KafkaTransactionSettings{eos.TransactionalId(config.source.slot),
                                                       eos.transaction_timeout, eos.checkpoint_topic,
                                                       eos.checkpoint_replication_factor, config.source.slot};
      }
      return std::make_unique<sinks::KafkaSink>(io, config.kafka, std::move(transactions));
    }
    case config::SinkType::kRabbitMq:
      return std::make_unique<sinks::RabbitMqSink>(io, sinks::RabbitMqSettingsOf(config.rabbitmq));
  }
  return nullptr;
}

// The config and the sink a command works with; false after printing a config error.
// `adjust` may change the loaded config before the sink is built from it.
bool Load(const std::string& config_path, boost::asio::io_context& io, config::Config& config,
          std::unique_ptr<sinks::Sink>& sink, const std::function<void(config::Config&)>& adjust = nullptr) {
  try {
    config = ops::LoadRelayConfig(config_path);
    if (adjust) adjust(config);
    base::ConfigureLogging(config.log.level, config.log.format);
    if (!config.ignored_service_links.empty()) {
      base::Logger("config").debug("ignored Kubernetes service-link variables (not configuration): {}",
                                   fmt::join(config.ignored_service_links, ", "));
    }
    // Building the producer checks every kafka.* property without connecting anywhere.
    sink = MakeSink(io, config);
    return true;
  } catch (const config::ConfigError& error) {
    std::cerr << "outbox-relay: config error: " << error.what() << "\n";
  } catch (const sinks::SinkError& error) {
    std::cerr << "outbox-relay: config error: " << error.what() << "\n";
  }
  return false;
}

// Replays outside the relay's Kafka transactions: replayed events are copies by design, so a
// plain idempotent producer is right, and the relay's transactional id stays untouched.
int Replay(const std::string& config_path, const std::string& from, const std::string& to,
           const std::string& aggregate_type) {
  ops::ReplayOptions options;
  try {
    options.from = ops::ParseReplayBound(from);
    if (!to.empty()) options.to = ops::ParseReplayBound(to);
  } catch (const std::invalid_argument& error) {
    std::cerr << "outbox-relay: replay: " << (options.from.text.empty() ? "--from " : "--to ") << error.what()
              << "\n";
    return base::kExitConfig;
  }
  if (!aggregate_type.empty()) options.aggregate_type = aggregate_type;
  boost::asio::io_context io(1);
  config::Config config;
  std::unique_ptr<sinks::Sink> sink;
  if (!Load(config_path, io, config, sink,
            [](config::Config& c) { c.delivery = config::DeliveryMode::kAtLeastOnce; })) {
    return base::kExitConfig;
  }
  options.replay_id = fmt::format("{:%FT%TZ}", fmt::gmtime(std::time(nullptr)));
  int exit_code = base::kExitFatal;
  boost::asio::co_spawn(
      io, ops::Replay(io, config, *sink, options), [&](const std::exception_ptr& failure, std::size_t count) {
        if (!failure) {
          std::cout << "replayed " << count << " events (header replay: " << options.replay_id << ")\n";
          exit_code = base::kExitOk;
        } else {
          try {
            std::rethrow_exception(failure);
          } catch (const ops::ReplayError& error) {
            std::cerr << "outbox-relay: replay: " << error.what() << "\n";
            exit_code = error.config_error() ? base::kExitConfig : base::kExitFatal;
          } catch (const std::exception& error) {
            std::cerr << "outbox-relay: replay: " << error.what() << "\n";
          }
        }
        io.stop();
      });
  io.run();
  return exit_code;
}

// The relay as a task: records its exit code and, when it ended on its own (a fatal error),
// starts the shutdown of the rest.
boost::asio::awaitable<void> RunRelay(pipeline::Relay& relay, std::optional<int>& exit_code,
                                      const std::function<void(const std::string&)>& shut_down) {
  exit_code = co_await relay.Run();
  shut_down(fmt::format("the relay stopped with exit code {}", *exit_code));
}

int Run(const std::string& config_path) {
  config::Config config;
  boost::asio::io_context io(1);
  std::unique_ptr<sinks::Sink> sink;
  if (!Load(config_path, io, config, sink)) return base::kExitConfig;

  server::RelayMetrics metrics;
  pipeline::SteadyClock clock(io);
  pipeline::Relay relay(
      io, config, std::make_unique<pipeline::PgChangeSource>(io, config), clock, std::move(sink),
      [&] { return MakeSink(io, config); }, metrics);
  ops::SlotMonitor monitor(io, config, metrics, [&](const std::string& reason) { relay.FailFatal(reason); });
  std::unique_ptr<server::HttpServer> http;
  try {
    http = std::make_unique<server::HttpServer>(io, config.http.listen, [&](std::string_view path) {
      if (path == "/metrics") {
        relay.RefreshGauges();
        return server::HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8", metrics.Serialize()};
      }
      if (path == "/healthz") return server::HttpResponse{200, "text/plain; charset=utf-8", "ok\n"};
      if (path == "/readyz") {
        const auto readiness = relay.CheckReadiness();
        return server::HttpResponse{readiness.ready ? 200 : 503, "text/plain; charset=utf-8",
                                    readiness.reason + "\n"};
      }
      if (path == "/status") {
        const auto readiness = relay.CheckReadiness();
        const nlohmann::json status = {{"role", pipeline::Relay::RoleName(readiness.role)},
                                       {"ready", readiness.ready},
                                       {"reason", readiness.reason},
                                       {"slot", config.source.slot}};
        return server::HttpResponse{200, "application/json", status.dump() + "\n"};
      }
      return server::HttpResponse{404, "text/plain; charset=utf-8", "not found\n"};
    });
  } catch (const std::runtime_error& error) {
    std::cerr << "outbox-relay: config error: " << error.what() << "\n";
    return base::kExitConfig;
  }

  // The long-running coroutines, each with the call that asks it to finish; shutdown is one
  // function of named steps over them (relay/app/shutdown.hpp).
  app::TaskGroup tasks(io, "relay");
  std::optional<int> relay_exit;  // the relay task's own verdict, once it returned
  bool task_failed = false;
  int exit_code = base::kExitFatal;
  bool shutting_down = false;
  const std::function<void(const std::string&)> shut_down = [&](const std::string& reason) {
    if (std::exchange(shutting_down, true)) return;
    app::ShutdownPlan plan;
    plan.relay_task = "relay";
    plan.drain_timeout = config.shutdown.timeout;
    plan.close_postgres = [&] { monitor.Close(); };
    boost::asio::co_spawn(io, app::Shutdown(tasks, std::move(plan), reason),
                          [&](const std::exception_ptr& failure, const app::ShutdownReport& report) {
                            if (failure) {
                              try {
                                std::rethrow_exception(failure);
                              } catch (const std::exception& error) {
                                base::Logger("relay").critical("shutdown failed: {}", error.what());
                              }
                            }
                            exit_code = relay_exit.value_or(base::kExitFatal);
                            // A task that failed or a shutdown step that ran out of time is no clean stop.
                            if (failure || task_failed || !report.relay_finished) exit_code = base::kExitFatal;
                            // The sink keeps waiting for librdkafka events and HTTP clients may
                            // keep their connections: nothing else is to be waited for.
                            io.stop();
                          });
  };
  tasks.OnFailure([&](const std::string& task, const std::string&) {
    task_failed = true;
    shut_down("task " + task + " failed");
  });
  tasks.Spawn("relay", RunRelay(relay, relay_exit, shut_down), [&] { relay.Stop(); });
  tasks.Spawn("slot-monitor", monitor.Run(), [&] { monitor.Stop(); });
  tasks.Spawn("http", http->Run(), [&] { http->Stop(); });

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& error, int signal) {
    if (error) return;
    const char* name = signal == SIGTERM ? "SIGTERM" : "SIGINT";
    base::Logger("relay").info("received {}", name);
    shut_down(name);
  });
  io.run();
  base::Logger("relay").info("exiting with code {}", exit_code);
  return exit_code;
}

// `outbox-relay inbox`: the inbox applies on its own thread (its work is blocking by nature: a
// poll, then a PostgreSQL transaction); the io_context serves HTTP and the signals.
int RunInbox(const std::string& config_path) {
  config::Config config;
  try {
    config = ops::LoadRelayConfig(config_path);
    base::ConfigureLogging(config.log.level, config.log.format);
    if (config.inbox.handlers.empty()) {
      throw config::ConfigError("inbox.handlers",
                                "is empty: the inbox needs at least one rule (topic, optional type, function)");
    }
  } catch (const config::ConfigError& error) {
    std::cerr << "outbox-relay: config error: " << error.what() << "\n";
    return base::kExitConfig;
  }
  server::InboxMetrics metrics;
  inbox::Inbox inbox(config, metrics);
  boost::asio::io_context io(1);
  std::unique_ptr<server::HttpServer> http;
  try {
    http = std::make_unique<server::HttpServer>(io, config.http.listen, [&](std::string_view path) {
      if (path == "/metrics") {
        return server::HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8", metrics.Serialize()};
      }
      if (path == "/healthz") return server::HttpResponse{200, "text/plain; charset=utf-8", "ok\n"};
      if (path == "/readyz") {
        std::string reason;
        const bool ready = inbox.Ready(reason);
        return server::HttpResponse{ready ? 200 : 503, "text/plain; charset=utf-8", reason + "\n"};
      }
      return server::HttpResponse{404, "text/plain; charset=utf-8", "not found\n"};
    });
  } catch (const std::runtime_error& error) {
    std::cerr << "outbox-relay: config error: " << error.what() << "\n";
    return base::kExitConfig;
  }
  boost::asio::co_spawn(io, http->Run(), boost::asio::detached);

  int exit_code = base::kExitFatal;
  std::thread worker([&] {
    exit_code = inbox.Run();
    boost::asio::post(io, [&] { io.stop(); });
  });
  boost::asio::steady_timer deadline(io);
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& error, int signal) {
    if (error) return;
    base::Logger("inbox").info("received {}, applying what was read and leaving the group",
                               signal == SIGTERM ? "SIGTERM" : "SIGINT");
    inbox.Stop();
    // A handler that does not return holds the stop: the positions in PostgreSQL make an exit
    // safe at any point, so the process ends when shutdown.timeout_ms runs out.
    deadline.expires_after(config.shutdown.timeout);
    deadline.async_wait([](const boost::system::error_code& expired) {
      if (expired) return;
      base::Logger("inbox").critical("the inbox did not stop within shutdown.timeout_ms; exiting");
      std::quick_exit(base::kExitFatal);
    });
  });
  io.run();
  worker.join();
  base::Logger("inbox").info("exiting with code {}", exit_code);
  return exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  namespace app = outbox_relay::app;
  namespace ops = outbox_relay::ops;
  app::CommandLine line;
  if (const auto exit_code = app::ParseCommandLine({argv, argv + argc}, line, std::cout, std::cerr)) {
    return *exit_code;
  }
  // A closed consumer of stdout must not kill the relay mid-delivery; the write error is reported.
  std::signal(SIGPIPE, SIG_IGN);
  // The commands' output and messages name what failed, and libpq / librdkafka errors may quote
  // a secret: both streams drop every secret the config registers. (The stdout sink's events
  // go through C stdio, untouched.)
  const outbox_relay::base::RedactedStream redacted_out(std::cout);
  const outbox_relay::base::RedactedStream redacted_err(std::cerr);
  if (line.command == "inbox") return RunInbox(line.config_path);
  if (line.command == "check" && line.inbox) return ops::CheckInboxCommand(line.config_path, std::cout, std::cerr);
  if (line.command == "check") return ops::CheckCommand(line.config_path, std::cout, std::cerr);
  if (line.command == "init") {
    return ops::InitCommand(line.config_path, {line.print_sql, line.recreate_slot, line.inbox}, std::cout,
                            std::cerr);
  }
  if (line.command == "status" && line.inbox) {
    return ops::StatusInboxCommand(line.config_path, line.json, std::cout, std::cerr);
  }
  if (line.command == "status") return ops::StatusCommand(line.config_path, line.json, std::cout, std::cerr);
  if (line.command == "replay") return Replay(line.config_path, line.from, line.to, line.aggregate_type);
  if (line.command == "version") {
    std::cout << ops::VersionLine() << "\n";
    return base::kExitOk;
  }
  return Run(line.config_path);
}
