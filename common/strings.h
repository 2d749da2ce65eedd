// String helpers. Debian's Abseil is built with its own absl::string_view
// (not an alias of std::string_view), so absl::StrCat does not accept
// std::string_view; Cat() is the project's concatenation instead.
#pragma once

#include <sstream>
#include <string>
#include <string_view>

namespace zs {

template <typename... Parts>
std::string Cat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

// absl::Status::message() as a std::string.
template <typename StatusLike>
std::string Message(const StatusLike& status) {
  return std::string(status.message());
}

}  // namespace zs
