// RFC 3339 timestamps as the Kubernetes API writes them.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"

namespace zs {

// "2026-11-27T01:02:03Z" (metav1.Time precision).
std::string FormatRfc3339(SystemTime t);
// "2026-11-27T01:02:03.456Z" (logs, billing records, MicroTime-like fields).
std::string FormatRfc3339Millis(SystemTime t);
// The same, appended to `out` (no allocation once `out` has room).
void AppendRfc3339Millis(std::string& out, SystemTime t);
// "2026-11-27T01:02:03.456789Z" (metav1.MicroTime, used by Leases).
std::string FormatRfc3339Micros(SystemTime t);
// Parses the forms above (fraction optional, "Z" or numeric offset).
std::optional<SystemTime> ParseRfc3339(std::string_view text);

}  // namespace zs
