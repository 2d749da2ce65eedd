#include "activator/http/headers.h"

#include <cstdio>
#include <random>
#include <vector>

namespace zs::activator {
namespace {

uint64_t NextRandom() {
  thread_local uint64_t state = [] {
    std::random_device device;
    return (static_cast<uint64_t>(device()) << 32) ^ device() ^ 0x6a09e667f3bcc909ULL;
  }();
  // splitmix64
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::string_view View(boost::beast::string_view s) { return std::string_view(s.data(), s.size()); }

// Removes hop-by-hop fields, including those the Connection field names
// (RFC 9110 §7.6.1). Content-Length and Transfer-Encoding are kept.
template <class HeaderFields>
void RemoveHopByHop(HeaderFields& fields) {
  std::vector<std::string> named;
  for (auto it = fields.find(bhttp::field::connection);
       it != fields.end() && it->name() == bhttp::field::connection; ++it) {
    for (const auto& token : bhttp::token_list(it->value())) {
      const std::string_view t = View(token);
      if (EqualsIgnoreCase(t, "close") || EqualsIgnoreCase(t, "keep-alive")) continue;
      if (EqualsIgnoreCase(t, "content-length") || EqualsIgnoreCase(t, "transfer-encoding") ||
          EqualsIgnoreCase(t, "host")) {
        continue;  // never let a client strip the framing or the Host
      }
      named.emplace_back(t);
    }
  }
  for (const auto& name : named) fields.erase(ToBeast(name));
  fields.erase(bhttp::field::connection);
  fields.erase(bhttp::field::keep_alive);
  fields.erase(bhttp::field::proxy_connection);
  fields.erase(bhttp::field::te);
  fields.erase(bhttp::field::trailer);
  fields.erase(bhttp::field::upgrade);
}

}  // namespace

std::string NewRequestId() {
  const uint64_t hi = NextRandom();
  const uint64_t lo = NextRandom();
  // UUID version 4, variant 10xx.
  char out[37];
  std::snprintf(out, sizeof(out), "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xffff), static_cast<unsigned>(hi & 0x0fff),
                static_cast<unsigned>(((lo >> 48) & 0x3fff) | 0x8000),
                static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return std::string(out, 36);
}

std::string RequestIdFor(std::string_view client_value) {
  if (client_value.empty() || client_value.size() > 128) return NewRequestId();
  for (const char c : client_value) {
    if (c <= 0x20 || c >= 0x7f) return NewRequestId();
  }
  return std::string(client_value);
}

namespace {

void AppendForwardedFor(Request& request, std::string_view client_ip) {
  // Built in a buffer the thread reuses: a list behind other proxies
  // outgrows a short string's inline space on every request.
  thread_local std::string forwarded_for;
  forwarded_for.clear();
  for (auto it = request.find("X-Forwarded-For");
       it != request.end() && EqualsIgnoreCase(View(it->name_string()), "X-Forwarded-For"); ++it) {
    if (!forwarded_for.empty()) forwarded_for.append(", ");
    forwarded_for.append(View(it->value()));
  }
  if (!forwarded_for.empty()) forwarded_for.append(", ");
  forwarded_for.append(client_ip);
  request.set("X-Forwarded-For", forwarded_for);
  if (forwarded_for.capacity() > 4096) std::string().swap(forwarded_for);  // one huge list is not kept
}

}  // namespace

void PrepareUpstreamRequest(Request& request, const Route& route, std::string_view client_ip,
                            std::string_view request_id, std::string_view upgrade) {
  RemoveHopByHop(request.base());
  request.erase(bhttp::field::expect);  // the activator answers 100-continue itself
  // Credentials for a proxy are meant for us, never for the function.
  request.erase(bhttp::field::proxy_authorization);
  request.target(ToBeast(route.upstream_target));
  request.version(11);
  // A view: the Host field itself is neither removed nor rewritten below.
  const std::string_view host = View(request[bhttp::field::host]);

  AppendForwardedFor(request, client_ip);
  if (request.find("X-Forwarded-Proto") == request.end()) request.set("X-Forwarded-Proto", "http");
  if (request.find("X-Forwarded-Host") == request.end() && !host.empty())
    request.set("X-Forwarded-Host", ToBeast(host));
  request.set("X-Request-Id", ToBeast(request_id));
  if (!upgrade.empty()) {
    request.set(bhttp::field::connection, "upgrade");
    request.set(bhttp::field::upgrade, ToBeast(upgrade));
  }
}

std::string TriggerOf(const Request& request, const std::vector<std::string>& triggers) {
  const boost::beast::string_view name(kTriggerHeader.data(), kTriggerHeader.size());
  if (triggers.empty() || request.count(name) != 1) return {};
  const std::string_view value = View(request[name]);
  for (const std::string& trigger : triggers) {
    if (value == trigger) return trigger;
  }
  return {};
}

bool TakeRelayMark(Request& request) {
  const boost::beast::string_view name(kRelayedByHeader.data(), kRelayedByHeader.size());
  const bool present = request.find(name) != request.end();
  request.erase(name);
  return present;
}

void PrepareRelayRequest(Request& request, std::string_view client_ip, std::string_view self,
                         std::string_view upgrade) {
  RemoveHopByHop(request.base());
  request.erase(bhttp::field::expect);
  request.erase(bhttp::field::proxy_authorization);
  request.version(11);
  AppendForwardedFor(request, client_ip);
  request.set(boost::beast::string_view(kRelayedByHeader.data(), kRelayedByHeader.size()), ToBeast(self));
  if (!upgrade.empty()) {
    request.set(bhttp::field::connection, "upgrade");
    request.set(bhttp::field::upgrade, ToBeast(upgrade));
  }
}

void PrepareClientResponse(Response& response, std::string_view request_id, unsigned client_version,
                           bool keep_alive) {
  RemoveHopByHop(response.base());
  if (!request_id.empty()) response.set("X-Request-Id", ToBeast(request_id));
  response.version(client_version == 10 ? 10 : 11);
  response.keep_alive(keep_alive);
}

void PrepareSwitchingResponse(Response& response, std::string_view request_id) {
  const std::string upgrade(View(response[bhttp::field::upgrade]));
  RemoveHopByHop(response.base());
  if (!request_id.empty()) response.set("X-Request-Id", ToBeast(request_id));
  response.version(11);
  response.set(bhttp::field::connection, "upgrade");
  if (!upgrade.empty()) response.set(bhttp::field::upgrade, ToBeast(upgrade));
}

}  // namespace zs::activator
