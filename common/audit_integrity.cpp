// The audit log's integrity while it runs: damage to a stored record is found and fails the log
// closed (AuditLog::healthy() names the record; appends and checkpoints are refused), instead of
// new checkpoints being signed over it.
#include <chrono>

#include "audit_log.h"
#include "audit_store_layout.h"

namespace mash {

using namespace audit_layout;

Status AuditLog::check_records(const Txn& txn, uint64_t from, uint64_t to) const {
  merkle::Hasher hasher;
  DbNodes nodes(txn, nodes_);
  try {
    for (uint64_t i = from; i < to; ++i) {
      auto v = txn.get(leaves_, be64(i));
      if (!v.ok()) return v.error();
      if (!*v) return make_error(ErrorCode::kDataLoss, "audit store damaged: record " + std::to_string(i) + " is missing");
      if (hasher.leaf(bytes_of(**v)) != nodes.node(0, i)) {
        return make_error(ErrorCode::kDataLoss, "audit store damaged: record " + std::to_string(i) +
                                                    " does not match its hash in the tree (changed on disk?)");
      }
    }
  } catch (const std::runtime_error& e) {
    return make_error(ErrorCode::kDataLoss, std::string("audit store damaged: ") + e.what());
  }
  return {};
}

Status AuditLog::check_new_records() const {
  auto txn = env_.begin_read();
  if (!txn.ok()) return txn.error();
  if (auto st = check_records(*txn, checkpoint_size_, size_); !st.ok()) return st;
  try {
    if (merkle::root(DbNodes(*txn, nodes_), size_) != frontier_root(size_)) {
      return make_error(ErrorCode::kDataLoss, "audit store damaged: the stored tree does not hash to the records written "
                                              "(size " + std::to_string(size_) + ")");
    }
  } catch (const std::runtime_error& e) {
    return make_error(ErrorCode::kDataLoss, std::string("audit store damaged: ") + e.what());
  }
  return {};
}

void AuditLog::set_damaged(const Error& e) {
  {
    std::lock_guard lock(mutex_);
    if (!damaged_.ok()) return;
    damaged_ = e;
  }
  if (options_.on_verify) options_.on_verify("damaged", verified_.load(), size(), e.message);
}

void AuditLog::verify_all(uint64_t size, merkle::Hash root) {
  // Every record up to the checkpoint found at open: its bytes hash to its leaf node, and all of
  // them to the signed root. A chunk per read transaction, so a long store never pins a reader.
  merkle::Hasher hasher;
  std::vector<merkle::Hash> frontier(64);
  auto notify = [&](const char* event, const std::string& detail) {
    if (options_.on_verify) options_.on_verify(event, verified_.load(), size, detail);
  };
  const uint64_t step = std::max<uint64_t>(size / 10, 50'000);
  uint64_t next_report = step;
  constexpr uint64_t kChunk = 4096;
  for (uint64_t from = 0; from < size && !verify_stop_; from += kChunk) {
    auto txn = env_.begin_read();
    if (!txn.ok()) {
      notify("progress", "stopped: " + txn.error().message);
      return;  // not damage: verification could not go on (the reader table is full, say)
    }
    const uint64_t to = std::min(size, from + kChunk);
    if (auto st = check_records(*txn, from, to); !st.ok()) {
      set_damaged(st.error());
      verify_done_ = true;
      return;
    }
    for (uint64_t i = from; i < to; ++i) {
      auto v = txn->get(leaves_, be64(i));
      merkle::Hash h = hasher.leaf(bytes_of(**v));  // present: checked above
      uint64_t k = i;
      unsigned level = 0;
      while (k & 1) {
        h = hasher.node(frontier[level], h);
        ++level;
        k >>= 1;
      }
      frontier[level] = h;
    }
    verified_ = to;
    if (to >= next_report && to < size) {
      notify("progress", "");
      next_report += step;
    }
  }
  if (verify_stop_) return;
  bool have = false;
  merkle::Hash r{};
  for (unsigned level = 0; level < 64; ++level) {
    if (!(size & (uint64_t{1} << level))) continue;
    r = have ? merkle::node_hash(frontier[level], r) : frontier[level];
    have = true;
  }
  if (r != root) {
    set_damaged(make_error(ErrorCode::kDataLoss, "audit store damaged: the records do not hash to the signed "
                                                 "checkpoint at size " + std::to_string(size)));
    verify_done_ = true;
    return;
  }
  verify_done_ = true;
  notify("verified", "");
}

}  // namespace mash
