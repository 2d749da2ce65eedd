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
    auto resolve = [&](std::string path) {
      if (!path.empty() && path[0] != '/' && !base_dir.empty()) {
        path = (std::filesystem::path(base_dir) / path).lexically_normal().string();
      }
      return path;
    };
    ImageMap map;
    for (const auto& entry : root["images"]) {
      std::string image = entry.first.as<std::string>();
      if (image.empty()) return absl::InvalidArgumentError("image map: empty image name");
      ImageEntry value;
      if (entry.second.IsScalar()) {
        value.entrypoint = resolve(entry.second.as<std::string>());
      } else if (entry.second.IsMap()) {
        if (entry.second["entrypoint"])
          value.entrypoint = resolve(entry.second["entrypoint"].as<std::string>());
        if (const YAML::Node files = entry.second["files"]; files) {
          if (!files.IsMap())
            return absl::InvalidArgumentError(Cat("image map: ", image, ": files is not a map"));
          for (const auto& file : files) {
            value.files[file.first.as<std::string>()] = resolve(file.second.as<std::string>());
          }
        }
      } else {
        return absl::InvalidArgumentError(Cat("image map: ", image, ": expected a path or a map"));
      }
      if (value.entrypoint.empty() && value.files.empty()) {
        return absl::InvalidArgumentError(Cat("image map: ", image, ": no entrypoint and no files"));
      }
      map.images_[image] = std::move(value);
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

absl::StatusOr<ImageEntry> ImageMap::Find(const std::string& image) const {
  if (auto it = images_.find(image); it != images_.end()) return it->second;
  if (auto it = images_.find(StripTag(image)); it != images_.end()) return it->second;
  return absl::NotFoundError(Cat("image \"", image, "\" is not in the node agent's image map"));
}

absl::StatusOr<std::string> ImageMap::Resolve(const std::string& image) const {
  absl::StatusOr<ImageEntry> entry = Find(image);
  if (!entry.ok()) return entry.status();
  if (entry->entrypoint.empty()) {
    return absl::NotFoundError(
        Cat("image \"", image, "\" has no entrypoint in the image map; set a command"));
  }
  return entry->entrypoint;
}

std::vector<std::string> ImageMap::Names() const {
  std::vector<std::string> names;
  for (const auto& [name, entry] : images_) names.push_back(name);
  return names;
}

}  // namespace zs::nodeagent
