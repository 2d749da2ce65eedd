// CurlKubeClient against a scripted HTTP server on 127.0.0.1 (port 0): request
// building, error mapping, token re-read on 401, watch streaming and cancel.
#include "common/kube/curl_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <system_error>
#include <thread>

#include "common/kube/errors.h"
#include "common/kube/tests/test_util.h"

namespace zs::kube {
namespace {

struct Request {
  std::string method;
  std::string target;  // path and query
  std::string authorization;
  std::string content_type;
  std::string body;
};

// Writes a whole response; returns false when the peer is gone.
bool SendAll(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

// One connection at a time; the handler writes the response to the fd itself
// (so watches can stream), then the connection is closed.
class ScriptedServer {
 public:
  using Handler = std::function<void(const Request&, int fd)>;
  explicit ScriptedServer(Handler handler) : handler_(std::move(handler)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, 16) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::system_error(errno, std::generic_category(), "scripted server: listen on 127.0.0.1");
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~ScriptedServer() {
    stopping_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    ::close(listen_fd_);
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<Request> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

  static void Respond(int fd, int code, const std::string& body) {
    SendAll(fd, "HTTP/1.1 " + std::to_string(code) +
                    " X\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n\r\n" + body);
  }

 private:
  void Serve() {
    while (!stopping_) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      std::string data;
      char buffer[4096];
      size_t header_end;
      while ((header_end = data.find("\r\n\r\n")) == std::string::npos) {
        ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n <= 0) break;
        data.append(buffer, static_cast<size_t>(n));
      }
      if (header_end == std::string::npos) {
        ::close(fd);
        continue;
      }
      Request request;
      std::string head = data.substr(0, header_end);
      request.method = head.substr(0, head.find(' '));
      request.target = head.substr(head.find(' ') + 1, head.find(" HTTP/") - head.find(' ') - 1);
      size_t content_length = 0;
      std::istringstream lines(head);
      std::string line;
      while (std::getline(lines, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        auto value = [&](const std::string& name) { return line.substr(name.size()); };
        if (line.rfind("Authorization: ", 0) == 0) request.authorization = value("Authorization: ");
        if (line.rfind("Content-Type: ", 0) == 0) request.content_type = value("Content-Type: ");
        if (line.rfind("Content-Length: ", 0) == 0) content_length = std::stoul(value("Content-Length: "));
      }
      request.body = data.substr(header_end + 4);
      while (request.body.size() < content_length) {
        ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n <= 0) break;
        request.body.append(buffer, static_cast<size_t>(n));
      }
      {
        std::lock_guard lock(mu_);
        requests_.push_back(request);
      }
      handler_(request, fd);
      ::close(fd);
    }
  }

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<Request> requests_;
};

std::unique_ptr<CurlKubeClient> ClientFor(const ScriptedServer& server, KubeConfig config = {}) {
  config.server = server.url();
  auto client = CurlKubeClient::Create(config);
  EXPECT_TRUE(client.ok()) << client.status();
  return std::move(*client);
}

TEST(CurlKubeClientTest, MapsApiserverStatusAndBuildsRequests) {
  ScriptedServer server([](const Request& r, int fd) {
    if (r.method == "GET" && r.target.rfind("/api/v1/namespaces/ns/pods/missing", 0) == 0) {
      ScriptedServer::Respond(
          fd, 404,
          R"({"kind":"Status","code":404,"reason":"NotFound","message":"pods \"missing\" not found"})");
    } else {
      ScriptedServer::Respond(fd, 200, R"({"kind":"Thing","metadata":{"name":"x"}})");
    }
  });
  auto client = ClientFor(server);
  auto missing = client->Get(PodRef("ns", "missing"));
  EXPECT_TRUE(kube::IsNotFound(missing.status()));
  EXPECT_NE(missing.status().message().find("pods \"missing\" not found"), absl::string_view::npos);

  ListOptions list;
  list.label_selector = "app=a b,tier!=db";
  list.field_selector = "spec.nodeName=zs-node";
  list.limit = 5;
  list.continue_token = "tok/=";
  ASSERT_TRUE(client->List(kPods.In("ns"), list).ok());
  ApplyOptions apply;
  apply.field_manager = "zs";
  apply.force = true;
  ASSERT_TRUE(client->Apply(DeploymentRef("ns", "d"), {{"kind", "Deployment"}}, apply).ok());
  DeleteOptions del;
  del.propagation_policy = "Foreground";
  del.precondition_uid = "u1";
  del.grace_period_seconds = 0;
  ASSERT_TRUE(client->Delete(PodRef("ns", "p"), del).ok());
  ASSERT_TRUE(client->PatchScale(DeploymentRef("ns", "d"), 3).ok());

  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 5u);
  EXPECT_EQ(requests[1].target,
            "/api/v1/namespaces/ns/"
            "pods?labelSelector=app%3Da%20b%2Ctier%21%3Ddb&fieldSelector=spec.nodeName%3Dzs-node"
            "&limit=5&continue=tok%2F%3D");
  EXPECT_EQ(requests[2].method, "PATCH");
  EXPECT_EQ(requests[2].target, "/apis/apps/v1/namespaces/ns/deployments/d?fieldManager=zs&force=true");
  EXPECT_EQ(requests[2].content_type, "application/apply-patch+yaml");
  EXPECT_EQ(requests[3].method, "DELETE");
  auto body = nlohmann::json::parse(requests[3].body);
  EXPECT_EQ(body["propagationPolicy"], "Foreground");
  EXPECT_EQ(body["gracePeriodSeconds"], 0);
  EXPECT_EQ(body["preconditions"]["uid"], "u1");
  EXPECT_EQ(requests[4].target, "/apis/apps/v1/namespaces/ns/deployments/d/scale");
  EXPECT_EQ(requests[4].content_type, "application/merge-patch+json");
  EXPECT_EQ(nlohmann::json::parse(requests[4].body)["spec"]["replicas"], 3);
}

// The leader elector bounds each call by the time left to its renew
// deadline; a stalled apiserver must not hold it for the client's default 30 s.
TEST(CurlKubeClientTest, WithTimeoutEndsAStalledRequest) {
  std::atomic<bool> answer{false};
  ScriptedServer server([&answer](const Request&, int fd) {
    // Stalls (bounded, so a broken client cannot hang the test) until told.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!answer && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ScriptedServer::Respond(fd, 200, R"({"kind":"Pod"})");
  });
  auto client = ClientFor(server);
  std::unique_ptr<KubeClient> bounded = client->WithTimeout(std::chrono::milliseconds(300));
  const auto start = std::chrono::steady_clock::now();
  auto stalled = bounded->Get(PodRef("ns", "p"));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  answer = true;
  EXPECT_FALSE(stalled.ok());
  EXPECT_GE(elapsed, std::chrono::milliseconds(290));
  EXPECT_LT(elapsed, std::chrono::seconds(2));
  // The client itself keeps its own bound, and both share the connections.
  auto fine = client->Get(PodRef("ns", "p"));
  EXPECT_TRUE(fine.ok()) << fine.status();
  auto fine_bounded = bounded->Get(PodRef("ns", "p"));
  EXPECT_TRUE(fine_bounded.ok()) << fine_bounded.status();
}

TEST(CurlKubeClientTest, TransportErrorWhenNothingListens) {
  KubeConfig config;
  config.server = "http://127.0.0.1:1";
  auto client = *CurlKubeClient::Create(config);
  auto result = client->Get(PodRef("ns", "p"));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(HttpCode(result.status()), 0);
  EXPECT_TRUE(IsRetryable(result.status()));
}

TEST(CurlKubeClientTest, RotatedTokenIsRereadOnUnauthorized) {
  ScriptedServer server([](const Request& r, int fd) {
    if (r.authorization == "Bearer new") {
      ScriptedServer::Respond(fd, 200, "{}");
    } else {
      ScriptedServer::Respond(
          fd, 401, R"({"kind":"Status","code":401,"reason":"Unauthorized","message":"Unauthorized"})");
    }
  });
  std::string dir = std::filesystem::temp_directory_path() / ("zs-token-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/token") << "old\n";
  ManualClock clock;
  KubeConfig config;
  config.token_file = std::make_shared<TokenFile>(dir + "/token", clock);
  auto client = ClientFor(server, config);
  EXPECT_TRUE(kube::IsUnauthorized(client->Get(PodRef("ns", "p")).status()));  // 401, re-read "old", 401
  // The kubelet rotates the token; the mtime check would wait a minute, the
  // 401 makes the client look at once.
  std::ofstream(dir + "/token") << "new\n";
  struct timeval later[2] = {{2000000000, 0}, {2000000000, 0}};
  ::utimes((dir + "/token").c_str(), later);
  EXPECT_TRUE(client->Get(PodRef("ns", "p")).ok());
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 4u);
  EXPECT_EQ(requests[2].authorization, "Bearer old");
  EXPECT_EQ(requests[3].authorization, "Bearer new");
  std::filesystem::remove_all(dir);
}

// client-go's Retry-After handling: a 429 (or a 5xx carrying Retry-After)
// was not acted on, so the request is sent again after the wait it names.
TEST(CurlKubeClientTest, RetryAfterIsHonouredOn429) {
  std::atomic<int> seen{0};
  ScriptedServer server([&seen](const Request&, int fd) {
    if (seen.fetch_add(1) == 0) {
      const std::string body = R"({"kind":"Status","code":429,"reason":"TooManyRequests"})";
      SendAll(fd,
              "HTTP/1.1 429 Too Many Requests\r\nretry-after: 1\r\nConnection: close\r\nContent-Length: " +
                  std::to_string(body.size()) + "\r\n\r\n" + body);
    } else {
      ScriptedServer::Respond(fd, 200, R"({"kind":"Pod"})");
    }
  });
  auto client = ClientFor(server);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(client->Get(PodRef("ns", "p")).ok());
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(900));  // waited as told
  EXPECT_EQ(server.requests().size(), 2u);
}

// A 503 without Retry-After is the caller's to retry (with its backoff); a
// Retry-After that would pass the request timeout is not waited for.
TEST(CurlKubeClientTest, RetryAfterIsNotWaitedPastTheDeadlineNorInventedFor5xx) {
  ScriptedServer server([](const Request& r, int fd) {
    if (r.target.find("/p503") != std::string::npos) {
      ScriptedServer::Respond(fd, 503, R"({"kind":"Status","code":503})");
      return;
    }
    SendAll(fd, "HTTP/1.1 429 X\r\nRetry-After: 30\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}");
  });
  KubeConfig config;
  config.server = server.url();
  CurlOptions options;
  options.request_timeout = std::chrono::seconds(5);
  auto client = CurlKubeClient::Create(config, options);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ(HttpCode((*client)->Get(PodRef("ns", "p503")).status()), 503);
  EXPECT_EQ(server.requests().size(), 1u);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(HttpCode((*client)->Get(PodRef("ns", "p")).status()), 429);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  EXPECT_EQ(server.requests().size(), 2u);
}

// A bearer token never crosses a network in clear text: plain http is
// refused with a token unless the apiserver is on loopback.
TEST(CurlKubeClientTest, BearerTokenIsNeverSentOverPlainHttpOffTheHost) {
  auto create = [](const std::string& server) {
    KubeConfig config;
    config.server = server;
    config.token = "secret";
    return CurlKubeClient::Create(config).status();
  };
  for (const char* server : {"http://10.0.0.1:8080", "http://apiserver.example:80",
                             "http://127.0.0.1.nip.io:80", "http://[2001:db8::1]:80"}) {
    const absl::Status status = create(server);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << server;
    EXPECT_NE(status.message().find("plain http"), std::string::npos) << status;
  }
  for (const char* server :
       {"https://10.0.0.1:6443", "http://127.0.0.1:8080", "http://localhost:8001", "http://[::1]:80"}) {
    EXPECT_TRUE(create(server).ok()) << server;
  }
  KubeConfig no_token;
  no_token.server = "http://10.0.0.1:8080";
  EXPECT_TRUE(CurlKubeClient::Create(no_token).ok());  // nothing secret to send
}

// A malformed line ends the stream with an error rather than being skipped:
// skipping would lose the event it carried, while the caller (the informer)
// watches again from the last event it applied and gets it redelivered.
TEST(CurlKubeClientTest, WatchStreamsChunkedEventsAndStopsAtAMalformedLine) {
  ScriptedServer server([](const Request& r, int fd) {
    std::string head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n";
    std::string events =
        std::string(R"({"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"5"}}})") +
        "\n{broken\n" + R"({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"9"}}})" + "\n" +
        R"({"type":"DELETED","object":{"metadata":{"name":"a"}}})" + "\n";
    SendAll(fd, head);
    // Dribble the stream in odd-sized pieces.
    for (size_t i = 0; i < events.size(); i += 7) SendAll(fd, events.substr(i, 7));
  });
  auto client = ClientFor(server);
  std::vector<std::string> seen;
  WatchOptions options;
  options.resource_version = "4";
  options.timeout_seconds = 30;
  absl::Status status = client->Watch(kPods.In("ns"), options, [&](const WatchEvent& event) {
    seen.push_back(std::string(WatchEventTypeName(event.type)));
    return true;
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_EQ(seen, (std::vector<std::string>{"ADDED"}));
  EXPECT_EQ(
      server.requests()[0].target,
      "/api/v1/namespaces/ns/pods?watch=1&resourceVersion=4&allowWatchBookmarks=true&timeoutSeconds=30");
}

TEST(CurlKubeClientTest, WatchGoneAndCancel) {
  std::atomic<bool> release{false};
  ScriptedServer server([&](const Request& r, int fd) {
    if (r.target.find("resourceVersion=1&") != std::string::npos) {
      ScriptedServer::Respond(fd, 410,
                              R"({"kind":"Status","code":410,"reason":"Expired","message":"too old"})");
      return;
    }
    SendAll(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n");
    // An idle stream: stays open until the test is done with it.
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  });
  auto client = ClientFor(server);
  WatchOptions gone;
  gone.resource_version = "1";
  EXPECT_TRUE(kube::IsGone(client->Watch(kPods, gone, [](const WatchEvent&) { return true; })));

  Cancellation cancel;
  WatchOptions idle;
  idle.resource_version = "2";
  idle.cancel = &cancel;
  std::atomic<bool> returned{false};
  std::thread watcher([&] {
    EXPECT_TRUE(client->Watch(kPods, idle, [](const WatchEvent&) { return true; }).ok());
    returned = true;
  });
  ASSERT_TRUE(Eventually([&] { return server.requests().size() == 2; }));
  EXPECT_FALSE(Eventually([&] { return returned.load(); }, std::chrono::milliseconds(100)));
  cancel.Cancel();
  EXPECT_TRUE(Eventually([&] { return returned.load(); }, std::chrono::milliseconds(1000)));
  watcher.join();
  release = true;
}

}  // namespace
}  // namespace zs::kube
