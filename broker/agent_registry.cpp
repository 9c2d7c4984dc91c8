#include "agent_registry.h"

#include <algorithm>

namespace mash::broker {

std::shared_ptr<LinkSession> AgentRegistry::add(const ConnectedAgent& agent,
                                                std::shared_ptr<LinkSession> session) {
  std::lock_guard lock(mutex_);
  auto& entry = agents_[agent.agency];
  auto previous = std::move(entry.session);
  entry.info = agent;
  entry.session = std::move(session);
  return previous;
}

void AgentRegistry::remove(const std::string& agency, const LinkSession* session) {
  std::lock_guard lock(mutex_);
  auto it = agents_.find(agency);
  if (it != agents_.end() && it->second.session.get() == session) agents_.erase(it);
}

std::vector<ConnectedAgent> AgentRegistry::snapshot() const {
  std::lock_guard lock(mutex_);
  std::vector<ConnectedAgent> out;
  out.reserve(agents_.size());
  for (const auto& [id, entry] : agents_) out.push_back(entry.info);
  std::sort(out.begin(), out.end(),
            [](const ConnectedAgent& a, const ConnectedAgent& b) { return a.agency < b.agency; });
  return out;
}

bool AgentRegistry::is_connected(const std::string& agency) const {
  std::lock_guard lock(mutex_);
  return agents_.count(agency) != 0;
}

size_t AgentRegistry::size() const {
  std::lock_guard lock(mutex_);
  return agents_.size();
}

std::shared_ptr<LinkSession> AgentRegistry::session(const std::string& agency) const {
  std::lock_guard lock(mutex_);
  auto it = agents_.find(agency);
  return it == agents_.end() ? nullptr : it->second.session;
}

}  // namespace mash::broker
