#include "examples/common/redis.h"

#include <sys/time.h>

#include <charconv>

#include "examples/common/http_server.h"

namespace zs::examples {

Redis::Redis(const std::string& address, const std::string& password, std::chrono::milliseconds timeout)
    : address_(address) {
  const std::size_t colon = address.rfind(':');
  int port = 0;
  const char* port_end = address.data() + address.size();
  if (colon == std::string::npos ||
      std::from_chars(address.data() + colon + 1, port_end, port).ptr != port_end || port <= 0 ||
      port > 65535) {
    throw RedisError("redis address \"" + address + "\" is not host:port");
  }
  const std::string host = address.substr(0, colon);
  const timeval tv{static_cast<time_t>(timeout.count() / 1000),
                   static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  context_ = redisConnectWithTimeout(host.c_str(), port, tv);
  if (context_ == nullptr) throw RedisError("redis " + address + ": out of memory");
  if (context_->err != 0) {
    const std::string error = context_->errstr;
    redisFree(context_);
    context_ = nullptr;
    throw RedisError("redis " + address + ": " + error);
  }
  redisSetTimeout(context_, tv);
  if (!password.empty()) Command({"AUTH", password});
}

Redis::~Redis() {
  if (context_ != nullptr) redisFree(context_);
}

RedisReply Redis::Command(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (const auto& arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  RedisReply reply(static_cast<redisReply*>(
      redisCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lengths.data())));
  if (!reply) throw RedisError("redis " + address_ + ": " + context_->errstr);
  if (reply->type == REDIS_REPLY_ERROR) {
    throw RedisError("redis " + address_ + ": " + args.front() + ": " + std::string(reply->str, reply->len));
  }
  return reply;
}

Redis ConnectFromEnv() {
  return Redis(Env("REDIS_ADDRESS", "127.0.0.1:6379"), Env("REDIS_PASSWORD", ""), std::chrono::seconds(5));
}

}  // namespace zs::examples
