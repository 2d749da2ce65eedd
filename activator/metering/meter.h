// Stage 5, meter: turns what happened to a request into metrics, load figures
// and a billing record. Also the buffer's event sink (queued gauge, cold
// starts, wake outcomes).
//
// Nothing is lost silently: the proxy calls Finish() exactly once for every
// request it read a head for, whatever the outcome, and every non-2xx answer
// of the activator's own is counted in zeroscale_rejected_requests_total when
// its error has a reason (errors.h).
//
// Per-Function state (metric series, load figures) belongs to one
// incarnation of a Function. With Follow(catalog) it exists only while the
// catalog knows that incarnation, and is freed when the catalog removes it:
// events of a request that outlives its Function (still in flight, or held)
// update nothing of it and never bring it back; its billing line is still
// written, and its invocation is counted under the empty labels, as a
// request for an unknown Function is. Without Follow (tests, tools) every
// Function is live.
//
// Thread-safety: all methods may be called from any thread. Events take a
// shared lock on the map of live Functions; Forget takes it exclusively, so
// series are never removed under an event that uses them.
#pragma once

#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "activator/admission/buffer.h"
#include "activator/admission/catalog.h"
#include "activator/admission/function_config.h"
#include "activator/errors.h"
#include "activator/metering/billing.h"
#include "activator/metering/load_tracker.h"
#include "activator/metering/metrics.h"
#include "common/clock.h"

namespace zs::activator {

// Everything known about one request when it ends.
struct Invocation {
  // Null when the request never reached a known Function (400/404/413/431
  // before routing); such requests are counted under empty labels and get no
  // billing record.
  std::shared_ptr<const FunctionConfig> function;
  // The X-Request-Id sent to the replica and returned to the client.
  std::string request_id;
  // The client's X-Request-Id when request_id is that value; "" when the
  // activator made request_id up. The billing record then gets a new
  // request_id of its own and keeps this one in client_request_id.
  std::string client_request_id;
  // The trigger that sent it (http/headers.h TriggerOf); "" for a client.
  std::string trigger;
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

// Sets inv.request_id to the client's X-Request-Id when it is a valid one
// (RequestIdFor), else to a new id, and inv.client_request_id to the
// client's value when it was kept. The proxy calls it once per request.
void AssignRequestId(Invocation& inv, std::string_view client_value);

class Meter final : public BufferEvents {
 public:
  Meter(Metrics& metrics, LoadTracker& load, BillingSink& billing, double default_memory_bytes);

  // Ties per-Function state to `catalog` (see the class comment). Once,
  // before traffic; the catalog must outlive the Meter.
  void Follow(InMemoryCatalog& catalog);
  // Frees the per-Function state of `removed`'s incarnation (the catalog's
  // removal listener).
  void Forget(const FunctionConfig& removed);

  void OnArrival(const FunctionConfig& config);
  void OnForwardStart(const FunctionConfig& config);
  void OnForwardEnd(const FunctionConfig& config);
  void OnConnectRetry() { metrics_.connect_retries().Increment(); }
  // A request for a capped Function went to its owner (reached), or the
  // owner could not be connected to (tried again). The owner meters and
  // bills the invocation; the relaying activator only counts it here.
  void OnRelayed(bool reached) { metrics_.Relayed(reached).Increment(); }
  // A client connection closed before a request head was complete.
  void OnConnectionClosed(std::string_view reason) { metrics_.ConnectionsClosed(reason).Increment(); }
  void OnConnectionOpened() { metrics_.open_connections().Increment(); }
  void OnConnectionEnded() { metrics_.open_connections().Decrement(); }

  void Finish(const Invocation& invocation);

  // The memory billed for `config` in bytes (its request, else its limit,
  // else the default).
  double MemoryBytes(const FunctionConfig& config) const;

  // BufferEvents.
  void OnQueued(const FunctionConfig& config, int delta) override;
  void OnColdStart(const FunctionConfig& config) override;
  void OnWakeDone(const FunctionConfig& config, const absl::Status& status) override;

 private:
  // The series of config's Function with mu_ held shared by `lock`, or null
  // (lock not held) when that incarnation is not live.
  FunctionMetrics* Live(const FunctionConfig& config, std::shared_lock<std::shared_mutex>& lock);
  bool IsLive(const FunctionConfig& config) const;

  struct Tracked {
    uint64_t incarnation = 0;
    FunctionMetrics* metrics = nullptr;
  };

  Metrics& metrics_;
  LoadTracker& load_;
  BillingSink& billing_;
  const double default_memory_bytes_;
  const FunctionCatalog* catalog_ = nullptr;  // set once by Follow, before traffic
  std::shared_mutex mu_;
  std::unordered_map<FunctionKey, Tracked, FunctionKeyHash> tracked_;
};

}  // namespace zs::activator
