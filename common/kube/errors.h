// The one place where apiserver answers become absl::Status.
//
// HTTP status -> absl code:
//   400 InvalidArgument   401 Unauthenticated   403 PermissionDenied
//   404 NotFound          409 AlreadyExists (reason AlreadyExists) or Aborted (reason Conflict)
//   410 OutOfRange (Gone / Expired resourceVersion)   422 InvalidArgument
//   429 ResourceExhausted 500 Internal   503 Unavailable   504 DeadlineExceeded
//   transport failure (no HTTP answer): Unavailable, HttpCode() == 0
// The message is the apiserver's Status.message. The HTTP code and the
// Status.reason travel as payloads so that the Is*() helpers below do not
// depend on the absl code mapping.
//
// Thread-safety: pure functions.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace zs::kube {

// Builds the status for an HTTP answer. `body` is the response body (a
// metav1.Status JSON when the apiserver produced it; anything else is quoted).
absl::Status StatusFromHttp(long http_code, std::string_view body);
// For failures below HTTP (connect refused, TLS, timeout).
absl::Status TransportError(std::string_view what);

// The HTTP code an error came from; 0 for OK and transport errors.
int HttpCode(const absl::Status& status);
// metav1.Status.reason ("NotFound", "Conflict", "AlreadyExists", "Expired", ...), or "".
std::string Reason(const absl::Status& status);

// absl has IsNotFound/IsAlreadyExists too: call these qualified
// (kube::IsNotFound(s)), an unqualified call is ambiguous through ADL.
bool IsNotFound(const absl::Status& status);       // 404
bool IsAlreadyExists(const absl::Status& status);  // 409, reason AlreadyExists
bool IsConflict(const absl::Status& status);       // 409, anything but AlreadyExists
bool IsGone(const absl::Status& status);           // 410 (resourceVersion too old)
bool IsUnauthorized(const absl::Status& status);   // 401
bool IsForbidden(const absl::Status& status);      // 403
bool IsInvalid(const absl::Status& status);        // 422
// Worth retrying as is: transport errors, 429, 5xx.
bool IsRetryable(const absl::Status& status);

// Runs fn up to `attempts` times while it returns a conflict (client-go's
// retry.RetryOnConflict without sleeping: a conflict means re-read and
// recompute, which fn does itself). Returns fn's last status.
absl::Status RetryOnConflict(int attempts, const std::function<absl::Status()>& fn);

}  // namespace zs::kube
