// A small command-line flag set in the style of Go's flag package, which is
// what controller-runtime users know: --name=value, --name value, --bool,
// --bool=false, --help.
//
// Lifecycle: register flags into a FlagSet, call Parse once from main().
// Thread-safety: none; main() owns it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace zs {

class FlagSet {
 public:
  FlagSet(std::string program, std::string summary);

  void String(std::string name, std::string* target, std::string help);
  void Int(std::string name, int64_t* target, std::string help);
  void Double(std::string name, double* target, std::string help);
  void Bool(std::string name, bool* target, std::string help);
  // Accepts Go-style durations: "15s", "250ms", "2m", "1h30m".
  void Duration(std::string name, std::chrono::milliseconds* target, std::string help);

  enum class Outcome { kRun, kHelp };
  // kHelp when --help/-h was given (the caller prints Usage() and exits 0).
  absl::StatusOr<Outcome> Parse(int argc, char** argv);
  absl::StatusOr<Outcome> Parse(const std::vector<std::string>& args);

  std::string Usage() const;

 private:
  struct Flag {
    std::string name;
    std::string help;
    std::string default_text;
    bool is_bool = false;
    std::function<absl::Status(std::string_view)> set;
  };
  void Add(Flag flag);

  std::string program_;
  std::string summary_;
  std::vector<Flag> flags_;
};

// Parses a Go-style duration ("1h2m3.5s", "300ms"). Exposed for tests.
absl::StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text);
std::string FormatDuration(std::chrono::milliseconds d);

}  // namespace zs
