// Which agencies are connected to this broker right now. The agency id always comes from the
// agent's verified certificate. One live connection per agency: registering a second one hands
// back the first so the caller can close it.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace mash {
class LinkSession;
}

namespace mash::broker {

struct ConnectedAgent {
  std::string agency;
  std::string peer;       // address:port
  std::string software;   // from the agent's Hello
  std::chrono::system_clock::time_point since;
  std::chrono::system_clock::time_point certificate_expires;  // the agent's certificate's notAfter
};

class AgentRegistry {
 public:
  // Records `session` as the connection for `agency`; returns the connection it replaces, if any.
  std::shared_ptr<LinkSession> add(const ConnectedAgent& agent, std::shared_ptr<LinkSession> session);
  // Forgets `agency` only if `session` is still its current connection (a replaced connection
  // closing late must not remove its successor).
  void remove(const std::string& agency, const LinkSession* session);

  std::vector<ConnectedAgent> snapshot() const;
  bool is_connected(const std::string& agency) const;
  size_t size() const;
  std::shared_ptr<LinkSession> session(const std::string& agency) const;

 private:
  struct Entry {
    ConnectedAgent info;
    std::shared_ptr<LinkSession> session;
  };
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> agents_;
};

}  // namespace mash::broker
