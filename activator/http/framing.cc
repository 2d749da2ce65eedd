#include "activator/http/framing.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace zs::activator {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The transfer codings of every Transfer-Encoding field line, in order;
// nullopt when there is none. Empty list elements are skipped (RFC 9110 §5.6.1).
template <class Fields>
std::optional<std::vector<std::string_view>> TransferCodings(const Fields& fields) {
  std::optional<std::vector<std::string_view>> codings;
  for (auto it = fields.find(bhttp::field::transfer_encoding);
       it != fields.end() && it->name() == bhttp::field::transfer_encoding; ++it) {
    if (!codings) codings.emplace();
    std::string_view value = FromBeast(it->value());
    while (!value.empty()) {
      const size_t comma = value.find(',');
      const std::string_view element = Trim(value.substr(0, comma));
      if (!element.empty()) codings->push_back(element);
      if (comma == std::string_view::npos) break;
      value.remove_prefix(comma + 1);
    }
  }
  return codings;
}

// Whether the codings are exactly "chunked".
bool OnlyChunked(const std::vector<std::string_view>& codings) {
  return codings.size() == 1 && EqualsIgnoreCase(codings[0], "chunked");
}

bool HasControlBytes(std::string_view value) {
  for (const char c : value) {
    if (c == '\r' || c == '\n' || c == '\0') return true;
  }
  return false;
}

// The one Content-Length all field lines agree on; nullopt if they disagree
// or any element is not a plain decimal number.
template <class Fields>
std::optional<uint64_t> AgreedContentLength(const Fields& fields) {
  std::optional<uint64_t> agreed;
  for (auto it = fields.find(bhttp::field::content_length);
       it != fields.end() && it->name() == bhttp::field::content_length; ++it) {
    std::string_view value = FromBeast(it->value());
    for (;;) {
      const size_t comma = value.find(',');
      const std::string_view element = Trim(value.substr(0, comma));
      uint64_t n = 0;
      const auto [end, ec] = std::from_chars(element.data(), element.data() + element.size(), n);
      if (element.empty() || ec != std::errc() || end != element.data() + element.size()) return std::nullopt;
      if (agreed && *agreed != n) return std::nullopt;
      agreed = n;
      if (comma == std::string_view::npos) break;
      value.remove_prefix(comma + 1);
    }
  }
  return agreed;
}

bool StatusHasNoBody(unsigned status) { return status / 100 == 1 || status == 204 || status == 304; }

}  // namespace

ProxyError CheckRequestFraming(Request& request) {
  for (const auto& field : request) {
    if (HasControlBytes(FromBeast(field.value())) || HasControlBytes(FromBeast(field.name_string())))
      return ProxyError::kBadRequest;
  }
  const size_t hosts = request.count(bhttp::field::host);
  if (hosts > 1 || (request.version() >= 11 && hosts == 0)) return ProxyError::kBadRequest;

  const bool has_length = request.count(bhttp::field::content_length) > 0;
  if (auto codings = TransferCodings(request.base())) {
    if (request.version() < 11) return ProxyError::kBadRequest;
    if (has_length) return ProxyError::kBadRequest;
    if (codings->empty() || !EqualsIgnoreCase(codings->back(), "chunked")) return ProxyError::kBadRequest;
    if (!OnlyChunked(*codings)) return ProxyError::kNotImplemented;
    // One field line, one spelling, whatever the client sent.
    request.set(bhttp::field::transfer_encoding, "chunked");
    return ProxyError::kNone;
  }
  if (has_length) {
    const auto length = AgreedContentLength(request.base());
    if (!length) return ProxyError::kBadRequest;
    request.set(bhttp::field::content_length, std::to_string(*length));
  }
  return ProxyError::kNone;
}

std::string UpgradeToForward(const Request& request) {
  if (request.version() != 11) return {};
  const auto upgrade = request.find(bhttp::field::upgrade);
  if (upgrade == request.end() || Trim(FromBeast(upgrade->value())).empty()) return {};
  if (request.count(bhttp::field::upgrade) > 1) return {};
  if (request.count(bhttp::field::transfer_encoding) > 0) return {};
  if (auto length = request.find(bhttp::field::content_length);
      length != request.end() && FromBeast(length->value()) != "0") {
    return {};
  }
  bool named = false;
  for (auto it = request.find(bhttp::field::connection);
       it != request.end() && it->name() == bhttp::field::connection; ++it) {
    for (const auto& token : bhttp::token_list(it->value()))
      named = named || EqualsIgnoreCase(FromBeast(token), "upgrade");
  }
  if (!named) return {};
  return std::string(Trim(FromBeast(upgrade->value())));
}

ResponseFraming FrameResponseForClient(Response& response, std::optional<uint64_t> parsed_length,
                                       unsigned client_version, bool head_request) {
  ResponseFraming framing;
  const unsigned status = response.result_int();
  const auto codings = TransferCodings(response.base());
  if (codings && !OnlyChunked(*codings)) {
    framing.malformed = true;
    return framing;
  }
  const bool upstream_chunked = codings.has_value();
  const bool upstream_length = !upstream_chunked && parsed_length.has_value();
  // A body the replica ends by closing (no length, not chunked), unless the
  // status or the method rules out any body.
  framing.upstream_close_delimited =
      !upstream_chunked && !upstream_length && !head_request && !StatusHasNoBody(status);
  if (upstream_chunked) response.erase(bhttp::field::content_length);  // chunked wins (RFC 9112 §6.3)

  if (head_request || StatusHasNoBody(status)) {
    framing.client = ClientBodyFraming::kNone;
    return framing;
  }
  if (upstream_length) {
    // Several identical Content-Length values become one.
    response.content_length(*parsed_length);
    framing.client = ClientBodyFraming::kLength;
    return framing;
  }
  if (client_version >= 11) {
    response.erase(bhttp::field::content_length);
    response.set(bhttp::field::transfer_encoding, "chunked");
    framing.client = ClientBodyFraming::kChunked;
    return framing;
  }
  // An HTTP/1.0 client cannot read chunks: raw bytes, ended by our close.
  response.erase(bhttp::field::transfer_encoding);
  response.erase(bhttp::field::content_length);
  framing.client = ClientBodyFraming::kClose;
  return framing;
}

bool UpstreamReusable(const UpstreamExchangeState& state) {
  return state.response_complete && state.response_keep_alive && !state.close_delimited &&
         state.request_complete && !state.stray_bytes && !state.switched_protocols;
}

std::optional<Duration> KeepAliveTimeoutHint(const Response& response) {
  auto it = response.find(bhttp::field::keep_alive);
  if (it == response.end()) return std::nullopt;
  std::string_view value = FromBeast(it->value());
  while (!value.empty()) {
    const size_t comma = value.find(',');
    const std::string_view element = Trim(value.substr(0, comma));
    const size_t eq = element.find('=');
    if (eq != std::string_view::npos && EqualsIgnoreCase(Trim(element.substr(0, eq)), "timeout")) {
      const std::string_view number = Trim(element.substr(eq + 1));
      uint64_t seconds = 0;
      const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), seconds);
      if (ec != std::errc() || end != number.data() + number.size()) return std::nullopt;
      return std::chrono::seconds(std::min<uint64_t>(seconds, 3600));
    }
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return std::nullopt;
}

bool ClientReusable(bool request_body_read, bool keep_alive_wanted, ClientBodyFraming framing) {
  return request_body_read && keep_alive_wanted && framing != ClientBodyFraming::kClose;
}

}  // namespace zs::activator
