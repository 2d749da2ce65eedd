#include "common/kube/line_splitter.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace zs::kube {
namespace {

std::string Event(const std::string& type, const std::string& name) {
  return "{\"type\":\"" + type + "\",\"object\":{\"metadata\":{\"name\":\"" + name + "\"}}}\n";
}

std::vector<std::string> Names(const std::vector<absl::StatusOr<WatchEvent>>& events) {
  std::vector<std::string> names;
  names.reserve(events.size());
  for (const auto& e : events) {
    names.push_back(e.ok() ? e->object["metadata"]["name"].get<std::string>() : "<error>");
  }
  return names;
}

TEST(LineSplitterTest, WholeLines) {
  LineSplitter splitter;
  auto events = splitter.Feed(Event("ADDED", "a") + Event("MODIFIED", "b") + Event("DELETED", "c"));
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0]->type, WatchEventType::kAdded);
  EXPECT_EQ(events[1]->type, WatchEventType::kModified);
  EXPECT_EQ(events[2]->type, WatchEventType::kDeleted);
  EXPECT_EQ(Names(events), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(splitter.buffered(), 0u);
}

// Every way of cutting the stream into two or three chunks yields the same events.
TEST(LineSplitterTest, EveryChunkBoundary) {
  const std::string stream = Event("ADDED", "a") + Event("BOOKMARK", "b") + Event("ERROR", "c");
  for (size_t i = 0; i <= stream.size(); ++i) {
    for (size_t j = i; j <= stream.size(); ++j) {
      LineSplitter splitter;
      std::vector<absl::StatusOr<WatchEvent>> all;
      for (const auto& part : {stream.substr(0, i), stream.substr(i, j - i), stream.substr(j)}) {
        for (auto& e : splitter.Feed(part)) all.push_back(std::move(e));
      }
      ASSERT_EQ(Names(all), (std::vector<std::string>{"a", "b", "c"})) << "cuts at " << i << "," << j;
      EXPECT_EQ(all[1]->type, WatchEventType::kBookmark);
      EXPECT_EQ(all[2]->type, WatchEventType::kError);
    }
  }
}

TEST(LineSplitterTest, ByteAtATime) {
  const std::string stream = Event("ADDED", "a") + Event("MODIFIED", "a");
  LineSplitter splitter;
  std::vector<absl::StatusOr<WatchEvent>> all;
  for (char c : stream) {
    for (auto& e : splitter.Feed(std::string(1, c))) all.push_back(std::move(e));
  }
  EXPECT_EQ(Names(all), (std::vector<std::string>{"a", "a"}));
}

TEST(LineSplitterTest, MalformedLinesAreSkippedWithOneErrorEach) {
  LineSplitter splitter;
  auto events = splitter.Feed(Event("ADDED", "a") + "{not json\n" + "[1,2]\n" + "{\"type\":\"ADDED\"}\n" +
                              "{\"type\":\"WHAT\",\"object\":{}}\n" + Event("ADDED", "b"));
  EXPECT_EQ(Names(events), (std::vector<std::string>{"a", "<error>", "<error>", "<error>", "<error>", "b"}));
  EXPECT_EQ(events[1].status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(LineSplitterTest, BlankLinesAndCrLfAreTolerated) {
  LineSplitter splitter;
  auto events =
      splitter.Feed("\n\r\n" + Event("ADDED", "a").substr(0, Event("ADDED", "a").size() - 1) + "\r\n");
  EXPECT_EQ(Names(events), (std::vector<std::string>{"a"}));
}

TEST(LineSplitterTest, OverlongLineIsDroppedAndStreamRecovers) {
  LineSplitter splitter(/*max_line_bytes=*/64);
  std::string huge(200, 'x');
  std::vector<absl::StatusOr<WatchEvent>> all;
  // Delivered in pieces so that the limit trips while buffering.
  for (size_t i = 0; i < huge.size(); i += 30) {
    for (auto& e : splitter.Feed(huge.substr(i, 30))) all.push_back(std::move(e));
    EXPECT_LE(splitter.buffered(), 64u);
  }
  for (auto& e : splitter.Feed("yyy\n" + Event("ADDED", "a"))) all.push_back(std::move(e));
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(all[1]->object["metadata"]["name"], "a");
}

TEST(LineSplitterTest, OverlongCompleteLineInOneChunk) {
  LineSplitter splitter(/*max_line_bytes=*/64);
  auto events = splitter.Feed(std::string(100, 'x') + "\n" + Event("ADDED", "a"));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_FALSE(events[0].ok());
  EXPECT_TRUE(events[1].ok());
}

TEST(LineSplitterTest, FinishParsesUnterminatedTail) {
  LineSplitter splitter;
  std::string line = Event("ADDED", "a");
  line.pop_back();
  EXPECT_TRUE(splitter.Feed(line).empty());
  auto tail = splitter.Finish();
  EXPECT_EQ(Names(tail), (std::vector<std::string>{"a"}));
  EXPECT_EQ(splitter.buffered(), 0u);
}

}  // namespace
}  // namespace zs::kube
