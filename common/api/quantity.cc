#include "common/api/quantity.h"

#include <cmath>
#include <cstdlib>
#include <string>

namespace zs::api {

namespace {

struct Suffix {
  std::string_view text;
  double scale;
};

constexpr double kKi = 1024.0;
constexpr double kMi = kKi * kKi;
constexpr double kGi = kMi * kKi;
constexpr double kTi = kGi * kKi;
constexpr double kPi = kTi * kKi;
constexpr double kEi = kPi * kKi;

// Kubernetes' binary and decimal suffixes ("" is a plain number).
constexpr Suffix kSuffixes[] = {
    {"", 1},
    // binary
    {"Ki", kKi},
    {"Mi", kMi},
    {"Gi", kGi},
    {"Ti", kTi},
    {"Pi", kPi},
    {"Ei", kEi},
    // decimal
    {"n", 1e-9},
    {"u", 1e-6},
    {"m", 1e-3},
    {"k", 1e3},
    {"M", 1e6},
    {"G", 1e9},
    {"T", 1e12},
    {"P", 1e15},
    {"E", 1e18},
};

// The factor a suffix stands for: one of kSuffixes, or a decimal exponent
// ("e3", "E-2"); nullopt for anything else.
std::optional<double> SuffixScale(std::string_view suffix) {
  for (const Suffix& s : kSuffixes) {
    if (s.text == suffix) return s.scale;
  }
  if (suffix[0] != 'e' && suffix[0] != 'E') return std::nullopt;
  std::string exp(suffix.substr(1));
  if (exp.empty()) return std::nullopt;
  char* end = nullptr;
  long e = std::strtol(exp.c_str(), &end, 10);
  if (end != exp.c_str() + exp.size()) return std::nullopt;
  return std::pow(10.0, static_cast<double>(e));
}

}  // namespace

std::optional<double> ParseQuantity(std::string_view text) {
  if (text.empty()) return std::nullopt;
  size_t pos = 0;
  if (text[pos] == '+' || text[pos] == '-') ++pos;
  size_t digits = 0;
  bool dot = false;
  while (pos < text.size() && ((text[pos] >= '0' && text[pos] <= '9') || (text[pos] == '.' && !dot))) {
    if (text[pos] == '.') {
      dot = true;
    } else {
      ++digits;
    }
    ++pos;
  }
  if (digits == 0) return std::nullopt;
  const double number = std::strtod(std::string(text.substr(0, pos)).c_str(), nullptr);
  const std::optional<double> scale = SuffixScale(text.substr(pos));
  if (!scale) return std::nullopt;
  return number * *scale;
}

}  // namespace zs::api
