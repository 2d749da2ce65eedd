// Two activators in one process, each a full stack (catalog, buffer, meter,
// proxy) on its own loopback port, in front of one real fn-echo replica: a
// capped Function is served by its owner only, the other activator relays
// (admission/placement.h). What could break: the replica seeing more than
// maxConcurrency at once, a request billed twice or not at all, a new owner
// starting while the old one is busy, a client skipping the owner with a
// forged relay mark.
#include <gtest/gtest.h>

#include <algorithm>
#include <future>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "activator/proxy.h"
#include "activator/tests/proxy_fixture.h"
#include "common/rendezvous.h"
#include "common/strings.h"
#include "hack/fn-echo/server.h"

namespace zs::activator::testing {
namespace {

using namespace std::chrono_literals;

// One activator: everything main.cc wires, minus Kubernetes and gRPC.
struct Stack {
  explicit Stack(const std::string& id)
      : placement(id),
        registry(std::make_shared<prometheus::Registry>()),
        metrics(registry),
        load(RealClock::Get(), id),
        meter(metrics, load, billing, 128.0 * 1024 * 1024),
        buffer(
            [&] {
              RequestBuffer::Options options;
              options.catalog = &catalog;
              options.placement = &placement;
              return options;
            }(),
            RealClock::Get(), endpoints, waker, &meter) {
    ProxyOptions options;
    options.bind_address = "127.0.0.1:0";
    options.threads = 2;
    auto started = Proxy::Start(options, ProxyDeps{catalog, buffer, meter, RealClock::Get(), &placement});
    EXPECT_TRUE(started.ok()) << started.status();
    if (started.ok()) proxy = std::move(*started);
  }
  ~Stack() { proxy.reset(); }

  void AddFunction(const std::string& name, const std::string& endpoint, int32_t max_concurrency,
                   std::chrono::milliseconds buffer_timeout = 10s) {
    FunctionConfig config;
    config.key = {"ns", name};
    config.timeout = 10s;
    config.buffer_timeout = buffer_timeout;
    config.max_concurrency = max_concurrency;
    config.memory_request_bytes = 256.0 * 1024 * 1024;
    catalog.Upsert(config);
    Endpoint e;
    EXPECT_TRUE(ParseEndpoint(endpoint, &e));
    e.pod = name + "-pod";
    endpoints.Update({"ns", name}, {e});
  }
  std::string address() const { return Cat("127.0.0.1:", proxy->port()); }
  double Relayed(bool reached) {
    return MetricValue(*registry, "zeroscale_activator_relayed_requests_total",
                       {{"result", reached ? "relayed" : "unreachable"}});
  }

  Placement placement;
  InMemoryCatalog catalog;
  InMemoryEndpointStore endpoints;
  CountingWaker waker;
  std::shared_ptr<prometheus::Registry> registry;
  Metrics metrics;
  LoadTracker load;
  CapturingBillingSink billing;
  Meter meter;
  RequestBuffer buffer;
  std::unique_ptr<Proxy> proxy;
};

class RelayTest : public ::testing::Test {
 protected:
  RelayTest() {
    fnecho::Options options;
    options.address = "127.0.0.1";
    options.port = 0;
    options.threads = 4;
    echo_ = std::make_unique<fnecho::Server>(options);
    EXPECT_TRUE(echo_->Start().ok());
  }
  std::string echo_address() const { return Cat("127.0.0.1:", echo_->port()); }

  // Both activators apply the same two-member placement.
  void Place(Stack& a, Stack& b, const std::set<std::string>& busy = {}) {
    Placement::View view;
    view.generation = ++generation_;
    view.ids = {a.placement.self(), b.placement.self()};
    view.addresses = {a.address(), b.address()};
    view.busy = busy;
    a.placement.Apply(view);
    b.placement.Apply(view);
  }
  // {owner, other} of ns/<name> between a and b.
  std::pair<Stack*, Stack*> OwnerOf(const std::string& name, Stack& a, Stack& b) {
    const size_t owner = *RendezvousOwner(Cat("ns/", name), {a.placement.self(), b.placement.self()});
    return owner == 0 ? std::make_pair(&a, &b) : std::make_pair(&b, &a);
  }
  // `n` concurrent GETs, alternating between the two activators; statuses.
  std::vector<int> Burst(const std::string& target, Stack& a, Stack& b, int n) {
    std::vector<std::future<int>> replies;
    for (int i = 0; i < n; ++i) {
      const uint16_t port = (i % 2 == 0 ? a : b).proxy->port();
      replies.push_back(
          std::async(std::launch::async, [port, target] { return Client(port).Get(target).status; }));
    }
    std::vector<int> statuses;
    for (auto& reply : replies) statuses.push_back(reply.get());
    return statuses;
  }

  std::unique_ptr<fnecho::Server> echo_;
  uint64_t generation_ = 0;
};

TEST_F(RelayTest, ACappedFunctionIsServedByItsOwnerOnlyAndBilledOnce) {
  Stack a("activator-a"), b("activator-b");
  a.AddFunction("capped", echo_address(), 1);
  b.AddFunction("capped", echo_address(), 1);
  Place(a, b);
  auto [owner, other] = OwnerOf("capped", a, b);

  const std::vector<int> statuses = Burst("/fn/ns/capped/?delay_ms=20", a, b, 40);
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 200), 40);
  EXPECT_EQ(echo_->peak_in_flight(), 1) << "the replica saw more than maxConcurrency at once";
  // Counted and billed once the answer went out: wait for the numbers.
  EXPECT_TRUE(Eventually([&] { return other->Relayed(true) == 20; })) << other->Relayed(true);
  EXPECT_TRUE(Eventually([&] { return owner->billing.Snapshot().size() == 40u; }))
      << owner->billing.Snapshot().size();
  EXPECT_EQ(owner->Relayed(true), 0);
  EXPECT_EQ(other->billing.Snapshot().size(), 0u) << "the relaying activator must not bill";
}

// The same burst with no placement: each activator holds the cap on its
// own, so the replica sees two at once. This is what the placement fixes,
// and shows the test above can fail.
TEST_F(RelayTest, WithoutAPlacementEachActivatorCapsAlone) {
  Stack a("activator-a"), b("activator-b");
  a.AddFunction("capped", echo_address(), 1);
  b.AddFunction("capped", echo_address(), 1);
  const std::vector<int> statuses = Burst("/fn/ns/capped/?delay_ms=50", a, b, 40);
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 200), 40);
  EXPECT_EQ(echo_->peak_in_flight(), 2);
}

TEST_F(RelayTest, UncappedFunctionsAreServedWhereTheyArrive) {
  Stack a("activator-a"), b("activator-b");
  a.AddFunction("free", echo_address(), 0);
  b.AddFunction("free", echo_address(), 0);
  Place(a, b);
  const std::vector<int> statuses = Burst("/fn/ns/free/", a, b, 10);
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 200), 10);
  EXPECT_TRUE(
      Eventually([&] { return a.billing.Snapshot().size() == 5u && b.billing.Snapshot().size() == 5u; }));
  EXPECT_EQ(a.Relayed(true) + b.Relayed(true), 0);
}

// A new owner waits while another activator still forwards the Function
// itself (busy in the placement): nothing reaches the replica until the
// controller says the old owner let go.
TEST_F(RelayTest, ANewOwnerHoldsWhileTheOldOneIsBusy) {
  Stack a("activator-a"), b("activator-b");
  a.AddFunction("capped", echo_address(), 1, 300ms);
  b.AddFunction("capped", echo_address(), 1, 300ms);
  Place(a, b, {"ns/capped"});
  auto [owner, other] = OwnerOf("capped", a, b);

  EXPECT_EQ(Client(owner->proxy->port()).Get("/fn/ns/capped/").status, 504);
  EXPECT_EQ(Client(other->proxy->port()).Get("/fn/ns/capped/").status, 504)
      << "relayed, then held at the owner";
  EXPECT_EQ(echo_->peak_in_flight(), 0) << "forwarded while the old owner was busy";
  ASSERT_TRUE(Eventually([&] { return owner->billing.Snapshot().size() == 2u; }));
  EXPECT_EQ(owner->billing.Snapshot()[0].code, 504);

  Place(a, b);  // the old owner let go
  EXPECT_EQ(Client(other->proxy->port()).Get("/fn/ns/capped/").status, 200);
  EXPECT_EQ(echo_->peak_in_flight(), 1);
}

// A lagging member with an unknown view may still serve anything: hold.
TEST_F(RelayTest, ALaggingMemberWithAnUnknownViewHoldsEveryCappedFunction) {
  Stack a("activator-a"), b("activator-b");
  a.AddFunction("capped", echo_address(), 1, 200ms);
  auto [owner, other] = OwnerOf("capped", a, b);
  owner->AddFunction("capped", echo_address(), 1, 200ms);
  Placement::View view;
  view.generation = 7;
  view.ids = {a.placement.self(), b.placement.self()};
  view.addresses = {a.address(), b.address()};
  view.lagging = {{other->placement.self(), {}}};
  owner->placement.Apply(view);
  EXPECT_EQ(Client(owner->proxy->port()).Get("/fn/ns/capped/").status, 504);
  EXPECT_EQ(echo_->peak_in_flight(), 0);
}

// X-Zeroscale-Relayed-By from a client (its address is no member's): the
// mark is dropped, the request relayed like any other, and the mark never
// reaches the function.
TEST_F(RelayTest, AForgedRelayMarkDoesNotSkipTheOwnerNorReachTheFunction) {
  Stack a("activator-a"), b("activator-b");
  a.AddFunction("capped", echo_address(), 1);
  b.AddFunction("capped", echo_address(), 1);
  Place(a, b);
  auto [owner, other] = OwnerOf("capped", a, b);
  // A client on 127.0.0.3; the members are on 127.0.0.1.
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  socket.open(asio::ip::tcp::v4());
  socket.bind({asio::ip::make_address("127.0.0.3"), 0});
  socket.connect({asio::ip::make_address("127.0.0.1"), other->proxy->port()});
  bhttp::request<bhttp::string_body> request(bhttp::verb::get, "/fn/ns/capped/describe", 11);
  request.set(bhttp::field::host, "activator");
  request.set("X-Zeroscale-Relayed-By", "somebody");
  bhttp::write(socket, request);
  beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> reply;
  bhttp::read(socket, buffer, reply);
  ASSERT_EQ(reply.result_int(), 200u) << reply.body();
  EXPECT_TRUE(Eventually([&] { return other->Relayed(true) == 1; }))
      << "the forged mark let the client skip the owner";
  const auto echoed = nlohmann::json::parse(reply.body());
  EXPECT_FALSE(echoed["headers"].contains("x-zeroscale-relayed-by")) << reply.body();
  EXPECT_EQ(echoed["headers"].value("x-forwarded-for", ""), "127.0.0.3, 127.0.0.1") << "client, then relay";
  EXPECT_FALSE(reply["X-Request-Id"].empty());
  EXPECT_TRUE(Eventually([&] { return owner->billing.Snapshot().size() == 1u; }));
  EXPECT_EQ(other->billing.Snapshot().size(), 0u);
}

TEST_F(RelayTest, AnOwnerThatCannotBeReachedIsRetriedUntilTheBufferTimeout) {
  Stack a("activator-a"), b("activator-b");
  a.AddFunction("capped", echo_address(), 1, 300ms);
  b.AddFunction("capped", echo_address(), 1, 300ms);
  auto [owner, other] = OwnerOf("capped", a, b);
  Placement::View view;
  view.generation = 1;
  view.ids = {a.placement.self(), b.placement.self()};
  view.addresses = {a.address(), b.address()};
  // The owner's relay address: a port nobody listens on.
  const size_t owner_index = owner == &a ? 0 : 1;
  view.addresses[owner_index] = "127.0.0.1:1";
  other->placement.Apply(view);
  const Reply reply = Client(other->proxy->port()).Get("/fn/ns/capped/");
  const SystemTime answered = RealClock::Get().WallNow();
  EXPECT_EQ(reply.status, 504) << reply.body;
  EXPECT_GT(other->Relayed(false), 0);
  EXPECT_EQ(echo_->peak_in_flight(), 0);
  ASSERT_TRUE(Eventually([&] { return other->billing.Snapshot().size() == 1u; }))
      << "answered here, so metered here";
  // Stamped with its arrival, as every billing line: at least the 300 ms
  // buffer timeout before the answer, not when it gave up.
  EXPECT_LE(other->billing.Snapshot()[0].timestamp, answered - 300ms);
}

// A relay rewrites the head (HTTP/1.1, no Connection, no Expect); when the
// owner cannot be reached and this activator becomes the owner meanwhile,
// the request is served here with what its client asked for: an HTTP/1.0
// client gets an HTTP/1.0 answer and its connection closed.
TEST_F(RelayTest, ARequestServedHereAfterAFailedRelayKeepsItsClientsVersionAndClose) {
  Stack a("activator-a"), b("activator-b");
  a.AddFunction("capped", echo_address(), 1);
  b.AddFunction("capped", echo_address(), 1);
  auto [owner, other] = OwnerOf("capped", a, b);
  Placement::View view;
  view.generation = 1;
  view.ids = {a.placement.self(), b.placement.self()};
  view.addresses = {a.address(), b.address()};
  view.addresses[owner == &a ? 0 : 1] = "127.0.0.1:1";  // nobody listens
  other->placement.Apply(view);

  Client client(other->proxy->port());
  boost::system::error_code ec;
  client.WriteRaw("GET /fn/ns/capped/ HTTP/1.0\r\nHost: a\r\n\r\n", ec);
  ASSERT_FALSE(ec);
  ASSERT_TRUE(Eventually([&] { return other->Relayed(false) > 0; })) << "the relay was tried and failed";
  // The owner is gone: this activator alone.
  Placement::View alone;
  alone.generation = 2;
  alone.ids = {other->placement.self()};
  alone.addresses = {other->address()};
  other->placement.Apply(alone);

  std::string got;
  ASSERT_TRUE(client.ReadUntilClosed(&got)) << "an HTTP/1.0 exchange ends with the connection";
  EXPECT_TRUE(got.starts_with("HTTP/1.0 200")) << got.substr(0, 200);
  EXPECT_EQ(got.find("chunked"), std::string::npos) << got.substr(0, 400);
  ASSERT_TRUE(Eventually([&] { return other->billing.Snapshot().size() == 1u; }));
  EXPECT_EQ(other->billing.Snapshot()[0].code, 200);
}

}  // namespace
}  // namespace zs::activator::testing
