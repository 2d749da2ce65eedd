// Heap allocations of the data path's heads: this binary replaces the global
// operator new to count calls, so it holds no other tests.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "activator/admission/lookup.h"
#include "activator/http/framing.h"
#include "activator/http/headers.h"
#include "activator/http/http_types.h"
#include "activator/http/parse.h"

namespace {
std::atomic<long> news{0};
std::atomic<long> deletes{0};
}  // namespace

void* operator new(size_t n) {
  news.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  if (p != nullptr) deletes.fetch_add(1, std::memory_order_relaxed);
  std::free(p);
}
void operator delete(void* p, size_t /*n*/) noexcept { operator delete(p); }

namespace zs::activator {
namespace {

TEST(RecyclingAllocator, AFreedBlockServesTheNextRequestOfItsClass) {
  RecyclingAllocator<char> alloc;
  char* first = alloc.allocate(100);  // the 128-byte class
  alloc.deallocate(first, 100);
  const long before = news.load();
  char* again = alloc.allocate(120);
  EXPECT_EQ(again, first);
  EXPECT_EQ(news.load(), before);
  alloc.deallocate(again, 120);
}

TEST(RecyclingAllocator, LargeBlocksAreNotKept) {
  RecyclingAllocator<char> alloc;
  const long before_delete = deletes.load();
  char* big = alloc.allocate(size_t{64} * 1024);
  alloc.deallocate(big, size_t{64} * 1024);
  EXPECT_EQ(deletes.load(), before_delete + 1);
}

TEST(RecyclingAllocator, KeepsABoundedNumberPerClass) {
  // On a thread of its own, so the lists start empty whatever ran before.
  long freed = -1;
  std::thread([&freed] {
    RecyclingAllocator<char> alloc;
    // 4 KiB blocks: 64 KiB of them (16) are kept, the rest are freed.
    std::vector<char*> blocks;
    blocks.reserve(100);
    for (int i = 0; i < 100; ++i) blocks.push_back(alloc.allocate(4096));
    const long before_delete = deletes.load();
    for (char* b : blocks) alloc.deallocate(b, 4096);
    freed = deletes.load() - before_delete;
  }).join();
  EXPECT_EQ(freed, 100 - 16);
}

// A client's request head with the given Host.
std::string RequestHead(std::string_view host) {
  return "GET /fn/default/echo/path?q=1 HTTP/1.1\r\nHost: " + std::string(host) +
         "\r\nUser-Agent: wrk-like-client/4.2\r\nAccept: */*\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n";
}

struct RewrittenHeads {
  std::string forwarded_host;  // filled only when asked (a copy allocates)
  std::string forwarded_for;
  std::string response_request_id;
};

// One round of what the proxy does to the heads of a request: parse the
// client's head, rewrite it for the replica, parse the replica's head and
// rewrite it for the client. `out`, when given, gets the rewritten values.
void OneExchangeOfHeads(std::string_view head, const Route& route, const std::string& request_id,
                        RewrittenHeads* out) {
  static constexpr std::string_view kResponse =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 19\r\n"
      "Date: Fri, 04 Dec 2026 02:00:00 GMT\r\nServer: fn-echo\r\n\r\n";
  boost::system::error_code ec;
  RequestParser request;
  ConfigureRequestParser(request, ParseLimits{});
  request.put(boost::asio::buffer(head.data(), head.size()), ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_TRUE(request.is_header_done());
  PrepareUpstreamRequest(request.get(), route, "127.0.0.1", request_id, "");

  ResponseParser response;
  response.put(boost::asio::buffer(kResponse.data(), kResponse.size()), ec);
  ASSERT_FALSE(ec) << ec.message();
  std::optional<uint64_t> length;
  if (auto parsed = response.content_length()) length = *parsed;
  FrameResponseForClient(response.get(), length, 11, false);
  PrepareClientResponse(response.get(), request_id, 11, true);
  if (out != nullptr) {
    auto text = [](boost::beast::string_view v) { return std::string(v.data(), v.size()); };
    out->forwarded_host = text(request.get()["X-Forwarded-Host"]);
    out->forwarded_for = text(request.get()["X-Forwarded-For"]);
    out->response_request_id = text(response.get()["X-Request-Id"]);
  }
}

TEST(HeadAllocations, RewritingTheHeadsAllocatesNothingOnceWarm) {
  const auto route = ResolveRoute("/fn/default/echo/path?q=1", "activator.example.internal:8080", "");
  ASSERT_TRUE(route.has_value());
  const std::string request_id = NewRequestId();
  const std::string head = RequestHead("activator.example.internal:8080");
  // Warmed with another Host: blocks recycled from it hold other bytes, so a
  // value read through a stale view would show them.
  const std::string other = RequestHead("other.example.internal:9999");
  OneExchangeOfHeads(other, *route, request_id, nullptr);  // fills this thread's free lists
  const long before = news.load();
  for (int i = 0; i < 10; ++i) OneExchangeOfHeads(i % 2 == 0 ? head : other, *route, request_id, nullptr);
  EXPECT_EQ(news.load() - before, 0) << "heap allocations in 10 warm exchanges of heads";

  RewrittenHeads seen;
  OneExchangeOfHeads(head, *route, request_id, &seen);
  EXPECT_EQ(seen.forwarded_host, "activator.example.internal:8080");
  EXPECT_EQ(seen.forwarded_for, "203.0.113.7, 127.0.0.1");
  EXPECT_EQ(seen.response_request_id, request_id);
}

}  // namespace
}  // namespace zs::activator
