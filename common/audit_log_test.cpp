// The audit log on a real LMDB store in a temporary folder.
#include "audit_log.h"

#include <catch2/catch.hpp>

#include <cstdio>

#include <atomic>
#include <set>
#include <thread>

#include "test_support.h"

using namespace mash;
using mash::testing::TempDir;

namespace {

const std::string kOrigin = "test.hub/audit";
const std::array<uint8_t, 32> kSeed = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                       17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

SigningKey test_key() { return SigningKey::from_seed(kSeed); }
NoteVerifier test_verifier() { return NoteVerifier(kOrigin, test_key().verify_key()); }

Result<std::unique_ptr<AuditLog>> try_open(const TempDir& dir, size_t map_size = size_t{1} << 30) {
  AuditLogOptions o;
  o.origin = kOrigin;
  o.checkpoint_interval = std::chrono::milliseconds(50);
  o.map_size = map_size;
  return AuditLog::open(dir.path(), o, test_key());
}

std::unique_ptr<AuditLog> open_log(const TempDir& dir) {
  auto log = try_open(dir);
  INFO((log.ok() ? "" : log.error().message));
  REQUIRE(log.ok());
  return std::move(log).value();
}

std::string rec(int i) { return "{\"type\":\"test\",\"n\":" + std::to_string(i) + "}"; }

// Fills a store with n records and closes it (which makes a final checkpoint).
void fill(const TempDir& dir, int n) {
  auto log = open_log(dir);
  for (int i = 0; i < n; ++i) REQUIRE(log->append(rec(i)).ok());
  REQUIRE(log->checkpoint_now().ok());
}

// Raw access to the store, as an attacker with the files would have.
template <typename Fn>
void tamper(const TempDir& dir, Fn fn) {
  EnvOptions o;
  o.map_size = size_t{1} << 30;
  o.max_dbs = 8;
  auto env = Env::open(dir.path(), o);
  REQUIRE(env.ok());
  auto txn = env->begin_write();
  REQUIRE(txn.ok());
  fn(*txn, *txn->open_db("leaves", false), *txn->open_db("checkpoints", false), *txn->open_db("meta", false),
     *txn->open_db("nodes", false));
  REQUIRE(txn->commit().ok());
}

AuditVerifyReport verify_store(const TempDir& dir) {
  auto r = verify_audit_store(dir.path(), test_verifier(), kOrigin);
  REQUIRE(r.ok());
  return *r;
}

bool mentions(const AuditVerifyReport& r, const std::string& text) {
  for (const auto& p : r.problems) {
    if (p.find(text) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("records append in order, are durable across reopening, and the tree continues", "[audit]") {
  TempDir dir;
  {
    auto log = open_log(dir);
    for (int i = 0; i < 5; ++i) CHECK(*log->append(rec(i)) == static_cast<uint64_t>(i));
    CHECK(*log->record(3) == rec(3));
    CHECK_FALSE(log->record(5).ok());
  }
  auto log = open_log(dir);
  CHECK(log->size() == 5);
  CHECK(*log->append(rec(5)) == 5u);
  auto note = log->checkpoint_now();
  REQUIRE(note.ok());
  auto c = test_verifier().verify(*note, kOrigin);
  REQUIRE(c.ok());
  CHECK(c->size == 6);
  CHECK(c->root == *log->root(6));
  CHECK(verify_store(dir).ok());
}

TEST_CASE("many concurrent writers share commits, every record gets one index", "[audit]") {
  TempDir dir;
  auto log = open_log(dir);
  constexpr int kThreads = 64, kEach = 40;
  std::vector<std::thread> threads;
  std::mutex m;
  std::set<uint64_t> seen;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto r = log->append(rec(t * 1000 + i), {{"actor", "user" + std::to_string(t)}});
        if (!r.ok()) {
          failures++;
          continue;
        }
        std::lock_guard lock(m);
        seen.insert(*r);
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
  CHECK(seen.size() == kThreads * kEach);
  CHECK(*seen.rbegin() == kThreads * kEach - 1);
  auto mine = log->find("actor", "user7");
  REQUIRE(mine.ok());
  CHECK(mine->size() == kEach);
  for (uint64_t idx : *mine) CHECK(log->record(idx)->find("\"n\":7") != std::string::npos);
  REQUIRE(log->checkpoint_now().ok());
  log.reset();
  CHECK(verify_store(dir).ok());
}

TEST_CASE("inclusion and consistency proofs from the store verify against checkpoints", "[audit]") {
  TempDir dir;
  auto log = open_log(dir);
  for (int i = 0; i < 13; ++i) REQUIRE(log->append(rec(i)).ok());
  auto first = test_verifier().verify(*log->checkpoint_now(), kOrigin);
  for (int i = 13; i < 37; ++i) REQUIRE(log->append(rec(i)).ok());
  auto second = test_verifier().verify(*log->checkpoint_now(), kOrigin);
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  CHECK(first->size == 13);
  CHECK(second->size == 37);
  for (uint64_t i = 0; i < 37; ++i) {
    std::string r = *log->record(i);
    auto leaf = merkle::leaf_hash(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(r.data()), r.size()));
    CHECK(merkle::verify_inclusion(leaf, i, 37, *log->inclusion_proof(i, 37), second->root));
  }
  CHECK(merkle::verify_consistency(13, 37, first->root, second->root, *log->consistency_proof(13, 37)));
  CHECK_FALSE(log->inclusion_proof(37, 37).ok());
  CHECK_FALSE(log->consistency_proof(13, 38).ok());
  CHECK(log->checkpoint_at(13).ok());
}

TEST_CASE("bad records are refused before anything is written", "[audit]") {
  TempDir dir;
  auto log = open_log(dir);
  CHECK_FALSE(log->append("").ok());
  CHECK_FALSE(log->append(std::string(70 * 1024, 'x')).ok());
  CHECK_FALSE(log->append("x", {{std::string("na\0me", 5), "v"}}).ok());
  CHECK_FALSE(log->append("x", {{"", "v"}}).ok());
  CHECK(log->size() == 0);
  CHECK(log->healthy().ok());
}

TEST_CASE("a full store fails closed and keeps what it acknowledged", "[audit]") {
  TempDir dir;
  auto opened = try_open(dir, 256 * 1024);
  REQUIRE(opened.ok());
  auto log = std::move(opened).value();
  uint64_t acknowledged = 0;
  Result<uint64_t> r = uint64_t{0};
  for (int i = 0; i < 5000; ++i) {
    r = log->append(std::string(1000, 'a') + std::to_string(i));
    if (!r.ok()) break;
    acknowledged = *r + 1;
  }
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("audit record not written") != std::string::npos);
  CHECK_FALSE(log->healthy().ok());
  CHECK(log->size() == acknowledged);
  CHECK(log->record(acknowledged - 1).ok());
}

TEST_CASE("search by index keys and ranges", "[audit]") {
  TempDir dir;
  auto log = open_log(dir);
  REQUIRE(log->append(rec(0), {{"case", "C-1"}, {"time", "2026-11-20T10:00"}}).ok());
  REQUIRE(log->append(rec(1), {{"case", "C-2"}, {"time", "2026-11-21T10:00"}}).ok());
  REQUIRE(log->append(rec(2), {{"case", "C-1"}, {"time", "2026-11-22T10:00"}}).ok());
  CHECK(*log->find("case", "C-1") == std::vector<uint64_t>{0, 2});
  CHECK(log->find("case", "C-").value().empty());
  CHECK(*log->find_range("time", "2026-11-21", "2026-11-22T23") == std::vector<uint64_t>{1, 2});
  CHECK(*log->find_range("time", "2026-11-20", "2026-11-20T23") == std::vector<uint64_t>{0});
}

TEST_CASE("offline verification finds each kind of tampering, by index", "[audit][tamper]") {
  TempDir dir;
  fill(dir, 50);
  REQUIRE(verify_store(dir).ok());

  SECTION("one byte of a record changed") {
    tamper(dir, [](Txn& t, Dbi leaves, Dbi, Dbi, Dbi) {
      std::string r(**t.get(leaves, be64(17)));
      r[5] ^= 1;
      REQUIRE(t.put(leaves, be64(17), r).ok());
    });
    auto report = verify_store(dir);
    CHECK(mentions(report, "record 17 does not match its leaf hash"));
  }
  SECTION("a record and its leaf hash both changed (only checkpoints can tell)") {
    tamper(dir, [](Txn& t, Dbi leaves, Dbi, Dbi, Dbi nodes) {
      std::string r = "{\"type\":\"test\",\"n\":999}";
      REQUIRE(t.put(leaves, be64(17), r).ok());
      auto h = merkle::leaf_hash(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(r.data()), r.size()));
      REQUIRE(t.put(nodes, std::string(1, '\0') + be64(17), std::string_view(reinterpret_cast<const char*>(h.data()), 32)).ok());
    });
    auto report = verify_store(dir);
    // The writer may also have signed a checkpoint of its own part-way through (a slow machine):
    // then the range starts there, and it always covers record 17.
    CHECK(mentions(report, "does not match the records: a record from index "));
    bool covers = false;
    for (const auto& p : report.problems) {
      auto at = p.find("a record from index ");
      if (at == std::string::npos) continue;
      unsigned from = 0, to = 0;
      if (std::sscanf(p.c_str() + at, "a record from index %u to %u", &from, &to) == 2) covers = from <= 17 && 17 <= to;
    }
    CHECK(covers);
  }
  SECTION("a record deleted") {
    tamper(dir, [](Txn& t, Dbi leaves, Dbi, Dbi, Dbi) { REQUIRE(*t.del(leaves, be64(30))); });
    CHECK(mentions(verify_store(dir), "record 30 is missing"));
  }
  SECTION("two records swapped") {
    tamper(dir, [](Txn& t, Dbi leaves, Dbi, Dbi, Dbi) {
      std::string a(**t.get(leaves, be64(3))), b(**t.get(leaves, be64(40)));
      REQUIRE(t.put(leaves, be64(3), b).ok());
      REQUIRE(t.put(leaves, be64(40), a).ok());
    });
    auto report = verify_store(dir);
    CHECK(mentions(report, "record 3 does not match"));
    CHECK(mentions(report, "record 40 does not match"));
  }
  SECTION("the tail truncated") {
    tamper(dir, [](Txn& t, Dbi leaves, Dbi, Dbi meta, Dbi) {
      for (uint64_t i = 45; i < 50; ++i) REQUIRE(*t.del(leaves, be64(i)));
      REQUIRE(t.put(meta, "size", be64(45)).ok());
    });
    CHECK(mentions(verify_store(dir), "checkpoint at size 50 is beyond the stored tree (45 records): the log was truncated"));
  }
  SECTION("a checkpoint's signature replaced") {
    tamper(dir, [](Txn& t, Dbi, Dbi checkpoints, Dbi, Dbi) {
      std::string note(**t.get(checkpoints, be64(50)));
      NoteSigner forger(kOrigin, SigningKey::generate());
      std::string forged = forger.sign({kOrigin, 50, merkle::Hash{}});
      REQUIRE(t.put(checkpoints, be64(50), note.substr(0, note.find("\n\n") + 2) + forged.substr(forged.find("\n\n") + 2)).ok());
    });
    CHECK(mentions(verify_store(dir), "checkpoint at size 50: checkpoint: no signature by"));
  }
}

TEST_CASE("a store whose history no longer matches its checkpoint is not appended to", "[audit][tamper]") {
  TempDir dir;
  fill(dir, 8);
  tamper(dir, [](Txn& t, Dbi, Dbi, Dbi, Dbi nodes) {
    REQUIRE(t.put(nodes, std::string(1, '\3') + be64(0), std::string(32, 'x')).ok());
  });
  auto reopened = try_open(dir);
  REQUIRE_FALSE(reopened.ok());
  CHECK(reopened.error().code == ErrorCode::kDataLoss);
  CHECK(reopened.error().message.find("does not match the stored tree") != std::string::npos);
}

TEST_CASE("damage to stored records is found while the log runs, and the log fails closed naming the record",
          "[audit][tamper]") {
  TempDir dir;
  fill(dir, 5000);
  auto open_watched = [&](std::vector<std::string>& events) {
    AuditLogOptions o;
    o.origin = kOrigin;
    o.on_verify = [&events](const std::string& event, uint64_t, uint64_t, const std::string& detail) {
      events.push_back(event + ": " + detail);
    };
    auto log = AuditLog::open(dir.path(), o, test_key());
    REQUIRE(log.ok());
    return std::move(log).value();
  };
  {
    // Intact: the background check gets through every record and says so.
    std::vector<std::string> events;
    auto log = open_watched(events);
    REQUIRE(mash::testing::wait_until([&] { return log->verification_done(); }, std::chrono::milliseconds(20'000)));
    CHECK(log->verified() == 5000);
    CHECK(log->integrity().ok());
    CHECK(log->append(rec(5000)).ok());
    REQUIRE_FALSE(events.empty());
    CHECK(events.back() == "verified: ");
  }
  SECTION("one byte of a record changed") {
    tamper(dir, [](Txn& t, Dbi leaves, Dbi, Dbi, Dbi) {
      std::string r(**t.get(leaves, be64(4321)));
      r[5] ^= 1;
      REQUIRE(t.put(leaves, be64(4321), r).ok());
    });
    std::vector<std::string> events;
    auto log = open_watched(events);
    REQUIRE(mash::testing::wait_until([&] { return log->verification_done(); }, std::chrono::milliseconds(20'000)));
    REQUIRE_FALSE(log->integrity().ok());
    CHECK(log->integrity().error().message.find("record 4321 does not match its hash") != std::string::npos);
    CHECK(log->healthy().error().message.find("record 4321") != std::string::npos);
    // Fail closed: nothing is appended to it, and no checkpoint is signed over it.
    auto refused = log->append(rec(6000));
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().code == ErrorCode::kDataLoss);
    CHECK(log->size() == 5001);
    CHECK_FALSE(log->checkpoint_now().ok());
    REQUIRE_FALSE(events.empty());
    CHECK(events.back().rfind("damaged: ", 0) == 0);
  }
  SECTION("a record and its leaf hash both changed: the records no longer hash to the signed checkpoint") {
    tamper(dir, [](Txn& t, Dbi leaves, Dbi, Dbi, Dbi nodes) {
      std::string r = "{\"type\":\"test\",\"n\":999}";
      REQUIRE(t.put(leaves, be64(17), r).ok());
      auto h = merkle::leaf_hash(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(r.data()), r.size()));
      REQUIRE(t.put(nodes, std::string(1, '\0') + be64(17), std::string_view(reinterpret_cast<const char*>(h.data()), 32)).ok());
    });
    std::vector<std::string> events;
    auto log = open_watched(events);
    REQUIRE(mash::testing::wait_until([&] { return log->verification_done(); }, std::chrono::milliseconds(20'000)));
    REQUIRE_FALSE(log->integrity().ok());
    CHECK(log->integrity().error().message.find("do not hash to the signed checkpoint") != std::string::npos);
    CHECK_FALSE(log->append(rec(6000)).ok());
  }
}
