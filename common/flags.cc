#include "common/flags.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <sstream>

#include "absl/status/statusor.h"
#include "common/strings.h"

namespace zs {

FlagSet::FlagSet(std::string program, std::string summary)
    : program_(std::move(program)), summary_(std::move(summary)) {}

void FlagSet::Add(Flag flag) { flags_.push_back(std::move(flag)); }

void FlagSet::String(std::string name, std::string* target, std::string help) {
  Add({std::move(name), std::move(help), "\"" + *target + "\"", false, [target](std::string_view v) {
         *target = std::string(v);
         return absl::OkStatus();
       }});
}

// Each setter below keeps its own copy of the name for its error messages.
void FlagSet::Int(std::string name, int64_t* target, std::string help) {
  auto set = [target, name](std::string_view v) -> absl::Status {
    int64_t parsed = 0;
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), parsed);
    if (ec != std::errc() || ptr != v.data() + v.size()) {
      return absl::InvalidArgumentError(Cat("--", name, ": not an integer: \"", v, "\""));
    }
    *target = parsed;
    return absl::OkStatus();
  };
  Add({std::move(name), std::move(help), std::to_string(*target), false, std::move(set)});
}

void FlagSet::Double(std::string name, double* target, std::string help) {
  std::ostringstream def;
  def << *target;
  auto set = [target, name](std::string_view v) -> absl::Status {
    std::string s(v);
    char* end = nullptr;
    double parsed = std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size()) {
      return absl::InvalidArgumentError(Cat("--", name, ": not a number: \"", v, "\""));
    }
    *target = parsed;
    return absl::OkStatus();
  };
  Add({std::move(name), std::move(help), def.str(), false, std::move(set)});
}

void FlagSet::Bool(std::string name, bool* target, std::string help) {
  auto set = [target, name](std::string_view v) -> absl::Status {
    if (v == "true" || v == "1") {
      *target = true;
    } else if (v == "false" || v == "0") {
      *target = false;
    } else {
      return absl::InvalidArgumentError(Cat("--", name, ": not a boolean: \"", v, "\""));
    }
    return absl::OkStatus();
  };
  Add({std::move(name), std::move(help), *target ? "true" : "false", true, std::move(set)});
}

void FlagSet::Duration(std::string name, std::chrono::milliseconds* target, std::string help) {
  auto set = [target, name](std::string_view v) -> absl::Status {
    auto parsed = ParseDuration(v);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(Cat("--", name, ": ", parsed.status().message()));
    }
    *target = *parsed;
    return absl::OkStatus();
  };
  Add({std::move(name), std::move(help), FormatDuration(*target), false, std::move(set)});
}

absl::StatusOr<FlagSet::Outcome> FlagSet::Parse(int argc, char** argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  return Parse(args);
}

absl::StatusOr<FlagSet::Outcome> FlagSet::Parse(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg == "-h" || arg == "--help" || arg == "-help") return Outcome::kHelp;
    if (arg.substr(0, 1) != "-") {
      return absl::InvalidArgumentError(Cat("unexpected argument \"", arg, "\""));
    }
    arg.remove_prefix(arg.substr(0, 2) == "--" ? 2 : 1);
    std::string_view name = arg;
    std::optional<std::string_view> value;
    if (auto eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    const Flag* flag = nullptr;
    for (const Flag& f : flags_) {
      if (f.name == name) flag = &f;
    }
    if (flag == nullptr) {
      return absl::InvalidArgumentError(Cat("unknown flag --", name, " (see --help)"));
    }
    if (!value) {
      if (flag->is_bool) {
        value = "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return absl::InvalidArgumentError(Cat("flag --", name, " needs a value"));
      }
    }
    if (absl::Status s = flag->set(*value); !s.ok()) return s;
  }
  return Outcome::kRun;
}

std::string FlagSet::Usage() const {
  std::ostringstream out;
  out << "Usage: " << program_ << " [flags]\n\n" << summary_ << "\n\nFlags:\n";
  for (const Flag& f : flags_) {
    out << "  --" << f.name << (f.is_bool ? "" : " value") << "\n      " << f.help << " (default "
        << f.default_text << ")\n";
  }
  out << "  --help\n      Print this help and exit.\n";
  return out.str();
}

absl::StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  if (text.empty()) return absl::InvalidArgumentError("empty duration");
  if (text == "0") return std::chrono::milliseconds(0);
  double total_ms = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t start = pos;
    while (pos < text.size() && ((text[pos] >= '0' && text[pos] <= '9') || text[pos] == '.')) ++pos;
    if (start == pos) return absl::InvalidArgumentError(Cat("invalid duration \"", text, "\""));
    double number = std::strtod(std::string(text.substr(start, pos - start)).c_str(), nullptr);
    size_t unit_start = pos;
    while (pos < text.size() && !((text[pos] >= '0' && text[pos] <= '9') || text[pos] == '.')) ++pos;
    std::string_view unit = text.substr(unit_start, pos - unit_start);
    double scale = 0;
    if (unit == "ms") {
      scale = 1;
    } else if (unit == "s") {
      scale = 1000;
    } else if (unit == "m") {
      scale = 60'000;
    } else if (unit == "h") {
      scale = 3'600'000;
    } else {
      return absl::InvalidArgumentError(Cat("invalid duration \"", text, "\": unit must be ms, s, m or h"));
    }
    total_ms += number * scale;
  }
  // To the nearest millisecond (total_ms is never negative).
  return std::chrono::milliseconds(std::lround(total_ms));
}

std::string FormatDuration(std::chrono::milliseconds d) {
  const int64_t ms = d.count();
  if (ms % 1000 != 0) return std::to_string(ms) + "ms";
  return std::to_string(ms / 1000) + "s";
}

}  // namespace zs
