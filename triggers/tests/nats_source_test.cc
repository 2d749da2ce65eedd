// NatsSource against a real nats-server 2.9 with JetStream (one per test, on
// a free loopback port, its store in a scratch directory).
#include "triggers/brokers/nats_source.h"

#include <nats/nats.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "triggers/tests/broker_process.h"

namespace zs::triggers {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using zs::triggers::testing::BrokerServer;
using Headers = std::vector<std::pair<std::string, std::string>>;

// The test's own client: makes streams and consumers, publishes, reads back.
class Admin {
 public:
  // `creds_file`: a .creds file to authenticate with (empty: none).
  explicit Admin(const std::string& url, const std::string& creds_file = "") {
    natsOptions* opts = nullptr;
    natsOptions_Create(&opts);
    natsOptions_SetURL(opts, url.c_str());
    natsOptions_SetTimeout(opts, 2000);
    if (!creds_file.empty()) natsOptions_SetUserCredentialsFromFiles(opts, creds_file.c_str(), nullptr);
    status_ = natsConnection_Connect(&nc_, opts);
    natsOptions_Destroy(opts);
    if (status_ == NATS_OK) status_ = natsConnection_JetStream(&js_, nc_, nullptr);
  }
  ~Admin() {
    jsCtx_Destroy(js_);
    natsConnection_Destroy(nc_);
  }
  Admin(const Admin&) = delete;
  Admin& operator=(const Admin&) = delete;

  natsStatus status() const { return status_; }
  jsCtx* js() { return js_; }

  natsStatus AddStream(const std::string& name, std::vector<const char*> subjects) {
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = name.c_str();
    cfg.Subjects = subjects.data();
    cfg.SubjectsLen = static_cast<int>(subjects.size());
    cfg.Storage = js_FileStorage;
    jsStreamInfo* si = nullptr;
    const natsStatus s = js_AddStream(&si, js_, &cfg, nullptr, nullptr);
    jsStreamInfo_Destroy(si);
    return s;
  }

  natsStatus AddConsumer(const std::string& stream, const std::string& durable, const std::string& filter,
                         milliseconds ack_wait, int max_ack_pending) {
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = durable.c_str();
    cc.AckPolicy = js_AckExplicit;
    cc.FilterSubject = filter.empty() ? nullptr : filter.c_str();
    cc.AckWait = std::chrono::duration_cast<std::chrono::nanoseconds>(ack_wait).count();
    cc.MaxAckPending = max_ack_pending;
    jsConsumerInfo* ci = nullptr;
    const natsStatus s = js_AddConsumer(&ci, js_, stream.c_str(), &cc, nullptr, nullptr);
    jsConsumerInfo_Destroy(ci);
    return s;
  }

  // The consumer's info (caller destroys), null when absent.
  jsConsumerInfo* ConsumerInfo(const std::string& stream, const std::string& durable) {
    jsConsumerInfo* ci = nullptr;
    if (js_GetConsumerInfo(&ci, js_, stream.c_str(), durable.c_str(), nullptr, nullptr) != NATS_OK)
      return nullptr;
    return ci;
  }

  // Publishes through JetStream; the stream sequence, 0 on failure.
  uint64_t Publish(const std::string& subject, const std::string& body, const Headers& headers = {}) {
    natsMsg* msg = nullptr;
    if (natsMsg_Create(&msg, subject.c_str(), nullptr, body.data(), static_cast<int>(body.size())) !=
        NATS_OK) {
      return 0;
    }
    for (const auto& [name, value] : headers) natsMsgHeader_Add(msg, name.c_str(), value.c_str());
    jsPubAck* ack = nullptr;
    const natsStatus s = js_PublishMsg(&ack, js_, msg, nullptr, nullptr);
    natsMsg_Destroy(msg);
    const uint64_t seq = s == NATS_OK ? ack->Sequence : 0;
    jsPubAck_Destroy(ack);
    return seq;
  }

  // A stored message: its data and headers (names sorted, values in order).
  struct Stored {
    bool found = false;
    std::string data;
    std::map<std::string, std::vector<std::string>> headers;
  };
  Stored Get(const std::string& stream, uint64_t seq) {
    Stored out;
    natsMsg* msg = nullptr;
    if (js_GetMsg(&msg, js_, stream.c_str(), seq, nullptr, nullptr) != NATS_OK) return out;
    out.found = true;
    out.data.assign(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg)));
    const char** keys = nullptr;
    int count = 0;
    if (natsMsgHeader_Keys(msg, &keys, &count) == NATS_OK) {
      for (int i = 0; i < count; ++i) {
        const char** values = nullptr;
        int n = 0;
        natsMsgHeader_Values(msg, keys[i], &values, &n);
        for (int j = 0; j < n; ++j) out.headers[keys[i]].emplace_back(values[j]);
        free(static_cast<void*>(values));
      }
      free(static_cast<void*>(keys));
    }
    natsMsg_Destroy(msg);
    return out;
  }

 private:
  natsStatus status_ = NATS_OK;
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
};

class NatsSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start()) << "nats-server did not start (Debian's nats-server package)";
    admin_ = std::make_unique<Admin>(server_.nats_url());
    ASSERT_EQ(admin_->status(), NATS_OK);
    ASSERT_EQ(admin_->AddStream("SUBMISSIONS", {"submissions.>"}), NATS_OK);
    ASSERT_EQ(admin_->AddStream("DEAD", {"dead.>"}), NATS_OK);
  }

  NatsSourceConfig Config() const {
    NatsSourceConfig c;
    c.url = server_.nats_url();
    c.stream = "SUBMISSIONS";
    c.subject = "submissions.>";
    c.consumer = "grader";
    c.dead_letter_subject = "dead.submissions";
    c.ack_wait = milliseconds(60000);
    c.io_timeout = milliseconds(2000);
    return c;
  }

  // Fetches until `n` messages came or `within` passed.
 public:
  static std::vector<Message> FetchN(MessageSource& source, size_t n,
                                     milliseconds within = milliseconds(10000)) {
    std::vector<Message> out;
    const auto deadline = Clock::now() + within;
    while (out.size() < n && Clock::now() < deadline) {
      auto got = source.Fetch(static_cast<int>(n - out.size()), milliseconds(200));
      if (!got.ok()) continue;
      for (Message& m : *got) out.push_back(std::move(m));
    }
    return out;
  }

 protected:
  BrokerServer server_{BrokerServer::Kind::kNats};
  std::unique_ptr<Admin> admin_;
};

TEST(NatsSubjectMatches, TokensStarAndTail) {
  EXPECT_TRUE(NatsSubjectMatches("a.b", "a.b"));
  EXPECT_FALSE(NatsSubjectMatches("a.b", "a.b.c"));
  EXPECT_FALSE(NatsSubjectMatches("a.b.c", "a.b"));
  EXPECT_TRUE(NatsSubjectMatches("a.*", "a.b"));
  EXPECT_FALSE(NatsSubjectMatches("a.*", "a.b.c"));
  EXPECT_TRUE(NatsSubjectMatches("*.b", "a.b"));
  EXPECT_TRUE(NatsSubjectMatches("a.>", "a.b.c"));
  EXPECT_FALSE(NatsSubjectMatches("a.>", "a"));
  EXPECT_TRUE(NatsSubjectMatches(">", "a"));
  EXPECT_TRUE(NatsSubjectMatches("*.*.>", "a.b.c"));
  EXPECT_FALSE(NatsSubjectMatches("*.*.>", "a.b"));
  EXPECT_FALSE(NatsSubjectMatches("ab", "a"));
}

TEST_F(NatsSourceTest, ConnectCreatesTheDurableConsumerWhenAbsent) {
  auto config = Config();
  config.ack_wait = milliseconds(1500);
  config.max_ack_pending = 17;
  auto source = MakeNatsSource(config);
  ASSERT_TRUE(source->Connect().ok());
  EXPECT_TRUE(source->Connect().ok()) << "idempotent";

  jsConsumerInfo* ci = admin_->ConsumerInfo("SUBMISSIONS", "grader");
  ASSERT_NE(ci, nullptr);
  EXPECT_STREQ(ci->Config->Durable, "grader");
  EXPECT_STREQ(ci->Config->FilterSubject, "submissions.>");
  EXPECT_EQ(ci->Config->AckPolicy, js_AckExplicit);
  EXPECT_EQ(ci->Config->DeliverPolicy, js_DeliverAll);
  EXPECT_EQ(ci->Config->AckWait, 1500LL * 1000 * 1000);
  EXPECT_EQ(ci->Config->MaxAckPending, 17);
  EXPECT_EQ(ci->Config->MaxDeliver, -1);
  EXPECT_TRUE(ci->Config->DeliverSubject == nullptr || *ci->Config->DeliverSubject == '\0')
      << "a pull consumer";
  jsConsumerInfo_Destroy(ci);
}

TEST_F(NatsSourceTest, ConnectUsesAnExistingConsumerAsItIs) {
  ASSERT_EQ(admin_->AddConsumer("SUBMISSIONS", "grader", "submissions.>", milliseconds(30000), 7), NATS_OK);
  ASSERT_EQ(admin_->Publish("submissions.a", "one"), 1U);
  auto source = MakeNatsSource(Config());
  ASSERT_TRUE(source->Connect().ok());

  jsConsumerInfo* ci = admin_->ConsumerInfo("SUBMISSIONS", "grader");
  ASSERT_NE(ci, nullptr);
  EXPECT_EQ(ci->Config->AckWait, 30000LL * 1000 * 1000);
  EXPECT_EQ(ci->Config->MaxAckPending, 7);
  jsConsumerInfo_Destroy(ci);
  auto got = FetchN(*source, 1);
  ASSERT_EQ(got.size(), 1U);
  EXPECT_EQ(got[0].body, "one");
}

TEST_F(NatsSourceTest, ConnectRefusesAnExistingConsumerWithAnotherFilter) {
  ASSERT_EQ(admin_->AddConsumer("SUBMISSIONS", "grader", "submissions.other", milliseconds(30000), 7),
            NATS_OK);
  auto source = MakeNatsSource(Config());
  const absl::Status s = source->Connect();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(s.message(), HasSubstr("consumer grader of stream SUBMISSIONS exists with filter subject "
                                     "\"submissions.other\", not \"submissions.>\""));
}

TEST_F(NatsSourceTest, ConnectReportsAMissingStream) {
  auto config = Config();
  config.stream = "MISSING";
  const absl::Status s = MakeNatsSource(config)->Connect();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_EQ(s.message(), "nats nats://" + server_.address() + ": stream MISSING not found");
}

TEST_F(NatsSourceTest, ConnectReportsNoServerPromptly) {
  auto config = Config();
  config.url = "nats://127.0.0.1:" + std::to_string(testing::FreeLoopbackPort());
  const auto start = Clock::now();
  const absl::Status s = MakeNatsSource(config)->Connect();
  EXPECT_LT(Clock::now() - start, config.io_timeout);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_EQ(s.message(), "nats " + config.url + ": no servers available for connection");
}

TEST_F(NatsSourceTest, DeadLetterSubjectReadByTheConsumerIsRefused) {
  auto config = Config();
  config.dead_letter_subject = "submissions.dead";
  absl::Status s = MakeNatsSource(config)->Connect();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(s.message(), HasSubstr("dead-letter subject submissions.dead is matched by \"submissions.>\""));
  EXPECT_EQ(admin_->ConsumerInfo("SUBMISSIONS", "grader"), nullptr) << "refused before creating anything";

  // Without a filter the consumer reads all the stream's subjects.
  config.subject = "";
  config.dead_letter_subject = "submissions.x.dead";
  s = MakeNatsSource(config)->Connect();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(s.message(), HasSubstr("it would consume its own dead letters"));

  // A narrower filter leaves the rest of the stream's subjects free.
  config.subject = "submissions.work";
  EXPECT_TRUE(MakeNatsSource(config)->Connect().ok());

  config.dead_letter_subject = "dead.*";
  s = MakeNatsSource(config)->Connect();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
}

TEST_F(NatsSourceTest, WrongPasswordIsAnAuthorizationError) {
  BrokerServer secured(BrokerServer::Kind::kNats, "s3cret");
  ASSERT_TRUE(secured.Start());
  {
    Admin admin(secured.nats_url());
    ASSERT_EQ(admin.status(), NATS_OK);
    ASSERT_EQ(admin.AddStream("SUBMISSIONS", {"submissions.>"}), NATS_OK);
  }
  auto config = Config();
  config.url = "nats://zs:wrong@" + secured.address();
  const absl::Status s = MakeNatsSource(config)->Connect();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_EQ(s.message(), "nats nats://" + secured.address() + ": authorization violation")
      << "the server's words, and no password";

  config.url = secured.nats_url();
  EXPECT_TRUE(MakeNatsSource(config)->Connect().ok());
}

TEST_F(NatsSourceTest, EachMessageIsFetchedOnceWithHeadersAndBody) {
  const std::string binary("\0\x01\xff payload", 11);
  for (int i = 1; i <= 5; ++i) {
    ASSERT_EQ(admin_->Publish("submissions.s" + std::to_string(i), binary + std::to_string(i),
                              {{"X-B", "b1"}, {"X-A", "a1"}, {"X-B", "b2"}}),
              static_cast<uint64_t>(i));
  }
  auto source = MakeNatsSource(Config());
  ASSERT_TRUE(source->Connect().ok());
  auto got = FetchN(*source, 5);
  ASSERT_EQ(got.size(), 5U);
  for (int i = 1; i <= 5; ++i) {
    const Message& m = got[i - 1];
    EXPECT_EQ(m.id, std::to_string(i));
    EXPECT_EQ(m.subject, "submissions.s" + std::to_string(i));
    EXPECT_EQ(m.body, binary + std::to_string(i));
    EXPECT_EQ(m.attempt, 1);
    EXPECT_THAT(m.headers, ElementsAre(Pair("X-A", "a1"), Pair("X-B", "b1"), Pair("X-B", "b2")));
  }
  auto more = source->Fetch(10, milliseconds(300));
  ASSERT_TRUE(more.ok()) << more.status();
  EXPECT_TRUE(more->empty()) << "nothing is handed out twice";
  for (const Message& m : got) EXPECT_TRUE(source->Ack(m).ok());
  EXPECT_EQ(source->Ack(got[0]).code(), absl::StatusCode::kFailedPrecondition) << "settled already";
}

TEST_F(NatsSourceTest, FetchReturnsAsSoonAsAMessageArrives) {
  auto source = MakeNatsSource(Config());
  ASSERT_TRUE(source->Connect().ok());
  auto empty = source->Fetch(10, milliseconds(300));
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->empty());

  std::thread publisher([&] {
    // Publish once the fetch below is waiting on the server.
    std::this_thread::sleep_for(milliseconds(300));
    admin_->Publish("submissions.late", "late");
  });
  const auto start = Clock::now();
  // A long wait, so that returning well before it proves the point even on
  // a loaded machine (a batch-filling fetch would take all 30 s).
  auto got = source->Fetch(10, milliseconds(30000));
  const auto took = Clock::now() - start;
  publisher.join();
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1U);
  EXPECT_EQ((*got)[0].body, "late");
  EXPECT_LT(took, milliseconds(15000)) << "did not wait for the whole batch";
}

TEST_F(NatsSourceTest, LagCountsUndeliveredAndUnacknowledged) {
  for (int i = 0; i < 3; ++i) ASSERT_NE(admin_->Publish("submissions.a", "m"), 0U);
  auto source = MakeNatsSource(Config());
  ASSERT_TRUE(source->Connect().ok());
  EXPECT_EQ(source->Lag().value_or(-1), 3);
  auto got = FetchN(*source, 2);
  ASSERT_EQ(got.size(), 2U);
  EXPECT_EQ(source->Lag().value_or(-1), 3) << "1 undelivered + 2 unacknowledged";
  ASSERT_TRUE(source->Ack(got[0]).ok());
  EXPECT_EQ(source->Lag().value_or(-1), 2);
  ASSERT_TRUE(source->Ack(got[1]).ok());
  EXPECT_EQ(source->Lag().value_or(-1), 1);
  auto last = FetchN(*source, 1);
  ASSERT_EQ(last.size(), 1U);
  ASSERT_TRUE(source->Ack(last[0]).ok());
  EXPECT_EQ(source->Lag().value_or(-1), 0);
}

TEST_F(NatsSourceTest, RetryRedeliversAfterTheDelayWithTheNextAttempt) {
  ASSERT_EQ(admin_->Publish("submissions.a", "again"), 1U);
  auto source = MakeNatsSource(Config());  // ack_wait 60 s: only the NAK delay can bring it back
  ASSERT_TRUE(source->Connect().ok());
  auto got = FetchN(*source, 1);
  ASSERT_EQ(got.size(), 1U);
  const milliseconds delay(1500);
  const auto retried = Clock::now();
  ASSERT_TRUE(source->Retry(got[0], delay).ok());
  EXPECT_EQ(source->Lag().value_or(-1), 1);

  // Not before the delay...
  while (Clock::now() < retried + delay - milliseconds(300)) {
    auto early = source->Fetch(1, milliseconds(100));
    ASSERT_TRUE(early.ok()) << early.status();
    ASSERT_TRUE(early->empty()) << "redelivered "
                                << std::chrono::duration_cast<milliseconds>(Clock::now() - retried).count()
                                << " ms after a retry with delay 1500 ms";
  }
  // ...and soon after it.
  auto again = FetchN(*source, 1);
  const auto after = Clock::now() - retried;
  ASSERT_EQ(again.size(), 1U);
  EXPECT_GE(after, delay);
  EXPECT_LT(after, delay + milliseconds(3000));
  EXPECT_EQ(again[0].id, "1");
  EXPECT_EQ(again[0].attempt, 2);
  EXPECT_EQ(again[0].body, "again");
  EXPECT_TRUE(source->Ack(again[0]).ok());
}

TEST_F(NatsSourceTest, DeadLetterPublishesTheOriginalWithWhereItCameFromThenAcks) {
  const std::string body("\0\x01poison", 8);
  ASSERT_EQ(admin_->Publish("submissions.s1", body, {{"X-A", "1"}, {"X-A", "2"}, {"Content-Type", "text/x"}}),
            1U);
  auto source = MakeNatsSource(Config());
  ASSERT_TRUE(source->Connect().ok());
  auto got = FetchN(*source, 1);
  ASSERT_EQ(got.size(), 1U);
  const absl::Status s = source->DeadLetter(got[0], "HTTP 500", "team-a/grade/submissions");
  ASSERT_TRUE(s.ok()) << s;

  const Admin::Stored dead = admin_->Get("DEAD", 1);
  ASSERT_TRUE(dead.found);
  EXPECT_EQ(dead.data, body);
  const std::map<std::string, std::vector<std::string>> want = {
      {"X-A", {"1", "2"}},
      {"Content-Type", {"text/x"}},
      {"Zeroscale-Error", {"HTTP 500"}},
      {"Zeroscale-Attempts", {"1"}},
      {"Zeroscale-Source", {"SUBMISSIONS"}},
      {"Zeroscale-Source-Id", {"1"}},
      {"Zeroscale-Source-Subject", {"submissions.s1"}},
      {"Zeroscale-Trigger", {"team-a/grade/submissions"}},
      {"Nats-Msg-Id", {"SUBMISSIONS:1"}},
  };
  EXPECT_EQ(dead.headers, want);
  EXPECT_EQ(source->Lag().value_or(-1), 0) << "acknowledged";
  auto more = source->Fetch(1, milliseconds(300));
  ASSERT_TRUE(more.ok());
  EXPECT_TRUE(more->empty());
}

TEST_F(NatsSourceTest, DeadLetterDropsPublishDirectivesAndLineBreaks) {
  // Stored with the message, these would make the dead-letter stream refuse
  // the copy (wrong stream) or deduplicate it against unrelated messages.
  ASSERT_EQ(admin_->Publish("submissions.s1", "x",
                            {{"Nats-Expected-Stream", "SUBMISSIONS"}, {"Nats-Msg-Id", "o-7"}}),
            1U);
  auto source = MakeNatsSource(Config());
  ASSERT_TRUE(source->Connect().ok());
  auto got = FetchN(*source, 1);
  ASSERT_EQ(got.size(), 1U);
  const absl::Status s = source->DeadLetter(got[0], "HTTP 500\r\nInternal error", "a/b/c");
  ASSERT_TRUE(s.ok()) << s;
  const Admin::Stored dead = admin_->Get("DEAD", 1);
  ASSERT_TRUE(dead.found);
  EXPECT_EQ(dead.headers.count("Nats-Expected-Stream"), 0U);
  EXPECT_EQ(dead.headers.at("Nats-Msg-Id"), std::vector<std::string>{"SUBMISSIONS:1"});
  EXPECT_EQ(dead.headers.at("Zeroscale-Source-Msg-Id"), std::vector<std::string>{"o-7"});
  EXPECT_EQ(dead.headers.at("Zeroscale-Error"), std::vector<std::string>{"HTTP 500  Internal error"})
      << "one header line";
}

TEST_F(NatsSourceTest, DeadLetterToASubjectNoStreamCapturesFailsAndKeepsTheMessage) {
  auto config = Config();
  config.dead_letter_subject = "nowhere.dead";
  config.ack_wait = milliseconds(500);
  auto source = MakeNatsSource(config);
  ASSERT_TRUE(source->Connect().ok());
  ASSERT_EQ(admin_->Publish("submissions.s1", "keep me"), 1U);
  auto got = FetchN(*source, 1);
  ASSERT_EQ(got.size(), 1U);
  const absl::Status s = source->DeadLetter(got[0], "HTTP 500", "a/b/c");
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("nowhere.dead: no stream captures the subject"));
  EXPECT_EQ(source->Lag().value_or(-1), 1) << "not acknowledged";
  auto again = FetchN(*source, 1);
  ASSERT_EQ(again.size(), 1U) << "delivered again after ack_wait";
  EXPECT_EQ(again[0].id, "1");
  EXPECT_EQ(again[0].attempt, 2);
  EXPECT_EQ(again[0].body, "keep me");
}

TEST_F(NatsSourceTest, TwoSourcesOnOneDurableSplitTheMessages) {
  for (int i = 0; i < 100; ++i) ASSERT_NE(admin_->Publish("submissions.a", std::to_string(i)), 0U);
  auto a = MakeNatsSource(Config());
  auto b = MakeNatsSource(Config());
  ASSERT_TRUE(a->Connect().ok());
  ASSERT_TRUE(b->Connect().ok());
  std::set<std::string> seen;
  int duplicates = 0;
  std::map<MessageSource*, int> per_source;
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  while (seen.size() < 100 && Clock::now() < deadline) {
    for (MessageSource* source : {a.get(), b.get()}) {
      auto got = source->Fetch(7, milliseconds(200));
      ASSERT_TRUE(got.ok()) << got.status();
      for (const Message& m : *got) {
        if (!seen.insert(m.id).second) ++duplicates;
        EXPECT_EQ(m.attempt, 1);
        ++per_source[source];
        ASSERT_TRUE(source->Ack(m).ok());
      }
    }
  }
  EXPECT_EQ(seen.size(), 100U);
  EXPECT_EQ(duplicates, 0);
  EXPECT_GT(per_source[a.get()], 0);
  EXPECT_GT(per_source[b.get()], 0);
  EXPECT_EQ(a->Lag().value_or(-1), 0);
}

TEST_F(NatsSourceTest, ADestroyedSourceLeavesWhatItHeldToTheOther) {
  auto config = Config();
  config.ack_wait = milliseconds(500);
  for (int i = 0; i < 5; ++i) ASSERT_NE(admin_->Publish("submissions.a", std::to_string(i)), 0U);
  auto holder = MakeNatsSource(config);
  auto other = MakeNatsSource(config);
  ASSERT_TRUE(holder->Connect().ok());
  ASSERT_TRUE(other->Connect().ok());
  auto held = FetchN(*holder, 5);
  ASSERT_EQ(held.size(), 5U);
  holder.reset();  // no ack: the broker takes them back after ack_wait

  auto got = FetchN(*other, 5);
  ASSERT_EQ(got.size(), 5U);
  std::set<std::string> ids;
  for (const Message& m : got) {
    ids.insert(m.id);
    EXPECT_EQ(m.attempt, 2);
    EXPECT_TRUE(other->Ack(m).ok());
  }
  EXPECT_EQ(ids, (std::set<std::string>{"1", "2", "3", "4", "5"}));
}

TEST_F(NatsSourceTest, SurvivesAServerCrashAndDeliversWhatWasUnacknowledged) {
  auto config = Config();
  config.ack_wait = milliseconds(1000);
  for (int i = 0; i < 3; ++i) ASSERT_NE(admin_->Publish("submissions.a", std::to_string(i)), 0U);
  auto source = MakeNatsSource(config);
  ASSERT_TRUE(source->Connect().ok());
  auto held = FetchN(*source, 1);
  ASSERT_EQ(held.size(), 1U);
  admin_.reset();

  server_.Stop(SIGKILL);
  // Each call fails promptly once the client has seen the connection drop
  // (a Fetch already waiting returns at its wait).
  absl::Status fetch_error;
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (fetch_error.ok() && Clock::now() < deadline) {
    const auto start = Clock::now();
    auto got = source->Fetch(1, milliseconds(500));
    EXPECT_LT(Clock::now() - start, milliseconds(1500));
    if (!got.ok()) fetch_error = got.status();
  }
  EXPECT_EQ(fetch_error.code(), absl::StatusCode::kUnavailable) << fetch_error;
  EXPECT_THAT(fetch_error.message(), HasSubstr("disconnected from the server"));
  const auto start = Clock::now();
  const absl::Status connect = source->Connect();
  EXPECT_LT(Clock::now() - start, milliseconds(500));
  EXPECT_EQ(connect.code(), absl::StatusCode::kUnavailable) << connect;
  EXPECT_EQ(source->Ack(held[0]).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(source->Lag().status().code(), absl::StatusCode::kUnavailable);

  ASSERT_TRUE(server_.Start()) << "restart on the same port and store";
  absl::Status reconnect = absl::UnknownError("not tried");
  const auto reconnect_deadline = Clock::now() + std::chrono::seconds(30);
  while (!reconnect.ok() && Clock::now() < reconnect_deadline) {
    reconnect = source->Connect();
    if (!reconnect.ok()) std::this_thread::sleep_for(milliseconds(100));  // poll interval
  }
  ASSERT_TRUE(reconnect.ok()) << reconnect;

  auto got = FetchN(*source, 3, milliseconds(20000));
  std::map<std::string, int64_t> attempts;
  for (const Message& m : got) attempts[m.id] = m.attempt;
  ASSERT_EQ(attempts.size(), 3U) << "every unacknowledged message is delivered after the restart";
  EXPECT_EQ(attempts["2"], 1);
  EXPECT_EQ(attempts["3"], 1);
  // nats-server 2.9 writes a consumer's delivered state behind (a SIGKILL
  // right after a delivery can lose it): the held message comes back as
  // attempt 2, or as attempt 1 when the crash came before the write.
  EXPECT_GE(attempts["1"], 1);
  EXPECT_LE(attempts["1"], 2);
  for (const Message& m : got) EXPECT_TRUE(source->Ack(m).ok());
  EXPECT_EQ(source->Lag().value_or(-1), 0);
}

// NATS decentralized auth for a test: NKeys (Ed25519 keys in NATS's base32
// form) and JWTs signed with them, made with OpenSSL, so nats-server can run
// in operator mode without the nsc tool.
namespace nkeys {

std::string Base32(const std::vector<uint8_t>& in) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (uint8_t byte : in) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += kAlphabet[(buffer >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += kAlphabet[(buffer << (5 - bits)) & 31];
  return out;
}

// CRC-16/XMODEM, appended little-endian.
std::string WithCrc(std::vector<uint8_t> raw) {
  uint16_t crc = 0;
  for (uint8_t byte : raw) {
    crc ^= static_cast<uint16_t>(byte) << 8;
    for (int i = 0; i < 8; ++i) crc = (crc & 0x8000) ? static_cast<uint16_t>((crc << 1) ^ 0x1021) : crc << 1;
  }
  raw.push_back(static_cast<uint8_t>(crc & 0xff));
  raw.push_back(static_cast<uint8_t>(crc >> 8));
  return Base32(raw);
}

std::string Base64Url(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) c = c == '+' ? '-' : (c == '/' ? '_' : c);
  return out;
}

// Type prefixes of public keys.
constexpr uint8_t kOperator = 14 << 3;  // "O..."
constexpr uint8_t kAccount = 0;         // "A..."
constexpr uint8_t kUser = 20 << 3;      // "U..."

struct Key {
  std::array<uint8_t, 32> seed{};
  std::string public_key;    // "U..."
  std::string encoded_seed;  // "SU..."
};

Key MakeKey(uint8_t prefix) {
  Key key;
  RAND_bytes(key.seed.data(), static_cast<int>(key.seed.size()));
  EVP_PKEY* pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, key.seed.data(), key.seed.size());
  std::array<uint8_t, 32> pub{};
  size_t len = pub.size();
  EVP_PKEY_get_raw_public_key(pkey, pub.data(), &len);
  EVP_PKEY_free(pkey);
  std::vector<uint8_t> raw{prefix};
  raw.insert(raw.end(), pub.begin(), pub.end());
  key.public_key = WithCrc(raw);
  constexpr uint8_t kSeed = 18 << 3;  // "S"
  std::vector<uint8_t> seed_raw{static_cast<uint8_t>(kSeed | (prefix >> 5)),
                                static_cast<uint8_t>((prefix & 31) << 3)};
  seed_raw.insert(seed_raw.end(), key.seed.begin(), key.seed.end());
  key.encoded_seed = WithCrc(seed_raw);
  return key;
}

std::string Sign(const Key& key, const std::string& data) {
  EVP_PKEY* pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, key.seed.data(), key.seed.size());
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::string sig(64, '\0');
  size_t len = sig.size();
  EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, pkey);
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                 reinterpret_cast<const unsigned char*>(data.data()), data.size());
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(pkey);
  return sig;
}

// A v2 JWT about `subject`, signed by `issuer`; `nats` is the claim's body.
std::string Jwt(const Key& issuer, const std::string& subject, const std::string& nats) {
  const std::string header = Base64Url(R"({"typ":"JWT","alg":"ed25519-nkey"})");
  const std::string claims = Base64Url(
      absl::StrCat(R"({"jti":")", subject, R"(","iat":)", std::time(nullptr), R"(,"iss":")",
                   issuer.public_key, R"(","name":"zs-test","sub":")", subject, R"(","nats":)", nats, "}"));
  const std::string signed_part = header + "." + claims;
  return signed_part + "." + Base64Url(Sign(issuer, signed_part));
}

std::string CredsFile(const std::string& user_jwt, const Key& user) {
  return absl::StrCat("-----BEGIN NATS USER JWT-----\n", user_jwt, "\n------END NATS USER JWT------\n\n",
                      "************************* IMPORTANT *************************\n",
                      "NKEY Seed printed below can be used to sign and prove identity.\n\n",
                      "-----BEGIN USER NKEY SEED-----\n", user.encoded_seed,
                      "\n------END USER NKEY SEED------\n");
}

}  // namespace nkeys

// nats-server in operator mode: one account with JetStream, and the
// system account JetStream needs.
class OperatorModeServer {
 public:
  OperatorModeServer() : port_(testing::FreeLoopbackPort()) {
    const std::string account_jwt = nkeys::Jwt(
        operator_, account_.public_key,
        R"({"limits":{"subs":-1,"data":-1,"payload":-1,"imports":-1,"exports":-1,"wildcards":true,"conn":-1,)"
        R"("leaf":-1,"mem_storage":-1,"disk_storage":-1,"streams":-1,"consumer":-1},"type":"account","version":2})");
    std::ofstream(dir_.path() + "/operator.jwt")
        << nkeys::Jwt(operator_, operator_.public_key, R"({"type":"operator","version":2})");
    std::ofstream(dir_.path() + "/server.conf")
        << "listen: 127.0.0.1:" << port_ << "\njetstream: {store_dir: \"" << dir_.path() << "\"}\n"
        << "operator: \"" << dir_.path() << "/operator.jwt\"\nresolver: MEMORY\n"
        << "system_account: " << system_.public_key << "\n"
        << "resolver_preload: {\n  " << account_.public_key << ": \"" << account_jwt << "\"\n  "
        << system_.public_key << ": \""
        << nkeys::Jwt(operator_, system_.public_key, R"({"type":"account","version":2})") << "\"\n}\n";
    std::ofstream(creds_path()) << Creds(account_);
  }

  // A .creds file's contents for a new user signed by `account`.
  std::string Creds(const nkeys::Key& account) const {
    const nkeys::Key user = nkeys::MakeKey(nkeys::kUser);
    const std::string jwt = nkeys::Jwt(account, user.public_key,
                                       R"({"pub":{},"sub":{},"subs":-1,"data":-1,"payload":-1,)"
                                       R"("type":"user","version":2})");
    return nkeys::CredsFile(jwt, user);
  }
  std::string Creds() const { return Creds(account_); }

  bool Start() {
    if (!process_.Start(
            {"nats-server", "-c", dir_.path() + "/server.conf", "-l", dir_.path() + "/nats.log"})) {
      return false;
    }
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < deadline) {
      if (testing::Accepts(port_)) return true;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return false;
  }
  void Stop() { process_.Kill(SIGKILL); }

  // The server's log, to tell why it did not start.
  std::string log() const {
    std::ifstream in(dir_.path() + "/nats.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }
  std::string creds_path() const { return dir_.path() + "/admin.creds"; }

 private:
  int port_;
  testing::ScratchDir dir_;
  testing::ChildProcess process_;
  nkeys::Key operator_ = nkeys::MakeKey(nkeys::kOperator);
  nkeys::Key account_ = nkeys::MakeKey(nkeys::kAccount);
  nkeys::Key system_ = nkeys::MakeKey(nkeys::kAccount);  // JetStream needs one
};

TEST(NatsSourceCredentials, ConnectsWithAUserJwtAndSeedAlsoAfterAServerRestart) {
  OperatorModeServer server;
  ASSERT_TRUE(server.Start()) << "nats-server in operator mode did not start:\n" << server.log();
  auto admin = std::make_unique<Admin>(server.url(), server.creds_path());
  ASSERT_EQ(admin->status(), NATS_OK);
  ASSERT_EQ(admin->AddStream("SUBMISSIONS", {"submissions.>"}), NATS_OK);
  ASSERT_EQ(admin->Publish("submissions.a", "one"), 1U);

  NatsSourceConfig config;
  config.url = server.url();
  config.stream = "SUBMISSIONS";
  config.consumer = "grader";
  config.io_timeout = milliseconds(2000);

  // No credentials, or a user of an account the server does not know.
  absl::Status s = MakeNatsSource(config)->Connect();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(s.message(), HasSubstr("authorization violation"));
  config.credentials = server.Creds(nkeys::MakeKey(nkeys::kAccount));
  s = MakeNatsSource(config)->Connect();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(s.message(), HasSubstr("authorization violation"));
  config.credentials = "not a creds file";
  s = MakeNatsSource(config)->Connect();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(s.message(), Not(HasSubstr("not a creds file"))) << "credentials never go into errors";

  config.credentials = server.Creds();
  auto source = MakeNatsSource(config);
  s = source->Connect();
  ASSERT_TRUE(s.ok()) << s;
  auto got = NatsSourceTest::FetchN(*source, 1);
  ASSERT_EQ(got.size(), 1U);
  EXPECT_TRUE(source->Ack(got[0]).ok());

  // nats.c reconnects on its own, signing the new server nonce with the
  // credentials it is given from memory (no file to have disappeared).
  admin.reset();
  server.Stop();
  ASSERT_TRUE(server.Start());
  absl::Status reconnect = absl::UnknownError("not tried");
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (!reconnect.ok() && Clock::now() < deadline) {
    reconnect = source->Connect();
    if (!reconnect.ok()) std::this_thread::sleep_for(milliseconds(100));  // poll interval
  }
  ASSERT_TRUE(reconnect.ok()) << reconnect;
  admin = std::make_unique<Admin>(server.url(), server.creds_path());
  ASSERT_NE(admin->Publish("submissions.a", "two"), 0U);
  got = NatsSourceTest::FetchN(*source, 1);
  ASSERT_EQ(got.size(), 1U);
  EXPECT_EQ(got[0].body, "two");
  EXPECT_TRUE(source->Ack(got[0]).ok());
}

}  // namespace
}  // namespace zs::triggers
