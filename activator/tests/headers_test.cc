#include "activator/http/headers.h"

#include <gtest/gtest.h>

#include <regex>

#include "activator/http/parse.h"

namespace zs::activator {
namespace {

std::string Field(const Request& r, std::string_view name) {
  auto v = r[boost::beast::string_view(name.data(), name.size())];
  return std::string(v.data(), v.size());
}
std::string Field(const Response& r, std::string_view name) {
  auto v = r[boost::beast::string_view(name.data(), name.size())];
  return std::string(v.data(), v.size());
}

TEST(RequestId, KeepsSaneClientIdsAndMintsUuids) {
  EXPECT_EQ(RequestIdFor("abc-123"), "abc-123");
  const std::regex uuid("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  EXPECT_TRUE(std::regex_match(RequestIdFor(""), uuid));
  EXPECT_TRUE(std::regex_match(RequestIdFor("has space"), uuid));
  EXPECT_TRUE(std::regex_match(RequestIdFor(std::string(129, 'a')), uuid));
  EXPECT_NE(NewRequestId(), NewRequestId());
}

TEST(PrepareUpstreamRequest, RewritesTargetAndForwardingFields) {
  Request req(bhttp::verb::post, "/fn/default/hello/x?y=1", 11);
  req.set(bhttp::field::host, "activator.example:8000");
  req.set(bhttp::field::connection, "keep-alive, X-Secret");
  req.set("X-Secret", "hop");
  req.set(bhttp::field::keep_alive, "timeout=5");
  req.set(bhttp::field::te, "trailers");
  req.set(bhttp::field::upgrade, "websocket");
  req.set(bhttp::field::expect, "100-continue");
  req.set("X-Forwarded-For", "203.0.113.9");
  req.set(bhttp::field::transfer_encoding, "chunked");
  auto route = ResolveRoute("/fn/default/hello/x?y=1", "", "fn.local");
  ASSERT_TRUE(route);
  PrepareUpstreamRequest(req, *route, "127.0.0.1", "rid-1");
  EXPECT_EQ(std::string(req.target()), "/x?y=1");
  EXPECT_EQ(Field(req, "X-Forwarded-For"), "203.0.113.9, 127.0.0.1");
  EXPECT_EQ(Field(req, "X-Forwarded-Proto"), "http");
  EXPECT_EQ(Field(req, "X-Forwarded-Host"), "activator.example:8000");
  EXPECT_EQ(Field(req, "X-Request-Id"), "rid-1");
  EXPECT_EQ(Field(req, "Host"), "activator.example:8000");
  EXPECT_EQ(Field(req, "Transfer-Encoding"), "chunked");
  for (const char* gone : {"Connection", "X-Secret", "Keep-Alive", "TE", "Upgrade", "Expect"}) {
    EXPECT_EQ(req.find(gone), req.end()) << gone;
  }
  EXPECT_TRUE(req.keep_alive());
}

TEST(PrepareUpstreamRequest, KeepsClientForwardedProtoAndHost) {
  Request req(bhttp::verb::get, "/x", 10);
  req.set("X-Forwarded-Proto", "https");
  req.set("X-Forwarded-Host", "public.example");
  Route route{"ns", "f", "/x", "/x", true};
  PrepareUpstreamRequest(req, route, "10.1.1.1", "id");
  EXPECT_EQ(Field(req, "X-Forwarded-Proto"), "https");
  EXPECT_EQ(Field(req, "X-Forwarded-Host"), "public.example");
  EXPECT_EQ(Field(req, "X-Forwarded-For"), "10.1.1.1");
  EXPECT_EQ(req.version(), 11u);
}

TEST(PrepareClientResponse, SetsRequestIdAndConnection) {
  Response res(bhttp::status::ok, 11);
  res.set(bhttp::field::connection, "close");
  res.set(bhttp::field::keep_alive, "timeout=5");
  PrepareClientResponse(res, "rid", 11, true);
  EXPECT_EQ(Field(res, "X-Request-Id"), "rid");
  EXPECT_EQ(res.find(bhttp::field::keep_alive), res.end());
  EXPECT_TRUE(res.keep_alive());
  PrepareClientResponse(res, "rid", 11, false);
  EXPECT_EQ(Field(res, "Connection"), "close");
}

TEST(PrepareUpstreamRequest, StripsProxyAuthorization) {
  Request req(bhttp::verb::get, "/fn/ns/f/x", 11);
  req.set(bhttp::field::host, "a");
  req.set(bhttp::field::proxy_authorization, "Basic c2VjcmV0");
  req.set(bhttp::field::authorization, "Bearer for-the-function");
  PrepareUpstreamRequest(req, Route{"ns", "f", "/x", "/x", true}, "10.1.1.1", "id");
  EXPECT_EQ(req.find(bhttp::field::proxy_authorization), req.end());
  EXPECT_EQ(Field(req, "Authorization"), "Bearer for-the-function");
}

TEST(ParseForFuzzing, ClassifiesLikeTheProxy) {
  const ParseLimits limits{1024, 100};
  auto run = [&](const std::string& s) {
    return ParseForFuzzing(reinterpret_cast<const uint8_t*>(s.data()), s.size(), limits, "fn.local");
  };
  EXPECT_EQ(run("GET /fn/ns/f/x HTTP/1.1\r\nHost: a\r\n\r\n"), "routed ns/f");
  EXPECT_EQ(run("GET /x HTTP/1.1\r\nHost: f.ns.fn.local\r\n\r\n"), "routed ns/f");
  EXPECT_EQ(run("GET /nope HTTP/1.1\r\nHost: a\r\n\r\n"), "404");
  EXPECT_EQ(run("GET /x HTTP/1.1\r\nHost: " + std::string(2000, 'a') + "\r\n\r\n"), "431");
  EXPECT_EQ(run("POST /fn/ns/f/ HTTP/1.1\r\nContent-Length: 101\r\n\r\n"), "413");
  EXPECT_EQ(run("POST /fn/ns/f/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n" +
                std::string(101, 'x') + "\r\n0\r\n\r\n"),
            "413");
  EXPECT_EQ(
      run("POST /fn/ns/f/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
      "routed ns/f");
  EXPECT_EQ(run("GARBAGE\r\n\r\n"), "400");
  EXPECT_EQ(run("GET /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"), "400");
  EXPECT_EQ(run("GET /fn/ns/f/ HTTP/1.1\r\n\r\n"), "400");  // no Host
  EXPECT_EQ(run("POST /fn/ns/f/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"),
            "501");
  EXPECT_EQ(run("GET /x HTTP/1.1\r\nHost"), "incomplete");
  EXPECT_EQ(run(""), "incomplete");
}

}  // namespace
}  // namespace zs::activator
