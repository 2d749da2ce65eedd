#include "activator/sources/kube_sources.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <stdexcept>
#include <thread>

#include "activator/sources/prober.h"
#include "common/kube/resource.h"
#include "common/kube/testing/fake_kube_client.h"

namespace zs::activator {
namespace {

using nlohmann::json;

// Polls `condition` every millisecond until it holds or 10 s have passed.
bool Eventually(const std::function<bool()>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return condition();
}

// A slice as Kubernetes' EndpointSlice controller makes it for the
// Function's Service (named after the Function, labels copied from it).
json Slice(const std::string& name, const std::string& function, json endpoints) {
  return {{"metadata",
           {{"name", name},
            {"namespace", "demo"},
            {"labels",
             {{"zeroscale.dev/function", function},
              {"kubernetes.io/service-name", function},
              {"endpointslice.kubernetes.io/managed-by", "endpointslice-controller.k8s.io"}}}}},
          {"addressType", "IPv4"},
          {"ports", json::array({{{"name", "http"}, {"port", 8080}}})},
          {"endpoints", std::move(endpoints)}};
}

json HelloFunction(int port) {
  return {{"apiVersion", "zeroscale.dev/v1alpha1"},
          {"kind", "Function"},
          {"metadata", {{"name", "hello"}, {"namespace", "demo"}}},
          {"spec", {{"image", "x"}, {"port", port}}}};
}

TEST(ReadyEndpoints, OnlyReadyAndNotTerminating) {
  json endpoints = json::parse(R"([
    {"addresses": ["10.88.1.2"], "conditions": {"ready": true}, "targetRef": {"name": "pod-a"}},
    {"addresses": ["10.88.1.3"], "conditions": {"ready": false}},
    {"addresses": ["10.88.1.4"], "conditions": {}},
    {"addresses": ["10.88.1.5"], "conditions": {"ready": true, "terminating": true}}
  ])");
  auto ready = ReadyEndpoints({Slice("s1", "hello", endpoints)}, 9999);
  ASSERT_EQ(ready.size(), 2u);
  EXPECT_EQ(ready[0].Address(), "10.88.1.2:8080");
  EXPECT_EQ(ready[0].pod, "pod-a");
  EXPECT_EQ(ready[1].Address(), "10.88.1.4:8080");
}

TEST(SliceEndpoints, StartingAreNotReadyAndNotTerminating) {
  json endpoints = json::parse(R"([
    {"addresses": ["10.88.1.2"], "conditions": {"ready": true}},
    {"addresses": ["10.88.1.3"], "conditions": {"ready": false}, "targetRef": {"name": "pod-b"}},
    {"addresses": ["10.88.1.5"], "conditions": {"ready": false, "terminating": true}}
  ])");
  SlicedEndpoints sliced = SliceEndpoints({Slice("s1", "hello", endpoints)}, 9999);
  ASSERT_EQ(sliced.ready.size(), 1u);
  ASSERT_EQ(sliced.starting.size(), 1u);
  EXPECT_EQ(sliced.starting[0].Address(), "10.88.1.3:8080");
  EXPECT_EQ(sliced.starting[0].pod, "pod-b");
}

TEST(ReadyEndpoints, DefaultPortWithoutNamedPort) {
  json slice = Slice("s1", "hello", json::parse(R"([{"addresses": ["10.88.1.2"]}])"));
  slice.erase("ports");
  auto ready = ReadyEndpoints({slice}, 9000);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].port, 9000);
}

TEST(LeaderAddress, FromHolderIdentity) {
  EXPECT_EQ(AddressFromHolderIdentity("ctrl-0_12@10.88.1.5:9090"), "10.88.1.5:9090");
  EXPECT_FALSE(AddressFromHolderIdentity("no-address").has_value());
  EXPECT_FALSE(AddressFromHolderIdentity("trailing@").has_value());
}

TEST(LeaderLookup, ReadsTheLease) {
  kube::testing::FakeKubeClient fake;
  LeaderLookup lookup(fake, "zeroscale-system", "zeroscale-controller");
  EXPECT_FALSE(lookup.Resolve().ok());
  fake.Seed(kube::kLeases.In("zeroscale-system"),
            {{"metadata", {{"name", "zeroscale-controller"}, {"namespace", "zeroscale-system"}}},
             {"spec", {{"holderIdentity", "a_1@127.0.0.1:9090"}}}});
  auto address = lookup.Resolve();
  ASSERT_TRUE(address.ok()) << address.status();
  EXPECT_EQ(*address, "127.0.0.1:9090");
}

// The informers feed catalog and store; only Functions' own slices count.
TEST(KubeSources, FeedsCatalogAndEndpoints) {
  kube::testing::FakeKubeClient fake;
  ManualClock clock;
  InMemoryCatalog catalog;
  InMemoryEndpointStore store;
  fake.Seed(kube::kFunctions.In("demo"), HelloFunction(8080));
  fake.Seed(kube::kEndpointSlices.In("demo"),
            Slice("hello-abc", "hello",
                  json::parse(R"([{"addresses": ["10.88.1.7"], "conditions": {"ready": true}}])")));
  KubeSources sources(fake, clock, catalog, store, {});
  sources.Start();
  ASSERT_TRUE(sources.WaitForSync(std::chrono::seconds(10)));
  ASSERT_NE(catalog.Lookup("demo", "hello"), nullptr);
  auto ready = store.Ready({"demo", "hello"});
  ASSERT_EQ(ready->endpoints.size(), 1u);
  EXPECT_EQ(ready->endpoints[0]->address(), "10.88.1.7:8080");
  sources.Stop();
}

TEST(TrustedSliceFunction, OnlyKubernetesSlicesOfTheFunctionsOwnService) {
  const json endpoints = json::array();
  EXPECT_EQ(TrustedSliceFunction(Slice("hello-abc", "hello", endpoints)), "hello");

  json hand_made = Slice("evil", "hello", endpoints);
  hand_made["metadata"]["labels"].erase("endpointslice.kubernetes.io/managed-by");
  EXPECT_FALSE(TrustedSliceFunction(hand_made).has_value());
  hand_made["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] = "someone-else";
  EXPECT_FALSE(TrustedSliceFunction(hand_made).has_value());
  // Mirrored from a hand-made Endpoints object.
  hand_made["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] =
      "endpointslicemirroring-controller.k8s.io";
  EXPECT_FALSE(TrustedSliceFunction(hand_made).has_value());

  // Kubernetes made it, but for another Service that carries the label.
  json other_service = Slice("other-abc", "hello", endpoints);
  other_service["metadata"]["labels"]["kubernetes.io/service-name"] = "other";
  EXPECT_FALSE(TrustedSliceFunction(other_service).has_value());
  json no_service = Slice("x", "hello", endpoints);
  no_service["metadata"]["labels"].erase("kubernetes.io/service-name");
  EXPECT_FALSE(TrustedSliceFunction(no_service).has_value());
  json no_labels = Slice("x", "hello", endpoints);
  no_labels["metadata"].erase("labels");
  EXPECT_FALSE(TrustedSliceFunction(no_labels).has_value());
}

// Through the informers: hand-made slices carrying the Function's label never
// reach the store, whatever they claim; Kubernetes' slice does.
TEST(KubeSources, IgnoresHandMadeSlicesWithTheFunctionsLabel) {
  kube::testing::FakeKubeClient fake;
  ManualClock clock;
  InMemoryCatalog catalog;
  InMemoryEndpointStore store;
  fake.Seed(kube::kFunctions.In("demo"), HelloFunction(8080));
  const json evil_endpoints =
      json::parse(R"([{"addresses": ["192.0.2.66"], "conditions": {"ready": true}}])");
  json unmanaged = Slice("hello-evil", "hello", evil_endpoints);
  unmanaged["metadata"]["labels"].erase("endpointslice.kubernetes.io/managed-by");
  fake.Seed(kube::kEndpointSlices.In("demo"), unmanaged);
  json forged = Slice("other-evil", "hello", evil_endpoints);  // managed-by forged, another Service
  forged["metadata"]["labels"]["kubernetes.io/service-name"] = "other";
  fake.Seed(kube::kEndpointSlices.In("demo"), forged);
  KubeSources sources(fake, clock, catalog, store, {});
  sources.Start();
  ASSERT_TRUE(sources.WaitForSync(std::chrono::seconds(10)));
  ASSERT_NE(catalog.Lookup("demo", "hello"), nullptr);
  EXPECT_TRUE(store.Ready({"demo", "hello"})->empty());

  ASSERT_TRUE(
      fake.Create(kube::kEndpointSlices.In("demo"),
                  Slice("hello-abc", "hello",
                        json::parse(R"([{"addresses": ["10.88.1.7"], "conditions": {"ready": true}}])")))
          .ok());
  ASSERT_TRUE(Eventually([&] { return store.Ready({"demo", "hello"})->endpoints.size() == 1u; }));
  EXPECT_EQ(store.Ready({"demo", "hello"})->endpoints[0]->address(), "10.88.1.7:8080");

  // A trusted slice relabelled to another Service leaves the Function at once.
  json moved = Slice("hello-abc", "hello",
                     json::parse(R"([{"addresses": ["10.88.1.7"], "conditions": {"ready": true}}])"));
  moved["metadata"]["labels"]["kubernetes.io/service-name"] = "other";
  ASSERT_TRUE(fake.Update(kube::EndpointSliceRef("demo", "hello-abc"), moved).ok());
  ASSERT_TRUE(Eventually([&] { return store.Ready({"demo", "hello"})->empty(); }));
  sources.Stop();
}

// A TCP port on 127.0.0.1 that nothing listens on until Listen().
class LateListener {
 public:
  LateListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) throw std::runtime_error("bind");
    socklen_t length = sizeof(addr);
    if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &length) != 0)
      throw std::runtime_error("name");
    port_ = ntohs(addr.sin_port);
  }
  ~LateListener() { ::close(fd_); }
  LateListener(const LateListener&) = delete;
  LateListener& operator=(const LateListener&) = delete;
  void Listen(int backlog = 16) {
    if (::listen(fd_, backlog) != 0) throw std::runtime_error("listen");
  }
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

TEST(StartingProber, ReportsAnAddressOnceWhenItStartsAccepting) {
  LateListener server;
  std::atomic<int> reports{0};
  StartingProber::Options options;
  options.interval = std::chrono::milliseconds(5);
  StartingProber prober(options, RealClock::Get(), [&](const FunctionKey& key, const Endpoint& endpoint) {
    EXPECT_EQ(key, (FunctionKey{"demo", "hello"}));
    EXPECT_EQ(endpoint.port, server.port());
    reports.fetch_add(1);
  });
  prober.Start();
  prober.Watch({"demo", "hello"}, {{"127.0.0.1", server.port(), "pod-a"}});
  EXPECT_FALSE(TcpAccepts({"127.0.0.1", server.port(), ""}, std::chrono::milliseconds(20)));
  EXPECT_EQ(reports.load(), 0);  // bound, not listening: refused
  EXPECT_EQ(prober.probing(), 1u);
  server.Listen();
  ASSERT_TRUE(Eventually([&] { return reports.load() == 1; }));
  EXPECT_EQ(prober.probing(), 0u);  // reported once, then dropped
  prober.Stop();
  EXPECT_EQ(reports.load(), 1);
}

TEST(StartingProber, GivesUpAndForgetsAddressesNoLongerWatched) {
  ManualClock clock;
  StartingProber::Options options;
  options.interval = std::chrono::milliseconds(5);
  options.give_up = std::chrono::seconds(10);
  StartingProber prober(options, clock,
                        [](const FunctionKey&, const Endpoint&) { FAIL() << "nothing listens"; });
  prober.Start();
  LateListener never;  // bound, never listening: every probe is refused
  prober.Watch({"demo", "a"}, {{"127.0.0.1", never.port(), ""}});
  prober.Watch({"demo", "b"}, {{"127.0.0.1", never.port(), ""}});
  EXPECT_EQ(prober.probing(), 2u);
  prober.Watch({"demo", "b"}, {});
  EXPECT_EQ(prober.probing(), 1u);
  clock.Advance(std::chrono::seconds(11));
  ASSERT_TRUE(Eventually([&] { return prober.probing() == 0u; }));
  prober.Stop();
}

// A connect that times out (a listener whose accept queue is full drops
// SYNs) only waits: it does not lengthen the pause after its round, which is
// four times the round's CPU, so the other starting replicas are still
// probed every few milliseconds rather than every 100.
TEST(StartingProber, ConnectsThatTimeOutDoNotSlowProbing) {
  LateListener full;
  full.Listen(0);
  // Each accepted probe stays in the queue (nobody accepts it), until the
  // queue is full and SYNs are dropped.
  int queued = 0;
  while (TcpAccepts({"127.0.0.1", full.port(), ""}, std::chrono::milliseconds(50))) {
    ASSERT_LT(++queued, 64) << "the accept queue never filled";
  }
  StartingProber::Options options;
  options.interval = std::chrono::milliseconds(1);
  options.connect_timeout = std::chrono::milliseconds(20);
  StartingProber prober(options, RealClock::Get(),
                        [](const FunctionKey&, const Endpoint&) { FAIL() << "a full queue accepted"; });
  prober.Start();
  const auto start = std::chrono::steady_clock::now();
  prober.Watch({"demo", "slow"}, {{"127.0.0.1", full.port(), ""}});
  ASSERT_TRUE(Eventually([&] { return prober.rounds() >= 6; }));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  prober.Stop();
  // Six rounds of one 20 ms timeout each; with the pause at four times the
  // round's length they took at least 6 x 100 ms.
  EXPECT_LT(elapsed, std::chrono::milliseconds(450));
}

// An address watched while the prober pauses is probed at once, not after
// the pause.
TEST(StartingProber, ANewAddressDoesNotWaitOutAPause) {
  LateListener refusing;
  LateListener listening;
  listening.Listen();
  std::atomic<int> reports{0};
  StartingProber::Options options;
  options.interval = std::chrono::minutes(1);
  StartingProber prober(options, RealClock::Get(),
                        [&](const FunctionKey&, const Endpoint&) { reports.fetch_add(1); });
  prober.Start();
  prober.Watch({"demo", "a"}, {{"127.0.0.1", refusing.port(), ""}});
  ASSERT_TRUE(Eventually([&] { return prober.rounds() >= 1; }));
  prober.Watch({"demo", "b"}, {{"127.0.0.1", listening.port(), ""}});
  EXPECT_TRUE(Eventually([&] { return reports.load() == 1; })) << "waited out the minute's pause";
  prober.Stop();
}

// A starting replica serves as soon as it accepts connections: before its
// slice says ready, and still after it does; dropped when the slice drops it.
TEST(KubeSources, StartingAddressServesOnceItAccepts) {
  LateListener replica;
  kube::testing::FakeKubeClient fake;
  ManualClock clock;
  InMemoryCatalog catalog;
  InMemoryEndpointStore store;
  fake.Seed(kube::kFunctions.In("demo"), HelloFunction(replica.port()));
  auto slice = [&](const char* ready) {
    json s = Slice("hello-abc", "hello",
                   json::parse(std::string(R"([{"addresses": ["127.0.0.1"], "conditions": {"ready": )") +
                               ready + R"(}, "targetRef": {"name": "hello-1"}}])"));
    s["ports"][0]["port"] = replica.port();
    return s;
  };
  fake.Seed(kube::kEndpointSlices.In("demo"), slice("false"));
  KubeSources::Options options;
  options.probe_interval = std::chrono::milliseconds(5);
  KubeSources sources(fake, clock, catalog, store, options);
  sources.Start();
  ASSERT_TRUE(sources.WaitForSync(std::chrono::seconds(10)));
  EXPECT_TRUE(store.Ready({"demo", "hello"})->empty());  // refused so far

  replica.Listen();
  ASSERT_TRUE(Eventually([&] { return store.Ready({"demo", "hello"})->endpoints.size() == 1u; }));
  EXPECT_EQ(store.Ready({"demo", "hello"})->endpoints[0]->endpoint().pod, "hello-1");

  ASSERT_TRUE(fake.Update(kube::EndpointSliceRef("demo", "hello-abc"), slice("true")).ok());
  ASSERT_TRUE(Eventually([&] { return store.Ready({"demo", "hello"})->endpoints.size() == 1u; }));
  json gone = Slice("hello-abc", "hello", json::array());
  ASSERT_TRUE(fake.Update(kube::EndpointSliceRef("demo", "hello-abc"), gone).ok());
  ASSERT_TRUE(Eventually([&] { return store.Ready({"demo", "hello"})->empty(); }));
  sources.Stop();
}

}  // namespace
}  // namespace zs::activator
