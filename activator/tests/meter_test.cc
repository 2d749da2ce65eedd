// The meter's bookkeeping: memory billed, request ids in billing records, and
// per-Function state that lives and dies with the catalog's Functions.
#include "activator/metering/meter.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "activator/admission/catalog.h"
#include "activator/admission/function_config.h"
#include "activator/metering/load_tracker.h"
#include "activator/metering/metrics.h"

namespace zs::activator {
namespace {

using namespace std::chrono_literals;

class CapturingSink final : public BillingSink {
 public:
  void Write(const InvocationRecord& record) override {
    std::lock_guard lock(mu_);
    records_.push_back(record);
  }
  std::vector<InvocationRecord> records() const {
    std::lock_guard lock(mu_);
    return records_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<InvocationRecord> records_;
};

FunctionConfig Config(const std::string& ns, const std::string& name, const std::string& uid = "") {
  FunctionConfig config;
  config.key = {ns, name};
  config.uid = uid;
  return config;
}

api::Function ApiFunction(std::optional<std::string> request, std::optional<std::string> limit) {
  api::Function fn;
  fn.metadata.namespace_ = "team";
  fn.metadata.name = "judge";
  fn.spec.resources.requests.memory = std::move(request);
  fn.spec.resources.limits.memory = std::move(limit);
  return fn;
}

// Kubernetes defaults a missing request to the limit; the pod holds that
// much, so that is what it is billed at.
TEST(MemoryBilled, RequestElseLimitElseDefault) {
  constexpr double kMi = 1024.0 * 1024;
  EXPECT_DOUBLE_EQ(*FunctionConfigFromApi(ApiFunction(std::nullopt, "512Mi")).memory_request_bytes,
                   512 * kMi);
  EXPECT_DOUBLE_EQ(*FunctionConfigFromApi(ApiFunction("256Mi", std::nullopt)).memory_request_bytes,
                   256 * kMi);
  EXPECT_DOUBLE_EQ(*FunctionConfigFromApi(ApiFunction("256Mi", "1Gi")).memory_request_bytes, 256 * kMi);
  EXPECT_FALSE(FunctionConfigFromApi(ApiFunction(std::nullopt, std::nullopt)).memory_request_bytes);

  Metrics metrics(std::make_shared<prometheus::Registry>());
  ManualClock clock;
  LoadTracker load(clock, "a");
  CapturingSink sink;
  Meter meter(metrics, load, sink, 128 * kMi);
  for (const auto& [request, limit, expected_mb] :
       std::vector<std::tuple<std::optional<std::string>, std::optional<std::string>, double>>{
           {std::nullopt, "512Mi", 512}, {"256Mi", std::nullopt, 256}, {std::nullopt, std::nullopt, 128}}) {
    Invocation inv;
    inv.function = std::make_shared<const FunctionConfig>(FunctionConfigFromApi(ApiFunction(request, limit)));
    inv.code = 200;
    inv.forwarded = true;
    inv.forward_duration = 1s;
    meter.Finish(inv);
    const InvocationRecord record = sink.records().back();
    EXPECT_DOUBLE_EQ(record.memory_mb, expected_mb);
    EXPECT_DOUBLE_EQ(record.gb_seconds, expected_mb / 1024);
  }
}

// A client may send the same X-Request-Id twice (retries, a fixed value): the
// billing record's request_id is still one per invocation, and the client's
// value is kept beside it.
TEST(MeterBilling, RequestIdIsUniqueEvenWhenTheClientSendsItsOwn) {
  Metrics metrics(std::make_shared<prometheus::Registry>());
  ManualClock clock;
  LoadTracker load(clock, "a");
  CapturingSink sink;
  Meter meter(metrics, load, sink, 128.0 * 1024 * 1024);
  auto config = std::make_shared<const FunctionConfig>(Config("team", "judge"));
  for (int i = 0; i < 100; ++i) {
    Invocation inv;
    inv.function = config;
    inv.request_id = "same-id";  // what the proxy forwards and returns
    inv.client_request_id = "same-id";
    inv.code = 200;
    meter.Finish(inv);
  }
  Invocation generated;
  generated.function = config;
  generated.request_id = "made-by-the-activator";
  generated.code = 200;
  meter.Finish(generated);

  const auto records = sink.records();
  ASSERT_EQ(records.size(), 101u);
  std::set<std::string> ids;
  for (size_t i = 0; i < 100; ++i) {
    EXPECT_EQ(records[i].client_request_id, "same-id");
    EXPECT_NE(records[i].request_id, "same-id");
    ids.insert(records[i].request_id);
  }
  EXPECT_EQ(ids.size(), 100u);
  EXPECT_EQ(records[100].request_id, "made-by-the-activator");
  EXPECT_EQ(records[100].client_request_id, "");
}

TEST(AssignRequestId, KeepsAValidClientIdAndSaysSo) {
  Invocation inv;
  AssignRequestId(inv, "trace-42");
  EXPECT_EQ(inv.request_id, "trace-42");
  EXPECT_EQ(inv.client_request_id, "trace-42");
  AssignRequestId(inv, "");
  EXPECT_EQ(inv.request_id.size(), 36u);  // a UUID of the activator's
  EXPECT_EQ(inv.client_request_id, "");
  AssignRequestId(inv, "bad id with spaces");  // replaced, not kept
  EXPECT_NE(inv.request_id, "bad id with spaces");
  EXPECT_EQ(inv.client_request_id, "");
}

std::string Exposition(prometheus::Registry& registry) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry.Collect());
  return out.str();
}

bool Reported(const LoadReport& report, const std::string& name) {
  return std::any_of(report.functions.begin(), report.functions.end(),
                     [&](const FunctionLoad& f) { return f.key.name == name; });
}

struct LifecycleFixture {
  LifecycleFixture() : load(clock, "a"), meter(metrics, load, sink, 128.0 * 1024 * 1024) {
    meter.Follow(catalog);
  }
  void Traffic(const std::shared_ptr<const FunctionConfig>& config) {
    meter.OnArrival(*config);
    meter.OnQueued(*config, +1);
    meter.OnColdStart(*config);
    meter.OnQueued(*config, -1);
    meter.OnForwardStart(*config);
    clock.Advance(10ms);
    meter.OnForwardEnd(*config);
    Invocation inv;
    inv.function = config;
    inv.code = 200;
    inv.buffered = true;
    inv.forwarded = true;
    inv.forward_duration = 10ms;
    meter.Finish(inv);
  }

  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  Metrics metrics{registry};
  ManualClock clock;
  LoadTracker load;
  CapturingSink sink;
  InMemoryCatalog catalog;
  Meter meter;
};

// Upsert, traffic, remove: the Function's series leave the exposition, its
// load leaves the next report; the other Function keeps both.
TEST(MeterLifecycle, RemovedFunctionLeavesNoSeriesAndNoReport) {
  LifecycleFixture f;
  f.catalog.Upsert(Config("team", "gone"));
  f.catalog.Upsert(Config("team", "kept"));
  auto gone = f.catalog.Lookup("team", "gone");
  auto kept = f.catalog.Lookup("team", "kept");
  f.Traffic(gone);
  f.Traffic(kept);
  ASSERT_NE(Exposition(*f.registry).find("function=\"gone\""), std::string::npos);
  ASSERT_TRUE(Reported(f.load.Collect(), "gone"));

  ASSERT_TRUE(f.catalog.Remove({"team", "gone"}));
  std::string text = Exposition(*f.registry);
  EXPECT_EQ(text.find("function=\"gone\""), std::string::npos) << text;
  EXPECT_NE(text.find("function=\"kept\""), std::string::npos);
  LoadReport report = f.load.Collect();
  EXPECT_FALSE(Reported(report, "gone"));
  EXPECT_TRUE(Reported(report, "kept"));
  EXPECT_EQ(f.metrics.function_count(), 1u);

  // A request of the deleted Function that ends now (it was in flight):
  // billed, counted under the empty labels, and it brings nothing back.
  const size_t lines = f.sink.records().size();
  f.Traffic(gone);
  EXPECT_EQ(f.sink.records().size(), lines + 1);
  EXPECT_EQ(f.sink.records().back().function, "gone");
  text = Exposition(*f.registry);
  EXPECT_EQ(text.find("function=\"gone\""), std::string::npos) << text;
  EXPECT_NE(text.find("zeroscale_invocations_total{code=\"200\",function=\"\",namespace=\"\"} 1"),
            std::string::npos)
      << text;
  EXPECT_FALSE(Reported(f.load.Collect(), "gone"));
}

// Deleted and re-created under the same name: the new Function starts at
// zero, and the old one's late events do not touch it.
TEST(MeterLifecycle, RecreatedFunctionStartsFreshAndIgnoresTheOldOne) {
  LifecycleFixture f;
  f.catalog.Upsert(Config("team", "fn", "uid-1"));
  auto old_config = f.catalog.Lookup("team", "fn");
  f.meter.OnForwardStart(*old_config);  // in flight across the re-create
  // Re-created between two informer events: only an update with a new uid.
  f.catalog.Upsert(Config("team", "fn", "uid-2"));
  auto new_config = f.catalog.Lookup("team", "fn");
  ASSERT_NE(new_config->incarnation, old_config->incarnation);
  f.meter.OnForwardStart(*new_config);
  f.meter.OnForwardEnd(*old_config);
  auto in_flight = [&] {
    for (const auto& family : f.registry->Collect()) {
      if (family.name != "zeroscale_requests_in_flight") continue;
      for (const auto& metric : family.metric) return metric.gauge.value;
    }
    return -1.0;
  };
  EXPECT_EQ(in_flight(), 1);
  const LoadReport report = f.load.Collect();
  ASSERT_EQ(report.functions.size(), 1u);
  EXPECT_EQ(report.functions[0].in_flight, 1u);
}

TEST(Catalog, IncarnationLastsAsLongAsTheObject) {
  InMemoryCatalog catalog;
  std::vector<uint64_t> removed;
  catalog.OnRemoved([&](const FunctionConfig& config) { removed.push_back(config.incarnation); });
  catalog.Upsert(Config("ns", "a", "u1"));
  const uint64_t first = catalog.Lookup("ns", "a")->incarnation;
  EXPECT_NE(first, 0u);
  FunctionConfig changed = Config("ns", "a", "u1");  // a spec change
  changed.timeout = 5s;
  catalog.Upsert(changed);
  EXPECT_EQ(catalog.Lookup("ns", "a")->incarnation, first);
  EXPECT_EQ(catalog.Lookup("ns", "a")->timeout, 5s);
  EXPECT_TRUE(removed.empty());
  catalog.Upsert(Config("ns", "a", "u2"));  // re-created
  EXPECT_EQ(removed, (std::vector<uint64_t>{first}));
  const uint64_t second = catalog.Lookup("ns", "a")->incarnation;
  EXPECT_NE(second, first);
  EXPECT_TRUE(catalog.Remove({"ns", "a"}));
  EXPECT_FALSE(catalog.Remove({"ns", "a"}));
  EXPECT_EQ(removed, (std::vector<uint64_t>{first, second}));
}

}  // namespace
}  // namespace zs::activator
