// A blocking Redis connection (hiredis) for the examples that keep their
// state in Redis: the vending machine's stock, the stream processor's
// totals, the database the backup copies. A Function replica can be stopped
// at any time and several can run at once, so state that must survive or be
// shared lives in a store, not in the process.
//
// Lifecycle: connect in the constructor (throws RedisError), one command at
// a time, closed by the destructor. Not thread-safe: one per request (the
// examples are called rarely; a pool would be the next step).
#pragma once

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <hiredis/hiredis.h>

namespace zs::examples {

class RedisError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ReplyDeleter {
  void operator()(redisReply* reply) const { freeReplyObject(reply); }
};
using RedisReply = std::unique_ptr<redisReply, ReplyDeleter>;

class Redis {
 public:
  // `address` is host:port; `password`, when not empty, is sent with AUTH.
  // `timeout` bounds the connect and each command.
  Redis(const std::string& address, const std::string& password, std::chrono::milliseconds timeout);
  ~Redis();
  Redis(const Redis&) = delete;
  Redis& operator=(const Redis&) = delete;

  // Sends one command (binary-safe arguments) and returns its reply; throws
  // RedisError when the connection fails or Redis answers with an error.
  RedisReply Command(const std::vector<std::string>& args);

 private:
  std::string address_;
  redisContext* context_ = nullptr;
};

// The Redis the example is pointed at: $REDIS_ADDRESS (default
// 127.0.0.1:6379), $REDIS_PASSWORD, a 5 s timeout.
Redis ConnectFromEnv();

}  // namespace zs::examples
