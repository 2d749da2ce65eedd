// The controller's Event recorder against the real kube-apiserver: repeats
// become one Event whose count goes up (as client-go's correlator does), a
// Function that records in a hot loop is limited to its burst, and an Event
// the apiserver no longer has is created again.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/kube/resource.h"
#include "common/strings.h"
#include "controller/events.h"
#include "tests/integration/cluster_testing.h"

namespace zs::controller {
namespace {

using nlohmann::json;
using zs::testing::ClusterClient;
using zs::testing::ClusterNamespace;

api::Function Fn(const std::string& ns, const std::string& name) {
  api::Function fn;
  fn.metadata.namespace_ = ns;
  fn.metadata.name = name;
  fn.metadata.uid = "00000000-0000-0000-0000-" + std::string(12 - std::min<size_t>(12, name.size()), '0') +
                    name.substr(0, 12);
  return fn;
}

std::vector<json> EventsOf(kube::KubeClient& client, const std::string& ns, const std::string& name) {
  kube::ListOptions options;
  options.field_selector = Cat("involvedObject.name=", name);
  auto list = client.List(kube::kCoreEvents.In(ns), options);
  EXPECT_TRUE(list.ok()) << list.status();
  return list.ok() ? (*list)["items"].get<std::vector<json>>() : std::vector<json>{};
}

TEST(ClusterEventsTest, RepeatsBumpOneEventsCountAndAHotFunctionIsLimited) {
  auto client = ClusterClient();
  ASSERT_NE(client, nullptr);
  ClusterNamespace ns(*client, "zs-it-events");
  KubeEventRecorder::Options options;
  options.correlator.burst = 10;
  KubeEventRecorder recorder(*client, RealClock::Get(), "zeroscale-controller", options);

  for (int i = 0; i < 7; ++i) {
    recorder.Record(Fn(ns.name(), "repeat"), EventType::kWarning, "ScaleFailed", "the apiserver said no");
  }
  for (int i = 0; i < 30; ++i) {
    recorder.Record(Fn(ns.name(), "hot"), EventType::kWarning, "ChildWriteFailed", Cat("attempt ", i));
  }
  recorder.Record(Fn(ns.name(), "calm"), EventType::kNormal, "DeploymentCreated", "created");
  recorder.Flush();

  std::vector<json> repeat = EventsOf(*client, ns.name(), "repeat");
  ASSERT_EQ(repeat.size(), 1u);
  EXPECT_EQ(repeat[0]["count"], 7);
  EXPECT_EQ(repeat[0]["type"], "Warning");
  EXPECT_EQ(repeat[0]["involvedObject"]["kind"], "Function");
  EXPECT_LE(repeat[0]["firstTimestamp"].get<std::string>(), repeat[0]["lastTimestamp"].get<std::string>());
  EXPECT_EQ(EventsOf(*client, ns.name(), "hot").size(), 10u);
  EXPECT_EQ(EventsOf(*client, ns.name(), "calm").size(), 1u);

  // The apiserver dropped the Event (TTL): the next repeat creates a new one.
  ASSERT_TRUE(
      client->Delete(kube::kCoreEvents.In(ns.name()).Named(repeat[0]["metadata"]["name"].get<std::string>()))
          .ok());
  recorder.Record(Fn(ns.name(), "repeat"), EventType::kWarning, "ScaleFailed", "the apiserver said no");
  recorder.Flush();
  repeat = EventsOf(*client, ns.name(), "repeat");
  ASSERT_EQ(repeat.size(), 1u);
  EXPECT_EQ(repeat[0]["count"], 1);
}

}  // namespace
}  // namespace zs::controller
