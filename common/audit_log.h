// The tamper-evident audit log: an append-only Merkle tree (merkle.h) stored in LMDB, written by
// one group-committing writer thread, with signed checkpoints (signed_note.h). One design serves
// the broker's access audit and every agent's disclosure log.
//
// - append() returns only once the record is durable (a synchronous LMDB commit); concurrent
//   callers share commits, so durability costs one fsync per batch, not per record.
// - Every few seconds while records arrive (and on close), the writer signs a checkpoint of the
//   current tree. Checkpoints are made from the same append-only tree, so each is consistent
//   with every earlier one; open() refuses a store whose latest checkpoint does not match it.
// - Fail closed: if a batch cannot be made durable, every caller in it gets the error, nothing of
//   the batch is kept, and healthy() says why until a later batch succeeds.
// - Records are opaque bytes to the log; callers must not put plaintext personal data in them
//   (see audit_event.h). Each record may carry index keys (name, value) for searching.
//
// Store layout (LMDB databases): leaves (index -> record), nodes ((level, index) -> hash of that
// perfect subtree), checkpoints (size -> signed note), index (name\0value\0index -> ""), meta.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "crypto.h"
#include "lmdb_store.h"
#include "merkle.h"
#include "result.h"
#include "signed_note.h"

namespace mash {

struct AuditLogOptions {
  std::string origin = "mash-audit";        // first line of every checkpoint; also the key name
  std::chrono::milliseconds checkpoint_interval{2000};
  size_t max_record_bytes = 64 * 1024;
  size_t max_index_keys = 64;
  size_t max_batch = 8192;                  // records per commit at most
  size_t map_size = size_t{8} << 30;        // LMDB map (sparse file); the store's size limit
  bool sync = true;                         // false only for benchmarks of the non-durable path
  unsigned max_readers = 126;               // concurrent read transactions (threads reading at once)
  // Integrity while running (audit_integrity.cpp): at open, the records since the last signed
  // checkpoint are checked at once and every earlier one in the background; before each new
  // checkpoint, the records it covers. Told of the background check: event "progress",
  // "verified" or "damaged", records done, records to do, and what was found.
  bool verify_at_open = true;
  std::function<void(const std::string& event, uint64_t done, uint64_t total, const std::string& detail)> on_verify;
};

using IndexKey = std::pair<std::string, std::string>;

class AuditReader;

class AuditLog {
 public:
  static Result<std::unique_ptr<AuditLog>> open(const std::filesystem::path& dir,
                                                AuditLogOptions options, SigningKey key);
  ~AuditLog();  // makes a final checkpoint and stops the writer
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Appends and waits until durable; returns the record's index.
  Result<uint64_t> append(std::string record, std::vector<IndexKey> keys = {});
  // Appends without waiting; `done` runs on the writer thread once durable (or failed).
  void append_async(std::string record, std::vector<IndexKey> keys,
                    std::function<void(Result<uint64_t>)> done);

  // Ok, or why appends fail: the last batch's error, or damage found in the stored records.
  Status healthy() const;
  // Damage found in the stored records (the log then fails closed: every append and checkpoint
  // is refused, naming the record); ok if none has been found.
  Status integrity() const;
  // The background verification: records verified so far, and whether it has finished.
  uint64_t verified() const { return verified_.load(); }
  bool verification_done() const { return verify_done_.load(); }
  uint64_t size() const;  // records durably in the tree

  Result<std::string> record(uint64_t index) const;
  // The newest signed checkpoint (waits for none: may lag behind size()).
  Result<std::string> latest_checkpoint() const;
  // Signs a checkpoint of everything durable now and returns it.
  Result<std::string> checkpoint_now();
  Result<std::string> checkpoint_at(uint64_t size) const;  // a stored checkpoint, by tree size

  Result<merkle::Hash> root(uint64_t size) const;
  Result<std::vector<merkle::Hash>> inclusion_proof(uint64_t index, uint64_t size) const;
  Result<std::vector<merkle::Hash>> consistency_proof(uint64_t old_size, uint64_t new_size) const;

  // Records whose index key `name` has exactly `value`, oldest first, at most `limit`.
  Result<std::vector<uint64_t>> find(std::string_view name, std::string_view value,
                                     size_t limit = 10000) const;
  // Records whose key `name` has a value in [from, to] (byte order), oldest value first.
  Result<std::vector<uint64_t>> find_range(std::string_view name, std::string_view from,
                                           std::string_view to, size_t limit = 10000) const;

  VerifyKey verify_key() const { return signer_.verify_key(); }
  // A reader over the records committed so far, sharing this log's environment (for the DPO's
  // tools in the same process: LMDB must not open one environment twice in a process). It must
  // not outlive the log.
  Result<AuditReader> reader();
  const std::string& origin() const { return options_.origin; }

 private:
  struct Pending {
    std::string record;
    std::vector<IndexKey> keys;
    std::function<void(Result<uint64_t>)> done;
  };
  AuditLog(Env env, AuditLogOptions options, SigningKey key);
  Status load();
  void run();
  void write_batch(std::vector<Pending>& batch);
  Status write_checkpoint();
  merkle::Hash frontier_root(uint64_t size) const;
  // audit_integrity.cpp: each record in [from, to) hashes to its stored leaf node; the stored
  // tree's root at size_ is the writer's; the whole store against the checkpoint at open.
  Status check_records(const Txn& txn, uint64_t from, uint64_t to) const;
  Status check_new_records() const;  // before a checkpoint: [checkpoint_size_, size_) and the root
  void verify_all(uint64_t size, merkle::Hash root);
  void set_damaged(const Error& e);

  Env env_;
  AuditLogOptions options_;
  NoteSigner signer_;
  Dbi leaves_{}, nodes_{}, checkpoints_{}, index_{}, meta_{};

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable checkpoint_done_;
  bool checkpoint_requested_ = false;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  Status health_;
  uint64_t durable_size_ = 0;
  uint64_t checkpoint_size_ = 0;
  std::string latest_checkpoint_;

  // Writer-thread state: the tree's right edge, frontier_[level] = the last perfect node at
  // that level whose index is even (a left child waiting for its sibling).
  std::vector<merkle::Hash> frontier_;
  uint64_t size_ = 0;
  std::chrono::steady_clock::time_point last_checkpoint_time_;  // writer thread only
  std::thread writer_;
  Status damaged_;  // under mutex_
  merkle::Hash checkpoint_root_{};  // of the checkpoint found at open
  std::atomic<bool> verify_stop_{false}, verify_done_{false};
  std::atomic<uint64_t> verified_{0};
  std::thread verifier_;
};

// Read-only access to a store (or a copy) without its signing key: for export and inspection.
class AuditReader {
 public:
  friend class AuditLog;
  static Result<AuditReader> open(const std::filesystem::path& dir);
  uint64_t size() const { return size_; }
  std::string origin() const { return origin_; }
  Result<std::string> record(uint64_t index) const;
  Result<std::string> latest_checkpoint() const;  // kNotFound when there is none
  Result<std::vector<merkle::Hash>> inclusion_proof(uint64_t index, uint64_t size) const;
  // As AuditLog::find and find_range.
  Result<std::vector<uint64_t>> find(std::string_view name, std::string_view value,
                                     size_t limit = 10000) const;
  Result<std::vector<uint64_t>> find_range(std::string_view name, std::string_view from,
                                           std::string_view to, size_t limit = 10000) const;

 private:
  AuditReader() = default;
  std::shared_ptr<Env> env_;
  Dbi leaves_{}, nodes_{}, checkpoints_{}, index_{};
  uint64_t size_ = 0;
  std::string origin_;
};

// Offline verification of a store (or a copy of one): recomputes every leaf and the whole tree,
// checks every checkpoint's signature and root. Problems name record indexes.
struct AuditVerifyReport {
  uint64_t records = 0;
  uint64_t checkpoints = 0;
  std::vector<std::string> problems;
  bool ok() const { return problems.empty(); }
};
Result<AuditVerifyReport> verify_audit_store(const std::filesystem::path& dir,
                                             const NoteVerifier& verifier, std::string_view origin);

// Big-endian helpers for keys.
std::string be64(uint64_t v);
uint64_t from_be64(std::string_view s);

}  // namespace mash
