// Shared by the Google Benchmark binaries: extra statistics over repetitions (the machine is
// shared and noisy, so BENCHMARKS.md quotes medians, 90th percentiles and maxima).
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <vector>

namespace mash {

inline void percentile_stats(benchmark::internal::Benchmark* b) {
  b->ComputeStatistics("p90", [](const std::vector<double>& v) {
    auto s = v;
    std::sort(s.begin(), s.end());
    return s[static_cast<size_t>(0.9 * static_cast<double>(s.size() - 1))];
  });
  b->ComputeStatistics("max", [](const std::vector<double>& v) {
    return *std::max_element(v.begin(), v.end());
  });
}

}  // namespace mash
