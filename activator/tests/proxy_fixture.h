// A whole activator data path on loopback for socket tests: catalog, endpoint
// store, buffer, meter and proxy wired as main.cc wires them, a fake replica,
// and blocking clients with timeouts so that no test can hang.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <prometheus/registry.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "activator/admission/buffer.h"
#include "activator/admission/catalog.h"
#include "activator/admission/endpoints.h"
#include "activator/admission/waker.h"
#include "activator/metering/billing.h"
#include "activator/metering/load_tracker.h"
#include "activator/metering/meter.h"
#include "activator/metering/metrics.h"
#include "activator/proxy.h"
#include "activator/tests/fake_upstream.h"
#include "common/clock.h"

namespace zs::activator::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;

class CapturingBillingSink : public BillingSink {
 public:
  void Write(const InvocationRecord& record) override {
    std::lock_guard lock(mu);
    records.push_back(record);
  }
  std::vector<InvocationRecord> Snapshot() {
    std::lock_guard lock(mu);
    return records;
  }
  std::mutex mu;
  std::vector<InvocationRecord> records;
};

class CountingWaker : public Waker {
 public:
  void Wake(const FunctionKey& key, Done done) override {
    calls.fetch_add(1);
    done(absl::OkStatus(), /*scaled=*/true);
  }
  std::atomic<int> calls{0};
};

struct Reply {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;
  boost::system::error_code ec;
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

// A blocking HTTP client on one connection.
class Client {
 public:
  explicit Client(uint16_t port, std::chrono::seconds timeout = std::chrono::seconds(20));
  Reply Send(beast::http::request<beast::http::string_body> request);
  Reply Get(const std::string& target, const std::string& host = "activator");
  Reply Post(const std::string& target, std::string body);
  // Raw bytes for malformed input.
  void WriteRaw(const std::string& bytes, boost::system::error_code& ec);
  Reply ReadReply();
  // Reads until the peer closes (or the timeout); true if it closed.
  bool ReadUntilClosed(std::string* got = nullptr);
  beast::tcp_stream& stream() { return stream_; }

 private:
  asio::io_context io_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::chrono::seconds timeout_;
};

// Polls `condition` until true or `limit` real time passed.
bool Eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds limit = std::chrono::milliseconds(10'000));

// Reads one series of a family from a registry: counter, gauge or histogram
// count; 0 when absent.
double MetricValue(prometheus::Registry& registry, const std::string& name,
                   const std::map<std::string, std::string>& labels);

class ProxyTest : public ::testing::Test {
 protected:
  ProxyTest();
  // With other buffer options (the catalog is always this fixture's).
  explicit ProxyTest(RequestBuffer::Options buffer_options);
  ~ProxyTest() override;

  // Starts the proxy with `options` (bind address forced to loopback:0).
  void StartProxy(ProxyOptions options);
  static ProxyOptions DefaultOptions();
  // Registers ns/name with endpoints; `edit` adjusts the config.
  std::shared_ptr<const FunctionConfig> AddFunction(
      const std::string& name, const std::vector<std::string>& endpoints,
      const std::function<void(FunctionConfig&)>& edit = nullptr);
  void SetEndpoints(const std::string& name, const std::vector<std::string>& endpoints);
  double Metric(const std::string& name, const std::map<std::string, std::string>& labels) {
    return MetricValue(*registry_, name, labels);
  }
  uint16_t port() const { return proxy_->port(); }

  RealClock& clock_ = RealClock::Get();
  InMemoryCatalog catalog_;
  InMemoryEndpointStore endpoints_;
  CountingWaker waker_;
  std::shared_ptr<prometheus::Registry> registry_;
  Metrics metrics_;
  LoadTracker load_;
  CapturingBillingSink billing_;
  Meter meter_;
  RequestBuffer buffer_;
  FakeUpstream upstream_;
  std::unique_ptr<Proxy> proxy_;
};

}  // namespace zs::activator::testing
