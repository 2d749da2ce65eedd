// Kubernetes resource quantities ("128Mi", "0.5", "500m", "1G", "1e3").
#pragma once

#include <optional>
#include <string_view>

namespace zs::api {

// Value in base units (bytes for memory, cores for CPU), or nullopt when the
// text is not a valid quantity.
std::optional<double> ParseQuantity(std::string_view text);

}  // namespace zs::api
