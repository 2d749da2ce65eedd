#include "common/rendezvous.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "common/strings.h"

namespace zs {
namespace {

TEST(RendezvousTest, NoCandidateOwnsNothing) { EXPECT_FALSE(RendezvousOwner("ns/fn", {}).has_value()); }

TEST(RendezvousTest, TheOwnerDoesNotDependOnTheCandidatesOrder) {
  const std::vector<std::string> a = {"act-a", "act-b", "act-c"};
  const std::vector<std::string> b = {"act-c", "act-a", "act-b"};
  for (int i = 0; i < 200; ++i) {
    const std::string key = Cat("ns/fn-", i);
    EXPECT_EQ(a[*RendezvousOwner(key, a)], b[*RendezvousOwner(key, b)]) << key;
  }
}

// The point of rendezvous hashing: a joining candidate only takes keys, it
// never moves a key between the others; and the load spreads.
TEST(RendezvousTest, AJoinOnlyMovesKeysToTheNewcomerAndKeysSpread) {
  const std::vector<std::string> two = {"act-a", "act-b"};
  const std::vector<std::string> three = {"act-a", "act-b", "act-c"};
  std::map<std::string, int> owned;
  for (int i = 0; i < 3000; ++i) {
    const std::string key = Cat("ns/fn-", i);
    const std::string before = two[*RendezvousOwner(key, two)];
    const std::string after = three[*RendezvousOwner(key, three)];
    if (after != "act-c") {
      EXPECT_EQ(before, after) << key;
    }
    ++owned[after];
  }
  for (const auto& [id, n] : owned) EXPECT_GT(n, 800) << id;
}

// Fixed values: the controller and every activator must agree, across
// versions too; a change here is a protocol change.
TEST(RendezvousTest, ScoresAreStable) {
  EXPECT_EQ(RendezvousScore("", ""), RendezvousScore("", ""));
  EXPECT_NE(RendezvousScore("a", "b"), RendezvousScore("ab", ""));
  EXPECT_EQ(RendezvousScore("default/hello", "zeroscale-activator-0"), 0xf7049d11a309e669ULL);
}

}  // namespace
}  // namespace zs
