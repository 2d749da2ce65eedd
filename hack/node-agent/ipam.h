// Ipam: hands out pod IPv4 addresses from one CIDR (the node's pod CIDR).
//
// Skips the network and broadcast addresses and any reserved address (the
// gateway when it falls inside the range). Allocation is round-robin from the
// last handed-out address, so a just-released address is not reused at once
// (endpoints still pointing at it would reach the wrong pod).
//
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "absl/status/statusor.h"

namespace zs::nodeagent {

absl::StatusOr<uint32_t> ParseIpv4(const std::string& text);
std::string FormatIpv4(uint32_t ip);

class Ipam {
 public:
  // cidr: "10.88.1.0/24".
  static absl::StatusOr<std::unique_ptr<Ipam>> Create(const std::string& cidr,
                                                      const std::set<std::string>& reserved = {});
  absl::StatusOr<std::string> Allocate();
  // Marks an address as used (e.g. recovered state); false if outside or taken.
  bool Claim(const std::string& ip);
  void Release(const std::string& ip);
  size_t in_use() const;

 private:
  Ipam(uint32_t first, uint32_t last, std::set<uint32_t> reserved);
  const uint32_t first_;
  const uint32_t last_;
  const std::set<uint32_t> reserved_;
  mutable std::mutex mu_;
  std::set<uint32_t> used_;
  uint32_t next_;
};

}  // namespace zs::nodeagent
