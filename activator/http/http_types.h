// The Beast message types of the data path, in one place.
#pragma once

#include <string_view>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/serializer.hpp>

#include "activator/http/recycling_allocator.h"

namespace zs::activator {

namespace bhttp = boost::beast::http;

// Bodies are relayed in chunks through caller-owned buffers, never held
// whole. Header fields live in blocks the worker thread recycles
// (recycling_allocator.h): parsing and rewriting a head allocates nothing
// in steady state.
using FieldAllocator = RecyclingAllocator<char>;
using Fields = bhttp::basic_fields<FieldAllocator>;
using RequestParser = bhttp::parser<true, bhttp::buffer_body, FieldAllocator>;
using ResponseParser = bhttp::parser<false, bhttp::buffer_body, FieldAllocator>;
using Request = bhttp::request<bhttp::buffer_body, Fields>;
using Response = bhttp::response<bhttp::buffer_body, Fields>;
using RequestSerializer = bhttp::request_serializer<bhttp::buffer_body, Fields>;
using ResponseSerializer = bhttp::response_serializer<bhttp::buffer_body, Fields>;
// The buffer a connection's heads are read into (client and replica side).
using ReadBuffer = boost::beast::basic_flat_buffer<FieldAllocator>;

// Boost 1.74's Beast speaks boost::string_view; the project speaks std.
inline boost::beast::string_view ToBeast(std::string_view s) { return {s.data(), s.size()}; }
inline std::string_view FromBeast(boost::beast::string_view s) { return {s.data(), s.size()}; }

// ASCII case-insensitive equality, as HTTP field names and tokens compare.
inline bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return boost::beast::iequals(ToBeast(a), ToBeast(b));
}

}  // namespace zs::activator
