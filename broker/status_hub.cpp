#include "status_hub.h"

#include <algorithm>

namespace mash::broker {

bool StatusHub::watch(std::shared_ptr<EventStream> stream, Watcher watcher) {
  std::lock_guard lock(mu_);
  std::erase_if(entries_, [](const Entry& e) { return e.stream->closed(); });
  if (entries_.size() >= max_watchers_) return false;
  size_t mine = static_cast<size_t>(
      std::count_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.watcher.who.user_id == watcher.who.user_id; }));
  if (mine >= max_per_user_) return false;
  entries_.push_back({std::move(stream), std::move(watcher)});
  return true;
}

void StatusHub::publish(const std::string& enquiry, const std::string& owner, const std::string& team,
                        const char* event, const nlohmann::json& data) {
  const std::string text = data.dump();
  std::vector<std::shared_ptr<EventStream>> targets;
  {
    std::lock_guard lock(mu_);
    std::erase_if(entries_, [](const Entry& e) { return e.stream->closed(); });
    for (const auto& e : entries_) {
      if (!e.watcher.enquiry.empty() && e.watcher.enquiry != enquiry) continue;
      if (may_see(owner, team, e.watcher.who)) targets.push_back(e.stream);
    }
  }
  for (auto& s : targets) s->push(event, text);
}

size_t StatusHub::watchers() const {
  std::lock_guard lock(mu_);
  return static_cast<size_t>(std::count_if(entries_.begin(), entries_.end(), [](const Entry& e) { return !e.stream->closed(); }));
}

}  // namespace mash::broker
