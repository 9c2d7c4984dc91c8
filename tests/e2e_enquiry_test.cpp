// End to end for the life of an enquiry at the hub, with real processes: status pushed to the
// browser as server-sent events, an agency marked overdue at its deadline and its late answer
// still recorded, a broker killed with SIGKILL mid-flight, bad input, repeated lookups flagged.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <csignal>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "api_hub.h"
#include "audit_export.h"

using namespace mash::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// A client of GET /api/v1/events (curl -N), its output in a file the test reads.
std::unique_ptr<Process> watch_events(ApiHub& hub, const std::string& auth_header, const std::string& query,
                                      const std::string& name) {
  return std::make_unique<Process>(
      std::vector<std::string>{"/usr/bin/curl", "-sS", "-N", "--max-time", "150", "--cacert", hub.pki.broker().ca.string(),
                               "--resolve", "broker.test:" + std::to_string(hub.port) + ":127.0.0.1", "-H",
                               auth_header, "https://broker.test:" + std::to_string(hub.port) + "/api/v1/events" + query},
      hub.pki.dir() / (name + ".events"));
}

// "Authorization: Bearer ..." from the curl arguments hub.bearer() returns.
std::string header_of(const std::string& curl_args) {
  auto a = curl_args.find('\'');
  return curl_args.substr(a + 1, curl_args.rfind('\'') - a - 1);
}

// The "data:" lines of the "status" events in an event stream, parsed.
std::vector<json> status_events(const std::string& stream) {
  std::vector<json> out;
  size_t pos = 0;
  while ((pos = stream.find("event: status\ndata: ", pos)) != std::string::npos) {
    pos += 20;
    auto end = stream.find('\n', pos);
    if (end == std::string::npos) break;
    auto j = json::parse(stream.substr(pos, end - pos), nullptr, false);
    if (!j.is_discarded()) out.push_back(j);
  }
  return out;
}

std::vector<json> records_of_type(const std::string& jsonl, const std::string& type) {
  std::vector<json> out;
  size_t start = 0;
  while (start < jsonl.size()) {
    auto end = jsonl.find('\n', start);
    if (end == std::string::npos) end = jsonl.size();
    auto line = jsonl.substr(start, end - start);
    start = end + 1;
    auto j = json::parse(line, nullptr, false);
    if (j.is_discarded()) continue;
    const json& rec = j.contains("record") ? j["record"] : j;
    if (rec.is_object() && rec.value("type", "") == type) out.push_back(rec);
  }
  return out;
}

}  // namespace

TEST_CASE("enquiries: status is pushed as it changes, an agency is marked overdue at its deadline and its late answer kept",
          "[e2e][enquiry][slow]") {
  ApiHub hub;
  const auto& d = hub.pki.dir();
  std::string out;
  // The example agreement with a one-minute deadline for red.
  std::string isa = ApiHub::example_agreement();
  auto red = isa.find("id = \"red\"");
  REQUIRE(red != std::string::npos);
  isa.replace(isa.find("deadline_hours = 4", red), 18, "deadline_minutes = 1");
  hub.setup_police(isa);
  REQUIRE(hub.user("add --id rita.r --role researcher --team west", "rita's long passphrase", &out) == 0);
  REQUIRE(hub.user("add --id rob.r --role researcher --team east", "rob's long passphrase!", &out) == 0);
  REQUIRE(hub.user("add --id dora.dpo --role dpo --team hub", "dora's long passphrase", &out) == 0);
  hub.start();
  const std::string rita = hub.bearer("rita.r", "rita's long passphrase");
  const std::string rob = hub.bearer("rob.r", "rob's long passphrase!");

  // Refused: a DPO (no case content), a bad query, someone else's enquiry (below).
  CHECK(hub.call("GET", "/api/v1/events", "", hub.bearer("dora.dpo", "dora's long passphrase")).status == 403);
  CHECK(hub.call("GET", "/api/v1/events?case=1", "", rita).status == 400);
  CHECK(hub.call("GET", "/api/v1/events").status == 401);

  auto rita_all = watch_events(hub, header_of(rita), "", "rita-all");
  auto rob_all = watch_events(hub, header_of(rob), "", "rob-all");
  REQUIRE(rita_all->wait_for_log("event: ready", 10000ms));
  REQUIRE(rob_all->wait_for_log("event: ready", 10000ms));

  // Submitted while the police agent is offline.
  json request = enquiry_request();
  request["brag"] = "red";
  auto created = hub.call("POST", "/api/v1/enquiries", request.dump(), rita);
  INFO(created.body);
  REQUIRE(created.status == 201);
  const std::string id = created.j()["id"];
  REQUIRE(rita_all->wait_for_log("\"status\":\"queued\"", 10000ms));
  CHECK(hub.call("GET", "/api/v1/events?enquiry=" + id, "", rob).status == 404);
  auto rita_one = watch_events(hub, header_of(rita), "?enquiry=" + id, "rita-one");
  // Its current state first.
  REQUIRE(rita_one->wait_for_log("\"status\":\"queued\"", 10000ms));

  // Nobody answers within the minute: overdue, pushed, and in the audit log.
  INFO(hub.broker->log());
  REQUIRE(rita_one->wait_for_log("\"status\":\"overdue\"", 90000ms));
  const int64_t deadline = created.j()["deadline_ms"];
  auto overdue = status_events(rita_one->log()).back();
  CHECK(overdue["agency"] == "police");
  CHECK(overdue["updated_ms"].get<int64_t>() >= deadline);
  CHECK(overdue["updated_ms"].get<int64_t>() < deadline + 5000);
  auto view = hub.call("GET", "/api/v1/enquiries/" + id, "", rita).j();
  CHECK(view["agencies"]["police"]["status"] == "overdue");

  // The agent comes online: the answer arrives late and is still recorded.
  auto agent = hub.start_police();
  INFO(agent->log());
  REQUIRE(rita_one->wait_for_log("\"status\":\"answered\"", 20000ms));
  auto answered = status_events(rita_one->log()).back();
  CHECK(answered["status"] == "answered");
  CHECK(answered["late"] == true);
  view = hub.call("GET", "/api/v1/enquiries/" + id, "", rita).j();
  CHECK(view["agencies"]["police"]["status"] == "answered");
  CHECK(view["subjects"]["s1"]["agencies"]["police"]["outcome"] == "matched");
  // The stream for every enquiry saw the same; Rob's saw nothing of Rita's.
  REQUIRE(rita_all->wait_for_log("\"status\":\"answered\"", 5000ms));
  std::vector<std::string> sequence;
  for (const auto& e : status_events(rita_all->log())) sequence.push_back(e["status"]);
  CHECK(sequence == std::vector<std::string>{"queued", "overdue", "answered"});
  CHECK(rob_all->log().find(id) == std::string::npos);
  CHECK(rob_all->log().find("event: ready") != std::string::npos);
  // No personal data in events.
  CHECK(rita_all->log().find("Okonkwo") == std::string::npos);

  auto metrics = hub.call("GET", "/metrics").body;
  CHECK(metrics.find("mash_enquiry_agencies{status=\"answered\"} 1") != std::string::npos);
  CHECK(metrics.find("mash_enquiry_agencies{status=\"overdue\"} 0") != std::string::npos);
  CHECK(metrics.find("mash_answer_latency_seconds_count 1") != std::string::npos);

  hub.broker->signal(SIGTERM);
  REQUIRE(hub.broker->wait(5000ms) == 0);
  std::string records = exported_records(d / "audit", d / "audit.jsonl");
  auto marked = records_of_type(records, "enquiry.overdue");
  REQUIRE(marked.size() == 1);
  CHECK(marked[0]["enquiry"] == id);
  auto answers = records_of_type(records, "answer.received");
  REQUIRE(answers.size() == 1);
  CHECK(answers[0].dump().find("late") != std::string::npos);
}

TEST_CASE("enquiries: SIGKILL of the broker mid-flight loses no acknowledged enquiry and doubles no answer",
          "[e2e][enquiry]") {
  ApiHub hub;
  const auto& d = hub.pki.dir();
  std::string out;
  hub.setup_police();
  REQUIRE(hub.user("add --id rita.r --role researcher --team west", "rita's long passphrase", &out) == 0);
  hub.start();
  auto agent = hub.start_police();
  INFO(agent->log());
  REQUIRE(hub.broker->wait_for_log("agent-connected", 10000ms));
  const std::string rita = hub.bearer("rita.r", "rita's long passphrase");

  // Enquiries one after another; the broker is killed while they flow.
  std::vector<std::string> acknowledged;
  std::thread killer;
  for (int i = 0; i < 16; ++i) {
    if (i == 6) {
      killer = std::thread([&] {
        std::this_thread::sleep_for(40ms);
        hub.broker->signal(SIGKILL);
      });
    }
    json request = enquiry_request();
    request["case_ref"] = "MASH-2026-" + std::to_string(100 + i);
    auto r = hub.call("POST", "/api/v1/enquiries", request.dump(), rita);
    if (r.status == 201) acknowledged.push_back(r.j()["id"]);
  }
  killer.join();
  REQUIRE(hub.broker->wait(5000ms) != -1);
  INFO("acknowledged " << acknowledged.size());
  REQUIRE(acknowledged.size() >= 6);
  REQUIRE(acknowledged.size() < 16);

  // Back up: every acknowledged enquiry is there and answered once.
  hub.broker.reset();
  hub.start();
  const std::string again = hub.bearer("rita.r", "rita's long passphrase");
  std::map<std::string, std::string> status;
  bool all = wait_until([&] {
    auto list = hub.call("GET", "/api/v1/enquiries", "", again).j();
    status.clear();
    for (const auto& e : list["enquiries"]) status[e["id"]] = e["agencies"]["police"];
    for (const auto& id : acknowledged) {
      if (status[id] != "answered") return false;
    }
    return true;
  }, 30000ms);
  INFO(hub.broker->log());
  REQUIRE(all);
  hub.broker->signal(SIGTERM);
  REQUIRE(hub.broker->wait(5000ms) == 0);
  std::string records = exported_records(d / "audit", d / "audit.jsonl");
  std::map<std::string, int> created, answers;
  for (const auto& r : records_of_type(records, "enquiry.created")) ++created[r["enquiry"]];
  for (const auto& r : records_of_type(records, "answer.received")) ++answers[r["enquiry"]];
  for (const auto& id : acknowledged) {
    INFO(id);
    CHECK(created[id] == 1);
    CHECK(answers[id] == 1);
  }
  // Nothing is answered twice, acknowledged or not.
  for (const auto& [id, n] : answers) CHECK(n == 1);
}

TEST_CASE("enquiries: bad input is refused and stores nothing, repeated lookups of one person are flagged",
          "[e2e][enquiry]") {
  ApiHub hub;
  const auto& d = hub.pki.dir();
  std::string out;
  hub.use_agreement();
  REQUIRE(hub.user("add --id rita.r --role researcher --team west", "rita's long passphrase", &out) == 0);
  hub.start();
  const std::string rita = hub.bearer("rita.r", "rita's long passphrase");

  struct Bad {
    const char* what;
    std::string body;
    int status;
    std::string field;
  };
  json unknown = enquiry_request();
  unknown["priority"] = "high";
  json bad_date = enquiry_request();
  bad_date["subjects"][1]["date_of_birth"] = "1988-02-30";
  json bad_type = enquiry_request();
  bad_type["subjects"] = "Amelia";
  json bad_nhs = enquiry_request();
  bad_nhs["subjects"][0]["identifiers"] = {{"nhs", "943 476 5918"}};
  json unknown_scheme = enquiry_request();
  unknown_scheme["subjects"][0]["identifiers"] = json::array({{{"scheme", "ssn"}, {"value", "123"}}});
  json bad_entry = enquiry_request();
  bad_entry["subjects"][0]["identifiers"] = json::array({{{"scheme", "police-nominal"}}});
  json no_reason = enquiry_request();
  no_reason.erase("consent_reason");
  std::vector<Bad> cases = {
      {"malformed JSON", "{\"case_ref\": ", 400, ""},
      {"not an object", "[1, 2]", 400, ""},
      {"unknown field", unknown.dump(), 400, "priority"},
      {"impossible date", bad_date.dump(), 400, "subjects[1].date_of_birth"},
      {"wrong type", bad_type.dump(), 400, "subjects"},
      {"bad check digit", bad_nhs.dump(), 400, "subjects[0].identifiers.nhs"},
      {"a scheme no agency declares", unknown_scheme.dump(), 400, "subjects[0].identifiers[0]"},
      {"an identifier without a value", bad_entry.dump(), 400, "subjects[0].identifiers[0]"},
      {"consent not sought without a reason", no_reason.dump(), 400, "consent_reason"},
      {"body over the limit", "{\"concerns\": \"" + std::string(2 << 20, 'x') + "\"}", 413, ""},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    auto r = hub.call("POST", "/api/v1/enquiries", c.body, rita);
    CHECK(r.status == c.status);
    CHECK(r.j()["error"]["message"].is_string());
    if (!c.field.empty()) CHECK(r.j()["error"]["fields"].contains(c.field));
  }
  CHECK(hub.call("GET", "/api/v1/enquiries", "", rita).j()["enquiries"].empty());

  // The same family asked about five times by one user: one flag, when the fourth goes over.
  for (int i = 0; i < 5; ++i) {
    json request = enquiry_request();
    request["case_ref"] = "MASH-2026-" + std::to_string(200 + i);
    REQUIRE(hub.call("POST", "/api/v1/enquiries", request.dump(), rita).status == 201);
  }
  CHECK(hub.call("GET", "/metrics").body.find("mash_flags_raised_total 1") != std::string::npos);
  hub.broker->signal(SIGTERM);
  REQUIRE(hub.broker->wait(5000ms) == 0);
  std::string records = exported_records(d / "audit", d / "audit.jsonl");
  CHECK(records_of_type(records, "enquiry.created").size() == 5);
  auto flags = records_of_type(records, "flag.raised");
  REQUIRE(flags.size() == 1);
  CHECK(flags[0]["outcome"] == "repeated-lookup");
  CHECK(flags[0].dump().find("rita.r") != std::string::npos);
  CHECK(flags[0]["case"] == "MASH-2026-203");
  CHECK(!flags[0]["subjects"].empty());
  CHECK(records.find("Okonkwo") == std::string::npos);
}
