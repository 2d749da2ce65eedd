// Structured JSON logs, one object per line on stderr:
//   {"ts":"2026-11-27T01:02:03.456Z","level":"info","logger":"controller",
//    "msg":"reconciled","function":"default/hello"}
//
// Thread-safety: safe from any thread; each line is written atomically.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

namespace zs::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Process-wide settings, set once by main().
void SetLogger(std::string_view name);
void SetLevel(Level level);
// Parses "debug", "info", "warn", "error"; false if unknown.
bool ParseLevel(std::string_view text, Level* out);

void Write(Level level, std::string_view msg, const nlohmann::json& fields);

inline void Debug(std::string_view msg, const nlohmann::json& fields = nlohmann::json::object()) {
  Write(Level::kDebug, msg, fields);
}
inline void Info(std::string_view msg, const nlohmann::json& fields = nlohmann::json::object()) {
  Write(Level::kInfo, msg, fields);
}
inline void Warn(std::string_view msg, const nlohmann::json& fields = nlohmann::json::object()) {
  Write(Level::kWarn, msg, fields);
}
inline void Error(std::string_view msg, const nlohmann::json& fields = nlohmann::json::object()) {
  Write(Level::kError, msg, fields);
}

}  // namespace zs::log
