#include "activator/admission/balancer.h"

#include <algorithm>
#include <limits>
#include <random>

namespace zs::activator {
namespace {

uint64_t& RandomState() {
  thread_local uint64_t state = [] {
    std::random_device device;
    return (static_cast<uint64_t>(device()) << 32) ^ device() ^ 0x9e3779b97f4a7c15ULL;
  }();
  return state;
}

// xorshift64*: plenty for picking replicas, and no lock.
uint64_t NextRandom() {
  uint64_t& x = RandomState();
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  return x * 0x2545F4914F6CDD1DULL;
}

bool Avoided(const EndpointSlot& slot, const std::vector<std::string>* avoid) {
  return avoid != nullptr && std::find(avoid->begin(), avoid->end(), slot.address()) != avoid->end();
}

bool HasRoom(const EndpointSlot& slot, int32_t max_concurrency) {
  return max_concurrency <= 0 || slot.in_flight() < max_concurrency;
}

// The least loaded eligible endpoint, claimed; retries when another thread
// filled it between the look and the claim.
std::shared_ptr<EndpointSlot> Scan(const EndpointSet& set, int32_t max_concurrency,
                                   const std::vector<std::string>* avoid) {
  const size_t n = set.endpoints.size();
  for (int attempt = 0; attempt < 4; ++attempt) {
    const size_t start = static_cast<size_t>(NextRandom() % n);  // no bias towards the first endpoint on ties
    std::shared_ptr<EndpointSlot> best;
    int32_t best_load = std::numeric_limits<int32_t>::max();
    for (size_t k = 0; k < n; ++k) {
      const auto& slot = set.endpoints[(start + k) % n];
      if (Avoided(*slot, avoid) || !HasRoom(*slot, max_concurrency)) continue;
      if (slot->in_flight() < best_load) {
        best_load = slot->in_flight();
        best = slot;
      }
    }
    if (!best) return nullptr;
    if (best->TryAcquire(max_concurrency)) return best;
  }
  return nullptr;
}

}  // namespace

void SeedBalancer(uint64_t seed) { RandomState() = seed == 0 ? 1 : seed; }

std::shared_ptr<EndpointSlot> PickEndpoint(const EndpointSet& set, int32_t max_concurrency,
                                           const std::vector<std::string>* avoid) {
  const size_t n = set.endpoints.size();
  if (n == 0) return nullptr;
  if (n <= 3 || (avoid != nullptr && !avoid->empty())) return Scan(set, max_concurrency, avoid);
  const size_t i = static_cast<size_t>(NextRandom() % n);
  size_t j = static_cast<size_t>(NextRandom() % (n - 1));
  if (j >= i) ++j;
  const auto& a = set.endpoints[i];
  const auto& b = set.endpoints[j];
  const auto& first = a->in_flight() <= b->in_flight() ? a : b;
  const auto& second = &first == &a ? b : a;
  if (first->TryAcquire(max_concurrency)) return first;
  if (second->TryAcquire(max_concurrency)) return second;
  return Scan(set, max_concurrency, avoid);
}

}  // namespace zs::activator
