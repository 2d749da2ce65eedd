#include "common/api/quantity.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace zs::api {

namespace {

struct Suffix {
  std::string_view text;
  int exponent10;
  int exponent2;
};

// Kubernetes' binary and decimal suffixes.
constexpr Suffix kSuffixes[] = {
    {"Ki", 0, 10}, {"Mi", 0, 20}, {"Gi", 0, 30}, {"Ti", 0, 40}, {"Pi", 0, 50},
    {"Ei", 0, 60}, {"n", -9, 0},  {"u", -6, 0},  {"m", -3, 0},  {"k", 3, 0},
    {"M", 6, 0},   {"G", 9, 0},   {"T", 12, 0},  {"P", 15, 0},  {"E", 18, 0},
};

// The longest decimal exponent ("1e99"): Kubernetes reads an exponent into
// 32 bits by truncation, so a longer one would not mean what it says.
constexpr size_t kMaxExponentDigits = 2;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// A quantity split into its parts, not yet evaluated.
struct Parts {
  bool negative = false;
  std::string_view integer;   // digits before the '.'
  std::string_view fraction;  // digits after it
  int exponent10 = 0;
  int exponent2 = 0;  // non-zero only for binary suffixes (Kubernetes' BinarySI)
};

std::optional<Parts> Split(std::string_view text) {
  Parts parts;
  size_t pos = 0;
  auto digits_end = [&](size_t from) {
    while (from < text.size() && IsDigit(text[from])) ++from;
    return from;
  };
  if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) parts.negative = text[pos++] == '-';
  size_t end = digits_end(pos);
  parts.integer = text.substr(pos, end - pos);
  pos = end;
  if (pos < text.size() && text[pos] == '.') {
    end = digits_end(pos + 1);
    parts.fraction = text.substr(pos + 1, end - pos - 1);
    pos = end;
  }
  if (parts.integer.empty() && parts.fraction.empty()) return std::nullopt;
  const std::string_view suffix = text.substr(pos);
  if (suffix.empty()) return parts;
  for (const Suffix& s : kSuffixes) {
    if (s.text == suffix) {
      parts.exponent10 = s.exponent10;
      parts.exponent2 = s.exponent2;
      return parts;
    }
  }
  if (suffix[0] != 'e' && suffix[0] != 'E') return std::nullopt;
  size_t p = 1;
  bool negative_exponent = false;
  if (p < suffix.size() && (suffix[p] == '+' || suffix[p] == '-')) negative_exponent = suffix[p++] == '-';
  const std::string_view exponent = suffix.substr(p);
  if (exponent.empty() || exponent.size() > kMaxExponentDigits) return std::nullopt;
  int value = 0;
  for (char c : exponent) {
    if (!IsDigit(c)) return std::nullopt;
    value = value * 10 + (c - '0');
  }
  parts.exponent10 = negative_exponent ? -value : value;
  return parts;
}

// An exact non-negative decimal, digits × 10^exponent; digits has no leading
// zeros, and is empty for zero.
struct Decimal {
  std::string digits;
  int64_t exponent = 0;
};

void StripLeadingZeros(std::string& digits) { digits.erase(0, digits.find_first_not_of('0')); }

void MultiplyBy2(std::string& digits) {
  int carry = 0;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    const int d = (*it - '0') * 2 + carry;
    *it = static_cast<char>('0' + d % 10);
    carry = d / 10;
  }
  if (carry > 0) digits.insert(digits.begin(), static_cast<char>('0' + carry));
}

void Increment(std::string& digits) {
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    if (*it != '9') {
      ++*it;
      return;
    }
    *it = '0';
  }
  digits.insert(digits.begin(), '1');
}

int Compare(const Decimal& a, const Decimal& b) {
  if (a.digits.empty() || b.digits.empty()) {
    return static_cast<int>(!a.digits.empty()) - static_cast<int>(!b.digits.empty());
  }
  // The position of the leading digit decides, then the digits from there.
  const int64_t a_magnitude = static_cast<int64_t>(a.digits.size()) + a.exponent;
  const int64_t b_magnitude = static_cast<int64_t>(b.digits.size()) + b.exponent;
  if (a_magnitude != b_magnitude) return a_magnitude < b_magnitude ? -1 : 1;
  const size_t n = std::max(a.digits.size(), b.digits.size());
  for (size_t i = 0; i < n; ++i) {
    const char x = i < a.digits.size() ? a.digits[i] : '0';
    const char y = i < b.digits.size() ? b.digits[i] : '0';
    if (x != y) return x < y ? -1 : 1;
  }
  return 0;
}

// What resource.ParseQuantity makes of the text: its magnitude rounded up to
// a multiple of 1n ("if you want some resources, you should get some"), and a
// binary-suffixed one capped at the largest int64.
std::optional<std::pair<bool, Decimal>> Exact(std::string_view text) {
  const std::optional<Parts> parts = Split(text);
  if (!parts) return std::nullopt;
  constexpr int64_t kNanoExponent = -9;
  Decimal d;
  d.digits = std::string(parts->integer) + std::string(parts->fraction);
  d.exponent = parts->exponent10 - static_cast<int64_t>(parts->fraction.size());
  for (int i = 0; i < parts->exponent2; ++i) MultiplyBy2(d.digits);
  StripLeadingZeros(d.digits);
  if (!d.digits.empty() && d.exponent < kNanoExponent) {
    const auto dropped = static_cast<size_t>(kNanoExponent - d.exponent);
    if (dropped >= d.digits.size()) {
      d.digits = "1";  // a non-zero value below 1n
    } else {
      const bool inexact = d.digits.find_first_not_of('0', d.digits.size() - dropped) != std::string::npos;
      d.digits.resize(d.digits.size() - dropped);
      if (inexact) Increment(d.digits);
    }
    d.exponent = kNanoExponent;
  }
  if (parts->exponent2 > 0) {
    const Decimal max_int64{"9223372036854775807", 0};
    if (Compare(d, max_int64) > 0) d = max_int64;
  }
  return std::pair{parts->negative && !d.digits.empty(), std::move(d)};
}

}  // namespace

std::optional<double> ParseQuantity(std::string_view text) {
  const std::optional<Parts> parts = Split(text);
  if (!parts) return std::nullopt;
  std::string number(parts->integer.empty() ? "0" : parts->integer);
  if (!parts->fraction.empty()) number += "." + std::string(parts->fraction);
  double value = std::strtod(number.c_str(), nullptr) * std::pow(10.0, parts->exponent10);
  value = std::ldexp(value, parts->exponent2);
  return parts->negative ? -value : value;
}

std::optional<int> CompareQuantities(std::string_view a, std::string_view b) {
  auto x = Exact(a);
  auto y = Exact(b);
  if (!x || !y) return std::nullopt;
  const auto& [x_negative, x_value] = *x;
  const auto& [y_negative, y_value] = *y;
  if (x_negative != y_negative) return x_negative ? -1 : 1;
  const int magnitude = Compare(x_value, y_value);
  return x_negative ? -magnitude : magnitude;
}

}  // namespace zs::api
