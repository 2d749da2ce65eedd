// TokenReviewAuthenticator's logic on a scripted apiserver: the header's
// form, the verdicts, and what the cache keeps and for how long (an injected
// clock). The real apiserver's answers are in
// tests/integration/cluster_grpc_auth_test.cc.
#include "controller/autoscaler/authenticator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/kube/errors.h"
#include "common/kube/testing/mock_kube_client.h"

namespace zs::autoscaler {
namespace {

using ::testing::_;
using ::testing::NiceMock;

class AuthenticatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ON_CALL(client_, Create(_, _, _))
        .WillByDefault([this](const kube::ResourceRef& ref, const nlohmann::json& review,
                              const kube::WriteOptions&) -> absl::StatusOr<nlohmann::json> {
          EXPECT_EQ(ref.group, "authentication.k8s.io");
          EXPECT_EQ(ref.plural, "tokenreviews");
          if (apiserver_down_) return kube::TransportError("connection refused");
          const std::string token = review["spec"]["token"];
          nlohmann::json answer = review;
          if (token == "activator-token") {
            answer["status"] = {{"authenticated", true},
                                {"user", {{"username", "system:serviceaccount:zs:activator"}}}};
          } else if (token == "other-token") {
            answer["status"] = {{"authenticated", true},
                                {"user", {{"username", "system:serviceaccount:zs:other"}}}};
          } else {
            answer["status"] = {{"authenticated", false}, {"error", "invalid bearer token"}};
          }
          return answer;
        });
  }

  TokenReviewAuthenticator Make() {
    TokenReviewAuthenticator::Options options;
    options.allowed = {"system:serviceaccount:zs:activator"};
    return TokenReviewAuthenticator(client_, clock_, options);
  }

  NiceMock<kube::testing::MockKubeClient> client_;
  ManualClock clock_;
  bool apiserver_down_ = false;
};

TEST_F(AuthenticatorTest, VerdictsByHeaderAndIdentity) {
  TokenReviewAuthenticator auth = Make();
  EXPECT_TRUE(auth.CheckAuthorization("Bearer activator-token").ok());
  EXPECT_EQ(auth.CheckAuthorization("Bearer other-token").error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(auth.CheckAuthorization("Bearer forged").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  for (const char* header :
       {"", "Bearer ", "Basic YWRtaW46YWRtaW4=", "bearer activator-token", "activator-token"}) {
    EXPECT_EQ(auth.CheckAuthorization(header).error_code(), grpc::StatusCode::UNAUTHENTICATED) << header;
  }
  EXPECT_EQ(auth.reviews(), 3u);  // a malformed header never reaches the apiserver
}

TEST_F(AuthenticatorTest, VerdictsAreCachedForTheirTtlOnly) {
  TokenReviewAuthenticator auth = Make();
  ASSERT_TRUE(auth.CheckAuthorization("Bearer activator-token").ok());
  ASSERT_FALSE(auth.CheckAuthorization("Bearer forged").ok());
  EXPECT_EQ(auth.reviews(), 2u);
  clock_.Advance(std::chrono::seconds(9));
  EXPECT_TRUE(auth.CheckAuthorization("Bearer activator-token").ok());
  EXPECT_FALSE(auth.CheckAuthorization("Bearer forged").ok());
  EXPECT_EQ(auth.reviews(), 2u);            // both from the cache
  clock_.Advance(std::chrono::seconds(2));  // 11 s: a refusal is reviewed again, an admission not yet
  EXPECT_FALSE(auth.CheckAuthorization("Bearer forged").ok());
  EXPECT_TRUE(auth.CheckAuthorization("Bearer activator-token").ok());
  EXPECT_EQ(auth.reviews(), 3u);
  clock_.Advance(std::chrono::seconds(50));  // 61 s: a revoked token stops working within the TTL
  EXPECT_TRUE(auth.CheckAuthorization("Bearer activator-token").ok());
  EXPECT_EQ(auth.reviews(), 4u);
}

// An apiserver that cannot answer is no verdict: the call is refused as
// UNAVAILABLE (the activator retries) and nothing is cached.
TEST_F(AuthenticatorTest, ReviewFailuresAreNotCached) {
  TokenReviewAuthenticator auth = Make();
  apiserver_down_ = true;
  EXPECT_EQ(auth.CheckAuthorization("Bearer activator-token").error_code(), grpc::StatusCode::UNAVAILABLE);
  apiserver_down_ = false;
  EXPECT_TRUE(auth.CheckAuthorization("Bearer activator-token").ok());
  EXPECT_EQ(auth.reviews(), 2u);
}

}  // namespace
}  // namespace zs::autoscaler
