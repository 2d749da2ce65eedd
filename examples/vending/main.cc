// vending: a vending machine's API.
//   POST /purchase {"item": "cola"}  200 {"receipt", "item", "price_cents", "left"}
//                                    409 sold out, 400 unknown item or bad body
//   GET /stock                       {"cola": {"price_cents": 150, "left": 3}, ...}
// The catalog (items and prices) is built in. The stock is in Redis
// ($REDIS_ADDRESS), in the hash $STOCK_KEY (default vending:stock), and a
// purchase is one Lua script (check, decrement, number the receipt), so
// purchases on several replicas at once never sell the last can twice, and
// the stock is still there after the Function scaled to zero. Items the hash
// lacks are filled from $INITIAL_STOCK ("cola=10,water=10,chips=10") before
// the first purchase (HSETNX: never over what is there); restock with
// `redis-cli HSET vending:stock cola 10`.
#include <atomic>
#include <map>
#include <sstream>
#include <string>

#include "examples/common/http_server.h"
#include "examples/common/redis.h"

namespace {

using zs::examples::Error;
using zs::examples::Json;
using zs::examples::Request;
using zs::examples::Response;

const std::map<std::string, int>& Catalog() {  // item -> price in cents
  static const std::map<std::string, int> catalog = {{"cola", 150}, {"water", 100}, {"chips", 120}};
  return catalog;
}

// KEYS[1] the stock hash, KEYS[2] the receipt counter, ARGV[1] the item.
// Returns {left after the sale, receipt number}, or {-1, 0} when sold out.
constexpr char kPurchase[] = R"lua(
local left = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if left <= 0 then return {-1, 0} end
left = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
return {left, redis.call('INCR', KEYS[2])}
)lua";

class Machine {
 public:
  Machine(std::string stock_key, std::string initial_stock)
      : stock_key_(std::move(stock_key)), initial_stock_(std::move(initial_stock)) {}

  Response Handle(const Request& req) {
    if (req.path == "/purchase" && req.method == "POST") return Purchase(req);
    if (req.path == "/stock" && req.method == "GET") return Stock();
    return Error(404, "POST /purchase {\"item\": \"...\"} or GET /stock");
  }

 private:
  Response Purchase(const Request& req) {
    const auto body = nlohmann::json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body.contains("item") || !body["item"].is_string()) {
      return Error(400, "expected {\"item\": \"...\"}");
    }
    const std::string item = body["item"].get<std::string>();
    auto it = Catalog().find(item);
    if (it == Catalog().end()) return Error(400, "unknown item \"" + item + "\"");
    zs::examples::Redis redis = zs::examples::ConnectFromEnv();
    Seed(redis);
    auto reply = redis.Command({"EVAL", kPurchase, "2", stock_key_, stock_key_ + ":receipts", item});
    const long long left = reply->element[0]->integer;
    if (left < 0) return Json(409, {{"error", "sold out"}, {"item", item}});
    const nlohmann::json receipt = {
        {"receipt", reply->element[1]->integer}, {"item", item}, {"price_cents", it->second}, {"left", left}};
    zs::examples::LogJson({{"msg", "sold"}, {"sale", receipt}});
    return Json(200, receipt);
  }

  Response Stock() {
    zs::examples::Redis redis = zs::examples::ConnectFromEnv();
    Seed(redis);
    auto reply = redis.Command({"HGETALL", stock_key_});
    std::map<std::string, long long> left;
    for (std::size_t i = 0; i + 1 < reply->elements; i += 2) {
      left[std::string(reply->element[i]->str, reply->element[i]->len)] =
          std::stoll(std::string(reply->element[i + 1]->str, reply->element[i + 1]->len));
    }
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [item, price] : Catalog()) out[item] = {{"price_cents", price}, {"left", left[item]}};
    return Json(200, out);
  }

  // Once per process: items missing from the hash get their initial count.
  void Seed(zs::examples::Redis& redis) {
    if (seeded_.load()) return;
    std::istringstream entries(initial_stock_);
    std::string entry;
    while (std::getline(entries, entry, ',')) {
      const std::size_t eq = entry.find('=');
      if (eq == std::string::npos || !Catalog().contains(entry.substr(0, eq))) continue;
      redis.Command({"HSETNX", stock_key_, entry.substr(0, eq), entry.substr(eq + 1)});
    }
    seeded_.store(true);
  }

  const std::string stock_key_;
  const std::string initial_stock_;
  std::atomic<bool> seeded_{false};
};

}  // namespace

int main() {
  Machine machine(zs::examples::Env("STOCK_KEY", "vending:stock"),
                  zs::examples::Env("INITIAL_STOCK", "cola=10,water=10,chips=10"));
  return zs::examples::Serve("vending", [&](const Request& req) {
    try {
      return machine.Handle(req);
    } catch (const zs::examples::RedisError& e) {
      return Error(503, e.what());  // the store is down: try again later
    }
  });
}
