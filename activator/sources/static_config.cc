#include "activator/sources/static_config.h"

#include <fstream>
#include <sstream>

#include "activator/admission/lookup.h"
#include "common/api/function.h"
#include "common/strings.h"

namespace zs::activator {

absl::StatusOr<std::vector<StaticFunction>> ParseStaticConfig(const nlohmann::json& document) {
  if (!document.is_object() || !document.contains("functions") || !document["functions"].is_array()) {
    return absl::InvalidArgumentError("static config: want an object with a \"functions\" array");
  }
  std::vector<StaticFunction> out;
  const auto& functions = document["functions"];
  for (size_t i = 0; i < functions.size(); ++i) {
    const auto& entry = functions[i];
    const std::string where = Cat("functions[", i, "]");
    auto decoded = api::DecodeFunction(entry);
    if (!decoded.ok()) return absl::InvalidArgumentError(Cat(where, ": ", decoded.status().message()));
    if (decoded->metadata.namespace_.empty()) decoded->metadata.namespace_ = "default";
    if (!IsObjectName(decoded->metadata.name) || !IsObjectName(decoded->metadata.namespace_)) {
      return absl::InvalidArgumentError(
          Cat(where, ": metadata.name and metadata.namespace must be object names"));
    }
    StaticFunction fn;
    fn.config = FunctionConfigFromApi(*decoded);
    if (auto it = entry.find("endpoints"); it != entry.end() && !it->is_null()) {
      if (!it->is_array()) return absl::InvalidArgumentError(Cat(where, ".endpoints: must be an array"));
      for (size_t j = 0; j < it->size(); ++j) {
        const auto& e = (*it)[j];
        const std::string ewhere = Cat(where, ".endpoints[", j, "]");
        Endpoint endpoint;
        if (e.is_string()) {
          const std::string text = e.get<std::string>();
          if (!ParseEndpoint(text, &endpoint)) {
            endpoint.ip = text;  // bare IP: the spec's port
            endpoint.port = fn.config.port;
            if (text.empty() || text.find(':') != std::string::npos) {
              return absl::InvalidArgumentError(
                  Cat(ewhere, ": want \"ip:port\" or \"ip\", got \"", text, "\""));
            }
          }
        } else if (e.is_object() && e.contains("ip") && e["ip"].is_string()) {
          endpoint.ip = e["ip"].get<std::string>();
          endpoint.port = fn.config.port;
          if (e.contains("port")) {
            if (!e["port"].is_number_integer() || e["port"].get<int>() <= 0 || e["port"].get<int>() > 65535) {
              return absl::InvalidArgumentError(Cat(ewhere, ".port: must be 1..65535"));
            }
            endpoint.port = static_cast<uint16_t>(e["port"].get<int>());
          }
          if (e.contains("pod") && e["pod"].is_string()) endpoint.pod = e["pod"].get<std::string>();
        } else {
          return absl::InvalidArgumentError(Cat(ewhere, ": want a string or {\"ip\", \"port\", \"pod\"}"));
        }
        fn.endpoints.push_back(std::move(endpoint));
      }
    }
    out.push_back(std::move(fn));
  }
  return out;
}

absl::StatusOr<std::vector<StaticFunction>> LoadStaticConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(Cat("static config: cannot open ", path));
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json document = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded())
    return absl::InvalidArgumentError(Cat("static config: ", path, " is not JSON"));
  return ParseStaticConfig(document);
}

void ApplyStaticConfig(const std::vector<StaticFunction>& functions, InMemoryCatalog& catalog,
                       InMemoryEndpointStore& endpoints) {
  for (const auto& fn : functions) {
    catalog.Upsert(fn.config);
    endpoints.Update(fn.config.key, fn.endpoints);
  }
}

}  // namespace zs::activator
