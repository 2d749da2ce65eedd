#include "controller/reconciler/pod_trouble.h"

#include <gtest/gtest.h>

namespace zs::controller {
namespace {

using nlohmann::json;

json Pod(const std::string& name, json container_status) {
  const json status = {{"containerStatuses", json::array({std::move(container_status)})}};
  return {{"metadata", {{"name", name}, {"namespace", "demo"}}}, {"status", status}};
}

TEST(PodTroubleTest, AnImageThatCannotBePulledIsTrouble) {
  auto t = PodTroubleOf({Pod(
      "p1",
      {{"name", "function"},
       {"ready", false},
       {"state",
        {{"waiting", {{"reason", "ImagePullBackOff"}, {"message", "Back-off pulling image \"nope\""}}}}}})});
  ASSERT_TRUE(t);
  EXPECT_EQ(t->reason, "ImagePullBackOff");
  EXPECT_EQ(t->message, "pod p1 container function: ImagePullBackOff: Back-off pulling image \"nope\"");
}

TEST(PodTroubleTest, ACrashLoopIsTroubleWaitingOrBetweenRuns) {
  const json last = {{"terminated", {{"exitCode", 3}, {"reason", "Error"}}}};
  auto waiting = PodTroubleOf({Pod("p", {{"name", "function"},
                                         {"restartCount", 2},
                                         {"state", {{"waiting", {{"reason", "CrashLoopBackOff"}}}}},
                                         {"lastState", last}})});
  ASSERT_TRUE(waiting);
  EXPECT_EQ(waiting->reason, "CrashLoopBackOff");
  EXPECT_NE(waiting->message.find("exit code 3 (Error)"), std::string::npos) << waiting->message;
  auto running = PodTroubleOf({Pod("p", {{"name", "function"},
                                         {"ready", false},
                                         {"restartCount", 2},
                                         {"state", {{"running", json::object()}}},
                                         {"lastState", last}})});
  ASSERT_TRUE(running);
  EXPECT_EQ(running->reason, "CrashLoopBackOff");
}

TEST(PodTroubleTest, StartingReadyAndTerminatingPodsAreNot) {
  EXPECT_FALSE(PodTroubleOf({Pod(
      "creating", {{"name", "function"}, {"state", {{"waiting", {{"reason", "ContainerCreating"}}}}}})}));
  EXPECT_FALSE(PodTroubleOf({Pod("ready", {{"name", "function"},
                                           {"ready", true},
                                           {"restartCount", 1},
                                           {"state", {{"running", json::object()}}},
                                           {"lastState", {{"terminated", {{"exitCode", 137}}}}}})}));
  json gone = Pod("gone", {{"name", "function"}, {"state", {{"waiting", {{"reason", "ErrImagePull"}}}}}});
  gone["metadata"]["deletionTimestamp"] = "2026-12-03T00:00:00Z";
  EXPECT_FALSE(PodTroubleOf({gone}));
  EXPECT_FALSE(PodTroubleOf({}));
}

TEST(PodTroubleTest, UnschedulableAndBadConfigAreTrouble) {
  json pending = {{"metadata", {{"name", "p"}}},
                  {"status",
                   {{"conditions", json::array({{{"type", "PodScheduled"},
                                                 {"status", "False"},
                                                 {"reason", "Unschedulable"},
                                                 {"message", "0/1 nodes are available"}}})}}}};
  auto t = PodTroubleOf({pending});
  ASSERT_TRUE(t);
  EXPECT_EQ(t->reason, "Unschedulable");
  auto config = PodTroubleOf({Pod(
      "p",
      {{"name", "function"},
       {"state",
        {{"waiting", {{"reason", "CreateContainerConfigError"}, {"message", "secret \"s\" not found"}}}}}})});
  ASSERT_TRUE(config);
  EXPECT_EQ(config->reason, "CreateContainerConfigError");
  EXPECT_TRUE(IsPodTroubleReason("CrashLoopBackOff"));
  EXPECT_FALSE(IsPodTroubleReason("ReplicasNotReady"));
}

}  // namespace
}  // namespace zs::controller
