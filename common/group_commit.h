// Many writers' small transactions in one durable commit.
//
// Each caller's operation runs in its own nested transaction inside one shared write
// transaction, in arrival order, and the caller returns once that shared transaction is
// committed (synchronously, unless the environment was opened without sync): one fsync for the
// whole batch instead of one per caller. An operation that fails is undone alone and gets its
// own error; if the shared commit fails, every operation in it gets that error and nothing of
// the batch is kept.
//
// The first waiting caller leads: it runs the batch on its own thread while the others wait, so
// there is no extra thread. Each caller sleeps on its own condition variable and is woken only
// when its operation is done or it is its turn to lead (no herd of wake-ups per commit). An operation must not begin another write transaction on the same
// environment (that would deadlock; Env refuses it) and must not keep views past its return.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>

#include "lmdb_store.h"
#include "result.h"

namespace mash {

class GroupCommit {
 public:
  explicit GroupCommit(Env& env, size_t max_batch = 512) : env_(env), max_batch_(max_batch) {}
  GroupCommit(const GroupCommit&) = delete;
  GroupCommit& operator=(const GroupCommit&) = delete;

  Status run(const std::function<Status(Txn&)>& op);

  // Batches committed so far and operations in them (for tests and metrics).
  size_t commits() const;
  size_t operations() const;

 private:
  struct Pending {
    const std::function<Status(Txn&)>* op;
    Status result;
    bool done = false;
    std::condition_variable cv;
  };
  void execute(std::deque<Pending*>& batch);

  Env& env_;
  size_t max_batch_;
  mutable std::mutex mu_;
  std::deque<Pending*> queue_;
  bool leading_ = false;
  size_t commits_ = 0, operations_ = 0;
};

}  // namespace mash
