// EnquiryDesk in process, on a real LMDB store, case vault and audit log in a temporary directory:
// the retention sweep, driven with an explicit clock (retention periods are days long).
#include "enquiries.h"

#include <catch2/catch.hpp>

#include <sstream>

#include <capnp/message.h>

#include "agreement.h"
#include "crypto.h"
#include "framing.h"
#include "link.capnp.h"
#include "case_vault.h"
#include "engine.h"
#include "test_support.h"

using namespace mash;
using namespace mash::broker;
using nlohmann::json;

namespace {

struct Hub {
  testing::TempDir dir;
  std::ostringstream log_text;
  Env env;
  CaseVault vault;
  policy::Policy policy;
  std::unique_ptr<AuditLog> audit;
  std::unique_ptr<EnquiryDesk> desk;

  Hub() : env(open_env()), vault(open_vault()), policy(compile()) {
    AuditLogOptions o;
    o.origin = "mash-broker/test";
    auto a = AuditLog::open(dir.path() / "audit", o, SigningKey::generate());
    REQUIRE(a.ok());
    audit = std::move(a).value();
    desk = std::make_unique<EnquiryDesk>(env, vault, policy, *audit, SigningKey::generate(), Pseudonymizer(HashKey::generate()),
                                         Logger(log_text, LogLevel::kInfo, "test"));
    REQUIRE(desk->open().ok());
  }
  Env open_env() {
    auto e = Env::open(dir.path() / "store");
    REQUIRE(e.ok());
    return std::move(e).value();
  }
  CaseVault open_vault() {
    auto v = CaseVault::open(env, HashKey::generate());
    REQUIRE(v.ok());
    return std::move(v).value();
  }
  static policy::Policy compile() {
    auto text = testing::read_file(std::string(MASH_SOURCE_DIR) + "/policy/examples/tri-borough.toml");
    auto parsed = policy::parse_agreement(text, "tri-borough.toml");
    REQUIRE(parsed.ok());
    auto compiled = policy::Policy::compile(std::move(parsed).value());
    REQUIRE(compiled.ok());
    return std::move(compiled).value();
  }
  size_t count(const std::string& type) {
    auto found = audit->find("type", type);
    REQUIRE(found.ok());
    return found->size();
  }
};

// An agency's answer as its agent would send it (the desk does not check the signature; the
// link does, before the desk sees it).
AgentAnswer answer_for(const std::string& agency, const std::string& delivery_hex) {
  AgentAnswer a;
  a.agency = agency;
  auto id = from_hex(delivery_hex);
  REQUIRE(id.ok());
  a.enquiry_id = *id;
  capnp::MallocMessageBuilder b;
  auto body = b.initRoot<wire::AnswerBody>();
  body.setEnquiryId(capnp::Data::Reader(a.enquiry_id.data(), a.enquiry_id.size()));
  body.setAgency(agency);
  body.setStatus(wire::AnswerBody::Status::ANSWERED);
  auto subjects = body.initSubjects(1);
  subjects[0].setRef("s1");
  subjects[0].setOutcome(wire::SubjectAnswer::Outcome::MATCHED);
  a.body = serialize_message(b);
  return a;
}

json request() {
  return {{"case_ref", "MASH-2026-0042"}, {"local_authority", "hammersmith-fulham"}, {"brag", "amber"},
          {"concerns", "School reports bruising."}, {"purpose", "mash-risk-assessment"}, {"legal_basis", "ca1989-s47"},
          {"consent", "not-sought-risk"}, {"consent_reason", "Asking could increase the risk to the child."},
          {"subjects", json::array({{{"ref", "s1"}, {"role", "child"}, {"forenames", "Amelia"}, {"surname", "Okonkwo"},
                                     {"date_of_birth", "2016-03-04"}}})},
          {"agencies", json::array({{{"agency", "police"}, {"justification", "Possible domestic abuse in the household."}}})}};
}

}  // namespace

TEST_CASE("retention: a decided case's content is purged when the agreement's period ends, and the purge is recorded",
          "[enquiries][retention]") {
  Hub hub;
  EnquiryActor rita{"rita.r", "researcher", "west"}, mo{"mo.m", "manager", "west"};
  auto created = hub.desk->submit(request(), rita);
  REQUIRE(std::holds_alternative<json>(created));
  const std::string id = std::get<json>(created)["id"];
  const int64_t now = unix_millis_now();
  const int64_t days = hub.policy.agreement().case_content_days;
  REQUIRE(days > 0);

  // Not decided: never due, however late.
  CHECK(hub.desk->sweep_retention(now + (days + 10) * 86'400'000LL) == 0);
  auto decided = hub.desk->decide(id, {{"decision", "early-help"}, {"rationale", "Family support is proportionate."}}, mo);
  REQUIRE(std::holds_alternative<json>(decided));
  // Decided: kept until the period ends.
  CHECK(hub.desk->sweep_retention(now + (days - 1) * 86'400'000LL) == 0);
  CHECK(std::holds_alternative<json>(hub.desk->get(id, rita)));
  CHECK(hub.count("case.purged") == 0);

  CHECK(hub.desk->sweep_retention(now + days * 86'400'000LL + 60'000) == 1);
  auto gone = hub.desk->get(id, rita);
  REQUIRE(std::holds_alternative<EnquiryError>(gone));
  CHECK(std::get<EnquiryError>(gone).status == 410);
  CHECK(std::get<EnquiryError>(gone).message.find("retention period ended") != std::string::npos);
  CHECK_FALSE(hub.vault.get(id, "request").ok());
  CHECK(hub.vault.purged(id));
  CHECK(hub.count("case.purged") == 1);
  // The list still shows it, marked; a second sweep finds nothing more.
  auto list = std::get<json>(hub.desk->list(rita));
  REQUIRE(list["enquiries"].size() == 1);
  CHECK(list["enquiries"][0]["purged"] == true);
  CHECK(hub.desk->sweep_retention(now + (days + 1) * 86'400'000LL) == 0);
  CHECK(hub.count("case.purged") == 1);
  // The agency's answer arriving after the purge is recorded and acknowledged (so the agent
  // stops sending it), but its content is not kept.
  const std::string delivery = std::get<json>(created)["agencies"]["police"]["delivery"];
  CHECK(hub.desk->on_answer(answer_for("police", delivery)));
  CHECK(hub.count("answer.received") == 1);
  CHECK_FALSE(hub.vault.get(id, "answer.police").ok());
  CHECK(hub.desk->on_answer(answer_for("police", delivery)));  // again: acknowledged, recorded once
  CHECK(hub.count("answer.received") == 1);
  // A later decision on a purged case cannot bring it back.
  CHECK(std::holds_alternative<EnquiryError>(
      hub.desk->decide(id, {{"decision", "signpost"}, {"rationale", "Trying to revive a purged case."}}, mo)));
}
