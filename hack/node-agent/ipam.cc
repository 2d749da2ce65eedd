#include "hack/node-agent/ipam.h"

#include <arpa/inet.h>

#include "common/strings.h"

namespace zs::nodeagent {

absl::StatusOr<uint32_t> ParseIpv4(const std::string& text) {
  in_addr addr{};
  if (::inet_pton(AF_INET, text.c_str(), &addr) != 1)
    return absl::InvalidArgumentError(Cat("not an IPv4 address: ", text));
  return ntohl(addr.s_addr);
}

std::string FormatIpv4(uint32_t ip) {
  return Cat(ip >> 24, ".", (ip >> 16) & 255, ".", (ip >> 8) & 255, ".", ip & 255);
}

absl::StatusOr<std::unique_ptr<Ipam>> Ipam::Create(const std::string& cidr,
                                                   const std::set<std::string>& reserved) {
  size_t slash = cidr.find('/');
  if (slash == std::string::npos) return absl::InvalidArgumentError(Cat("not a CIDR: ", cidr));
  absl::StatusOr<uint32_t> base = ParseIpv4(cidr.substr(0, slash));
  if (!base.ok()) return base.status();
  int prefix = std::atoi(cidr.substr(slash + 1).c_str());
  if (prefix < 8 || prefix > 30)
    return absl::InvalidArgumentError(Cat("pod CIDR prefix must be 8..30: ", cidr));
  const uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
  const uint32_t network = *base & mask;
  const uint32_t broadcast = network | ~mask;
  std::set<uint32_t> reserved_ips;
  for (const auto& ip : reserved) {
    absl::StatusOr<uint32_t> parsed = ParseIpv4(ip);
    if (!parsed.ok()) return parsed.status();
    reserved_ips.insert(*parsed);
  }
  return std::unique_ptr<Ipam>(new Ipam(network + 1, broadcast - 1, std::move(reserved_ips)));
}

Ipam::Ipam(uint32_t first, uint32_t last, std::set<uint32_t> reserved)
    : first_(first), last_(last), reserved_(std::move(reserved)), next_(first) {}

absl::StatusOr<std::string> Ipam::Allocate() {
  std::lock_guard lock(mu_);
  const uint32_t span = last_ - first_ + 1;
  for (uint32_t i = 0; i < span; ++i) {
    uint32_t candidate = first_ + (next_ - first_ + i) % span;
    if (used_.contains(candidate) || reserved_.contains(candidate)) continue;
    used_.insert(candidate);
    next_ = candidate == last_ ? first_ : candidate + 1;
    return FormatIpv4(candidate);
  }
  return absl::ResourceExhaustedError("pod CIDR exhausted");
}

bool Ipam::Claim(const std::string& ip) {
  absl::StatusOr<uint32_t> parsed = ParseIpv4(ip);
  if (!parsed.ok() || *parsed < first_ || *parsed > last_ || reserved_.contains(*parsed)) return false;
  std::lock_guard lock(mu_);
  return used_.insert(*parsed).second;
}

void Ipam::Release(const std::string& ip) {
  absl::StatusOr<uint32_t> parsed = ParseIpv4(ip);
  if (!parsed.ok()) return;
  std::lock_guard lock(mu_);
  used_.erase(*parsed);
}

size_t Ipam::in_use() const {
  std::lock_guard lock(mu_);
  return used_.size();
}

}  // namespace zs::nodeagent
