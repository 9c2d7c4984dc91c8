// End to end for the broker's HTTPS JSON API: a real mash-broker process, curl as the client.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>

#include "crypto.h"
#include "process.h"
#include "test_support.h"

using namespace mash::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

const std::string kBin = MASH_BIN_DIR;
const std::string kAdminPassword = "correct horse battery staple";

struct Reply {
  int status = 0;
  std::string headers, body;
  json j() const {
    try {
      return json::parse(body);
    } catch (...) {
      return json();
    }
  }
};

class ApiHub {
 public:
  ApiHub() : port(free_port()) {
    const auto& d = pki.dir();
    std::string out;
    REQUIRE(run(kBin + "/mash-broker keygen --out " + shell_quote((d / "audit.key").string()), &out) == 0);
    auto f = pki.broker();
    write_file(d / "broker.toml",
               "[link]\nlisten = \"127.0.0.1:0\"\n[http]\nlisten = \"127.0.0.1:" + std::to_string(port) + "\"\n"
               "[store]\ndir = \"" + (d / "store").string() + "\"\n"
               "[users]\nmax_failed_logins = 3\nlockout_seconds = 600\n"
               "[audit]\ndir = \"" + (d / "audit").string() + "\"\nsigning_key = \"" + (d / "audit.key").string() +
               "\"\norigin = \"mash-broker/test\"\n"
               "[tls]\nca = \"" + f.ca.string() + "\"\ncert = \"" + f.cert.string() + "\"\nkey = \"" + f.key.string() +
               "\"\ncrl = \"" + f.crl.string() + "\"\n");
  }
  std::string config() const { return shell_quote((pki.dir() / "broker.toml").string()); }

  int user(const std::string& args, const std::string& password, std::string* out) {
    write_file(pki.dir() / "pw.txt", password + "\n");
    return run(kBin + "/mash-broker user " + args + " --config " + config() + " < " +
                   shell_quote((pki.dir() / "pw.txt").string()),
               out);
  }

  void start() {
    broker = std::make_unique<Process>(
        std::vector<std::string>{kBin + "/mash-broker", "--config", (pki.dir() / "broker.toml").string()},
        pki.dir() / "broker.log");
    INFO(broker->log());
    REQUIRE(broker->wait_for_log("https-listening", 10000ms));
  }

  // curl with the hub CA as the only trust anchor; `extra` are more curl arguments.
  Reply call(const std::string& method, const std::string& path, const std::string& body = "",
             const std::string& extra = "") {
    const auto& d = pki.dir();
    std::string cmd = "curl -sS --max-time 10 --cacert " + shell_quote(pki.broker().ca.string()) +
                      " --resolve broker.test:" + std::to_string(port) + ":127.0.0.1 -X " + method +
                      " -D " + shell_quote((d / "h.txt").string()) + " -o " + shell_quote((d / "b.txt").string()) +
                      " -w '%{http_code}' " + extra;
    if (!body.empty()) {
      write_file(d / "req.json", body);
      cmd += " -H 'Content-Type: application/json' --data-binary @" + shell_quote((d / "req.json").string());
    }
    cmd += " https://broker.test:" + std::to_string(port) + path;
    std::string out;
    run(cmd, &out);
    Reply r;
    try {
      r.status = std::stoi(out.substr(out.size() >= 3 ? out.size() - 3 : 0));
    } catch (...) {
      r.status = 0;
    }
    r.headers = read_file(d / "h.txt");
    r.body = read_file(d / "b.txt");
    return r;
  }

  TestPki pki;
  uint16_t port;
  std::unique_ptr<Process> broker;
};

std::string cookie_from(const Reply& r) {
  auto pos = r.headers.find("mash_session=");
  if (pos == std::string::npos) return "";
  auto end = r.headers.find(';', pos);
  return r.headers.substr(pos, end - pos);
}

}  // namespace

TEST_CASE("api: health, readiness and metrics; TLS 1.3 only; security headers", "[e2e][api]") {
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
  REQUIRE(run(kBin + "/mash-audit export --store " + shell_quote((hub.pki.dir() / "audit").string()) + " --out " +
                  shell_quote((hub.pki.dir() / "audit.jsonl").string()), &out) == 0);
  std::string records;
  std::istringstream lines(read_file(hub.pki.dir() / "audit.jsonl"));
  std::string line;
  while (std::getline(lines, line)) {
    auto j = json::parse(line);
    if (!j.contains("record")) continue;
    auto rec = mash::from_base64(j.at("record").get<std::string>());
    REQUIRE(rec.ok());
    records += std::string(rec->begin(), rec->end()) + "\n";
  }
  CHECK(records.find("\"type\":\"login.succeeded\"") != std::string::npos);
  CHECK(records.find("\"outcome\":\"bad-credentials\"") != std::string::npos);
  CHECK(records.find("\"outcome\":\"locked\"") != std::string::npos);
  CHECK(records.find("\"type\":\"user.changed\"") != std::string::npos);
  CHECK(records.find("passphrase") == std::string::npos);
  CHECK(records.find(kAdminPassword) == std::string::npos);
}
