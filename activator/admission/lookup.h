// Stage 1, lookup: from a request's target and Host to a Function and the
// path the function sees.
//
//   /fn/<namespace>/<name>/<rest>?<query>  ->  /<rest>?<query>
//   Host: <name>.<namespace>.<domain>      ->  the target as is
//
// Host routing wins when the Host matches the domain. Names are matched as
// Kubernetes spells them (lowercase DNS labels; the Host is lowercased
// first). An absolute-form target (http://host/path) routes by its
// authority, as RFC 9112 §3.2.2 asks of servers.
//
// Pure functions; safe from any thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "activator/admission/catalog.h"

namespace zs::activator {

struct Route {
  std::string ns;
  std::string name;
  // What goes on the upstream request line: origin-form, starts with '/'.
  std::string upstream_target;
  // The function-relative path without the query, for billing records.
  std::string path;
  bool by_host = false;

  std::string FunctionString() const { return ns + "/" + name; }
};

// nullopt when the request names no Function in either form.
std::optional<Route> ResolveRoute(std::string_view target, std::string_view host, std::string_view domain);

// The Function of `route`, or null when it is not known.
std::shared_ptr<const FunctionConfig> LookupFunction(const FunctionCatalog& catalog, const Route& route);

// Whether `text` is a plausible Kubernetes object name (DNS-1123 subdomain
// characters, 1..253 long).
bool IsObjectName(std::string_view text);

}  // namespace zs::activator
