// Secret values never appear in messages (config/secrets.cpp: IsSecretKey, Shown), whichever step
// reports the error. Secrets read from `<key>_file` settings, and SecretValues:
// security_config_test.cpp.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config.hpp"
#include "tests/unit/config/config_test_support.hpp"

namespace outbox_relay::config {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using namespace outbox_relay::config::test_support;

// A DSN in the wrong shape is reported without its content.
TEST(SecretsTest, DsnValueNeverInMessages) {
  const ConfigError error = ErrorFrom("source:\n  dsn: [hunter2-password]\n");
  EXPECT_EQ(error.key(), "source.dsn");
  EXPECT_THAT(error.what(), Not(HasSubstr("hunter2")));
}

// Secret kafka values stay out of messages about other kafka properties.
TEST(SecretsTest, KafkaSecretValuesNeverInMessages) {
  const ConfigError error = ErrorFrom(kMinimal, {{"OUTBOX_RELAY_KAFKA_SASL_PASSWORD", "s3cr3t"},
                                                 {"OUTBOX_RELAY_KAFKA_ACKS", "1"}});
  EXPECT_EQ(error.key(), "OUTBOX_RELAY_KAFKA_ACKS");
  EXPECT_THAT(error.what(), Not(HasSubstr("s3cr3t")));
}

// A YAML syntax error next to the DSN does not quote it.
TEST(SecretsTest, MalformedYamlDoesNotQuoteDsn) {
  const ConfigError error = ErrorFrom("source:\n  dsn: \"password=hunter2\" x\n");
  EXPECT_EQ(error.key(), "config");
  EXPECT_THAT(error.what(), Not(HasSubstr("hunter2")));
}

// A secret-looking kafka value in the wrong shape does not leak into the message.
TEST(SecretsTest, KafkaSecretInBadShapeIsHidden) {
  const ConfigError error =
      ErrorFrom(WithDsn("kafka:\n  ssl.key.password:\n    - topsecretvalue\n"));
  EXPECT_EQ(error.key(), "kafka.ssl.key.password");
  EXPECT_THAT(error.what(), Not(HasSubstr("topsecretvalue")));
}

// Values of ordinary keys are quoted in errors, so hiding is limited to secrets.
TEST(SecretsTest, NonSecretValuesAreQuotedInErrors) {
  EXPECT_THAT(ErrorFrom(WithDsn("kafka:\n  queue.buffering.max.messages: lots\n")).what(),
              HasSubstr("\"lots\""));
}

// An error on another key never echoes the DSN from the environment.
TEST(SecretsTest, DsnFromEnvironmentNeverInMessages) {
  const ConfigError error = ErrorFrom("", {{"OUTBOX_RELAY_SOURCE_DSN", "password=hunter2"},
                                           {"OUTBOX_RELAY_SOURCE_SLOT", "Bad"}});
  EXPECT_EQ(error.key(), "OUTBOX_RELAY_SOURCE_SLOT");
  EXPECT_THAT(error.what(), Not(HasSubstr("hunter2")));
}

}  // namespace
}  // namespace outbox_relay::config
