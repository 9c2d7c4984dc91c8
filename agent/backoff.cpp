#include "backoff.h"

#include <algorithm>

namespace mash::agent {

Backoff::Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, uint64_t seed)
    : initial_(std::max(initial, std::chrono::milliseconds(1))),
      max_(std::max(max, initial_)),
      rng_(seed) {}

std::chrono::milliseconds Backoff::next() {
  // Double until the cap; stop doubling once there so the shift cannot overflow.
  int64_t base = initial_.count();
  for (unsigned i = 0; i < attempt_ && base < max_.count(); ++i) base *= 2;
  base = std::min<int64_t>(base, max_.count());
  if (attempt_ < 64) ++attempt_;
  std::uniform_int_distribution<int64_t> dist(base / 2, base);
  return std::chrono::milliseconds(dist(rng_));
}

}  // namespace mash::agent
