// EnquiryDesk in process, on a real LMDB store, case vault and audit log in a temporary directory:
// the retention sweep, driven with an explicit clock (retention periods are days long).
#include "enquiries.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <sstream>
#include <thread>

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

// The same enquiry, also to health.
json request_to_police_and_health() {
  json req = request();
  req["agencies"].push_back({{"agency", "health"}, {"justification", "Health visitor contact with the family."}});
  return req;
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

TEST_CASE("link batches: acknowledgements and answers that arrive together are recorded once each, and bad ones refused",
          "[enquiries][link]") {
  Hub hub;
  EnquiryActor rita{"rita.r", "researcher", "west"};
  json req = request_to_police_and_health();
  auto created = hub.desk->submit(req, rita);
  REQUIRE(std::holds_alternative<json>(created));
  const json out = std::get<json>(created);
  const std::string id = out["id"], police = out["agencies"]["police"]["delivery"], health = out["agencies"]["health"]["delivery"];
  // Ids sort by time: the first 12 hex digits are the creation time in milliseconds.
  const int64_t made = static_cast<int64_t>(std::stoull(id.substr(0, 12), nullptr, 16));
  CHECK(std::llabs(made - unix_millis_now()) < 60'000);
  CHECK(police.substr(0, 8) == id.substr(0, 8));

  // Everything is queued before the worker starts, so it is all one batch: the police
  // acknowledgement twice, the police answer twice, the health answer, an answer from health
  // that names police's delivery, and one for a delivery that does not exist.
  std::mutex m;
  std::map<std::string, std::vector<bool>> results;
  auto done = [&](const std::string& label) {
    return [&, label](bool stored) {
      std::lock_guard lock(m);
      results[label].push_back(stored);
    };
  };
  auto raw = [](const std::string& hex) { return from_hex(hex).value(); };
  hub.desk->post_acknowledged("police", raw(police));
  hub.desk->post_acknowledged("police", raw(police));
  hub.desk->post_answer(answer_for("police", police), done("police"));
  hub.desk->post_answer(answer_for("police", police), done("police"));
  hub.desk->post_answer(answer_for("health", health), done("health"));
  auto wrong = answer_for("health", police);
  hub.desk->post_answer(wrong, done("wrong-agency"));
  hub.desk->post_answer(answer_for("police", std::string(32, 'a')), done("unknown"));
  hub.desk->start_link_worker();
  hub.desk->stop_link_worker();  // finishes what was queued

  CHECK(results["police"] == std::vector<bool>{true, true});  // both acknowledged to the agent
  CHECK(results["health"] == std::vector<bool>{true});
  CHECK(results["wrong-agency"] == std::vector<bool>{false});
  CHECK(results["unknown"] == std::vector<bool>{false});
  CHECK(hub.count("enquiry.delivered") == 1);
  CHECK(hub.count("answer.received") == 2);  // police once, health once
  auto view = hub.desk->get(id, rita);
  REQUIRE(std::holds_alternative<json>(view));
  CHECK(std::get<json>(view)["agencies"]["police"]["status"] == "answered");
  CHECK(std::get<json>(view)["agencies"]["health"]["status"] == "answered");
  CHECK(hub.vault.get(id, "answer.police").ok());
  // The same answer in a later batch is still a repeat.
  CHECK(hub.desk->on_answer(answer_for("police", police)));
  CHECK(hub.count("answer.received") == 2);
  // After the worker has stopped, nothing more is taken (the agent sends it again later).
  bool refused = false;
  hub.desk->post_answer(answer_for("police", police), [&](bool stored) { refused = !stored; });
  CHECK(refused);
}

TEST_CASE("rate limit: concurrent submissions cannot go over the agreement's hourly limit, and the count survives a restart",
          "[enquiries][rate]") {
  Hub hub;
  const int limit = hub.policy.agreement().enquiries_per_user_per_hour;
  REQUIRE(limit > 0);
  REQUIRE(limit < 50);
  EnquiryActor rita{"rita.r", "researcher", "west"};
  std::atomic<int> accepted{0}, limited{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < limit; ++i) {
        auto r = hub.desk->submit(request(), rita);
        if (std::holds_alternative<json>(r)) {
          ++accepted;
        } else if (std::get<EnquiryError>(r).status == 429) {
          ++limited;
        } else {
          ++other;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(accepted == limit);
  CHECK(limited == 8 * limit - limit);
  CHECK(other == 0);
  CHECK(hub.count("enquiry.created") == static_cast<size_t>(limit));
  CHECK(hub.count("enquiry.refused") == static_cast<size_t>(8 * limit - limit));
  // A bad request is refused for what it is and takes no place.
  EnquiryActor sam{"sam.s", "researcher", "west"};
  json bad = request();
  bad["brag"] = "purple";
  auto r = hub.desk->submit(bad, sam);
  REQUIRE(std::holds_alternative<EnquiryError>(r));
  CHECK(std::get<EnquiryError>(r).status == 400);
  // A new desk on the same store (the hub restarted) reads the window back.
  hub.desk = std::make_unique<EnquiryDesk>(hub.env, hub.vault, hub.policy, *hub.audit, SigningKey::generate(),
                                           Pseudonymizer(HashKey::generate()), Logger(hub.log_text, LogLevel::kInfo, "test"));
  REQUIRE(hub.desk->open().ok());
  auto again = hub.desk->submit(request(), rita);
  REQUIRE(std::holds_alternative<EnquiryError>(again));
  CHECK(std::get<EnquiryError>(again).status == 429);
  // Another user has their own window.
  for (int i = 0; i < limit; ++i) CHECK(std::holds_alternative<json>(hub.desk->submit(request(), sam)));
}

TEST_CASE("refusals: an agency's refusal for good marks its copy failed once, one for now keeps it queued",
          "[enquiries][refused]") {
  Hub hub;
  EnquiryActor rita{"rita.r", "researcher", "west"};
  json req = request_to_police_and_health();
  auto created = hub.desk->submit(req, rita);
  REQUIRE(std::holds_alternative<json>(created));
  const json out = std::get<json>(created);
  const std::string id = out["id"], police = out["agencies"]["police"]["delivery"], health = out["agencies"]["health"]["delivery"];
  auto raw = [](const std::string& hex) { return from_hex(hex).value(); };
  auto status = [&](const std::string& agency) {
    return std::get<json>(hub.desk->get(id, rita))["agencies"][agency]["status"].get<std::string>();
  };
  // Overloaded: for now. Nothing recorded, still queued, sent again in 5 s, then 10 s.
  CHECK_FALSE(hub.desk->retry_due(health));
  const int64_t t0 = unix_millis_now();
  hub.desk->on_refused("health", raw(health), static_cast<int>(wire::Error::Code::OVERLOADED));
  CHECK(status("health") == "queued");
  CHECK(hub.count("enquiry.failed") == 0);
  REQUIRE(hub.desk->retry_due(health));
  CHECK(*hub.desk->retry_due(health) - t0 >= 5'000);
  CHECK(*hub.desk->retry_due(health) - t0 < 6'000);
  hub.desk->sweep_delivery(t0 + 5'500);  // due: it goes again (no agent is connected in this test)
  CHECK_FALSE(hub.desk->retry_due(health));
  hub.desk->on_refused("health", raw(health), static_cast<int>(wire::Error::Code::OVERLOADED));
  REQUIRE(hub.desk->retry_due(health));
  CHECK(*hub.desk->retry_due(health) - t0 >= 10'000);
  // Another agency cannot fail police's copy; an unknown id changes nothing.
  hub.desk->on_refused("health", raw(police), static_cast<int>(wire::Error::Code::BAD_SIGNATURE));
  hub.desk->on_refused("police", raw(std::string(32, 'b')), static_cast<int>(wire::Error::Code::BAD_SIGNATURE));
  CHECK(status("police") == "queued");
  CHECK(hub.count("enquiry.failed") == 0);
  // A bad signature: for good, recorded once however often it is said.
  hub.desk->on_refused("police", raw(police), static_cast<int>(wire::Error::Code::BAD_SIGNATURE));
  hub.desk->on_refused("police", raw(police), static_cast<int>(wire::Error::Code::BAD_SIGNATURE));
  CHECK(status("police") == "failed");
  CHECK(std::get<json>(hub.desk->get(id, rita))["agencies"]["police"]["failure"] == "bad-signature");
  CHECK(hub.count("enquiry.failed") == 1);
  CHECK(hub.desk->metrics_text().find("mash_enquiry_agencies{status=\"failed\"} 1") != std::string::npos);
  // A failed copy is never marked overdue.
  hub.desk->sweep_overdue(unix_millis_now() + 30LL * 86'400'000);
  CHECK(status("police") == "failed");
  CHECK(status("health") == "overdue");
  // An answer that comes after all is still recorded and shown.
  CHECK(hub.desk->on_answer(answer_for("police", police)));
  CHECK(status("police") == "answered");
  // Health's answer ends its retries.
  CHECK(hub.desk->on_answer(answer_for("health", health)));
  CHECK_FALSE(hub.desk->retry_due(health));
  // An answered copy is not failed afterwards.
  hub.desk->on_refused("police", raw(police), static_cast<int>(wire::Error::Code::PROTOCOL));
  CHECK(status("police") == "answered");
  CHECK(hub.count("enquiry.failed") == 1);
}

TEST_CASE("outbox: a queued copy waits encrypted in the case vault, and goes once it is delivered", "[enquiries][outbox]") {
  Hub hub;
  EnquiryActor rita{"rita.r", "researcher", "west"};
  auto created = hub.desk->submit(request(), rita);
  REQUIRE(std::holds_alternative<json>(created));
  const std::string id = std::get<json>(created)["id"];
  const std::string police = std::get<json>(created)["agencies"]["police"]["delivery"];
  auto outbox = [&] {
    std::map<std::string, std::string> entries;
    auto txn = hub.env.begin_write();
    REQUIRE(txn.ok());
    auto db = txn->open_db("outbox", false);
    REQUIRE(db.ok());
    REQUIRE(txn->for_each_prefix(*db, "", [&](std::string_view k, std::string_view v) {
      entries.emplace(k, v);
      return true;
    }).ok());
    txn->abort();
    return entries;
  };
  // The outbox entry names the enquiry only; the signed copy (names, dates of birth) is a vault
  // item, encrypted under the case key.
  auto entries = outbox();
  REQUIRE(entries.size() == 1);
  CHECK(entries.begin()->first == "police/" + police);
  CHECK(entries.begin()->second == id);
  auto items = hub.vault.items(id);
  REQUIRE(items.ok());
  CHECK(std::find(items->begin(), items->end(), "copy.police") != items->end());
  auto copy = hub.vault.get(id, "copy.police");
  REQUIRE(copy.ok());
  CHECK(std::string(copy->begin(), copy->end()).find("Okonkwo") != std::string::npos);  // the frame itself
  // Acknowledged: the entry and the copy go.
  hub.desk->on_acknowledged("police", from_hex(police).value());
  CHECK(outbox().empty());
  items = hub.vault.items(id);
  REQUIRE(items.ok());
  CHECK(std::find(items->begin(), items->end(), "copy.police") == items->end());
  CHECK(std::find(items->begin(), items->end(), "request") != items->end());
}

TEST_CASE("link batches: a repeat is stored only if its first is on the record, a bad body is refused, a purged case's answer is acknowledged",
          "[enquiries][link]") {
  Hub hub;
  EnquiryActor rita{"rita.r", "researcher", "west"};
  json req = request_to_police_and_health();
  auto first = std::get<json>(hub.desk->submit(req, rita));
  auto second = std::get<json>(hub.desk->submit(request(), rita));
  const std::string id = first["id"], police = first["agencies"]["police"]["delivery"],
                    health = first["agencies"]["health"]["delivery"];
  const std::string id2 = second["id"], police2 = second["agencies"]["police"]["delivery"];

  // An answer whose released field is not a code cannot go on the record; sent twice in one
  // batch, neither copy is stored.
  AgentAnswer unrecordable = answer_for("police", police);
  {
    capnp::MallocMessageBuilder b;
    auto body = b.initRoot<wire::AnswerBody>();
    body.setEnquiryId(capnp::Data::Reader(unrecordable.enquiry_id.data(), unrecordable.enquiry_id.size()));
    body.setAgency("police");
    body.setStatus(wire::AnswerBody::Status::ANSWERED);
    auto subjects = body.initSubjects(1);
    subjects[0].setRef("s1");
    subjects[0].setOutcome(wire::SubjectAnswer::Outcome::MATCHED);
    subjects[0].initReleased(1)[0].setField("not a code");
    unrecordable.body = serialize_message(b);
  }
  // A body that is well framed but not an AnswerBody (its agency is bytes without a NUL).
  AgentAnswer misshapen = answer_for("health", health);
  {
    capnp::MallocMessageBuilder b;
    auto err = b.initRoot<wire::Error>();
    err.setMessage("x");
    std::vector<uint8_t> junk(16, 0x41);
    err.setEnquiryId(capnp::Data::Reader(junk.data(), junk.size()));
    misshapen.body = serialize_message(b);
  }
  // The second case is purged in the vault but its record not yet marked (the moment inside
  // purge_case between the two).
  REQUIRE(hub.vault.purge(id2, "retention period ended").ok());

  std::mutex m;
  std::map<std::string, std::vector<bool>> results;
  auto done = [&](const std::string& label) {
    return [&, label](bool stored) {
      std::lock_guard lock(m);
      results[label].push_back(stored);
    };
  };
  hub.desk->post_answer(unrecordable, done("unrecordable"));
  hub.desk->post_answer(unrecordable, done("unrecordable"));
  hub.desk->post_answer(misshapen, done("misshapen"));
  hub.desk->post_answer(answer_for("police", police2), done("purged"));
  hub.desk->post_answer(answer_for("health", health), done("health"));
  hub.desk->start_link_worker();
  hub.desk->stop_link_worker();

  CHECK(results["unrecordable"] == std::vector<bool>{false, false});
  CHECK(results["misshapen"] == std::vector<bool>{false});
  CHECK(results["purged"] == std::vector<bool>{true});  // on the record; its content not kept
  CHECK(results["health"] == std::vector<bool>{true});  // unaffected by the others
  auto view = std::get<json>(hub.desk->get(id, rita));
  CHECK(view["agencies"]["police"]["status"] == "queued");
  CHECK(view["agencies"]["health"]["status"] == "answered");
  CHECK_FALSE(hub.vault.get(id, "answer.police").ok());
  CHECK(hub.count("answer.received") == 2);  // health's, and the purged case's
}

TEST_CASE("identifiers: an agency's own scheme goes only to the agencies that declare it", "[enquiries]") {
  Hub hub;
  EnquiryActor rita{"rita.r", "researcher", "west"};
  json req = request_to_police_and_health();
  req["subjects"][0]["identifiers"] = json::array({{{"scheme", "police-nominal"}, {"value", "PN-77QX3"}},
                                                   {{"scheme", "nhs"}, {"value", "943 476 5919"}}});
  auto created = hub.desk->submit(req, rita);
  REQUIRE(std::holds_alternative<json>(created));
  const std::string id = std::get<json>(created)["id"];
  auto copy_of = [&](const std::string& agency) {
    auto copy = hub.vault.get(id, "copy." + agency);
    REQUIRE(copy.ok());
    return std::string(copy->begin(), copy->end());
  };
  // The police declare police-nominal in the example agreement; health does not. Both get the
  // NHS number, a national identifier.
  CHECK(copy_of("police").find("PN-77QX3") != std::string::npos);
  CHECK(copy_of("health").find("PN-77QX3") == std::string::npos);
  CHECK(copy_of("police").find("9434765919") != std::string::npos);
  CHECK(copy_of("health").find("9434765919") != std::string::npos);

  // A scheme no agency declares, a scheme twice, an entry without a value: refused, naming the
  // identifier, nothing stored.
  auto refused = [&](json ids, const std::string& field) {
    json bad = request_to_police_and_health();
    bad["case_ref"] = "MASH-2026-0043";
    bad["subjects"][0]["identifiers"] = std::move(ids);
    auto r = hub.desk->submit(bad, rita);
    REQUIRE(std::holds_alternative<EnquiryError>(r));
    const auto& e = std::get<EnquiryError>(r);
    CHECK(e.status == 400);
    std::string listed;
    for (const auto& [k, v] : e.fields) listed += k + ": " + v + "; ";
    INFO(listed);
    CHECK(e.fields.count(field) == 1);
  };
  refused(json::array({{{"scheme", "ssn"}, {"value", "1"}}}), "subjects[0].identifiers[0]");
  refused(json::array({{{"scheme", "police-nominal"}, {"value", "A"}}, {{"scheme", "police-nominal"}, {"value", "B"}}}),
          "subjects[0].identifiers[1]");
  refused(json::array({{{"scheme", "police-nominal"}}}), "subjects[0].identifiers[0]");
  refused(json::array({{{"scheme", "police-nominal"}, {"value", std::string(33, 'x')}}}), "subjects[0].identifiers[0]");
  refused(json("PN-1"), "subjects[0].identifiers");
  // A UPRN goes to the agencies with the address; a bad one, or a field no person has, is refused.
  {
    json with_uprn = request();
    with_uprn["case_ref"] = "MASH-2026-0045";
    with_uprn["subjects"][0]["uprn"] = "100023336956";
    auto ok = hub.desk->submit(with_uprn, rita);
    REQUIRE(std::holds_alternative<json>(ok));
    auto copy = hub.vault.get(std::get<json>(ok)["id"].get<std::string>(), "copy.police");
    REQUIRE(copy.ok());
    CHECK(std::string(copy->begin(), copy->end()).find("100023336956") != std::string::npos);
    json bad_uprn = with_uprn;
    bad_uprn["subjects"][0]["uprn"] = "12ab";
    auto r1 = hub.desk->submit(bad_uprn, rita);
    REQUIRE(std::holds_alternative<EnquiryError>(r1));
    CHECK(std::get<EnquiryError>(r1).fields.count("subjects[0].uprn") == 1);
    json extra = with_uprn;
    extra["subjects"][0]["shoe_size"] = "9";
    auto r2 = hub.desk->submit(extra, rita);
    REQUIRE(std::holds_alternative<EnquiryError>(r2));
    CHECK(std::get<EnquiryError>(r2).fields.count("subjects[0].shoe_size") == 1);
  }
  // The police's scheme in an enquiry that does not ask the police.
  json health_only = request_to_police_and_health();
  health_only["case_ref"] = "MASH-2026-0044";
  health_only["agencies"].erase(0);
  health_only["subjects"][0]["identifiers"] = json::array({{{"scheme", "police-nominal"}, {"value", "PN-1"}}});
  auto r = hub.desk->submit(health_only, rita);
  REQUIRE(std::holds_alternative<EnquiryError>(r));
  CHECK(std::get<EnquiryError>(r).fields.count("subjects[0].identifiers.police-nominal") == 1);
}

TEST_CASE("follow-ups: the same case asked again with more details, linked both ways, bad links refused", "[enquiries]") {
  Hub hub;
  EnquiryActor rita{"rita.r", "researcher", "west"};
  EnquiryActor other{"omar.o", "researcher", "east"};
  auto first = hub.desk->submit(request_to_police_and_health(), rita);
  REQUIRE(std::holds_alternative<json>(first));
  const std::string id = std::get<json>(first)["id"];

  // The police answered "possible": the researcher adds the address and asks the police again.
  json again = request();
  again["follows"] = id;
  again["subjects"][0]["address"] = "Flat 2, 14 Acacia Road, Hammersmith";
  auto second = hub.desk->submit(again, rita);
  REQUIRE(std::holds_alternative<json>(second));
  const std::string id2 = std::get<json>(second)["id"];
  auto view = [&](const std::string& e) {
    auto v = hub.desk->get(e, rita);
    REQUIRE(std::holds_alternative<json>(v));
    return std::get<json>(v);
  };
  CHECK(view(id2)["follows"] == id);
  CHECK(view(id)["follow_ups"] == json::array({id2}));
  CHECK(view(id2)["request"]["subjects"][0]["address"] == "Flat 2, 14 Acacia Road, Hammersmith");
  auto created = hub.audit->find("type", "enquiry.created");
  REQUIRE(created.ok());
  REQUIRE(created->size() == 2);

  // Refused, naming the field, nothing stored: no such enquiry, someone else's, another case,
  // an agency not asked before.
  auto refused = [&](json req, const EnquiryActor& who, const std::string& field) {
    auto r = hub.desk->submit(req, who);
    REQUIRE(std::holds_alternative<EnquiryError>(r));
    std::string listed;
    for (const auto& [k, v] : std::get<EnquiryError>(r).fields) listed += k + ": " + v + "; ";
    INFO(listed);
    CHECK(std::get<EnquiryError>(r).fields.count(field) == 1);
  };
  json bad = again;
  bad["follows"] = "00000000000000000000000000000000";
  refused(bad, rita, "follows");
  refused(again, other, "follows");
  bad = again;
  bad["case_ref"] = "MASH-2026-9999";
  refused(bad, rita, "case_ref");
  bad = again;
  bad["agencies"] = json::array({{{"agency", "education"}, {"justification", "The school may know the family."}}});
  refused(bad, rita, "agencies[0]");
  bad = again;
  bad["follows"] = "not an id!";
  refused(bad, rita, "follows");
  CHECK(hub.count("enquiry.created") == 2);
  CHECK(view(id)["follow_ups"].size() == 1);
}

namespace {

// Changes one byte of a value in one of the store's tables (as damage on disk would).
void damage(Env& env, const char* table, const std::string& key, size_t at) {
  auto txn = env.begin_write();
  REQUIRE(txn.ok());
  auto db = txn->open_db(table, false);
  REQUIRE(db.ok());
  auto v = txn->get(*db, key);
  REQUIRE(v.ok());
  REQUIRE(v->has_value());
  std::string bytes(**v);
  REQUIRE(at < bytes.size());
  bytes[at] = static_cast<char>(bytes[at] ^ 0x5a);
  REQUIRE(txn->put(*db, key, bytes).ok());
  REQUIRE(txn->commit().ok());
}

}  // namespace

TEST_CASE("idempotency: a retry with the same key returns the first enquiry, another body with it is refused",
          "[enquiries][idempotency]") {
  Hub hub;
  EnquiryActor rita{"rita.r", "researcher", "west"}, sam{"sam.s", "researcher", "west"};
  auto first = hub.desk->submit(request(), rita, "case-42:attempt-1");
  REQUIRE(std::holds_alternative<json>(first));
  const std::string id = std::get<json>(first)["id"];
  CHECK_FALSE(std::get<json>(first).value("replayed", false));
  auto again = hub.desk->submit(request(), rita, "case-42:attempt-1");
  REQUIRE(std::holds_alternative<json>(again));
  CHECK(std::get<json>(again)["id"] == id);
  CHECK(std::get<json>(again)["replayed"] == true);
  CHECK(std::get<json>(again)["agencies"]["police"]["delivery"] == std::get<json>(first)["agencies"]["police"]["delivery"]);
  CHECK(hub.count("enquiry.created") == 1);
  // Another body under the same key: refused, nothing made.
  json other = request();
  other["case_ref"] = "MASH-2026-0043";
  auto clash = hub.desk->submit(other, rita, "case-42:attempt-1");
  REQUIRE(std::holds_alternative<EnquiryError>(clash));
  CHECK(std::get<EnquiryError>(clash).status == 409);
  CHECK(hub.count("enquiry.created") == 1);
  // Keys are per user; a bad key is refused before anything is done.
  auto sams = hub.desk->submit(request(), sam, "case-42:attempt-1");
  REQUIRE(std::holds_alternative<json>(sams));
  CHECK(std::get<json>(sams)["id"] != id);
  for (std::string bad : {std::string("has space"), std::string(129, 'k'), std::string("semi;colon")}) {
    auto refused = hub.desk->submit(request(), rita, bad);
    REQUIRE(std::holds_alternative<EnquiryError>(refused));
    CHECK(std::get<EnquiryError>(refused).status == 400);
  }
  CHECK(hub.count("enquiry.created") == 2);
  // Concurrent retries with one key: one enquiry; a loser recorded first is marked abandoned.
  std::vector<std::thread> threads;
  std::mutex m;
  std::set<std::string> ids;
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&] {
      auto r = hub.desk->submit(request(), rita, "burst");
      std::lock_guard lock(m);
      if (auto* j = std::get_if<json>(&r)) ids.insert((*j)["id"].get<std::string>());
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ids.size() == 1);
  CHECK(hub.count("enquiry.created") - hub.count("enquiry.abandoned") == 3);
}

TEST_CASE("reconciliation: an enquiry recorded but never stored is marked abandoned once, at the next start",
          "[enquiries][reconcile]") {
  Hub hub;
  EnquiryActor rita{"rita.r", "researcher", "west"};
  auto kept = hub.desk->submit(request(), rita);
  REQUIRE(std::holds_alternative<json>(kept));
  // A crash between the audit record and the store's commit leaves this behind.
  AuditEvent e;
  e.type = "enquiry.created";
  e.time_ms = unix_millis_now();
  e.actor = "rita.r";
  e.role = "researcher";
  e.case_ref = "MASH-2026-0099";
  e.enquiry = std::string(32, 'c');
  e.outcome = "permitted";
  REQUIRE(hub.audit->append(event_to_record(e).value(), event_index_keys(e)).ok());
  auto reopen = [&] {
    hub.desk.reset();
    hub.desk = std::make_unique<EnquiryDesk>(hub.env, hub.vault, hub.policy, *hub.audit, SigningKey::generate(),
                                             Pseudonymizer(HashKey::generate()), Logger(hub.log_text, LogLevel::kInfo, "test"));
    REQUIRE(hub.desk->open().ok());
  };
  reopen();
  auto abandoned = hub.audit->find("type", "enquiry.abandoned");
  REQUIRE(abandoned.ok());
  REQUIRE(abandoned->size() == 1);
  auto rec = json::parse(hub.audit->record(abandoned->front()).value());
  CHECK(rec["enquiry"] == std::string(32, 'c'));
  CHECK(rec["case"] == "MASH-2026-0099");
  CHECK(rec["outcome"] == "not-stored");
  CHECK(hub.desk->metrics_text().find("mash_enquiries_abandoned_total 1") != std::string::npos);
  // Once: neither a second start nor the stored enquiry adds any.
  reopen();
  reopen();
  CHECK(hub.count("enquiry.abandoned") == 1);
}

TEST_CASE("list: pages newest first from the listing, with filters, bad cursors refused, a damaged row shown as such",
          "[enquiries][list]") {
  Hub hub;
  EnquiryActor rita{"rita.r", "researcher", "west"}, sam{"sam.s", "researcher", "west"}, mo{"mo.m", "manager", "west"},
      eve{"eve.e", "manager", "east"};
  std::vector<std::string> made;  // oldest first
  // Six researchers of the team, 20 each (the agreement's hourly limit): rita and sam, and four more.
  std::vector<EnquiryActor> team = {rita, sam};
  for (int k = 0; k < 4; ++k) team.push_back({"r" + std::to_string(k), "researcher", "west"});
  for (int i = 0; i < 120; ++i) {
    json req = request();
    req["case_ref"] = "MASH-2026-" + std::to_string(1000 + i);
    if (i % 10 == 0) req["brag"] = "red";
    auto r = hub.desk->submit(req, team[static_cast<size_t>(i / 20)]);
    REQUIRE(std::holds_alternative<json>(r));
    made.push_back(std::get<json>(r)["id"]);
  }
  auto page = [&](const EnquiryActor& who, ListQuery q) {
    auto r = hub.desk->list(who, q);
    REQUIRE(std::holds_alternative<json>(r));
    return std::get<json>(r);
  };
  // The manager sees the team's 120, 50 at a time, newest first, each once.
  ListQuery q;
  std::vector<std::string> seen;
  std::vector<int64_t> times;
  for (int n = 0; n < 10; ++n) {
    json p = page(mo, q);
    for (const auto& e : p["enquiries"]) {
      seen.push_back(e["id"]);
      times.push_back(e["created_ms"]);
    }
    if (p["next_cursor"].is_null()) break;
    CHECK(p["enquiries"].size() == 50);
    q.cursor = p["next_cursor"];
  }
  REQUIRE(seen.size() == 120);
  // Newest first (two made in the same millisecond may come in either order).
  CHECK(std::is_sorted(times.rbegin(), times.rend()));
  CHECK(std::set<std::string>(seen.begin(), seen.end()) == std::set<std::string>(made.begin(), made.end()));
  // A researcher sees only theirs; a manager of another team nothing.
  ListQuery all;
  all.limit = 200;
  CHECK(page(rita, all)["enquiries"].size() == 20);
  CHECK(page(sam, all)["enquiries"].size() == 20);
  CHECK(page(eve, all)["enquiries"].empty());
  // Filters.
  ListQuery red = all;
  red.brag = "red";
  CHECK(page(mo, red)["enquiries"].size() == 12);
  ListQuery queued = all;
  queued.status = "queued";
  CHECK(page(mo, queued)["enquiries"].size() == 120);
  queued.status = "answered";
  CHECK(page(mo, queued)["enquiries"].empty());
  ListQuery overdue = all;
  overdue.overdue = true;
  CHECK(page(mo, overdue)["enquiries"].empty());
  // A cursor this list did not give is refused.
  ListQuery bad;
  bad.cursor = "../../x";
  auto refused = hub.desk->list(mo, bad);
  REQUIRE(std::holds_alternative<EnquiryError>(refused));
  CHECK(std::get<EnquiryError>(refused).status == 400);
  // One damaged listing row: the page still answers and names it damaged.
  {
    auto txn = hub.env.begin_write();
    REQUIRE(txn.ok());
    auto db = txn->open_db("listing", false);
    REQUIRE(db.ok());
    std::string key;
    REQUIRE(txn->for_each_prefix(*db, "t/west/", [&](std::string_view k, std::string_view) {
      key = k;
      return false;
    }).ok());
    REQUIRE(txn->put(*db, key, "{damaged").ok());
    REQUIRE(txn->commit().ok());
  }
  json first = page(mo, ListQuery{});
  REQUIRE(first["enquiries"].size() == 50);
  CHECK(first["enquiries"][0]["damaged"] == true);
  CHECK(first["enquiries"][0]["id"] == seen.front());
}

TEST_CASE("damage: a damaged enquiry record or answer is reported, never dropped, and the rest keeps working",
          "[enquiries][damage]") {
  Hub hub;
  EnquiryActor rita{"rita.r", "researcher", "west"};
  auto one = hub.desk->submit(request_to_police_and_health(), rita);
  auto two = hub.desk->submit(request(), rita);
  REQUIRE(std::holds_alternative<json>(one));
  REQUIRE(std::holds_alternative<json>(two));
  const std::string id1 = std::get<json>(one)["id"], id2 = std::get<json>(two)["id"];
  REQUIRE(hub.desk->on_answer(answer_for("police", std::get<json>(one)["agencies"]["police"]["delivery"])));
  REQUIRE(hub.desk->on_answer(answer_for("health", std::get<json>(one)["agencies"]["health"]["delivery"])));
  // One byte of police's stored answer: the picture says it cannot be read; health's still shows.
  damage(hub.env, "vault_items", id1 + "/answer.police", 20);
  auto view = hub.desk->get(id1, rita);
  REQUIRE(std::holds_alternative<json>(view));
  const json& v = std::get<json>(view);
  CHECK(v["agencies"]["police"]["unreadable"] == true);
  CHECK(v["agencies"]["police"]["problem"].get<std::string>().find("could not be read: ask the agency again") !=
        std::string::npos);
  CHECK(v["subjects"]["s1"]["agencies"].contains("health"));
  CHECK_FALSE(v["subjects"]["s1"]["agencies"].contains("police"));
  CHECK(hub.desk->metrics_text().find("mash_answers_unreadable_total 1") != std::string::npos);
  CHECK(hub.log_text.str().find("answer-unreadable") != std::string::npos);
  // One byte of the first enquiry's record: it is reported damaged; the list and the other work.
  damage(hub.env, "enquiries", id1, 2);
  auto broken = hub.desk->get(id1, rita);
  REQUIRE(std::holds_alternative<EnquiryError>(broken));
  CHECK(std::get<EnquiryError>(broken).status == 500);
  CHECK(std::get<EnquiryError>(broken).code == "damaged");
  CHECK(std::holds_alternative<json>(hub.desk->get(id2, rita)));
  auto list = hub.desk->list(rita);
  REQUIRE(std::holds_alternative<json>(list));
  CHECK(std::get<json>(list)["enquiries"].size() == 2);
}
