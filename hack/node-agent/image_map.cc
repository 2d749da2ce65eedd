#include "hack/node-agent/image_map.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "common/strings.h"

namespace zs::nodeagent {

std::string StripTag(const std::string& image) {
  std::string out = image.substr(0, image.find('@'));
  size_t slash = out.rfind('/');
  size_t colon = out.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) out.resize(colon);
  return out;
}

absl::StatusOr<ImageMap> ImageMap::Parse(const std::string& text, const std::string& base_dir) {
  try {
    YAML::Node root = YAML::Load(text);
    if (!root || !root.IsMap() || !root["images"] || !root["images"].IsMap()) {
      return absl::InvalidArgumentError("image map: expected a map with an \"images\" map");
    }
    ImageMap map;
    for (const auto& entry : root["images"]) {
      std::string image = entry.first.as<std::string>();
      std::string path = entry.second.as<std::string>();
      if (image.empty() || path.empty()) return absl::InvalidArgumentError("image map: empty image or path");
      if (path[0] != '/' && !base_dir.empty()) {
        path = (std::filesystem::path(base_dir) / path).lexically_normal().string();
      }
      map.images_[image] = path;
    }
    return map;
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(Cat("image map: ", e.what()));
  }
}

absl::StatusOr<ImageMap> ImageMap::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(Cat("image map: cannot read ", path));
  std::ostringstream text;
  text << in.rdbuf();
  std::string base = std::filesystem::absolute(path).parent_path().string();
  absl::StatusOr<ImageMap> map = Parse(text.str(), base);
  if (!map.ok()) return absl::Status(map.status().code(), Cat(path, ": ", map.status().message()));
  return map;
}

absl::StatusOr<std::string> ImageMap::Resolve(const std::string& image) const {
  if (auto it = images_.find(image); it != images_.end()) return it->second;
  if (auto it = images_.find(StripTag(image)); it != images_.end()) return it->second;
  return absl::NotFoundError(Cat("image \"", image, "\" is not in the node agent's image map"));
}

}  // namespace zs::nodeagent
