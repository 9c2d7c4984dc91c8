// The agency copy's state machine and the record's edges (store JSON, the API view).
#include "enquiry_record.h"

#include <catch2/catch.hpp>

using namespace mash::broker;
using S = AgencyStatus;
using E = CopyEvent;

namespace {

AgencyCopy in(S status, std::optional<S> was = std::nullopt) {
  AgencyCopy c;
  c.delivery = std::string(32, 'd');
  c.status = status;
  c.was = was;
  return c;
}

S after(S status, E event, std::optional<S> was = std::nullopt) {
  auto c = in(status, was);
  transition(c, event, 1000);
  return c.status;
}

}  // namespace

TEST_CASE("agency copy: each event moves a copy only where the lifecycle allows", "[record]") {
  // The way through.
  CHECK(after(S::kQueued, E::kAcknowledged) == S::kDelivered);
  CHECK(after(S::kDelivered, E::kHeldForReview) == S::kAwaitingReview);
  CHECK(after(S::kAwaitingReview, E::kAnswered) == S::kAnswered);
  CHECK(after(S::kDelivered, E::kDeclined) == S::kDeclined);
  // An answer may overtake its acknowledgement.
  CHECK(after(S::kQueued, E::kAnswered) == S::kAnswered);
  // Final answers are final.
  for (E e : {E::kAcknowledged, E::kHeldForReview, E::kAnswered, E::kDeclined, E::kRefusedForGood, E::kDeadlinePassed}) {
    CHECK(after(S::kAnswered, e) == S::kAnswered);
    CHECK(after(S::kDeclined, e) == S::kDeclined);
  }
  // Failed: only a late answer moves it.
  CHECK(after(S::kDelivered, E::kRefusedForGood) == S::kFailed);
  CHECK(after(S::kFailed, E::kDeadlinePassed) == S::kFailed);
  CHECK(after(S::kFailed, E::kAcknowledged) == S::kFailed);
  CHECK(after(S::kFailed, E::kAnswered) == S::kAnswered);
  // Overdue: from any waiting state; it remembers what it was; only an answer ends it.
  for (S s : {S::kQueued, S::kDelivered, S::kAwaitingReview}) {
    auto c = in(s);
    auto t = transition(c, E::kDeadlinePassed, 5);
    CHECK(t.changed);
    CHECK(t.before == s);
    CHECK(c.status == S::kOverdue);
    CHECK(c.was == s);
  }
  auto c = in(S::kOverdue, S::kQueued);
  auto t = transition(c, E::kAcknowledged, 7);
  CHECK_FALSE(t.changed);
  CHECK(c.status == S::kOverdue);
  CHECK(c.was == S::kDelivered);
  CHECK(c.delivered_ms == 7);
  transition(c, E::kHeldForReview, 8);
  CHECK(c.status == S::kOverdue);
  CHECK(c.was == S::kAwaitingReview);
  t = transition(c, E::kAnswered, 9, /*late=*/true);
  CHECK(t.changed);
  CHECK(c.status == S::kAnswered);
  CHECK(c.late);
  CHECK_FALSE(c.was);
  // A failure keeps its reason.
  auto f = in(S::kQueued);
  transition(f, E::kRefusedForGood, 3, false, "bad-signature");
  CHECK(f.failure == "bad-signature");
}

TEST_CASE("enquiry record: stored JSON round-trips, overdue is derived for the view, damage is reported", "[record]") {
  EnquiryRecord r;
  r.id = std::string(32, 'a');
  r.case_ref = "MASH-1";
  r.owner = "rita.r";
  r.team = "west";
  r.brag = "amber";
  r.created_ms = 1000;
  r.deadline_ms = 2000;
  r.agencies["police"] = in(S::kDelivered);
  r.agencies["health"] = in(S::kAnswered);
  r.follow_ups = {std::string(32, 'b')};
  auto back = EnquiryRecord::from_json(r.to_json());
  REQUIRE(back.ok());
  CHECK(back->to_json() == r.to_json());
  // Before the deadline as stored; after it, a waiting copy shows overdue (and what it was).
  CHECK(r.view(1500)["agencies"]["police"]["status"] == "delivered");
  auto late = r.view(2500);
  CHECK(late["agencies"]["police"]["status"] == "overdue");
  CHECK(late["agencies"]["police"]["was"] == "delivered");
  CHECK(late["agencies"]["health"]["status"] == "answered");
  // Damaged or foreign records are errors, not crashes.
  CHECK_FALSE(EnquiryRecord::from_json("{not json").ok());
  CHECK_FALSE(EnquiryRecord::from_json(R"({"id": "x", "deadline_ms": 1, "agencies": {"p": {"status": "lost"}}})").ok());
  CHECK_FALSE(EnquiryRecord::from_json(R"({"id": 7})").ok());
}

TEST_CASE("need to know: researchers their own, managers their team's, nobody else", "[record]") {
  CHECK(may_see("rita.r", "west", {"rita.r", "researcher", "west"}));
  CHECK_FALSE(may_see("rita.r", "west", {"sam.s", "researcher", "west"}));
  CHECK(may_see("rita.r", "west", {"mo.m", "manager", "west"}));
  CHECK_FALSE(may_see("rita.r", "west", {"mo.m", "manager", "east"}));
  CHECK_FALSE(may_see("rita.r", "", {"mo.m", "manager", ""}));
  CHECK_FALSE(may_see("rita.r", "west", {"dee.d", "dpo", "west"}));
  CHECK_FALSE(may_see("rita.r", "west", {"ada.a", "admin", "west"}));
}
