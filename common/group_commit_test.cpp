// GroupCommit on a real LMDB environment in a temporary directory, with sync on (the real
// setting): concurrent writers share commits, a failing operation is undone alone.
#include "group_commit.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "test_support.h"

using namespace mash;

namespace {

struct Store {
  testing::TempDir dir;
  Env env;
  Dbi db;
  Store() : env(open()) {
    auto txn = env.begin_write();
    REQUIRE(txn.ok());
    auto d = txn->open_db("t", true);
    REQUIRE(d.ok());
    db = *d;
    REQUIRE(txn->commit().ok());
  }
  Env open() {
    EnvOptions o;
    o.map_size = 64u << 20;
    auto e = Env::open(dir.path() / "db", o);
    REQUIRE(e.ok());
    return std::move(e).value();
  }
  std::optional<std::string> get(const std::string& key) {
    auto txn = env.begin_read();
    REQUIRE(txn.ok());
    auto v = txn->get(db, key);
    REQUIRE(v.ok());
    if (!*v) return std::nullopt;
    return std::string(**v);
  }
};

}  // namespace

TEST_CASE("group commit: concurrent writers share durable commits, and every write lands", "[group-commit]") {
  Store s;
  GroupCommit writer(s.env);
  constexpr int kThreads = 16, kEach = 100;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        const std::string key = std::to_string(t) + "/" + std::to_string(i);
        Status st = writer.run([&](Txn& txn) { return txn.put(s.db, key, "v" + key); });
        if (!st.ok()) failures.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures.load() == 0);
  CHECK(writer.operations() == kThreads * kEach);
  CHECK(writer.commits() < writer.operations());  // batches formed
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kEach; i += 33) {
      const std::string key = std::to_string(t) + "/" + std::to_string(i);
      CHECK(s.get(key) == "v" + key);
    }
  }
}

TEST_CASE("group commit: a failing operation is undone alone and gets its own error", "[group-commit]") {
  Store s;
  GroupCommit writer(s.env);
  CHECK(writer.run([&](Txn& txn) { return txn.put(s.db, "a", "1"); }).ok());
  Status bad = writer.run([&](Txn& txn) -> Status {
    if (auto st = txn.put(s.db, "b", "2"); !st.ok()) return st;
    if (auto st = txn.put(s.db, "a", "changed"); !st.ok()) return st;
    return make_error(ErrorCode::kInvalidArgument, "refused by the operation");
  });
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message == "refused by the operation");
  CHECK(writer.run([&](Txn& txn) { return txn.put(s.db, "c", "3"); }).ok());
  CHECK(s.get("a") == "1");
  CHECK(s.get("b") == std::nullopt);
  CHECK(s.get("c") == "3");
  // An exception in an operation is an error for it, not for the process.
  Status threw = writer.run([&](Txn&) -> Status { throw std::runtime_error("boom"); });
  REQUIRE_FALSE(threw.ok());
  CHECK(threw.error().message.find("boom") != std::string::npos);
  // An operation that asks for a second write transaction is refused, not deadlocked.
  Status nested = writer.run([&](Txn&) -> Status {
    auto again = s.env.begin_write();
    if (!again.ok()) return again.error();
    return {};
  });
  CHECK_FALSE(nested.ok());
  // After a reopen the committed writes are there.
  CHECK(s.get("c") == "3");
}
