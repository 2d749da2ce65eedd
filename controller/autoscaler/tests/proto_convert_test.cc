#include "controller/autoscaler/proto_convert.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace zs::autoscaler {
namespace {

TEST(ProtoConvert, ReportRoundTrips) {
  StatsReport report;
  report.activator_id = "activator-7";
  report.window_end = SystemTime{} + std::chrono::seconds(1'780'000'000) + std::chrono::microseconds(123456);
  report.window = 1500ms;
  FunctionLoad load;
  load.function = {"team-a", "judge"};
  load.average_concurrency = 2.5;
  load.peak_concurrency = 4;
  load.requests = 17;
  load.queued = 3;
  load.in_flight = 2;
  load.last_request_time = *report.window_end - 250ms;
  report.functions.push_back(load);
  FunctionLoad idle;
  idle.function = {"team-a", "idle"};
  report.functions.push_back(idle);

  absl::StatusOr<StatsReport> converted = FromProto(ToProto(report));
  ASSERT_TRUE(converted.ok()) << converted.status();
  const StatsReport& back = *converted;
  EXPECT_EQ(back.activator_id, "activator-7");
  EXPECT_EQ(back.window_end, report.window_end);
  EXPECT_EQ(back.window, 1500ms);
  ASSERT_EQ(back.functions.size(), 2u);
  EXPECT_EQ(back.functions[0].function, (FunctionKey{"team-a", "judge"}));
  EXPECT_DOUBLE_EQ(back.functions[0].average_concurrency, 2.5);
  EXPECT_DOUBLE_EQ(back.functions[0].peak_concurrency, 4);
  EXPECT_EQ(back.functions[0].requests, 17u);
  EXPECT_EQ(back.functions[0].queued, 3u);
  EXPECT_EQ(back.functions[0].in_flight, 2u);
  EXPECT_EQ(back.functions[0].last_request_time, load.last_request_time);
  EXPECT_FALSE(back.functions[1].last_request_time.has_value());
}

// A report the activator sends every second: every figure in range.
zeroscale::v1alpha1::StatsReport SaneReport() {
  zeroscale::v1alpha1::StatsReport pb;
  pb.set_activator_id("activator-0");
  pb.mutable_window_end()->set_seconds(1'780'000'000);
  pb.set_window_ms(1000);
  auto* l = pb.add_functions();
  l->set_namespace_("ns");
  l->set_name("fn");
  l->set_average_concurrency(2.5);
  l->set_peak_concurrency(4);
  l->set_requests(10);
  l->set_queued(1);
  l->set_in_flight(2);
  l->mutable_last_request_time()->set_seconds(1'779'999'999);
  return pb;
}

TEST(ProtoConvert, SaneReportAndItsEdgesPass) {
  using Pb = zeroscale::v1alpha1::StatsReport;
  const std::vector<std::pair<std::string, std::function<void(Pb&)>>> cases = {
      {"as sent", [](Pb&) {}},
      {"zero everything", [](Pb& r) { r.mutable_functions(0)->set_average_concurrency(0); }},
      {"negative zero", [](Pb& r) { r.mutable_functions(0)->set_average_concurrency(-0.0); }},
      {"at the concurrency limit",
       [](Pb& r) { r.mutable_functions(0)->set_average_concurrency(ReportLimits::kMaxConcurrency); }},
      {"at the count limit",
       [](Pb& r) { r.mutable_functions(0)->set_queued(ReportLimits::kMaxInFlightOrQueued); }},
      {"no window_end", [](Pb& r) { r.clear_window_end(); }},
      {"a relay address", [](Pb& r) { r.set_relay_address("10.1.2.3:8000"); }},
      {"an IPv6 relay address", [](Pb& r) { r.set_relay_address("[fd00::3]:8000"); }},
      {"no last request", [](Pb& r) { r.mutable_functions(0)->clear_last_request_time(); }},
      {"window_ms 0 is the nominal second", [](Pb& r) { r.set_window_ms(0); }},
      {"no functions", [](Pb& r) { r.clear_functions(); }},
  };
  for (const auto& [name, mutate] : cases) {
    Pb pb = SaneReport();
    mutate(pb);
    absl::StatusOr<StatsReport> r = FromProto(pb);
    EXPECT_TRUE(r.ok()) << name << ": " << r.status();
  }
  absl::StatusOr<StatsReport> r = FromProto(SaneReport());
  ASSERT_TRUE(r.ok());
  Pb no_window = SaneReport();
  no_window.set_window_ms(0);
  EXPECT_EQ(FromProto(no_window)->window, 1000ms);
  no_window.clear_window_end();
  EXPECT_FALSE(FromProto(no_window)->window_end.has_value());
}

// Every number of a report is range-checked before anything converts or
// adds it; one bad figure refuses the whole report, naming the field.
TEST(ProtoConvert, BadReportsAreRefusedNamingTheField) {
  using Pb = zeroscale::v1alpha1::StatsReport;
  const double kNaN = std::numeric_limits<double>::quiet_NaN();
  const double kInf = std::numeric_limits<double>::infinity();
  struct Case {
    std::string name;
    std::function<void(Pb&)> mutate;
    std::string field;  // expected in the message
  };
  auto fn = [](Pb& r) { return r.mutable_functions(0); };
  const std::vector<Case> cases = {
      {"NaN concurrency", [&](Pb& r) { fn(r)->set_average_concurrency(kNaN); }, "average_concurrency: NaN"},
      {"+Inf concurrency", [&](Pb& r) { fn(r)->set_average_concurrency(kInf); },
       "average_concurrency: infinite"},
      {"-Inf concurrency", [&](Pb& r) { fn(r)->set_average_concurrency(-kInf); },
       "average_concurrency: -infinite"},
      {"negative concurrency", [&](Pb& r) { fn(r)->set_average_concurrency(-3); }, "average_concurrency"},
      {"tiny negative concurrency", [&](Pb& r) { fn(r)->set_average_concurrency(-1e-300); },
       "average_concurrency"},
      {"huge concurrency", [&](Pb& r) { fn(r)->set_average_concurrency(1e300); }, "average_concurrency"},
      {"just above the limit",
       [&](Pb& r) { fn(r)->set_average_concurrency(std::nextafter(ReportLimits::kMaxConcurrency, kInf)); },
       "average_concurrency"},
      {"NaN peak", [&](Pb& r) { fn(r)->set_peak_concurrency(kNaN); }, "peak_concurrency: NaN"},
      {"huge peak", [&](Pb& r) { fn(r)->set_peak_concurrency(1e19); }, "peak_concurrency"},
      {"huge requests", [&](Pb& r) { fn(r)->set_requests(UINT64_MAX); }, "requests"},
      {"huge queued", [&](Pb& r) { fn(r)->set_queued(UINT32_MAX); }, "queued"},
      {"huge in flight", [&](Pb& r) { fn(r)->set_in_flight(ReportLimits::kMaxInFlightOrQueued + 1); },
       "in_flight"},
      {"last request before the epoch", [&](Pb& r) { fn(r)->mutable_last_request_time()->set_seconds(-1); },
       "last_request_time"},
      {"last request beyond any clock",
       [&](Pb& r) { fn(r)->mutable_last_request_time()->set_seconds(INT64_MAX); }, "last_request_time"},
      {"negative nanos", [&](Pb& r) { fn(r)->mutable_last_request_time()->set_nanos(-1); }, "nanos"},
      {"nanos of two seconds", [&](Pb& r) { fn(r)->mutable_last_request_time()->set_nanos(2'000'000'000); },
       "nanos"},
      {"window_end beyond any clock", [](Pb& r) { r.mutable_window_end()->set_seconds(INT64_MAX); },
       "window_end"},
      {"window_end before the epoch", [](Pb& r) { r.mutable_window_end()->set_seconds(INT64_MIN); },
       "window_end"},
      {"window of a day", [](Pb& r) { r.set_window_ms(86'400'000); }, "window_ms"},
      {"window of UINT32_MAX", [](Pb& r) { r.set_window_ms(UINT32_MAX); }, "window_ms"},
      {"no activator id", [](Pb& r) { r.clear_activator_id(); }, "activator_id: empty"},
      {"activator id of 300 characters", [](Pb& r) { r.set_activator_id(std::string(300, 'a')); },
       "activator_id"},
      {"relay address without a port", [](Pb& r) { r.set_relay_address("10.1.2.3"); }, "relay_address"},
      {"relay address with port 0", [](Pb& r) { r.set_relay_address("10.1.2.3:0"); }, "relay_address"},
      {"relay address with port 70000", [](Pb& r) { r.set_relay_address("10.1.2.3:70000"); },
       "relay_address"},
      {"relay address with a path", [](Pb& r) { r.set_relay_address("evil/x:80"); }, "relay_address"},
      {"relay address of 300 characters", [](Pb& r) { r.set_relay_address(std::string(296, 'a') + ":8000"); },
       "relay_address"},
      {"no namespace", [&](Pb& r) { fn(r)->clear_namespace_(); }, "namespace: empty"},
      {"no name", [&](Pb& r) { fn(r)->clear_name(); }, "name: empty"},
      {"name of 64 characters", [&](Pb& r) { fn(r)->set_name(std::string(64, 'x')); }, "name"},
      {"bad second entry",
       [](Pb& r) {
         auto* l = r.add_functions();
         l->set_namespace_("ns");
         l->set_name("other");
         l->set_in_flight(UINT32_MAX);
       },
       "functions[1] (ns/other).in_flight"},
  };
  for (const Case& c : cases) {
    Pb pb = SaneReport();
    c.mutate(pb);
    absl::StatusOr<StatsReport> r = FromProto(pb);
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(std::string(r.status().message()).find(c.field), std::string::npos)
        << c.name << ": " << r.status().message();
  }
}

}  // namespace
}  // namespace zs::autoscaler
