// The activator-controller channel, authenticated for real: the activator's
// StatsClient sends a ServiceAccount token the local apiserver issued
// (TokenRequest), the controller's AutoscalerService checks it with a
// TokenReview against the same apiserver, and only the identity it was told
// to trust gets through.
#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <mutex>
#include <string>

#include <grpcpp/grpcpp.h>

#include "activator/metering/load_tracker.h"
#include "activator/sources/stats_client.h"
#include "common/kube/errors.h"
#include "common/strings.h"
#include "controller/autoscaler/authenticator.h"
#include "controller/autoscaler/scaler.h"
#include "controller/autoscaler/service.h"
#include "controller/autoscaler/stats_aggregator.h"
#include "tests/integration/cluster_testing.h"

namespace zs {
namespace {

using testing::ClusterClient;
using testing::ClusterNamespace;

class AlwaysAwake : public autoscaler::Scaler {
 public:
  absl::StatusOr<int> ScaleFromZero(std::string_view, std::string_view) override { return 1; }
};

class ClusterGrpcAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client_ = ClusterClient();
    ASSERT_NE(client_, nullptr);
    namespace_ = std::make_unique<ClusterNamespace>(*client_, "zs-it-grpc-auth");
    ns_ = namespace_->name();
    for (const char* name : {"zeroscale-activator", "intruder"}) {
      nlohmann::json sa = {{"apiVersion", "v1"}, {"kind", "ServiceAccount"}, {"metadata", {{"name", name}}}};
      ASSERT_TRUE(client_->Create(kube::kServiceAccounts.In(ns_), sa).ok());
    }
    autoscaler::TokenReviewAuthenticator::Options options;
    options.allowed = {Cat("system:serviceaccount:", ns_, ":zeroscale-activator")};
    authenticator_ =
        std::make_unique<autoscaler::TokenReviewAuthenticator>(*client_, RealClock::Get(), options);
    service_ = std::make_unique<autoscaler::AutoscalerService>(
        stats_, scaler_, [] { return true; },
        autoscaler::AutoscalerService::Hooks{{},
                                             {},
                                             {},
                                             [this](const std::string& reason) {
                                               std::lock_guard lock(mu_);
                                               refused_.push_back(reason);
                                             }},
        [this](const grpc::ServerContext& context) { return authenticator_->Check(context); });
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }
  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    namespace_.reset();
  }

  std::string TokenOf(const std::string& service_account) {
    auto token = client_->RequestToken(ns_, service_account, 600);
    EXPECT_TRUE(token.ok()) << token.status();
    return token.ok() ? (*token)["status"].value("token", "") : "";
  }

  // One Wake through the activator's real client, carrying `token`.
  absl::Status WakeWith(const std::string& token) {
    activator::LoadTracker tracker(RealClock::Get(), "activator-it");
    activator::StatsClient::Options options;
    options.controller_address = Cat("127.0.0.1:", port_);
    options.activator_id = "activator-it";
    if (!token.empty()) options.bearer_token = [token] { return token; };
    activator::StatsClient client(options, tracker, RealClock::Get());
    auto promise = std::make_shared<std::promise<absl::Status>>();
    auto answer = promise->get_future();
    client.Wake({ns_, "fn"},
                [promise](const absl::Status& status, bool /*scaled*/) { promise->set_value(status); });
    return answer.get();
  }

  std::vector<std::string> refused() {
    std::lock_guard lock(mu_);
    return refused_;
  }

  std::unique_ptr<kube::CurlKubeClient> client_;
  std::unique_ptr<ClusterNamespace> namespace_;
  std::string ns_;
  autoscaler::StatsAggregator stats_{RealClock::Get(), [] {
                                       autoscaler::StatsAggregator::Options options;
                                       options.known = [](const autoscaler::FunctionKey&) { return true; };
                                       return options;
                                     }()};
  AlwaysAwake scaler_;
  std::unique_ptr<autoscaler::TokenReviewAuthenticator> authenticator_;
  std::unique_ptr<autoscaler::AutoscalerService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::mutex mu_;
  std::vector<std::string> refused_;
};

TEST_F(ClusterGrpcAuthTest, OnlyTheActivatorsServiceAccountGetsThrough) {
  const std::string activator = TokenOf("zeroscale-activator");
  const std::string intruder = TokenOf("intruder");
  ASSERT_FALSE(activator.empty());
  ASSERT_FALSE(intruder.empty());

  EXPECT_TRUE(WakeWith(activator).ok());

  const absl::Status no_token = WakeWith("");
  EXPECT_FALSE(no_token.ok());
  EXPECT_NE(no_token.message().find("bearer token"), std::string::npos) << no_token;

  const absl::Status forged = WakeWith(activator.substr(0, activator.size() - 4) + "AAAA");
  EXPECT_FALSE(forged.ok());
  EXPECT_NE(forged.message().find("token rejected"), std::string::npos) << forged;

  const absl::Status other = WakeWith(intruder);
  EXPECT_FALSE(other.ok());
  EXPECT_NE(other.message().find("may not call the controller"), std::string::npos) << other;

  EXPECT_EQ(refused(), (std::vector<std::string>{"unauthenticated", "unauthenticated", "permission_denied"}));
  // Verdicts are cached: the activator's next calls cost no TokenReview.
  const uint64_t reviews = authenticator_->reviews();
  EXPECT_TRUE(WakeWith(activator).ok());
  EXPECT_FALSE(WakeWith(intruder).ok());
  EXPECT_EQ(authenticator_->reviews(), reviews);
}

}  // namespace
}  // namespace zs
