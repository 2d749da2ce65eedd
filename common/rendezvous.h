// Rendezvous (highest random weight) hashing: which of several candidates
// owns a key. Every process that sees the same candidates picks the same
// owner, and when a candidate joins or leaves only the keys it wins or held
// move. The controller and the activators both use it to agree on which
// activator serves a capped Function (docs/invocation.md, "Several
// activators"), so the hash is fixed: FNV-1a 64 over key, a NUL and the
// candidate, finished with splitmix64's mixer. Changing it is a protocol
// change.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace zs {

uint64_t RendezvousScore(std::string_view key, std::string_view candidate);

// Index of the owner of `key` among `candidates` (ties, which need equal
// candidates, go to the lowest index); nullopt when there is none.
std::optional<size_t> RendezvousOwner(std::string_view key, const std::vector<std::string>& candidates);

}  // namespace zs
