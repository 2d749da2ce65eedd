// stream: a stream processor fed by a Redis Streams trigger, one invocation
// per entry. POST /event receives the entry's fields as a JSON object
// ({"account": "alice", "amount": "12"}); it adds `amount` to the running
// total of `account` in the Redis hash $TOTALS_KEY (default "totals") at
// $REDIS_ADDRESS and answers {"account", "amount", "total"}.
//
// Delivery is at least once, so an entry can come twice (a lost ack, a
// replica that died); the entry's id (X-Zeroscale-Message-Id) is remembered
// for a day in the same Lua script that adds, and a repeat changes nothing
// ("duplicate": true). An entry without an account or whose amount is not an
// integer is poison: 422, which the trigger retries and then dead-letters
// (with the error) instead of blocking the stream.
#include <atomic>
#include <charconv>
#include <cstdint>
#include <string>

#include "examples/common/http_server.h"
#include "examples/common/redis.h"

namespace {

using zs::examples::Error;
using zs::examples::Json;
using zs::examples::Request;
using zs::examples::Response;

// KEYS[1] the totals hash, KEYS[2] the entry's "seen" marker; ARGV[1] the
// account, ARGV[2] the amount. Returns {1 if counted now, total}.
constexpr char kAdd[] = R"lua(
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', 86400) then
  return {1, redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])}
end
return {0, tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')}
)lua";

Response Handle(const Request& req, const std::string& totals_key) {
  if (req.path != "/event" || req.method != "POST") return Error(404, "POST /event");
  const auto body = nlohmann::json::parse(req.body, nullptr, false);
  if (!body.is_object()) return Error(422, "the entry is not a JSON object");
  const auto account = body.value("account", nlohmann::json());
  const auto amount = body.value("amount", nlohmann::json());
  if (!account.is_string() || account.get<std::string>().empty()) return Error(422, "no \"account\" field");
  const std::string amount_text = amount.is_string() ? amount.get<std::string>() : "";
  int64_t value = 0;
  const char* end = amount_text.data() + amount_text.size();
  if (auto [ptr, ec] = std::from_chars(amount_text.data(), end, value);
      amount_text.empty() || ec != std::errc() || ptr != end) {
    return Error(422, "\"amount\" is not an integer: \"" + amount_text + "\"");
  }
  // Without a message id (called by hand, not through the activator) every call counts.
  static std::atomic<int64_t> unnamed{0};
  std::string id = req.Header("x-zeroscale-message-id");
  if (id.empty()) id = req.Header("x-request-id");
  if (id.empty()) id = zs::examples::NowRfc3339() + "-" + std::to_string(++unnamed);
  zs::examples::Redis redis = zs::examples::ConnectFromEnv();
  auto reply = redis.Command({"EVAL", kAdd, "2", totals_key, totals_key + ":seen:" + id,
                              account.get<std::string>(), std::to_string(value)});
  const bool counted = reply->element[0]->integer == 1;
  const nlohmann::json result = {{"account", account},
                                 {"amount", value},
                                 {"total", reply->element[1]->integer},
                                 {"message_id", id},
                                 {"duplicate", !counted}};
  zs::examples::LogJson(
      {{"msg", "event"}, {"event", result}, {"attempt", req.Header("x-zeroscale-attempt")}});
  return Json(200, result);
}

}  // namespace

int main() {
  const std::string totals_key = zs::examples::Env("TOTALS_KEY", "totals");
  return zs::examples::Serve("stream", [&](const Request& req) {
    try {
      return Handle(req, totals_key);
    } catch (const zs::examples::RedisError& e) {
      return Error(503, e.what());  // retried by the trigger, not dead-lettered at once
    }
  });
}
