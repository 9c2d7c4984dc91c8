// Answers under the example agreement: exactly the granted fields, withheld fields with their
// reasons, restricted facts reduced to the flag, the look-back window, and requests refused.
#include "answerer.h"

#include <capnp/message.h>
#include <catch2/catch.hpp>

#include <ctime>

#include "enquiry_body.h"
#include "framing.h"
#include "test_extract.h"

using namespace mash;
using namespace mash::agent;
using namespace mash::agent::testing;

namespace {

const char* kPersons =
    "C1,Amelia,Okonkwo,,2016-03-04,female,,W6 9AA,,9434765919,,,,\n"
    "C2,Olivia,Okonkwo,,2016-03-04,female,,W6 9AA,,,,,,\n"
    "M1,Grace,Okonkwo,,1988-07-21,female,,W6 9AA,,,,,,\n";
// Dates relative to 2026-11-22 (the test's "today").
const char* kFacts =
    "C1,police.known,Known: 2 incidents,2025-06-01,CAD/1,,\n"
    "C1,police.domestic-abuse,DA incident at home address,2025-06-01,CAD/2,,\n"
    "C1,police.domestic-abuse,Older DA incident,2019-01-01,CAD/0,,\n"  // outside a 36-month window
    "C1,police.missing-episodes,Missing overnight,2016-01-01,CAD/9,,\n"  // only an old fact
    "M1,police.known,Known,2025-01-01,CAD/5,,\n"
    "M1,police.adult-offending,SECRET-OPERATION-NIGHTJAR,2026-01-01,OP/7,ongoing-investigation,\n"
    "M1,police.domestic-abuse,SEALED-VALUE-KESTREL,2026-02-02,CAD/8,,true\n";

struct Request {
  std::string agency = "police", agreement = "tri-borough-mash", purpose = "mash-risk-assessment",
              basis = "ca1989-s17", consent = "given", brag = "green";
  int64_t version = -1;  // -1: the version held
  std::vector<std::string> fields = {"police.known", "police.domestic-abuse", "police.adult-offending"};
  struct S {
    std::string ref, fore, sur, dob, postcode;
  };
  std::vector<S> subjects = {{"s1", "Amelia", "Okonkwo", "2016-03-04", "W6 9AA"}};
};

struct Fixture {
  std::unique_ptr<policy::Policy> policy = example_policy();
  TestExtract x{kPersons, kFacts, "police", &policy->agreement()};
  Matcher matcher{*x.store};

  AnswerDraft answer(Request r) {
    if (r.version < 0) r.version = policy->agreement().version;
    EnquiryBodyFields e;
    e.id.assign(16, 7);
    e.agency = r.agency;
    e.agreement_id = r.agreement;
    e.policy_version = static_cast<uint64_t>(r.version);
    e.case_ref = "MASH-2026-0042";
    e.purpose = r.purpose;
    e.legal_basis = r.basis;
    e.consent = r.consent;
    e.brag = r.brag;
    e.fields = r.fields;
    for (const auto& s : r.subjects) {
      EnquirySubject subject;
      subject.ref = s.ref;
      subject.forenames = s.fore;
      subject.surname = s.sur;
      subject.date_of_birth = s.dob;
      subject.postcode = s.postcode;
      e.subjects.push_back(std::move(subject));
    }
    auto bytes = encode_enquiry_body(e);
    auto nested = NestedMessage::decode(bytes, FrameLimits{});
    REQUIRE(nested.ok());
    AnswerContext ctx{policy.get(), "police", x.store.get(), &matcher, policy::Date{2026, 11, 22}};
    auto d = draft_answer(ctx, (*nested)->root<wire::EnquiryBody>());
    REQUIRE(d.ok());
    return *d;
  }
};

std::vector<std::string> released_fields(const SubjectDraft& s) {
  std::vector<std::string> out;
  for (const auto& r : s.released) out.push_back(r.field);
  return out;
}

const WithheldField* withheld(const SubjectDraft& s, const std::string& field) {
  for (const auto& w : s.withheld) {
    if (w.field == field) return &w;
  }
  return nullptr;
}

std::string bytes_of(const AnswerDraft& d) {
  std::vector<uint8_t> id(16, 7);
  auto b = encode_answer_body(d, id, "police", 1, 1, false);
  return std::string(b.begin(), b.end());
}

}  // namespace

TEST_CASE("answer: a matched child gets exactly the granted fields, inside the window", "[answerer]") {
  Fixture f;
  auto d = f.answer({});
  REQUIRE(d.status == "answered");
  REQUIRE(d.subjects.size() == 1);
  const auto& s = d.subjects[0];
  CHECK(s.outcome == MatchOutcome::kMatched);
  CHECK(s.records == std::vector<std::string>{"C1"});
  // G-POL-03 (s17, consent given, green): known and domestic abuse, 36 months.
  CHECK(released_fields(s) == std::vector<std::string>{"police.domestic-abuse", "police.known"});
  REQUIRE(s.released.size() == 2);
  CHECK(s.released[0].value == "DA incident at home address");
  CHECK(s.released[0].source == "CAD/2");
  CHECK(s.released[0].date == "2025-06-01");
  // Adult offending is not granted under s17: withheld, with the reason code.
  const auto* w = withheld(s, "police.adult-offending");
  REQUIRE(w);
  CHECK(w->reason == "no-grant");
  CHECK_FALSE(s.restricted);
  CHECK_FALSE(d.review);
  auto bytes = bytes_of(d);
  CHECK(bytes.find("Older DA incident") == std::string::npos);
}

TEST_CASE("answer: a field whose facts are all too old is withheld as outside-lookback", "[answerer]") {
  Fixture f;
  Request r;
  r.fields = {"police.missing-episodes"};
  auto d = f.answer(r);
  REQUIRE(d.subjects.size() == 1);
  const auto& s = d.subjects[0];
  CHECK(s.released.empty());
  const auto* w = withheld(s, "police.missing-episodes");
  REQUIRE(w);
  CHECK(w->reason == "outside-lookback");
}

TEST_CASE("answer: restricted facts give the flag and contact route, and nothing of their content", "[answerer]") {
  Fixture f;
  Request r;
  r.basis = "ca1989-s47";
  r.brag = "amber";
  r.subjects = {{"s2", "Grace", "Okonkwo", "1988-07-21", "W6 9AA"}};
  auto d = f.answer(r);
  REQUIRE(d.subjects.size() == 1);
  const auto& s = d.subjects[0];
  CHECK(s.outcome == MatchOutcome::kMatched);
  CHECK(s.restricted);
  // adult-offending is granted under s47, but Grace's only such record is restricted: no value,
  // and no sign of the field either.
  CHECK(released_fields(s) == std::vector<std::string>{"police.known"});
  CHECK(withheld(s, "police.adult-offending") == nullptr);
  auto bytes = bytes_of(d);
  CHECK(bytes.find("NIGHTJAR") == std::string::npos);
  CHECK(bytes.find("KESTREL") == std::string::npos);
  CHECK(bytes.find("2026-01-01") == std::string::npos);
  CHECK(bytes.find("2026-02-02") == std::string::npos);
  CHECK(bytes.find("OP/7") == std::string::npos);
  CHECK(bytes.find("MASH police desk") != std::string::npos);  // the contact route
}

TEST_CASE("answer: ambiguous and unknown subjects get no data", "[answerer]") {
  Fixture f;
  Request r;
  r.subjects = {{"twin", "", "Okonkwo", "2016-03-04", "W6 9AA"}, {"nobody", "Zed", "Quinlan", "1970-01-01", "N1 1AA"}};
  auto d = f.answer(r);
  REQUIRE(d.subjects.size() == 2);
  CHECK(d.subjects[0].outcome == MatchOutcome::kPossible);
  CHECK(d.subjects[0].candidate_count == 2);
  CHECK(d.subjects[0].released.empty());
  CHECK(d.subjects[0].records.empty());
  CHECK(d.subjects[1].outcome == MatchOutcome::kNoRecord);
  CHECK(d.subjects[1].released.empty());
  auto bytes = bytes_of(d);
  CHECK(bytes.find("Known") == std::string::npos);
  CHECK(bytes.find("Olivia") == std::string::npos);
}

TEST_CASE("answer: the agent refuses what the agreement does not allow, whatever the hub sent", "[answerer]") {
  Fixture f;
  auto declined = [&](Request r) {
    auto d = f.answer(r);
    CHECK(d.status == "declined");
    CHECK(d.subjects.empty());
    return d.decline_reason;
  };
  Request outside;
  outside.fields = {"police.known", "police.shoe-size"};
  CHECK(declined(outside) == "field-outside-agreement");
  Request other_agency;
  other_agency.fields = {"health.gp-registered"};
  CHECK(declined(other_agency) == "field-outside-agreement");
  Request old;
  old.version = f.policy->agreement().version - 1;
  CHECK(declined(old) == "agreement-superseded");
  Request newer;
  newer.version = f.policy->agreement().version + 1;
  CHECK(declined(newer) == "agreement-not-held");
  Request wrong;
  wrong.agency = "health";
  CHECK(declined(wrong) == "wrong-agency");
  Request purpose;
  purpose.purpose = "curiosity";
  CHECK(declined(purpose) == "outside-agreement");
  Request none;
  none.subjects.clear();
  CHECK(declined(none) == "malformed-enquiry");
  Request dup;
  dup.fields = {"police.known", "police.known"};
  CHECK(declined(dup) == "malformed-enquiry");
}

TEST_CASE("answer: a grant that needs review holds the answer for the agency", "[answerer]") {
  Fixture f;
  Request r;
  r.basis = "ca1989-s17";
  r.consent = "refused";
  r.brag = "red";  // G-POL-04: known and domestic abuse, after review
  auto d = f.answer(r);
  CHECK(d.review);
  CHECK(d.review_fields == std::vector<std::string>{"police.domestic-abuse", "police.known"});
  // The draft survives the review queue's JSON, and withholding on review moves fields out.
  auto back = AnswerDraft::from_json(d.to_json());
  REQUIRE(back.ok());
  CHECK(back->to_json() == d.to_json());
  withhold_on_review(*back, {"police.domestic-abuse"});
  CHECK(released_fields(back->subjects[0]) == std::vector<std::string>{"police.known"});
  const auto* w = withheld(back->subjects[0], "police.domestic-abuse");
  REQUIRE(w);
  CHECK(w->reason == "withheld-on-review");
}

TEST_CASE("answer: the encoded body carries outcome, values, reasons and status", "[answerer]") {
  Fixture f;
  auto d = f.answer({});
  std::vector<uint8_t> id(16, 7);
  auto bytes = encode_answer_body(d, id, "police", 12, 99, false);
  auto nested = NestedMessage::decode(bytes, FrameLimits{});
  REQUIRE(nested.ok());
  auto body = (*nested)->root<wire::AnswerBody>();
  CHECK(body.getStatus() == wire::AnswerBody::Status::ANSWERED);
  CHECK(body.getPolicyVersion() == 12);
  REQUIRE(body.getSubjects().size() == 1);
  auto s = body.getSubjects()[0];
  CHECK(s.getOutcome() == wire::SubjectAnswer::Outcome::MATCHED);
  CHECK(s.getReleased().size() == 2);
  CHECK(std::string(s.getWithheld()[0].getReason().cStr()) == "no-grant");
  auto interim = encode_answer_body(d, id, "police", 12, 99, true);
  auto n2 = NestedMessage::decode(interim, FrameLimits{});
  REQUIRE(n2.ok());
  CHECK((*n2)->root<wire::AnswerBody>().getStatus() == wire::AnswerBody::Status::AWAITING_REVIEW);
  CHECK((*n2)->root<wire::AnswerBody>().getSubjects().size() == 0);
}
