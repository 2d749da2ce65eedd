#include "controller/autoscaler/placement_board.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/rendezvous.h"
#include "common/strings.h"

namespace zs::autoscaler {
namespace {

namespace pb = zeroscale::v1alpha1;
using std::chrono::seconds;

pb::StatsReport Report(const std::string& id, const std::string& address, uint64_t applied,
                       const std::vector<std::string>& busy = {}) {
  pb::StatsReport report;
  report.set_activator_id(id);
  report.set_relay_address(address);
  report.set_placement_generation(applied);
  for (const std::string& name : busy) {
    pb::FunctionLoad* load = report.add_functions();
    load->set_namespace_("ns");
    load->set_name(name);
    load->set_capped(true);
    load->set_in_flight(1);
  }
  return report;
}

std::vector<std::string> Ids(const pb::Placement& placement) {
  std::vector<std::string> ids;
  for (const auto& peer : placement.activators()) ids.push_back(peer.id());
  return ids;
}

// A Function name owned by `owner` among `ids` (for building cases).
std::string OwnedBy(const std::string& owner, const std::vector<std::string>& ids) {
  for (int i = 0;; ++i) {
    const std::string name = Cat("fn-", i);
    if (ids[*RendezvousOwner(Cat("ns/", name), ids)] == owner) return name;
  }
}

class PlacementBoardTest : public ::testing::Test {
 protected:
  ManualClock clock_;
  PlacementBoard board_{{.settle = seconds(3)}, clock_};
};

TEST_F(PlacementBoardTest, NothingIsPlacedWhileSettlingSoThatEveryActivatorIsAMemberFirst) {
  EXPECT_FALSE(board_.OnReport(1, Report("a", "10.0.0.1:8000", 0)).has_value());
  clock_.Advance(seconds(1));
  EXPECT_FALSE(board_.OnReport(2, Report("b", "10.0.0.2:8000", 0)).has_value());
  clock_.Advance(seconds(2));
  auto placement = board_.OnReport(1, Report("a", "10.0.0.1:8000", 0));
  ASSERT_TRUE(placement.has_value());
  EXPECT_EQ(Ids(*placement), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(placement->activators(1).relay_address(), "10.0.0.2:8000");
}

TEST_F(PlacementBoardTest, GenerationsStartAtTheWallClockAndGrowWithEveryChange) {
  const uint64_t start = board_.generation();
  EXPECT_GT(start, 1'000'000'000'000ULL);  // milliseconds since 1970: above a previous leader's
  board_.OnReport(1, Report("a", "10.0.0.1:8000", 0));
  EXPECT_EQ(board_.generation(), start + 1);
  board_.OnReport(1, Report("a", "10.0.0.1:8000", 0));
  EXPECT_EQ(board_.generation(), start + 1) << "the same member again is no change";
  board_.OnReport(1, Report("a", "10.0.0.9:8000", 0));
  EXPECT_EQ(board_.generation(), start + 2) << "a new address is a change";
  board_.OnReport(2, Report("b", "", 0));
  EXPECT_EQ(board_.generation(), start + 2) << "an activator without a relay address is no member";
  EXPECT_EQ(board_.members(), std::vector<std::string>{"a"});
}

TEST_F(PlacementBoardTest, AnActivatorLeavesWithItsLastStream) {
  board_.OnReport(1, Report("a", "10.0.0.1:8000", 0));
  board_.OnReport(2, Report("b", "10.0.0.2:8000", 0));
  board_.OnReport(3, Report("b", "10.0.0.2:8000", 0));  // b reconnected; its old stream is not gone yet
  board_.OnStreamEnded(2);
  EXPECT_EQ(board_.members(), (std::vector<std::string>{"a", "b"}));
  board_.OnStreamEnded(3);
  EXPECT_EQ(board_.members(), std::vector<std::string>{"a"});
}

TEST_F(PlacementBoardTest, LaggingMembersComeWithTheViewTheyApplied) {
  board_.OnReport(1, Report("a", "10.0.0.1:8000", 0));
  const uint64_t only_a = board_.generation();
  clock_.Advance(seconds(3));
  board_.OnReport(1, Report("a", "10.0.0.1:8000", only_a));
  board_.OnReport(2, Report("b", "10.0.0.2:8000", 0));
  const uint64_t both = board_.generation();
  auto placement = board_.OnReport(1, Report("a", "10.0.0.1:8000", only_a));
  ASSERT_TRUE(placement.has_value());
  EXPECT_EQ(placement->generation(), both);
  ASSERT_EQ(placement->lagging_size(), 2);
  // a applied "a alone": the view is sent so the others know what a may still serve.
  EXPECT_EQ(placement->lagging(0).id(), "a");
  EXPECT_EQ(std::vector<std::string>(placement->lagging(0).activators().begin(),
                                     placement->lagging(0).activators().end()),
            std::vector<std::string>{"a"});
  // b applied nothing: its view is unknown (empty), it may serve anything.
  EXPECT_EQ(placement->lagging(1).id(), "b");
  EXPECT_EQ(placement->lagging(1).activators_size(), 0);

  board_.OnReport(1, Report("a", "10.0.0.1:8000", both));
  placement = board_.OnReport(2, Report("b", "10.0.0.2:8000", both));
  EXPECT_EQ(placement->lagging_size(), 0) << "caught up";
}

TEST_F(PlacementBoardTest, BusyListsCappedFunctionsStillForwardedByAnActivatorThatDoesNotOwnThem) {
  board_.OnReport(1, Report("a", "10.0.0.1:8000", 0));
  board_.OnReport(2, Report("b", "10.0.0.2:8000", 0));
  clock_.Advance(seconds(3));
  const std::vector<std::string> ids = {"a", "b"};
  const std::string a_owns = OwnedBy("a", ids);
  const std::string b_owns = OwnedBy("b", ids);
  const uint64_t g = board_.generation();
  // a still has b's Function in flight (it owned it before b came): busy.
  // a's own Function in flight at a is no handoff.
  board_.OnReport(1, Report("a", "10.0.0.1:8000", g, {a_owns, b_owns}));
  auto placement = board_.OnReport(2, Report("b", "10.0.0.2:8000", g));
  ASSERT_TRUE(placement.has_value());
  EXPECT_EQ(std::vector<std::string>(placement->busy().begin(), placement->busy().end()),
            std::vector<std::string>{Cat("ns/", b_owns)});
  // Uncapped load never counts.
  pb::StatsReport uncapped = Report("a", "10.0.0.1:8000", g);
  pb::FunctionLoad* load = uncapped.add_functions();
  load->set_namespace_("ns");
  load->set_name(b_owns);
  load->set_in_flight(3);
  board_.OnReport(1, uncapped);
  placement = board_.OnReport(2, Report("b", "10.0.0.2:8000", g));
  EXPECT_EQ(placement->busy_size(), 0);
}

TEST_F(PlacementBoardTest, SettlesAgainAfterEveryActivatorLeft) {
  board_.OnReport(1, Report("a", "10.0.0.1:8000", 0));
  clock_.Advance(seconds(3));
  EXPECT_TRUE(board_.OnReport(1, Report("a", "10.0.0.1:8000", 0)).has_value());
  board_.OnStreamEnded(1);
  EXPECT_FALSE(board_.OnReport(2, Report("a", "10.0.0.1:8000", 0)).has_value());
}

}  // namespace
}  // namespace zs::autoscaler
