// Status changes of enquiries, pushed to the browsers and scripts that are watching
// (GET /api/v1/events). Each watcher sees only what need to know lets them see (may_see(), the
// same rule as the API); optionally one enquiry only. Events carry ids,
// agency codes and status codes, never case content.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "enquiry_record.h"
#include "http_server.h"

namespace mash::broker {

struct Watcher {
  EnquiryActor who;
  std::string enquiry;  // empty: every enquiry the watcher may see
};

class StatusHub {
 public:
  // Each stream holds an HTTPS connection, so both limits stay well below the server's
  // connection cap: one user cannot take every connection.
  explicit StatusHub(size_t max_watchers = 256, size_t max_per_user = 8)
      : max_watchers_(max_watchers), max_per_user_(max_per_user) {}
  // False when the hub, or this user's share of it, is full.
  bool watch(std::shared_ptr<EventStream> stream, Watcher who);
  // Sends `event` ("status", ...) with `data` to every watcher that may see this enquiry.
  void publish(const std::string& enquiry, const std::string& owner, const std::string& team, const char* event,
               const nlohmann::json& data);
  size_t watchers() const;

 private:
  struct Entry {
    std::shared_ptr<EventStream> stream;
    Watcher watcher;
  };
  mutable std::mutex mu_;
  std::vector<Entry> entries_;
  size_t max_watchers_, max_per_user_;
};

}  // namespace mash::broker
