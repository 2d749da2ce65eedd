// Who may talk to the controller's gRPC service: the activator proves its
// identity with its ServiceAccount token, sent as gRPC metadata
// `authorization: Bearer <token>`, and the controller asks the apiserver
// (TokenReview, authentication.k8s.io/v1) whose token it is. Only the
// identities named in `allowed` (e.g.
// "system:serviceaccount:zeroscale-system:zeroscale-activator") get through.
//
//   no or malformed authorization     -> UNAUTHENTICATED
//   a token the apiserver rejects     -> UNAUTHENTICATED
//   a valid token of another identity -> PERMISSION_DENIED
//   TokenReview itself failed         -> UNAVAILABLE (the caller retries)
//
// Answers are cached per token (SHA-256 of it, never the token itself) for
// `ttl` (accepted) or `negative_ttl` (refused), in at most `max_entries`
// entries, so a Wake per cold start costs no apiserver round trip. A rotated
// token is a new key; an expired one falls out of the cache within `ttl`.
//
// Thread-safety: Check() is called from gRPC's threads concurrently.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>

#include <grpcpp/grpcpp.h>

#include "common/clock.h"
#include "common/kube/client.h"

namespace zs::autoscaler {

class TokenReviewAuthenticator {
 public:
  struct Options {
    std::set<std::string> allowed;  // usernames, as TokenReview reports them
    Duration ttl = std::chrono::minutes(1);
    Duration negative_ttl = std::chrono::seconds(10);
    size_t max_entries = 1024;
  };
  TokenReviewAuthenticator(kube::KubeClient& client, Clock& clock, Options options);

  // The verdict for one call's metadata (grpc::Status::OK: let it through).
  grpc::Status Check(const grpc::ServerContext& context);
  // The verdict for a bearer token as sent ("" when the header is missing).
  grpc::Status CheckAuthorization(const std::string& authorization);

  // TokenReviews sent so far (tests: the cache works).
  uint64_t reviews() const;

 private:
  struct Verdict {
    grpc::Status status;
    MonotonicTime expires;
  };
  grpc::Status Review(const std::string& token);

  kube::KubeClient& client_;
  Clock& clock_;
  const Options options_;
  mutable std::mutex mu_;
  std::map<std::string, Verdict> cache_;  // key: SHA-256 of the token
  uint64_t reviews_ = 0;
};

}  // namespace zs::autoscaler
