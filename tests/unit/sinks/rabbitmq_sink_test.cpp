// RabbitMqSink without a broker: connecting runs on its worker thread and never blocks the
// io_context; events wait, unreported, while there is no connection; destroying the sink while
// it connects ends cleanly. (With the real broker: tests/integration/rabbitmq_test.cpp.)

#include "sinks/rabbitmq_sink.hpp"

#include <chrono>
#include <vector>

#include <gtest/gtest.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "config/config.hpp"
#include "outbox/outbox_event.hpp"

namespace outbox_relay::sinks {
namespace {

using namespace std::chrono_literals;

// A port nothing listens on: every connect is refused at once.
RabbitMqSettings Unreachable() {
  RabbitMqSettings settings;
  settings.host = "127.0.0.1";
  settings.port = 1;
  settings.username = "relay";
  settings.password = "secret";
  settings.connect_timeout = 500ms;
  return settings;
}

outbox::OutboxEvent QueuedEvent() {
  outbox::OutboxEvent event;
  event.id = "1";
  event.aggregate_type = "Order";
  event.aggregate_id = "order-1";
  event.type = "OrderCreated";
  event.payload = "{}";
  event.topic = "outbox.event.Order";
  event.exchange = "outbox";
  event.key = "order-1";
  return event;
}

TEST(RabbitMqSinkTest, EventsWaitUnreportedWhileTheBrokerIsUnreachable) {
  boost::asio::io_context io;
  std::vector<DeliveryReport> reports;
  RabbitMqSink sink(io, Unreachable());
  sink.SetHandlers({[&](const DeliveryReport& report) { reports.push_back(report); }, nullptr});
  EXPECT_EQ(sink.Publish(QueuedEvent(), 7), std::string("order-1").size() + std::string("{}").size());
  // Long enough for the refused first attempt and a retry after its 0.5 s backoff; the guard
  // keeps run_for going while the worker connects (as the relay's other work does).
  auto work = boost::asio::make_work_guard(io);
  io.run_for(1500ms);
  EXPECT_FALSE(sink.Connected());
  EXPECT_TRUE(reports.empty()) << "nothing is reported before the broker confirms or the connection is lost";
}

TEST(RabbitMqSinkTest, DestroyingTheSinkWhileItConnectsEndsCleanly) {
  boost::asio::io_context io;
  {
    RabbitMqSink sink(io, Unreachable());
    static_cast<void>(sink.Publish(QueuedEvent(), 1));
  }
  // Both handlers the sink posted outlive it: its flush and the connect's completion (the
  // destructor waited for the connect). Each must find the sink gone (ASan and TSan would
  // report a use after free).
  EXPECT_EQ(io.run_for(200ms), 2u);
}

TEST(RabbitMqSinkTest, AnUnreadableTlsFileIsRefusedBeforeConnecting) {
  boost::asio::io_context io;
  RabbitMqSettings settings = Unreachable();
  settings.tls = true;
  settings.ca_file = "/nonexistent/ca.pem";
  try {
    RabbitMqSink sink(io, settings);
    FAIL() << "a missing rabbitmq.ca_file was accepted";
  } catch (const SinkError& error) {
    EXPECT_NE(std::string(error.what()).find("rabbitmq.ca_file: cannot read /nonexistent/ca.pem"),
              std::string::npos)
        << error.what();
  }
}

TEST(RabbitMqSinkTest, SettingsComeFromTheRabbitMqSection) {
  config::RabbitMqConfig config;
  config.tls = true;
  config.stream = "events";
  const RabbitMqSettings settings = RabbitMqSettingsOf(config);
  EXPECT_EQ(settings.port, 5671);
  EXPECT_EQ(settings.ca_file, "/etc/ssl/certs/ca-certificates.crt") << "rabbitmq-c trusts no CA by itself";
  EXPECT_EQ(settings.routing.stream, "events");
  EXPECT_EQ(settings.routing.dead_letter_exchange, "outbox.dead-letter");
  EXPECT_EQ(settings.routing.correlation_id_header, "correlation_id");
}

TEST(RabbitMqSinkTest, ProbeReportsAnUnreachableBroker) {
  const std::vector<std::string> problems = RabbitMqSink::Probe(Unreachable(), {"outbox"});
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("cannot connect to RabbitMQ at amqp://127.0.0.1:1"), std::string::npos)
      << problems[0];
  EXPECT_EQ(problems[0].find("secret"), std::string::npos) << "the password appeared: " << problems[0];
}

}  // namespace
}  // namespace outbox_relay::sinks
