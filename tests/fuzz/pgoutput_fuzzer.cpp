// libFuzzer target: the bytes a walsender sends during START_REPLICATION, through everything
// the relay does with them before a sink: CopyData envelope (DecodeServerCopyData), pgoutput
// decoding (DecodePgOutput), the relation cache and event mapping (TransactionAssembler) and
// the record encoding every sink uses (EncodeEvent).
//
// Input layout, chosen so that a unit test's byte vector becomes a seed with two length bytes:
//   byte 0          which outbox configuration to use (see ConfigFor)
//   then frames     [u16 big-endian length][that many bytes: one CopyData payload]...
//                   a last frame shorter than its length takes what is left.
//
// The relay stops on DecodeError, TableShapeError and PoisonEventError (relay.cpp), so these end
// the input here too. Any other exception, crash, leak or undefined behaviour is a finding.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <variant>

#include "config/config.hpp"
#include "outbox/event_encoder.hpp"
#include "outbox/event_mapper.hpp"
#include "relay/pg/pgoutput.hpp"
#include "relay/pg/replication_protocol.hpp"
#include "relay/pipeline/transaction_assembler.hpp"

namespace outbox_relay::fuzz {
namespace {

using config::CaptureMode;
using config::EventFormat;

constexpr std::size_t kConfigCount = 32;

// Bits of the configuration byte: capture mode (2), default format (2), and whether a routing
// rule sends Audit events of the outbox table elsewhere, keyed by the id column.
config::OutboxConfig ConfigFor(std::uint8_t selector) {
  config::OutboxConfig outbox;
  constexpr std::array<CaptureMode, 4> kCaptures = {CaptureMode::kTable, CaptureMode::kMessages,
                                                    CaptureMode::kBoth, CaptureMode::kBoth};
  constexpr std::array<EventFormat, 4> kFormats = {EventFormat::kPayload, EventFormat::kEnvelope,
                                                   EventFormat::kCloudEventsBinary,
                                                   EventFormat::kCloudEventsStructured};
  outbox.capture = kCaptures[selector & 3];
  outbox.format = kFormats[(selector >> 2) & 3];
  outbox.tables = {{"outbox", "outbox"}, {"public", "events"}};
  outbox.message_prefixes = {"outbox", "audit"};
  outbox.topic = "{schema}.{table}.{aggregate_type}.{type}";
  if ((selector & 16) != 0) {
    outbox.routes.push_back(
        config::RouteConfig{"table:outbox.outbox", "Audit", "", "audit.{type}", "id", EventFormat::kEnvelope, ""});
  }
  return outbox;
}

const config::OutboxConfig& SelectConfig(std::uint8_t selector) {
  static const auto configs = [] {
    std::array<config::OutboxConfig, kConfigCount> all;
    for (std::size_t i = 0; i < kConfigCount; ++i) all[i] = ConfigFor(static_cast<std::uint8_t>(i));
    return all;
  }();
  return configs[selector % kConfigCount];
}

// Reads every byte a record refers to, so ASan sees a dangling view the moment it is made.
std::size_t TouchRecord(const outbox::OutboxEvent& event, const outbox::EncodedEvent& record) {
  std::size_t checksum = event.key.size() + event.topic.size();
  if (record.value) {
    for (const char c : *record.value) checksum += static_cast<unsigned char>(c);
  }
  for (const auto& [name, value] : record.headers) {
    for (const char c : name) checksum += static_cast<unsigned char>(c);
    for (const char c : value) checksum += static_cast<unsigned char>(c);
  }
  return checksum;
}

// Consumes one frame from the front of `input`.
std::string_view NextFrame(std::string_view& input) {
  if (input.size() < 2) {
    const std::string_view rest = input;
    input = {};
    return rest;
  }
  const std::size_t length =
      (static_cast<std::size_t>(static_cast<std::uint8_t>(input[0])) << 8) | static_cast<std::uint8_t>(input[1]);
  input.remove_prefix(2);
  const std::string_view frame = input.substr(0, length);
  input.remove_prefix(frame.size());
  return frame;
}

void Replay(std::string_view input) {
  if (input.empty()) return;
  pipeline::TransactionAssembler assembler(SelectConfig(static_cast<std::uint8_t>(input[0])));
  input.remove_prefix(1);
  outbox::EncodedEvent record;
  volatile std::size_t sink = 0;  // keeps the touched bytes from being optimised away
  while (!input.empty()) {
    const std::string_view frame = NextFrame(input);
    const pg::ServerCopyData copy_data = pg::DecodeServerCopyData(frame);
    const auto* xlog = std::get_if<pg::XLogData>(&copy_data);
    if (xlog == nullptr) continue;  // a keepalive: nothing downstream reads it but the watermark
    const pipeline::TransactionAssembler::Step step = assembler.Apply(pg::DecodePgOutput(xlog->payload));
    if (const auto* event = std::get_if<pipeline::TransactionAssembler::EventStep>(&step)) {
      outbox::EncodeEvent(event->event, record);
      sink = sink + TouchRecord(event->event, record);
    } else if (const auto* begin = std::get_if<pipeline::TransactionAssembler::BeginStep>(&step)) {
      sink = sink + pipeline::FormatPgTimestamp(begin->commit_time).size();
    }
  }
}

}  // namespace
}  // namespace outbox_relay::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    outbox_relay::fuzz::Replay(std::string_view(reinterpret_cast<const char*>(data), size));
  } catch (const outbox_relay::pg::DecodeError&) {
  } catch (const outbox_relay::outbox::TableShapeError&) {
  } catch (const outbox_relay::pipeline::PoisonEventError&) {
  }
  return 0;
}
