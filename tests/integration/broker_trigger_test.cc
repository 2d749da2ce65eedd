// Broker triggers end to end on real parts: the local apiserver (Functions,
// Secrets, status), real nats-server (JetStream) and redis-server on
// loopback, zeroscale-triggers processes (the release binary), and an HTTP
// recorder standing in for the activator. What it proves:
//   - every published message is answered 2xx or dead-lettered, none lost,
//     while replicas are SIGKILLed mid-stream (counted message by message);
//   - the same when the real activator between them is SIGKILLed mid-stream;
//   - no message is processed twice while every process is healthy;
//   - a broker that dies is reported on the Function (connected False with
//     the error) and consumption resumes when it returns;
//   - credentials come from the Secret the trigger names; a missing Secret
//     and a wrong password are reported, a fixed one is picked up.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nats/nats.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "common/kube/resource.h"
#include "common/strings.h"
#include "tests/integration/cluster_testing.h"
#include "triggers/tests/broker_process.h"

#ifndef ZS_TRIGGERS_BINARY
#error "ZS_TRIGGERS_BINARY must name the zeroscale-triggers binary"
#endif
#ifndef ZS_ACTIVATOR_BINARY
#error "ZS_ACTIVATOR_BINARY must name the zeroscale-activator binary"
#endif

namespace zs {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using triggers::testing::BrokerServer;
using triggers::testing::ChildProcess;

// The activator's stand-in: records every request by trigger and message id
// and answers 500 to bodies containing "fail", 200 to the rest.
class Recorder {
 public:
  struct Hit {
    std::string trigger, id, attempt, request_id;
    int status;
  };
  Recorder() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    listen(fd_, 128);
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    accept_ = std::thread([this] { Accept(); });
  }
  ~Recorder() {
    stopping_ = true;
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    accept_.join();
    for (auto& t : workers_) t.join();
  }
  std::string url() const { return Cat("http://127.0.0.1:", port_); }
  std::vector<Hit> Hits() {
    std::lock_guard lock(mu_);
    return hits_;
  }
  // Message ids of `trigger` answered 2xx, with how many times.
  std::map<std::string, int> Succeeded(const std::string& trigger) {
    std::map<std::string, int> out;
    for (const Hit& h : Hits()) {
      if (h.trigger == trigger && h.status == 200) ++out[h.id];
    }
    return out;
  }

 private:
  void Accept() {
    while (!stopping_) {
      const int c = accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      std::lock_guard lock(mu_);
      workers_.emplace_back([this, c] { Serve(c); });
    }
  }
  void Serve(int c) {
    std::string data;
    char buf[8192];
    size_t header_end = std::string::npos;
    size_t content_length = 0;
    while (true) {
      const ssize_t n = read(c, buf, sizeof(buf));
      if (n <= 0) break;
      data.append(buf, static_cast<size_t>(n));
      if (header_end == std::string::npos) {
        header_end = data.find("\r\n\r\n");
        if (header_end != std::string::npos) {
          const std::string lower = absl::AsciiStrToLower(data.substr(0, header_end));
          const size_t cl = lower.find("\r\ncontent-length:");
          if (cl != std::string::npos) content_length = std::stoul(lower.substr(cl + 17));
        }
      }
      if (header_end != std::string::npos && data.size() >= header_end + 4 + content_length) break;
    }
    if (header_end == std::string::npos) {
      close(c);
      return;
    }
    auto header = [&](const std::string& name) {
      const std::string lower = absl::AsciiStrToLower(data.substr(0, header_end));
      const size_t at = lower.find("\r\n" + absl::AsciiStrToLower(name) + ":");
      if (at == std::string::npos) return std::string();
      const size_t start = at + name.size() + 3;
      std::string value = data.substr(start, data.find("\r\n", start) - start);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      return value;
    };
    const std::string body = data.substr(header_end + 4);
    const int status = body.find("fail") != std::string::npos ? 500 : 200;
    {
      std::lock_guard lock(mu_);
      hits_.push_back({header("X-Zeroscale-Trigger"), header("X-Zeroscale-Message-Id"),
                       header("X-Zeroscale-Attempt"), header("X-Request-Id"), status});
    }
    const std::string answer = Cat("HTTP/1.1 ", status, status == 200 ? " OK" : " Internal Server Error",
                                   "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    (void)write(c, answer.data(), answer.size());
    close(c);
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread accept_;
  std::mutex mu_;
  std::vector<std::thread> workers_;
  std::vector<Hit> hits_;
};

std::string Shell(const std::string& command) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n = 0;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

// A JetStream connection for publishing and reading dead letters.
class Nats {
 public:
  explicit Nats(const std::string& url) {
    EXPECT_EQ(natsConnection_ConnectTo(&nc_, url.c_str()), NATS_OK);
    EXPECT_EQ(natsConnection_JetStream(&js_, nc_, nullptr), NATS_OK);
  }
  ~Nats() {
    jsCtx_Destroy(js_);
    natsConnection_Destroy(nc_);
  }
  void AddStream(const std::string& name, const std::string& subject) {
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = name.c_str();
    const char* subjects[] = {subject.c_str()};
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    jsStreamInfo* si = nullptr;
    ASSERT_EQ(js_AddStream(&si, js_, &cfg, nullptr, nullptr), NATS_OK) << name;
    jsStreamInfo_Destroy(si);
  }
  void Publish(const std::string& subject, const std::string& data) {
    jsPubAck* ack = nullptr;
    ASSERT_EQ(
        js_Publish(&ack, js_, subject.c_str(), data.data(), static_cast<int>(data.size()), nullptr, nullptr),
        NATS_OK);
    jsPubAck_Destroy(ack);
  }
  // Data of every message in `stream`, by sequence, with header `header`.
  std::vector<std::pair<std::string, std::string>> Read(const std::string& stream,
                                                        const std::string& header) {
    std::vector<std::pair<std::string, std::string>> out;
    for (uint64_t seq = 1;; ++seq) {
      natsMsg* m = nullptr;
      if (js_GetMsg(&m, js_, stream.c_str(), seq, nullptr, nullptr) != NATS_OK) break;
      const char* value = nullptr;
      natsMsgHeader_Get(m, header.c_str(), &value);
      out.emplace_back(std::string(natsMsg_GetData(m), static_cast<size_t>(natsMsg_GetDataLength(m))),
                       value != nullptr ? value : "");
      natsMsg_Destroy(m);
    }
    return out;
  }

 private:
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
};

class BrokerTriggerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client_ = testing::ClusterClient();
    ASSERT_NO_FATAL_FAILURE(testing::ApplyFunctionCrd(*client_));
    ns_ = std::make_unique<testing::ClusterNamespace>(*client_, "brokers");
    ASSERT_TRUE(redis_.Start());
    ASSERT_TRUE(nats_.Start());
  }
  void TearDown() override {
    for (auto& p : triggers_) p->Kill(SIGKILL);
  }

  // Starts a zeroscale-triggers replica; returns its index.
  size_t StartReplica() {
    const size_t i = triggers_.size();
    triggers_.push_back(std::make_unique<ChildProcess>());
    Launch(i);
    return i;
  }
  void Launch(size_t i) {
    triggers_[i]->Start({ZS_TRIGGERS_BINARY, "--kubeconfig=" + testing::ClusterKubeconfig(),
                         "--namespace=" + ns_->name(),
                         "--activator-url=" + (activator_url_.empty() ? recorder_.url() : activator_url_),
                         "--leader-elect=false", "--identity=replica-" + std::to_string(i),
                         "--metrics-bind-address=0", "--health-probe-bind-address=127.0.0.1:0",
                         "--broker-ack-wait-margin=1s", "--broker-secret-refresh=1s",
                         "--broker-status-interval=500ms", "--drain-timeout=5s", "--log-level=warn"});
  }

  void CreateFunction(const json& triggers) {
    json fn = {{"apiVersion", "zeroscale.dev/v1alpha1"},
               {"kind", "Function"},
               {"metadata", {{"name", "consumer"}, {"namespace", ns_->name()}}},
               {"spec",
                {{"image", "zeroscale/fn-echo:dev"},
                 {"timeoutSeconds", 1},
                 {"buffer", {{"timeoutSeconds", 1}}},
                 {"triggers", triggers}}}};
    auto created = client_->Create(kube::kFunctions.In(ns_->name()), fn);
    ASSERT_TRUE(created.ok()) << created.status();
  }
  json TriggerStatus(const std::string& name) {
    auto fn = client_->Get(kube::FunctionRef(ns_->name(), "consumer"));
    if (!fn.ok()) return json::object();
    for (const json& t : fn->value(json::json_pointer("/status/triggers"), json::array())) {
      if (t.value("name", "") == name) return t;
    }
    return json::object();
  }
  void RedisAdd(const std::string& stream, const std::vector<std::string>& bodies) {
    std::string script;
    for (const std::string& b : bodies) script += Cat("XADD ", stream, " * body ", b, "\n");
    const std::string file = Cat(redis_.dir(), "/publish.txt");
    FILE* f = fopen(file.c_str(), "w");
    fwrite(script.data(), 1, script.size(), f);
    fclose(f);
    Shell(Cat("redis-cli -p ", redis_.port(), " < ", file, " > /dev/null"));
  }
  // The `body` field of each entry of a Redis stream.
  std::vector<std::string> RedisBodies(const std::string& stream) {
    std::vector<std::string> out;
    std::istringstream lines(Shell(Cat("redis-cli -p ", redis_.port(), " XRANGE ", stream, " - +")));
    std::string line, previous;
    while (std::getline(lines, line)) {
      if (previous == "body") out.push_back(line);
      previous = line;
    }
    return out;
  }

  std::unique_ptr<kube::CurlKubeClient> client_;
  std::unique_ptr<testing::ClusterNamespace> ns_;
  BrokerServer redis_{BrokerServer::Kind::kRedis};
  BrokerServer nats_{BrokerServer::Kind::kNats};
  Recorder recorder_;
  std::string activator_url_;  // empty: the triggers send to the recorder
  std::vector<std::unique_ptr<ChildProcess>> triggers_;
};

// A loopback port free at the time of the call.
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// `n` bodies; every `fail_every`-th one (none when 0) is answered 500.
std::vector<std::string> Bodies(const std::string& prefix, int n, int fail_every) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(Cat(prefix, fail_every > 0 && i % fail_every == 0 ? "-fail-" : "-ok-", i));
  }
  return out;
}

TEST_F(BrokerTriggerTest, NoMessageLostWhenReplicasAreKilledMidStream) {
  Nats nats(nats_.nats_url());
  nats.AddStream("JOBS", "jobs.>");
  nats.AddStream("DEAD", "dead.>");
  CreateFunction(
      json::array({{{"name", "orders"},
                    {"redis", {{"address", redis_.address()}, {"stream", "orders"}}},
                    {"delivery", {{"maxInFlight", 4}, {"maxAttempts", 2}, {"backoffSeconds", 0}}}},
                   {{"name", "jobs"},
                    {"nats", {{"url", nats_.nats_url()}, {"stream", "JOBS"}, {"subject", "jobs.>"}}},
                    {"delivery",
                     {{"maxInFlight", 4},
                      {"maxAttempts", 2},
                      {"backoffSeconds", 0},
                      {"deadLetter", {{"subject", "dead.jobs"}}}}}}}));
  StartReplica();
  StartReplica();
  const std::vector<std::string> orders = Bodies("order", 300, 10);
  const std::vector<std::string> jobs = Bodies("job", 300, 10);
  RedisAdd("orders", orders);
  for (const std::string& b : jobs) nats.Publish("jobs.eu", b);

  // Mid-stream: a third of each delivered, kill -9 replica 0, start it again.
  ASSERT_TRUE(testing::WaitFor(
      [&] { return recorder_.Succeeded("orders").size() > 100 && recorder_.Succeeded("jobs").size() > 100; },
      seconds(60)));
  triggers_[0]->Kill(SIGKILL);
  Launch(0);
  ASSERT_TRUE(testing::WaitFor(
      [&] { return recorder_.Succeeded("orders").size() > 200 && recorder_.Succeeded("jobs").size() > 200; },
      seconds(60)));
  triggers_[1]->Kill(SIGKILL);

  // Every ok message answered 2xx at least once, every failing one
  // dead-lettered (at least once); nothing else anywhere.
  // Distinct bodies: a replica killed between dead-lettering and its ack
  // dead-letters that message again (at least once), and such a duplicate
  // must not stand in for a message still being retried.
  auto distinct_dead = [&] {
    const std::vector<std::string> redis_bodies = RedisBodies("orders.dead");
    const std::set<std::string> redis(redis_bodies.begin(), redis_bodies.end());
    std::set<std::string> nats_bodies;
    for (const auto& [data, source] : nats.Read("DEAD", "Zeroscale-Source-Id")) nats_bodies.insert(data);
    return std::make_pair(redis.size(), nats_bodies.size());
  };
  auto done = [&] {
    const auto [redis_dead, nats_dead] = distinct_dead();
    return recorder_.Succeeded("orders").size() == 270 && recorder_.Succeeded("jobs").size() == 270 &&
           redis_dead >= 30 && nats_dead >= 30;
  };
  ASSERT_TRUE(testing::WaitFor(done, seconds(120)))
      << "orders ok " << recorder_.Succeeded("orders").size() << "/270, jobs ok "
      << recorder_.Succeeded("jobs").size() << "/270, redis dead " << RedisBodies("orders.dead").size()
      << "/30, nats dead " << nats.Read("DEAD", "Zeroscale-Source-Id").size() << "/30";
  std::multiset<std::string> redis_dead;
  for (const std::string& b : RedisBodies("orders.dead")) redis_dead.insert(b);
  std::multiset<std::string> nats_dead;
  for (const auto& [data, source] : nats.Read("DEAD", "Zeroscale-Source-Id")) nats_dead.insert(data);
  for (const std::string& b : orders) {
    if (b.find("fail") != std::string::npos) {
      EXPECT_GE(redis_dead.count(b), 1u) << b << " not dead-lettered";
    }
  }
  for (const std::string& b : jobs) {
    if (b.find("fail") != std::string::npos) {
      EXPECT_GE(nats_dead.count(b), 1u) << b << " not dead-lettered";
    }
  }
  EXPECT_EQ(std::set<std::string>(redis_dead.begin(), redis_dead.end()).size(), 30u);
  EXPECT_EQ(std::set<std::string>(nats_dead.begin(), nats_dead.end()).size(), 30u);
  // Nothing left in the brokers: the survivors drained both backlogs.
  ASSERT_TRUE(
      testing::WaitFor([&] { return TriggerStatus("orders").value("pending", -1) == 0; }, seconds(30)))
      << TriggerStatus("orders").dump();
  ASSERT_TRUE(testing::WaitFor([&] { return TriggerStatus("jobs").value("pending", -1) == 0; }, seconds(30)))
      << TriggerStatus("jobs").dump();
}

// The real activator between the triggers and the function (here the
// recorder, as the Function's one endpoint of a static config), SIGKILLed
// twice mid-stream and started again on its port: every message of both
// brokers reaches the function with a 2xx or is dead-lettered; none lost.
TEST_F(BrokerTriggerTest, NoMessageLostWhenTheActivatorIsKilledMidStream) {
  const int port = FreePort();
  const std::string config = Cat(redis_.dir(), "/functions.json");
  {
    const json functions = {
        {"functions",
         json::array(
             {{{"metadata", {{"namespace", ns_->name()}, {"name", "consumer"}}},
               {"spec", {{"timeoutSeconds", 5}}},
               {"endpoints", json::array({recorder_.url().substr(std::string("http://").size())})}}})}};
    FILE* f = fopen(config.c_str(), "w");
    ASSERT_NE(f, nullptr);
    const std::string text = functions.dump();
    fwrite(text.data(), 1, text.size(), f);
    fclose(f);
  }
  ChildProcess activator;
  auto start_activator = [&] {
    ASSERT_TRUE(activator.Start({ZS_ACTIVATOR_BINARY, "--static-config=" + config,
                                 Cat("--bind-address=127.0.0.1:", port), "--metrics-bind-address=0",
                                 "--health-probe-bind-address=127.0.0.1:0", "--log-level=warn",
                                 Cat("--billing-log=", redis_.dir(), "/billing.jsonl")}));
    ASSERT_TRUE(testing::WaitFor(
        [&] {
          return Shell(Cat("curl -s -o /dev/null -w '%{http_code}' -m 1 http://127.0.0.1:", port,
                           "/fn/x/y/")) == "404";
        },
        seconds(20)));
  };
  ASSERT_NO_FATAL_FAILURE(start_activator());
  activator_url_ = Cat("http://127.0.0.1:", port);

  Nats nats(nats_.nats_url());
  nats.AddStream("JOBS", "jobs.>");
  nats.AddStream("DEAD", "dead.>");
  const json delivery = {{"maxInFlight", 4}, {"maxAttempts", 5}, {"backoffSeconds", 1}};
  json nats_delivery = delivery;
  nats_delivery["deadLetter"] = {{"subject", "dead.jobs"}};
  CreateFunction(
      json::array({{{"name", "orders"},
                    {"redis", {{"address", redis_.address()}, {"stream", "orders"}}},
                    {"delivery", delivery}},
                   {{"name", "jobs"},
                    {"nats", {{"url", nats_.nats_url()}, {"stream", "JOBS"}, {"subject", "jobs.>"}}},
                    {"delivery", nats_delivery}}}));
  StartReplica();
  const std::vector<std::string> orders = Bodies("order", 300, 0);
  const std::vector<std::string> jobs = Bodies("job", 300, 0);
  RedisAdd("orders", orders);
  for (const std::string& b : jobs) nats.Publish("jobs.eu", b);

  for (const size_t mark : {100u, 200u}) {
    ASSERT_TRUE(testing::WaitFor(
        [&] {
          return recorder_.Succeeded("orders").size() > mark && recorder_.Succeeded("jobs").size() > mark;
        },
        seconds(60)))
        << "orders " << recorder_.Succeeded("orders").size() << ", jobs "
        << recorder_.Succeeded("jobs").size();
    activator.Kill(SIGKILL);
    ASSERT_NO_FATAL_FAILURE(start_activator());
  }

  // Each message answered 2xx by the function at least once, or dead-lettered.
  auto accounted = [&](const std::string& trigger, size_t dead) {
    return recorder_.Succeeded(trigger).size() + dead;
  };
  auto nats_dead = [&] {
    std::set<std::string> bodies;
    for (const auto& [data, source] : nats.Read("DEAD", "Zeroscale-Source-Id")) bodies.insert(data);
    return bodies;
  };
  auto redis_dead = [&] {
    const std::vector<std::string> b = RedisBodies("orders.dead");
    return std::set<std::string>(b.begin(), b.end());
  };
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        return accounted("orders", redis_dead().size()) >= 300 &&
               accounted("jobs", nats_dead().size()) >= 300;
      },
      seconds(120)))
      << "orders ok " << recorder_.Succeeded("orders").size() << " dead " << redis_dead().size()
      << ", jobs ok " << recorder_.Succeeded("jobs").size() << " dead " << nats_dead().size();
  // Exactly: a message both answered and dead-lettered would be counted twice.
  EXPECT_EQ(recorder_.Succeeded("orders").size() + redis_dead().size(), 300u);
  EXPECT_EQ(recorder_.Succeeded("jobs").size() + nats_dead().size(), 300u);
  ASSERT_TRUE(
      testing::WaitFor([&] { return TriggerStatus("orders").value("pending", -1) == 0; }, seconds(30)))
      << TriggerStatus("orders").dump();
  ASSERT_TRUE(testing::WaitFor([&] { return TriggerStatus("jobs").value("pending", -1) == 0; }, seconds(30)))
      << TriggerStatus("jobs").dump();
  std::cout << "activator killed twice: orders ok " << recorder_.Succeeded("orders").size() << " dead "
            << redis_dead().size() << ", jobs ok " << recorder_.Succeeded("jobs").size() << " dead "
            << nats_dead().size() << "\n";
  activator.Kill(SIGKILL);
}

TEST_F(BrokerTriggerTest, HealthyReplicasNeverProcessAMessageTwice) {
  CreateFunction(json::array({{{"name", "orders"},
                               {"redis", {{"address", redis_.address()}, {"stream", "orders"}}},
                               {"delivery", {{"maxInFlight", 8}}}}}));
  StartReplica();
  StartReplica();
  StartReplica();
  RedisAdd("orders", Bodies("order", 400, 0));
  ASSERT_TRUE(testing::WaitFor([&] { return recorder_.Succeeded("orders").size() == 400; }, seconds(60)));
  for (const auto& [id, count] : recorder_.Succeeded("orders")) EXPECT_EQ(count, 1) << id;
  std::set<std::string> attempts;
  for (const auto& h : recorder_.Hits()) attempts.insert(h.attempt);
  EXPECT_EQ(attempts, std::set<std::string>{"1"});
  // Every replica's counts add up in status.
  ASSERT_TRUE(
      testing::WaitFor([&] { return TriggerStatus("orders").value("succeeded", 0) == 400; }, seconds(30)))
      << TriggerStatus("orders").dump();
  EXPECT_EQ(TriggerStatus("orders").value("connected", ""), "True");
}

TEST_F(BrokerTriggerTest, ABrokerThatDiesIsReportedAndConsumptionResumes) {
  CreateFunction(
      json::array({{{"name", "orders"}, {"redis", {{"address", redis_.address()}, {"stream", "orders"}}}}}));
  StartReplica();
  ASSERT_TRUE(testing::WaitFor([&] { return TriggerStatus("orders").value("connected", "") == "True"; },
                               seconds(30)));
  redis_.Stop();
  ASSERT_TRUE(testing::WaitFor([&] { return TriggerStatus("orders").value("connected", "") == "False"; },
                               seconds(30)));
  const json down = TriggerStatus("orders");
  EXPECT_EQ(down.value("reason", ""), "BrokerUnavailable");
  EXPECT_NE(down.value("message", "").find(redis_.address()), std::string::npos) << down.dump();
  ASSERT_TRUE(redis_.Start());
  RedisAdd("orders", {"after-restart"});
  ASSERT_TRUE(testing::WaitFor([&] { return recorder_.Succeeded("orders").size() == 1; }, seconds(30)));
  ASSERT_TRUE(testing::WaitFor([&] { return TriggerStatus("orders").value("connected", "") == "True"; },
                               seconds(30)));
}

TEST_F(BrokerTriggerTest, CredentialsComeFromTheNamedSecret) {
  BrokerServer locked(BrokerServer::Kind::kRedis, "s3cret");
  ASSERT_TRUE(locked.Start());
  CreateFunction(json::array({{{"name", "orders"},
                               {"redis",
                                {{"address", locked.address()},
                                 {"stream", "orders"},
                                 {"passwordSecretRef", {{"name", "redis"}, {"key", "password"}}}}}}}));
  StartReplica();
  ASSERT_TRUE(testing::WaitFor(
      [&] { return TriggerStatus("orders").value("reason", "") == "SecretUnavailable"; }, seconds(30)))
      << TriggerStatus("orders").dump();
  EXPECT_NE(TriggerStatus("orders").value("message", "").find("not found"), std::string::npos);

  json secret = {{"apiVersion", "v1"},
                 {"kind", "Secret"},
                 {"metadata", {{"name", "redis"}, {"namespace", ns_->name()}}},
                 {"stringData", {{"password", "wrong"}}}};
  ASSERT_TRUE(client_->Create(kube::kSecrets.In(ns_->name()), secret).ok());
  ASSERT_TRUE(testing::WaitFor(
      [&] { return TriggerStatus("orders").value("reason", "") == "BrokerUnavailable"; }, seconds(30)))
      << TriggerStatus("orders").dump();
  const std::string message = TriggerStatus("orders").value("message", "");
  EXPECT_TRUE(message.find("WRONGPASS") != std::string::npos ||
              message.find("invalid password") != std::string::npos)
      << message;

  secret["stringData"]["password"] = "s3cret";
  ASSERT_TRUE(client_->Update(kube::kSecrets.In(ns_->name()).Named("redis"), secret).ok());
  ASSERT_TRUE(
      testing::WaitFor([&] { return TriggerStatus("orders").value("connected", "") == "True"; }, seconds(30)))
      << TriggerStatus("orders").dump();
  Shell(Cat("redis-cli -p ", locked.port(),
            " -a s3cret --no-auth-warning XADD orders '*' body hello > /dev/null"));
  ASSERT_TRUE(testing::WaitFor([&] { return recorder_.Succeeded("orders").size() == 1; }, seconds(30)));
}

}  // namespace
}  // namespace zs
