// End to end for the broker's HTTPS JSON API: a real mash-broker process, curl as the client.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <ctime>
#include <memory>
#include <set>
#include <thread>
#include <sstream>
#include <string>

#include "api_hub.h"
#include "audit_export.h"
#include "crypto.h"

using namespace mash::testing;
using namespace std::chrono_literals;
using nlohmann::json;


TEST_CASE("api: health, readiness and metrics, TLS 1.3 only, security headers", "[e2e][api]") {
  ApiHub hub;
  hub.start();
  auto h = hub.call("GET", "/healthz");
  CHECK(h.status == 200);
  CHECK(h.j()["status"] == "ok");
  CHECK(h.headers.find("Strict-Transport-Security") != std::string::npos);
  CHECK(h.headers.find("Content-Security-Policy: default-src 'self'") != std::string::npos);
  CHECK(h.headers.find("Cache-Control: no-store") != std::string::npos);
  // No agreement configured: not ready, and it says why.
  auto ready = hub.call("GET", "/readyz");
  CHECK(ready.status == 503);
  CHECK(ready.j()["checks"]["audit_log"] == "ok");
  CHECK(ready.j()["checks"]["agreement"].get<std::string>().find("no agreement") != std::string::npos);
  auto m = hub.call("GET", "/metrics");
  CHECK(m.status == 200);
  CHECK(m.body.find("mash_agents_connected 0") != std::string::npos);
  CHECK(m.body.find("mash_audit_log_records") != std::string::npos);
  // TLS 1.2 is refused.
  auto old = hub.call("GET", "/healthz", "", "--tls-max 1.2");
  CHECK(old.status == 0);
  CHECK(hub.call("GET", "/nope").status == 404);
  // The web interface: its page (never cached) for each section, its files (cacheable), and a
  // 404 for anything else.
  for (const char* page : {"/", "/cases", "/enquiries/abc", "/audit/cases/MASH-1"}) {
    auto p = hub.call("GET", page);
    CHECK(p.status == 200);
    CHECK(p.headers.find("Content-Type: text/html") != std::string::npos);
    CHECK(p.headers.find("Cache-Control: no-store") != std::string::npos);
    CHECK(p.body.find("/assets/js/app.js") != std::string::npos);
  }
  auto js = hub.call("GET", "/assets/js/app.js");
  CHECK(js.status == 200);
  CHECK(js.headers.find("Content-Type: text/javascript") != std::string::npos);
  // Kept by the browser, but revalidated on every use: 304 while unchanged.
  CHECK(js.headers.find("Cache-Control: no-cache") != std::string::npos);
  auto etag_at = js.headers.find("ETag: \"");
  REQUIRE(etag_at != std::string::npos);
  const std::string etag = js.headers.substr(etag_at + 6, js.headers.find('\r', etag_at) - etag_at - 6);
  CHECK(etag.size() == 34);
  auto again = hub.call("GET", "/assets/js/app.js", "", "-H " + shell_quote("If-None-Match: " + etag));
  CHECK(again.status == 304);
  INFO(again.headers);
  CHECK(again.headers.find("\nContent-Type:") == std::string::npos);  // no body (curl leaves its last output file)
  CHECK(again.headers.find("ETag: " + etag) != std::string::npos);
  auto changed = hub.call("GET", "/assets/js/app.js", "", "-H 'If-None-Match: \"0123\"'");
  CHECK(changed.status == 200);
  CHECK(changed.body == js.body);
  CHECK(hub.call("GET", "/assets/js/nope.js").status == 404);
  CHECK(hub.call("GET", "/assets/../CMakeLists.txt", "", "--path-as-is").status == 404);
  CHECK(hub.call("POST", "/cases").status == 404);
}

TEST_CASE("api: sign in with a cookie, CSRF on changes, roles, lockout, bearer tokens", "[e2e][api]") {
  ApiHub hub;
  std::string out;
  // The first admin, from the command line (password on standard input).
  REQUIRE(hub.user("add --id admin.one --name 'Ada Admin' --role admin --team hub", kAdminPassword, &out) == 0);
  // Bad input changes nothing.
  CHECK(hub.user("add --id researcher.r --role researcher --team west", "short", &out) == 2);
  CHECK(hub.user("add --id Bad!Name --role researcher --team west", kAdminPassword, &out) == 2);
  CHECK(hub.user("add --id someone --role wizard --team west", kAdminPassword, &out) == 2);
  REQUIRE(hub.user("list", "", &out) == 0);
  CHECK(out.find("admin.one\tadmin\thub\tactive") != std::string::npos);
  CHECK(out.find("researcher.r") == std::string::npos);
  hub.start();

  // Wrong password and unknown user look the same.
  auto bad = hub.call("POST", "/api/v1/session", R"({"user": "admin.one", "password": "wrong password 123"})");
  CHECK(bad.status == 401);
  auto unknown = hub.call("POST", "/api/v1/session", R"({"user": "nobody", "password": "wrong password 123"})");
  CHECK(unknown.status == 401);
  CHECK(unknown.j()["error"]["message"] == bad.j()["error"]["message"]);
  CHECK(hub.call("POST", "/api/v1/session", "{not json").status == 400);
  CHECK(hub.call("POST", "/api/v1/session", R"({"user": "admin.one"})").j()["error"]["fields"]["password"] == "is required");

  auto login = hub.call("POST", "/api/v1/session", json{{"user", "admin.one"}, {"password", kAdminPassword}}.dump());
  REQUIRE(login.status == 200);
  CHECK(login.headers.find("HttpOnly") != std::string::npos);
  CHECK(login.headers.find("Secure") != std::string::npos);
  CHECK(login.headers.find("SameSite=Strict") != std::string::npos);
  CHECK_FALSE(login.j().contains("token"));  // the browser never sees the token itself
  std::string cookie = cookie_from(login);
  std::string csrf = login.j()["csrf"];
  REQUIRE_FALSE(cookie.empty());
  const std::string with_cookie = "-H " + shell_quote("Cookie: " + cookie);

  auto me = hub.call("GET", "/api/v1/me", "", with_cookie);
  CHECK(me.status == 200);
  CHECK(me.j()["role"] == "admin");
  CHECK(hub.call("GET", "/api/v1/me").status == 401);

  // A change with the cookie needs the CSRF token.
  json researcher = {{"id", "researcher.r"}, {"name", "Rita Researcher"}, {"role", "researcher"},
                     {"team", "west"}, {"password", "another long passphrase"}};
  CHECK(hub.call("POST", "/api/v1/users", researcher.dump(), with_cookie).status == 403);
  auto added = hub.call("POST", "/api/v1/users", researcher.dump(), with_cookie + " -H 'X-CSRF-Token: " + csrf + "'");
  INFO(added.body);
  CHECK(added.status == 201);
  CHECK(hub.call("POST", "/api/v1/users", researcher.dump(), with_cookie + " -H 'X-CSRF-Token: " + csrf + "'").status == 409);
  json bad_user = researcher;
  bad_user["id"] = "another";
  bad_user["role"] = "wizard";
  CHECK(hub.call("POST", "/api/v1/users", bad_user.dump(), with_cookie + " -H 'X-CSRF-Token: " + csrf + "'").status == 400);

  // The researcher, by bearer token (scripts): no access to users.
  auto rlogin = hub.call("POST", "/api/v1/session",
                         R"({"user": "researcher.r", "password": "another long passphrase", "bearer": true})");
  REQUIRE(rlogin.status == 200);
  std::string token = rlogin.j()["token"];
  CHECK(token.size() == 43);
  const std::string bearer = "-H " + shell_quote("Authorization: Bearer " + token);
  CHECK(hub.call("GET", "/api/v1/me", "", bearer).j()["role"] == "researcher");
  CHECK(hub.call("GET", "/api/v1/users", "", bearer).status == 403);
  CHECK(hub.call("DELETE", "/api/v1/session", "", bearer).status == 200);
  CHECK(hub.call("GET", "/api/v1/me", "", bearer).status == 401);

  // Lockout after three failures (this hub's setting): even the right password is refused.
  for (int i = 0; i < 3; ++i) hub.call("POST", "/api/v1/session", R"({"user": "researcher.r", "password": "not the password"})");
  auto locked = hub.call("POST", "/api/v1/session", R"({"user": "researcher.r", "password": "another long passphrase"})");
  CHECK(locked.status == 429);

  // Disabling a user ends their sessions.
  auto dis = hub.call("POST", "/api/v1/users/researcher.r/disable", "", with_cookie + " -H 'X-CSRF-Token: " + csrf + "'");
  CHECK(dis.status == 200);
  auto list = hub.call("GET", "/api/v1/users", "", with_cookie);
  REQUIRE(list.status == 200);
  CHECK(list.j()["users"].size() == 2);

  // Limits: a body over 1 MiB is refused.
  std::string big = "{\"user\": \"" + std::string(1100000, 'a') + "\"}";
  CHECK(hub.call("POST", "/api/v1/session", big).status == 413);

  // Every sign-in is in the audit log, without the password.
  auto m = hub.call("GET", "/metrics");
  CHECK(m.body.find("mash_logins_total{outcome=\"bad-credentials\"}") != std::string::npos);
  CHECK(m.body.find("mash_logins_total{outcome=\"locked\"}") != std::string::npos);
  hub.broker->signal(SIGTERM);
  REQUIRE(hub.broker->wait(5000ms) == 0);
  std::string records = exported_records(hub.pki.dir() / "audit", hub.pki.dir() / "audit.jsonl");
  CHECK(records.find("\"type\":\"login.succeeded\"") != std::string::npos);
  CHECK(records.find("\"outcome\":\"bad-credentials\"") != std::string::npos);
  CHECK(records.find("\"outcome\":\"locked\"") != std::string::npos);
  CHECK(records.find("\"type\":\"user.changed\"") != std::string::npos);
  CHECK(records.find("passphrase") == std::string::npos);
  CHECK(records.find(kAdminPassword) == std::string::npos);
}


TEST_CASE("api: an enquiry goes to a real agent and its answer comes back into the picture", "[e2e][api]") {
  ApiHub hub;
  const auto& d = hub.pki.dir();
  std::string out;
  hub.setup_police();
  REQUIRE(hub.user("add --id rita.r --role researcher --team west", "rita's long passphrase", &out) == 0);
  REQUIRE(hub.user("add --id rob.r --role researcher --team east", "rob's long passphrase!", &out) == 0);
  REQUIRE(hub.user("add --id dora.dpo --role dpo --team hub", "dora's long passphrase", &out) == 0);
  hub.start();
  CHECK(hub.call("GET", "/readyz").status == 200);
  auto token = [&](const std::string& user, const std::string& pw) { return hub.bearer(user, pw); };
  const std::string rita = token("rita.r", "rita's long passphrase");

  // Bad input: field-level errors, nothing stored.
  json bad = enquiry_request();
  bad["subjects"][0]["date_of_birth"] = "04/03/2016";
  bad["agencies"][0]["justification"] = "";
  bad["agencies"][0]["fields"].push_back("health.gp-registered");
  auto refused = hub.call("POST", "/api/v1/enquiries", bad.dump(), rita);
  CHECK(refused.status == 400);
  CHECK(refused.j()["error"]["fields"]["subjects[0].date_of_birth"] == "must be a date written YYYY-MM-DD");
  CHECK(refused.j()["error"]["fields"].contains("agencies[0].justification"));
  CHECK(refused.j()["error"]["fields"]["agencies[0].fields[4]"] == "is not in this agency's catalogue");
  CHECK(hub.call("GET", "/api/v1/enquiries", "", rita).j()["enquiries"].empty());

  // The preview: what the police will be asked, and what not and why.
  auto preview = hub.call("POST", "/api/v1/enquiries/preview", enquiry_request().dump(), rita);
  REQUIRE(preview.status == 200);
  auto asked = preview.j()["agencies"][0]["asked"];
  CHECK(std::find(asked.begin(), asked.end(), "police.known") != asked.end());
  CHECK(preview.j()["agencies"][0]["not_permitted"].is_array());

  // Submitted while the police agent is offline: it waits in the outbox.
  auto created = hub.call("POST", "/api/v1/enquiries", enquiry_request().dump(), rita);
  INFO(created.body);
  REQUIRE(created.status == 201);
  std::string id = created.j()["id"];
  CHECK(created.j()["agencies"]["police"]["status"] == "queued");

  auto agent = hub.start_police();
  json view;
  bool answered = wait_until([&] {
    auto r = hub.call("GET", "/api/v1/enquiries/" + id, "", rita);
    view = r.j();
    return r.status == 200 && view["agencies"]["police"]["status"] == "answered";
  }, 20000ms);
  INFO(agent->log());
  INFO(hub.broker->log());
  REQUIRE(answered);
  auto child = view["subjects"]["s1"]["agencies"]["police"];
  CHECK(child["outcome"] == "matched");
  std::set<std::string> fields;
  for (const auto& x : child["released"]) fields.insert(x["field"].get<std::string>());
  CHECK(fields.count("police.known") == 1);
  CHECK(fields.count("police.domestic-abuse") == 1);
  auto mother = view["subjects"]["s2"]["agencies"]["police"];
  CHECK(mother["restricted"] == true);
  CHECK(mother["restricted_contact"].get<std::string>().find("MASH police desk") != std::string::npos);
  CHECK(view.dump().find("NIGHTJAR") == std::string::npos);
  CHECK(view["subjects"]["s3"]["agencies"]["police"]["outcome"] == "no-record");

  // Need to know: another researcher, a DPO.
  CHECK(hub.call("GET", "/api/v1/enquiries/" + id, "", token("rob.r", "rob's long passphrase!")).status == 404);
  CHECK(hub.call("GET", "/api/v1/enquiries/" + id, "", token("dora.dpo", "dora's long passphrase")).status == 403);
  CHECK(hub.call("POST", "/api/v1/enquiries", enquiry_request().dump(), token("dora.dpo", "dora's long passphrase")).status == 403);

  // Every step is in the audit log.
  hub.broker->signal(SIGTERM);
  REQUIRE(hub.broker->wait(5000ms) == 0);
  std::string records = exported_records(d / "audit", d / "audit.jsonl");
  for (const char* type : {"enquiry.created", "enquiry.delivered", "answer.received", "results.viewed"}) {
    INFO(type);
    CHECK(records.find(std::string("\"type\":\"") + type + "\"") != std::string::npos);
  }
  CHECK(records.find("Okonkwo") == std::string::npos);
  CHECK(records.find("bruising") == std::string::npos);
}

TEST_CASE("api: every endpoint with every role", "[e2e][api]") {
  ApiHub hub;
  std::string out;
  hub.use_agreement();
  const std::map<std::string, std::string> roles = {
      {"researcher", "west"}, {"manager", "west"}, {"dpo", "hub"}, {"admin", "hub"}};
  for (const auto& [role, team] : roles) {
    REQUIRE(hub.user("add --id " + role + ".user --role " + role + " --team " + team, role + " long passphrase", &out) == 0);
  }
  // Somebody else's team, for the need-to-know row.
  REQUIRE(hub.user("add --id east.researcher --role researcher --team east", "east long passphrase", &out) == 0);
  hub.start();
  auto bearer = [&](const std::string& user, const std::string& pw) {
    auto r = hub.call("POST", "/api/v1/session", json{{"user", user}, {"password", pw}, {"bearer", true}}.dump());
    REQUIRE(r.status == 200);
    return "-H " + shell_quote("Authorization: Bearer " + r.j()["token"].get<std::string>());
  };
  std::map<std::string, std::string> auth = {{"none", ""}};
  for (const auto& [role, team] : roles) auth[role] = bearer(role + ".user", role + " long passphrase");
  auth["other-team"] = bearer("east.researcher", "east long passphrase");

  // One enquiry by the researcher, for the per-enquiry endpoint.
  auto created = hub.call("POST", "/api/v1/enquiries", enquiry_request().dump(), auth["researcher"]);
  REQUIRE(created.status == 201);
  const std::string id = created.j()["id"];
  json new_user = {{"id", "x"}, {"name", "X"}, {"role", "researcher"}, {"team", "west"}, {"password", "a long passphrase 1"}};

  struct Row {
    std::string method, path, body;
    std::map<std::string, int> expect;  // by caller
  };
  int n = 0;
  auto unique_user = [&] {
    new_user["id"] = "new.user" + std::to_string(++n);
    return new_user.dump();
  };
  const std::vector<std::string> callers = {"none", "researcher", "manager", "dpo", "admin", "other-team"};
  std::vector<Row> rows = {
      {"GET", "/api/v1/me", "", {{"none", 401}, {"researcher", 200}, {"manager", 200}, {"dpo", 200}, {"admin", 200}, {"other-team", 200}}},
      {"GET", "/api/v1/users", "", {{"none", 401}, {"researcher", 403}, {"manager", 403}, {"dpo", 403}, {"admin", 200}, {"other-team", 403}}},
      {"GET", "/api/v1/agreement", "", {{"none", 401}, {"researcher", 200}, {"manager", 200}, {"dpo", 200}, {"admin", 200}, {"other-team", 200}}},
      {"GET", "/api/v1/agencies", "", {{"none", 401}, {"researcher", 403}, {"manager", 403}, {"dpo", 403}, {"admin", 200}, {"other-team", 403}}},
      {"POST", "/api/v1/users", "*user", {{"none", 401}, {"researcher", 403}, {"manager", 403}, {"dpo", 403}, {"admin", 201}, {"other-team", 403}}},
      {"POST", "/api/v1/users/east.researcher/team", R"({"team": "east"})", {{"none", 401}, {"researcher", 403}, {"manager", 403}, {"dpo", 403}, {"admin", 200}, {"other-team", 403}}},
      {"GET", "/api/v1/enquiries", "", {{"none", 401}, {"researcher", 200}, {"manager", 200}, {"dpo", 403}, {"admin", 403}, {"other-team", 200}}},
      {"POST", "/api/v1/enquiries/preview", enquiry_request().dump(), {{"none", 401}, {"researcher", 200}, {"manager", 200}, {"dpo", 200}, {"admin", 200}, {"other-team", 200}}},
      {"POST", "/api/v1/enquiries", enquiry_request().dump(), {{"none", 401}, {"researcher", 201}, {"manager", 201}, {"dpo", 403}, {"admin", 403}, {"other-team", 201}}},
      {"GET", "/api/v1/enquiries/" + id, "", {{"none", 401}, {"researcher", 200}, {"manager", 200}, {"dpo", 403}, {"admin", 403}, {"other-team", 404}}},
      {"POST", "/api/v1/enquiries/" + id + "/decision", R"({"decision": "early-help", "rationale": "Family support is proportionate here."})",
       {{"none", 401}, {"researcher", 403}, {"manager", 200}, {"dpo", 403}, {"admin", 403}, {"other-team", 403}}},
      {"GET", "/api/v1/enquiries/" + id + "/export", "", {{"none", 401}, {"researcher", 403}, {"manager", 200}, {"dpo", 403}, {"admin", 403}, {"other-team", 403}}},
      {"GET", "/api/v1/events?enquiry=" + id, "-", {{"none", 401}, {"researcher", 200}, {"manager", 200}, {"dpo", 403}, {"admin", 403}, {"other-team", 404}}},
      {"GET", "/api/v1/audit/events?type=enquiry.created", "", {{"none", 401}, {"researcher", 403}, {"manager", 403}, {"dpo", 200}, {"admin", 403}, {"other-team", 403}}},
      {"POST", "/api/v1/audit/person", R"({"person": {"forenames": "Amelia", "surname": "Okonkwo", "date_of_birth": "2016-03-04"}})",
       {{"none", 401}, {"researcher", 403}, {"manager", 403}, {"dpo", 200}, {"admin", 403}, {"other-team", 403}}},
      {"POST", "/api/v1/audit/subject-access-report", R"({"person": {"identifiers": {"nhs": "9434765919"}}})",
       {{"none", 401}, {"researcher", 403}, {"manager", 403}, {"dpo", 200}, {"admin", 403}, {"other-team", 403}}},
      {"GET", "/api/v1/audit/cases/MASH-2026-0042/timeline", "", {{"none", 401}, {"researcher", 403}, {"manager", 403}, {"dpo", 200}, {"admin", 403}, {"other-team", 403}}},
      {"GET", "/api/v1/audit/statistics?from=2026-01-01&to=2099-12-31", "", {{"none", 401}, {"researcher", 403}, {"manager", 403}, {"dpo", 200}, {"admin", 403}, {"other-team", 403}}},
      {"GET", "/api/v1/audit/flags?from=2026-01-01&to=2099-12-31", "", {{"none", 401}, {"researcher", 403}, {"manager", 403}, {"dpo", 200}, {"admin", 403}, {"other-team", 403}}},
      {"GET", "/api/v1/no-such-thing", "", {{"none", 401}, {"researcher", 404}, {"manager", 404}, {"dpo", 404}, {"admin", 404}, {"other-team", 404}}},
  };
  for (const auto& row : rows) {
    for (const auto& caller : callers) {
      std::string body = row.body == "*user" ? unique_user() : row.body;
      // "-": an event stream; only the status line matters (curl stops after 2 s).
      std::string extra = auth[caller] + (row.body == "-" ? " --max-time 2" : "");
      if (row.body == "-") body.clear();
      auto r = hub.call(row.method, row.path, body, extra);
      INFO(row.method << " " << row.path << " as " << caller << ": " << r.body);
      CHECK(r.status == row.expect.at(caller));
    }
  }
  // The other team's researcher sees only their own enquiries in the list; the manager sees the team's.
  auto mine = hub.call("GET", "/api/v1/enquiries", "", auth["other-team"]).j()["enquiries"];
  for (const auto& e : mine) CHECK(e["id"] != id);
  auto team = hub.call("GET", "/api/v1/enquiries", "", auth["manager"]).j()["enquiries"];
  CHECK(std::any_of(team.begin(), team.end(), [&](const json& e) { return e["id"] == id; }));
  // A bad decision is refused and changes nothing; the export carries no restricted content.
  auto bad = hub.call("POST", "/api/v1/enquiries/" + id + "/decision", R"({"decision": "shrug", "rationale": "x"})", auth["manager"]);
  CHECK(bad.status == 400);
  CHECK(bad.j()["error"]["fields"].contains("decision"));
  CHECK(bad.j()["error"]["fields"].contains("rationale"));
  auto exported = hub.call("GET", "/api/v1/enquiries/" + id + "/export", "", auth["manager"]);
  REQUIRE(exported.status == 200);
  CHECK(exported.j()["decision"]["decision"] == "early-help");
  CHECK(exported.body.find("restricted") == std::string::npos);
  // The agreement's rate limit (20 an hour): the other team's researcher has sent one already.
  int accepted = 1, status = 0;
  for (int i = 0; i < 25 && status != 429; ++i) {
    status = hub.call("POST", "/api/v1/enquiries", enquiry_request().dump(), auth["other-team"]).status;
    if (status == 201) ++accepted;
  }
  CHECK(status == 429);
  CHECK(accepted == 20);
  // Signing out ends the session, for every role.
  for (const auto& caller : callers) {
    if (caller == "none") continue;
    CHECK(hub.call("DELETE", "/api/v1/session", "", auth[caller]).status == 200);
    CHECK(hub.call("GET", "/api/v1/me", "", auth[caller]).status == 401);
  }
}

TEST_CASE("api: the DPO finds a child's enquiry by their details, reads the access report, checks integrity and erases it",
          "[e2e][api][dpo]") {
  ApiHub hub;
  const auto& d = hub.pki.dir();
  std::string out;
  hub.setup_police();
  REQUIRE(hub.user("add --id rita.r --role researcher --team west", "rita's long passphrase", &out) == 0);
  REQUIRE(hub.user("add --id dora.dpo --role dpo --team hub", "dora's long passphrase", &out) == 0);
  hub.start();
  auto agent = hub.start_police();
  const std::string rita = hub.bearer("rita.r", "rita's long passphrase");
  auto created = hub.call("POST", "/api/v1/enquiries", enquiry_request().dump(), rita);
  REQUIRE(created.status == 201);
  const std::string id = created.j()["id"];
  REQUIRE(wait_until([&] {
    return hub.call("GET", "/api/v1/enquiries/" + id, "", rita).j()["agencies"]["police"]["status"] == "answered";
  }, 20000ms));

  const std::string dora = hub.bearer("dora.dpo", "dora's long passphrase");
  // By the child's details, typed as the DPO has them (never stored, never in the URL).
  json child = {{"forenames", "Amelia"}, {"surname", "Okonkwo"}, {"date_of_birth", "2016-03-04"}};
  auto found = hub.call("POST", "/api/v1/audit/person", json{{"person", child}}.dump(), dora);
  INFO(found.body);
  REQUIRE(found.status == 200);
  std::set<std::string> types;
  const json found_json = found.j();
  for (const auto& e : found_json["events"]) {
    CHECK(e["enquiry"] == id);
    types.insert(e["type"].get<std::string>());
  }
  CHECK(types.count("enquiry.created") == 1);
  CHECK(found.body.find("Okonkwo") == std::string::npos);
  // Someone nobody asked about: nothing, and that is not an error.
  auto nobody = hub.call("POST", "/api/v1/audit/person",
                         json{{"person", {{"forenames", "Nobody"}, {"surname", "Atall"}, {"date_of_birth", "1999-09-09"}}}}.dump(), dora);
  CHECK(nobody.status == 200);
  CHECK(nobody.j()["count"] == 0);

  // The subject access report: who asked which agency, under which basis, what came back, who looked.
  auto sar = hub.call("POST", "/api/v1/audit/subject-access-report", json{{"person", child}}.dump(), dora);
  REQUIRE(sar.status == 200);
  auto accesses = sar.j()["accesses"];
  REQUIRE(accesses.size() == 1);
  CHECK(accesses[0]["agency"] == "police");
  CHECK(accesses[0]["actor"] == "rita.r");
  CHECK(accesses[0]["legal_basis"] == "ca1989-s47");
  REQUIRE(accesses[0]["answers"].size() == 1);
  CHECK(accesses[0]["answers"][0]["outcome"] == "answered");  // the answer's status
  CHECK(accesses[0]["answers"][0]["person_outcome"] == "matched");  // and what it said of the child
  CHECK(accesses[0]["decision"] == "permitted");
  CHECK(std::find(accesses[0]["fields_requested"].begin(), accesses[0]["fields_requested"].end(), "police.known") !=
        accesses[0]["fields_requested"].end());
  CHECK(sar.j()["views"].size() >= 1);

  // The case timeline, a search by user and type, statistics and flags.
  auto timeline = hub.call("GET", "/api/v1/audit/cases/MASH-2026-0042/timeline", "", dora);
  REQUIRE(timeline.status == 200);
  CHECK(timeline.j()["count"].get<int>() >= 4);
  auto views = hub.call("GET", "/api/v1/audit/events?user=rita.r&type=results.viewed", "", dora);
  REQUIRE(views.status == 200);
  CHECK(views.j()["count"].get<int>() >= 1);
  auto stats = hub.call("GET", "/api/v1/audit/statistics?from=2026-01-01&to=2099-12-31", "", dora);
  REQUIRE(stats.status == 200);
  CHECK(stats.j()["by_user"]["rita.r"]["enquiry.created"] == 1);
  CHECK(hub.call("GET", "/api/v1/audit/flags?from=2026-01-01&to=2099-12-31", "", dora).status == 200);

  // The latest signed checkpoint verifies against the stored tree.
  json cp;
  REQUIRE(wait_until([&] {
    auto r = hub.call("GET", "/api/v1/audit/checkpoint", "", dora);
    cp = r.j();
    return r.status == 200;
  }, 15000ms));
  CHECK(cp["verified"] == true);
  CHECK(cp["signature_valid"] == true);
  CHECK(cp["checkpoint"].get<std::string>().rfind("mash-broker/test\n", 0) == 0);

  // Bad input: refused with the reason, nothing searched.
  auto bad_nhs = hub.call("POST", "/api/v1/audit/person", R"({"person": {"identifiers": {"nhs": "943 476 5918"}}})", dora);
  CHECK(bad_nhs.status == 400);
  CHECK(bad_nhs.j()["error"]["fields"]["person"].get<std::string>().find("nhs #1 is not usable") != std::string::npos);
  CHECK(hub.call("POST", "/api/v1/audit/person", R"({"person": {"surname": "Okonkwo"}})", dora).status == 400);
  CHECK(hub.call("POST", "/api/v1/audit/person", R"({"person": {"shoe_size": "9"}})", dora).status == 400);
  CHECK(hub.call("GET", "/api/v1/audit/events?colour=red", "", dora).status == 400);
  CHECK(hub.call("GET", "/api/v1/audit/events?from=yesterday", "", dora).status == 400);
  CHECK(hub.call("GET", "/api/v1/audit/statistics", "", dora).status == 400);
  CHECK(hub.call("GET", "/api/v1/audit/events?user=%zz", "", dora).status == 400);
  // The researcher cannot search the audit trail.
  CHECK(hub.call("POST", "/api/v1/audit/person", json{{"person", child}}.dump(), rita).status == 403);

  // An erasure the DPO authorises: bad requests change nothing; then the content is gone (410
  // for the researcher), the record of the erasure holds the reason code and a hash of the note.
  CHECK(hub.call("POST", "/api/v1/audit/erasures", json{{"enquiry", id}, {"reason", "because"}, {"note", "x"}}.dump(), dora).status == 400);
  CHECK(hub.call("POST", "/api/v1/audit/erasures", json{{"enquiry", "0123456789abcdef0123456789abcdef"}, {"reason", "entered-in-error"},
                                                      {"note", "Wrong family entered by mistake."}}.dump(), dora).status == 404);
  json erasure = {{"enquiry", id}, {"reason", "entered-in-error"}, {"note", "Wrong family: ticket INC-4471 from the MASH manager."}};
  CHECK(hub.call("POST", "/api/v1/audit/erasures", erasure.dump(), rita).status == 403);
  CHECK(hub.call("GET", "/api/v1/enquiries/" + id, "", rita).status == 200);
  auto erased = hub.call("POST", "/api/v1/audit/erasures", erasure.dump(), dora);
  INFO(erased.body);
  REQUIRE(erased.status == 200);
  auto after = hub.call("GET", "/api/v1/enquiries/" + id, "", rita);
  CHECK(after.status == 410);
  CHECK(after.j()["error"]["message"].get<std::string>().find("erased: entered-in-error") != std::string::npos);
  CHECK(hub.call("POST", "/api/v1/audit/erasures", erasure.dump(), dora).status == 409);
  // The audit trail still finds the person, and now the erasure too.
  auto sar_after = hub.call("POST", "/api/v1/audit/subject-access-report", json{{"person", child}}.dump(), dora);
  CHECK(sar_after.status == 200);
  CHECK(sar_after.j()["accesses"].size() == 1);

  // Every use of the audit trail is itself on the record, by pseudonym, never by name.
  hub.broker->signal(SIGTERM);
  REQUIRE(hub.broker->wait(5000ms) == 0);
  std::string records = exported_records(d / "audit", d / "audit.jsonl");
  int searches = count_occurrences(records, "\"type\":\"audit.searched\"");
  CHECK(searches >= 8);
  CHECK(records.find("\"outcome\":\"subject-access-report\"") != std::string::npos);
  CHECK(records.find("Amelia") == std::string::npos);
  CHECK(records.find("Nobody") == std::string::npos);
  CHECK(count_occurrences(records, "\"type\":\"case.erased\"") == 1);
  CHECK(records.find("\"outcome\":\"entered-in-error\"") != std::string::npos);
  CHECK(records.find("INC-4471") == std::string::npos);
  // The whole trail still verifies after the purge.
  REQUIRE(run(kBin + "/mash-audit verify --store " + shell_quote((d / "audit").string()) + " --pubkey " +
                  shell_quote((d / "audit.key.pub").string()), &out) == 0);
  CHECK(out.find("verified") != std::string::npos);
}

TEST_CASE("api: a new agreement version is recorded when the hub starts under it, and a rollback is refused",
          "[e2e][api]") {
  ApiHub hub;
  const auto& d = hub.pki.dir();
  std::string out;
  hub.use_agreement();
  hub.start();
  hub.broker->signal(SIGTERM);
  REQUIRE(hub.broker->wait(5000ms) == 0);
  hub.start();  // the same agreement again: nothing new to record
  hub.broker->signal(SIGTERM);
  REQUIRE(hub.broker->wait(5000ms) == 0);
  const std::string v1 = read_file(d / "isa.toml"), v1_sig = read_file(d / "isa.toml.sig");
  std::string v2 = v1;
  auto at = v2.find("\nversion = 1\n");
  REQUIRE(at != std::string::npos);
  v2.replace(at, 13, "\nversion = 2\n");
  write_file(d / "isa.toml", v2);
  REQUIRE(run(kBin + "/mash-policy sign --key " + shell_quote((d / "isa.key").string()) + " " +
                  shell_quote((d / "isa.toml").string()), &out) == 0);
  hub.start();
  CHECK(hub.broker->log().find("agreement-in-force") != std::string::npos);
  CHECK(hub.call("GET", "/readyz").j()["checks"]["agreement"].get<std::string>().find("version 2") != std::string::npos);
  hub.broker->signal(SIGTERM);
  REQUIRE(hub.broker->wait(5000ms) == 0);

  // Version 1 again, properly signed: refused, with the reason, and the hub does not start.
  write_file(d / "isa.toml", v1);
  write_file(d / "isa.toml.sig", v1_sig);
  Process rolled({kBin + "/mash-broker", "--config", (d / "broker.toml").string()}, d / "rollback.log");
  CHECK(rolled.wait(10000ms) == 2);
  CHECK(rolled.log().find("policy.agreement") != std::string::npos);

  std::string records = exported_records(d / "audit", d / "audit.jsonl");
  CHECK(count_occurrences(records, "\"type\":\"agreement.changed\"") == 2);
  CHECK(records.find("\"previous_version\":\"1\"") != std::string::npos);
  CHECK(records.find("\"previous_version\":\"none\"") != std::string::npos);
}

TEST_CASE("api: an enquiry the agency's agent refuses for good is marked failed, audited, and not sent again",
          "[e2e][api]") {
  ApiHub hub;
  const auto& d = hub.pki.dir();
  std::string out;
  hub.setup_police();
  // The agent is given another hub key: it cannot verify the hub's signature on enquiries (nor
  // its audit checkpoints), and refuses them.
  REQUIRE(run(kBin + "/mash-broker keygen --out " + shell_quote((d / "other.key").string()), &out) == 0);
  std::string agent_toml = read_file(d / "police.toml");
  const std::string right = (d / "audit.key.pub").string();
  agent_toml.replace(agent_toml.find(right), right.size(), (d / "other.key.pub").string());
  write_file(d / "police.toml", agent_toml);
  REQUIRE(hub.user("add --id rita.r --role researcher --team west", "rita's long passphrase", &out) == 0);
  hub.start();
  auto agent = hub.start_police();
  const std::string rita = hub.bearer("rita.r", "rita's long passphrase");
  auto created = hub.call("POST", "/api/v1/enquiries", enquiry_request().dump(), rita);
  REQUIRE(created.status == 201);
  const std::string id = created.j()["id"];
  json view;
  bool failed = wait_until([&] {
    auto r = hub.call("GET", "/api/v1/enquiries/" + id, "", rita);
    view = r.j();
    return r.status == 200 && view["agencies"]["police"]["status"] == "failed";
  }, 20000ms);
  INFO(agent->log());
  INFO(hub.broker->log());
  REQUIRE(failed);
  const std::string reason = view["agencies"]["police"]["failure"];
  CHECK((reason == "bad-signature" || reason == "witness-alarm"));
  // Not sent again: the agent logs no further refusal of it, and the status stays failed.
  std::this_thread::sleep_for(1500ms);
  CHECK(hub.call("GET", "/api/v1/enquiries/" + id, "", rita).j()["agencies"]["police"]["status"] == "failed");
  auto metrics = hub.call("GET", "/metrics");
  CHECK(metrics.body.find("mash_enquiry_agencies{status=\"failed\"} 1") != std::string::npos);
  hub.broker->signal(SIGTERM);
  REQUIRE(hub.broker->wait(5000ms) == 0);
  std::string records = exported_records(d / "audit", d / "audit.jsonl");
  CHECK(records.find("\"type\":\"enquiry.failed\"") != std::string::npos);
  CHECK(records.find("\"type\":\"answer.received\"") == std::string::npos);
}

TEST_CASE("api: Idempotency-Key makes a retried POST safe, and the list pages with limits and filters checked",
          "[e2e][api]") {
  ApiHub hub;
  std::string out;
  hub.use_agreement();
  REQUIRE(hub.user("add --id rita.r --role researcher --team west", "rita's long passphrase", &out) == 0);
  hub.start();
  const std::string rita = hub.bearer("rita.r", "rita's long passphrase");
  const std::string key = " -H 'Idempotency-Key: form-7f3a:1'";
  auto first = hub.call("POST", "/api/v1/enquiries", enquiry_request().dump(), rita + key);
  REQUIRE(first.status == 201);
  CHECK(first.headers.find("Idempotent-Replayed") == std::string::npos);
  auto retry = hub.call("POST", "/api/v1/enquiries", enquiry_request().dump(), rita + key);
  REQUIRE(retry.status == 201);
  CHECK(retry.j()["id"] == first.j()["id"]);
  CHECK(retry.headers.find("Idempotent-Replayed: true") != std::string::npos);
  json other = enquiry_request();
  other["case_ref"] = "MASH-2026-0777";
  CHECK(hub.call("POST", "/api/v1/enquiries", other.dump(), rita + key).status == 409);
  CHECK(hub.call("POST", "/api/v1/enquiries", other.dump(), rita + " -H 'Idempotency-Key: no spaces allowed'").status == 400);
  // Three enquiries in all; pages of two.
  REQUIRE(hub.call("POST", "/api/v1/enquiries", other.dump(), rita).status == 201);
  REQUIRE(hub.call("POST", "/api/v1/enquiries", other.dump(), rita).status == 201);
  auto p1 = hub.call("GET", "/api/v1/enquiries?limit=2", "", rita).j();
  REQUIRE(p1["enquiries"].size() == 2);
  REQUIRE(p1["next_cursor"].is_string());
  auto p2 = hub.call("GET", "/api/v1/enquiries?limit=2&cursor=" + p1["next_cursor"].get<std::string>(), "", rita).j();
  REQUIRE(p2["enquiries"].size() == 1);
  CHECK(p2["enquiries"][0]["id"] == first.j()["id"]);  // the oldest comes last
  CHECK(p2["next_cursor"].is_null());
  CHECK(hub.call("GET", "/api/v1/enquiries?brag=amber", "", rita).j()["enquiries"].size() == 3);
  CHECK(hub.call("GET", "/api/v1/enquiries?status=answered", "", rita).j()["enquiries"].empty());
  for (const std::string bad : {"limit=0", "limit=201", "limit=ten", "status=lost", "overdue=maybe", "colour=red",
                                "cursor=zzz"}) {
    INFO(bad);
    auto r = hub.call("GET", "/api/v1/enquiries?" + bad, "", rita);
    CHECK(r.status == 400);
  }
}
