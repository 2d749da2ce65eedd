// Every way the activator can answer a request other than with the
// function's own response, in one table (after Redpanda's
// pandaproxy/error.h): the HTTP status, the `reason` label of
// zeroscale_rejected_requests_total, and the message of the JSON body
//   {"error": "<message>", "function": "<namespace>/<name>"}.
//
// A reason of "" means the outcome is counted only in
// zeroscale_invocations_total (by code), not as a rejection: an unknown
// function is the client's mistake about a name, not a request we turned
// away, and a client that went away got no answer at all.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace zs::activator {

enum class ProxyError : uint8_t {
  kNone = 0,
  kUnknownFunction,    // 404
  kBadRequest,         // 400 malformed request line, header or framing
  kBodyTooLarge,       // 413 over --max-body-bytes (Content-Length or while streaming)
  kHeaderTooLarge,     // 431 over --max-header-bytes
  kQueueFull,          // 503 + Retry-After: the Function's or the activator's buffer is full
  kQueueTimeout,       // 504 no replica could take the request within buffer.timeoutSeconds
  kShuttingDown,       // 503 + Retry-After: still buffered (never forwarded) when the drain deadline passed
  kExecTimeout,        // 504 the invocation ran past timeoutSeconds
  kUpstreamError,      // 502 the replica reset, closed or sent garbage
  kClientClosed,       // 499 (nginx's code, never sent): the client left before the answer
  kNotImplemented,     // 501 a transfer coding other than chunked
  kDrainCut,           // 504 forwarded, no response head yet, when the drain deadline passed
  kClientBodyTimeout,  // 408 no request body byte within --client-body-timeout
};

struct ErrorSpec {
  ProxyError error;
  int http_status;
  // Label value of zeroscale_rejected_requests_total{reason}; "" = not a rejection.
  std::string_view reason;
  // The "error" field of the JSON body.
  std::string_view message;
  // Whether the response carries Retry-After (seconds).
  bool retry_after;
};

// The row of `error`. kNone maps to a 200 row that is never sent.
const ErrorSpec& Spec(ProxyError error);

// The JSON body for `error`; `function` is "ns/name", or "" when the request
// never named a Function (it is then written as "").
std::string ErrorBody(ProxyError error, std::string_view function);

// Seconds put into Retry-After for 503s.
inline constexpr int kRetryAfterSeconds = 1;

// The rows, for tests that walk the whole table.
inline constexpr ProxyError kAllErrors[] = {
    ProxyError::kUnknownFunction,   ProxyError::kBadRequest,     ProxyError::kBodyTooLarge,
    ProxyError::kHeaderTooLarge,    ProxyError::kQueueFull,      ProxyError::kQueueTimeout,
    ProxyError::kShuttingDown,      ProxyError::kExecTimeout,    ProxyError::kUpstreamError,
    ProxyError::kClientClosed,      ProxyError::kNotImplemented, ProxyError::kDrainCut,
    ProxyError::kClientBodyTimeout,
};

// JSON string escaping (quotes included), shared with the billing log.
void AppendJsonString(std::string& out, std::string_view text);

}  // namespace zs::activator
