// Delivery on a real LMDB store and case vault in a temporary directory. The agent's connection
// is a function that records the frames it is given (the link itself is tested end to end in
// tests/), so that the window, the refill, the resend and the back-off can be seen exactly.
#include "delivery.h"

#include <catch2/catch.hpp>

#include <set>
#include <sstream>

#include "clock.h"
#include "test_support.h"

using namespace mash;
using namespace mash::broker;

namespace {

struct Outbox {
  testing::TempDir dir;
  std::ostringstream log_text;
  Env env;
  CaseVault vault;
  Delivery delivery;
  std::vector<std::string> sent;  // frames sent, as text
  bool connected = true;

  explicit Outbox(DeliveryOptions o)
      : env(Env::open(dir.path() / "store").value()),
        vault(CaseVault::open(env, HashKey::generate()).value()),
        delivery(env, vault, Logger(log_text, LogLevel::kInfo, "test"), o) {
    auto txn = env.begin_write();
    REQUIRE(txn.ok());
    REQUIRE(delivery.open(*txn).ok());
    REQUIRE(txn->commit().ok());
    delivery.set_sender([this](const std::string& agency, std::vector<uint8_t> frame) {
      if (!connected) return false;
      sent.push_back(agency + ":" + std::string(frame.begin(), frame.end()));
      return true;
    });
  }
  // Queues `n` copies for `agency` (delivery ids d0000.., each its own enquiry e0000..).
  void queue(const std::string& agency, int from, int n) {
    auto txn = env.begin_write();
    REQUIRE(txn.ok());
    for (int i = from; i < from + n; ++i) {
      std::string frame = "copy-" + std::to_string(i);
      REQUIRE(delivery.put(*txn, enquiry(i), agency, delivery_id(i),
                           std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(frame.data()), frame.size())).ok());
    }
    REQUIRE(txn->commit().ok());
  }
  // The copy leaves the outbox (as an acknowledgement does), then the window is told.
  void settle(const std::string& agency, std::vector<int> ids) {
    auto txn = env.begin_write();
    REQUIRE(txn.ok());
    std::vector<std::string> ds;
    for (int i : ids) {
      REQUIRE(delivery.drop(*txn, enquiry(i), agency, delivery_id(i)).ok());
      ds.push_back(delivery_id(i));
    }
    REQUIRE(txn->commit().ok());
    delivery.settled(agency, ds);
  }
  static std::string delivery_id(int i) {
    char b[33];
    std::snprintf(b, sizeof b, "%032x", i);
    return b;
  }
  static std::string enquiry(int i) { return "e" + delivery_id(i).substr(1); }
};

}  // namespace

TEST_CASE("delivery: a backlog larger than the window drains as acknowledgements come, oldest first", "[delivery]") {
  DeliveryOptions o;
  o.window = 4;
  Outbox box(o);
  box.queue("police", 0, 10);
  box.delivery.queued("police");
  CHECK(box.sent.empty());  // no agent has connected yet
  box.delivery.connected("police");
  REQUIRE(box.sent.size() == 4);
  CHECK(box.sent.front() == "police:copy-0");
  CHECK(box.delivery.in_flight("police") == 4);
  // A new copy does not go past the window.
  box.queue("police", 10, 1);
  box.delivery.queued("police");
  CHECK(box.sent.size() == 4);
  // Two acknowledged: the next two oldest go.
  box.settle("police", {0, 1});
  REQUIRE(box.sent.size() == 6);
  CHECK(box.sent[4] == "police:copy-4");
  CHECK(box.sent[5] == "police:copy-5");
  // Everything acknowledged as it comes: all 11 sent exactly once, in order.
  for (int i = 2; i < 11; ++i) box.settle("police", {i});
  REQUIRE(box.sent.size() == 11);
  for (int i = 0; i < 11; ++i) CHECK(box.sent[static_cast<size_t>(i)] == "police:copy-" + std::to_string(i));
  CHECK(box.delivery.in_flight("police") == 0);
  // Another agency's copies are its own.
  box.queue("health", 20, 2);
  box.delivery.queued("health");
  CHECK(box.sent.size() == 11);  // health has not connected
}

TEST_CASE("delivery: an unacknowledged copy goes again after the resend time, and on reconnection", "[delivery]") {
  DeliveryOptions o;
  o.window = 8;
  o.resend_after_ms = 30'000;
  Outbox box(o);
  box.queue("police", 0, 3);
  box.delivery.connected("police");
  REQUIRE(box.sent.size() == 3);
  const int64_t t0 = unix_millis_now();
  CHECK(box.delivery.sweep(t0 + 1'000) == 0);  // not yet
  box.settle("police", {1});
  CHECK(box.delivery.sweep(t0 + 31'000) == 2);  // 0 and 2 go again; 1 was acknowledged
  CHECK(box.sent[3] == "police:copy-0");
  CHECK(box.sent[4] == "police:copy-2");
  // The connection drops: a send fails, and nothing is in flight until the agent is back.
  box.connected = false;
  box.queue("police", 3, 1);
  box.delivery.queued("police");
  CHECK(box.delivery.in_flight("police") == 0);
  CHECK(box.delivery.sweep(t0 + 100'000) == 0);
  box.connected = true;
  box.delivery.connected("police");
  CHECK(box.sent.size() == 8);  // 0, 2 and 3 again
  CHECK(box.delivery.in_flight("police") == 3);
}

TEST_CASE("delivery: a copy refused for now waits out its back-off, doubling, and leaves the window meanwhile",
          "[delivery]") {
  DeliveryOptions o;
  o.window = 1;
  Outbox box(o);
  box.queue("police", 0, 2);
  box.delivery.connected("police");
  REQUIRE(box.sent.size() == 1);
  const int64_t t0 = unix_millis_now();
  box.delivery.refused_for_now("police", Outbox::delivery_id(0));
  REQUIRE(box.delivery.retry_due(Outbox::delivery_id(0)));
  CHECK(*box.delivery.retry_due(Outbox::delivery_id(0)) - t0 >= 5'000);
  // Its place in the window goes to the next copy.
  box.delivery.sweep(t0 + 1'000);
  REQUIRE(box.sent.size() == 2);
  CHECK(box.sent[1] == "police:copy-1");
  box.settle("police", {1});
  CHECK(box.sent.size() == 2);  // copy 0 is still waiting
  box.delivery.sweep(t0 + 5'500);
  REQUIRE(box.sent.size() == 3);
  CHECK(box.sent[2] == "police:copy-0");
  CHECK_FALSE(box.delivery.retry_due(Outbox::delivery_id(0)));
  // Refused again: twice as long.
  box.delivery.refused_for_now("police", Outbox::delivery_id(0));
  CHECK(*box.delivery.retry_due(Outbox::delivery_id(0)) - t0 >= 10'000);
  CHECK(box.delivery.metrics_text().find("mash_delivery_retrying{agency=\"police\"} 1") != std::string::npos);
  // A reconnection sends it at once.
  box.delivery.connected("police");
  CHECK(box.sent.size() == 4);
  CHECK_FALSE(box.delivery.retry_due(Outbox::delivery_id(0)));
}

TEST_CASE("delivery: a copy whose frame cannot be read is counted and waits, and does not block the others",
          "[delivery]") {
  DeliveryOptions o;
  o.window = 2;
  Outbox box(o);
  box.queue("police", 0, 3);
  REQUIRE(box.vault.purge(Outbox::enquiry(0), "test: the case key is gone").ok());
  box.delivery.connected("police");
  REQUIRE(box.sent.size() == 2);
  CHECK(box.sent[0] == "police:copy-1");
  CHECK(box.sent[1] == "police:copy-2");
  CHECK(box.delivery.retry_due(Outbox::delivery_id(0)));
  CHECK(box.delivery.metrics_text().find("mash_delivery_unreadable_total 1") != std::string::npos);
  CHECK(box.log_text.str().find("outbox-copy-unreadable") != std::string::npos);
}
