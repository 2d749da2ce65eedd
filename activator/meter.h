// Stage 5, meter: turns what happened to a request into metrics, load figures
// and a billing record. Also the buffer's event sink (queued gauge, cold
// starts, wake outcomes).
//
// Nothing is lost silently: the proxy calls Finish() exactly once for every
// request it read a head for, whatever the outcome, and every non-2xx answer
// of the activator's own is counted in zeroscale_rejected_requests_total when
// its error has a reason (errors.h).
//
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "activator/billing.h"
#include "activator/buffer.h"
#include "activator/errors.h"
#include "activator/function_config.h"
#include "activator/load_tracker.h"
#include "activator/metrics.h"
#include "common/clock.h"

namespace zs::activator {

// Everything known about one request when it ends.
struct Invocation {
  // Null when the request never reached a known Function (400/404/413/431
  // before routing); such requests are counted under empty labels and get no
  // billing record.
  std::shared_ptr<const FunctionConfig> function;
  std::string request_id;
  std::string method;
  std::string path;  // function-relative, no query
  SystemTime arrival_wall{};
  // The status the client got (its first line), or the error's status when
  // the activator answered itself; 499 when the client left first.
  int code = 0;
  // The activator's own failure, if any (also set when a relayed response
  // broke off mid-body: code is then the replica's status).
  ProxyError error = ProxyError::kNone;
  // Time from arrival to forward (or to the activator's answer).
  Duration queued{0};
  // The request waited in the buffer (observed in cold_start_wait_seconds).
  bool buffered = false;
  bool cold_start = false;
  bool forwarded = false;
  Duration forward_duration{0};
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  std::string pod;
};

class Meter final : public BufferEvents {
 public:
  Meter(Metrics& metrics, LoadTracker& load, BillingSink& billing, double default_memory_bytes);

  void OnArrival(const FunctionConfig& config);
  void OnForwardStart(const FunctionConfig& config);
  void OnForwardEnd(const FunctionConfig& config);
  void OnConnectRetry() { metrics_.connect_retries().Increment(); }
  // A client connection closed before a request head was complete.
  void OnConnectionClosed(std::string_view reason) { metrics_.ConnectionsClosed(reason).Increment(); }
  void OnConnectionOpened() { metrics_.open_connections().Increment(); }
  void OnConnectionEnded() { metrics_.open_connections().Decrement(); }

  void Finish(const Invocation& invocation);

  // The memory billed for `config` in bytes (its request, else the default).
  double MemoryBytes(const FunctionConfig& config) const;

  // BufferEvents.
  void OnQueued(const FunctionConfig& config, int delta) override;
  void OnColdStart(const FunctionConfig& config) override;
  void OnWakeDone(const FunctionConfig& config, const absl::Status& status) override;

 private:
  Metrics& metrics_;
  LoadTracker& load_;
  BillingSink& billing_;
  const double default_memory_bytes_;
};

}  // namespace zs::activator
