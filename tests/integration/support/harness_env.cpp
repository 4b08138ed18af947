#include "support/harness_env.hpp"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <stdexcept>

#include "support/relay_process.hpp"

namespace outbox_relay::it {

const std::string& HarnessEnv::Get(const std::string& key) const {
  auto it = values.find(key);
  if (it == values.end()) {
    throw std::runtime_error("harness env has no " + key);
  }
  return it->second;
}

std::string HarnessEnv::ConnInfo(const std::string& dbname) const {
  return "host=" + pg_host + " port=" + pg_port + " user=" + pg_user + " dbname=" + dbname + " connect_timeout=10";
}

std::map<std::string, std::string> ReadEnvFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read env file " + path);
  std::map<std::string, std::string> values;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string key = line.substr(0, eq);
    std::string value = line.substr(eq + 1);
    if (key.rfind("export ", 0) == 0) key = key.substr(7);
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
    }
    values[key] = value;
  }
  return values;
}

HarnessEnv LoadHarnessEnv(const std::string& path) {
  HarnessEnv env;
  try {
    env.values = ReadEnvFile(path);
  } catch (const std::runtime_error&) {
    throw std::runtime_error("cannot read harness env file " + path +
                             " (is the ctest fixture 'servers' / harness.sh start running?)");
  }
  env.pg_host = env.values.count("PGHOST") ? env.values["PGHOST"] : "127.0.0.1";
  env.pg_port = env.Get("PGPORT");
  env.pg_user = env.values.count("PGUSER") ? env.values["PGUSER"] : "postgres";
  env.pg_database = env.values.count("PGDATABASE") ? env.values["PGDATABASE"] : "postgres";
  env.kafka_bootstrap_servers = env.Get("KAFKA_BOOTSTRAP_SERVERS");
  return env;
}

std::string RequireEnv(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') {
    throw std::runtime_error(std::string("environment variable ") + name +
                             " is not set (run the tests through ctest, or set it by hand)");
  }
  return value;
}

int HarnessPgMajor() {
  const auto found = Harness().values.find("PG_MAJOR");
  return found == Harness().values.end() ? 15 : std::stoi(found->second);
}

bool LongRun() {
  const char* value = std::getenv("OUTBOX_RELAY_LONG");
  return value != nullptr && std::string(value) == "1";
}

const HarnessEnv& Harness() {
  static const HarnessEnv kEnv = LoadHarnessEnv(RequireEnv("OUTBOX_RELAY_HARNESS_ENV"));
  return kEnv;
}

std::string RelayBinary() {
  std::string path = RequireEnv("OUTBOX_RELAY_BINARY");
  if (::access(path.c_str(), X_OK) != 0) {
    throw std::runtime_error("OUTBOX_RELAY_BINARY=" + path + " is not an executable file");
  }
  return path;
}

std::string SourceDir() { return RequireEnv("OUTBOX_RELAY_SOURCE_DIR"); }

std::chrono::steady_clock::duration RunScript(const std::string& script, const std::vector<std::string>& args,
                                              const std::string& log_dir, std::chrono::milliseconds timeout) {
  const auto start = std::chrono::steady_clock::now();
  const std::string name = script.substr(script.find_last_of('/') + 1);
  std::string command = name;
  for (const auto& arg : args) command += " " + arg;
  // A RelayProcess runs any program: stdin /dev/null, output to files, waits and kills by pid.
  RelayProcess process(script, args, log_dir + "/" + name + ".stdout", log_dir + "/" + name + ".stderr");
  process.Start();
  const auto exit = process.WaitFor(timeout);
  if (!exit) {
    process.Kill();
    throw std::runtime_error(command + " did not finish within " + std::to_string(timeout.count()) + " ms:\n" +
                             process.StderrTail(20));
  }
  if (!exit->exited || exit->code != 0) {
    throw std::runtime_error(command + " failed (" + exit->Describe() + "):\n" + process.StderrTail(20));
  }
  return std::chrono::steady_clock::now() - start;
}

std::chrono::steady_clock::duration RunHarnessCommand(const std::string& command, const std::string& log_dir,
                                                      std::chrono::milliseconds timeout,
                                                      const std::vector<std::string>& args) {
  std::vector<std::string> all = {command, Harness().Get("HARNESS_DIR")};
  all.insert(all.end(), args.begin(), args.end());
  return RunScript(SourceDir() + "/tests/harness/harness.sh", all, log_dir, timeout);
}

}  // namespace outbox_relay::it
