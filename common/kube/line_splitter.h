// LineSplitter: turns the byte stream of a watch response into events.
//
// A watch answer is newline-delimited JSON ({"type":"ADDED","object":{...}}),
// chunked however TCP and curl please. Feed() takes any chunk and returns the
// events whose line is now complete. A line that is not a valid event yields
// one error entry and is skipped; a line longer than max_line_bytes is
// dropped up to its newline (one error entry), so a bad stream never wedges
// the splitter or grows its buffer without bound.
//
// Pure: no I/O, no clock. Thread-compatible (one stream, one owner).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/kube/client.h"

namespace zs::kube {

class LineSplitter {
 public:
  explicit LineSplitter(size_t max_line_bytes = 16 << 20) : max_line_bytes_(max_line_bytes) {}

  std::vector<absl::StatusOr<WatchEvent>> Feed(std::string_view chunk);
  // Bytes of an incomplete line held back.
  size_t buffered() const { return buffer_.size(); }
  // At end of stream: an unterminated last line is parsed too (the apiserver
  // always terminates lines; a proxy that cut the stream may not).
  std::vector<absl::StatusOr<WatchEvent>> Finish();

 private:
  void EmitLine(std::string_view line, std::vector<absl::StatusOr<WatchEvent>>& out);

  const size_t max_line_bytes_;
  std::string buffer_;
  bool discarding_ = false;  // inside an overlong line, waiting for its '\n'
};

// Parses one watch line. Exposed for tests and for other stream readers.
absl::StatusOr<WatchEvent> ParseWatchEvent(std::string_view line);

}  // namespace zs::kube
