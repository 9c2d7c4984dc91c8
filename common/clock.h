// Wall-clock time as the logs and audit records write it.
#pragma once

#include <cstdint>
#include <string>

namespace mash {

int64_t unix_millis_now();
// ISO-8601 UTC with milliseconds: 2026-11-22T10:00:00.000Z (sorts in time order).
std::string iso_time(int64_t unix_ms);

}  // namespace mash
