#include "common/api/quantity.h"

#include <cmath>
#include <cstdlib>
#include <string>

namespace zs::api {

std::optional<double> ParseQuantity(std::string_view text) {
  if (text.empty()) return std::nullopt;
  size_t pos = 0;
  if (text[pos] == '+' || text[pos] == '-') ++pos;
  size_t digits = 0;
  bool dot = false;
  while (pos < text.size() && ((text[pos] >= '0' && text[pos] <= '9') || (text[pos] == '.' && !dot))) {
    if (text[pos] == '.')
      dot = true;
    else
      ++digits;
    ++pos;
  }
  if (digits == 0) return std::nullopt;
  const double number = std::strtod(std::string(text.substr(0, pos)).c_str(), nullptr);
  std::string_view suffix = text.substr(pos);
  double scale = 1;
  if (suffix.empty())
    scale = 1;
  else if (suffix == "Ki")
    scale = 1024.0;
  else if (suffix == "Mi")
    scale = std::pow(1024.0, 2);
  else if (suffix == "Gi")
    scale = std::pow(1024.0, 3);
  else if (suffix == "Ti")
    scale = std::pow(1024.0, 4);
  else if (suffix == "Pi")
    scale = std::pow(1024.0, 5);
  else if (suffix == "Ei")
    scale = std::pow(1024.0, 6);
  else if (suffix == "n")
    scale = 1e-9;
  else if (suffix == "u")
    scale = 1e-6;
  else if (suffix == "m")
    scale = 1e-3;
  else if (suffix == "k")
    scale = 1e3;
  else if (suffix == "M")
    scale = 1e6;
  else if (suffix == "G")
    scale = 1e9;
  else if (suffix == "T")
    scale = 1e12;
  else if (suffix == "P")
    scale = 1e15;
  else if (suffix == "E")
    scale = 1e18;
  else if (suffix[0] == 'e' || suffix[0] == 'E') {
    std::string exp(suffix.substr(1));
    if (exp.empty()) return std::nullopt;
    char* end = nullptr;
    long e = std::strtol(exp.c_str(), &end, 10);
    if (end != exp.c_str() + exp.size()) return std::nullopt;
    scale = std::pow(10.0, static_cast<double>(e));
  } else {
    return std::nullopt;
  }
  return number * scale;
}

}  // namespace zs::api
