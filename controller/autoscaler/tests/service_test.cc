#include "controller/autoscaler/service.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "controller/autoscaler/autoscaler.h"
#include "controller/autoscaler/proto_convert.h"

namespace zs::autoscaler {
namespace {

namespace pb = zeroscale::v1alpha1;

// Keeps replica counts in a map, as the Deployment's scale subresource would.
class FakeScaler : public Scaler {
 public:
  absl::StatusOr<int> ScaleFromZero(std::string_view ns, std::string_view name) override {
    std::lock_guard lock(mu_);
    ++calls;
    if (fail) return absl::UnavailableError("apiserver down");
    auto it = replicas.find(std::string(ns) + "/" + std::string(name));
    if (it == replicas.end()) return absl::NotFoundError("no such function");
    const int previous = it->second;
    if (previous == 0) it->second = 1;
    return previous;
  }
  std::mutex mu_;
  std::map<std::string, int> replicas;
  int calls = 0;
  bool fail = false;
};

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);
    auto channel =
        grpc::CreateChannel("127.0.0.1:" + std::to_string(port_), grpc::InsecureChannelCredentials());
    stub_ = pb::Autoscaler::NewStub(channel);
  }
  void TearDown() override { server_->Shutdown(); }

  pb::WakeResponse Wake(const std::string& ns, const std::string& name, grpc::Status* status_out = nullptr) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    pb::WakeRequest req;
    req.set_namespace_(ns);
    req.set_name(name);
    req.set_activator_id("activator-0");
    pb::WakeResponse resp;
    grpc::Status status = stub_->Wake(&ctx, req, &resp);
    if (status_out) *status_out = status;
    return resp;
  }

  ManualClock clock_;
  // The Functions that exist, as the controller's informer would say.
  std::set<FunctionKey> known_{{"default", "hello"}};
  StatsAggregator stats_{clock_, [this] {
                           StatsAggregator::Options options;
                           options.known = [this](const FunctionKey& key) { return known_.contains(key); };
                           return options;
                         }()};
  FakeScaler scaler_;
  std::atomic<bool> leader_{true};
  std::mutex hooks_mu_;
  int reports_seen_ = 0;
  std::vector<std::string> wake_results_;
  AutoscalerService service_{
      stats_,
      scaler_,
      [this] { return leader_.load(); },
      {[this] {
         std::lock_guard lock(hooks_mu_);
         ++reports_seen_;
       },
       [this](const std::string& result) {
         std::lock_guard lock(hooks_mu_);
         wake_results_.push_back(result);
       },
       [this] {
         std::lock_guard lock(hooks_mu_);
         ++reports_rejected_;
       },
       [this](const std::string& reason) {
         std::lock_guard lock(hooks_mu_);
         refused_.push_back(reason);
       }},
      [this](const grpc::ServerContext& context) { return gate_ ? gate_(context) : grpc::Status::OK; }};
  // Set before the first call of a test: the authentication step.
  AutoscalerService::Authenticate gate_;
  std::vector<std::string> refused_;
  std::vector<std::string> WakeResults() {
    std::lock_guard lock(hooks_mu_);
    return wake_results_;
  }
  int ReportsSeen() {
    std::lock_guard lock(hooks_mu_);
    return reports_seen_;
  }
  int ReportsRejected() {
    std::lock_guard lock(hooks_mu_);
    return reports_rejected_;
  }
  int reports_rejected_ = 0;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<pb::Autoscaler::Stub> stub_;
};

pb::StatsReport Report(const std::string& activator, double concurrency, uint32_t queued) {
  StatsReport r;
  r.activator_id = activator;
  FunctionLoad load;
  load.function = {"default", "hello"};
  load.average_concurrency = concurrency;
  load.queued = queued;
  r.functions.push_back(load);
  return ToProto(r);
}

// A call the authentication step refuses gets its status, and nothing is
// read, recorded or scaled; the refusal is counted by reason.
TEST_F(ServiceTest, RefusedCallsReadRecordAndScaleNothing) {
  gate_ = [](const grpc::ServerContext& context) {
    const auto& metadata = context.client_metadata();
    const auto it = metadata.find("authorization");
    if (it != metadata.end() && std::string(it->second.data(), it->second.size()) == "Bearer good") {
      return grpc::Status::OK;
    }
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "no");
  };
  scaler_.replicas["default/hello"] = 0;
  grpc::Status status;
  Wake("default", "hello", &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  {
    grpc::ClientContext ctx;
    auto stream = stub_->StreamStats(&ctx);
    stream->Write(Report("activator-0", 4, 2));
    pb::StatsAck ack;
    EXPECT_FALSE(stream->Read(&ack));
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  EXPECT_EQ(scaler_.calls, 0);
  EXPECT_EQ(stats_.SamplesFor({"default", "hello"}).queued, 0);
  EXPECT_EQ(ReportsSeen(), 0);
  {
    std::lock_guard lock(hooks_mu_);
    EXPECT_EQ(refused_, (std::vector<std::string>{"unauthenticated", "unauthenticated"}));
  }
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer good");
  pb::WakeRequest req;
  req.set_namespace_("default");
  req.set_name("hello");
  pb::WakeResponse resp;
  EXPECT_TRUE(stub_->Wake(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.result(), pb::WakeResponse::SCALED);
}

TEST_F(ServiceTest, StreamStatsFeedsTheAggregatorAndAcksEachReport) {
  grpc::ClientContext ctx;
  auto stream = stub_->StreamStats(&ctx);
  pb::StatsAck ack;
  ASSERT_TRUE(stream->Write(Report("activator-0", 4, 2)));
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_TRUE(ack.leader());
  // The ack is written after ingestion: the figures are there now.
  Samples s = stats_.SamplesFor({"default", "hello"});
  EXPECT_EQ(s.queued, 2);
  ASSERT_EQ(s.concurrency.size(), 1u);
  EXPECT_DOUBLE_EQ(s.concurrency[0].concurrency, 4);

  clock_.Advance(1s);
  ASSERT_TRUE(stream->Write(Report("activator-0", 6, 0)));
  ASSERT_TRUE(stream->Read(&ack));
  s = stats_.SamplesFor({"default", "hello"});
  EXPECT_EQ(s.queued, 0);
  EXPECT_EQ(s.concurrency.size(), 2u);
  EXPECT_EQ(ReportsSeen(), 2);
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

// Every number is range-checked before use: a report with one bad figure is
// refused whole and counted; the activator's previous figures stand, and the
// stream goes on to the next report.
TEST_F(ServiceTest, OutOfRangeReportIsRefusedCountedAndTheStreamGoesOn) {
  grpc::ClientContext ctx;
  auto stream = stub_->StreamStats(&ctx);
  pb::StatsAck ack;
  ASSERT_TRUE(stream->Write(Report("activator-0", 4, 2)));
  ASSERT_TRUE(stream->Read(&ack));
  for (double bad : {std::nan(""), std::numeric_limits<double>::infinity(), -1.0, 1e300}) {
    pb::StatsReport report = Report("activator-0", 0, 0);
    report.mutable_functions(0)->set_average_concurrency(bad);
    ASSERT_TRUE(stream->Write(report));
    ASSERT_TRUE(stream->Read(&ack)) << bad;
    EXPECT_TRUE(ack.leader());
  }
  pb::StatsReport huge_queue = Report("activator-0", 0, 0);
  huge_queue.mutable_functions(0)->set_queued(UINT32_MAX);
  ASSERT_TRUE(stream->Write(huge_queue));
  ASSERT_TRUE(stream->Read(&ack));
  Samples s = stats_.SamplesFor({"default", "hello"});
  EXPECT_EQ(s.queued, 2);  // the last good report's
  ASSERT_EQ(s.concurrency.size(), 1u);
  EXPECT_DOUBLE_EQ(s.concurrency[0].concurrency, 4);
  EXPECT_EQ(ReportsRejected(), 5);
  EXPECT_EQ(ReportsSeen(), 1);

  ASSERT_TRUE(stream->Write(Report("activator-0", 4, 0)));
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(stats_.SamplesFor({"default", "hello"}).queued, 0);
  EXPECT_EQ(ReportsSeen(), 2);
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

// Wake for a name that is no Function records nothing and scales nothing.
TEST_F(ServiceTest, WakeForAnUnknownNameCreatesNothing) {
  scaler_.replicas["default/ghost"] = 0;  // even if something answered to it
  EXPECT_EQ(Wake("default", "ghost").result(), pb::WakeResponse::NOT_FOUND);
  EXPECT_EQ(scaler_.calls, 0);
  EXPECT_EQ(scaler_.replicas["default/ghost"], 0);
  EXPECT_EQ(stats_.Functions(), std::vector<FunctionKey>{});
  EXPECT_FALSE(stats_.SamplesFor({"default", "ghost"}).last_request_time.has_value());
  EXPECT_EQ(WakeResults(), std::vector<std::string>{"not_found"});
}

TEST_F(ServiceTest, NotLeaderAnswersLeaderFalseAndEndsTheStream) {
  leader_ = false;
  grpc::ClientContext ctx;
  auto stream = stub_->StreamStats(&ctx);
  pb::StatsAck ack;
  ASSERT_TRUE(stream->Write(Report("activator-0", 4, 2)));
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_FALSE(ack.leader());
  EXPECT_FALSE(stream->Read(&ack));
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(stats_.SamplesFor({"default", "hello"}).queued, 0);

  EXPECT_EQ(Wake("default", "hello").result(), pb::WakeResponse::NOT_LEADER);
  EXPECT_EQ(scaler_.calls, 0);
  EXPECT_EQ(ReportsSeen(), 0);  // a follower counts nothing it did not use
  EXPECT_EQ(WakeResults(), std::vector<std::string>{"not_leader"});
}

TEST_F(ServiceTest, WakeScalesFromZeroOnceThenReportsActive) {
  scaler_.replicas["default/hello"] = 0;
  pb::WakeResponse first = Wake("default", "hello");
  EXPECT_EQ(first.result(), pb::WakeResponse::SCALED);
  EXPECT_EQ(first.desired_replicas(), 1);
  pb::WakeResponse second = Wake("default", "hello");
  EXPECT_EQ(second.result(), pb::WakeResponse::ALREADY_ACTIVE);
  EXPECT_EQ(second.desired_replicas(), 1);
  EXPECT_EQ(Wake("default", "missing").result(), pb::WakeResponse::NOT_FOUND);
  EXPECT_EQ(WakeResults(), (std::vector<std::string>{"scaled", "already_active", "not_found"}));
}

TEST_F(ServiceTest, WakeErrorsAreUnavailableAndBadRequestsRefused) {
  scaler_.fail = true;
  grpc::Status status;
  Wake("default", "hello", &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  Wake("", "hello", &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(WakeResults(), (std::vector<std::string>{"error", "invalid"}));
}

// Issue 6 part 3 through the service: the function went idle and the
// autoscaler decided zero; a Wake arrives before any new report. The next
// decision must keep the woken replica, not undo it.
TEST_F(ServiceTest, WakeBeforeTheNextReportIsNotUndoneByTheNextDecision) {
  api::ScalingSpec spec;
  spec.scale_to_zero_after_seconds = 60;
  Autoscaler autoscaler(stats_, clock_);
  grpc::ClientContext ctx;
  auto stream = stub_->StreamStats(&ctx);
  pb::StatsAck ack;
  // One request long ago, then only empty reports.
  StatsReport first;
  first.activator_id = "activator-0";
  FunctionLoad load;
  load.function = {"default", "hello"};
  load.requests = 1;
  first.functions.push_back(load);
  ASSERT_TRUE(stream->Write(ToProto(first)));
  ASSERT_TRUE(stream->Read(&ack));
  clock_.Advance(60s);
  StatsReport empty;
  empty.activator_id = "activator-0";
  ASSERT_TRUE(stream->Write(ToProto(empty)));
  ASSERT_TRUE(stream->Read(&ack));
  ASSERT_EQ(autoscaler.Evaluate({"default", "hello"}, spec, 1, 1).desired, 0);

  scaler_.replicas["default/hello"] = 0;
  clock_.Advance(300ms);
  ASSERT_EQ(Wake("default", "hello").result(), pb::WakeResponse::SCALED);
  // The next tick: Deployment asks for 1 (not ready), no new report yet.
  Decision d = autoscaler.Evaluate({"default", "hello"}, spec, 0, 1);
  EXPECT_EQ(d.desired, 1);
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

}  // namespace
}  // namespace zs::autoscaler
