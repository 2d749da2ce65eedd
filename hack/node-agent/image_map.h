// ImageMap: which local executable stands in for a container image.
//
// The node agent runs no images; a YAML (or JSON) file maps image references
// to executables on the host. An entry is either the image's entrypoint, or a
// map with the entrypoint and the image's files by their path inside the
// image (what a container's command[0] names):
//   images:
//     "zeroscale/fn-echo:dev": ../../build/hack/fn-echo/fn-echo   # relative to this file
//     "zeroscale/zeroscale:dev":
//       entrypoint: /abs/zeroscale-controller                      # optional
//       files:
//         /usr/local/bin/zeroscale-controller: /abs/build/controller/zeroscale-controller
//         /usr/local/bin/zeroscale-activator: /abs/build/activator/zeroscale-activator
// Lookup is by the exact reference, then by the reference without its tag or
// digest ("zeroscale/fn-echo" matches any tag), so a map entry without a tag
// serves every version.
//
// Value type; thread-compatible (immutable after Load).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace zs::nodeagent {

struct ImageEntry {
  std::string entrypoint;                    // may be empty (then a command must name a file)
  std::map<std::string, std::string> files;  // path inside the image -> host path
};

class ImageMap {
 public:
  static absl::StatusOr<ImageMap> Load(const std::string& path);
  static absl::StatusOr<ImageMap> Parse(const std::string& text, const std::string& base_dir);

  // The entry for `image`; NotFound when the map has none.
  absl::StatusOr<ImageEntry> Find(const std::string& image) const;
  // The entrypoint of `image`; NotFound without entry or entrypoint.
  absl::StatusOr<std::string> Resolve(const std::string& image) const;
  size_t size() const { return images_.size(); }
  // Image references as written in the map (reported in Node.status.images).
  std::vector<std::string> Names() const;
  void Set(const std::string& image, const std::string& entrypoint) {
    images_[image].entrypoint = entrypoint;
  }
  void Set(const std::string& image, ImageEntry entry) { images_[image] = std::move(entry); }

 private:
  std::map<std::string, ImageEntry> images_;
};

// "repo/name:tag" -> "repo/name"; "repo/name@sha256:.." -> "repo/name";
// a port in the registry host ("host:5000/name") is kept.
std::string StripTag(const std::string& image);

}  // namespace zs::nodeagent
