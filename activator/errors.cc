#include "activator/errors.h"

#include <array>
#include <cstdio>

namespace zs::activator {
namespace {

constexpr std::array<ErrorSpec, 14> kTable = {{
    {ProxyError::kNone, 200, "", "", false},
    {ProxyError::kUnknownFunction, 404, "", "function not found", false},
    {ProxyError::kBadRequest, 400, "bad_request", "malformed request", false},
    {ProxyError::kBodyTooLarge, 413, "bad_request", "request body too large", false},
    {ProxyError::kHeaderTooLarge, 431, "bad_request", "request header fields too large", false},
    {ProxyError::kQueueFull, 503, "queue_full", "request buffer is full", true},
    {ProxyError::kQueueTimeout, 504, "queue_timeout", "no replica became ready within buffer.timeoutSeconds",
     false},
    {ProxyError::kShuttingDown, 503, "shutdown", "activator is shutting down", true},
    {ProxyError::kExecTimeout, 504, "exec_timeout", "invocation exceeded timeoutSeconds", false},
    {ProxyError::kUpstreamError, 502, "upstream_error", "function replica failed", false},
    {ProxyError::kClientClosed, 499, "client_closed", "client closed the connection", false},
    {ProxyError::kNotImplemented, 501, "bad_request", "transfer coding not implemented", false},
    {ProxyError::kDrainCut, 504, "shutdown", "activator shut down before the function answered", false},
    {ProxyError::kClientBodyTimeout, 408, "client_timeout", "request body not received in time", false},
}};

// The table is indexed by the enum; keep them in step at compile time.
constexpr bool TableInOrder() {
  for (size_t i = 0; i < kTable.size(); ++i) {
    if (static_cast<size_t>(kTable[i].error) != i) return false;
  }
  return true;
}
static_assert(TableInOrder(), "kTable rows must follow ProxyError's order");

}  // namespace

const ErrorSpec& Spec(ProxyError error) {
  const auto index = static_cast<size_t>(error);
  return index < kTable.size() ? kTable[index] : kTable[static_cast<size_t>(ProxyError::kUpstreamError)];
}

void AppendJsonString(std::string& out, std::string_view text) {
  out.push_back('"');
  for (const char c : text) {
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          char escaped[8];
          std::snprintf(escaped, sizeof(escaped), "\\u%04x",
                        static_cast<unsigned>(static_cast<unsigned char>(c)));
          out.append(escaped);
        } else if (static_cast<unsigned char>(c) >= 0x80) {
          // Bytes from the wire are not guaranteed UTF-8; keep the line valid
          // JSON by escaping every non-ASCII byte as its Latin-1 code point.
          char escaped[8];
          std::snprintf(escaped, sizeof(escaped), "\\u%04x",
                        static_cast<unsigned>(static_cast<unsigned char>(c)));
          out.append(escaped);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

std::string ErrorBody(ProxyError error, std::string_view function) {
  std::string body;
  body.reserve(96);
  body.append("{\"error\":");
  AppendJsonString(body, Spec(error).message);
  body.append(",\"function\":");
  AppendJsonString(body, function);
  body.append("}");
  return body;
}

}  // namespace zs::activator
