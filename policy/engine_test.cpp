#include "engine.h"

#include <catch2/catch.hpp>

#include "test_fixture.h"

using namespace mash::policy;
using mash::policy::testing::kAgreement;

namespace {

Policy compiled(const std::string& text = kAgreement) {
  auto a = parse_agreement(text, "isa.toml");
  INFO((a.ok() ? "" : a.error().message));
  REQUIRE(a.ok());
  auto p = Policy::compile(std::move(a).value());
  REQUIRE(p.ok());
  return std::move(p).value();
}

Decision decide(const Policy& p, const char* agency, const char* purpose, const char* basis,
                const char* consent, const char* brag, const char* field) {
  auto q = p.query(agency, purpose, basis, consent, brag);
  REQUIRE(q.ok());
  auto d = p.decide_field(*q, field);
  REQUIRE(d.ok());
  return *d;
}

}  // namespace

TEST_CASE("every reason code the agreement decides, with its clause", "[engine]") {
  Policy p = compiled();
  struct Row {
    const char *agency, *purpose, *basis, *consent, *brag, *field;
    Reason reason;
    const char* clause;
  };
  const Row rows[] = {
      {"police", "mash-risk-assessment", "ca1989-s47", "refused", "amber", "police.known", Reason::kReleased, "G-POL-1"},
      {"police", "mash-risk-assessment", "ca1989-s47", "not-sought-risk", "red", "police.intelligence", Reason::kReleased, "G-POL-2"},
      {"police", "early-help-assessment", "ca1989-s47", "given", "red", "police.known", Reason::kNoGrant, ""},
      {"police", "mash-risk-assessment", "consent", "given", "red", "police.known", Reason::kNoGrant, ""},
      {"health", "mash-risk-assessment", "ca1989-s47", "refused", "red", "health.sexual-health", Reason::kForbidden, "F-HEA-1"},
      {"health", "mash-risk-assessment", "ca1989-s47", "refused", "red", "health.gp", Reason::kReleased, "G-HEA-1"},
      {"health", "early-help-assessment", "consent", "refused", "red", "health.gp", Reason::kConsentRequired, "basis:consent"},
      {"health", "early-help-assessment", "consent", "given", "blue", "health.gp", Reason::kReleased, "G-HEA-1"},
      {"police", "mash-risk-assessment", "ca1989-s17", "refused", "red", "police.known", Reason::kConsentRequired, "G-POL-3"},
      {"police", "mash-risk-assessment", "ca1989-s17", "given", "green", "police.known", Reason::kBelowMinBrag, "G-POL-3"},
      {"police", "mash-risk-assessment", "ca1989-s47", "given", "blue", "police.incidents", Reason::kBelowMinBrag, "G-POL-1"},
      {"police", "mash-risk-assessment", "ca1989-s47", "refused", "amber", "police.intelligence", Reason::kBelowMinBrag, "G-POL-2"},
      {"police", "mash-risk-assessment", "ca1989-s47", "given", "red", "police.intelligence", Reason::kConsentRequired, "G-POL-2"},
  };
  for (const auto& r : rows) {
    INFO(r.agency << " " << r.purpose << " " << r.basis << " " << r.consent << " " << r.brag << " " << r.field);
    Decision d = decide(p, r.agency, r.purpose, r.basis, r.consent, r.brag, r.field);
    CHECK(std::string(reason_code(d.reason)) == reason_code(r.reason));
    CHECK(p.clause(d.clause) == r.clause);
  }
}

TEST_CASE("a release carries its look-back window and review flag, old facts are withheld", "[engine]") {
  Policy p = compiled();
  Decision d = decide(p, "police", "mash-risk-assessment", "ca1989-s47", "refused", "red", "police.intelligence");
  REQUIRE(d.released());
  CHECK(d.review);
  CHECK(d.lookback_months == 24);
  Date today{2026, 11, 22};
  CHECK(Policy::decide_fact(d, Date{2025, 1, 10}, today) == Reason::kReleased);
  CHECK(Policy::decide_fact(d, Date{2024, 11, 22}, today) == Reason::kReleased);
  CHECK(Policy::decide_fact(d, Date{2024, 11, 21}, today) == Reason::kOutsideLookback);
  Decision withheld = decide(p, "police", "early-help-assessment", "ca1989-s47", "given", "red", "police.known");
  CHECK(Policy::decide_fact(withheld, today, today) == Reason::kNoGrant);
  CHECK((Date{2024, 3, 31}.minus_months(1) == Date{2024, 2, 29}));
}

TEST_CASE("decide returns one decision per field of the agency, in catalogue order", "[engine]") {
  Policy p = compiled();
  auto q = p.query("police", "mash-risk-assessment", "ca1989-s47", "not-sought-risk", "red");
  REQUIRE(q.ok());
  auto all = p.decide(*q);
  REQUIRE(all.size() == 3);
  CHECK(p.field(all[0].field) == "police.known");
  CHECK(p.field(all[2].field) == "police.intelligence");
  for (const auto& d : all) CHECK(d.released());
}

TEST_CASE("unknown ids and another agency's field are errors, not decisions", "[engine]") {
  Policy p = compiled();
  CHECK_FALSE(p.query("fire", "mash-risk-assessment", "ca1989-s47", "given", "red").ok());
  CHECK_FALSE(p.query("police", "mash-risk-assessment", "ca1989-s47", "given", "purple").ok());
  auto q = p.query("police", "mash-risk-assessment", "ca1989-s47", "given", "red");
  REQUIRE(q.ok());
  auto other = p.decide_field(*q, "health.gp");
  REQUIRE_FALSE(other.ok());
  CHECK(other.error().message.find("belongs to agency 'health'") != std::string::npos);
  CHECK_FALSE(p.decide_field(*q, "police.nothing").ok());
}

TEST_CASE("the agreement's own tests run, and a wrong expectation is reported", "[engine]") {
  CHECK(compiled().run_tests().empty());
  std::string wrong = kAgreement;
  const std::string from = "\"police.intelligence\" = \"below-min-brag\"";
  wrong.replace(wrong.find(from), from.size(), "\"police.intelligence\" = \"no-grant\"");
  auto failures = compiled(wrong).run_tests();
  REQUIRE(failures.size() == 1);
  CHECK(failures[0].message.find("expected withheld as no-grant, got below-min-brag (G-POL-2)") != std::string::npos);
}

TEST_CASE("a local policy narrows the agreement", "[engine][local]") {
  Policy p = compiled();
  auto local = parse_local_policy(R"(
[local]
agency = "police"
agreement = "test-isa"

[[withhold]]
id = "L-1"
fields = ["police.incidents"]
consent = ["refused"]
reason = "Our own rule: incidents only with consent or without seeking it"

[[review]]
id = "L-2"
fields = ["police.known"]

[[lookback]]
id = "L-3"
fields = ["police.intelligence"]
months = 12

[[restricted]]
id = "L-4"
record_types = ["covert-operation"]
)", "local.toml", p.agreement());
  INFO((local.ok() ? "" : local.error().message));
  REQUIRE(local.ok());
  REQUIRE(p.apply_local(*local).ok());
  Decision inc = decide(p, "police", "mash-risk-assessment", "ca1989-s47", "refused", "red", "police.incidents");
  CHECK(inc.reason == Reason::kNarrowedLocal);
  CHECK(p.clause(inc.clause) == "L-1");
  Decision inc_given = decide(p, "police", "mash-risk-assessment", "ca1989-s47", "given", "red", "police.incidents");
  CHECK(inc_given.released());
  Decision known = decide(p, "police", "mash-risk-assessment", "ca1989-s47", "given", "red", "police.known");
  CHECK(known.released());
  CHECK(known.review);
  Decision intel = decide(p, "police", "mash-risk-assessment", "ca1989-s47", "refused", "red", "police.intelligence");
  CHECK(intel.lookback_months == 12);
  auto types = p.restricted_record_types("police");
  CHECK(types == std::vector<std::string>{"covert-operation", "ongoing-investigation"});
  // Health is untouched.
  CHECK(decide(p, "health", "mash-risk-assessment", "ca1989-s47", "given", "red", "health.gp").released());
}

TEST_CASE("a local policy that tries to widen the agreement is refused", "[engine][local]") {
  Policy p = compiled();
  const std::string head = "[local]\nagency = \"police\"\nagreement = \"test-isa\"\n";
  struct Case {
    const char* name;
    std::string body, expected;
  };
  std::vector<Case> cases = {
      {"a grant", "[[grants]]\nid = \"L-G\"\nfields = [\"police.known\"]\n", "can only narrow the agreement: 'grants' is not allowed"},
      {"another agency's field", "[[withhold]]\nid = \"L-1\"\nfields = [\"health.gp\"]\nreason = \"x\"\n", "belongs to agency 'health'"},
      {"a longer look-back", "[[lookback]]\nid = \"L-1\"\nfields = [\"police.intelligence\"]\nmonths = 48\n", "is longer than any the agreement grants (at most 24 months)"},
      {"an unknown field", "[[review]]\nid = \"L-1\"\nfields = [\"police.everything\"]\n", "unknown field 'police.everything'"},
      {"an extra key", "[[review]]\nid = \"L-1\"\nfields = [\"police.known\"]\nmin_brag = \"blue\"\n", "'min_brag' is not allowed in [[review]]"},
      {"an agreement clause id", "[[review]]\nid = \"G-POL-1\"\nfields = [\"police.known\"]\n", "already a clause of the agreement"},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    auto r = parse_local_policy(head + c.body, "local.toml", p.agreement());
    REQUIRE_FALSE(r.ok());
    INFO(r.error().message);
    CHECK(r.error().message.find(c.expected) != std::string::npos);
  }
  auto other = parse_local_policy("[local]\nagency = \"police\"\nagreement = \"other-isa\"\n", "l.toml", p.agreement());
  REQUIRE_FALSE(other.ok());
  CHECK(other.error().message.find("for agreement 'other-isa'") != std::string::npos);
}
