// ImageMap: which local executable stands in for a container image.
//
// The node agent runs no images; a YAML (or JSON) file maps image references
// to executables on the host:
//   images:
//     "zeroscale/fn-echo:dev": ../../build/hack/fn-echo/fn-echo   # relative to this file
//     "registry.example/acme/holidays:1.2": /opt/fns/holidays
// Lookup is by the exact reference, then by the reference without its tag or
// digest ("zeroscale/fn-echo" matches any tag), so a map entry without a tag
// serves every version.
//
// Value type; thread-compatible (immutable after Load).
#pragma once

#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace zs::nodeagent {

class ImageMap {
 public:
  static absl::StatusOr<ImageMap> Load(const std::string& path);
  static absl::StatusOr<ImageMap> Parse(const std::string& text, const std::string& base_dir);

  // The executable for `image`; NotFound when the map has no entry.
  absl::StatusOr<std::string> Resolve(const std::string& image) const;
  size_t size() const { return images_.size(); }
  void Set(const std::string& image, const std::string& path) { images_[image] = path; }

 private:
  std::map<std::string, std::string> images_;
};

// "repo/name:tag" -> "repo/name"; "repo/name@sha256:.." -> "repo/name";
// a port in the registry host ("host:5000/name") is kept.
std::string StripTag(const std::string& image);

}  // namespace zs::nodeagent
