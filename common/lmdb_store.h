// A small RAII wrapper over LMDB 0.9 (Env, Txn, Cursor) with errors as mash::Result.
// (Named lmdb_store.h, not lmdb.h: common/ is on the include path, and a common/lmdb.h would hide
// the system <lmdb.h> from every file, this wrapper's own implementation included.)
//
// LMDB's caveats, which this wrapper keeps rather than hides:
// - One write transaction at a time per environment. begin_write() blocks while another thread
//   holds the writer; on the thread that already holds it, it returns kFailedPrecondition instead
//   of deadlocking. A write transaction must be used and ended on the thread that began it.
// - Keep read transactions short: a live reader pins the pages it sees, so the file grows while
//   long readers are open. Read transactions (opened with MDB_NOTLS) may move between threads,
//   but no Txn or Cursor may be used by two threads at once.
// - Values (and cursor keys) are string_views into the memory map: valid only until the
//   transaction ends, and in a write transaction only until the next put or del. Copy what you
//   keep.
// - The map size is a hard limit on the database size. When it is exhausted, put or commit fails
//   with kUnavailable; that write transaction is then dead and must be dropped (data committed
//   earlier is intact). Reopen with a larger EnvOptions::map_size to grow.
// - Open an environment once per process (LMDB's locks break if the same files are opened twice
//   in one process). Every Txn and Cursor must be gone before their Env is destroyed.
// - Dbi handles: open them at startup and commit() that transaction; the handle then stays valid
//   for the Env's lifetime. A handle opened in a transaction that is aborted is closed again.
// - Keys are 1 to 511 bytes (LMDB's default maximum); other sizes give kInvalidArgument.
// - The data and lock files are created mode 0600 in a directory created 0700 if missing. LMDB
//   zero-fills unused space in pages written to disk (MDB_NOMEMINIT is never set), so stale heap
//   memory does not leak into the file.
#pragma once

#include <lmdb.h>

#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>

#include "result.h"

namespace mash {

struct EnvOptions {
  size_t map_size = 1ull << 30;  // bytes; the hard limit on the database size
  unsigned max_dbs = 16;         // named databases
  unsigned max_readers = 126;    // concurrent read transactions
  bool sync = true;              // false only for tests and benchmarks: sets MDB_NOSYNC
};

struct Dbi {
  MDB_dbi handle = 0;
};

class Txn;
class Cursor;

class Env {
 public:
  // Opens (creating if needed) the environment in dir. Only the last path component is created.
  static Result<Env> open(const std::filesystem::path& dir, EnvOptions opts = {});

  Env(Env&& other) noexcept;
  Env& operator=(Env&& other) noexcept;
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;
  ~Env();

  Result<Txn> begin_read() const;
  Result<Txn> begin_write();
  // A consistent copy of the whole environment, compacted, into the empty directory `dir`
  // (mdb_env_copy2 with MDB_CP_COMPACT: one read transaction, so writers go on meanwhile).
  Status copy_to(const std::filesystem::path& dir) const;

 private:
  friend class Txn;
  struct State;
  explicit Env(std::unique_ptr<State> state);
  void close();

  std::unique_ptr<State> state_;
};

// A transaction. Aborted on destruction unless commit() succeeded or was attempted.
class Txn {
 public:
  Txn(Txn&& other) noexcept;
  Txn& operator=(Txn&& other) noexcept;
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  ~Txn();

  // Ends the transaction either way: after a failed commit nothing was written.
  Status commit();
  void abort();
  bool is_write() const;
  // A nested write transaction: its changes join this one's when it commits, and vanish alone
  // when it aborts. This transaction must not be used until the child has ended, and the child
  // must end first.
  Result<Txn> begin_child();

  // Opens a named database; create needs a write transaction. Names must not be empty.
  Result<Dbi> open_db(std::string_view name, bool create);

  // nullopt if the key is absent. The view is valid as described at the top of this file.
  Result<std::optional<std::string_view>> get(Dbi dbi, std::string_view key) const;
  // kAlreadyExists if no_overwrite and the key exists (the transaction stays usable).
  Status put(Dbi dbi, std::string_view key, std::string_view value, bool no_overwrite = false);
  // Appends a key greater than every key in the database (MDB_APPEND: no page splits, for
  // bulk loads of sorted data). A key out of order gives kInvalidArgument.
  Status append(Dbi dbi, std::string_view key, std::string_view value);
  // True if the key existed.
  Result<bool> del(Dbi dbi, std::string_view key);
  // Deletes every key of the database (it stays open); undone if the transaction aborts.
  Status clear(Dbi dbi);
  Result<size_t> count(Dbi dbi) const;

  Result<Cursor> cursor(Dbi dbi) const;
  // Calls fn for each key starting with prefix, in key order, until fn returns false. An empty
  // prefix visits every key.
  Status for_each_prefix(
      Dbi dbi, std::string_view prefix,
      const std::function<bool(std::string_view key, std::string_view value)>& fn) const;

 private:
  friend class Env;
  friend class Cursor;
  struct State;
  explicit Txn(std::shared_ptr<State> state);

  std::shared_ptr<State> state_;
};

// Iterates a database in key order (bytewise, like memcmp). Must not be used after its
// transaction ends (operations then return kFailedPrecondition); it may be destroyed at any time.
class Cursor {
 public:
  Cursor(Cursor&& other) noexcept;
  Cursor& operator=(Cursor&& other) noexcept;
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  ~Cursor();

  // Positions at the first key >= key (MDB_SET_RANGE); invalid if there is none.
  Status seek(std::string_view key);
  Status first();
  // Moves to the next key; invalid past the last. The cursor must be valid.
  Status next();
  bool valid() const { return valid_; }
  // Only while valid() (a bug otherwise: throws std::logic_error).
  std::string_view key() const;
  std::string_view value() const;

 private:
  friend class Txn;
  Cursor(std::shared_ptr<Txn::State> txn, MDB_cursor* cursor);
  Status move(MDB_val* key, MDB_cursor_op op, const char* what);
  void close();

  std::shared_ptr<Txn::State> txn_;
  MDB_cursor* cursor_ = nullptr;
  std::string_view key_;
  std::string_view value_;
  bool valid_ = false;
};

}  // namespace mash
