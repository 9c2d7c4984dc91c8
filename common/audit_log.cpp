#include "audit_log.h"

#include "audit_store_layout.h"

#include <future>
#include <stdexcept>

namespace mash {

using namespace audit_layout;

namespace {

bool has_nul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

}  // namespace

std::string be64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 7; i >= 0; --i) {
    s[static_cast<size_t>(i)] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return s;
}

uint64_t from_be64(std::string_view s) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < s.size(); ++i) v = (v << 8) | static_cast<uint8_t>(s[i]);
  return v;
}

AuditLog::AuditLog(Env env, AuditLogOptions options, SigningKey key)
    : env_(std::move(env)), options_(std::move(options)), signer_(options_.origin, std::move(key)) {}

Result<std::unique_ptr<AuditLog>> AuditLog::open(const std::filesystem::path& dir,
                                                 AuditLogOptions options, SigningKey key) {
  if (options.origin.empty() || options.origin.find('\n') != std::string::npos ||
      options.origin.find(' ') != std::string::npos) {
    return make_error(ErrorCode::kInvalidArgument, "audit log origin must be one word");
  }
  EnvOptions env_options;
  env_options.map_size = options.map_size;
  env_options.max_dbs = 8;
  env_options.sync = options.sync;
  env_options.max_readers = options.max_readers;
  auto env = Env::open(dir, env_options);
  if (!env.ok()) return env.error();
  std::unique_ptr<AuditLog> log(new AuditLog(std::move(env).value(), std::move(options), std::move(key)));
  if (auto st = log->load(); !st.ok()) return st.error();
  log->last_checkpoint_time_ = std::chrono::steady_clock::now();
  log->writer_ = std::thread([raw = log.get()] { raw->run(); });
  if (log->options_.verify_at_open && log->checkpoint_size_ > 0) {
    log->verifier_ = std::thread([raw = log.get(), size = log->checkpoint_size_, root = log->checkpoint_root_] {
      raw->verify_all(size, root);
    });
  } else {
    log->verify_done_ = true;
  }
  return log;
}

Status AuditLog::load() {
  auto txn = env_.begin_write();
  if (!txn.ok()) return txn.error();
  for (auto [dbi, name] : {std::pair{&leaves_, "leaves"}, {&nodes_, "nodes"}, {&checkpoints_, "checkpoints"},
                           {&index_, "index"}, {&meta_, "meta"}}) {
    auto d = txn->open_db(name, true);
    if (!d.ok()) return d.error();
    *dbi = *d;
  }
  auto size = txn->get(meta_, "size");
  if (!size.ok()) return size.error();
  size_ = *size ? from_be64(**size) : 0;
  auto origin = txn->get(meta_, "origin");
  if (!origin.ok()) return origin.error();
  if (*origin && **origin != options_.origin) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "audit store belongs to origin '" + std::string(**origin) + "', not '" + options_.origin + "'");
  }
  if (!*origin) {
    if (auto st = txn->put(meta_, "origin", options_.origin); !st.ok()) return st;
  }
  // Rebuild the right edge from the perfect subtrees that make up the tree.
  frontier_.assign(64, merkle::Hash{});
  try {
    DbNodes nodes(*txn, nodes_);
    uint64_t start = 0;
    for (int level = 63; level >= 0; --level) {
      if (size_ & (uint64_t{1} << level)) {
        frontier_[static_cast<size_t>(level)] = nodes.node(static_cast<unsigned>(level), start >> level);
        start += uint64_t{1} << level;
      }
    }
    // The newest checkpoint must describe this very tree.
    auto cur = txn->cursor(checkpoints_);
    if (!cur.ok()) return cur.error();
    Status last = cur->first();
    std::string note;
    while (last.ok() && cur->valid()) {
      note = std::string(cur->value());
      last = cur->next();
    }
    if (!note.empty()) {
      NoteVerifier verifier(options_.origin, signer_.verify_key());
      auto c = verifier.verify(note, options_.origin);
      if (!c.ok()) return make_error(ErrorCode::kDataLoss, "audit store: latest " + c.error().message);
      if (c->size > size_ || merkle::root(nodes, c->size) != c->root) {
        return make_error(ErrorCode::kDataLoss,
                          "audit store: the latest checkpoint (size " + std::to_string(c->size) +
                              ") does not match the stored tree (size " + std::to_string(size_) +
                              "); refusing to append to a log whose history changed");
      }
      checkpoint_size_ = c->size;
      checkpoint_root_ = c->root;
      latest_checkpoint_ = note;
    }
  } catch (const std::runtime_error& e) {
    return make_error(ErrorCode::kDataLoss, std::string("audit store: ") + e.what());
  }
  // The records since the checkpoint are not covered by its signature: checked now. Damage
  // fails the log closed (it stays open for reading and verification).
  if (auto st = check_records(*txn, checkpoint_size_, size_); !st.ok()) damaged_ = st;
  if (auto st = txn->commit(); !st.ok()) return st;
  durable_size_ = size_;
  return {};
}

AuditLog::~AuditLog() {
  verify_stop_ = true;
  if (verifier_.joinable()) verifier_.join();
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (writer_.joinable()) writer_.join();
}

void AuditLog::append_async(std::string record, std::vector<IndexKey> keys,
                            std::function<void(Result<uint64_t>)> done) {
  auto refuse = [&](const std::string& why) { done(make_error(ErrorCode::kInvalidArgument, why)); };
  if (record.empty() || record.size() > options_.max_record_bytes) {
    return refuse("audit record must be 1 to " + std::to_string(options_.max_record_bytes) + " bytes");
  }
  if (keys.size() > options_.max_index_keys) return refuse("too many index keys");
  for (const auto& [name, value] : keys) {
    if (name.empty() || name.size() > 64 || value.size() > 256 || has_nul(name) || has_nul(value)) {
      return refuse("invalid index key");
    }
  }
  {
    std::unique_lock lock(mutex_);
    if (!damaged_.ok()) {
      Error e = damaged_.error();
      lock.unlock();
      done(e);  // fail closed: nothing more goes into a log found damaged
      return;
    }
    if (stopping_) {
      done(make_error(ErrorCode::kUnavailable, "audit log is closing"));
      return;
    }
    queue_.push_back(Pending{std::move(record), std::move(keys), std::move(done)});
  }
  wake_.notify_one();
}

Result<uint64_t> AuditLog::append(std::string record, std::vector<IndexKey> keys) {
  std::promise<Result<uint64_t>> promise;
  auto future = promise.get_future();
  append_async(std::move(record), std::move(keys),
               [&promise](Result<uint64_t> r) { promise.set_value(std::move(r)); });
  return future.get();
}

void AuditLog::run() {
  std::vector<Pending> batch;
  for (;;) {
    bool stop = false, requested = false;
    {
      std::unique_lock lock(mutex_);
      auto ready = [&] { return stopping_ || checkpoint_requested_ || !queue_.empty(); };
      if (size_ > checkpoint_size_) {
        wake_.wait_until(lock, last_checkpoint_time_ + options_.checkpoint_interval, ready);
      } else {
        wake_.wait(lock, ready);
      }
      while (!queue_.empty() && batch.size() < options_.max_batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      stop = stopping_ && queue_.empty();
      requested = checkpoint_requested_ && queue_.empty();
    }
    if (!batch.empty()) {
      write_batch(batch);
      batch.clear();
    }
    bool due = std::chrono::steady_clock::now() - last_checkpoint_time_ >= options_.checkpoint_interval;
    if (size_ > checkpoint_size_ && (due || stop || requested) && integrity().ok()) {
      // Nothing is signed that does not hash to the tree: a damaged record fails the log closed.
      if (auto st = check_new_records(); !st.ok()) {
        set_damaged(st.error());
      } else if (auto st = write_checkpoint(); !st.ok()) {
        std::lock_guard lock(mutex_);
        health_ = st;
      }
    }
    if (requested) {
      std::lock_guard lock(mutex_);
      checkpoint_requested_ = false;
      checkpoint_done_.notify_all();
    }
    if (stop) return;
  }
}

void AuditLog::write_batch(std::vector<Pending>& batch) {
  if (Status d = integrity(); !d.ok()) {
    for (auto& p : batch) p.done(d.error());
    return;
  }
  auto saved_frontier = frontier_;
  uint64_t saved_size = size_;
  auto fail = [&](const Error& e) {
    frontier_ = saved_frontier;
    size_ = saved_size;
    Error err = make_error(e.code == ErrorCode::kInvalidArgument ? ErrorCode::kInternal : e.code,
                           "audit record not written: " + e.message);
    {
      std::lock_guard lock(mutex_);
      health_ = err;
    }
    for (auto& p : batch) p.done(err);
  };
  auto txn = env_.begin_write();
  if (!txn.ok()) return fail(txn.error());
  merkle::Hasher hasher;
  std::vector<uint64_t> indexes;
  indexes.reserve(batch.size());
  for (auto& p : batch) {
    uint64_t idx = size_;
    if (auto st = txn->put(leaves_, be64(idx), p.record); !st.ok()) return fail(st.error());
    merkle::Hash h = hasher.leaf(bytes_of(p.record));
    uint64_t i = idx;
    unsigned level = 0;
    if (auto st = txn->put(nodes_, node_key(0, i), as_view(h)); !st.ok()) return fail(st.error());
    while (i & 1) {
      h = hasher.node(frontier_[level], h);
      ++level;
      i >>= 1;
      if (auto st = txn->put(nodes_, node_key(level, i), as_view(h)); !st.ok()) return fail(st.error());
    }
    frontier_[level] = h;
    for (const auto& [name, value] : p.keys) {
      std::string key = name + '\0' + value + '\0' + be64(idx);
      if (auto st = txn->put(index_, key, ""); !st.ok()) return fail(st.error());
    }
    ++size_;
    indexes.push_back(idx);
  }
  if (auto st = txn->put(meta_, "size", be64(size_)); !st.ok()) return fail(st.error());
  if (auto st = txn->commit(); !st.ok()) return fail(st.error());
  {
    std::lock_guard lock(mutex_);
    durable_size_ = size_;
    health_ = Status();
  }
  for (size_t k = 0; k < batch.size(); ++k) batch[k].done(indexes[k]);
}

merkle::Hash AuditLog::frontier_root(uint64_t size) const {
  bool have = false;
  merkle::Hash r{};
  for (unsigned level = 0; level < 64; ++level) {
    if (!(size & (uint64_t{1} << level))) continue;
    r = have ? merkle::node_hash(frontier_[level], r) : frontier_[level];
    have = true;
  }
  return have ? r : merkle::empty_root();
}

Status AuditLog::write_checkpoint() {
  Checkpoint c{options_.origin, size_, frontier_root(size_)};
  std::string note = signer_.sign(c);
  auto txn = env_.begin_write();
  if (!txn.ok()) return txn.error();
  if (auto st = txn->put(checkpoints_, be64(size_), note); !st.ok()) return st;
  if (auto st = txn->commit(); !st.ok()) return st;
  last_checkpoint_time_ = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  checkpoint_size_ = size_;
  latest_checkpoint_ = note;
  return {};
}

Result<std::string> AuditLog::checkpoint_now() {
  std::unique_lock lock(mutex_);
  checkpoint_requested_ = true;
  wake_.notify_one();
  if (!checkpoint_done_.wait_for(lock, std::chrono::seconds(30), [&] { return !checkpoint_requested_; })) {
    return make_error(ErrorCode::kUnavailable, "audit log writer did not make a checkpoint");
  }
  if (!damaged_.ok()) return damaged_.error();
  if (!health_.ok()) return health_.error();
  if (latest_checkpoint_.empty()) return make_error(ErrorCode::kFailedPrecondition, "audit log is empty");
  return latest_checkpoint_;
}

Status AuditLog::healthy() const {
  std::lock_guard lock(mutex_);
  if (!damaged_.ok()) return damaged_;
  return health_;
}

Status AuditLog::integrity() const {
  std::lock_guard lock(mutex_);
  return damaged_;
}

uint64_t AuditLog::size() const {
  std::lock_guard lock(mutex_);
  return durable_size_;
}

Result<std::string> AuditLog::record(uint64_t index) const {
  if (index >= size()) return make_error(ErrorCode::kNotFound, "no audit record " + std::to_string(index));
  auto txn = env_.begin_read();
  if (!txn.ok()) return txn.error();
  auto v = txn->get(leaves_, be64(index));
  if (!v.ok()) return v.error();
  if (!*v) return make_error(ErrorCode::kDataLoss, "audit record " + std::to_string(index) + " is missing");
  return std::string(**v);
}

Result<std::string> AuditLog::latest_checkpoint() const {
  std::lock_guard lock(mutex_);
  if (latest_checkpoint_.empty()) return make_error(ErrorCode::kNotFound, "no checkpoint yet");
  return latest_checkpoint_;
}

Result<std::string> AuditLog::checkpoint_at(uint64_t size) const {
  auto txn = env_.begin_read();
  if (!txn.ok()) return txn.error();
  auto v = txn->get(checkpoints_, be64(size));
  if (!v.ok()) return v.error();
  if (!*v) return make_error(ErrorCode::kNotFound, "no checkpoint at size " + std::to_string(size));
  return std::string(**v);
}

Result<merkle::Hash> AuditLog::root(uint64_t size) const {
  if (size > this->size()) return make_error(ErrorCode::kInvalidArgument, "tree is smaller than " + std::to_string(size));
  auto txn = env_.begin_read();
  if (!txn.ok()) return txn.error();
  try {
    return merkle::root(DbNodes(*txn, nodes_), size);
  } catch (const std::runtime_error& e) {
    return make_error(ErrorCode::kDataLoss, e.what());
  }
}

Result<std::vector<merkle::Hash>> AuditLog::inclusion_proof(uint64_t index, uint64_t size) const {
  if (index >= size || size > this->size()) {
    return make_error(ErrorCode::kInvalidArgument, "no record " + std::to_string(index) + " in a tree of " + std::to_string(size));
  }
  auto txn = env_.begin_read();
  if (!txn.ok()) return txn.error();
  try {
    return merkle::inclusion_proof(DbNodes(*txn, nodes_), index, size);
  } catch (const std::runtime_error& e) {
    return make_error(ErrorCode::kDataLoss, e.what());
  }
}

Result<std::vector<merkle::Hash>> AuditLog::consistency_proof(uint64_t old_size, uint64_t new_size) const {
  if (old_size > new_size || new_size > this->size()) {
    return make_error(ErrorCode::kInvalidArgument, "no consistency proof from " + std::to_string(old_size) +
                                                       " to " + std::to_string(new_size));
  }
  auto txn = env_.begin_read();
  if (!txn.ok()) return txn.error();
  try {
    return merkle::consistency_proof(DbNodes(*txn, nodes_), old_size, new_size);
  } catch (const std::runtime_error& e) {
    return make_error(ErrorCode::kDataLoss, e.what());
  }
}

namespace {

Result<std::vector<uint64_t>> find_in(const Env& env, Dbi index, std::string_view name, std::string_view value,
                                      size_t limit) {
  std::string prefix = std::string(name) + '\0' + std::string(value) + '\0';
  std::vector<uint64_t> out;
  auto txn = env.begin_read();
  if (!txn.ok()) return txn.error();
  auto st = txn->for_each_prefix(index, prefix, [&](std::string_view key, std::string_view) {
    if (key.size() != prefix.size() + 8) return true;
    out.push_back(from_be64(key.substr(prefix.size())));
    return out.size() < limit;
  });
  if (!st.ok()) return st.error();
  return out;
}

Result<std::vector<uint64_t>> find_range_in(const Env& env, Dbi index, std::string_view name,
                                            std::string_view from, std::string_view to, size_t limit) {
  std::string prefix = std::string(name) + '\0';
  std::vector<uint64_t> out;
  auto txn = env.begin_read();
  if (!txn.ok()) return txn.error();
  auto cur = txn->cursor(index);
  if (!cur.ok()) return cur.error();
  if (auto st = cur->seek(prefix + std::string(from)); !st.ok()) return st.error();
  while (cur->valid() && out.size() < limit) {
    std::string_view key = cur->key();
    if (key.substr(0, prefix.size()) != prefix || key.size() < prefix.size() + 9) break;
    std::string_view value = key.substr(prefix.size(), key.size() - prefix.size() - 9);
    if (value > to) break;
    out.push_back(from_be64(key.substr(key.size() - 8)));
    if (auto st = cur->next(); !st.ok()) return st.error();
  }
  return out;
}

}  // namespace

Result<std::vector<uint64_t>> AuditLog::find(std::string_view name, std::string_view value, size_t limit) const {
  return find_in(env_, index_, name, value, limit);
}

Result<std::vector<uint64_t>> AuditLog::find_range(std::string_view name, std::string_view from,
                                                   std::string_view to, size_t limit) const {
  return find_range_in(env_, index_, name, from, to, limit);
}

Result<std::vector<uint64_t>> AuditReader::find(std::string_view name, std::string_view value, size_t limit) const {
  return find_in(*env_, index_, name, value, limit);
}

Result<std::vector<uint64_t>> AuditReader::find_range(std::string_view name, std::string_view from,
                                                      std::string_view to, size_t limit) const {
  return find_range_in(*env_, index_, name, from, to, limit);
}

namespace {

// An existing store opened for reading: the environment and its databases' handles.
struct StoreHandles {
  std::shared_ptr<Env> env;
  Dbi leaves, nodes, checkpoints, index, meta;
};

Result<StoreHandles> open_existing_store(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::exists(dir / "data.mdb", ec)) {
    return make_error(ErrorCode::kNotFound, dir.string() + ": no audit store here (data.mdb missing)");
  }
  EnvOptions options;
  options.map_size = size_t{8} << 30;
  options.max_dbs = 8;
  auto env = Env::open(dir, options);
  if (!env.ok()) return env.error();
  StoreHandles h;
  h.env = std::make_shared<Env>(std::move(env).value());
  auto txn = h.env->begin_read();
  if (!txn.ok()) return txn.error();
  for (auto [dbi, name] : {std::pair{&h.leaves, "leaves"}, {&h.nodes, "nodes"}, {&h.checkpoints, "checkpoints"},
                           {&h.index, "index"}, {&h.meta, "meta"}}) {
    auto d = txn->open_db(name, false);
    if (!d.ok()) return make_error(ErrorCode::kDataLoss, dir.string() + ": not an audit store (" + name + " missing)");
    *dbi = *d;
  }
  // Database handles opened in a transaction outlive it only if it commits (even a read one).
  if (auto st = txn->commit(); !st.ok()) return st.error();
  return h;
}

}  // namespace

Result<AuditReader> AuditLog::reader() {
  AuditReader r;
  r.env_ = std::shared_ptr<Env>(std::shared_ptr<Env>(), &env_);  // not owned: the log's own
  r.leaves_ = leaves_;
  r.nodes_ = nodes_;
  r.checkpoints_ = checkpoints_;
  r.index_ = index_;
  auto txn = env_.begin_read();
  if (!txn.ok()) return txn.error();
  auto size = txn->get(meta_, "size");
  if (!size.ok()) return size.error();
  r.size_ = *size ? from_be64(**size) : 0;
  r.origin_ = options_.origin;
  return r;
}

Result<AuditReader> AuditReader::open(const std::filesystem::path& dir) {
  auto h = open_existing_store(dir);
  if (!h.ok()) return h.error();
  AuditReader r;
  r.env_ = h->env;
  r.leaves_ = h->leaves;
  r.nodes_ = h->nodes;
  r.checkpoints_ = h->checkpoints;
  r.index_ = h->index;
  auto txn = r.env_->begin_read();
  if (!txn.ok()) return txn.error();
  auto size = txn->get(h->meta, "size");
  auto origin = txn->get(h->meta, "origin");
  if (!size.ok() || !origin.ok()) return make_error(ErrorCode::kDataLoss, dir.string() + ": unreadable metadata");
  r.size_ = *size ? from_be64(**size) : 0;
  r.origin_ = *origin ? std::string(**origin) : "";
  return r;
}

Result<std::string> AuditReader::record(uint64_t index) const {
  auto txn = env_->begin_read();
  if (!txn.ok()) return txn.error();
  auto v = txn->get(leaves_, be64(index));
  if (!v.ok()) return v.error();
  if (!*v) return make_error(ErrorCode::kNotFound, "no audit record " + std::to_string(index));
  return std::string(**v);
}

Result<std::string> AuditReader::latest_checkpoint() const {
  auto txn = env_->begin_read();
  if (!txn.ok()) return txn.error();
  auto cur = txn->cursor(checkpoints_);
  if (!cur.ok()) return cur.error();
  std::string note;
  for (Status st = cur->first(); st.ok() && cur->valid(); st = cur->next()) note = std::string(cur->value());
  if (note.empty()) return make_error(ErrorCode::kNotFound, "no checkpoint");
  return note;
}

Result<std::vector<merkle::Hash>> AuditReader::inclusion_proof(uint64_t index, uint64_t size) const {
  if (index >= size || size > size_) return make_error(ErrorCode::kInvalidArgument, "index outside the tree");
  auto txn = env_->begin_read();
  if (!txn.ok()) return txn.error();
  try {
    return merkle::inclusion_proof(DbNodes(*txn, nodes_), index, size);
  } catch (const std::runtime_error& e) {
    return make_error(ErrorCode::kDataLoss, e.what());
  }
}

Result<AuditVerifyReport> verify_audit_store(const std::filesystem::path& dir,
                                             const NoteVerifier& verifier, std::string_view origin) {
  auto h = open_existing_store(dir);
  if (!h.ok()) return h.error();
  auto txn = h->env->begin_read();
  if (!txn.ok()) return txn.error();
  Dbi leaves = h->leaves, nodes = h->nodes, checkpoints = h->checkpoints, meta = h->meta;
  AuditVerifyReport report;
  auto size_value = txn->get(meta, "size");
  if (!size_value.ok()) return size_value.error();
  uint64_t size = *size_value ? from_be64(**size_value) : 0;
  report.records = size;

  merkle::MemoryTree tree;
  merkle::Hasher hasher;
  // Level-0 nodes are read with a cursor walking alongside the records (sequential, not one
  // B-tree search per record).
  auto node_cur = txn->cursor(nodes);
  if (!node_cur.ok()) return node_cur.error();
  if (auto st = node_cur->seek(node_key(0, 0)); !st.ok()) return st.error();
  auto stored_leaf = [&](uint64_t i) -> std::optional<merkle::Hash> {
    std::string target = node_key(0, i);
    for (int steps = 0; node_cur->valid() && node_cur->key() < target; ++steps) {
      if (steps == 4) {
        if (!node_cur->seek(target).ok()) return std::nullopt;
        break;
      }
      if (!node_cur->next().ok()) return std::nullopt;
    }
    if (!node_cur->valid() || node_cur->key() != target || node_cur->value().size() != 32) return std::nullopt;
    merkle::Hash h;
    std::copy(node_cur->value().begin(), node_cur->value().end(), reinterpret_cast<char*>(h.data()));
    return h;
  };
  auto cur = txn->cursor(leaves);
  if (!cur.ok()) return cur.error();
  if (auto st = cur->first(); !st.ok()) return st.error();
  uint64_t expected = 0;
  auto missing = [&](uint64_t from, uint64_t to) {  // [from, to)
    report.problems.push_back(from + 1 == to ? "record " + std::to_string(from) + " is missing"
                                             : "records " + std::to_string(from) + " to " + std::to_string(to - 1) + " are missing");
    for (uint64_t i = from; i < to; ++i) tree.append(stored_leaf(i).value_or(merkle::Hash{}));
  };
  while (cur->valid()) {
    std::string_view key = cur->key();
    if (key.size() != 8) {
      report.problems.push_back("malformed record key");
    } else {
      uint64_t idx = from_be64(key);
      if (idx >= size) {
        report.problems.push_back("record " + std::to_string(idx) + " lies beyond the tree size " + std::to_string(size));
      } else {
        if (idx > expected) missing(expected, idx);
        merkle::Hash h = hasher.leaf(bytes_of(cur->value()));
        auto stored = stored_leaf(idx);
        if (!stored || *stored != h) {
          report.problems.push_back("record " + std::to_string(idx) + " does not match its leaf hash (changed, or moved from another index)");
        }
        tree.append(h);
        expected = idx + 1;
      }
    }
    if (auto st = cur->next(); !st.ok()) return st.error();
  }
  if (expected < size) missing(expected, size);

  auto cp = txn->cursor(checkpoints);
  if (!cp.ok()) return cp.error();
  if (auto st = cp->first(); !st.ok()) return st.error();
  uint64_t last_good = 0;
  bool reported_mismatch = false;
  while (cp->valid()) {
    ++report.checkpoints;
    uint64_t key_size = cp->key().size() == 8 ? from_be64(cp->key()) : UINT64_MAX;
    auto c = verifier.verify(cp->value(), origin);
    if (!c.ok()) {
      report.problems.push_back("checkpoint at size " + std::to_string(key_size) + ": " + c.error().message);
    } else if (c->size != key_size) {
      report.problems.push_back("checkpoint at size " + std::to_string(key_size) + " is filed under the wrong size");
    } else if (c->size > size) {
      report.problems.push_back("checkpoint at size " + std::to_string(c->size) + " is beyond the stored tree (" +
                                std::to_string(size) + " records): the log was truncated");
    } else if (merkle::root(tree, c->size) != c->root) {
      if (!reported_mismatch) {
        report.problems.push_back("checkpoint at size " + std::to_string(c->size) +
                                  " does not match the records: a record from index " + std::to_string(last_good) +
                                  " to " + std::to_string(c->size - 1) + " was changed, removed or reordered");
        reported_mismatch = true;
      }
    } else {
      last_good = c->size;
    }
    if (auto st = cp->next(); !st.ok()) return st.error();
  }
  if (report.checkpoints == 0 && size > 0) {
    report.problems.push_back("no signed checkpoint: nothing vouches for these records");
  }
  return report;
}

}  // namespace mash
