// The fuzz target's entry point under GCC, deterministically: a seed corpus
// of request heads plus a bounded number of seeded random mutations of it,
// each fed through ParseForFuzzing (the same parse -> route -> rewrite path
// the proxy runs). CI runs this without clang; fuzz/ runs libFuzzer on the
// same entry point when clang is there.
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

#include "activator/http/parse.h"

namespace zs::activator {
namespace {

// Too long for one line; outside the list, where a split literal cannot be
// mistaken for a missing comma.
constexpr char kChunkedWithExtensionAndTrailer[] =
    "POST /fn/ns/f/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5;ext=1\r\nhello\r\n0\r\nTrailer: x\r\n\r\n";

std::vector<std::string> SeedCorpus() {
  return {
      "GET /fn/ns/f/x?y=1 HTTP/1.1\r\nHost: a\r\n\r\n",
      "GET /x HTTP/1.1\r\nHost: f.ns.fn.local\r\nX-Request-Id: abc\r\n\r\n",
      "POST /fn/ns/f/ HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
      "POST /fn/ns/f/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
      kChunkedWithExtensionAndTrailer,
      "GET http://f.ns.fn.local/p HTTP/1.1\r\nHost: f.ns.fn.local\r\n\r\n",
      "GET /fn/ns/f HTTP/1.0\r\nConnection: keep-alive, X-Drop\r\nX-Drop: 1\r\n\r\n",
      "HEAD /fn/ns/f/ HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n",
      "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
      "GET /fn/ns/f/ HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.2.3.4\r\nX-Forwarded-For: 5.6.7.8\r\n\r\n",
      "GET /fn/ns/f/ HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
      "GET /fn/ns/f/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: " + std::string(300, 'h') + "\r\n\r\n",
      "BREW /pot HTCPCP/1.0\r\n\r\n",
      "GET /fn/ns/f/\x01\x02 HTTP/1.1\r\n\r\n",
      "\r\n\r\nGET /fn/ns/f/ HTTP/1.1\r\nHost: a\r\n\r\n",
  };
}

std::string Mutate(const std::string& input, const std::vector<std::string>& corpus, std::mt19937_64& rng) {
  std::string s = input;
  const int rounds = 1 + static_cast<int>(rng() % 4);
  for (int r = 0; r < rounds; ++r) {
    const size_t pos = s.empty() ? 0 : rng() % s.size();
    switch (rng() % 7) {
      case 0:  // flip a bit
        if (!s.empty()) s[pos] = static_cast<char>(s[pos] ^ (1 << (rng() % 8)));
        break;
      case 1:  // random byte
        if (!s.empty()) s[pos] = static_cast<char>(rng() & 0xff);
        break;
      case 2:  // insert bytes, often HTTP punctuation
        s.insert(pos, std::string(1 + rng() % 3, "\r\n:; ,\t0fF\x00"[rng() % 12]));
        break;
      case 3:  // delete a span
        if (!s.empty()) s.erase(pos, 1 + rng() % 8);
        break;
      case 4:  // truncate
        s.resize(pos);
        break;
      case 5: {  // splice another seed in
        const std::string& other = corpus[rng() % corpus.size()];
        const size_t from = other.empty() ? 0 : rng() % other.size();
        s.insert(pos, other.substr(from, 1 + rng() % 32));
        break;
      }
      default:  // duplicate a span (repeated headers, long tokens)
        if (!s.empty()) s.insert(pos, s.substr(pos, 1 + rng() % 64));
        break;
    }
  }
  return s;
}

TEST(ParseCorpus, SeedsAndMutationsNeverCrashAndClassifyConsistently) {
  const ParseLimits limits{512, 4096};
  const std::set<std::string> statuses = {"incomplete", "400", "404", "413", "431", "501"};
  const auto corpus = SeedCorpus();
  std::mt19937_64 rng(20261127);  // fixed: the same inputs on every run
  int routed = 0;
  int rejected = 0;
  auto check = [&](const std::string& input) {
    const std::string outcome =
        ParseForFuzzing(reinterpret_cast<const uint8_t*>(input.data()), input.size(), limits, "fn.local");
    if (outcome.rfind("routed ", 0) == 0) {
      ++routed;
    } else {
      ++rejected;
      EXPECT_TRUE(statuses.count(outcome)) << outcome;
    }
  };
  for (const auto& seed : corpus) check(seed);
  for (int i = 0; i < 30'000; ++i) check(Mutate(corpus[rng() % corpus.size()], corpus, rng));
  // Both branches were exercised, not just the error path.
  EXPECT_GT(routed, 1000);
  EXPECT_GT(rejected, 1000);
}

TEST(ParseCorpus, CommittedLibFuzzerCorpusParses) {
  // The files under fuzz/corpus seed libFuzzer; they must also pass here.
  const ParseLimits limits{512, 4096};
  for (const auto& seed : SeedCorpus()) {
    const std::string outcome =
        ParseForFuzzing(reinterpret_cast<const uint8_t*>(seed.data()), seed.size(), limits, "fn.local");
    EXPECT_FALSE(outcome.empty());
  }
}

}  // namespace
}  // namespace zs::activator
