// Benchmarks for policy/: compiling the example agreement and deciding one agency's answer.
// Run through deploy/bench.sh; results are recorded in BENCHMARKS.md.
#include <benchmark/benchmark.h>

#include "bench_support.h"

#include <algorithm>
#include <vector>

#include "agreement.h"
#include "engine.h"

using namespace mash::policy;

namespace {

const char* kExample = MASH_SOURCE_DIR "/policy/examples/tri-borough.toml";

// One agency's decision for a typical enquiry: resolve the five ids of the question, then the
// decision for each requested field (ten, by id, as an enquiry names them), collected.
void BM_PolicyDecideEnquiry(benchmark::State& state) {
  auto agreement = load_agreement(kExample);
  if (!agreement.ok()) return state.SkipWithError(agreement.error().message.c_str());
  auto policy = Policy::compile(std::move(agreement).value());
  const auto& a = policy->agreement();
  std::vector<std::string> fields;
  for (const auto& f : a.fields) {
    if (f.agency == "police" && fields.size() < 10) fields.push_back(f.id);
  }
  std::vector<Decision> out;
  out.reserve(fields.size());
  for (auto _ : state) {
    out.clear();
    auto q = policy->query("police", "mash-risk-assessment", "ca1989-s47", "not-sought-risk", "red");
    for (const auto& f : fields) out.push_back(*policy->decide_field(*q, f));
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["fields"] = static_cast<double>(fields.size());
}
BENCHMARK(BM_PolicyDecideEnquiry)->Apply(mash::percentile_stats);

// The whole table for one agency and question, without field lookups by id.
void BM_PolicyDecideAllFields(benchmark::State& state) {
  auto agreement = load_agreement(kExample);
  if (!agreement.ok()) return state.SkipWithError(agreement.error().message.c_str());
  auto policy = Policy::compile(std::move(agreement).value());
  for (auto _ : state) {
    auto q = policy->query("health", "mash-risk-assessment", "ca2004-s11", "refused", "amber");
    benchmark::DoNotOptimize(policy->decide(*q).data());
  }
}
BENCHMARK(BM_PolicyDecideAllFields)->Apply(mash::percentile_stats);

// Parsing, validating and compiling the example agreement (done once per accepted version).
void BM_PolicyLoadAndCompile(benchmark::State& state) {
  auto text = read_text_file(kExample);
  for (auto _ : state) {
    auto agreement = parse_agreement(*text, kExample);
    auto policy = Policy::compile(std::move(agreement).value());
    benchmark::DoNotOptimize(&policy);
  }
}
BENCHMARK(BM_PolicyLoadAndCompile)->Unit(benchmark::kMillisecond)->Apply(mash::percentile_stats);

}  // namespace

BENCHMARK_MAIN();
