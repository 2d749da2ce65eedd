#include "activator/errors.h"

#include <gtest/gtest.h>

#include <set>

#include <prometheus/registry.h>

#include "activator/metering/metrics.h"

#include <nlohmann/json.hpp>

namespace zs::activator {
namespace {

TEST(ErrorTable, StatusesAreDesignMds) {
  EXPECT_EQ(Spec(ProxyError::kUnknownFunction).http_status, 404);
  EXPECT_EQ(Spec(ProxyError::kQueueFull).http_status, 503);
  EXPECT_EQ(Spec(ProxyError::kQueueTimeout).http_status, 504);
  EXPECT_EQ(Spec(ProxyError::kExecTimeout).http_status, 504);
  EXPECT_EQ(Spec(ProxyError::kUpstreamError).http_status, 502);
  EXPECT_EQ(Spec(ProxyError::kBadRequest).http_status, 400);
  EXPECT_EQ(Spec(ProxyError::kBodyTooLarge).http_status, 413);
  EXPECT_EQ(Spec(ProxyError::kHeaderTooLarge).http_status, 431);
  EXPECT_EQ(Spec(ProxyError::kShuttingDown).http_status, 503);
  EXPECT_EQ(Spec(ProxyError::kNotImplemented).http_status, 501);
  EXPECT_EQ(Spec(ProxyError::kDrainCut).http_status, 504);
  EXPECT_EQ(Spec(ProxyError::kClientBodyTimeout).http_status, 408);
}

TEST(ErrorTable, ReasonsAreTheFixedLabelSet) {
  const std::set<std::string_view> allowed = {"",
                                              "queue_full",
                                              "queue_timeout",
                                              "exec_timeout",
                                              "upstream_error",
                                              "bad_request",
                                              "client_closed",
                                              "shutdown",
                                              "client_timeout"};
  for (ProxyError e : kAllErrors) {
    EXPECT_TRUE(allowed.count(Spec(e).reason)) << static_cast<int>(e);
    EXPECT_EQ(Spec(e).error, e);
    EXPECT_FALSE(Spec(e).message.empty());
  }
  EXPECT_EQ(Spec(ProxyError::kQueueFull).reason, "queue_full");
  EXPECT_EQ(Spec(ProxyError::kQueueTimeout).reason, "queue_timeout");
  EXPECT_EQ(Spec(ProxyError::kExecTimeout).reason, "exec_timeout");
  EXPECT_EQ(Spec(ProxyError::kUpstreamError).reason, "upstream_error");
  EXPECT_EQ(Spec(ProxyError::kHeaderTooLarge).reason, "bad_request");
  EXPECT_EQ(Spec(ProxyError::kUnknownFunction).reason, "");
  EXPECT_EQ(Spec(ProxyError::kClientClosed).reason, "client_closed");
  EXPECT_EQ(Spec(ProxyError::kNotImplemented).reason, "bad_request");
  // Whatever the drain deadline cuts, held or forwarded, is one reason.
  EXPECT_EQ(Spec(ProxyError::kShuttingDown).reason, "shutdown");
  EXPECT_EQ(Spec(ProxyError::kDrainCut).reason, "shutdown");
  EXPECT_EQ(Spec(ProxyError::kClientBodyTimeout).reason, "client_timeout");
}

TEST(ErrorTable, OnlyServiceUnavailableCarriesRetryAfter) {
  for (ProxyError e : kAllErrors)
    EXPECT_EQ(Spec(e).retry_after, Spec(e).http_status == 503) << static_cast<int>(e);
}

TEST(ErrorBody, IsDesignMdsJson) {
  const auto body = nlohmann::json::parse(ErrorBody(ProxyError::kUnknownFunction, "default/hello"));
  EXPECT_EQ(body, (nlohmann::json{{"error", "function not found"}, {"function", "default/hello"}}));
  const auto unnamed = nlohmann::json::parse(ErrorBody(ProxyError::kBadRequest, ""));
  EXPECT_EQ(unnamed["function"], "");
}

TEST(AppendJsonString, EscapesControlQuotesAndBytes) {
  std::string out;
  // Nine bytes: the last one is a NUL, a control byte like \x01.
  AppendJsonString(out, std::string("a\"b\\c\n\x01\xff\0", 9));
  EXPECT_NE(out.find("\\u0000"), std::string::npos) << out;
  const auto parsed = nlohmann::json::parse(out);
  EXPECT_EQ(parsed.get<std::string>().substr(0, 7), "a\"b\\c\n\x01");
}

// A rejection counter that appeared only with its first increment would hide
// that increment from rate() and increase(): each reason of a routed Function
// exists, at 0, from the Function's first request.
TEST(ErrorTable, EveryRejectionReasonOfAFunctionStartsAtZero) {
  auto registry = std::make_shared<prometheus::Registry>();
  Metrics metrics(registry);
  metrics.For({"team", "judge"});
  std::set<std::string> reasons;
  for (const auto& family : registry->Collect()) {
    if (family.name != "zeroscale_rejected_requests_total") continue;
    for (const auto& metric : family.metric) {
      EXPECT_EQ(metric.counter.value, 0);
      for (const auto& label : metric.label) {
        if (label.name == "reason") reasons.insert(label.value);
      }
    }
  }
  EXPECT_EQ(reasons, (std::set<std::string>{"bad_request", "client_closed", "client_timeout", "exec_timeout",
                                            "queue_full", "queue_timeout", "shutdown", "upstream_error"}));
}

}  // namespace
}  // namespace zs::activator
