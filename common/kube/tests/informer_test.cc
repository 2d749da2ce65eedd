#include "common/kube/informer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "common/kube/errors.h"
#include "common/kube/testing/fake_kube_client.h"
#include "common/kube/testing/mock_kube_client.h"
#include "common/kube/tests/test_util.h"

namespace zs::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::FakeKubeClient;

EventHandlers Recorder(EventLog& log) {
  return EventHandlers{
      [&log](const nlohmann::json& o) { log.Record("add " + Informer::KeyOf(o)); },
      [&log](const nlohmann::json&, const nlohmann::json& o) { log.Record("update " + Informer::KeyOf(o)); },
      [&log](const nlohmann::json& o) { log.Record("delete " + Informer::KeyOf(o)); },
  };
}

InformerOptions FastOptions() {
  InformerOptions options;
  options.name = "test";
  options.backoff.initial = milliseconds(100);
  options.backoff.jitter = 0;
  return options;
}

TEST(InformerTest, ListsThenFollowsWatchEvents) {
  ManualClock clock;
  FakeKubeClient fake;
  fake.Create(kConfigMaps.In("ns"), ConfigMap("ns", "a")).IgnoreError();
  fake.Create(kConfigMaps.In("ns"), ConfigMap("ns", "b")).IgnoreError();
  EventLog log;
  Informer informer(fake, clock, kConfigMaps.In("ns"), FastOptions());
  informer.AddHandlers(Recorder(log));
  EXPECT_FALSE(informer.HasSynced());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(milliseconds(5000)));
  EXPECT_EQ(log.entries(), (std::vector<std::string>{"add ns/a", "add ns/b"}));
  EXPECT_EQ(informer.List().size(), 2u);

  ASSERT_TRUE(Eventually([&] { return fake.OpenWatches() == 1; }));
  fake.Create(kConfigMaps.In("ns"), ConfigMap("ns", "c")).IgnoreError();
  fake.MergePatch(ConfigMapRef("ns", "a"), {{"data", {{"key", "v2"}}}}).IgnoreError();
  fake.Delete(ConfigMapRef("ns", "b")).IgnoreError();
  ASSERT_TRUE(Eventually([&] { return log.size() == 5; }));
  EXPECT_EQ(log.entries(),
            (std::vector<std::string>{"add ns/a", "add ns/b", "add ns/c", "update ns/a", "delete ns/b"}));
  EXPECT_EQ((*informer.Get("ns/a"))["data"]["key"], "v2");
  EXPECT_FALSE(informer.Get("ns/b").has_value());
  EXPECT_EQ(informer.list_count(), 1);
  informer.Stop();
}

// Find and Snapshot hand out the cached objects themselves: the same object
// until an event replaces it, and one handed out is never changed after.
TEST(InformerTest, SharedObjectsAreReplacedByEventsNeverChanged) {
  ManualClock clock;
  FakeKubeClient fake;
  fake.Create(kConfigMaps.In("ns"), ConfigMap("ns", "a")).IgnoreError();
  Informer informer(fake, clock, kConfigMaps.In("ns"), FastOptions());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(milliseconds(5000)));
  std::shared_ptr<const nlohmann::json> before = informer.Find("ns/a");
  ASSERT_NE(before, nullptr);
  EXPECT_EQ(informer.Find("ns/a"), before);
  ASSERT_EQ(informer.Snapshot().size(), 1u);
  EXPECT_EQ(informer.Snapshot()[0], before);
  EXPECT_EQ(informer.Find("ns/none"), nullptr);

  ASSERT_TRUE(Eventually([&] { return fake.OpenWatches() == 1; }));
  fake.MergePatch(ConfigMapRef("ns", "a"), {{"data", {{"key", "v2"}}}}).IgnoreError();
  ASSERT_TRUE(Eventually([&] { return informer.Find("ns/a") != before; }));
  EXPECT_EQ((*informer.Find("ns/a"))["data"]["key"], "v2");
  EXPECT_EQ((*before)["data"]["key"], "v") << "the object handed out before the update is unchanged";
  fake.Delete(ConfigMapRef("ns", "a")).IgnoreError();
  ASSERT_TRUE(Eventually([&] { return informer.Find("ns/a") == nullptr; }));
  EXPECT_TRUE(informer.Snapshot().empty());
  informer.Stop();
}

TEST(InformerTest, ManagedFieldsAreNotCachedNorHandedOut) {
  ManualClock clock;
  FakeKubeClient fake;
  const nlohmann::json managed = nlohmann::json::array({{{"manager", "kubectl"}, {"operation", "Apply"}}});
  auto listed = ConfigMap("ns", "a");
  listed["metadata"]["managedFields"] = managed;
  fake.Create(kConfigMaps.In("ns"), listed).IgnoreError();
  std::mutex mu;
  std::vector<nlohmann::json> seen;
  Informer informer(fake, clock, kConfigMaps.In("ns"), FastOptions());
  informer.AddHandlers({[&](const nlohmann::json& o) {
                          std::lock_guard lock(mu);
                          seen.push_back(o);
                        },
                        {},
                        {}});
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(milliseconds(5000)));
  ASSERT_TRUE(Eventually([&] { return fake.OpenWatches() == 1; }));
  auto watched = ConfigMap("ns", "b");
  watched["metadata"]["managedFields"] = managed;
  fake.Create(kConfigMaps.In("ns"), watched).IgnoreError();
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard lock(mu);
    return seen.size() == 2;
  }));
  for (const std::string key : {"ns/a", "ns/b"}) {
    auto cached = informer.Get(key);
    ASSERT_TRUE(cached.has_value()) << key;
    EXPECT_FALSE((*cached)["metadata"].contains("managedFields")) << key;
    EXPECT_EQ((*cached)["metadata"]["name"], key.substr(3));
  }
  std::lock_guard lock(mu);
  for (const auto& object : seen) EXPECT_FALSE(object["metadata"].contains("managedFields"));
  informer.Stop();
}

TEST(InformerTest, OtherNamespacesAndSelectorsAreFiltered) {
  ManualClock clock;
  FakeKubeClient fake;
  auto labelled = ConfigMap("ns", "a");
  labelled["metadata"]["labels"] = {{"app", "x"}};
  fake.Create(kConfigMaps.In("ns"), labelled).IgnoreError();
  fake.Create(kConfigMaps.In("ns"), ConfigMap("ns", "b")).IgnoreError();
  fake.Create(kConfigMaps.In("other"), ConfigMap("other", "c")).IgnoreError();
  EventLog log;
  InformerOptions options = FastOptions();
  options.label_selector = "app=x";
  Informer informer(fake, clock, kConfigMaps.In("ns"), options);
  informer.AddHandlers(Recorder(log));
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(milliseconds(5000)));
  EXPECT_EQ(log.entries(), (std::vector<std::string>{"add ns/a"}));
}

TEST(InformerTest, ServerEndingTheStreamResumesFromLastResourceVersion) {
  ManualClock clock;
  FakeKubeClient fake;
  EventLog log;
  Informer informer(fake, clock, kConfigMaps.In("ns"), FastOptions());
  informer.AddHandlers(Recorder(log));
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(milliseconds(5000)));
  ASSERT_TRUE(Eventually([&] { return fake.OpenWatches() == 1; }));
  fake.Create(kConfigMaps.In("ns"), ConfigMap("ns", "a")).IgnoreError();
  ASSERT_TRUE(Eventually([&] { return log.size() == 1; }));
  fake.EndWatches();
  fake.Create(kConfigMaps.In("ns"), ConfigMap("ns", "b")).IgnoreError();
  ASSERT_TRUE(Eventually([&] { return log.size() == 2; }));
  EXPECT_EQ(log.entries(), (std::vector<std::string>{"add ns/a", "add ns/b"}));
  EXPECT_EQ(informer.list_count(), 1);  // no relist, no duplicate add
  EXPECT_GE(fake.Calls("watch"), 2);
}

// A watch from a compacted resourceVersion gets 410; the relist diffs the
// cache and synthesizes the delete the informer never saw.
TEST(InformerTest, WatchFromCompactedVersionRelistsAndSynthesizesDeletes) {
  ManualClock clock;
  FakeKubeClient fake;
  fake.Create(kConfigMaps.In("ns"), ConfigMap("ns", "a")).IgnoreError();
  fake.Create(kConfigMaps.In("ns"), ConfigMap("ns", "b")).IgnoreError();
  EventLog log;
  Informer informer(fake, clock, kConfigMaps.In("ns"), FastOptions());
  informer.AddHandlers(Recorder(log));
  // First watch fails with a transport error, so the informer waits (on the
  // ManualClock) while the world changes and history is compacted.
  fake.FailNext("watch", TransportError("connection reset"));
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(milliseconds(5000)));
  ASSERT_TRUE(Eventually([&] { return fake.Calls("watch") == 1; }));
  fake.Delete(ConfigMapRef("ns", "b")).IgnoreError();
  fake.Create(kConfigMaps.In("ns"), ConfigMap("ns", "c")).IgnoreError();
  fake.MergePatch(ConfigMapRef("ns", "a"), {{"data", {{"key", "v2"}}}}).IgnoreError();
  fake.Compact();
  clock.Advance(seconds(1));  // past the backoff
  ASSERT_TRUE(Eventually([&] { return informer.list_count() == 2 && log.size() == 5; }));
  EXPECT_EQ(log.entries(),
            (std::vector<std::string>{"add ns/a", "add ns/b", "delete ns/b", "add ns/c", "update ns/a"}));
}

TEST(InformerTest, ListFailureBacksOffOnTheClock) {
  ManualClock clock;
  FakeKubeClient fake;
  fake.FailNext("list", TransportError("refused"), 2);
  Informer informer(fake, clock, kConfigMaps.In("ns"), FastOptions());
  informer.Start();
  ASSERT_TRUE(Eventually([&] { return fake.Calls("list") == 1; }));
  EXPECT_FALSE(Eventually([&] { return fake.Calls("list") > 1; }, milliseconds(100)));
  clock.Advance(milliseconds(100));
  ASSERT_TRUE(Eventually([&] { return fake.Calls("list") == 2; }));
  clock.Advance(milliseconds(199));
  EXPECT_FALSE(Eventually([&] { return fake.Calls("list") > 2; }, milliseconds(100)));
  clock.Advance(milliseconds(1));
  ASSERT_TRUE(informer.WaitForSync(milliseconds(5000)));
}

TEST(InformerTest, ErrorEvent410RelistsAndBookmarkAdvancesVersion) {
  ManualClock clock;
  ::testing::NiceMock<testing::MockKubeClient> mock;
  auto list_at = [](const std::string& rv) {
    return nlohmann::json{{"metadata", {{"resourceVersion", rv}}}, {"items", nlohmann::json::array()}};
  };
  EXPECT_CALL(mock, List)
      .WillOnce(::testing::Return(list_at("10")))
      .WillRepeatedly(::testing::Return(list_at("50")));
  std::vector<std::string> watched_from;
  std::mutex mu;
  EXPECT_CALL(mock, Watch)
      .WillRepeatedly([&](const ResourceRef&, const WatchOptions& options, const WatchHandler& handler) {
        int n;
        {
          std::lock_guard lock(mu);
          watched_from.push_back(options.resource_version);
          n = static_cast<int>(watched_from.size());
        }
        if (n == 1) {
          handler(WatchEvent{WatchEventType::kBookmark, {{"metadata", {{"resourceVersion", "20"}}}}});
          return absl::OkStatus();  // stream ends
        }
        if (n == 2) {
          handler(WatchEvent{WatchEventType::kError,
                             {{"kind", "Status"}, {"code", 410}, {"message", "too old"}}});
          return absl::OkStatus();
        }
        // Stay "connected" until cancelled.
        while (!options.cancel->cancelled()) std::this_thread::sleep_for(milliseconds(1));
        return absl::OkStatus();
      });
  Informer informer(mock, clock, kConfigMaps, FastOptions());
  informer.Start();
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard lock(mu);
    return watched_from.size() == 3;
  }));
  informer.Stop();
  EXPECT_EQ(watched_from, (std::vector<std::string>{"10", "20", "50"}));
  EXPECT_EQ(informer.list_count(), 2);
}

// client-go's "very short watch": a stream that ends at once with no event
// (a proxy closing it, an apiserver shedding load) is backed off from on the
// clock; it is not watched again in a hot loop.
TEST(InformerTest, WatchThatEndsAtOnceWithoutEventsBacksOff) {
  ManualClock clock;
  ::testing::NiceMock<testing::MockKubeClient> mock;
  ON_CALL(mock, List)
      .WillByDefault(::testing::Return(
          nlohmann::json{{"metadata", {{"resourceVersion", "7"}}}, {"items", nlohmann::json::array()}}));
  std::atomic<int> watches{0};
  ON_CALL(mock, Watch).WillByDefault([&](const ResourceRef&, const WatchOptions&, const WatchHandler&) {
    watches.fetch_add(1);
    return absl::OkStatus();  // ended by the server before anything arrived
  });
  InformerOptions options = FastOptions();
  options.relist_after_failures = 1000;
  Informer informer(mock, clock, kConfigMaps, options);
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(milliseconds(5000)));
  ASSERT_TRUE(Eventually([&] { return watches.load() == 1; }));
  EXPECT_FALSE(Eventually([&] { return watches.load() > 1; }, milliseconds(200)));
  clock.Advance(milliseconds(100));
  ASSERT_TRUE(Eventually([&] { return watches.load() == 2; }));
  clock.Advance(milliseconds(199));  // the backoff doubled
  EXPECT_FALSE(Eventually([&] { return watches.load() > 2; }, milliseconds(200)));
  clock.Advance(milliseconds(1));
  ASSERT_TRUE(Eventually([&] { return watches.load() == 3; }));
  informer.Stop();
}

// The client ends a stream at a malformed event (DataLoss); the informer
// watches again from the last event it applied, so the event is redelivered
// and applied, never lost.
TEST(InformerTest, MalformedEventRewatchesFromTheLastAppliedVersion) {
  ManualClock clock;
  ::testing::NiceMock<testing::MockKubeClient> mock;
  ON_CALL(mock, List)
      .WillByDefault(::testing::Return(
          nlohmann::json{{"metadata", {{"resourceVersion", "10"}}}, {"items", nlohmann::json::array()}}));
  std::mutex mu;
  std::vector<std::string> watched_from;
  ON_CALL(mock, Watch)
      .WillByDefault([&](const ResourceRef&, const WatchOptions& options, const WatchHandler& handler) {
        size_t n;
        {
          std::lock_guard lock(mu);
          watched_from.push_back(options.resource_version);
          n = watched_from.size();
        }
        auto added = [](const std::string& name, const std::string& rv) {
          WatchEvent event{WatchEventType::kAdded, ConfigMap("ns", name)};
          event.object["metadata"]["resourceVersion"] = rv;
          return event;
        };
        const WatchEvent a = added("a", "11");
        const WatchEvent b = added("b", "12");
        if (n == 1) {
          handler(a);
          return absl::DataLossError("malformed event");  // b's line was garbled
        }
        if (options.resource_version == "11") handler(b);
        while (!options.cancel->cancelled()) std::this_thread::sleep_for(milliseconds(1));
        return absl::OkStatus();
      });
  EventLog log;
  Informer informer(mock, clock, kConfigMaps, FastOptions());
  informer.AddHandlers(Recorder(log));
  informer.Start();
  ASSERT_TRUE(Eventually([&] { return log.size() == 1; }));
  clock.Advance(milliseconds(100));  // the failure's backoff
  ASSERT_TRUE(Eventually([&] { return log.size() == 2; }));
  informer.Stop();
  EXPECT_EQ(log.entries(), (std::vector<std::string>{"add ns/a", "add ns/b"}));
  EXPECT_EQ(watched_from, (std::vector<std::string>{"10", "11"}));
  EXPECT_EQ(informer.list_count(), 1);
}

TEST(InformerTest, StopReturnsPromptlyWhileBackingOffOnFrozenClock) {
  ManualClock clock;
  FakeKubeClient fake;
  fake.FailNext("list", TransportError("refused"), 100);
  auto informer = std::make_unique<Informer>(fake, clock, kConfigMaps, FastOptions());
  informer->Start();
  ASSERT_TRUE(Eventually([&] { return fake.Calls("list") == 1; }));
  informer.reset();  // must not wait for the clock
}

}  // namespace
}  // namespace zs::kube
