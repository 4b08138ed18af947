// Security settings of the config: the source's TLS and password keys, secrets read from
// `<key>_file` settings (in the file and the environment), and which keys count as secrets.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <stdexcept>
#include <string>

#include "config/config.hpp"
#include "config_test_support.hpp"

namespace outbox_relay::config {
namespace {

using test_support::kMinimal;
using test_support::WithDsn;
using ::testing::HasSubstr;
using ::testing::Not;

// A SecretFileReader over an in-memory file system; missing paths fail like fopen does.
SecretFileReader Files(std::map<std::string, std::string> files) {
  return [files = std::move(files)](const std::string& path) {
    const auto it = files.find(path);
    if (it == files.end()) throw std::runtime_error("No such file or directory");
    return it->second;
  };
}

ConfigError ErrorWithFiles(const std::string& yaml, const Environment& env, const SecretFileReader& read_file) {
  try {
    ParseConfig(yaml, env, read_file);
  } catch (const ConfigError& error) {
    return error;
  }
  ADD_FAILURE() << "expected a ConfigError for:\n" << yaml;
  return ConfigError("none", "no error");
}

// The source's libpq TLS and password keys land in SourceConfig as given.
TEST(SecurityConfigTest, SourceTlsAndPasswordKeys) {
  const Config config = ParseConfig(WithDsn("  sslmode: verify-full\n  sslrootcert: /etc/ca.pem\n"
                                            "  sslcert: /c.pem\n  sslkey: /k.pem\n  sslpassword: kp\n"
                                            "  password: pw\n"),
                                    {});
  EXPECT_EQ(config.source.sslmode, "verify-full");
  EXPECT_EQ(config.source.sslrootcert, "/etc/ca.pem");
  EXPECT_EQ(config.source.sslcert, "/c.pem");
  EXPECT_EQ(config.source.sslkey, "/k.pem");
  EXPECT_EQ(config.source.sslpassword, "kp");
  EXPECT_EQ(config.source.password, "pw");
}

// sslmode takes libpq's spellings only.
TEST(SecurityConfigTest, UnknownSslModeNamesTheKey) {
  const ConfigError error = test_support::ErrorFrom(WithDsn("  sslmode: verify\n"));
  EXPECT_EQ(error.key(), "source.sslmode");
  EXPECT_THAT(error.what(), HasSubstr("verify-full"));
}

// A secret key's `_file` variant reads the file, without its trailing line break.
TEST(SecurityConfigTest, SecretFromFileLosesTrailingNewline) {
  const Config config =
      ParseConfig(WithDsn("  password_file: /run/secrets/pg\nkafka:\n  sasl.password_file: /run/secrets/kafka\n"),
                  {}, Files({{"/run/secrets/pg", "pg-secret\n"}, {"/run/secrets/kafka", "kafka-secret\r\n"}}));
  EXPECT_EQ(config.source.password, "pg-secret");
  EXPECT_EQ(config.kafka.at("sasl.password"), "kafka-secret");
  EXPECT_FALSE(config.kafka.contains("sasl.password_file")) << "a _file key must not reach librdkafka";
}

// The environment names the file the same way: OUTBOX_RELAY_<KEY>_FILE.
TEST(SecurityConfigTest, SecretFileFromEnvironment) {
  const Config config = ParseConfig(kMinimal,
                                    {{"OUTBOX_RELAY_SOURCE_PASSWORD_FILE", "/s/pg"},
                                     {"OUTBOX_RELAY_KAFKA_SSL_KEY_PASSWORD_FILE", "/s/key"},
                                     {"OUTBOX_RELAY_SOURCE_DSN_FILE", "/s/dsn"}},
                                    Files({{"/s/pg", "a"}, {"/s/key", "b"}, {"/s/dsn", "host=h password=c\n"}}));
  EXPECT_EQ(config.source.password, "a");
  EXPECT_EQ(config.kafka.at("ssl.key.password"), "b");
  EXPECT_EQ(config.source.dsn, "host=h password=c");
}

// The environment overrides the file whichever variant each uses; the value itself works too.
TEST(SecurityConfigTest, EnvironmentSecretReplacesFileVariant) {
  const SecretFileReader files = Files({{"/s/pg", "from-file"}});
  EXPECT_EQ(ParseConfig(WithDsn("  password: in-yaml\n"), {{"OUTBOX_RELAY_SOURCE_PASSWORD_FILE", "/s/pg"}}, files)
                .source.password,
            "from-file");
  EXPECT_EQ(ParseConfig(WithDsn("  password_file: /s/pg\n"), {{"OUTBOX_RELAY_SOURCE_PASSWORD", "from-env"}}, files)
                .source.password,
            "from-env");
}

// A secret and its file in the same place is a mistake, reported with both names.
TEST(SecurityConfigTest, SecretAndItsFileTogetherIsAnError) {
  const SecretFileReader files = Files({{"/s/pg", "x"}});
  const ConfigError in_file = ErrorWithFiles(WithDsn("  password: a\n  password_file: /s/pg\n"), {}, files);
  EXPECT_EQ(in_file.key(), "source.password_file");
  EXPECT_THAT(in_file.what(), HasSubstr("not both"));
  const ConfigError in_env = ErrorWithFiles(
      kMinimal, {{"OUTBOX_RELAY_KAFKA_SASL_PASSWORD", "a"}, {"OUTBOX_RELAY_KAFKA_SASL_PASSWORD_FILE", "/s/pg"}},
      files);
  EXPECT_THAT(in_env.what(), HasSubstr("not both"));
}

// An unreadable file is a config error naming the setting and the reason, never content.
TEST(SecurityConfigTest, UnreadableSecretFileNamesTheKey) {
  const ConfigError from_yaml = ErrorWithFiles(WithDsn("kafka:\n  sasl.password_file: /nope\n"), {}, Files({}));
  EXPECT_EQ(from_yaml.key(), "kafka.sasl.password_file");
  EXPECT_THAT(from_yaml.what(), HasSubstr("cannot read /nope: No such file or directory"));
  const ConfigError from_env =
      ErrorWithFiles(kMinimal, {{"OUTBOX_RELAY_SOURCE_PASSWORD_FILE", "/nope"}}, Files({}));
  EXPECT_EQ(from_env.key(), "OUTBOX_RELAY_SOURCE_PASSWORD_FILE");
}

// The file system reader refuses what cannot be a secret (here an endless device) instead of
// reading it forever.
TEST(SecurityConfigTest, OversizedSecretFileIsAnError) {
  const ConfigError error = ErrorWithFiles(WithDsn("  password_file: /dev/zero\n"), {}, ReadSecretFile);
  EXPECT_EQ(error.key(), "source.password_file");
  EXPECT_THAT(error.what(), HasSubstr("larger than 1048576 bytes"));
}

// A file holding only a line break is refused rather than taken as an empty password.
TEST(SecurityConfigTest, EmptySecretFileIsAnError) {
  const ConfigError error =
      ErrorWithFiles(WithDsn("  password_file: /s/empty\n"), {}, Files({{"/s/empty", "\n"}}));
  EXPECT_EQ(error.key(), "source.password_file");
  EXPECT_THAT(error.what(), HasSubstr("is empty"));
}

// Only secret keys have a `_file` variant; anything else stays an unknown key.
TEST(SecurityConfigTest, FileVariantOfOrdinaryKeyIsUnknown) {
  EXPECT_EQ(test_support::ErrorFrom(WithDsn("  slot_file: /x\n")).key(), "source.slot_file");
  EXPECT_EQ(test_support::ErrorFrom(kMinimal, {{"OUTBOX_RELAY_SOURCE_SLOT_FILE", "/x"}}).key(),
            "OUTBOX_RELAY_SOURCE_SLOT_FILE");
}

// A value read from a file is validated like any other, and the error names the file setting
// without echoing the secret.
TEST(SecurityConfigTest, ErrorsAboutAFileSecretNameTheFileSetting) {
  const ConfigError error =
      ErrorWithFiles("source:\n  dsn_file: /s/dsn\n  slot: Bad\n", {}, Files({{"/s/dsn", "password=hunter2"}}));
  EXPECT_EQ(error.key(), "source.slot");
  EXPECT_THAT(error.what(), Not(HasSubstr("hunter2")));
}

// Credentials are secrets; names, mechanisms and paths are not.
TEST(SecurityConfigTest, WhichKeysAreSecret) {
  for (const char* key :
       {"source.dsn", "source.password", "source.sslpassword", "heartbeat.dsn", "kafka.sasl.password",
        "kafka.ssl.key.password", "kafka.ssl.keystore.password", "kafka.ssl.key.pem",
        "kafka.sasl.oauthbearer.client.secret", "kafka.sasl.oauthbearer.config"}) {
    EXPECT_TRUE(IsSecretKey(key)) << key;
  }
  for (const char* key : {"source.sslrootcert", "source.sslkey", "kafka.sasl.username", "kafka.sasl.mechanism",
                          "kafka.ssl.ca.location", "kafka.security.protocol", "source.slot"}) {
    EXPECT_FALSE(IsSecretKey(key)) << key;
  }
}

// SecretValues lists every secret set, whether it came from the file, a file or the environment;
// not the DSN, which messages may describe (its password is added by the relay, via libpq).
TEST(SecurityConfigTest, SecretValuesListsEverySecret) {
  const Config config = ParseConfig(
      "source:\n  dsn: host=h\n  password: p1\n  sslpassword: p2\n"
      "kafka:\n  bootstrap.servers: k:9092\n  sasl.username: user\n",
      {{"OUTBOX_RELAY_KAFKA_SASL_PASSWORD", "p3"}});
  EXPECT_THAT(SecretValues(config), ::testing::UnorderedElementsAre("p1", "p2", "p3"));
}

// heartbeat.dsn names the primary of a standby source: the same role and TLS settings, its own
// DSN; none when unset.
TEST(SecurityConfigTest, PrimarySourceIsTheSourceWithTheHeartbeatDsn) {
  EXPECT_FALSE(PrimarySource(ParseConfig(kMinimal, {})).has_value());
  const Config config = ParseConfig(WithDsn("  password: p1\n  sslmode: verify-full\n  slot: s1\n"
                                            "heartbeat:\n  dsn_file: /s/primary\n"),
                                    {}, Files({{"/s/primary", "host=primary"}}));
  const auto primary = PrimarySource(config);
  ASSERT_TRUE(primary.has_value());
  EXPECT_EQ(primary->dsn, "host=primary");
  EXPECT_EQ(primary->password, "p1");
  EXPECT_EQ(primary->sslmode, "verify-full");
  EXPECT_EQ(primary->slot, "s1");
  EXPECT_EQ(config.source.dsn, "host=db dbname=app");
}

}  // namespace
}  // namespace outbox_relay::config
