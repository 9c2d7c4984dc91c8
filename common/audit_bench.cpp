// Audit log benchmarks (a small harness of our own: Google Benchmark has no per-operation
// latency percentiles). Run through deploy/bench.sh; results are recorded in BENCHMARKS.md.
//
//   durable appends: 64 threads append for a few seconds, each waiting until its record is
//     durable (synchronous LMDB commits, shared by group commit); throughput and wait p50/p99.
//   verification: verify_audit_store over a store of 1,000,000 records (one core).
//   inclusion proofs: verify a proof from that store, many times.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "audit_log.h"
#include "test_support.h"

using namespace mash;
using Clock = std::chrono::steady_clock;

namespace {

const std::array<uint8_t, 32> kSeed = {7};

std::string record(uint64_t i) {
  // About the size of a real event: type, time, actor, agency, case, two pseudonyms, fields.
  return "{\"type\":\"enquiry.answered\",\"time\":\"2026-11-22T10:00:00.000Z\",\"actor\":\"agent:police\","
         "\"agency\":\"police\",\"case\":\"MASH-2026-" + std::to_string(i) + "\",\"subjects\":["
         "\"nhs:3f1c9a0e5b7d2c4a8e6f1b3d5c7a9e0f2b4d6c8a0e1f3b5d7c9a1e3f5b7d9c1a\","
         "\"name-dob:9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b\"],"
         "\"released\":[\"police.known\",\"police.incidents-summary\"],\"restricted\":false}";
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))];
}

void durable_appends(int threads, double seconds) {
  testing::TempDir dir;
  AuditLogOptions o;
  o.origin = "bench/audit";
  auto log = AuditLog::open(dir.path(), o, SigningKey::from_seed(kSeed));
  if (!log.ok()) {
    std::fprintf(stderr, "%s\n", log.error().message.c_str());
    std::exit(1);
  }
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> counter{0};
  std::vector<std::vector<double>> waits(static_cast<size_t>(threads));
  std::vector<std::thread> pool;
  auto start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      while (!stop) {
        auto t0 = Clock::now();
        auto r = (*log)->append(record(counter++));
        auto t1 = Clock::now();
        if (!r.ok()) std::abort();
        waits[static_cast<size_t>(t)].push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& th : pool) th.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  for (auto& w : waits) all.insert(all.end(), w.begin(), w.end());
  std::printf("durable appends, %d writers: %8.0f records/s  wait p50 %7.0f us  p99 %7.0f us  (%zu records)\n",
              threads, static_cast<double>(all.size()) / elapsed, percentile(all, 0.5), percentile(all, 0.99), all.size());
}

void verification(uint64_t n, int runs) {
  testing::TempDir dir;
  {
    AuditLogOptions o;
    o.origin = "bench/audit";
    o.sync = false;  // building the store quickly; verification reads it the same either way
    auto log = AuditLog::open(dir.path(), o, SigningKey::from_seed(kSeed));
    std::vector<std::thread> pool;
    std::atomic<uint64_t> next{0};
    for (int t = 0; t < 64; ++t) {
      pool.emplace_back([&] {
        for (uint64_t i = next++; i < n; i = next++) {
          if (!(*log)->append(record(i)).ok()) std::abort();
        }
      });
    }
    for (auto& th : pool) th.join();
    if (!(*log)->checkpoint_now().ok()) std::abort();
  }
  NoteVerifier verifier("bench/audit", SigningKey::from_seed(kSeed).verify_key());
  std::vector<double> rates;
  for (int r = 0; r < runs; ++r) {
    auto t0 = Clock::now();
    auto report = verify_audit_store(dir.path(), verifier, "bench/audit");
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (!report.ok() || !report->ok() || report->records != n) std::abort();
    rates.push_back(static_cast<double>(n) / s);
  }
  std::sort(rates.begin(), rates.end());
  std::printf("full verification of %llu records: median %8.0f records/s  (min %8.0f, max %8.0f over %d runs)\n",
              static_cast<unsigned long long>(n), percentile(rates, 0.5), rates.front(), rates.back(), runs);

  auto reader = AuditReader::open(dir.path());
  std::vector<double> per;
  for (int r = 0; r < runs; ++r) {
    constexpr int kProofs = 20000;
    std::vector<std::pair<merkle::Hash, std::vector<merkle::Hash>>> cases;
    for (int i = 0; i < 64; ++i) {
      uint64_t idx = (static_cast<uint64_t>(i) * 15485863u) % n;
      auto rec = *reader->record(idx);
      cases.emplace_back(merkle::leaf_hash(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(rec.data()), rec.size())),
                         *reader->inclusion_proof(idx, n));
    }
    auto root = merkle::root(merkle::MemoryTree(), 0);
    {
      auto note = *reader->latest_checkpoint();
      root = verifier.verify(note)->root;
    }
    auto t0 = Clock::now();
    int ok = 0;
    for (int i = 0; i < kProofs; ++i) {
      const auto& c = cases[static_cast<size_t>(i) % cases.size()];
      uint64_t idx = (static_cast<uint64_t>(i % 64) * 15485863u) % n;
      ok += merkle::verify_inclusion(c.first, idx, n, c.second, root);
    }
    double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / kProofs;
    if (ok != kProofs) std::abort();
    per.push_back(us);
  }
  std::printf("inclusion proof verification (tree of %llu): median %.2f us  p90 %.2f us  max %.2f us\n",
              static_cast<unsigned long long>(n), percentile(per, 0.5), percentile(per, 0.9),
              *std::max_element(per.begin(), per.end()));
}

}  // namespace

int main(int argc, char** argv) {
  int runs = argc > 1 ? std::atoi(argv[1]) : 5;
  if (runs < 1) runs = 1;
  for (int r = 0; r < runs; ++r) durable_appends(64, 3.0);
  durable_appends(1, 3.0);
  verification(1'000'000, runs);
}
