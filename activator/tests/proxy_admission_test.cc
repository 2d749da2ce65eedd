// Socket tests of held requests: clients that leave, Functions deleted while
// requests wait, and one Function's burst beside another's cold start.
#include <future>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "activator/tests/proxy_fixture.h"

namespace zs::activator::testing {
namespace {

namespace bhttp = boost::beast::http;
using namespace std::chrono_literals;

class HeldTest : public ProxyTest {
 protected:
  HeldTest() : ProxyTest(SmallBuffer()) {}
  static RequestBuffer::Options SmallBuffer() {
    RequestBuffer::Options options;
    options.max_total = 20;
    return options;
  }
  void SetUp() override { StartProxy(DefaultOptions()); }

  // Sends a request on a new connection that stays open; the answer is read later.
  std::unique_ptr<Client> SendHeld(const std::string& target, const std::string& body = "") {
    auto client = std::make_unique<Client>(port());
    std::string bytes = (body.empty() ? "GET " : "POST ") + target + " HTTP/1.1\r\nHost: a\r\n";
    if (!body.empty()) bytes += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    bytes += "\r\n" + body;
    boost::system::error_code ec;
    client->WriteRaw(bytes, ec);
    EXPECT_FALSE(ec);
    return client;
  }
  // ns/cold, at zero: requests to it are held, for up to 30 s, all 20 the
  // buffer has room for.
  void AddColdFunction() {
    AddFunction("cold", {}, [](FunctionConfig& c) {
      c.buffer_max_requests = 20;
      c.buffer_timeout = 30s;
    });
  }
};

TEST_F(HeldTest, ClientsThatLeaveWhileHeldFreeTheirPlacesAtOnce) {
  AddColdFunction();
  std::vector<std::unique_ptr<Client>> clients;
  clients.reserve(10);
  // Half without a body (the socket's FIN is all there is to see), half
  // with a body already read into our buffer (only a hang-up poll sees it).
  for (int i = 0; i < 10; ++i) clients.push_back(SendHeld("/fn/ns/cold/x", i % 2 == 0 ? "" : "payload"));
  ASSERT_TRUE(Eventually([&] { return buffer_.queued({"ns", "cold"}) == 10; }));
  for (auto& client : clients) client->stream().socket().close();
  // Freed long before the 30 s buffer timeout.
  ASSERT_TRUE(Eventually([&] { return buffer_.queued({"ns", "cold"}) == 0; }, 2000ms));
  EXPECT_TRUE(Eventually([&] {
    return Metric("zeroscale_rejected_requests_total", {{"function", "cold"}, {"reason", "client_closed"}}) ==
           10;
  }));
  // Never forwarded when the replica comes, never billed.
  SetEndpoints("cold", {upstream_.address()});
  Client late(port());
  EXPECT_EQ(late.Get("/fn/ns/cold/x").status, 200);
  EXPECT_EQ(upstream_.requests(), 1);
  ASSERT_TRUE(Eventually([&] { return billing_.Snapshot().size() == 11; }));
  for (const auto& record : billing_.Snapshot()) {
    if (record.code == 499) {
      EXPECT_EQ(record.billed_ms, 0);
    }
  }
}

// A held request keeps the head it came with (the upstream rewrite waits for
// the admission) and waits on its socket or, with bytes of its own queued,
// on a poll timer: either wait ends when a replica comes, and the request
// goes out rewritten, with its body.
TEST_F(HeldTest, HeldRequestsGoOutRewrittenWithTheirBodiesWhenAReplicaComes) {
  AddColdFunction();
  std::vector<std::unique_ptr<Client>> clients;
  clients.reserve(6);
  for (int i = 0; i < 6; ++i) {
    const std::string target = "/fn/ns/cold/echo?i=" + std::to_string(i);
    clients.push_back(SendHeld(target, i % 2 == 0 ? "" : "payload-" + std::to_string(i)));
  }
  ASSERT_TRUE(Eventually([&] { return buffer_.queued({"ns", "cold"}) == 6; }));
  EXPECT_EQ(upstream_.requests(), 0);
  SetEndpoints("cold", {upstream_.address()});
  std::set<std::string> request_ids;
  for (int i = 0; i < 6; ++i) {
    Reply r = clients[i]->ReadReply();
    EXPECT_EQ(r.status, 200) << i;
    EXPECT_EQ(r.body, i % 2 == 0 ? "" : "payload-" + std::to_string(i));
    EXPECT_EQ(r.Header("X-Seen-Target"), "/echo?i=" + std::to_string(i));
    EXPECT_EQ(r.Header("X-Seen-Forwarded-For"), "127.0.0.1");
    EXPECT_EQ(r.Header("X-Seen-Forwarded-Host"), "a");
    EXPECT_EQ(r.Header("X-Request-Id"), r.Header("X-Seen-Request-Id"));
    request_ids.insert(r.Header("X-Seen-Request-Id"));
  }
  EXPECT_EQ(request_ids.size(), 6u);
  EXPECT_EQ(upstream_.requests(), 6);
  ASSERT_TRUE(Eventually([&] { return billing_.Snapshot().size() == 6; }));
  for (const auto& record : billing_.Snapshot()) {
    EXPECT_EQ(record.code, 200);
    EXPECT_TRUE(record.cold_start);
    EXPECT_GT(record.queued_ms, 0);
  }
}

TEST_F(HeldTest, DeletingAFunctionAnswersItsHeldRequests404AtOnce) {
  AddFunction("doomed", {}, [](FunctionConfig& c) { c.buffer_timeout = 30s; });
  std::vector<std::unique_ptr<Client>> clients;
  clients.reserve(5);
  for (int i = 0; i < 5; ++i) clients.push_back(SendHeld("/fn/ns/doomed/x"));
  ASSERT_TRUE(Eventually([&] { return buffer_.queued({"ns", "doomed"}) == 5; }));
  const int wakes = waker_.calls.load();
  const auto start = std::chrono::steady_clock::now();
  // What the Kubernetes source does on delete.
  catalog_.Remove({"ns", "doomed"});
  endpoints_.Remove({"ns", "doomed"});
  for (auto& client : clients) {
    Reply r = client->ReadReply();
    EXPECT_EQ(r.status, 404);
    EXPECT_EQ(nlohmann::json::parse(r.body)["function"], "ns/doomed");
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_EQ(buffer_.functions(), 0u);
  EXPECT_EQ(waker_.calls.load(), wakes);
}

TEST_F(HeldTest, OneFunctionsFloodLeavesRoomForAnotherToColdStart) {
  AddFunction("flood", {}, [](FunctionConfig& c) {
    c.buffer_max_requests = 1000;
    c.buffer_timeout = 30s;
  });
  AddFunction("quiet", {});
  std::vector<std::unique_ptr<Client>> flood;
  flood.reserve(40);
  for (int i = 0; i < 40; ++i) flood.push_back(SendHeld("/fn/ns/flood/x"));
  // At most half of the 20 places: the rest are refused at once.
  ASSERT_TRUE(Eventually([&] {
    return Metric("zeroscale_rejected_requests_total", {{"function", "flood"}, {"reason", "queue_full"}}) ==
           30;
  }));
  EXPECT_EQ(buffer_.queued({"ns", "flood"}), 10);

  // The other Function at zero is held, woken, and answered.
  auto quiet = SendHeld("/fn/ns/quiet/x");
  ASSERT_TRUE(Eventually([&] { return buffer_.queued({"ns", "quiet"}) == 1; }));
  SetEndpoints("quiet", {upstream_.address()});
  Reply r = quiet->ReadReply();
  EXPECT_EQ(r.status, 200);
}

}  // namespace
}  // namespace zs::activator::testing
