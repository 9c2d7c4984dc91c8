// Delivery of enquiry copies to the agencies' agents: the durable outbox and what is in flight.
//
// - Each agency's copy of an enquiry waits in the outbox (LMDB table "outbox", key
//   "<agency>/<delivery id>", value the enquiry id; the signed copy itself, which holds the
//   subjects' details, is the case vault item "copy.<agency>", encrypted under the case key)
//   until the agent acknowledges it, answers it, or refuses it for good.
// - Flow control: at most `window` copies per agency are sent and not yet acknowledged. The
//   window is refilled, oldest first, as acknowledgements arrive, when a new copy is queued, when
//   the agent connects and at every sweep; so a backlog of any size drains, and a burst of
//   submissions never floods the link's send queue.
// - The sweep (every second, from main) re-sends copies in flight for longer than
//   `resend_after_ms` (a frame lost with a dropped connection, an acknowledgement the hub could
//   not store) and copies refused for now whose back-off has passed: delivery recovers by itself,
//   without waiting for a reconnection. The agent answers a repeated delivery id with the same
//   answer, so a copy sent twice is answered once.
// - Refused for now (overloaded, audit unavailable, shutting down): the copy leaves the window and
//   goes again after `retry_first_ms`, doubling with each further refusal up to `retry_max_ms`,
//   or at once when the agent reconnects.
// - A copy whose signed frame cannot be read from the vault is logged and treated as refused for
//   now (it may be a damaged record; it is never dropped silently).
//
// What is in flight is memory only: after a restart every queued copy is simply sent again.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "case_vault.h"
#include "lmdb_store.h"
#include "log.h"
#include "result.h"

namespace mash::broker {

struct DeliveryOptions {
  size_t window = 256;               // copies in flight per agency
  int64_t resend_after_ms = 30'000;  // an unacknowledged copy goes again after this long
  int64_t retry_first_ms = 5'000;    // first back-off after a refusal for now
  int64_t retry_max_ms = 300'000;
  size_t max_retrying = 100'000;     // copies remembered as refused for now (beyond: resent on sweep)
};

class Delivery {
 public:
  // Sends one frame to the agency's current connection; false if it is not connected.
  using Send = std::function<bool(const std::string& agency, std::vector<uint8_t> frame)>;

  Delivery(Env& env, CaseVault& vault, Logger log, DeliveryOptions options = {});
  Status open(Txn& txn);  // opens the outbox table (in the caller's start-up transaction)
  void set_sender(Send send);

  // Inside the caller's write: the copy is queued (outbox entry and vault item) ...
  Status put(Txn& txn, const std::string& enquiry, const std::string& agency, const std::string& delivery,
             std::span<const uint8_t> frame);
  // ... or leaves the outbox (delivered, answered, failed) with its vault item ...
  Status drop(Txn& txn, const std::string& enquiry, const std::string& agency, const std::string& delivery);
  // ... or only its outbox entry goes (the case's content, and so the copy, was destroyed).
  Status forget(Txn& txn, const std::string& agency, const std::string& delivery);

  // After the caller's write is committed.
  void queued(const std::string& agency);  // a new copy: sent if the window has room
  // Copies that left the outbox: they leave the window, which is refilled.
  void settled(const std::string& agency, const std::vector<std::string>& deliveries);
  void refused_for_now(const std::string& agency, const std::string& delivery);

  // The agent (re)connected: nothing is in flight on the new connection; the window is filled,
  // and copies waiting after a refusal for now are due at once.
  void connected(const std::string& agency);
  // Re-sends what waited too long and what is due after a refusal, and refills every connected
  // agency's window. Returns how many copies it sent.
  size_t sweep(int64_t now_ms);

  // When a copy refused for now goes again; nullopt if it is not waiting.
  std::optional<int64_t> retry_due(const std::string& delivery) const;
  // Prometheus text: copies in flight and waiting after a refusal, copies sent again.
  std::string metrics_text() const;
  size_t in_flight(const std::string& agency) const;

 private:
  struct Retry {
    int64_t due_ms = 0;
    int attempts = 0;      // refusals so far: kept until the copy leaves the outbox
    bool waiting = false;  // not sent until due_ms
  };
  struct Agency {
    bool connected = false;
    std::map<std::string, int64_t> in_flight;  // delivery -> when it was (last) sent
    std::map<std::string, Retry> retrying;     // delivery -> its refusals for now
    std::unique_ptr<std::mutex> fill_mu = std::make_unique<std::mutex>();  // one fill at a time
  };
  // Sends the oldest queued copies not in flight and not waiting, until the window is full or the
  // outbox has no more; returns how many it sent.
  size_t fill(const std::string& agency, int64_t now_ms);
  // Reads each copy's frame and sends it; false once the agency is found not connected.
  size_t send_entries(const std::string& agency, const std::vector<std::pair<std::string, std::string>>& entries,
                      int64_t now_ms);
  void back_off(Agency& a, const std::string& delivery, int64_t now_ms);
  std::optional<std::vector<uint8_t>> frame_of(const std::string& agency, const std::string& enquiry);

  Env& env_;
  CaseVault& vault_;
  Logger log_;
  DeliveryOptions options_;
  Dbi outbox_;
  Send send_;
  mutable std::mutex mu_;
  std::map<std::string, Agency> agencies_;
  uint64_t resent_ = 0, unreadable_ = 0;
};

// The vault item that holds an agency's signed copy until it is delivered.
inline std::string copy_item(const std::string& agency) { return "copy." + agency; }

}  // namespace mash::broker
