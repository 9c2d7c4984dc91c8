#include "audit_event.h"

#include <catch2/catch.hpp>

using namespace mash;

namespace {

AuditEvent sample() {
  AuditEvent e;
  e.type = "enquiry.created";
  e.time_ms = 1795000000123;
  e.actor = "u-17";
  e.role = "researcher";
  e.case_ref = "MASH-2026-001";
  e.agency = "police";
  e.subjects = {"nhs:" + std::string(64, 'a'), "name-dob:" + std::string(64, '0')};
  e.purpose = "mash-risk-assessment";
  e.legal_basis = "ca1989-s47";
  e.consent = "not-sought-risk";
  e.brag = "red";
  e.fields = {"police.known"};
  e.digest = std::string(64, 'f');
  return e;
}

}  // namespace

TEST_CASE("events round-trip through canonical records and carry index keys", "[audit-event]") {
  auto rec = event_to_record(sample());
  REQUIRE(rec.ok());
  CHECK(rec->find("\"time\":\"2026-") != std::string::npos);
  auto back = event_from_record(*rec);
  REQUIRE(back.ok());
  CHECK(back->subjects == sample().subjects);
  CHECK(back->case_ref == "MASH-2026-001");
  CHECK(*event_to_record(*back) == *rec);
  auto keys = event_index_keys(sample());
  CHECK(std::count(keys.begin(), keys.end(), std::pair<std::string, std::string>{"subject", "nhs:" + std::string(64, 'a')}) == 1);
  CHECK(std::count(keys.begin(), keys.end(), std::pair<std::string, std::string>{"case", "MASH-2026-001"}) == 1);
  CHECK(iso_time(0) == "1970-01-01T00:00:00.000Z");
}

TEST_CASE("events refuse free text and plaintext identities", "[audit-event]") {
  auto e = sample();
  e.subjects = {"Jane Smith 2015-03-04"};
  CHECK_FALSE(event_to_record(e).ok());
  e = sample();
  e.subjects = {"nhs:9434765919"};
  CHECK_FALSE(event_to_record(e).ok());
  e = sample();
  e.outcome = "mother said the child was hurt";
  auto r = event_to_record(e);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("must be an id or code, not text") != std::string::npos);
  e = sample();
  e.extra["note"] = "free text here";
  CHECK_FALSE(event_to_record(e).ok());
  e = sample();
  e.type = "";
  CHECK_FALSE(event_to_record(e).ok());
  CHECK_FALSE(event_from_record("{\"type\":\"x\"}").ok());
  CHECK_FALSE(event_from_record("not json").ok());
}
