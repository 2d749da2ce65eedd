#include "activator/tests/proxy_fixture.h"

#include <thread>

#include <prometheus/metric_family.h>

namespace zs::activator::testing {

namespace bhttp = boost::beast::http;

Client::Client(uint16_t port, std::chrono::seconds timeout) : stream_(io_), timeout_(timeout) {
  stream_.expires_after(timeout_);
  stream_.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  boost::system::error_code ec;
  stream_.socket().set_option(asio::ip::tcp::no_delay(true), ec);
}

Reply Client::ReadReply() {
  Reply reply;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(std::numeric_limits<uint64_t>::max());
  stream_.expires_after(timeout_);
  bhttp::read(stream_, buffer_, parser, reply.ec);
  if (parser.is_header_done()) {
    auto& res = parser.get();
    reply.status = static_cast<int>(res.result_int());
    for (const auto& field : res)
      reply.headers[std::string(field.name_string())] = std::string(field.value());
    reply.body = res.body();
  }
  return reply;
}

Reply Client::Send(bhttp::request<bhttp::string_body> request) {
  request.prepare_payload();
  stream_.expires_after(timeout_);
  Reply reply;
  bhttp::write(stream_, request, reply.ec);
  if (reply.ec) return reply;
  return ReadReply();
}

Reply Client::Get(const std::string& target, const std::string& host) {
  bhttp::request<bhttp::string_body> req(bhttp::verb::get, target, 11);
  req.set(bhttp::field::host, host);
  return Send(std::move(req));
}

Reply Client::Post(const std::string& target, std::string body) {
  bhttp::request<bhttp::string_body> req(bhttp::verb::post, target, 11);
  req.set(bhttp::field::host, "activator");
  req.body() = std::move(body);
  return Send(std::move(req));
}

void Client::WriteRaw(const std::string& bytes, boost::system::error_code& ec) {
  stream_.expires_after(timeout_);
  asio::write(stream_, asio::buffer(bytes), ec);
}

bool Client::ReadUntilClosed(std::string* got) {
  char chunk[4096];
  stream_.expires_after(timeout_);
  if (got != nullptr) got->append(static_cast<const char*>(buffer_.data().data()), buffer_.size());
  for (;;) {
    boost::system::error_code ec;
    const size_t n = stream_.read_some(asio::buffer(chunk), ec);
    if (got != nullptr) got->append(chunk, n);
    if (ec) return ec != beast::error::timeout;
  }
}

bool Eventually(const std::function<bool()>& condition, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // polling a condition, not waiting "enough"
  }
  return condition();
}

double MetricValue(prometheus::Registry& registry, const std::string& name,
                   const std::map<std::string, std::string>& labels) {
  for (const auto& family : registry.Collect()) {
    if (family.name != name) continue;
    double total = 0;
    for (const auto& metric : family.metric) {
      bool match = true;
      for (const auto& [key, value] : labels) {
        bool found = false;
        for (const auto& pair : metric.label) found = found || (pair.name == key && pair.value == value);
        match = match && found;
      }
      if (!match) continue;
      switch (family.type) {
        case prometheus::MetricType::Counter:
          total += metric.counter.value;
          break;
        case prometheus::MetricType::Gauge:
          total += metric.gauge.value;
          break;
        case prometheus::MetricType::Histogram:
          total += static_cast<double>(metric.histogram.sample_count);
          break;
        default:
          break;
      }
    }
    return total;
  }
  return 0;
}

ProxyTest::ProxyTest() : ProxyTest(RequestBuffer::Options{}) {}

ProxyTest::ProxyTest(RequestBuffer::Options buffer_options)
    : registry_(std::make_shared<prometheus::Registry>()),
      metrics_(registry_),
      load_(clock_, "test"),
      meter_(metrics_, load_, billing_, 128.0 * 1024 * 1024),
      buffer_(
          [&] {
            buffer_options.catalog = &catalog_;
            return buffer_options;
          }(),
          clock_, endpoints_, waker_, &meter_) {}

ProxyTest::~ProxyTest() {
  proxy_.reset();
  upstream_.Stop();
}

ProxyOptions ProxyTest::DefaultOptions() {
  ProxyOptions options;
  options.threads = 2;
  options.limits.max_header_bytes = 8 * 1024;
  options.limits.max_body_bytes = uint64_t{1024} * 1024;
  options.header_read_timeout = std::chrono::milliseconds(2000);
  options.idle_timeout = std::chrono::milliseconds(5000);
  return options;
}

void ProxyTest::StartProxy(ProxyOptions options) {
  options.bind_address = "127.0.0.1:0";
  auto proxy = Proxy::Start(options, ProxyDeps{catalog_, buffer_, meter_, clock_});
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  proxy_ = std::move(*proxy);
}

std::shared_ptr<const FunctionConfig> ProxyTest::AddFunction(
    const std::string& name, const std::vector<std::string>& endpoints,
    const std::function<void(FunctionConfig&)>& edit) {
  FunctionConfig config;
  config.key = {"ns", name};
  config.timeout = std::chrono::seconds(10);
  config.buffer_timeout = std::chrono::seconds(10);
  config.memory_request_bytes = 256.0 * 1024 * 1024;
  if (edit) edit(config);
  catalog_.Upsert(config);
  SetEndpoints(name, endpoints);
  return catalog_.Lookup("ns", name);
}

void ProxyTest::SetEndpoints(const std::string& name, const std::vector<std::string>& endpoints) {
  std::vector<Endpoint> ready;
  for (const auto& text : endpoints) {
    Endpoint e;
    EXPECT_TRUE(ParseEndpoint(text, &e)) << text;
    e.pod = name + "-pod-" + std::to_string(e.port);
    ready.push_back(e);
  }
  endpoints_.Update({"ns", name}, ready);
}

}  // namespace zs::activator::testing
