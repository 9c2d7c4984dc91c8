#include "group_commit.h"

namespace mash {

Status GroupCommit::run(const std::function<Status(Txn&)>& op) {
  Pending mine{&op, {}, false, {}};
  std::unique_lock lock(mu_);
  queue_.push_back(&mine);
  // Wait until done by another leader, or until no one leads.
  while (!mine.done && leading_) mine.cv.wait(lock);
  if (mine.done) return mine.result;
  leading_ = true;
  while (!mine.done) {
    std::deque<Pending*> batch;
    while (!queue_.empty() && batch.size() < max_batch_) {
      batch.push_back(queue_.front());
      queue_.pop_front();
    }
    lock.unlock();
    try {
      execute(batch);
    } catch (...) {
      // Whatever went wrong, no caller may wait for ever: the batch fails as a whole (the
      // shared transaction was aborted by its destructor).
      for (auto* p : batch) p->result = make_error(ErrorCode::kInternal, "the shared commit failed unexpectedly");
    }
    lock.lock();
    ++commits_;
    operations_ += batch.size();
    for (auto* p : batch) {
      p->done = true;
      if (p != &mine) p->cv.notify_one();
    }
  }
  // Hand over: the oldest waiting caller leads the next batch.
  leading_ = false;
  if (!queue_.empty()) queue_.front()->cv.notify_one();
  return mine.result;
}

void GroupCommit::execute(std::deque<Pending*>& batch) {
  auto txn = env_.begin_write();
  if (!txn.ok()) {
    for (auto* p : batch) p->result = txn.error();
    return;
  }
  for (auto* p : batch) {
    auto child = txn->begin_child();
    if (!child.ok()) {
      p->result = child.error();
      continue;
    }
    Status st;
    try {
      st = (*p->op)(*child);
    } catch (const std::exception& e) {
      st = make_error(ErrorCode::kInternal, std::string("write failed: ") + e.what());
    } catch (...) {
      st = make_error(ErrorCode::kInternal, "write failed");
    }
    if (st.ok()) {
      st = child->commit();
    } else {
      child->abort();
    }
    p->result = st;
  }
  if (Status st = txn->commit(); !st.ok()) {
    for (auto* p : batch) {
      if (p->result.ok()) p->result = st;
    }
  }
}

size_t GroupCommit::commits() const {
  std::lock_guard lock(mu_);
  return commits_;
}

size_t GroupCommit::operations() const {
  std::lock_guard lock(mu_);
  return operations_;
}

}  // namespace mash
