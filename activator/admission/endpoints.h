// Ready endpoints per Function, after KEDA's ready_endpoints_cache: for each
// Function an immutable snapshot of its ready endpoints, swapped atomically on
// change, and a broadcast to subscribers (the cold-start buffer) on every swap.
//
// EndpointSource is what the data path reads. InMemoryEndpointStore is the
// implementation, fed by the static config today and by an EndpointSlice
// informer later (Update with the ready endpoints of all of a Function's
// slices, Remove when the Function goes away).
//
// Per-endpoint state (requests in flight, used by the balancer and the
// maxConcurrency cap) lives in an EndpointSlot that is carried over from one
// snapshot to the next for as long as the address stays ready, so a refresh
// never resets the count of an endpoint that keeps serving.
//
// Thread-safety: everything may be called from any thread. Subscribers are
// called on the updating thread, after the new snapshot is visible, without
// the store's lock held; they must be quick (the buffer posts work).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "activator/admission/function_config.h"

namespace zs::activator {

struct Endpoint {
  std::string ip;
  uint16_t port = 0;
  // Pod name behind the address, for billing records; may be empty.
  std::string pod;

  // "ip:port" ("[ip]:port" for IPv6).
  std::string Address() const;
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

// Parses "ip:port" or "[ip6]:port"; false when malformed.
bool ParseEndpoint(std::string_view text, Endpoint* out);

// One ready endpoint and the live count of requests on it.
class EndpointSlot {
 public:
  explicit EndpointSlot(Endpoint endpoint);
  const Endpoint& endpoint() const { return endpoint_; }
  const std::string& address() const { return address_; }
  int32_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }

  // Takes one request slot unless that would exceed `max_concurrency`
  // (0 = unbounded). Lock-free.
  bool TryAcquire(int32_t max_concurrency);
  void Release();

 private:
  const Endpoint endpoint_;
  const std::string address_;
  std::atomic<int32_t> in_flight_{0};
};

struct EndpointSet {
  // Increases with every change of any Function (0 only for the empty set).
  uint64_t version = 0;
  std::vector<std::shared_ptr<EndpointSlot>> endpoints;
  bool empty() const { return endpoints.empty(); }
};

class EndpointSource {
 public:
  virtual ~EndpointSource() = default;
  using Listener = std::function<void(const FunctionKey& key, const EndpointSet& ready)>;

  // The current snapshot; never null (an empty set when none is known).
  virtual std::shared_ptr<const EndpointSet> Ready(const FunctionKey& key) const = 0;
  // Registers a listener for every later change. Listeners live as long as
  // the source; register them before traffic starts.
  virtual void Subscribe(Listener listener) = 0;
};

class InMemoryEndpointStore final : public EndpointSource {
 public:
  InMemoryEndpointStore();

  std::shared_ptr<const EndpointSet> Ready(const FunctionKey& key) const override;
  void Subscribe(Listener listener) override;

  // Replaces the ready endpoints of `key` (duplicates dropped, order kept).
  // Subscribers are told even when nothing changed, so a caller can use it
  // as a nudge; the version still increases.
  void Update(const FunctionKey& key, std::vector<Endpoint> ready);
  // Same as Update(key, {}) and forgets the key.
  void Remove(const FunctionKey& key);

 private:
  void Notify(const FunctionKey& key, const EndpointSet& set);

  const std::shared_ptr<const EndpointSet> empty_;
  mutable std::shared_mutex mu_;
  std::unordered_map<FunctionKey, std::shared_ptr<const EndpointSet>, FunctionKeyHash> sets_;
  uint64_t next_version_ = 1;  // guarded by mu_
  std::mutex listeners_mu_;
  std::vector<Listener> listeners_;
};

}  // namespace zs::activator
