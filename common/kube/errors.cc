#include "common/kube/errors.h"

#include <nlohmann/json.hpp>

#include "absl/strings/cord.h"
#include "common/strings.h"

namespace zs::kube {
namespace {

constexpr char kCodeUrl[] = "zeroscale.dev/kube/http-code";
constexpr char kReasonUrl[] = "zeroscale.dev/kube/reason";

absl::StatusCode CodeFor(long http_code, const std::string& reason) {
  switch (http_code) {
    case 400:
      return absl::StatusCode::kInvalidArgument;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 409:
      return reason == "AlreadyExists" ? absl::StatusCode::kAlreadyExists : absl::StatusCode::kAborted;
    case 410:
      return absl::StatusCode::kOutOfRange;
    case 422:
      return absl::StatusCode::kInvalidArgument;
    case 429:
      return absl::StatusCode::kResourceExhausted;
    case 503:
      return absl::StatusCode::kUnavailable;
    case 504:
      return absl::StatusCode::kDeadlineExceeded;
    default:
      break;
  }
  if (http_code >= 500) return absl::StatusCode::kInternal;
  if (http_code >= 400) return absl::StatusCode::kFailedPrecondition;
  return absl::StatusCode::kUnknown;
}

}  // namespace

absl::Status StatusFromHttp(long http_code, std::string_view body) {
  if (http_code >= 200 && http_code < 300) return absl::OkStatus();
  std::string message;
  std::string reason;
  nlohmann::json parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_object() && parsed.value("kind", "") == "Status") {
    message = parsed.value("message", "");
    reason = parsed.value("reason", "");
  }
  if (message.empty()) {
    std::string_view excerpt = body.substr(0, 512);
    message = excerpt.empty() ? Cat("HTTP ", http_code) : std::string(excerpt);
  }
  absl::Status status(CodeFor(http_code, reason), Cat("HTTP ", http_code, ": ", message));
  status.SetPayload(kCodeUrl, absl::Cord(std::to_string(http_code)));
  if (!reason.empty()) status.SetPayload(kReasonUrl, absl::Cord(reason));
  return status;
}

absl::Status TransportError(std::string_view what) {
  return absl::UnavailableError(Cat("kube transport: ", what));
}

int HttpCode(const absl::Status& status) {
  auto payload = status.GetPayload(kCodeUrl);
  if (!payload) return 0;
  return std::atoi(std::string(*payload).c_str());
}

std::string Reason(const absl::Status& status) {
  auto payload = status.GetPayload(kReasonUrl);
  return payload ? std::string(*payload) : std::string();
}

bool IsNotFound(const absl::Status& status) { return HttpCode(status) == 404; }
bool IsAlreadyExists(const absl::Status& status) {
  return HttpCode(status) == 409 && Reason(status) == "AlreadyExists";
}
bool IsConflict(const absl::Status& status) {
  return HttpCode(status) == 409 && !kube::IsAlreadyExists(status);
}
bool IsGone(const absl::Status& status) { return HttpCode(status) == 410; }
bool IsUnauthorized(const absl::Status& status) { return HttpCode(status) == 401; }
bool IsForbidden(const absl::Status& status) { return HttpCode(status) == 403; }
bool IsInvalid(const absl::Status& status) { return HttpCode(status) == 422; }
bool IsRetryable(const absl::Status& status) {
  if (status.ok()) return false;
  int code = HttpCode(status);
  return code == 0 || code == 429 || code >= 500;
}

absl::Status RetryOnConflict(int attempts, const std::function<absl::Status()>& fn) {
  absl::Status status = absl::OkStatus();
  for (int i = 0; i < std::max(attempts, 1); ++i) {
    status = fn();
    if (!IsConflict(status)) return status;
  }
  return status;
}

}  // namespace zs::kube
