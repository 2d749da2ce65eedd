// Heap allocations of the data path's heads: this binary replaces the global
// operator new to count calls, so it holds no other tests.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <optional>
#include <string>
#include <string_view>
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
  RecyclingAllocator<char> alloc;
  // 4 KiB blocks: 64 KiB of them (16) are kept, the rest are freed.
  std::vector<char*> blocks;
  blocks.reserve(100);
  for (int i = 0; i < 100; ++i) blocks.push_back(alloc.allocate(4096));
  const long before_delete = deletes.load();
  for (char* b : blocks) alloc.deallocate(b, 4096);
  EXPECT_GE(deletes.load() - before_delete, 100 - 16);
  EXPECT_LT(deletes.load() - before_delete, 100);
}

// One round of what the proxy does to the heads of a request: parse the
// client's head, rewrite it for the replica, parse the replica's head and
// rewrite it for the client.
void OneExchangeOfHeads(const Route& route, const std::string& request_id) {
  static constexpr std::string_view kRequest =
      "GET /fn/default/echo/path?q=1 HTTP/1.1\r\nHost: activator.example.internal:8080\r\n"
      "User-Agent: wrk-like-client/4.2\r\nAccept: */*\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n";
  static constexpr std::string_view kResponse =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 19\r\n"
      "Date: Fri, 04 Dec 2026 02:00:00 GMT\r\nServer: fn-echo\r\n\r\n";
  boost::system::error_code ec;
  RequestParser request;
  ConfigureRequestParser(request, ParseLimits{});
  request.put(boost::asio::buffer(kRequest.data(), kRequest.size()), ec);
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
}

TEST(HeadAllocations, RewritingTheHeadsAllocatesNothingOnceWarm) {
  const auto route = ResolveRoute("/fn/default/echo/path?q=1", "activator.example.internal:8080", "");
  ASSERT_TRUE(route.has_value());
  const std::string request_id = NewRequestId();
  OneExchangeOfHeads(*route, request_id);  // fills this thread's free lists
  const long before = news.load();
  for (int i = 0; i < 10; ++i) OneExchangeOfHeads(*route, request_id);
  EXPECT_EQ(news.load() - before, 0) << "heap allocations in 10 warm exchanges of heads";
}

}  // namespace
}  // namespace zs::activator
