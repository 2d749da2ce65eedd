#include "controller/autoscaler/proto_convert.h"

#include <gtest/gtest.h>

#include <cmath>

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
  load.last_request_time = report.window_end - 250ms;
  report.functions.push_back(load);
  FunctionLoad idle;
  idle.function = {"team-a", "idle"};
  report.functions.push_back(idle);

  StatsReport back = FromProto(ToProto(report));
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

TEST(ProtoConvert, InsaneFiguresAreNeutralised) {
  zeroscale::v1alpha1::StatsReport pb;
  pb.set_activator_id("a");
  auto* l = pb.add_functions();
  l->set_namespace_("ns");
  l->set_name("fn");
  l->set_average_concurrency(-3);
  l->set_peak_concurrency(std::nan(""));
  StatsReport r = FromProto(pb);
  EXPECT_EQ(r.window, 1000ms);  // window_ms 0 -> nominal 1 s
  EXPECT_EQ(r.functions[0].average_concurrency, 0);
  EXPECT_EQ(r.functions[0].peak_concurrency, 0);
}

}  // namespace
}  // namespace zs::autoscaler
