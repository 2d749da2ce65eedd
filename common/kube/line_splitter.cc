#include "common/kube/line_splitter.h"

#include "common/strings.h"

namespace zs::kube {

absl::StatusOr<WatchEvent> ParseWatchEvent(std::string_view line) {
  nlohmann::json parsed = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return absl::InvalidArgumentError("watch event: not JSON");
  if (!parsed.is_object()) return absl::InvalidArgumentError("watch event: not an object");
  auto type = parsed.find("type");
  auto object = parsed.find("object");
  if (type == parsed.end() || !type->is_string()) return absl::InvalidArgumentError("watch event: no type");
  if (object == parsed.end() || !object->is_object()) {
    return absl::InvalidArgumentError("watch event: no object");
  }
  WatchEvent event;
  const std::string& name = type->get_ref<const std::string&>();
  if (name == "ADDED") {
    event.type = WatchEventType::kAdded;
  } else if (name == "MODIFIED") {
    event.type = WatchEventType::kModified;
  } else if (name == "DELETED") {
    event.type = WatchEventType::kDeleted;
  } else if (name == "BOOKMARK") {
    event.type = WatchEventType::kBookmark;
  } else if (name == "ERROR") {
    event.type = WatchEventType::kError;
  } else {
    return absl::InvalidArgumentError(Cat("watch event: unknown type \"", name, "\""));
  }
  event.object = std::move(*object);
  return event;
}

void LineSplitter::EmitLine(std::string_view line, std::vector<absl::StatusOr<WatchEvent>>& out) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  // Blank lines are keep-alives at worst; not an error.
  if (line.find_first_not_of(" \t") == std::string_view::npos) return;
  out.push_back(ParseWatchEvent(line));
}

std::vector<absl::StatusOr<WatchEvent>> LineSplitter::Feed(std::string_view chunk) {
  std::vector<absl::StatusOr<WatchEvent>> out;
  while (!chunk.empty()) {
    size_t newline = chunk.find('\n');
    if (discarding_) {
      if (newline == std::string_view::npos) return out;
      discarding_ = false;
      chunk.remove_prefix(newline + 1);
      continue;
    }
    if (newline == std::string_view::npos) {
      if (buffer_.size() + chunk.size() > max_line_bytes_) {
        buffer_.clear();
        buffer_.shrink_to_fit();
        discarding_ = true;
        out.push_back(
            absl::ResourceExhaustedError(Cat("watch event: line over ", max_line_bytes_, " bytes")));
        return out;
      }
      buffer_.append(chunk);
      return out;
    }
    std::string_view head = chunk.substr(0, newline);
    chunk.remove_prefix(newline + 1);
    if (buffer_.size() + head.size() > max_line_bytes_) {
      buffer_.clear();
      out.push_back(absl::ResourceExhaustedError(Cat("watch event: line over ", max_line_bytes_, " bytes")));
      continue;
    }
    if (buffer_.empty()) {
      EmitLine(head, out);
    } else {
      buffer_.append(head);
      EmitLine(buffer_, out);
      buffer_.clear();
    }
  }
  return out;
}

std::vector<absl::StatusOr<WatchEvent>> LineSplitter::Finish() {
  std::vector<absl::StatusOr<WatchEvent>> out;
  if (!discarding_ && !buffer_.empty()) EmitLine(buffer_, out);
  buffer_.clear();
  discarding_ = false;
  return out;
}

}  // namespace zs::kube
