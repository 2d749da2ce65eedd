#include "activator/admission/placement.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "common/rendezvous.h"
#include "common/strings.h"

namespace zs::activator {
namespace {

Placement::View TwoMembers() {
  Placement::View view;
  view.generation = 5;
  view.ids = {"a", "b"};
  view.addresses = {"10.0.0.1:8000", "10.0.0.2:8000"};
  return view;
}

// A Function owned by `owner` among `ids`.
FunctionKey OwnedBy(const std::string& owner, const std::vector<std::string>& ids) {
  for (int i = 0;; ++i) {
    FunctionKey key{"ns", Cat("fn-", i)};
    if (ids[*RendezvousOwner(key.String(), ids)] == owner) return key;
  }
}

TEST(PlacementTest, WithoutAPlacementEverythingIsServedHere) {
  Placement placement("a");
  EXPECT_EQ(placement.generation(), 0u);
  EXPECT_EQ(placement.RouteCapped({"ns", "f"}).decision, Placement::Decision::kServe);
  EXPECT_EQ(placement.BufferShare({"ns", "f"}, 100), 100);
  EXPECT_FALSE(placement.IsPeerHost("10.0.0.1"));
}

TEST(PlacementTest, TheOwnerServesAndTheOtherRelaysToIt) {
  Placement a("a"), b("b");
  a.Apply(TwoMembers());
  b.Apply(TwoMembers());
  const FunctionKey mine = OwnedBy("a", {"a", "b"});
  EXPECT_EQ(a.RouteCapped(mine).decision, Placement::Decision::kServe);
  const Placement::Route route = b.RouteCapped(mine);
  EXPECT_EQ(route.decision, Placement::Decision::kRelay);
  EXPECT_EQ(route.owner, "a");
  EXPECT_EQ(route.address, "10.0.0.1:8000");
  EXPECT_EQ(a.generation(), 5u);
}

TEST(PlacementTest, ANewOwnerHoldsWhileAnotherMemberMayStillServeTheFunction) {
  const FunctionKey mine = OwnedBy("a", {"a", "b"});
  Placement a("a");

  Placement::View busy = TwoMembers();
  busy.busy = {mine.String()};
  a.Apply(busy);
  EXPECT_EQ(a.RouteCapped(mine).decision, Placement::Decision::kHold) << "b still forwards it itself";

  Placement::View unknown = TwoMembers();
  unknown.lagging = {{"b", {}}};
  a.Apply(unknown);
  EXPECT_EQ(a.RouteCapped(mine).decision, Placement::Decision::kHold) << "b's view is unknown";

  // b lags on "b alone": it owned everything then.
  Placement::View b_alone = TwoMembers();
  b_alone.lagging = {{"b", {"b"}}};
  a.Apply(b_alone);
  EXPECT_EQ(a.RouteCapped(mine).decision, Placement::Decision::kHold);

  // b lags on a view of three where a owned this Function too: b never
  // served it itself then, so nothing to wait for.
  Placement::View three = TwoMembers();
  three.lagging = {{"b", {"a", "b", "c"}}};
  a.Apply(three);
  for (int i = 0;; ++i) {
    const FunctionKey key{"ns", Cat("fn-", i)};
    const std::vector<std::string> old_ids = {"a", "b", "c"};
    if (old_ids[*RendezvousOwner(key.String(), old_ids)] != "a") continue;
    if (*RendezvousOwner(key.String(), std::vector<std::string>{"a", "b"}) != 0) continue;
    EXPECT_EQ(a.RouteCapped(key).decision, Placement::Decision::kServe) << key.String();
    break;
  }

  // Its own lag never holds it.
  Placement::View self_lag = TwoMembers();
  self_lag.lagging = {{"a", {}}};
  a.Apply(self_lag);
  EXPECT_EQ(a.RouteCapped(mine).decision, Placement::Decision::kServe);
}

TEST(PlacementTest, BufferSharesSplitTheLimitAndRotateTheRemainder) {
  Placement a("a"), b("b"), c("c");
  Placement::View view;
  view.generation = 1;
  view.ids = {"a", "b", "c"};
  view.addresses = {"10.0.0.1:8000", "10.0.0.2:8000", "10.0.0.3:8000"};
  a.Apply(view);
  b.Apply(view);
  c.Apply(view);
  std::map<std::string, int> extra;
  for (int i = 0; i < 60; ++i) {
    const FunctionKey key{"ns", Cat("fn-", i)};
    const int32_t sa = a.BufferShare(key, 100), sb = b.BufferShare(key, 100), sc = c.BufferShare(key, 100);
    EXPECT_EQ(sa + sb + sc, 100) << key.String();
    if (sa == 34) ++extra["a"];
    if (sb == 34) ++extra["b"];
    if (sc == 34) ++extra["c"];
  }
  EXPECT_EQ(extra.size(), 3u) << "the remainder always lands on the same activator";
  // Below the member count every activator still holds one (for a cold start).
  EXPECT_EQ(a.BufferShare({"ns", "tiny"}, 1), 1);
  EXPECT_EQ(b.BufferShare({"ns", "tiny"}, 1), 1);
}

TEST(PlacementTest, PeersAreRecognisedByTheHostOfTheirRelayAddress) {
  Placement a("a");
  Placement::View view = TwoMembers();
  view.addresses[1] = "[fd00::2]:8000";
  a.Apply(view);
  EXPECT_TRUE(a.IsPeerHost("10.0.0.1"));
  EXPECT_TRUE(a.IsPeerHost("fd00::2"));
  EXPECT_FALSE(a.IsPeerHost("10.0.0.3"));
}

}  // namespace
}  // namespace zs::activator
