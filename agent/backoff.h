// Reconnect delays: capped exponential backoff with jitter. The n-th delay is drawn uniformly
// from [base/2, base] where base = min(max, initial * 2^n), so a fleet of agents that lost the
// broker at the same moment does not come back at the same moment.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace mash::agent {

class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, uint64_t seed);
  std::chrono::milliseconds next();
  void reset() { attempt_ = 0; }
  unsigned attempt() const { return attempt_; }

 private:
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds max_;
  unsigned attempt_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace mash::agent
