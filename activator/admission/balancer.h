// Stage 3, balance: which ready replica takes a request.
//
// Least requests in flight, by the power of two random choices (Mitzenmacher)
// over the snapshot, falling back to a full scan for small sets and when both
// choices are full; never more than maxConcurrency (when > 0) on one replica.
// The claim is an atomic increment on the endpoint's slot, so activator
// threads never exceed the cap together.
//
// Thread-safety: Pick may be called from any thread concurrently; the random
// state is thread-local.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "activator/admission/endpoints.h"

namespace zs::activator {

// Claims a request slot on one endpoint of `set` that is below
// `max_concurrency` (0 = unbounded) and not named in `avoid`; null when none
// can take the request. The caller owns the claim and must Release() it.
std::shared_ptr<EndpointSlot> PickEndpoint(const EndpointSet& set, int32_t max_concurrency,
                                           const std::vector<std::string>* avoid = nullptr);

// Seeds this thread's random state (tests, for repeatable picks).
void SeedBalancer(uint64_t seed);

}  // namespace zs::activator
