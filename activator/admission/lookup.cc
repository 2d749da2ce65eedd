#include "activator/admission/lookup.h"

#include <algorithm>
#include <cctype>

namespace zs::activator {
namespace {

constexpr std::string_view kPrefix = "/fn/";

std::string Lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// "host:port" / "[v6]:port" -> host.
std::string_view StripPort(std::string_view host) {
  if (!host.empty() && host.front() == '[') return host;  // IPv6 literal: never a function host
  const auto colon = host.rfind(':');
  return colon == std::string_view::npos ? host : host.substr(0, colon);
}

std::string_view PathOf(std::string_view target) { return target.substr(0, target.find('?')); }

}  // namespace

bool IsObjectName(std::string_view text) {
  if (text.empty() || text.size() > 253) return false;
  for (const char c : text) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
  }
  return true;
}

std::optional<Route> ResolveRoute(std::string_view target, std::string_view host, std::string_view domain) {
  // Absolute form: the authority replaces Host, the rest is the target.
  if (target.size() > 7 && (target.substr(0, 7) == "http://" || target.substr(0, 7) == "HTTP://")) {
    std::string_view rest = target.substr(7);
    const auto slash = rest.find_first_of("/?");
    host = rest.substr(0, slash);
    target = slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
  }
  if (target.empty() || (target.front() != '/' && target.front() != '?')) return std::nullopt;

  if (!domain.empty()) {
    const std::string lowered = Lower(StripPort(host));
    std::string_view h = lowered;
    if (!h.empty() && h.back() == '.') h.remove_suffix(1);  // FQDN form
    if (h.size() > domain.size() + 1 && h.substr(h.size() - domain.size()) == domain &&
        h[h.size() - domain.size() - 1] == '.') {
      const std::string_view labels = h.substr(0, h.size() - domain.size() - 1);
      const auto dot = labels.find('.');
      if (dot != std::string_view::npos && labels.find('.', dot + 1) == std::string_view::npos) {
        Route route;
        route.name = std::string(labels.substr(0, dot));
        route.ns = std::string(labels.substr(dot + 1));
        if (IsObjectName(route.name) && IsObjectName(route.ns)) {
          route.upstream_target = target.front() == '?' ? "/" + std::string(target) : std::string(target);
          route.path = std::string(PathOf(route.upstream_target));
          route.by_host = true;
          return route;
        }
      }
    }
  }

  if (target.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  std::string_view rest = target.substr(kPrefix.size());
  const auto ns_end = rest.find('/');
  if (ns_end == std::string_view::npos) return std::nullopt;
  const std::string_view ns = rest.substr(0, ns_end);
  rest = rest.substr(ns_end + 1);
  const auto name_end = rest.find_first_of("/?");
  const std::string_view name = rest.substr(0, name_end);
  if (!IsObjectName(ns) || !IsObjectName(name)) return std::nullopt;
  Route route;
  route.ns = std::string(ns);
  route.name = std::string(name);
  if (name_end == std::string_view::npos) {
    route.upstream_target = "/";
  } else if (rest[name_end] == '?') {
    route.upstream_target = "/" + std::string(rest.substr(name_end));
  } else {
    route.upstream_target = std::string(rest.substr(name_end));
  }
  route.path = std::string(PathOf(route.upstream_target));
  return route;
}

std::shared_ptr<const FunctionConfig> LookupFunction(const FunctionCatalog& catalog, const Route& route) {
  return catalog.Lookup(route.ns, route.name);
}

}  // namespace zs::activator
