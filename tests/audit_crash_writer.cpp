// A test helper process: appends audit records from many threads as fast as it can and prints
// "ack <index> <sha256 of the record>" for each one once append() has returned (durable).
// The crash test kills it with SIGKILL part-way and checks every acknowledged record survived.
//   audit-crash-writer STORE_DIR SEED_HEX
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "audit_log.h"
#include "crypto.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: audit-crash-writer STORE_DIR SEED_HEX\n");
    return 2;
  }
  auto seed = mash::from_hex(argv[2]);
  if (!seed.ok() || seed->size() != 32) return 2;
  std::array<uint8_t, 32> s{};
  std::copy(seed->begin(), seed->end(), s.begin());
  mash::AuditLogOptions options;
  options.origin = "crash.test/audit";
  options.checkpoint_interval = std::chrono::milliseconds(20);
  options.map_size = size_t{1} << 30;
  auto log = mash::AuditLog::open(argv[1], options, mash::SigningKey::from_seed(s));
  if (!log.ok()) {
    std::fprintf(stderr, "open: %s\n", log.error().message.c_str());
    return 1;
  }
  std::mutex out;
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t i = 0;; ++i) {
        std::string record = "{\"type\":\"crash-test\",\"thread\":" + std::to_string(t) + ",\"n\":" + std::to_string(i) + "}";
        auto r = (*log)->append(record);
        if (!r.ok()) continue;
        auto h = mash::sha256(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(record.data()), record.size()));
        std::lock_guard lock(out);
        std::printf("ack %llu %s\n", static_cast<unsigned long long>(*r), mash::to_hex(h).c_str());
        std::fflush(stdout);
      }
    });
  }
  for (auto& th : threads) th.join();
}
