// The edges: static config, proto conversion, and the gRPC stats/wake client
// against an in-process fake controller.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "activator/sources/proto_convert.h"
#include "activator/sources/static_config.h"
#include "activator/sources/stats_client.h"
#include "activator/tests/proxy_fixture.h"

namespace zs::activator {
namespace {

using namespace std::chrono_literals;
namespace pb = zeroscale::v1alpha1;
using testing::Eventually;

TEST(StaticConfig, ParsesFunctionsWithDefaultsAndEndpoints) {
  const auto doc = nlohmann::json::parse(R"({"functions": [
    {"metadata": {"namespace": "team", "name": "judge"},
     "spec": {"port": 9000, "timeoutSeconds": 5, "scaling": {"maxConcurrency": 2},
              "buffer": {"maxRequests": 7, "timeoutSeconds": 3},
              "resources": {"requests": {"memory": "512Mi"}}},
     "endpoints": ["127.0.0.1:9001", {"ip": "127.0.0.2", "pod": "judge-b"}, "127.0.0.3"]},
    {"metadata": {"name": "cold"}}
  ]})");
  auto parsed = ParseStaticConfig(doc);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), 2u);
  const StaticFunction& judge = (*parsed)[0];
  EXPECT_EQ(judge.config.key, (FunctionKey{"team", "judge"}));
  EXPECT_EQ(judge.config.timeout, 5s);
  EXPECT_EQ(judge.config.max_concurrency, 2);
  EXPECT_EQ(judge.config.buffer_max_requests, 7);
  EXPECT_EQ(judge.config.buffer_timeout, 3s);
  EXPECT_DOUBLE_EQ(*judge.config.memory_request_bytes, 512.0 * 1024 * 1024);
  ASSERT_EQ(judge.endpoints.size(), 3u);
  EXPECT_EQ(judge.endpoints[0].Address(), "127.0.0.1:9001");
  EXPECT_EQ(judge.endpoints[1].Address(), "127.0.0.2:9000");
  EXPECT_EQ(judge.endpoints[1].pod, "judge-b");
  EXPECT_EQ(judge.endpoints[2].Address(), "127.0.0.3:9000");
  const StaticFunction& cold = (*parsed)[1];
  EXPECT_EQ(cold.config.key, (FunctionKey{"default", "cold"}));
  EXPECT_EQ(cold.config.buffer_max_requests, api::Defaults::kBufferMaxRequests);
  EXPECT_TRUE(cold.endpoints.empty());

  InMemoryCatalog catalog;
  InMemoryEndpointStore endpoints;
  ApplyStaticConfig(*parsed, catalog, endpoints);
  EXPECT_NE(catalog.Lookup("team", "judge"), nullptr);
  EXPECT_EQ(endpoints.Ready({"team", "judge"})->endpoints.size(), 3u);
  EXPECT_TRUE(endpoints.Ready({"default", "cold"})->empty());
}

TEST(StaticConfig, RejectsBadInput) {
  EXPECT_FALSE(ParseStaticConfig(nlohmann::json::parse(R"({"fns": []})")).ok());
  EXPECT_FALSE(
      ParseStaticConfig(nlohmann::json::parse(R"({"functions": [{"metadata": {"name": "Bad_Name"}}]})"))
          .ok());
  EXPECT_FALSE(ParseStaticConfig(nlohmann::json::parse(
                                     R"({"functions": [{"metadata": {"name": "f"}, "endpoints": [42]}]})"))
                   .ok());
  EXPECT_FALSE(
      ParseStaticConfig(
          nlohmann::json::parse(R"({"functions": [{"metadata": {"name": "f"}, "spec": {"port": "x"}}]})"))
          .ok());
  EXPECT_FALSE(LoadStaticConfig("/nonexistent.json").ok());
}

TEST(ProtoConvert, RoundTripsAReport) {
  LoadReport report;
  report.activator_id = "activator-0";
  report.window_end = SystemTime{} + std::chrono::seconds(1'780'000'000) + 250ms;
  report.window = 1000ms;
  FunctionLoad load;
  load.key = {"ns", "f"};
  load.average_concurrency = 1.25;
  load.peak_concurrency = 3;
  load.requests = 42;
  load.queued = 2;
  load.in_flight = 1;
  load.last_request_time = report.window_end - 10ms;
  report.functions.push_back(load);
  FunctionLoad idle;
  idle.key = {"ns", "g"};
  report.functions.push_back(idle);

  const pb::StatsReport proto = ToProto(report);
  EXPECT_EQ(proto.window_ms(), 1000u);
  EXPECT_EQ(proto.window_end().seconds(), 1'780'000'000);
  EXPECT_EQ(proto.window_end().nanos(), 250'000'000);
  ASSERT_EQ(proto.functions_size(), 2);
  EXPECT_EQ(proto.functions(0).namespace_(), "ns");
  EXPECT_EQ(proto.functions(0).requests(), 42u);
  EXPECT_TRUE(proto.functions(0).has_last_request_time());
  EXPECT_FALSE(proto.functions(1).has_last_request_time());

  const LoadReport back = FromProto(proto);
  EXPECT_EQ(back.activator_id, report.activator_id);
  EXPECT_EQ(back.window_end, report.window_end);
  EXPECT_EQ(back.window, report.window);
  ASSERT_EQ(back.functions.size(), 2u);
  EXPECT_EQ(back.functions[0].key, load.key);
  EXPECT_DOUBLE_EQ(back.functions[0].average_concurrency, 1.25);
  EXPECT_EQ(back.functions[0].last_request_time, load.last_request_time);
  EXPECT_FALSE(back.functions[1].last_request_time.has_value());
}

TEST(ProtoConvert, WakeResults) {
  pb::WakeResponse r;
  r.set_result(pb::WakeResponse::SCALED);
  EXPECT_TRUE(WakeResultToStatus(r).ok());
  r.set_result(pb::WakeResponse::ALREADY_ACTIVE);
  EXPECT_TRUE(WakeResultToStatus(r).ok());
  r.set_result(pb::WakeResponse::NOT_LEADER);
  EXPECT_EQ(WakeResultToStatus(r).code(), absl::StatusCode::kUnavailable);
  r.set_result(pb::WakeResponse::NOT_FOUND);
  EXPECT_EQ(WakeResultToStatus(r).code(), absl::StatusCode::kNotFound);
  r.set_result(pb::WakeResponse::RESULT_UNSPECIFIED);
  EXPECT_FALSE(WakeResultToStatus(r).ok());
  const pb::WakeRequest w = ToWakeRequest({"ns", "f"}, "a-1");
  EXPECT_EQ(w.namespace_(), "ns");
  EXPECT_EQ(w.name(), "f");
  EXPECT_EQ(w.activator_id(), "a-1");
}

// The controller's side, faked: records reports, acks with `leader`, answers
// Wake with `wake_result`.
class FakeController final : public pb::Autoscaler::Service {
 public:
  grpc::Status StreamStats(grpc::ServerContext* context,
                           grpc::ServerReaderWriter<pb::StatsAck, pb::StatsReport>* stream) override {
    streams.fetch_add(1);
    RecordAuthorization(*context);
    pb::StatsReport report;
    while (stream->Read(&report)) {
      {
        std::lock_guard lock(mu);
        reports.push_back(report);
      }
      pb::StatsAck ack;
      ack.set_leader(non_leader_acks.fetch_sub(1) <= 0);
      {
        std::lock_guard lock(mu);
        if (placement) *ack.mutable_placement() = *placement;
      }
      if (!stream->Write(ack)) break;
    }
    return grpc::Status::OK;
  }
  grpc::Status Wake(grpc::ServerContext* context, const pb::WakeRequest* request,
                    pb::WakeResponse* response) override {
    RecordAuthorization(*context);
    {
      std::lock_guard lock(mu);
      wakes.push_back(request->namespace_() + "/" + request->name());
    }
    if (wake_delay.load() > 0ms) std::this_thread::sleep_for(wake_delay.load());  // a slow controller
    response->set_result(wake_result.load());
    return grpc::Status::OK;
  }
  size_t report_count() {
    std::lock_guard lock(mu);
    return reports.size();
  }
  void RecordAuthorization(const grpc::ServerContext& context) {
    const auto& metadata = context.client_metadata();
    const auto it = metadata.find("authorization");
    std::lock_guard lock(mu);
    authorizations.push_back(it == metadata.end() ? "" : std::string(it->second.data(), it->second.size()));
  }

  std::mutex mu;
  std::vector<pb::StatsReport> reports;
  std::vector<std::string> wakes;
  std::vector<std::string> authorizations;  // per call, in order ("" when absent)
  std::atomic<int> streams{0};
  // The first this many acks say "not the leader".
  std::atomic<int> non_leader_acks{0};
  std::atomic<pb::WakeResponse::Result> wake_result{pb::WakeResponse::SCALED};
  std::atomic<std::chrono::milliseconds> wake_delay{0ms};
  // Sent on every ack when set.
  std::optional<pb::Placement> placement;
};

class StatsClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&controller_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(port_, 0);
  }
  void TearDown() override {
    if (server_)
      server_->Shutdown(gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(500, GPR_TIMESPAN)));
  }
  StatsClient::Options ClientOptions() {
    StatsClient::Options o;
    o.controller_address = "127.0.0.1:" + std::to_string(port_);
    o.activator_id = "activator-test";
    o.interval = 1s;
    o.initial_backoff = 2s;
    o.max_backoff = 8s;
    o.wake_timeout = 5s;
    return o;
  }
  // Lets the reporting thread run exactly one interval.
  void Tick(ManualClock& clock, StatsClient& client) {
    const uint64_t before = client.rounds();
    ASSERT_TRUE(clock.AwaitSleepers(1, 10s));
    clock.Advance(1s);
    ASSERT_TRUE(Eventually([&] { return client.rounds() == before + 1; }));
  }
  // Stop() waits for the reporting thread, which sleeps on the manual clock:
  // keep the clock moving until it has returned.
  static void StopWithClock(StatsClient& client, ManualClock& clock) {
    std::atomic<bool> done{false};
    std::thread stopper([&] {
      client.Stop();
      done = true;
    });
    EXPECT_TRUE(Eventually([&] {
      if (clock.AwaitSleepers(1, 10ms)) clock.Advance(1s);
      return done.load();
    }));
    stopper.join();
  }

  // Starts the client; stops it (clock moving) however the test ends.
  struct Running {
    Running(StatsClient& client, ManualClock& clock) : client(client), clock(clock) { client.Start(); }
    ~Running() { StopWithClock(client, clock); }
    Running(const Running&) = delete;
    Running& operator=(const Running&) = delete;
    StatsClient& client;
    ManualClock& clock;
  };

  FakeController controller_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

TEST_F(StatsClientTest, StreamsOneReportPerInterval) {
  ManualClock clock;
  LoadTracker tracker(clock, "activator-test");
  tracker.OnArrival({"ns", "f"});
  tracker.OnForwardStart({"ns", "f"});
  StatsClient client(ClientOptions(), tracker, clock);
  Running running(client, clock);
  Tick(clock, client);
  ASSERT_TRUE(Eventually([&] { return controller_.report_count() == 1; }));
  Tick(clock, client);
  ASSERT_TRUE(Eventually([&] { return controller_.report_count() == 2; }));
  StopWithClock(client, clock);
  std::lock_guard lock(controller_.mu);
  const LoadReport second = FromProto(controller_.reports[1]);
  EXPECT_EQ(second.activator_id, "activator-test");
  EXPECT_EQ(second.window, 1s);
  ASSERT_EQ(second.functions.size(), 1u);
  EXPECT_DOUBLE_EQ(second.functions[0].average_concurrency, 1.0);  // one request in flight all window
  EXPECT_EQ(second.functions[0].in_flight, 1u);
  EXPECT_EQ(controller_.streams.load(), 1);  // one long-lived stream
}

// The placement rides on the acks: applied when sane (members sorted),
// refused whole when not; reports say where to relay to and what was applied.
TEST_F(StatsClientTest, PlacementsFromAcksAreAppliedAndReportedBack) {
  ManualClock clock;
  LoadTracker tracker(clock, "activator-test");
  tracker.OnArrival({"ns", "capped"}, /*capped=*/true);
  tracker.OnForwardStart({"ns", "capped"});
  Placement placement("activator-test");
  StatsClient::Options options = ClientOptions();
  options.relay_address = "10.0.0.7:8000";
  options.placement = &placement;
  std::atomic<int> applied{0};
  options.on_placement = [&applied](const Placement::View&) { applied.fetch_add(1); };
  {
    pb::Placement p;
    p.set_generation(42);
    auto* b = p.add_activators();
    b->set_id("activator-z");
    b->set_relay_address("10.0.0.9:8000");
    auto* a = p.add_activators();
    a->set_id("activator-test");
    a->set_relay_address("10.0.0.7:8000");
    p.add_busy("ns/capped");
    std::lock_guard lock(controller_.mu);
    controller_.placement = p;
  }
  StatsClient client(options, tracker, clock);
  Running running(client, clock);
  Tick(clock, client);
  ASSERT_TRUE(Eventually([&] { return placement.generation() == 42; }));
  EXPECT_TRUE(placement.IsPeerHost("10.0.0.9"));
  EXPECT_EQ(applied.load(), 1);
  Tick(clock, client);
  ASSERT_TRUE(Eventually([&] { return controller_.report_count() == 2; }));
  {
    std::lock_guard lock(controller_.mu);
    EXPECT_EQ(controller_.reports[0].placement_generation(), 0u);
    EXPECT_EQ(controller_.reports[1].placement_generation(), 42u);
    EXPECT_EQ(controller_.reports[1].relay_address(), "10.0.0.7:8000");
    ASSERT_EQ(controller_.reports[1].functions_size(), 1);
    EXPECT_TRUE(controller_.reports[1].functions(0).capped());
    // A member twice: refused whole, the last placement stays.
    pb::Placement bad = *controller_.placement;
    bad.set_generation(43);
    *bad.add_activators() = bad.activators(0);
    controller_.placement = bad;
  }
  Tick(clock, client);
  ASSERT_TRUE(Eventually([&] { return controller_.report_count() == 3; }));
  Tick(clock, client);
  ASSERT_TRUE(Eventually([&] { return controller_.report_count() == 4; }));
  EXPECT_EQ(placement.generation(), 42u);
  StopWithClock(client, clock);
}

// Per-Function state dies with the Function: after the catalog removes it,
// the next report that reaches the controller carries only the live one.
TEST_F(StatsClientTest, ReportsCarryOnlyLiveFunctions) {
  ManualClock clock;
  LoadTracker tracker(clock, "activator-test");
  Metrics metrics(std::make_shared<prometheus::Registry>());
  NullBillingSink billing;
  Meter meter(metrics, tracker, billing, 128.0 * 1024 * 1024);
  InMemoryCatalog catalog;
  meter.Follow(catalog);
  for (const char* name : {"gone", "kept"}) {
    FunctionConfig config;
    config.key = {"ns", name};
    catalog.Upsert(config);
    meter.OnArrival(*catalog.Lookup("ns", name));
  }
  StatsClient client(ClientOptions(), tracker, clock);
  Running running(client, clock);
  Tick(clock, client);
  ASSERT_TRUE(Eventually([&] { return controller_.report_count() == 1; }));
  ASSERT_TRUE(catalog.Remove({"ns", "gone"}));
  Tick(clock, client);
  ASSERT_TRUE(Eventually([&] { return controller_.report_count() == 2; }));
  StopWithClock(client, clock);
  std::lock_guard lock(controller_.mu);
  const LoadReport before = FromProto(controller_.reports[0]);
  const LoadReport after = FromProto(controller_.reports[1]);
  ASSERT_EQ(before.functions.size(), 2u);
  ASSERT_EQ(after.functions.size(), 1u);
  EXPECT_EQ(after.functions[0].key, (FunctionKey{"ns", "kept"}));
}

TEST_F(StatsClientTest, ReconnectsWithBackoffWhenThePeerIsNotTheLeader) {
  ManualClock clock;
  LoadTracker tracker(clock, "activator-test");
  controller_.non_leader_acks = 1;
  StatsClient client(ClientOptions(), tracker, clock);
  Running running(client, clock);
  Tick(clock, client);
  ASSERT_TRUE(Eventually([&] { return controller_.report_count() == 1; }));
  ASSERT_TRUE(Eventually([&] { return client.not_leader_acks() == 1u; }));
  // The ack said "not the leader": the stream is dropped, and no new one is
  // opened before the 2 s backoff has passed.
  Tick(clock, client);
  Tick(clock, client);
  EXPECT_EQ(client.streams_opened(), 1u);
  Tick(clock, client);
  Tick(clock, client);
  ASSERT_TRUE(Eventually([&] { return client.streams_opened() == 2u; }));
  ASSERT_TRUE(Eventually([&] { return controller_.report_count() >= 2; }));
  StopWithClock(client, clock);
  EXPECT_EQ(controller_.streams.load(), 2);
}

// Issue 6: after a failover the activator follows the leader. The first
// address (a follower here: it acks "not the leader") is dropped, the
// resolver is asked again and the next address gets the stream at once,
// without waiting out the backoff; a Wake that reaches a non-leader makes the
// client look the leader up again too.
TEST_F(StatsClientTest, FollowsTheLeaderTheResolverNames) {
  FakeController new_leader;
  int new_port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &new_port);
  builder.RegisterService(&new_leader);
  std::unique_ptr<grpc::Server> new_server = builder.BuildAndStart();
  ASSERT_NE(new_server, nullptr);
  controller_.non_leader_acks = 1'000'000;  // the old leader, now a follower
  controller_.wake_result = pb::WakeResponse::NOT_LEADER;

  const std::string old_address = "127.0.0.1:" + std::to_string(port_);
  const std::string new_address = "127.0.0.1:" + std::to_string(new_port);
  std::atomic<int> lookups{0};
  std::atomic<bool> lease_moved{false};
  ManualClock clock;
  LoadTracker tracker(clock, "activator-test");
  StatsClient::Options options = ClientOptions();
  options.controller_address.clear();
  options.resolve = [&]() -> absl::StatusOr<std::string> {
    lookups.fetch_add(1);
    return lease_moved.load() ? new_address : old_address;
  };
  StatsClient client(options, tracker, clock);
  Running running(client, clock);
  EXPECT_EQ(client.controller_address(), old_address);  // looked up once at Start

  // A Wake to a non-leader fails (the buffer retries it) and asks for a new lookup.
  auto wake = [&] {
    auto promise = std::make_shared<std::promise<absl::Status>>();
    auto future = promise->get_future();
    client.Wake({"ns", "f"}, [promise](const absl::Status& s, bool) { promise->set_value(s); });
    return future.get();
  };
  EXPECT_EQ(wake().code(), absl::StatusCode::kUnavailable);

  Tick(clock, client);  // first report goes to the old address, acked "not the leader"
  ASSERT_TRUE(Eventually([&] { return client.not_leader_acks() == 1u; }));
  lease_moved = true;
  Tick(clock, client);  // dropped, looked up again: the new leader, at once
  ASSERT_TRUE(Eventually([&] { return new_leader.report_count() == 1; }));
  EXPECT_EQ(client.controller_address(), new_address);
  EXPECT_EQ(client.streams_opened(), 2u);
  const int lookups_when_connected = lookups.load();
  Tick(clock, client);  // a healthy stream looks nothing up
  ASSERT_TRUE(Eventually([&] { return new_leader.report_count() == 2; }));
  EXPECT_EQ(lookups.load(), lookups_when_connected);
  EXPECT_TRUE(wake().ok());  // wake-ups follow the stream to the new leader
  {
    std::lock_guard lock(new_leader.mu);
    EXPECT_EQ(new_leader.wakes.size(), 1u);
  }
  StopWithClock(client, clock);
  new_server->Shutdown(gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(500, GPR_TIMESPAN)));
}

TEST_F(StatsClientTest, WithoutAKnownLeaderWakeFailsFastAndLooksUpAgain) {
  ManualClock clock;
  LoadTracker tracker(clock, "activator-test");
  std::atomic<bool> elected{false};
  StatsClient::Options options = ClientOptions();
  const std::string address = options.controller_address;
  options.controller_address.clear();
  options.resolve = [&]() -> absl::StatusOr<std::string> {
    if (!elected.load()) return absl::UnavailableError("lease has no holder");
    return address;
  };
  StatsClient client(options, tracker, clock);
  Running running(client, clock);
  auto promise = std::make_shared<std::promise<absl::Status>>();
  client.Wake({"ns", "f"}, [promise](const absl::Status& s, bool) { promise->set_value(s); });
  EXPECT_EQ(promise->get_future().get().code(), absl::StatusCode::kUnavailable);
  Tick(clock, client);
  EXPECT_EQ(client.streams_opened(), 0u);
  elected = true;
  Tick(clock, client);
  ASSERT_TRUE(Eventually([&] { return controller_.report_count() == 1; }));
  EXPECT_EQ(client.controller_address(), address);
}

TEST_F(StatsClientTest, WakeMapsTheControllersAnswer) {
  LoadTracker tracker(RealClock::Get(), "activator-test");
  StatsClient client(ClientOptions(), tracker, RealClock::Get());
  std::atomic<bool> scaled{false};
  auto wake = [&] {
    auto promise = std::make_shared<std::promise<absl::Status>>();
    auto future = promise->get_future();
    client.Wake({"ns", "f"}, [promise, &scaled](const absl::Status& s, bool was_scaled) {
      scaled = was_scaled;
      promise->set_value(s);
    });
    return future.get();
  };
  EXPECT_TRUE(wake().ok());
  EXPECT_TRUE(scaled) << "SCALED: this wake took it from zero (counted as the cold start)";
  controller_.wake_result = pb::WakeResponse::ALREADY_ACTIVE;
  EXPECT_TRUE(wake().ok());
  EXPECT_FALSE(scaled) << "another activator's wake counted it";
  controller_.wake_result = pb::WakeResponse::NOT_LEADER;
  EXPECT_EQ(wake().code(), absl::StatusCode::kUnavailable);
  {
    std::lock_guard lock(controller_.mu);
    ASSERT_EQ(controller_.wakes.size(), 3u);
    EXPECT_EQ(controller_.wakes[0], "ns/f");
  }
  server_->Shutdown();
  server_.reset();
  EXPECT_FALSE(wake().ok());  // no controller: an error, not a hang
}

// Every call carries the bearer token as the controller's TokenReview check
// expects it, read per call so a rotated token is sent from then on.
TEST_F(StatsClientTest, SendsTheCurrentBearerTokenOnStreamsAndWakes) {
  ManualClock clock;
  LoadTracker tracker(clock, "activator-test");
  std::mutex token_mu;
  std::string token = "first";
  StatsClient::Options options = ClientOptions();
  options.bearer_token = [&] {
    std::lock_guard lock(token_mu);
    return token;
  };
  StatsClient client(options, tracker, clock);
  auto wake = [&] {
    auto promise = std::make_shared<std::promise<absl::Status>>();
    auto future = promise->get_future();
    client.Wake({"ns", "f"}, [promise](const absl::Status& s, bool) { promise->set_value(s); });
    return future.get();
  };
  EXPECT_TRUE(wake().ok());
  {
    Running running(client, clock);
    Tick(clock, client);
    ASSERT_TRUE(Eventually([&] { return controller_.report_count() == 1; }));
  }
  {
    std::lock_guard lock(token_mu);
    token = "rotated";
  }
  EXPECT_TRUE(wake().ok());
  std::lock_guard lock(controller_.mu);
  EXPECT_EQ(controller_.authorizations,
            (std::vector<std::string>{"Bearer first", "Bearer first", "Bearer rotated"}));
}

// The client owns its channels: destroying it with a Wake in flight waits for
// that call's answer (bounded by wake_timeout), so the callback never runs
// against a dead client nor frees the channel on gRPC's own thread. CI once
// aborted at exit ("ref_counted.h: prior > 0") when the callback held the
// last reference to the channel.
TEST_F(StatsClientTest, DestructionWaitsForWakeCallsInFlight) {
  controller_.wake_delay = 200ms;
  LoadTracker tracker(RealClock::Get(), "activator-test");
  std::atomic<int> answered{0};
  std::atomic<bool> ok{false};
  {
    StatsClient client(ClientOptions(), tracker, RealClock::Get());
    client.Wake({"ns", "f"}, [&](const absl::Status& s, bool) {
      ok = s.ok();
      answered.fetch_add(1);
    });
    EXPECT_EQ(answered.load(), 0);  // still at the controller
  }
  EXPECT_EQ(answered.load(), 1);
  EXPECT_TRUE(ok.load());
}

}  // namespace
}  // namespace zs::activator
