#include "support/test_fixture.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "support/lsn_text.hpp"

namespace outbox_relay::it {

std::string RandomSuffix() {
  static std::mt19937_64 engine = [] {
    std::random_device device;
    std::seed_seq seed{device(), device(), static_cast<unsigned>(::getpid()),
                       static_cast<unsigned>(std::chrono::steady_clock::now().time_since_epoch().count())};
    return std::mt19937_64(seed);
  }();
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "%08x", static_cast<unsigned>(engine() & 0xFFFFFFFFu));
  return buffer;
}

std::string Seconds(std::chrono::steady_clock::duration duration) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1fs", std::chrono::duration<double>(duration).count());
  return buffer;
}

TempDir::TempDir(const std::string& prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/" + prefix + "-XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (::mkdtemp(buffer.data()) == nullptr) {
    throw std::runtime_error("mkdtemp " + pattern + " failed");
  }
  path_ = buffer.data();
}

TempDir::~TempDir() {
  if (keep_) return;
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

// ---------------------------------------------------------------------------------------------

TestDatabase::TestDatabase(const HarnessEnv& harness, const std::string& name)
    : harness_(harness), name_("it_" + name + "_" + RandomSuffix()) {
  if (name_.size() > 63) name_ = name_.substr(name_.size() - 63);
  {
    PgConnection admin(harness_.ConnInfo(harness_.pg_database));
    admin.Exec("CREATE DATABASE " + admin.QuoteIdent(name_));
    created_ = true;
  }
  // Every migration, in version order, as a new install would run them.
  PgConnection conn = Connect();
  for (const char* migration : {"V1__outbox.sql", "V2__publish_message_purge.sql", "V3__relay_slots.sql"}) {
    const std::string path = SourceDir() + "/outbox/sql/" + migration;
    const std::string sql = ReadFile(path);
    if (sql.empty()) throw std::runtime_error("cannot read " + path);
    conn.Exec(sql);
  }
}

TestDatabase::~TestDatabase() {
  for (const auto& slot : slots_) {
    try {
      DropSlot(slot, std::chrono::seconds(30));
    } catch (const std::exception& e) {
      std::cerr << "[cleanup] dropping slot " << slot << ": " << e.what() << "\n";
    }
  }
  if (!created_) return;
  try {
    PgConnection admin(harness_.ConnInfo(harness_.pg_database));
    admin.Exec("DROP DATABASE IF EXISTS " + admin.QuoteIdent(name_) + " WITH (FORCE)");
  } catch (const std::exception& e) {
    std::cerr << "[cleanup] dropping database " << name_ << ": " << e.what() << "\n";
  }
}

std::string TestDatabase::RelayDsn() const {
  return "host=" + harness_.pg_host + " port=" + harness_.pg_port + " dbname=" + name_ +
         " user=" + harness_.pg_user;
}

PgConnection TestDatabase::Connect() const { return PgConnection(harness_.ConnInfo(name_)); }

void TestDatabase::DropSlotAtEnd(const std::string& slot) {
  for (const auto& s : slots_) {
    if (s == slot) return;
  }
  slots_.push_back(slot);
}

void TestDatabase::DropSlot(const std::string& slot, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  PgConnection conn = Connect();
  while (true) {
    auto rows = conn.ExecParams("SELECT active FROM pg_replication_slots WHERE slot_name = $1", {slot});
    if (rows.Empty()) return;
    if (rows.Text(0, 0) == "f") {
      try {
        conn.ExecParams("SELECT pg_drop_replication_slot($1)", {slot});
        return;
      } catch (const PgError&) {
        // Became active again between the two statements, or vanished: retry.
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      throw std::runtime_error("slot " + slot + " still active, not dropped");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

std::optional<SlotState> TestDatabase::Slot(const std::string& slot) const {
  PgConnection conn = Connect();
  auto rows = conn.ExecParams(
      "SELECT active, active_pid, confirmed_flush_lsn::text, plugin FROM pg_replication_slots "
      "WHERE slot_name = $1",
      {slot});
  if (rows.Empty()) return std::nullopt;
  SlotState state;
  state.active = rows.Text(0, 0) == "t";
  if (rows.At(0, 1)) state.active_pid = std::stoll(*rows.At(0, 1));
  if (rows.At(0, 2)) state.confirmed_flush_lsn = ParseLsnText(*rows.At(0, 2));
  if (rows.At(0, 3)) state.plugin = *rows.At(0, 3);
  return state;
}

bool TestDatabase::WaitForSlot(const std::string& slot, bool active, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto state = Slot(slot);
    if (state && state->active == active) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// ---------------------------------------------------------------------------------------------

namespace {

std::string YamlQuote(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

int UnusedLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(fd);
    throw std::runtime_error("bind failed");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

std::string RenderRelayConfig(const RelayConfigOptions& options) {
  // OUTBOX_RELAY_IT_LOG_LEVEL (read by the tests only; never passed to the relay) overrides
  // the log level, e.g. "debug" to diagnose a failing run.
  std::string log_level = options.log_level;
  if (const char* level = std::getenv("OUTBOX_RELAY_IT_LOG_LEVEL"); level != nullptr && *level) {
    log_level = level;
  }
  // The relay's default 0.0.0.0:9742 would let only one relay of the machine start.
  RelayConfigOptions with_http = options;
  with_http.more["http"].try_emplace("listen", "\"127.0.0.1:0\"");
  const auto& more = with_http.more;
  std::ostringstream yaml;
  yaml << "source:\n"
       << "  dsn: " << YamlQuote(options.dsn) << "\n"
       << "  slot: " << options.slot << "\n"
       << "  publication: " << options.publication << "\n";
  auto more_keys = [&](const std::string& section) {
    if (auto found = more.find(section); found != more.end()) {
      for (const auto& [key, value] : found->second) yaml << "  " << key << ": " << value << "\n";
    }
  };
  more_keys("source");
  yaml << "outbox:\n"
       << "  topic: " << YamlQuote(options.topic) << "\n"
       << "sink:\n"
       << "  type: " << options.sink << "\n";
  if (!options.bootstrap_servers.empty() || !options.kafka_properties.empty()) {
    yaml << "kafka:\n";
    if (!options.bootstrap_servers.empty()) {
      yaml << "  bootstrap.servers: " << YamlQuote(options.bootstrap_servers) << "\n";
    }
    for (const auto& [key, value] : options.kafka_properties) {
      yaml << "  " << key << ": " << YamlQuote(value) << "\n";
    }
  }
  if (options.max_in_flight_events) {
    yaml << "flow:\n"
         << "  max_in_flight_events: " << *options.max_in_flight_events << "\n";
  }
  yaml << "log:\n"
       << "  level: " << log_level << "\n";
  if (!options.log_format.empty()) yaml << "  format: " << options.log_format << "\n";
  if (!options.delivery.empty()) yaml << "delivery: " << options.delivery << "\n";
  for (const auto& [section, keys] : more) {
    if (section == "source") continue;
    if (section == "outbox" || section == "sink" || section == "kafka" || section == "flow" || section == "log") {
      throw std::invalid_argument("RelayConfigOptions::more cannot extend section " + section);
    }
    yaml << section << ":\n";
    more_keys(section);
  }
  return yaml.str();
}

// ---------------------------------------------------------------------------------------------

bool WaitForText(const std::string& path, const std::string& part, std::chrono::milliseconds timeout) {
  return WaitUntil([&] { return Contains(ReadFile(path), part); }, timeout, std::chrono::milliseconds(100));
}

void RelayIntegrationTest::SetUp() {
  suffix_ = RandomSuffix();
  temp_ = std::make_unique<TempDir>("outbox-relay-it-" + ShortTestName());
  std::cout << "[ info ] temp dir " << temp_->Path() << "\n";
}

void RelayIntegrationTest::TearDown() {
  for (auto& relay : relays_) {
    try {
      if (relay->Running()) {
        std::cout << "[ info ] killing relay pid " << relay->Pid() << " left running\n";
        relay->Kill();
      }
    } catch (const std::exception& e) {
      std::cerr << "[cleanup] " << e.what() << "\n";
    }
  }
  if (HasFailure()) {
    for (auto& relay : relays_) {
      std::cout << "----- tail of " << relay->StderrPath() << " -----\n"
                << relay->StderrTail(60) << "----- end -----\n";
    }
    if (temp_) {
      temp_->Keep();
      std::cout << "[ info ] kept " << temp_->Path() << " for inspection\n";
    }
  }
  relays_.clear();
  db_.reset();
}

std::string RelayIntegrationTest::ShortTestName() const {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = info != nullptr ? info->name() : "test";
  std::string out;
  for (char c : name) {
    if (std::isupper(static_cast<unsigned char>(c)) != 0) {
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (std::isalnum(static_cast<unsigned char>(c)) != 0) {
      out += c;
    }
    if (out.size() >= 20) break;
  }
  return out.empty() ? "test" : out;
}

TestDatabase& RelayIntegrationTest::CreateDatabase() {
  db_ = std::make_unique<TestDatabase>(Harness(), ShortTestName());
  std::cout << "[ info ] database " << db_->Name() << "\n";
  return *db_;
}

std::string RelayIntegrationTest::WriteConfig(const std::string& file_name, const std::string& yaml) {
  std::string path = temp_->File(file_name);
  std::ofstream out(path, std::ios::trunc);
  out << yaml;
  out.close();
  if (!out) throw std::runtime_error("cannot write " + path);
  return path;
}

RelayProcess& RelayIntegrationTest::NewRelay(const std::string& config_path, const std::string& label) {
  return NewRelayCommand({"run", "--config", config_path}, label);
}

RelayProcess& RelayIntegrationTest::NewRelayCommand(std::vector<std::string> args, const std::string& label) {
  relays_.push_back(std::make_unique<RelayProcess>(RelayBinary(), std::move(args), temp_->File(label + ".stdout"),
                                                   temp_->File(label + ".stderr")));
  return *relays_.back();
}

}  // namespace outbox_relay::it
