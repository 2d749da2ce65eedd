#include "common/flags.h"

#include <gtest/gtest.h>

namespace zs {
namespace {

TEST(Flags, ParsesAllForms) {
  std::string addr = ":8080";
  bool elect = false;
  int64_t n = 1;
  std::chrono::milliseconds lease{15000};
  FlagSet flags("prog", "summary");
  flags.String("metrics-bind-address", &addr, "h");
  flags.Bool("leader-elect", &elect, "h");
  flags.Int("workers", &n, "h");
  flags.Duration("lease", &lease, "h");
  auto out = flags.Parse({"--metrics-bind-address=:9", "--leader-elect", "--workers", "7", "-lease=1m30s"});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, FlagSet::Outcome::kRun);
  EXPECT_EQ(addr, ":9");
  EXPECT_TRUE(elect);
  EXPECT_EQ(n, 7);
  EXPECT_EQ(lease, std::chrono::milliseconds(90'000));
}

TEST(Flags, HelpAndErrors) {
  bool b = true;
  int64_t n = 0;
  FlagSet flags("prog", "summary");
  flags.Bool("x", &b, "the x");
  flags.Int("n", &n, "the n");
  EXPECT_EQ(*flags.Parse({"--help"}), FlagSet::Outcome::kHelp);
  EXPECT_EQ(flags.Parse({"--nope"}).status().message(), "unknown flag --nope (see --help)");
  EXPECT_EQ(flags.Parse({"--n=abc"}).status().message(), "--n: not an integer: \"abc\"");
  EXPECT_EQ(flags.Parse({"--n"}).status().message(), "flag --n needs a value");
  EXPECT_EQ(flags.Parse({"--x=maybe"}).status().message(), "--x: not a boolean: \"maybe\"");
  ASSERT_TRUE(flags.Parse({"--x=false"}).ok());
  EXPECT_FALSE(b);
  EXPECT_NE(flags.Usage().find("--x\n      the x (default true)"), std::string::npos);
}

TEST(Flags, Durations) {
  EXPECT_EQ(*ParseDuration("250ms"), std::chrono::milliseconds(250));
  EXPECT_EQ(*ParseDuration("1h"), std::chrono::milliseconds(3'600'000));
  EXPECT_EQ(*ParseDuration("1.5s"), std::chrono::milliseconds(1500));
  EXPECT_FALSE(ParseDuration("10").ok());
  EXPECT_FALSE(ParseDuration("s").ok());
  EXPECT_EQ(FormatDuration(std::chrono::milliseconds(15000)), "15s");
  EXPECT_EQ(FormatDuration(std::chrono::milliseconds(1500)), "1500ms");
}

}  // namespace
}  // namespace zs
