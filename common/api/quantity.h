// Kubernetes resource quantities ("128Mi", "0.5", "500m", "1G", "1e3").
//
// The grammar is the CRD's pattern (deploy/crds) plus a leading '-' (so that
// a negative value is refused as negative, not as unreadable):
//   [+-]? (digits [. digits?] | . digits) (Ki|Mi|Gi|Ti|Pi|Ei | n|u|m|k|M|G|T|P|E | [eE][+-]?d{1,2})?
// Kubernetes' own parser reads the same strings the same way; its published
// grammar also allows a fractional exponent ("1e1.5") that its parser
// refuses, and an exponent of any length that it truncates to 32 bits: both
// are refused here and by the CRD.
#pragma once

#include <optional>
#include <string_view>

namespace zs::api {

// Value in base units (bytes for memory, cores for CPU), or nullopt when the
// text is not a valid quantity. For display and billing: not exact.
std::optional<double> ParseQuantity(std::string_view text);

// Exact comparison as Kubernetes' resource.Quantity.Cmp (CEL's
// quantity(a).compareTo(quantity(b))) does it, including what its parser does
// to a value: rounded up to a multiple of 1n, and a binary-suffixed one capped
// at 2^63-1. -1, 0 or 1; nullopt when either is not a quantity.
std::optional<int> CompareQuantities(std::string_view a, std::string_view b);

}  // namespace zs::api
