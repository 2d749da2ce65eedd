#include "common/yaml.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <fstream>
#include <regex>
#include <sstream>

#include "common/strings.h"

namespace zs {
namespace {

nlohmann::json Scalar(const YAML::Node& node) {
  const std::string& text = node.Scalar();
  if (node.Tag() == "!") return text;  // quoted: always a string
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") {
    return nullptr;
  }
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  static const std::regex kInt("^[-+]?[0-9]+$");
  static const std::regex kFloat(R"(^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$)");
  if (std::regex_match(text, kInt)) {
    int64_t v = 0;
    const char* begin = text.data() + (text[0] == '+' ? 1 : 0);
    auto [ptr, ec] = std::from_chars(begin, text.data() + text.size(), v);
    if (ec == std::errc() && ptr == text.data() + text.size()) return v;
  }
  if (std::regex_match(text, kFloat)) return std::stod(text);
  return text;
}

nlohmann::json Convert(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      return Scalar(node);
    case YAML::NodeType::Sequence: {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& item : node) out.push_back(Convert(item));
      return out;
    }
    case YAML::NodeType::Map: {
      nlohmann::json out = nlohmann::json::object();
      for (const auto& kv : node) out[kv.first.as<std::string>()] = Convert(kv.second);
      return out;
    }
  }
  return nullptr;
}

}  // namespace

absl::StatusOr<std::vector<nlohmann::json>> YamlToJson(std::string_view text) {
  try {
    std::vector<nlohmann::json> docs;
    for (const YAML::Node& doc : YAML::LoadAll(std::string(text))) {
      if (doc.IsNull()) continue;
      docs.push_back(Convert(doc));
    }
    return docs;
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(Cat("invalid YAML: ", e.what()));
  }
}

absl::StatusOr<std::vector<nlohmann::json>> YamlFileToJson(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(Cat("cannot read ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return YamlToJson(buffer.str());
}

}  // namespace zs
