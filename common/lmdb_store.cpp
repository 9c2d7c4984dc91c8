// Implementation of lmdb_store.h. A Txn's state is shared with its cursors, so that a cursor can
// tell whether its transaction has ended (LMDB frees a write transaction's cursors by itself).
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include "lmdb_store.h"

namespace mash {

struct Env::State {
  MDB_env* env = nullptr;
  // The thread holding the write transaction, if any: lets begin_write() refuse instead of
  // deadlocking when that same thread asks again.
  std::atomic<std::thread::id> writer{};
  std::atomic<int> live_txns{0};
};

struct Txn::State {
  MDB_txn* txn = nullptr;  // null once the transaction has ended
  bool write = false;
  bool nested = false;     // a child of a write transaction: the writer mark is the parent's
  Env::State* env = nullptr;

  // Ends the transaction: commits if commit is true, else aborts. Returns LMDB's code.
  int end(bool commit) {
    if (txn == nullptr) return 0;
    // Clear the writer mark while still holding LMDB's writer lock, so it cannot erase the mark
    // of the next writer.
    if (write && !nested) env->writer.store(std::thread::id());
    int rc = 0;
    if (commit) {
      rc = mdb_txn_commit(txn);  // frees the transaction even when it fails
    } else {
      mdb_txn_abort(txn);
    }
    txn = nullptr;
    --env->live_txns;
    return rc;
  }
};

namespace {

MDB_val to_val(std::string_view s) {
  // LMDB does not write through the pointers of keys and values passed in.
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}

std::string_view to_view(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

Error lmdb_error(int rc, const std::string& what, MDB_env* env = nullptr) {
  const std::string detail = std::string(" (") + mdb_strerror(rc) + ")";
  switch (rc) {
    case MDB_MAP_FULL: {
      std::string size;
      MDB_envinfo info{};
      if (env != nullptr && mdb_env_info(env, &info) == 0) {
        size = " of " + std::to_string(info.me_mapsize) + " bytes";
      }
      return make_error(ErrorCode::kUnavailable,
                        what + ": the map size" + size +
                            " is exhausted; reopen with a larger EnvOptions::map_size" + detail);
    }
    case MDB_READERS_FULL:
      return make_error(ErrorCode::kUnavailable,
                        what + ": all reader slots are in use (EnvOptions::max_readers)" + detail);
    case MDB_MAP_RESIZED:
      return make_error(ErrorCode::kUnavailable, what + detail);
    case MDB_DBS_FULL:
      return make_error(ErrorCode::kFailedPrecondition,
                        what + ": too many named databases (EnvOptions::max_dbs)" + detail);
    case MDB_TXN_FULL:
      return make_error(ErrorCode::kFailedPrecondition,
                        what + ": too many changes in one transaction" + detail);
    case MDB_BAD_TXN:
      return make_error(ErrorCode::kFailedPrecondition,
                        what + ": the transaction failed earlier and must be dropped" + detail);
    case MDB_BAD_VALSIZE:
      return make_error(ErrorCode::kInvalidArgument,
                        what + ": key is empty or too long (1 to 511 bytes)" + detail);
    case MDB_BAD_DBI:
      return make_error(ErrorCode::kInvalidArgument,
                        what +
                            ": invalid database handle (was it opened in an aborted "
                            "transaction?)" +
                            detail);
    case MDB_INCOMPATIBLE:
      return make_error(ErrorCode::kFailedPrecondition, what + detail);
    case MDB_KEYEXIST:
      return make_error(ErrorCode::kAlreadyExists, what + ": the key exists" + detail);
    case MDB_NOTFOUND:
      return make_error(ErrorCode::kNotFound, what + detail);
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
      return make_error(ErrorCode::kDataLoss, what + detail);
    case ENOENT:
    case ENOTDIR:
      return make_error(ErrorCode::kNotFound, what + detail);
    case EACCES:
    case EPERM:
    case EROFS:
      return make_error(ErrorCode::kPermissionDenied, what + detail);
    case ENOSPC:
    case EIO:
    case EAGAIN:
    case ENOMEM:
      return make_error(ErrorCode::kUnavailable, what + detail);
    default:
      return make_error(ErrorCode::kInternal, what + detail);
  }
}

Error ended_error(const char* what) {
  return make_error(ErrorCode::kFailedPrecondition,
                    std::string(what) + ": the transaction has already ended");
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Env

Env::Env(std::unique_ptr<State> state) : state_(std::move(state)) {}

Env::Env(Env&& other) noexcept = default;

Env& Env::operator=(Env&& other) noexcept {
  if (this != &other) {
    close();
    state_ = std::move(other.state_);
  }
  return *this;
}

Env::~Env() { close(); }

void Env::close() {
  if (!state_ || state_->env == nullptr) return;
  if (state_->live_txns.load() != 0) {
    // A bug in the caller: closing now would leave those transactions pointing at freed memory.
    std::fprintf(stderr, "mash::Env destroyed with %d live transactions\n",
                 state_->live_txns.load());
    std::abort();
  }
  mdb_env_close(state_->env);
  state_->env = nullptr;
}

Result<Env> Env::open(const std::filesystem::path& dir, EnvOptions opts) {
  const std::string d = dir.string();
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    if (const int err = errno; err != ENOENT) {
      return lmdb_error(err, "cannot stat LMDB directory " + d);
    }
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      const int err = errno;
      return lmdb_error(err, "cannot create LMDB directory " + d);
    }
  } else if (!S_ISDIR(st.st_mode)) {
    return make_error(ErrorCode::kFailedPrecondition, "LMDB path " + d + " is not a directory");
  }

  MDB_env* env = nullptr;
  int rc = mdb_env_create(&env);
  if (rc != 0) return lmdb_error(rc, "cannot create an LMDB environment");
  auto fail = [&](int code, const std::string& what) -> Error {
    mdb_env_close(env);
    return lmdb_error(code, what + " for " + d);
  };
  if ((rc = mdb_env_set_mapsize(env, opts.map_size)) != 0) return fail(rc, "cannot set map size");
  if ((rc = mdb_env_set_maxdbs(env, opts.max_dbs)) != 0) return fail(rc, "cannot set max_dbs");
  if ((rc = mdb_env_set_maxreaders(env, opts.max_readers)) != 0) {
    return fail(rc, "cannot set max_readers");
  }
  // MDB_NOTLS: read transactions belong to the Txn object, not the thread (they may move between
  // threads, and one thread may hold several). Never MDB_NOMEMINIT, never MDB_WRITEMAP.
  unsigned flags = MDB_NOTLS;
  if (!opts.sync) flags |= MDB_NOSYNC;
  if ((rc = mdb_env_open(env, dir.c_str(), flags, 0600)) != 0) {
    return fail(rc, "cannot open LMDB environment");
  }
  auto state = std::make_unique<State>();
  state->env = env;
  return Env(std::move(state));
}

Status Env::copy_to(const std::filesystem::path& dir) const {
  if (!state_ || state_->env == nullptr) return ended_error("copy_to");
  if (int rc = mdb_env_copy2(state_->env, dir.c_str(), MDB_CP_COMPACT); rc != 0) {
    return lmdb_error(rc, "cannot copy the LMDB environment to " + dir.string(), state_->env);
  }
  return {};
}

Result<Txn> Env::begin_read() const {
  if (!state_ || state_->env == nullptr) return ended_error("begin_read");
  MDB_txn* txn = nullptr;
  if (int rc = mdb_txn_begin(state_->env, nullptr, MDB_RDONLY, &txn); rc != 0) {
    return lmdb_error(rc, "cannot begin a read transaction", state_->env);
  }
  auto s = std::make_shared<Txn::State>();
  s->txn = txn;
  s->write = false;
  s->env = state_.get();
  ++state_->live_txns;
  return Txn(std::move(s));
}

Result<Txn> Env::begin_write() {
  if (!state_ || state_->env == nullptr) return ended_error("begin_write");
  if (state_->writer.load() == std::this_thread::get_id()) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "cannot begin a write transaction: this thread already holds the "
                      "environment's only write transaction (waiting would deadlock)");
  }
  MDB_txn* txn = nullptr;
  if (int rc = mdb_txn_begin(state_->env, nullptr, 0, &txn); rc != 0) {
    return lmdb_error(rc, "cannot begin a write transaction", state_->env);
  }
  state_->writer.store(std::this_thread::get_id());
  auto s = std::make_shared<Txn::State>();
  s->txn = txn;
  s->write = true;
  s->env = state_.get();
  ++state_->live_txns;
  return Txn(std::move(s));
}

// ---------------------------------------------------------------------------------------------
// Txn

Txn::Txn(std::shared_ptr<State> state) : state_(std::move(state)) {}

Txn::Txn(Txn&& other) noexcept = default;

Txn& Txn::operator=(Txn&& other) noexcept {
  if (this != &other) {
    abort();
    state_ = std::move(other.state_);
  }
  return *this;
}

Txn::~Txn() { abort(); }

void Txn::abort() {
  if (state_) state_->end(/*commit=*/false);
}

Status Txn::commit() {
  if (!state_ || state_->txn == nullptr) return ended_error("commit");
  MDB_env* env = mdb_txn_env(state_->txn);
  const bool write = state_->write;
  if (int rc = state_->end(/*commit=*/true); rc != 0) {
    return lmdb_error(
        rc, write ? "cannot commit a write transaction" : "cannot end a read transaction", env);
  }
  return {};
}

bool Txn::is_write() const { return state_ && state_->write; }

Result<Txn> Txn::begin_child() {
  if (!state_ || state_->txn == nullptr) return ended_error("begin_child");
  if (!state_->write) {
    return make_error(ErrorCode::kFailedPrecondition, "begin_child: only a write transaction has children");
  }
  MDB_txn* child = nullptr;
  if (int rc = mdb_txn_begin(mdb_txn_env(state_->txn), state_->txn, 0, &child); rc != 0) {
    return lmdb_error(rc, "cannot begin a nested transaction", mdb_txn_env(state_->txn));
  }
  auto s = std::make_shared<Txn::State>();
  s->txn = child;
  s->write = true;
  s->nested = true;
  s->env = state_->env;
  ++state_->env->live_txns;
  return Txn(std::move(s));
}

Result<Dbi> Txn::open_db(std::string_view name, bool create) {
  if (!state_ || state_->txn == nullptr) return ended_error("open_db");
  if (name.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "open_db: the database name is empty");
  }
  if (create && !state_->write) {
    return make_error(
        ErrorCode::kFailedPrecondition,
        "open_db: creating database '" + std::string(name) + "' needs a write transaction");
  }
  const std::string n(name);
  MDB_dbi dbi = 0;
  int rc = mdb_dbi_open(state_->txn, n.c_str(), create ? MDB_CREATE : 0u, &dbi);
  if (rc == MDB_NOTFOUND) {
    return make_error(ErrorCode::kNotFound, "database '" + n + "' does not exist");
  }
  if (rc != 0) {
    return lmdb_error(rc, "cannot open database '" + n + "'", mdb_txn_env(state_->txn));
  }
  return Dbi{dbi};
}

Result<std::optional<std::string_view>> Txn::get(Dbi dbi, std::string_view key) const {
  if (!state_ || state_->txn == nullptr) return ended_error("get");
  MDB_val k = to_val(key);
  MDB_val v{};
  int rc = mdb_get(state_->txn, dbi.handle, &k, &v);
  if (rc == MDB_NOTFOUND) return std::optional<std::string_view>();
  if (rc != 0) return lmdb_error(rc, "get failed");
  return std::optional<std::string_view>(to_view(v));
}

Status Txn::put(Dbi dbi, std::string_view key, std::string_view value, bool no_overwrite) {
  if (!state_ || state_->txn == nullptr) return ended_error("put");
  if (!state_->write) {
    return make_error(ErrorCode::kFailedPrecondition, "put in a read-only transaction");
  }
  MDB_val k = to_val(key);
  MDB_val v = to_val(value);
  int rc = mdb_put(state_->txn, dbi.handle, &k, &v, no_overwrite ? MDB_NOOVERWRITE : 0u);
  if (rc == MDB_KEYEXIST) {
    return make_error(ErrorCode::kAlreadyExists, "put: the key exists and no_overwrite is set");
  }
  if (rc != 0) return lmdb_error(rc, "put failed", mdb_txn_env(state_->txn));
  return {};
}

Status Txn::append(Dbi dbi, std::string_view key, std::string_view value) {
  if (!state_ || state_->txn == nullptr) return ended_error("append");
  if (!state_->write) {
    return make_error(ErrorCode::kFailedPrecondition, "append in a read-only transaction");
  }
  MDB_val k = to_val(key);
  MDB_val v = to_val(value);
  int rc = mdb_put(state_->txn, dbi.handle, &k, &v, MDB_APPEND);
  if (rc == MDB_KEYEXIST) {
    return make_error(ErrorCode::kInvalidArgument, "append: key not greater than the last key");
  }
  if (rc != 0) return lmdb_error(rc, "append failed", mdb_txn_env(state_->txn));
  return {};
}

Status Txn::clear(Dbi dbi) {
  if (!state_ || state_->txn == nullptr) return ended_error("clear");
  if (!state_->write) {
    return make_error(ErrorCode::kFailedPrecondition, "clear in a read-only transaction");
  }
  if (int rc = mdb_drop(state_->txn, dbi.handle, 0); rc != 0) {
    return lmdb_error(rc, "clear failed", mdb_txn_env(state_->txn));
  }
  return {};
}

Result<bool> Txn::del(Dbi dbi, std::string_view key) {
  if (!state_ || state_->txn == nullptr) return ended_error("del");
  if (!state_->write) {
    return make_error(ErrorCode::kFailedPrecondition, "del in a read-only transaction");
  }
  MDB_val k = to_val(key);
  int rc = mdb_del(state_->txn, dbi.handle, &k, nullptr);
  if (rc == MDB_NOTFOUND) return false;
  if (rc != 0) return lmdb_error(rc, "del failed", mdb_txn_env(state_->txn));
  return true;
}

Result<size_t> Txn::count(Dbi dbi) const {
  if (!state_ || state_->txn == nullptr) return ended_error("count");
  MDB_stat st{};
  if (int rc = mdb_stat(state_->txn, dbi.handle, &st); rc != 0) {
    return lmdb_error(rc, "count failed");
  }
  return static_cast<size_t>(st.ms_entries);
}

Result<Cursor> Txn::cursor(Dbi dbi) const {
  if (!state_ || state_->txn == nullptr) return ended_error("cursor");
  MDB_cursor* c = nullptr;
  if (int rc = mdb_cursor_open(state_->txn, dbi.handle, &c); rc != 0) {
    return lmdb_error(rc, "cannot open a cursor");
  }
  return Cursor(state_, c);
}

Status Txn::for_each_prefix(
    Dbi dbi, std::string_view prefix,
    const std::function<bool(std::string_view key, std::string_view value)>& fn) const {
  Result<Cursor> c = cursor(dbi);
  if (!c.ok()) return c.error();
  if (Status s = c->seek(prefix); !s.ok()) return s;
  while (c->valid() && c->key().starts_with(prefix)) {
    if (!fn(c->key(), c->value())) break;
    if (Status s = c->next(); !s.ok()) return s;
  }
  return {};
}

// ---------------------------------------------------------------------------------------------
// Cursor

Cursor::Cursor(std::shared_ptr<Txn::State> txn, MDB_cursor* cursor)
    : txn_(std::move(txn)), cursor_(cursor) {}

Cursor::Cursor(Cursor&& other) noexcept
    : txn_(std::move(other.txn_)),
      cursor_(std::exchange(other.cursor_, nullptr)),
      key_(other.key_),
      value_(other.value_),
      valid_(std::exchange(other.valid_, false)) {}

Cursor& Cursor::operator=(Cursor&& other) noexcept {
  if (this != &other) {
    close();
    txn_ = std::move(other.txn_);
    cursor_ = std::exchange(other.cursor_, nullptr);
    key_ = other.key_;
    value_ = other.value_;
    valid_ = std::exchange(other.valid_, false);
  }
  return *this;
}

Cursor::~Cursor() { close(); }

void Cursor::close() {
  if (cursor_ == nullptr) return;
  // LMDB frees a write transaction's cursors when the transaction ends; a read transaction's
  // cursors must be closed by us, before or after it ends.
  if (!(txn_->write && txn_->txn == nullptr)) mdb_cursor_close(cursor_);
  cursor_ = nullptr;
  valid_ = false;
}

Status Cursor::move(MDB_val* key, MDB_cursor_op op, const char* what) {
  if (cursor_ == nullptr || txn_->txn == nullptr) {
    valid_ = false;
    return ended_error(what);
  }
  MDB_val k = key != nullptr ? *key : MDB_val{};
  MDB_val v{};
  int rc = mdb_cursor_get(cursor_, &k, &v, op);
  if (rc == MDB_NOTFOUND) {
    valid_ = false;
    return {};
  }
  if (rc != 0) {
    valid_ = false;
    return lmdb_error(rc, std::string("cursor ") + what + " failed");
  }
  key_ = to_view(k);
  value_ = to_view(v);
  valid_ = true;
  return {};
}

Status Cursor::seek(std::string_view key) {
  if (key.empty()) return first();  // LMDB refuses an empty key; every key is >= ""
  MDB_val k = to_val(key);
  return move(&k, MDB_SET_RANGE, "seek");
}

Status Cursor::first() { return move(nullptr, MDB_FIRST, "first"); }

Status Cursor::next() {
  if (!valid_) {
    return make_error(ErrorCode::kFailedPrecondition, "cursor next: the cursor is not positioned");
  }
  return move(nullptr, MDB_NEXT, "next");
}

std::string_view Cursor::key() const {
  if (!valid_ || txn_->txn == nullptr) throw std::logic_error("Cursor::key() on an invalid cursor");
  return key_;
}

std::string_view Cursor::value() const {
  if (!valid_ || txn_->txn == nullptr) {
    throw std::logic_error("Cursor::value() on an invalid cursor");
  }
  return value_;
}

}  // namespace mash
