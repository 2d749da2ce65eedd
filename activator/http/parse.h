// Reading a client's request head: the one place where the parser's limits
// are set and where parse errors become ProxyErrors. The proxy and the fuzz
// target (fuzz/, and the deterministic corpus test) use the same functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/system/error_code.hpp>

#include "activator/errors.h"
#include "activator/http/http_types.h"

namespace zs::activator {

struct ParseLimits {
  uint32_t max_header_bytes = 16 * 1024;
  uint64_t max_body_bytes = uint64_t{10} * 1024 * 1024;
};

void ConfigureRequestParser(RequestParser& parser, const ParseLimits& limits);

// What a failed head or body read means for the client: 431, 413 or 400.
ProxyError ClassifyParseError(const boost::system::error_code& ec);
// Whether `ec` is the peer going away or a socket failure rather than bytes
// that do not parse (nothing is answered then).
bool IsConnectionError(const boost::system::error_code& ec);

// The fuzzing entry point: parses `data` as one request with `limits`,
// relaying its body through a small buffer, and runs what the proxy runs on a
// parsed head (routing under `domain`, upstream and client head rewriting).
// Returns a short outcome ("404", "431", "routed ns/name", ...) that tests
// may look at; it never throws and never crashes on any input.
std::string ParseForFuzzing(const uint8_t* data, size_t size, const ParseLimits& limits,
                            std::string_view domain);

}  // namespace zs::activator
