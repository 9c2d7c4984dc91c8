// Tests for lmdb_store.h. Each test opens its environment in a fresh directory under /tmp
// (mkdtemp), removed at the end; sync is off since durability across power loss is not under test.
#include <stdlib.h>
#include <sys/stat.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "lmdb_store.h"

namespace mash {
namespace {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = "/tmp/mash-lmdb-test-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

EnvOptions test_options() {
  EnvOptions opts;
  opts.map_size = 16u << 20;
  opts.sync = false;
  return opts;
}

Env open_env(const std::filesystem::path& dir, EnvOptions opts = test_options()) {
  auto env = Env::open(dir, opts);
  if (!env.ok()) FAIL("Env::open: " << env.error().message);
  return std::move(env).value();
}

Txn begin_write(Env& env) {
  auto txn = env.begin_write();
  if (!txn.ok()) FAIL("begin_write: " << txn.error().message);
  return std::move(txn).value();
}

Txn begin_read(const Env& env) {
  auto txn = env.begin_read();
  if (!txn.ok()) FAIL("begin_read: " << txn.error().message);
  return std::move(txn).value();
}

// Opens (creating) the named database in its own committed write transaction.
Dbi create_db(Env& env, std::string_view name) {
  Txn txn = begin_write(env);
  auto dbi = txn.open_db(name, /*create=*/true);
  if (!dbi.ok()) FAIL("open_db: " << dbi.error().message);
  REQUIRE(txn.commit().ok());
  return *dbi;
}

std::optional<std::string> get_copy(const Txn& txn, Dbi dbi, std::string_view key) {
  auto v = txn.get(dbi, key);
  REQUIRE(v.ok());
  if (!v->has_value()) return std::nullopt;
  return std::string(**v);
}

mode_t file_mode(const std::filesystem::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

}  // namespace

TEST_CASE("put, get, del and count", "[lmdb]") {
  TempDir dir;
  Env env = open_env(dir.path());
  const Dbi db = create_db(env, "things");
  {
    Txn txn = begin_write(env);
    REQUIRE(txn.put(db, "alpha", "1").ok());
    REQUIRE(txn.put(db, "beta", "2").ok());
    REQUIRE(txn.put(db, "gamma", std::string("\0bin\xff", 5)).ok());
    REQUIRE(txn.put(db, "empty-value", "").ok());
    CHECK(get_copy(txn, db, "alpha") == "1");  // visible inside the writing transaction
    REQUIRE(txn.commit().ok());
  }
  {
    Txn txn = begin_read(env);
    CHECK(txn.count(db).value() == 4);
    CHECK(get_copy(txn, db, "alpha") == "1");
    CHECK(get_copy(txn, db, "gamma") == std::string("\0bin\xff", 5));
    CHECK(get_copy(txn, db, "empty-value") == "");
    CHECK(get_copy(txn, db, "missing") == std::nullopt);
  }
  {
    Txn txn = begin_write(env);
    REQUIRE(txn.put(db, "alpha", "one").ok());  // overwrite by default
    auto d = txn.del(db, "beta");
    REQUIRE(d.ok());
    CHECK(*d);
    auto d2 = txn.del(db, "beta");
    REQUIRE(d2.ok());
    CHECK_FALSE(*d2);
    REQUIRE(txn.commit().ok());
  }
  Txn txn = begin_read(env);
  CHECK(txn.count(db).value() == 3);
  CHECK(get_copy(txn, db, "alpha") == "one");
  CHECK(get_copy(txn, db, "beta") == std::nullopt);
}

TEST_CASE("an aborted write transaction leaves nothing", "[lmdb]") {
  TempDir dir;
  Env env = open_env(dir.path());
  const Dbi db = create_db(env, "d");
  {
    Txn txn = begin_write(env);
    REQUIRE(txn.put(db, "kept", "yes").ok());
    REQUIRE(txn.commit().ok());
  }
  {
    Txn txn = begin_write(env);
    REQUIRE(txn.put(db, "dropped", "1").ok());
    REQUIRE(txn.del(db, "kept").value());
  }  // destroyed without commit
  {
    Txn txn = begin_write(env);
    REQUIRE(txn.put(db, "dropped-too", "1").ok());
    txn.abort();
    CHECK(txn.commit().error().code == ErrorCode::kFailedPrecondition);
  }
  Txn txn = begin_read(env);
  CHECK(txn.count(db).value() == 1);
  CHECK(get_copy(txn, db, "kept") == "yes");
  CHECK(get_copy(txn, db, "dropped") == std::nullopt);
  CHECK(get_copy(txn, db, "dropped-too") == std::nullopt);

  SECTION("a database created in an aborted transaction does not exist") {
    {
      Txn w = begin_write(env);
      REQUIRE(w.open_db("ghost", true).ok());
    }
    Txn r = begin_read(env);
    auto ghost = r.open_db("ghost", false);
    REQUIRE_FALSE(ghost.ok());
    CHECK(ghost.error().code == ErrorCode::kNotFound);
  }
}

TEST_CASE("data survives closing and reopening the environment", "[lmdb]") {
  TempDir dir;
  {
    Env env = open_env(dir.path(), EnvOptions{});  // defaults, sync on
    const Dbi db = create_db(env, "persist");
    Txn txn = begin_write(env);
    for (int i = 0; i < 100; ++i) {
      REQUIRE(txn.put(db, "key" + std::to_string(i), "value" + std::to_string(i)).ok());
    }
    REQUIRE(txn.commit().ok());
  }
  Env env = open_env(dir.path());
  Txn txn = begin_read(env);
  auto db = txn.open_db("persist", /*create=*/false);
  REQUIRE(db.ok());
  CHECK(txn.count(*db).value() == 100);
  CHECK(get_copy(txn, *db, "key0") == "value0");
  CHECK(get_copy(txn, *db, "key99") == "value99");
  REQUIRE(txn.commit().ok());  // keeps the handle for later transactions

  Txn again = begin_read(env);
  CHECK(get_copy(again, *db, "key42") == "value42");
}

TEST_CASE("no_overwrite refuses an existing key", "[lmdb]") {
  TempDir dir;
  Env env = open_env(dir.path());
  const Dbi db = create_db(env, "d");
  Txn txn = begin_write(env);
  REQUIRE(txn.put(db, "k", "first", /*no_overwrite=*/true).ok());
  Status s = txn.put(db, "k", "second", /*no_overwrite=*/true);
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code == ErrorCode::kAlreadyExists);
  // The transaction is still usable and the value unchanged.
  REQUIRE(txn.put(db, "other", "x").ok());
  REQUIRE(txn.commit().ok());

  Txn r = begin_read(env);
  CHECK(get_copy(r, db, "k") == "first");
  CHECK(get_copy(r, db, "other") == "x");
}

TEST_CASE("prefix iteration returns exactly the keys with the prefix, in order", "[lmdb]") {
  TempDir dir;
  Env env = open_env(dir.path());
  const Dbi db = create_db(env, "d");
  {
    Txn txn = begin_write(env);
    const std::vector<std::string> keys = {
        "b", "ab", "aa", "abd", "ac", "abc", "a", "ab\xff", std::string("ab\0x", 4), "abcdef"};
    for (const std::string& k : keys) {
      REQUIRE(txn.put(db, k, "v:" + k).ok());
    }
    REQUIRE(txn.commit().ok());
  }
  Txn txn = begin_read(env);
  auto collect = [&](std::string_view prefix, size_t limit = 1000) {
    std::vector<std::string> keys;
    Status s = txn.for_each_prefix(db, prefix, [&](std::string_view k, std::string_view v) {
      CHECK(v == "v:" + std::string(k));
      keys.emplace_back(k);
      return keys.size() < limit;
    });
    REQUIRE(s.ok());
    return keys;
  };

  CHECK(collect("ab") == std::vector<std::string>{"ab", std::string("ab\0x", 4), "abc", "abcdef",
                                                  "abd", std::string("ab\xff")});
  CHECK(collect("abc") == std::vector<std::string>{"abc", "abcdef"});
  CHECK(collect("b") == std::vector<std::string>{"b"});
  CHECK(collect("ad").empty());
  CHECK(collect("zzz").empty());
  CHECK(collect("ab", 2) == std::vector<std::string>{"ab", std::string("ab\0x", 4)});
  CHECK(collect("").size() == 10);

  SECTION("the cursor by hand") {
    auto c = txn.cursor(db);
    REQUIRE(c.ok());
    CHECK_FALSE(c->valid());
    REQUIRE(c->seek("abca").ok());
    REQUIRE(c->valid());
    CHECK(c->key() == "abcdef");
    CHECK(c->value() == "v:abcdef");
    REQUIRE(c->first().ok());
    CHECK(c->key() == "a");
    size_t n = 1;
    while (c->valid()) {
      REQUIRE(c->next().ok());
      if (c->valid()) ++n;
    }
    CHECK(n == 10);
    CHECK_THROWS_AS(c->key(), std::logic_error);
    CHECK(c->next().error().code == ErrorCode::kFailedPrecondition);
    REQUIRE(c->seek("c").ok());
    CHECK_FALSE(c->valid());
  }
}

TEST_CASE("a full map gives kUnavailable and keeps committed data", "[lmdb]") {
  TempDir dir;
  EnvOptions opts = test_options();
  opts.map_size = 64 << 10;
  Env env = open_env(dir.path(), opts);
  const Dbi db = create_db(env, "d");
  const std::string value(200, 'v');

  int committed = 0;
  Error failure;
  bool failed = false;
  for (int i = 0; i < 1000 && !failed; ++i) {
    Txn txn = begin_write(env);
    Status s = txn.put(db, "key" + std::to_string(i), value);
    if (s.ok()) s = txn.commit();
    if (s.ok()) {
      ++committed;
    } else {
      failure = s.error();
      failed = true;
    }
  }
  REQUIRE(failed);
  INFO(failure.message);
  CHECK(failure.code == ErrorCode::kUnavailable);
  CHECK(failure.message.find("map size") != std::string::npos);
  CHECK(failure.message.find("exhausted") != std::string::npos);
  CHECK(committed > 10);

  auto check_intact = [&](const Env& e) {
    Txn txn = begin_read(e);
    CHECK(txn.count(db).value() == static_cast<size_t>(committed));
    for (int i = 0; i < committed; ++i) {
      CHECK(get_copy(txn, db, "key" + std::to_string(i)) == value);
    }
  };
  check_intact(env);

  // Deleting makes room again.
  {
    Txn txn = begin_write(env);
    REQUIRE(txn.del(db, "key0").value());
    REQUIRE(txn.commit().ok());
    --committed;
  }
  {
    Txn txn = begin_write(env);
    REQUIRE(txn.put(db, "key0", "small").ok());
    REQUIRE(txn.commit().ok());
  }
  Txn txn = begin_read(env);
  CHECK(get_copy(txn, db, "key0") == "small");
  CHECK(get_copy(txn, db, "key1") == value);
}

TEST_CASE("a full map: committed data is intact after reopening", "[lmdb]") {
  TempDir dir;
  EnvOptions opts = test_options();
  opts.map_size = 64 << 10;
  int committed = 0;
  {
    Env env = open_env(dir.path(), opts);
    const Dbi db = create_db(env, "d");
    for (int i = 0; i < 1000; ++i) {
      Txn txn = begin_write(env);
      Status s = txn.put(db, "key" + std::to_string(i), std::string(200, 'w'));
      if (s.ok()) s = txn.commit();
      if (!s.ok()) {
        CHECK(s.error().code == ErrorCode::kUnavailable);
        break;
      }
      ++committed;
    }
  }
  REQUIRE(committed > 10);
  Env env = open_env(dir.path(), opts);
  Txn txn = begin_read(env);
  auto db = txn.open_db("d", false);
  REQUIRE(db.ok());
  CHECK(txn.count(*db).value() == static_cast<size_t>(committed));
  CHECK(get_copy(txn, *db, "key" + std::to_string(committed - 1)) == std::string(200, 'w'));
}

TEST_CASE("files are private: directory 0700, data and lock files 0600", "[lmdb]") {
  TempDir dir;
  const auto sub = dir.path() / "store";
  Env env = open_env(sub);
  CHECK(file_mode(sub) == 0700);
  CHECK(file_mode(sub / "data.mdb") == 0600);
  CHECK(file_mode(sub / "lock.mdb") == 0600);

  SECTION("a missing parent is not created") {
    auto r = Env::open(dir.path() / "no" / "such", test_options());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::kNotFound);
  }
  SECTION("a file where the directory should be") {
    const auto f = dir.path() / "file";
    { std::ofstream(f) << "x"; }
    auto r = Env::open(f, test_options());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::kFailedPrecondition);
  }
}

TEST_CASE("misuse is reported, not undefined", "[lmdb]") {
  TempDir dir;
  Env env = open_env(dir.path());
  const Dbi db = create_db(env, "d");

  SECTION("a second write transaction on the same thread") {
    Txn w = begin_write(env);
    auto w2 = env.begin_write();
    REQUIRE_FALSE(w2.ok());
    CHECK(w2.error().code == ErrorCode::kFailedPrecondition);
    REQUIRE(w.commit().ok());
    auto w3 = env.begin_write();  // fine once the first has ended
    CHECK(w3.ok());
  }
  SECTION("writes in a read transaction") {
    Txn r = begin_read(env);
    CHECK(r.put(db, "k", "v").error().code == ErrorCode::kFailedPrecondition);
    CHECK(r.del(db, "k").error().code == ErrorCode::kFailedPrecondition);
    CHECK(r.open_db("new", true).error().code == ErrorCode::kFailedPrecondition);
    CHECK_FALSE(r.is_write());
  }
  SECTION("use after commit") {
    Txn w = begin_write(env);
    CHECK(w.is_write());
    REQUIRE(w.commit().ok());
    CHECK(w.put(db, "k", "v").error().code == ErrorCode::kFailedPrecondition);
    CHECK(w.get(db, "k").error().code == ErrorCode::kFailedPrecondition);
    CHECK(w.commit().error().code == ErrorCode::kFailedPrecondition);
  }
  SECTION("bad keys and names") {
    Txn w = begin_write(env);
    CHECK(w.put(db, "", "v").error().code == ErrorCode::kInvalidArgument);
    CHECK(w.put(db, std::string(600, 'k'), "v").error().code == ErrorCode::kInvalidArgument);
    CHECK(w.open_db("", true).error().code == ErrorCode::kInvalidArgument);
    CHECK(w.open_db("absent", false).error().code == ErrorCode::kNotFound);
  }
  SECTION("cursors that outlive their transaction") {
    {
      Txn w = begin_write(env);
      REQUIRE(w.put(db, "a", "1").ok());
      auto c = w.cursor(db);
      REQUIRE(c.ok());
      REQUIRE(c->first().ok());
      REQUIRE(w.commit().ok());  // LMDB frees the write cursor here
      CHECK(c->next().error().code == ErrorCode::kFailedPrecondition);
      CHECK_FALSE(c->valid());
    }  // and the Cursor must not free it again
    std::optional<Cursor> kept;
    {
      Txn r = begin_read(env);
      auto c = r.cursor(db);
      REQUIRE(c.ok());
      REQUIRE(c->first().ok());
      kept.emplace(std::move(c).value());
    }
    CHECK(kept->first().error().code == ErrorCode::kFailedPrecondition);
    CHECK_THROWS_AS(kept->key(), std::logic_error);
  }
}

TEST_CASE("a writer on another thread waits for the first to commit", "[lmdb]") {
  TempDir dir;
  Env env = open_env(dir.path());
  const Dbi db = create_db(env, "d");

  Txn first = begin_write(env);
  REQUIRE(first.put(db, "from", "first").ok());
  std::atomic<bool> second_began{false};
  std::string seen;
  std::thread t([&] {
    auto second = env.begin_write();
    second_began = true;
    if (!second.ok()) return;
    auto v = second->get(db, "from");
    if (v.ok() && v->has_value()) seen = std::string(**v);
    (void)second->put(db, "from", "second");
    (void)second->commit();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK_FALSE(second_began.load());
  REQUIRE(first.commit().ok());
  t.join();
  CHECK(second_began.load());
  CHECK(seen == "first");
  Txn r = begin_read(env);
  CHECK(get_copy(r, db, "from") == "second");
}

TEST_CASE("read transactions see a snapshot", "[lmdb]") {
  TempDir dir;
  Env env = open_env(dir.path());
  const Dbi db = create_db(env, "d");
  {
    Txn w = begin_write(env);
    REQUIRE(w.put(db, "k", "old").ok());
    REQUIRE(w.commit().ok());
  }
  Txn r = begin_read(env);
  Txn r2 = begin_read(env);  // several read transactions on one thread (MDB_NOTLS)
  {
    Txn w = begin_write(env);
    REQUIRE(w.put(db, "k", "new").ok());
    REQUIRE(w.commit().ok());
  }
  CHECK(get_copy(r, db, "k") == "old");
  CHECK(get_copy(r2, db, "k") == "old");
  Txn r3 = begin_read(env);
  CHECK(get_copy(r3, db, "k") == "new");
}

}  // namespace mash

namespace mash {
namespace {

TEST_CASE("append loads sorted keys, refuses one out of order, clear empties atomically", "[lmdb]") {
  TempDir dir;
  Env env = open_env(dir.path());
  const Dbi db = create_db(env, "bulk");
  {
    Txn txn = begin_write(env);
    REQUIRE(txn.append(db, "a", "1").ok());
    REQUIRE(txn.append(db, "b", "2").ok());
    auto st = txn.append(db, "ab", "3");  // sorts before "b"
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().code == ErrorCode::kInvalidArgument);
    REQUIRE(txn.append(db, "c", "3").ok());
    REQUIRE(txn.commit().ok());
  }
  {
    Txn txn = begin_write(env);
    REQUIRE(txn.clear(db).ok());
    CHECK(txn.count(db).value() == 0);
    txn.abort();  // the clear is undone
  }
  {
    Txn txn = begin_read(env);
    CHECK(txn.count(db).value() == 3);
  }
  {
    Txn txn = begin_write(env);
    REQUIRE(txn.clear(db).ok());
    REQUIRE(txn.append(db, "z", "9").ok());  // the cleared database takes appends again
    REQUIRE(txn.commit().ok());
  }
  Txn txn = begin_read(env);
  CHECK(txn.count(db).value() == 1);
  CHECK(get_copy(txn, db, "z") == "9");
}

}  // namespace
}  // namespace mash
