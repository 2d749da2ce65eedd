// YAML documents as JSON values. yaml-cpp's exceptions stop here.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace zs {

// Parses every document of a YAML stream into JSON. Plain scalars become
// null, booleans, integers or floats when they look like one (YAML 1.2 core
// schema); quoted scalars stay strings.
absl::StatusOr<std::vector<nlohmann::json>> YamlToJson(std::string_view text);
absl::StatusOr<std::vector<nlohmann::json>> YamlFileToJson(const std::string& path);

}  // namespace zs
