#include "common/log.h"

#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>

#include "common/clock.h"
#include "common/time_format.h"

namespace zs::log {
namespace {
std::mutex g_mu;
std::string g_logger = "zeroscale";
std::atomic<Level> g_level{Level::kInfo};

const char* LevelName(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}
}  // namespace

void SetLogger(std::string_view name) {
  std::lock_guard lock(g_mu);
  g_logger = std::string(name);
}
void SetLevel(Level level) { g_level = level; }

bool ParseLevel(std::string_view text, Level* out) {
  for (Level l : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError}) {
    if (text == LevelName(l)) {
      *out = l;
      return true;
    }
  }
  return false;
}

void Write(Level level, std::string_view msg, const nlohmann::json& fields) {
  if (level < g_level.load()) return;
  nlohmann::json line = nlohmann::json::object();
  line["ts"] = FormatRfc3339Millis(RealClock::Get().WallNow());
  line["level"] = LevelName(level);
  {
    std::lock_guard lock(g_mu);
    line["logger"] = g_logger;
  }
  line["msg"] = msg;
  if (fields.is_object()) {
    for (auto it = fields.begin(); it != fields.end(); ++it) line[it.key()] = it.value();
  }
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  text.push_back('\n');
  std::lock_guard lock(g_mu);
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

}  // namespace zs::log
