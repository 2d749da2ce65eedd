#include "activator/http/framing.h"

#include <gtest/gtest.h>

#include <boost/asio/buffer.hpp>

namespace zs::activator {
namespace {

// Parses `head` (a whole request head) with the proxy's parser type and runs
// the framing check; "parse" when Beast itself refuses the bytes.
struct Checked {
  std::string outcome;  // "ok", "400", "501" or "parse"
  Request request;
};

Checked Check(const std::string& head) {
  RequestParser parser;
  parser.eager(false);
  boost::system::error_code ec;
  parser.put(boost::asio::buffer(head), ec);
  Checked out;
  if (ec || !parser.is_header_done()) {
    out.outcome = "parse";
    return out;
  }
  out.request = parser.release();
  const ProxyError error = CheckRequestFraming(out.request);
  out.outcome = error == ProxyError::kNone ? "ok" : std::to_string(Spec(error).http_status);
  return out;
}

struct Row {
  const char* name;
  std::string head;
  const char* verdict;  // "ok", "400", "501" or "refused" (400 by us or by the parser)
};

TEST(CheckRequestFraming, Table) {
  const std::string get = "GET /fn/ns/f/ HTTP/1.1\r\nHost: a\r\n";
  const std::string post = "POST /fn/ns/f/ HTTP/1.1\r\nHost: a\r\n";
  const std::vector<Row> rows = {
      {"plain GET", get + "\r\n", "ok"},
      {"content-length", post + "Content-Length: 5\r\n\r\n", "ok"},
      {"chunked", post + "Transfer-Encoding: chunked\r\n\r\n", "ok"},
      {"chunked, any case", post + "Transfer-Encoding: ChUnKeD\r\n\r\n", "ok"},
      {"gzip alone", post + "Transfer-Encoding: gzip\r\n\r\n", "400"},
      {"gzip with a length", post + "Transfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\n", "400"},
      {"length then gzip", post + "Content-Length: 5\r\nTransfer-Encoding: gzip\r\n\r\n", "refused"},
      {"chunked, identity", post + "Transfer-Encoding: chunked, identity\r\n\r\n", "400"},
      {"gzip, chunked", post + "Transfer-Encoding: gzip, chunked\r\n\r\n", "501"},
      {"xchunked", post + "Transfer-Encoding: xchunked\r\n\r\n", "400"},
      {"chunked twice in one field", post + "Transfer-Encoding: chunked, chunked\r\n\r\n", "501"},
      {"chunked in two fields", post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
       "refused"},
      {"identity then chunked field",
       post + "Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n\r\n", "501"},
      {"chunked and length", post + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", "refused"},
      {"length and chunked", post + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", "refused"},
      {"empty coding list", post + "Transfer-Encoding: ,\r\n\r\n", "400"},
      {"HTTP/1.0 chunked", "POST /fn/ns/f/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", "400"},
      {"length 5, 5", post + "Content-Length: 5, 5\r\n\r\n", "ok"},
      {"length 5, 6", post + "Content-Length: 5, 6\r\n\r\n", "refused"},
      {"two equal length fields", post + "Content-Length: 5\r\nContent-Length: 5\r\n\r\n", "ok"},
      {"two different length fields", post + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", "refused"},
      {"signed length", post + "Content-Length: +5\r\n\r\n", "refused"},
      {"no Host on 1.1", "GET /fn/ns/f/ HTTP/1.1\r\n\r\n", "400"},
      {"two Hosts", get + "Host: b\r\n\r\n", "400"},
      {"no Host on 1.0", "GET /fn/ns/f/ HTTP/1.0\r\n\r\n", "ok"},
      {"obs-fold is unfolded", get + "X-A: one\r\n two\r\n\r\n", "ok"},
      {"obs-text value", get + "X-A: caf\xe9\r\n\r\n", "ok"},
  };
  for (const Row& row : rows) {
    const Checked checked = Check(row.head);
    if (std::string(row.verdict) == "refused") {
      EXPECT_TRUE(checked.outcome == "400" || checked.outcome == "parse")
          << row.name << ": " << checked.outcome;
    } else {
      EXPECT_EQ(checked.outcome, row.verdict) << row.name;
    }
  }
}

TEST(CheckRequestFraming, NormalisesWhatItAccepts) {
  Checked lengths = Check("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\n");
  ASSERT_EQ(lengths.outcome, "ok");
  EXPECT_EQ(lengths.request.count(bhttp::field::content_length), 1u);
  EXPECT_EQ(lengths.request[bhttp::field::content_length], "5");

  Checked chunked = Check("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:  CHUNKED \r\n\r\n");
  ASSERT_EQ(chunked.outcome, "ok");
  EXPECT_EQ(chunked.request[bhttp::field::transfer_encoding], "chunked");

  Checked folded = Check("GET /x HTTP/1.1\r\nHost: a\r\nX-A: one\r\n  two\r\n\r\n");
  ASSERT_EQ(folded.outcome, "ok");
  EXPECT_EQ(folded.request["X-A"], "one two");
}

Response ResponseWith(unsigned status, const std::vector<std::pair<bhttp::field, std::string>>& fields) {
  Response response(static_cast<bhttp::status>(status), 11);
  for (const auto& [name, value] : fields) response.insert(name, value);
  return response;
}

TEST(FrameResponseForClient, ClientFramingFollowsReplicaAndClientVersion) {
  {  // a length stays a length
    Response r = ResponseWith(200, {{bhttp::field::content_length, "5"}});
    const auto f = FrameResponseForClient(r, 5, 11, false);
    EXPECT_EQ(f.client, ClientBodyFraming::kLength);
    EXPECT_FALSE(f.upstream_close_delimited);
  }
  {  // close-delimited reaches an HTTP/1.1 client chunked
    Response r = ResponseWith(200, {});
    const auto f = FrameResponseForClient(r, std::nullopt, 11, false);
    EXPECT_EQ(f.client, ClientBodyFraming::kChunked);
    EXPECT_TRUE(f.upstream_close_delimited);
    EXPECT_TRUE(r.chunked());
  }
  {  // ... and an HTTP/1.0 client raw, ended by our close
    Response r = ResponseWith(200, {});
    const auto f = FrameResponseForClient(r, std::nullopt, 10, false);
    EXPECT_EQ(f.client, ClientBodyFraming::kClose);
    EXPECT_FALSE(ClientReusable(true, true, f.client));
  }
  {  // chunked to HTTP/1.0: raw and close
    Response r = ResponseWith(200, {{bhttp::field::transfer_encoding, "chunked"}});
    const auto f = FrameResponseForClient(r, std::nullopt, 10, false);
    EXPECT_EQ(f.client, ClientBodyFraming::kClose);
    EXPECT_EQ(r.find(bhttp::field::transfer_encoding), r.end());
  }
  {  // chunked wins over a length the replica also sent
    Response r = ResponseWith(200, {{bhttp::field::transfer_encoding, "chunked"}});
    r.set(bhttp::field::content_length, "9");
    const auto f = FrameResponseForClient(r, std::nullopt, 11, false);
    EXPECT_EQ(f.client, ClientBodyFraming::kChunked);
    EXPECT_EQ(r.find(bhttp::field::content_length), r.end());
  }
  {  // an unsupported coding from the replica cannot be relayed
    Response r = ResponseWith(200, {{bhttp::field::transfer_encoding, "gzip"}});
    EXPECT_TRUE(FrameResponseForClient(r, std::nullopt, 11, false).malformed);
  }
  {  // 204, 304 and HEAD carry no body and are not close-delimited
    for (unsigned status : {204u, 304u}) {
      Response r = ResponseWith(status, {});
      const auto f = FrameResponseForClient(r, std::nullopt, 11, false);
      EXPECT_EQ(f.client, ClientBodyFraming::kNone);
      EXPECT_FALSE(f.upstream_close_delimited);
    }
    Response r = ResponseWith(200, {{bhttp::field::content_length, "100"}});
    const auto f = FrameResponseForClient(r, 100, 11, true);
    EXPECT_EQ(f.client, ClientBodyFraming::kNone);
    EXPECT_EQ(r[bhttp::field::content_length], "100");  // HEAD keeps the replica's length
  }
}

TEST(UpstreamReusable, OnlyACompleteDelimitedExchange) {
  UpstreamExchangeState good;
  good.response_complete = true;
  good.response_keep_alive = true;
  good.request_complete = true;
  EXPECT_TRUE(UpstreamReusable(good));
  auto with = [&](auto change) {
    UpstreamExchangeState s = good;
    change(s);
    return UpstreamReusable(s);
  };
  EXPECT_FALSE(with([](auto& s) { s.response_complete = false; }));
  EXPECT_FALSE(with([](auto& s) { s.response_keep_alive = false; }));
  EXPECT_FALSE(with([](auto& s) { s.close_delimited = true; }));
  EXPECT_FALSE(with([](auto& s) { s.request_complete = false; }));  // an early response
  EXPECT_FALSE(with([](auto& s) { s.stray_bytes = true; }));
  EXPECT_FALSE(with([](auto& s) { s.switched_protocols = true; }));
}

}  // namespace
}  // namespace zs::activator
