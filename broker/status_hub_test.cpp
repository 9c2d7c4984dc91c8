// StatusHub: need-to-know on every event, and the limits on open streams.
#include "status_hub.h"

#include <catch2/catch.hpp>

using namespace mash::broker;

namespace {
std::shared_ptr<EventStream> stream() { return std::make_shared<EventStream>(); }
}  // namespace

TEST_CASE("status hub: each watcher gets only the enquiries they may see", "[status-hub]") {
  StatusHub hub;
  auto rita = stream(), rob = stream(), manager = stream(), other_team = stream(), one = stream();
  REQUIRE(hub.watch(rita, {"rita", "researcher", "west", ""}));
  REQUIRE(hub.watch(rob, {"rob", "researcher", "west", ""}));
  REQUIRE(hub.watch(manager, {"mo", "manager", "west", ""}));
  REQUIRE(hub.watch(other_team, {"eve", "manager", "east", ""}));
  REQUIRE(hub.watch(one, {"rita", "researcher", "west", "e2"}));
  hub.publish("e1", "rita", "west", "status", {{"enquiry", "e1"}});
  // Rita's all-stream and the west manager got it; Rob, the east manager and Rita's e2-only stream did not.
  CHECK(rita->pending() == 1);
  CHECK(manager->pending() == 1);
  CHECK(rob->pending() == 0);
  CHECK(other_team->pending() == 0);
  CHECK(one->pending() == 0);
  hub.publish("e2", "rita", "west", "status", {{"enquiry", "e2"}});
  CHECK(one->pending() == 1);
  CHECK(rita->pending() == 2);
  CHECK(hub.watchers() == 5);
  // Closed streams leave the hub.
  rob->close();
  hub.publish("e1", "rita", "west", "status", {{"enquiry", "e1"}});
  CHECK(hub.watchers() == 4);
}

TEST_CASE("status hub: a user cannot hold more than their share of streams, nor all users more than the total",
          "[status-hub]") {
  StatusHub hub(5, 2);
  auto a1 = stream(), a2 = stream(), a3 = stream();
  CHECK(hub.watch(a1, {"a", "researcher", "west", ""}));
  CHECK(hub.watch(a2, {"a", "researcher", "west", ""}));
  CHECK_FALSE(hub.watch(a3, {"a", "researcher", "west", ""}));
  a1->close();  // a closed stream frees its place
  CHECK(hub.watch(a3, {"a", "researcher", "west", ""}));
  std::vector<std::shared_ptr<EventStream>> keep;
  for (const char* u : {"b", "c", "d"}) {
    keep.push_back(stream());
    CHECK(hub.watch(keep.back(), {u, "researcher", "west", ""}));
  }
  keep.push_back(stream());
  CHECK_FALSE(hub.watch(keep.back(), {"e", "researcher", "west", ""}));  // the total
}
