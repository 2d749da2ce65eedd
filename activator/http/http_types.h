// The Beast message types of the data path, in one place.
#pragma once

#include <string_view>

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/serializer.hpp>

namespace zs::activator {

namespace bhttp = boost::beast::http;

// Bodies are relayed in chunks through caller-owned buffers, never held whole.
using RequestParser = bhttp::request_parser<bhttp::buffer_body>;
using ResponseParser = bhttp::response_parser<bhttp::buffer_body>;
using Request = bhttp::request<bhttp::buffer_body>;
using Response = bhttp::response<bhttp::buffer_body>;

// Boost 1.74's Beast speaks boost::string_view; the project speaks std.
inline boost::beast::string_view ToBeast(std::string_view s) { return {s.data(), s.size()}; }
inline std::string_view FromBeast(boost::beast::string_view s) { return {s.data(), s.size()}; }

// ASCII case-insensitive equality, as HTTP field names and tokens compare.
inline bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return boost::beast::iequals(ToBeast(a), ToBeast(b));
}

}  // namespace zs::activator
