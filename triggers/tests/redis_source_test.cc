// The Redis Streams MessageSource against a real redis-server (one per test,
// on a free loopback port, in a scratch directory with an AOF).
#include "triggers/brokers/redis_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <chrono>
#include <csignal>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "triggers/tests/broker_process.h"

namespace zs::triggers {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using testing::BrokerServer;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// A reply as plain values, for assertions.
struct Value {
  int type = REDIS_REPLY_NIL;
  std::string str;
  long long integer = 0;
  std::vector<Value> elements;

  bool nil() const { return type == REDIS_REPLY_NIL; }
  // The value of `key` in a flat [key, value, ...] array.
  const Value* Get(const std::string& key) const {
    for (size_t i = 0; i + 1 < elements.size(); i += 2) {
      if (elements[i].str == key) return &elements[i + 1];
    }
    return nullptr;
  }
};

Value ToValue(const redisReply* reply) {
  Value value;
  value.type = reply->type;
  if (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS ||
      reply->type == REDIS_REPLY_ERROR) {
    value.str.assign(reply->str, reply->len);
  }
  value.integer = reply->integer;
  for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements; ++i) {
    value.elements.push_back(ToValue(reply->element[i]));
  }
  return value;
}

// A plain hiredis connection that sets the scene and checks what the source
// did.
class Client {
 public:
  explicit Client(int port, const std::string& password = "") : context_(redisConnect("127.0.0.1", port)) {
    if (!password.empty()) Cmd({"AUTH", password});
  }
  ~Client() { redisFree(context_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool ok() const { return context_ != nullptr && context_->err == 0; }

  Value Cmd(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<size_t> lengths;
    argv.reserve(args.size());
    lengths.reserve(args.size());
    for (const std::string& arg : args) {
      argv.push_back(arg.data());
      lengths.push_back(arg.size());
    }
    auto* reply = static_cast<redisReply*>(
        redisCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lengths.data()));
    if (reply == nullptr) {
      ADD_FAILURE() << "redis command failed: " << context_->errstr;
      return {};
    }
    Value value = ToValue(reply);
    freeReplyObject(reply);
    return value;
  }

  std::string Xadd(const std::string& stream, const std::vector<std::string>& fields,
                   const std::string& id = "*") {
    std::vector<std::string> args = {"XADD", stream, id};
    args.insert(args.end(), fields.begin(), fields.end());
    const Value reply = Cmd(args);
    EXPECT_EQ(reply.type, REDIS_REPLY_STRING) << reply.str;
    return reply.str;
  }

  // XPENDING's summary: how many entries the group holds unacknowledged.
  long long PendingCount(const std::string& stream, const std::string& group) {
    const Value reply = Cmd({"XPENDING", stream, group});
    return reply.elements.empty() ? -1 : reply.elements[0].integer;
  }

  // The group's XINFO GROUPS record.
  Value GroupInfo(const std::string& stream, const std::string& group) {
    for (const Value& info : Cmd({"XINFO", "GROUPS", stream}).elements) {
      if (const Value* name = info.Get("name"); name != nullptr && name->str == group) return info;
    }
    return {};
  }

 private:
  redisContext* context_;
};

std::vector<std::string> Ids(const std::vector<Message>& messages) {
  std::vector<std::string> ids;
  ids.reserve(messages.size());
  for (const Message& message : messages) ids.push_back(message.id);
  return ids;
}

RedisSourceConfig SourceConfig(const std::string& address, const std::string& password = "") {
  RedisSourceConfig config;
  config.address = address;
  config.stream = "orders";
  config.group = "workers";
  config.consumer = "c1";
  config.password = password;
  return config;
}

long long MillisSince(Clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
}

class RedisSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start()) << "redis-server did not start";
    client_ = std::make_unique<Client>(server_.port());
    ASSERT_TRUE(client_->ok());
  }

  RedisSourceConfig Config(const std::string& consumer = "c1") const {
    RedisSourceConfig config;
    config.address = server_.address();
    config.stream = "orders";
    config.group = "workers";
    config.consumer = consumer;
    config.dead_letter_stream = "orders-dlq";
    config.ack_wait = milliseconds(300);
    config.io_timeout = milliseconds(2000);
    return config;
  }

  std::unique_ptr<MessageSource> Connected(const RedisSourceConfig& config) {
    std::unique_ptr<MessageSource> source = MakeRedisSource(config);
    const absl::Status status = source->Connect();
    EXPECT_TRUE(status.ok()) << status;
    return source;
  }

  // Fetches until `count` messages came or `timeout` passed.
  static std::vector<Message> FetchUntil(MessageSource& source, size_t count,
                                         milliseconds timeout = milliseconds(10000)) {
    std::vector<Message> got;
    const Clock::time_point deadline = Clock::now() + timeout;
    while (got.size() < count && Clock::now() < deadline) {
      absl::StatusOr<std::vector<Message>> batch =
          source.Fetch(static_cast<int>(count - got.size()), milliseconds(100));
      EXPECT_TRUE(batch.ok()) << batch.status();
      if (!batch.ok()) break;
      got.insert(got.end(), batch->begin(), batch->end());
    }
    return got;
  }

  BrokerServer server_{BrokerServer::Kind::kRedis};
  std::unique_ptr<Client> client_;
};

TEST_F(RedisSourceTest, ConnectCreatesTheGroupFromTheFirstEntryAndKeepsAnExistingOne) {
  const std::string before = client_->Xadd("orders", {"n", "1"});
  std::unique_ptr<MessageSource> source = Connected(Config());
  EXPECT_EQ(client_->GroupInfo("orders", "workers").Get("last-delivered-id")->str, "0-0");
  ASSERT_TRUE(source->Connect().ok()) << "Connect() again (BUSYGROUP) is fine";

  // Created at 0: an entry added before the group existed is delivered.
  absl::StatusOr<std::vector<Message>> first = source->Fetch(10, milliseconds(0));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_THAT(Ids(*first), ElementsAre(before));

  // Connecting again leaves the group where it is: nothing is delivered twice.
  std::unique_ptr<MessageSource> again = Connected(Config("c2"));
  absl::StatusOr<std::vector<Message>> none = again->Fetch(10, milliseconds(0));
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_THAT(*none, IsEmpty());

  // A group someone created at the stream's end is used as it is.
  ASSERT_EQ(client_->Cmd({"XGROUP", "CREATE", "orders", "late", "$"}).str, "OK");
  const std::string after = client_->Xadd("orders", {"n", "2"});
  RedisSourceConfig late = Config();
  late.group = "late";
  std::unique_ptr<MessageSource> late_source = Connected(late);
  absl::StatusOr<std::vector<Message>> only_new = late_source->Fetch(10, milliseconds(0));
  ASSERT_TRUE(only_new.ok()) << only_new.status();
  EXPECT_THAT(Ids(*only_new), ElementsAre(after));

  // A stream that does not exist yet is created empty (MKSTREAM).
  RedisSourceConfig fresh = Config();
  fresh.stream = "fresh";
  std::unique_ptr<MessageSource> fresh_source = Connected(fresh);
  EXPECT_EQ(client_->Cmd({"XLEN", "fresh"}).integer, 0);
  EXPECT_EQ(client_->Cmd({"TYPE", "fresh"}).str, "stream");
}

TEST_F(RedisSourceTest, FetchDeliversEntriesInOrderWithAttemptOneAndTheirFieldsAsJson) {
  std::unique_ptr<MessageSource> source = Connected(Config());
  const std::string a = client_->Xadd("orders", {"zone", "eu", "amount", "12.50", "note", "say \"hi\""});
  const std::string b = client_->Xadd("orders", {"zone", "us"});
  const std::string c = client_->Xadd("orders", {"k", "v"});

  absl::StatusOr<std::vector<Message>> got = source->Fetch(10, milliseconds(1000));
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_THAT(Ids(*got), ElementsAre(a, b, c));
  const Message& first = (*got)[0];
  EXPECT_EQ(first.subject, "orders");
  EXPECT_THAT(first.headers, IsEmpty());
  EXPECT_EQ(first.body, R"({"zone":"eu","amount":"12.50","note":"say \"hi\""})");
  EXPECT_EQ(first.content_type, "application/json");
  for (const Message& message : *got) EXPECT_EQ(message.attempt, 1) << message.id;
  EXPECT_EQ((*got)[1].body, R"({"zone":"us"})");

  // Up to `max`.
  client_->Xadd("orders", {"k", "1"});
  client_->Xadd("orders", {"k", "2"});
  absl::StatusOr<std::vector<Message>> one = source->Fetch(1, milliseconds(0));
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->size(), 1U);
}

TEST_F(RedisSourceTest, FetchReturnsAsSoonAsAnEntryArrivesAndAfterTheWaitWithNone) {
  std::unique_ptr<MessageSource> source = Connected(Config());

  Clock::time_point start = Clock::now();
  absl::StatusOr<std::vector<Message>> empty = source->Fetch(10, milliseconds(300));
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_THAT(*empty, IsEmpty());
  EXPECT_GE(MillisSince(start), 300);

  // Another client adds an entry once the source is blocked in XREADGROUP.
  std::thread producer([port = server_.port()] {
    Client producer_client(port);
    const Clock::time_point deadline = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < deadline) {
      const Value info = producer_client.Cmd({"INFO", "clients"});
      if (info.str.find("blocked_clients:1") != std::string::npos) break;
      std::this_thread::sleep_for(milliseconds(5));
    }
    producer_client.Xadd("orders", {"late", "yes"});
  });
  start = Clock::now();
  absl::StatusOr<std::vector<Message>> got = source->Fetch(10, milliseconds(20000));
  const long long elapsed = MillisSince(start);
  producer.join();
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1U);
  EXPECT_EQ((*got)[0].body, R"({"late":"yes"})");
  EXPECT_LT(elapsed, 10000) << "Fetch should return when the entry arrives, not after the wait";
}

TEST_F(RedisSourceTest, FetchWaitsLongerThanTheIoTimeoutWithoutFailing) {
  RedisSourceConfig config = Config();
  config.io_timeout = milliseconds(200);
  std::unique_ptr<MessageSource> source = Connected(config);
  const Clock::time_point start = Clock::now();
  absl::StatusOr<std::vector<Message>> got = source->Fetch(10, milliseconds(800));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_THAT(*got, IsEmpty());
  EXPECT_GE(MillisSince(start), 800);
  EXPECT_TRUE(source->Lag().ok());
}

TEST_F(RedisSourceTest, LagCountsUndeliveredAndPendingEntries) {
  std::unique_ptr<MessageSource> source = Connected(Config());
  EXPECT_EQ(source->Lag().value_or(-1), 0);
  for (int i = 0; i < 5; ++i) client_->Xadd("orders", {"i", std::to_string(i)});
  EXPECT_EQ(source->Lag().value_or(-1), 5);

  absl::StatusOr<std::vector<Message>> two = source->Fetch(2, milliseconds(0));
  ASSERT_TRUE(two.ok()) << two.status();
  ASSERT_EQ(two->size(), 2U);
  EXPECT_EQ(source->Lag().value_or(-1), 5) << "3 undelivered + 2 pending";
  ASSERT_TRUE(source->Ack((*two)[0]).ok());
  EXPECT_EQ(source->Lag().value_or(-1), 4);
  ASSERT_TRUE(source->Ack((*two)[1]).ok());
  EXPECT_EQ(source->Lag().value_or(-1), 3);

  absl::StatusOr<std::vector<Message>> rest = source->Fetch(10, milliseconds(0));
  ASSERT_TRUE(rest.ok()) << rest.status();
  ASSERT_EQ(rest->size(), 3U);
  EXPECT_EQ(source->Lag().value_or(-1), 3) << "0 undelivered + 3 pending";
  for (const Message& message : *rest) ASSERT_TRUE(source->Ack(message).ok());
  EXPECT_EQ(source->Lag().value_or(-1), 0);
  EXPECT_EQ(client_->PendingCount("orders", "workers"), 0);
}

TEST_F(RedisSourceTest, LagCountsFromAboveWhenRedisCannotTell) {
  std::unique_ptr<MessageSource> source = Connected(Config());
  for (int i = 1; i <= 5; ++i) client_->Xadd("orders", {"i", std::to_string(i)}, std::to_string(i) + "-0");
  absl::StatusOr<std::vector<Message>> two = source->Fetch(2, milliseconds(0));
  ASSERT_TRUE(two.ok()) << two.status();
  ASSERT_EQ(two->size(), 2U);
  // A deletion past the group's position: Redis 7 no longer knows the lag.
  ASSERT_EQ(client_->Cmd({"XDEL", "orders", "4-0"}).integer, 1);
  const Value info = client_->GroupInfo("orders", "workers");
  ASSERT_NE(info.Get("lag"), nullptr);
  EXPECT_TRUE(info.Get("lag")->nil());
  EXPECT_EQ(info.Get("entries-read")->integer, 2);

  // Truly 2 undelivered (3-0, 5-0) + 2 pending; entries-added - entries-read
  // counts the deleted 4-0 too.
  EXPECT_EQ(source->Lag().value_or(-1), 5);

  absl::StatusOr<std::vector<Message>> rest = source->Fetch(10, milliseconds(0));
  ASSERT_TRUE(rest.ok()) << rest.status();
  EXPECT_THAT(Ids(*rest), ElementsAre("3-0", "5-0"));
  EXPECT_EQ(source->Lag().value_or(-1), 4) << "read past the deletion, Redis counts again: 0 + 4 pending";
}

TEST_F(RedisSourceTest, RetryRedeliversNoSoonerThanTheDelayWithTheNextAttempt) {
  std::unique_ptr<MessageSource> source = Connected(Config());
  const std::string id = client_->Xadd("orders", {"k", "v"});
  absl::StatusOr<std::vector<Message>> got = source->Fetch(10, milliseconds(0));
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1U);
  Message message = (*got)[0];
  ASSERT_EQ(message.attempt, 1);

  const milliseconds delay(400);
  for (int attempt = 2; attempt <= 3; ++attempt) {
    const Clock::time_point retried = Clock::now();
    ASSERT_TRUE(source->Retry(message, delay).ok());
    absl::StatusOr<std::vector<Message>> early = source->Fetch(10, milliseconds(0));
    ASSERT_TRUE(early.ok()) << early.status();
    if (MillisSince(retried) < delay.count()) {
      EXPECT_THAT(*early, IsEmpty()) << "redelivered before its delay";
    }
    // A long wait is cut short when the retry falls due.
    absl::StatusOr<std::vector<Message>> again = source->Fetch(10, milliseconds(20000));
    const long long elapsed = MillisSince(retried);
    ASSERT_TRUE(again.ok()) << again.status();
    ASSERT_EQ(again->size(), 1U);
    message = (*again)[0];
    EXPECT_EQ(message.id, id);
    EXPECT_EQ(message.attempt, attempt);
    EXPECT_EQ(message.body, R"({"k":"v"})");
    EXPECT_GE(elapsed, delay.count());
    EXPECT_LT(elapsed, 10000);
  }
  // The broker counted the deliveries.
  const Value pending = client_->Cmd({"XPENDING", "orders", "workers", "-", "+", "10"});
  ASSERT_EQ(pending.elements.size(), 1U);
  EXPECT_EQ(pending.elements[0].elements[3].integer, 3);
  ASSERT_TRUE(source->Ack(message).ok());
  EXPECT_EQ(source->Lag().value_or(-1), 0);
}

TEST_F(RedisSourceTest, RetryLongerThanAckWaitStaysWithItsConsumer) {
  // The holder renews the entry's idle time at ack_wait / 2: 400 ms of slack
  // for a loaded machine to call Fetch() in time.
  RedisSourceConfig config = Config("a");
  config.ack_wait = milliseconds(800);
  std::unique_ptr<MessageSource> holder = Connected(config);
  config.consumer = "b";
  std::unique_ptr<MessageSource> other = Connected(config);
  client_->Xadd("orders", {"k", "v"});
  absl::StatusOr<std::vector<Message>> got = holder->Fetch(10, milliseconds(0));
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1U);

  const milliseconds delay(2400);  // 3 x ack_wait
  const Clock::time_point retried = Clock::now();
  ASSERT_TRUE(holder->Retry((*got)[0], delay).ok());
  std::vector<Message> redelivered;
  const Clock::time_point deadline = retried + std::chrono::seconds(15);
  while (redelivered.empty() && Clock::now() < deadline) {
    absl::StatusOr<std::vector<Message>> stolen = other->Fetch(10, milliseconds(50));
    ASSERT_TRUE(stolen.ok()) << stolen.status();
    ASSERT_THAT(*stolen, IsEmpty()) << "another consumer claimed a retry waiting for its delay";
    absl::StatusOr<std::vector<Message>> mine = holder->Fetch(10, milliseconds(50));
    ASSERT_TRUE(mine.ok()) << mine.status();
    redelivered = *mine;
  }
  ASSERT_EQ(redelivered.size(), 1U);
  EXPECT_GE(MillisSince(retried), delay.count());
  EXPECT_EQ(redelivered[0].attempt, 2);
}

// The delivery loop stops fetching while every slot is busy, but reads the lag.
TEST_F(RedisSourceTest, RetryLongerThanAckWaitStaysWithItsConsumerThatOnlyReadsLag) {
  RedisSourceConfig config = Config("a");
  config.ack_wait = milliseconds(800);
  std::unique_ptr<MessageSource> holder = Connected(config);
  config.consumer = "b";
  std::unique_ptr<MessageSource> other = Connected(config);
  client_->Xadd("orders", {"k", "v"});
  absl::StatusOr<std::vector<Message>> got = holder->Fetch(10, milliseconds(0));
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1U);

  const milliseconds delay(2400);
  const Clock::time_point retried = Clock::now();
  ASSERT_TRUE(holder->Retry((*got)[0], delay).ok());
  while (MillisSince(retried) < delay.count()) {
    absl::StatusOr<std::vector<Message>> stolen = other->Fetch(10, milliseconds(50));
    ASSERT_TRUE(stolen.ok()) << stolen.status();
    ASSERT_THAT(*stolen, IsEmpty()) << "another consumer claimed a retry waiting for its delay";
    EXPECT_EQ(holder->Lag().value_or(-1), 1);
  }
  absl::StatusOr<std::vector<Message>> mine = holder->Fetch(10, milliseconds(0));
  ASSERT_TRUE(mine.ok()) << mine.status();
  ASSERT_EQ(mine->size(), 1U);
  EXPECT_EQ((*mine)[0].attempt, 2);
}

TEST_F(RedisSourceTest, RetryOfAnEntryAnotherConsumerTookIsLeftToIt) {
  std::unique_ptr<MessageSource> slow = Connected(Config("a"));
  std::unique_ptr<MessageSource> other = Connected(Config("b"));
  client_->Xadd("orders", {"k", "v"});
  absl::StatusOr<std::vector<Message>> got = slow->Fetch(10, milliseconds(0));
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1U);
  // "a" holds it past ack_wait; "b" takes it over.
  std::vector<Message> taken = FetchUntil(*other, 1);
  ASSERT_EQ(taken.size(), 1U);
  EXPECT_EQ(taken[0].attempt, 2);

  ASSERT_TRUE(slow->Retry((*got)[0], milliseconds(0)).ok());
  absl::StatusOr<std::vector<Message>> again = slow->Fetch(10, milliseconds(0));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_THAT(*again, IsEmpty()) << "a retry took back an entry another consumer holds";
  const Value pending = client_->Cmd({"XPENDING", "orders", "workers", "-", "+", "10"});
  ASSERT_EQ(pending.elements.size(), 1U);
  EXPECT_EQ(pending.elements[0].elements[1].str, "b");
  EXPECT_EQ(pending.elements[0].elements[3].integer, 2);
}

TEST_F(RedisSourceTest, DeadLetterCopiesTheEntryAddsWhyAndAcks) {
  std::unique_ptr<MessageSource> source = Connected(Config());
  const std::string blob("\xff\x00\x01", 3);  // not UTF-8
  const std::string id = client_->Xadd("orders", {"customer", "c-1", "blob", blob});
  absl::StatusOr<std::vector<Message>> got = source->Fetch(10, milliseconds(0));
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1U);
  // The body replaces what is not UTF-8; the dead letter keeps the bytes.
  EXPECT_EQ((*got)[0].body, "{\"customer\":\"c-1\",\"blob\":\"\xEF\xBF\xBD\\u0000\\u0001\"}");
  ASSERT_TRUE(source->Retry((*got)[0], milliseconds(0)).ok());
  absl::StatusOr<std::vector<Message>> again = source->Fetch(10, milliseconds(1000));
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_EQ(again->size(), 1U);
  ASSERT_EQ((*again)[0].attempt, 2);

  const absl::Status status = source->DeadLetter((*again)[0], "HTTP 500", "default/resize/orders");
  ASSERT_TRUE(status.ok()) << status;
  const Value dead = client_->Cmd({"XRANGE", "orders-dlq", "-", "+"});
  ASSERT_EQ(dead.elements.size(), 1U);
  std::vector<std::string> fields;
  for (const Value& field : dead.elements[0].elements[1].elements) fields.push_back(field.str);
  EXPECT_THAT(fields, ElementsAre("customer", "c-1", "blob", blob, "zeroscale-error", "HTTP 500",
                                  "zeroscale-attempts", "2", "zeroscale-source", "orders",
                                  "zeroscale-source-id", id, "zeroscale-trigger", "default/resize/orders"));
  EXPECT_EQ(client_->PendingCount("orders", "workers"), 0);
  EXPECT_EQ(source->Lag().value_or(-1), 0);
}

TEST_F(RedisSourceTest, DeadLetterOfADeletedEntryUsesTheBody) {
  std::unique_ptr<MessageSource> source = Connected(Config());
  const std::string id = client_->Xadd("orders", {"customer", "c-2"});
  absl::StatusOr<std::vector<Message>> got = source->Fetch(10, milliseconds(0));
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1U);
  ASSERT_EQ(client_->Cmd({"XDEL", "orders", id}).integer, 1);
  ASSERT_TRUE(source->DeadLetter((*got)[0], "timeout after 35 s", "ns/fn/t").ok());
  const Value dead = client_->Cmd({"XRANGE", "orders-dlq", "-", "+"});
  ASSERT_EQ(dead.elements.size(), 1U);
  const Value& fields = dead.elements[0].elements[1];
  ASSERT_GE(fields.elements.size(), 2U);
  EXPECT_EQ(fields.elements[0].str, "customer");
  EXPECT_EQ(fields.elements[1].str, "c-2");
  EXPECT_EQ(fields.Get("zeroscale-error")->str, "timeout after 35 s");
  EXPECT_EQ(client_->PendingCount("orders", "workers"), 0);
}

TEST_F(RedisSourceTest, DeadLetterThatCannotBeWrittenLeavesTheMessagePending) {
  std::unique_ptr<MessageSource> source = Connected(Config());
  ASSERT_EQ(client_->Cmd({"SET", "orders-dlq", "not a stream"}).str, "OK");
  client_->Xadd("orders", {"k", "v"});
  absl::StatusOr<std::vector<Message>> got = source->Fetch(10, milliseconds(0));
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1U);
  const absl::Status status = source->DeadLetter((*got)[0], "HTTP 500", "ns/fn/t");
  EXPECT_TRUE(absl::IsUnavailable(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr("dead-letter stream orders-dlq: WRONGTYPE"));
  EXPECT_EQ(client_->PendingCount("orders", "workers"), 1);
}

TEST_F(RedisSourceTest, TwoConsumersShareTheEntriesWithoutDuplicates) {
  std::unique_ptr<MessageSource> a = Connected(Config("a"));
  std::unique_ptr<MessageSource> b = Connected(Config("b"));
  std::set<std::string> added;
  for (int i = 0; i < 100; ++i) added.insert(client_->Xadd("orders", {"i", std::to_string(i)}));

  std::map<std::string, std::string> delivered_to;  // id -> consumer
  int duplicates = 0;
  const Clock::time_point deadline = Clock::now() + std::chrono::seconds(20);
  while (delivered_to.size() < added.size() && Clock::now() < deadline) {
    for (auto& [name, source] : {std::pair{"a", a.get()}, std::pair{"b", b.get()}}) {
      absl::StatusOr<std::vector<Message>> got = source->Fetch(7, milliseconds(50));
      ASSERT_TRUE(got.ok()) << got.status();
      for (const Message& message : *got) {
        EXPECT_EQ(message.attempt, 1);
        if (!delivered_to.emplace(message.id, name).second) ++duplicates;
        ASSERT_TRUE(source->Ack(message).ok());
      }
    }
  }
  EXPECT_EQ(duplicates, 0);
  ASSERT_EQ(delivered_to.size(), 100U);
  int to_a = 0;
  for (const auto& [id, name] : delivered_to) {
    EXPECT_TRUE(added.contains(id)) << id;
    if (name == std::string("a")) ++to_a;
  }
  EXPECT_GT(to_a, 0);
  EXPECT_LT(to_a, 100);
  EXPECT_EQ(a->Lag().value_or(-1), 0);
}

TEST_F(RedisSourceTest, EntriesOfADestroyedConsumerGoToAnotherAfterAckWait) {
  std::unique_ptr<MessageSource> holder = Connected(Config("a"));
  std::unique_ptr<MessageSource> other = Connected(Config("b"));
  for (int i = 0; i < 3; ++i) client_->Xadd("orders", {"i", std::to_string(i)});
  // The server delivers them after this (its idle clock starts later), and
  // counts in whole milliseconds: hence the 2 ms of slack below.
  const Clock::time_point fetching = Clock::now();
  absl::StatusOr<std::vector<Message>> held = holder->Fetch(10, milliseconds(0));
  ASSERT_TRUE(held.ok()) << held.status();
  ASSERT_EQ(held->size(), 3U);
  holder.reset();  // never acknowledged

  absl::StatusOr<std::vector<Message>> taken = other->Fetch(10, milliseconds(0));
  ASSERT_TRUE(taken.ok()) << taken.status();
  if (MillisSince(fetching) < 298) {
    EXPECT_THAT(*taken, IsEmpty()) << "claimed before ack_wait";
  }
  std::vector<Message> rest = FetchUntil(*other, 3 - taken->size());
  taken->insert(taken->end(), rest.begin(), rest.end());
  EXPECT_GE(MillisSince(fetching), 298);
  ASSERT_EQ(taken->size(), 3U);
  EXPECT_EQ(Ids(*taken), Ids(*held));
  for (size_t i = 0; i < taken->size(); ++i) {
    EXPECT_EQ((*taken)[i].attempt, 2) << (*taken)[i].id;
    EXPECT_EQ((*taken)[i].body, (*held)[i].body);
  }
  const Value pending = client_->Cmd({"XPENDING", "orders", "workers", "-", "+", "10"});
  ASSERT_EQ(pending.elements.size(), 3U);
  for (const Value& entry : pending.elements) EXPECT_EQ(entry.elements[1].str, "b");
  for (const Message& message : *taken) ASSERT_TRUE(other->Ack(message).ok());
  EXPECT_EQ(other->Lag().value_or(-1), 0);
}

TEST_F(RedisSourceTest, EntriesDeletedWhilePendingAreSkipped) {
  std::unique_ptr<MessageSource> holder = Connected(Config("a"));
  std::unique_ptr<MessageSource> other = Connected(Config("b"));
  const std::string gone = client_->Xadd("orders", {"i", "1"});
  const std::string kept = client_->Xadd("orders", {"i", "2"});
  const std::string gone_too = client_->Xadd("orders", {"i", "3"});
  const std::string kept_too = client_->Xadd("orders", {"i", "4"});

  // Own retries.
  absl::StatusOr<std::vector<Message>> got = holder->Fetch(2, milliseconds(0));
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_THAT(Ids(*got), ElementsAre(gone, kept));
  ASSERT_EQ(client_->Cmd({"XDEL", "orders", gone}).integer, 1);
  for (const Message& message : *got) ASSERT_TRUE(holder->Retry(message, milliseconds(0)).ok());
  // Due retries come first; the deleted one is not among them.
  absl::StatusOr<std::vector<Message>> again = holder->Fetch(1, milliseconds(0));
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_EQ(again->size(), 1U);
  EXPECT_EQ((*again)[0].id, kept);
  EXPECT_EQ((*again)[0].attempt, 2);
  ASSERT_TRUE(holder->Ack((*again)[0]).ok());
  EXPECT_EQ(client_->PendingCount("orders", "workers"), 0);

  // Another consumer's, past ack_wait.
  absl::StatusOr<std::vector<Message>> more = holder->Fetch(10, milliseconds(0));
  ASSERT_TRUE(more.ok()) << more.status();
  ASSERT_THAT(Ids(*more), ElementsAre(gone_too, kept_too));
  ASSERT_EQ(client_->Cmd({"XDEL", "orders", gone_too}).integer, 1);
  holder.reset();
  std::vector<Message> taken = FetchUntil(*other, 1);
  ASSERT_EQ(taken.size(), 1U);
  EXPECT_EQ(taken[0].id, kept_too);
  ASSERT_TRUE(other->Ack(taken[0]).ok());
  EXPECT_EQ(client_->PendingCount("orders", "workers"), 0);
}

TEST_F(RedisSourceTest, ServerClosingTheConnectionIsAnErrorAndTheNextCallReconnects) {
  std::unique_ptr<MessageSource> source = Connected(Config());
  ASSERT_GE(client_->Cmd({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"}).integer, 1);
  absl::StatusOr<int64_t> lag = source->Lag();
  ASSERT_FALSE(lag.ok());
  EXPECT_TRUE(absl::IsUnavailable(lag.status())) << lag.status();
  EXPECT_THAT(lag.status().message(), HasSubstr("redis " + server_.address() + ": "));
  client_->Xadd("orders", {"k", "v"});
  absl::StatusOr<std::vector<Message>> got = source->Fetch(10, milliseconds(0));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->size(), 1U);
}

TEST_F(RedisSourceTest, ServerThatStopsAnsweringIsATimeoutAndTheNextCallReconnects) {
  RedisSourceConfig config = Config();
  config.io_timeout = milliseconds(300);
  std::unique_ptr<MessageSource> source = Connected(config);
  server_.Signal(SIGSTOP);
  const Clock::time_point start = Clock::now();
  absl::StatusOr<std::vector<Message>> got = source->Fetch(10, milliseconds(2000));
  const long long elapsed = MillisSince(start);
  server_.Signal(SIGCONT);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().message(), "redis " + server_.address() + ": no reply within 300 ms");
  EXPECT_GE(elapsed, 300);
  EXPECT_LT(elapsed, 2000 + 300);
  const absl::Status reconnected = source->Connect();
  EXPECT_TRUE(reconnected.ok()) << reconnected;
  client_->Xadd("orders", {"k", "v"});
  absl::StatusOr<std::vector<Message>> after = source->Fetch(10, milliseconds(1000));
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->size(), 1U);
}

TEST_F(RedisSourceTest, ServerKilledIsAnErrorAndARestartedOneStillHasThePendingEntries) {
  RedisSourceConfig config = Config();
  config.io_timeout = milliseconds(1000);
  std::unique_ptr<MessageSource> source = Connected(config);
  std::vector<std::string> ids;
  ids.reserve(3);
  for (int i = 0; i < 3; ++i) ids.push_back(client_->Xadd("orders", {"i", std::to_string(i)}));
  absl::StatusOr<std::vector<Message>> first = source->Fetch(1, milliseconds(0));
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->size(), 1U);  // pending, never acknowledged

  server_.Stop(SIGKILL);
  const std::string prefix = "redis " + server_.address() + ": ";
  absl::StatusOr<std::vector<Message>> fetch = source->Fetch(10, milliseconds(100));
  ASSERT_FALSE(fetch.ok());
  EXPECT_TRUE(absl::IsUnavailable(fetch.status())) << fetch.status();
  EXPECT_THAT(fetch.status().message(), HasSubstr(prefix)) << fetch.status();
  const absl::Status connect = source->Connect();
  EXPECT_EQ(connect.message(), prefix + "connection refused") << connect;
  EXPECT_FALSE(source->Ack((*first)[0]).ok());
  EXPECT_FALSE(source->Lag().ok());
  EXPECT_FALSE(source->DeadLetter((*first)[0], "x", "t").ok());

  ASSERT_TRUE(server_.Start()) << "redis-server did not restart";
  absl::Status recovered = source->Connect();
  const Clock::time_point deadline = Clock::now() + std::chrono::seconds(10);
  while (!recovered.ok() && Clock::now() < deadline) {  // LOADING while it reads the AOF
    std::this_thread::sleep_for(milliseconds(20));
    recovered = source->Connect();
  }
  ASSERT_TRUE(recovered.ok()) << recovered;
  EXPECT_EQ(source->Lag().value_or(-1), 3) << "2 undelivered + 1 pending survived the crash";

  std::vector<Message> got = FetchUntil(*source, 3);
  ASSERT_EQ(got.size(), 3U);
  std::map<std::string, int64_t> attempts;
  for (const Message& message : got) attempts[message.id] = message.attempt;
  EXPECT_EQ(attempts, (std::map<std::string, int64_t>{{ids[0], 2}, {ids[1], 1}, {ids[2], 1}}));
  for (const Message& message : got) ASSERT_TRUE(source->Ack(message).ok());
  EXPECT_EQ(source->Lag().value_or(-1), 0);
}

TEST(RedisSourceAuthTest, WrongPasswordIsReported) {
  BrokerServer server(BrokerServer::Kind::kRedis, "s3cret");
  ASSERT_TRUE(server.Start());
  RedisSourceConfig config = SourceConfig(server.address(), "wrong");
  const absl::Status status = MakeRedisSource(config)->Connect();
  EXPECT_TRUE(absl::IsUnavailable(status)) << status;
  EXPECT_EQ(status.message(),
            "redis " + server.address() + ": WRONGPASS invalid username-password pair or user is disabled.");

  config.password = "s3cret";
  std::unique_ptr<MessageSource> source = MakeRedisSource(config);
  ASSERT_TRUE(source->Connect().ok());
  Client client(server.port(), "s3cret");
  client.Xadd("orders", {"k", "v"});
  absl::StatusOr<std::vector<Message>> got = source->Fetch(10, milliseconds(1000));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->size(), 1U);
}

TEST(RedisSourceAuthTest, MissingPasswordIsReported) {
  BrokerServer server(BrokerServer::Kind::kRedis, "s3cret");
  ASSERT_TRUE(server.Start());
  const RedisSourceConfig config = SourceConfig(server.address());
  const absl::Status status = MakeRedisSource(config)->Connect();
  EXPECT_TRUE(absl::IsUnavailable(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr("redis " + server.address() + ": "));
  EXPECT_THAT(status.message(), HasSubstr("NOAUTH"));
}

TEST(RedisSourceErrorsTest, NoServerIsConnectionRefused) {
  const std::string address = "127.0.0.1:" + std::to_string(testing::FreeLoopbackPort());
  const RedisSourceConfig config = SourceConfig(address);
  std::unique_ptr<MessageSource> source = MakeRedisSource(config);
  EXPECT_EQ(source->Connect().message(), "redis " + address + ": connection refused");
  absl::StatusOr<std::vector<Message>> got = source->Fetch(1, milliseconds(10));
  EXPECT_EQ(got.status().message(), "redis " + address + ": connection refused");
}

TEST_F(RedisSourceTest, KeyOfAnotherTypeIsReported) {
  ASSERT_EQ(client_->Cmd({"SET", "orders", "x"}).str, "OK");
  const absl::Status status = MakeRedisSource(Config())->Connect();
  EXPECT_TRUE(absl::IsUnavailable(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr("redis " + server_.address() + ": stream orders: WRONGTYPE"));
}

TEST(RedisSourceErrorsTest, ConfigIsChecked) {
  RedisSourceConfig no_group = SourceConfig("127.0.0.1:1");
  no_group.group.clear();
  EXPECT_TRUE(absl::IsInvalidArgument(MakeRedisSource(no_group)->Connect()));
  EXPECT_TRUE(absl::IsInvalidArgument(MakeRedisSource(SourceConfig("127.0.0.1:x"))->Connect()));
  RedisSourceConfig no_ack_wait = SourceConfig("127.0.0.1:1");
  no_ack_wait.ack_wait = milliseconds(0);
  EXPECT_TRUE(absl::IsInvalidArgument(MakeRedisSource(no_ack_wait)->Connect()));
}

}  // namespace
}  // namespace zs::triggers
