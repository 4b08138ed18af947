#include "base/error.hpp"

#include <gtest/gtest.h>

#include <string>

namespace outbox_relay::base {
namespace {

Result<int> Half(int value) {
  if (value % 2 != 0)
    return Error::Configuration("value: " + std::to_string(value) + " is odd", "use an even one");
  return value / 2;
}

TEST(ErrorTest, ResultCarriesTheValueOrTheError) {
  const Result<int> half = Half(8);
  ASSERT_TRUE(half);
  EXPECT_EQ(half.value(), 4);

  const Result<int> odd = Half(3);
  ASSERT_FALSE(odd);
  EXPECT_EQ(odd.error().kind, ErrorKind::kConfiguration);
  EXPECT_EQ(odd.error().Line(), "value: 3 is odd; use an even one");
}

TEST(ErrorTest, EachKindHasItsExitCode) {
  EXPECT_EQ(ExitCodeFor(ErrorKind::kConfiguration), kExitConfig);
  EXPECT_EQ(ExitCodeFor(ErrorKind::kFatal), kExitFatal);
  EXPECT_EQ(ExitCodeFor(ErrorKind::kRetryable), kExitFatal);
  EXPECT_TRUE(Error::Retryable("broker down").retryable());
  EXPECT_FALSE(Error::Fatal("fenced").retryable());
  EXPECT_EQ(Error::Fatal("fenced").Line(), "fenced");
}

}  // namespace
}  // namespace outbox_relay::base
