// backup: backs up the Redis database at $REDIS_ADDRESS, run by a schedule
// trigger. POST /backup walks the keys (SCAN) and writes each one's DUMP
// payload and remaining time to live to $BACKUP_DIR (default /tmp/backups) as
// redis-<time>.jsonl, one JSON line per key:
//   {"key": "<base64>", "ttl_ms": 1234 or -1, "dump": "<base64>"}
// which `RESTORE <key> <ttl_ms or 0> <dump>` takes back. The file is written
// under a temporary name, synced and renamed: a file that exists is whole.
// <time> is the tick a schedule trigger sent (X-Zeroscale-Schedule-Time), so
// a tick delivered twice writes the same file; the current time otherwise.
// Answers {"keys", "file", "bytes", "duration_ms"}; GET /backups lists the
// files with their key counts.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <unordered_set>

#include "examples/common/http_server.h"
#include "examples/common/redis.h"

namespace {

namespace fs = std::filesystem;
using zs::examples::Error;
using zs::examples::Json;
using zs::examples::Request;
using zs::examples::Response;

std::string Base64(std::string_view bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t group = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) group |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) group |= static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(group >> 18) & 63];
    out += kAlphabet[(group >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(group >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[group & 63] : '=';
  }
  return out;
}

// "2026-12-02T03:00:00Z" -> "20261202T030000Z"; keeps letters and digits only.
std::string FileStamp(std::string time) {
  std::erase_if(time, [](char ch) { return !std::isalnum(static_cast<unsigned char>(ch)); });
  return time;
}

class Backup {
 public:
  explicit Backup(fs::path dir) : dir_(std::move(dir)) {}

  Response Handle(const Request& req) {
    if (req.path == "/backup" && req.method == "POST") return Run(req);
    if (req.path == "/backups" && req.method == "GET") return List();
    return Error(404, "POST /backup or GET /backups");
  }

 private:
  Response Run(const Request& req) {
    const auto start = std::chrono::steady_clock::now();
    std::string tick = req.Header("x-zeroscale-schedule-time");
    const std::string name =
        "redis-" + FileStamp(tick.empty() ? zs::examples::NowRfc3339() : tick) + ".jsonl";
    std::error_code ec;
    fs::create_directories(dir_, ec);
    const fs::path final_path = dir_ / name;
    const fs::path temp_path = dir_ / ("." + name + ".tmp");

    zs::examples::Redis redis = zs::examples::ConnectFromEnv();
    std::ofstream out(temp_path, std::ios::trunc);
    if (!out) return Error(500, "cannot write " + temp_path.string());
    std::unordered_set<std::string> seen;  // SCAN may return a key twice
    std::string cursor = "0";
    int64_t keys = 0;
    do {
      auto page = redis.Command({"SCAN", cursor, "COUNT", "1000"});
      cursor.assign(page->element[0]->str, page->element[0]->len);
      const redisReply* batch = page->element[1];
      for (std::size_t i = 0; i < batch->elements; ++i) {
        std::string key(batch->element[i]->str, batch->element[i]->len);
        if (!seen.insert(key).second) continue;
        auto dump = redis.Command({"DUMP", key});
        auto ttl = redis.Command({"PTTL", key});
        if (dump->type != REDIS_REPLY_STRING || ttl->integer == -2) continue;  // deleted meanwhile
        out << nlohmann::json{{"key", Base64(key)},
                              {"ttl_ms", ttl->integer},
                              {"dump", Base64(std::string_view(dump->str, dump->len))}}
                   .dump()
            << '\n';
        ++keys;
      }
    } while (cursor != "0");
    out.close();
    if (!out) return Error(500, "writing " + temp_path.string() + " failed");
    // Durable before it gets its name.
    if (const int fd = open(temp_path.c_str(), O_RDONLY); fd >= 0) {
      fsync(fd);
      close(fd);
    }
    fs::rename(temp_path, final_path, ec);
    if (ec) return Error(500, "rename to " + final_path.string() + ": " + ec.message());
    const nlohmann::json result = {{"keys", keys},
                                   {"file", final_path.string()},
                                   {"bytes", fs::file_size(final_path, ec)},
                                   {"duration_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                                       std::chrono::steady_clock::now() - start)
                                                       .count()},
                                   {"request_id", req.Header("x-request-id")}};
    zs::examples::LogJson({{"msg", "backup written"}, {"backup", result}});
    return Json(200, result);
  }

  Response List() {
    nlohmann::json files = nlohmann::json::array();
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir_, ec)) {
      const std::string name = entry.path().filename().string();
      if (name.starts_with(".") || !name.ends_with(".jsonl")) continue;
      std::ifstream in(entry.path());
      const auto lines =
          std::count(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>(), '\n');
      files.push_back({{"file", entry.path().string()}, {"keys", lines}});
    }
    return Json(200, {{"backups", files}});
  }

  const fs::path dir_;
};

}  // namespace

int main() {
  Backup backup(zs::examples::Env("BACKUP_DIR", "/tmp/backups"));
  return zs::examples::Serve("backup", [&](const Request& req) {
    try {
      return backup.Handle(req);
    } catch (const zs::examples::RedisError& e) {
      return Error(503, e.what());
    }
  });
}
