#include "activator/http/parse.h"

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>

#include "activator/admission/lookup.h"
#include "activator/http/framing.h"
#include "activator/http/headers.h"

namespace zs::activator {

void ConfigureRequestParser(RequestParser& parser, const ParseLimits& limits) {
  parser.header_limit(limits.max_header_bytes);
  parser.body_limit(limits.max_body_bytes);
}

ProxyError ClassifyParseError(const boost::system::error_code& ec) {
  if (ec == bhttp::error::header_limit) return ProxyError::kHeaderTooLarge;
  if (ec == bhttp::error::body_limit) return ProxyError::kBodyTooLarge;
  return ProxyError::kBadRequest;
}

bool IsConnectionError(const boost::system::error_code& ec) {
  namespace aerr = boost::asio::error;
  return ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message || ec == aerr::eof ||
         ec == aerr::connection_reset || ec == aerr::broken_pipe || ec == aerr::operation_aborted ||
         ec == aerr::connection_aborted || ec == aerr::not_connected || ec == aerr::bad_descriptor ||
         ec == boost::beast::error::timeout;
}

std::string ParseForFuzzing(const uint8_t* data, size_t size, const ParseLimits& limits,
                            std::string_view domain) {
  RequestParser parser;
  ConfigureRequestParser(parser, limits);
  parser.eager(true);
  char body[512];
  size_t offset = 0;
  boost::system::error_code ec;
  bool header_seen = false;
  std::string outcome = "incomplete";
  // Each round either consumes input or frees the body buffer; a round that
  // does neither means the parser wants more bytes than there are.
  while (!parser.is_done()) {
    parser.get().body().data = body;
    parser.get().body().size = sizeof(body);
    const size_t used =
        parser.put(boost::asio::buffer(reinterpret_cast<const char*>(data) + offset, size - offset), ec);
    offset += used;
    const bool body_full = parser.get().body().size == 0;
    if (ec == bhttp::error::need_buffer) ec = {};
    if (ec == bhttp::error::need_more) {
      // Every remaining byte was offered: the message is incomplete. (Calling
      // put() again without new bytes breaks Beast's contract; its chunk
      // parser asserts on it, as libFuzzer found.)
      ec = {};
      break;
    }
    if (ec) return std::to_string(Spec(ClassifyParseError(ec)).http_status);
    if (parser.is_header_done() && !header_seen) header_seen = true;
    if (used == 0 && !body_full) {
      if (offset >= size) {
        // Close-delimited or truncated input: tell the parser the stream ended.
        parser.put_eof(ec);
        if (ec) return std::to_string(Spec(ClassifyParseError(ec)).http_status);
      }
      break;
    }
  }
  if (!header_seen && !parser.is_header_done()) return outcome;

  Request& request = parser.get();
  if (const ProxyError framing = CheckRequestFraming(request); framing != ProxyError::kNone)
    return std::to_string(Spec(framing).http_status);
  const auto target = request.target();
  const auto host = request[bhttp::field::host];
  auto route = ResolveRoute(std::string_view(target.data(), target.size()),
                            std::string_view(host.data(), host.size()), domain);
  if (!route) return "404";
  const auto id_field = request["X-Request-Id"];
  const std::string request_id = RequestIdFor(std::string_view(id_field.data(), id_field.size()));
  const unsigned version = request.version();
  const bool keep_alive = request.keep_alive();
  const auto connection_field = request[bhttp::field::connection];
  const std::string connection(connection_field.data(), connection_field.size());
  PrepareUpstreamRequest(request, *route, "192.0.2.1", request_id);

  Response response;
  response.result(bhttp::status::ok);
  response.set(bhttp::field::transfer_encoding, "chunked");
  if (!connection.empty()) response.set(bhttp::field::connection, connection);
  const ResponseFraming framing = FrameResponseForClient(response, std::nullopt, version, false);
  PrepareClientResponse(response, request_id, version, ClientReusable(true, keep_alive, framing.client));
  return "routed " + route->FunctionString();
}

}  // namespace zs::activator
