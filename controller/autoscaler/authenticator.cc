#include "controller/autoscaler/authenticator.h"

#include <openssl/sha.h>

#include <string_view>

#include "common/log.h"
#include "common/strings.h"

namespace zs::autoscaler {
namespace {

const kube::ResourceRef kTokenReviews{"authentication.k8s.io", "v1", "tokenreviews", "", "", ""};

std::string Sha256(std::string_view text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return {reinterpret_cast<const char*>(digest), sizeof digest};
}

}  // namespace

TokenReviewAuthenticator::TokenReviewAuthenticator(kube::KubeClient& client, Clock& clock, Options options)
    : client_(client), clock_(clock), options_(std::move(options)) {}

uint64_t TokenReviewAuthenticator::reviews() const {
  std::lock_guard lock(mu_);
  return reviews_;
}

grpc::Status TokenReviewAuthenticator::Check(const grpc::ServerContext& context) {
  const auto& metadata = context.client_metadata();
  const auto it = metadata.find("authorization");
  return CheckAuthorization(it == metadata.end() ? std::string()
                                                 : std::string(it->second.data(), it->second.size()));
}

grpc::Status TokenReviewAuthenticator::CheckAuthorization(const std::string& authorization) {
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.size() <= kBearer.size() || authorization.compare(0, kBearer.size(), kBearer) != 0) {
    return {grpc::StatusCode::UNAUTHENTICATED,
            "a bearer token (the activator's ServiceAccount token) is required"};
  }
  const std::string token = authorization.substr(kBearer.size());
  const std::string key = Sha256(token);
  {
    std::lock_guard lock(mu_);
    if (auto cached = cache_.find(key); cached != cache_.end()) {
      if (clock_.Now() < cached->second.expires) return cached->second.status;
      cache_.erase(cached);
    }
  }
  grpc::Status status = Review(token);
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE)
    return status;  // not an answer: ask again next time
  std::lock_guard lock(mu_);
  if (cache_.size() >= options_.max_entries) cache_.clear();
  cache_[key] = {status, clock_.Now() + (status.ok() ? options_.ttl : options_.negative_ttl)};
  return status;
}

grpc::Status TokenReviewAuthenticator::Review(const std::string& token) {
  {
    std::lock_guard lock(mu_);
    ++reviews_;
  }
  const nlohmann::json review = {
      {"apiVersion", "authentication.k8s.io/v1"}, {"kind", "TokenReview"}, {"spec", {{"token", token}}}};
  absl::StatusOr<nlohmann::json> answer = client_.Create(kTokenReviews, review);
  if (!answer.ok()) {
    log::Warn("TokenReview failed; refusing the gRPC call for now", {{"error", Message(answer.status())}});
    return {grpc::StatusCode::UNAVAILABLE, Cat("cannot review the token: ", Message(answer.status()))};
  }
  const nlohmann::json status = answer->value("status", nlohmann::json::object());
  if (!status.value("authenticated", false)) {
    return {grpc::StatusCode::UNAUTHENTICATED,
            Cat("token rejected: ", status.value("error", "not authenticated"))};
  }
  const std::string user = status.value("user", nlohmann::json::object()).value("username", "");
  if (!options_.allowed.contains(user)) {
    log::Warn("gRPC call from an identity that is not an activator", {{"user", user}});
    return {grpc::StatusCode::PERMISSION_DENIED, Cat("\"", user, "\" may not call the controller")};
  }
  return grpc::Status::OK;
}

}  // namespace zs::autoscaler
