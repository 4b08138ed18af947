#include "relay/ops/database.hpp"

#include <stdexcept>

#include <gtest/gtest.h>

namespace outbox_relay::ops::detail {
namespace {

// NULL reads as the empty text, false and zero.
TEST(DatabaseTest, ValuesReadNullAsEmptyFalseAndZero) {
  EXPECT_EQ(Text(Value()), "");
  EXPECT_EQ(Text(Value("shop")), "shop");
  EXPECT_FALSE(Bool(Value()));
  EXPECT_FALSE(Bool(Value("f")));
  EXPECT_TRUE(Bool(Value("t")));
  EXPECT_EQ(Integer(Value()), 0);
  EXPECT_EQ(Integer(Value("-42")), -42);
  EXPECT_THROW(Integer(Value("lots")), std::invalid_argument);
}

// PostgreSQL 10 and later number major.minor.
TEST(DatabaseTest, ServerVersionTextIsMajorDotMinor) {
  EXPECT_EQ(ServerVersionText(150018), "15.18");
  EXPECT_EQ(ServerVersionText(140000), "14.0");
  EXPECT_EQ(ServerVersionText(170002), "17.2");
}

// Credentials, a missing database, object or privilege are the operator's to fix; a lost
// connection or a server shutting down may pass.
TEST(DatabaseTest, FailedStatementsAreConfigurationOrRetryable) {
  EXPECT_EQ(KindOfSqlState("42501"), base::ErrorKind::kConfiguration);  // insufficient_privilege
  EXPECT_EQ(KindOfSqlState("42P01"), base::ErrorKind::kConfiguration);  // undefined_table
  EXPECT_EQ(KindOfSqlState("28P01"), base::ErrorKind::kConfiguration);  // invalid_password
  EXPECT_EQ(KindOfSqlState("57P01"), base::ErrorKind::kRetryable);     // admin_shutdown
  EXPECT_EQ(KindOfSqlState(""), base::ErrorKind::kRetryable);
}

}  // namespace
}  // namespace outbox_relay::ops::detail
