// Backups on real LMDB environments and files in a temporary directory.
#include "backup.h"

#include <catch2/catch.hpp>

#include <sstream>

#include "lmdb_store.h"
#include "test_support.h"

using namespace mash;
using mash::testing::TempDir;
namespace fs = std::filesystem;

namespace {

void put(const fs::path& dir, const std::string& k, const std::string& v) {
  auto env = Env::open(dir);
  REQUIRE(env.ok());
  auto txn = env->begin_write();
  REQUIRE(txn.ok());
  auto db = txn->open_db("t", true);
  REQUIRE(db.ok());
  REQUIRE(txn->put(*db, k, v).ok());
  REQUIRE(txn->commit().ok());
}

std::string get(const fs::path& dir, const std::string& k) {
  auto env = Env::open(dir);
  REQUIRE(env.ok());
  auto txn = env->begin_read();
  REQUIRE(txn.ok());
  auto db = txn->open_db("t", false);
  REQUIRE(db.ok());
  auto v = txn->get(*db, k);
  REQUIRE(v.ok());
  return *v ? std::string(**v) : "";
}

}  // namespace

TEST_CASE("backup: parts are copied while open, restored only where nothing exists, bad input refused", "[backup]") {
  TempDir dir;
  const fs::path live = dir.path() / "live";
  fs::create_directories(live);
  put(live / "store", "case", "held");
  testing::write_file(live / "key", "secret");
  using K = BackupPart::Kind;
  std::vector<BackupPart> parts = {{"store", live / "store", K::kLmdb, false},
                                   {"key", live / "key", K::kFile, false},
                                   {"witness", live / "witness", K::kFolder, true}};
  std::ostringstream log;
  // The source stays open (as in a running program) while it is copied.
  auto open_env = Env::open(live / "store");
  REQUIRE(open_env.ok());
  REQUIRE(take_backup(parts, dir.path() / "b", "test", log).ok());
  CHECK(log.str().find("witness: none yet") != std::string::npos);
  CHECK(fs::exists(dir.path() / "b" / "MANIFEST"));
  // Not into a folder that holds something; not without a required part.
  CHECK(take_backup(parts, dir.path() / "b", "test", log).error().code == ErrorCode::kAlreadyExists);
  auto missing = parts;
  missing[1].path = live / "no-such-key";
  CHECK(take_backup(missing, dir.path() / "c", "test", log).error().code == ErrorCode::kNotFound);
  // Restore: refused over a live store, and from a folder that is not a backup.
  CHECK(restore_backup(parts, dir.path() / "b", log).error().code == ErrorCode::kAlreadyExists);
  CHECK(restore_backup(parts, dir.path() / "live", log).error().code == ErrorCode::kNotFound);
  open_env = Env::open(dir.path() / "other");  // let go of the live store
  fs::rename(live / "store", dir.path() / "lost-store");
  REQUIRE(restore_backup(parts, dir.path() / "b", log).ok());
  CHECK(get(live / "store", "case") == "held");
  CHECK(log.str().find("key: already in place") != std::string::npos);
  // A key in place that differs from the backup's is not overwritten.
  fs::rename(live / "store", dir.path() / "lost-again");
  testing::write_file(live / "key", "another secret");
  CHECK(restore_backup(parts, dir.path() / "b", log).error().code == ErrorCode::kAlreadyExists);
  CHECK(testing::read_file(live / "key") == "another secret");
  CHECK_FALSE(fs::exists(live / "store"));
}
