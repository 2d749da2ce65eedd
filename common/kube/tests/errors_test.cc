#include "common/kube/errors.h"

#include <gtest/gtest.h>

#include "common/kube/resource.h"

namespace zs::kube {
namespace {

std::string StatusBody(int code, const std::string& reason, const std::string& message) {
  return "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"code\":" +
         std::to_string(code) + ",\"reason\":\"" + reason + "\",\"message\":\"" + message + "\"}";
}

TEST(ErrorsTest, MapsApiserverStatuses) {
  absl::Status not_found = StatusFromHttp(404, StatusBody(404, "NotFound", "pods \\\"x\\\" not found"));
  EXPECT_EQ(not_found.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(kube::IsNotFound(not_found));
  EXPECT_EQ(HttpCode(not_found), 404);
  EXPECT_EQ(Reason(not_found), "NotFound");
  EXPECT_NE(not_found.message().find("pods \"x\" not found"), std::string::npos);

  absl::Status exists = StatusFromHttp(409, StatusBody(409, "AlreadyExists", "exists"));
  EXPECT_EQ(exists.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_TRUE(kube::IsAlreadyExists(exists));
  EXPECT_FALSE(IsConflict(exists));

  absl::Status conflict = StatusFromHttp(409, StatusBody(409, "Conflict", "the object has been modified"));
  EXPECT_EQ(conflict.code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(IsConflict(conflict));

  absl::Status gone = StatusFromHttp(410, StatusBody(410, "Expired", "too old resource version"));
  EXPECT_TRUE(IsGone(gone));
  EXPECT_EQ(gone.code(), absl::StatusCode::kOutOfRange);

  EXPECT_EQ(StatusFromHttp(422, StatusBody(422, "Invalid", "bad")).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(IsInvalid(StatusFromHttp(422, "")));
  EXPECT_TRUE(IsUnauthorized(StatusFromHttp(401, "Unauthorized")));
  EXPECT_TRUE(IsForbidden(StatusFromHttp(403, "")));
  EXPECT_TRUE(IsRetryable(StatusFromHttp(503, "")));
  EXPECT_TRUE(IsRetryable(StatusFromHttp(429, "")));
  EXPECT_TRUE(IsRetryable(TransportError("connection refused")));
  EXPECT_FALSE(IsRetryable(not_found));
  EXPECT_TRUE(StatusFromHttp(201, "{}").ok());
}

TEST(ErrorsTest, NonStatusBodyIsQuoted) {
  absl::Status s = StatusFromHttp(500, "upstream exploded");
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_NE(s.message().find("upstream exploded"), std::string::npos);
  EXPECT_EQ(HttpCode(TransportError("x")), 0);
  EXPECT_EQ(HttpCode(absl::OkStatus()), 0);
}

TEST(ErrorsTest, RetryOnConflictRetriesOnlyConflicts) {
  int calls = 0;
  absl::Status s = RetryOnConflict(5, [&] {
    ++calls;
    return calls < 3 ? StatusFromHttp(409, StatusBody(409, "Conflict", "x")) : absl::OkStatus();
  });
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(calls, 3);

  calls = 0;
  s = RetryOnConflict(5, [&] {
    ++calls;
    return StatusFromHttp(404, "");
  });
  EXPECT_TRUE(kube::IsNotFound(s));
  EXPECT_EQ(calls, 1);

  calls = 0;
  s = RetryOnConflict(4, [&] {
    ++calls;
    return StatusFromHttp(409, StatusBody(409, "Conflict", "x"));
  });
  EXPECT_TRUE(IsConflict(s));
  EXPECT_EQ(calls, 4);
}

TEST(ResourceRefTest, Paths) {
  EXPECT_EQ(kPods.Path(), "/api/v1/pods");
  EXPECT_EQ(PodRef("default", "x").Path(), "/api/v1/namespaces/default/pods/x");
  EXPECT_EQ(PodRef("default", "x").Sub("binding").Path(), "/api/v1/namespaces/default/pods/x/binding");
  EXPECT_EQ(kDeployments.In("ns").Path(), "/apis/apps/v1/namespaces/ns/deployments");
  EXPECT_EQ(DeploymentRef("ns", "d").Sub("scale").Path(), "/apis/apps/v1/namespaces/ns/deployments/d/scale");
  EXPECT_EQ(FunctionRef("a", "b").Path(), "/apis/zeroscale.dev/v1alpha1/namespaces/a/functions/b");
  EXPECT_EQ(NodeRef("n").Sub("status").Path(), "/api/v1/nodes/n/status");
  EXPECT_EQ(ServiceAccountTokenRef("ns", "default").Path(),
            "/api/v1/namespaces/ns/serviceaccounts/default/token");
  EXPECT_EQ(kLeases.ApiVersion(), "coordination.k8s.io/v1");
  EXPECT_EQ(kPods.ApiVersion(), "v1");
  EXPECT_EQ(PodRef("a", "b").Key(), "a/b");
  EXPECT_EQ(NodeRef("n").Key(), "n");
  EXPECT_EQ(PodRef("a", "b").Sub("status").Collection(), kPods.In("a"));
}

}  // namespace
}  // namespace zs::kube
