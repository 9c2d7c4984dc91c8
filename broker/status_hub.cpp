#include "status_hub.h"

#include <algorithm>

namespace mash::broker {

bool StatusHub::watch(std::shared_ptr<EventStream> stream, Watcher who) {
  std::lock_guard lock(mu_);
  std::erase_if(entries_, [](const Entry& e) { return e.stream->closed(); });
  if (entries_.size() >= max_watchers_) return false;
  size_t mine = static_cast<size_t>(
      std::count_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.who.user_id == who.user_id; }));
  if (mine >= max_per_user_) return false;
  entries_.push_back({std::move(stream), std::move(who)});
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
      if (!e.who.enquiry.empty() && e.who.enquiry != enquiry) continue;
      bool may = (e.who.role == "researcher" && e.who.user_id == owner) ||
                 (e.who.role == "manager" && !team.empty() && e.who.team == team);
      if (may) targets.push_back(e.stream);
    }
  }
  for (auto& s : targets) s->push(event, text);
}

size_t StatusHub::watchers() const {
  std::lock_guard lock(mu_);
  return static_cast<size_t>(std::count_if(entries_.begin(), entries_.end(), [](const Entry& e) { return !e.stream->closed(); }));
}

}  // namespace mash::broker
