// A real mash-broker for end-to-end tests of the HTTPS API, with curl as the client, and
// optionally a real police agent with a small extract.
#pragma once

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "process.h"
#include "test_support.h"

namespace mash::testing {

using nlohmann::json;
using namespace std::chrono_literals;

inline const char* kPolicePersons =
    "person_id,forenames,surname,other_names,date_of_birth,gender,address,postcode,previous_postcodes,nhs,upn,pnc,probation,housing\n"
    "C1,Amelia,Okonkwo,,2016-03-04,female,,W6 9AA,,9434765919,,,,\n"
    "M1,Grace,Okonkwo,,1988-07-21,female,,W6 9AA,,,,,,\n";

inline std::string police_facts() {
  std::time_t t = std::time(nullptr) - 86400 * 60;
  char d[16];
  std::strftime(d, sizeof d, "%Y-%m-%d", std::gmtime(&t));
  std::string r(d);
  return "person_id,field,value,date,source,record_type,restricted\n"
         "C1,police.known,Known: 2 incidents," + r + ",CAD/1,,\n"
         "C1,police.domestic-abuse,DA incident at home address," + r + ",CAD/2,,\n"
         "M1,police.known,Known," + r + ",CAD/5,,\n"
         "M1,police.adult-offending,SECRET-OPERATION-NIGHTJAR," + r + ",OP/7,ongoing-investigation,\n";
}

inline json enquiry_request() {
  return {{"case_ref", "MASH-2026-0042"}, {"local_authority", "hammersmith-fulham"}, {"brag", "amber"},
          {"concerns", "School reports bruising; mother's new partner not known to the school."},
          {"purpose", "mash-risk-assessment"}, {"legal_basis", "ca1989-s47"}, {"consent", "not-sought-risk"},
          {"consent_reason", "Asking could alert the partner and increase the risk to the child."},
          {"subjects", json::array({{{"ref", "s1"}, {"role", "child"}, {"forenames", "Amelia"}, {"surname", "Okonkwo"},
                                     {"date_of_birth", "2016-03-04"}, {"postcode", "W6 9AA"}},
                                    {{"ref", "s2"}, {"role", "mother"}, {"forenames", "Grace"}, {"surname", "Okonkwo"},
                                     {"date_of_birth", "1988-07-21"}, {"postcode", "W6 9AA"}},
                                    {{"ref", "s3"}, {"role", "other-adult"}, {"forenames", "Zed"}, {"surname", "Quinlan"},
                                     {"date_of_birth", "1970-01-01"}}})},
          {"agencies", json::array({{{"agency", "police"},
                                     {"justification", "Possible domestic abuse in the household; police knowledge needed."},
                                     {"fields", {"police.known", "police.domestic-abuse", "police.adult-offending",
                                                 "police.intelligence-summary"}}}})}};
}

inline const std::string kBin = MASH_BIN_DIR;
inline const std::string kAdminPassword = "correct horse battery staple";

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
               "[store]\ndir = \"" + (d / "store").string() + "\"\nmin_free_mb = 16\n"
               "[users]\nmax_failed_logins = 3\nlockout_seconds = 600\n"
               "[audit]\ndir = \"" + (d / "audit").string() + "\"\nsigning_key = \"" + (d / "audit.key").string() +
               "\"\norigin = \"mash-broker/test\"\n"
               "[tls]\nca = \"" + f.ca.string() + "\"\ncert = \"" + f.cert.string() + "\"\nkey = \"" + f.key.string() +
               "\"\ncrl = \"" + f.crl.string() + "\"\n");
  }
  std::string config() const { return shell_quote((pki.dir() / "broker.toml").string()); }

  // The example agreement (or `text`), signed with a fresh ISA signer key (isa.toml, isa.key.pub).
  void sign_agreement(const std::string& text = "") {
    const auto& d = pki.dir();
    std::string out;
    REQUIRE(run(kBin + "/mash-policy keygen --out " + shell_quote((d / "isa.key").string()), &out) == 0);
    write_file(d / "isa.toml", text.empty() ? example_agreement() : text);
    REQUIRE(run(kBin + "/mash-policy sign --key " + shell_quote((d / "isa.key").string()) + " " +
                    shell_quote((d / "isa.toml").string()),
                &out) == 0);
  }

  // The example agreement, signed, in the broker's configuration (no agent).
  void use_agreement() {
    const auto& d = pki.dir();
    sign_agreement();
    write_file(d / "broker.toml", read_file(d / "broker.toml") + "[policy]\nagreement = \"" + (d / "isa.toml").string() +
                                      "\"\nsigner = \"" + (d / "isa.key.pub").string() + "\"\n");
  }

  // The signed agreement (`agreement` replaces the example's text), a police agent with its
  // extract imported, and the broker configured for both. The agent is started by start_police().
  void setup_police(const std::string& agreement = "") {
    const auto& d = pki.dir();
    std::string out;
    sign_agreement(agreement);
    REQUIRE(run(kBin + "/mash-agent keygen --out " + shell_quote((d / "police.key").string()), &out) == 0);
    link_port = free_port();
    std::string broker = read_file(d / "broker.toml");
    broker.replace(broker.find("listen = \"127.0.0.1:0\""), 22, "listen = \"127.0.0.1:" + std::to_string(link_port) + "\"");
    broker += "[policy]\nagreement = \"" + (d / "isa.toml").string() + "\"\nsigner = \"" + (d / "isa.key.pub").string() +
              "\"\n[witness]\ndir = \"" + (d / "witness").string() + "\"\n[witness.agencies]\npolice = \"" +
              (d / "police.key.pub").string() + "\"\n";
    write_file(d / "broker.toml", broker);
    auto f = pki.agent("police");
    write_file(d / "police.toml",
               "[broker]\naddress = \"127.0.0.1:" + std::to_string(link_port) + "\"\nname = \"broker.test\"\n"
               "[link]\nreconnect_initial_ms = 100\nreconnect_max_ms = 300\n"
               "[disclosure]\ndir = \"" + (d / "disclosure").string() + "\"\nsigning_key = \"" + (d / "police.key").string() + "\"\n"
               "[witness]\nbroker_audit_key = \"" + (d / "audit.key.pub").string() + "\"\nbroker_audit_origin = \"mash-broker/test\"\n"
               "state = \"" + (d / "police.witness").string() + "\"\n[store]\ndir = \"" + (d / "agent-store").string() + "\"\n"
               "[policy]\nsigner = \"" + (d / "isa.key.pub").string() + "\"\nagreement = \"" + (d / "isa.toml").string() + "\"\n"
               "[tls]\nca = \"" + f.ca.string() + "\"\ncert = \"" + f.cert.string() + "\"\nkey = \"" + f.key.string() +
               "\"\ncrl = \"" + f.crl.string() + "\"\n");
    write_file(d / "persons.csv", kPolicePersons);
    write_file(d / "facts.csv", police_facts());
    REQUIRE(run(kBin + "/mash-agent import --config " + shell_quote((d / "police.toml").string()) + " --persons " +
                    shell_quote((d / "persons.csv").string()) + " --facts " + shell_quote((d / "facts.csv").string()),
                &out) == 0);
  }
  std::unique_ptr<Process> start_police() {
    return std::make_unique<Process>(std::vector<std::string>{kBin + "/mash-agent", "--config", (pki.dir() / "police.toml").string()},
                                     pki.dir() / "agent.log");
  }
  // A bearer token as curl arguments.
  std::string bearer(const std::string& user, const std::string& password) {
    auto r = call("POST", "/api/v1/session", nlohmann::json{{"user", user}, {"password", password}, {"bearer", true}}.dump());
    REQUIRE(r.status == 200);
    return "-H " + shell_quote("Authorization: Bearer " + r.j()["token"].get<std::string>());
  }

  int user(const std::string& args, const std::string& password, std::string* out) {
    write_file(pki.dir() / "pw.txt", password + "\n");
    return run(kBin + "/mash-broker user " + args + " --config " + config() + " < " +
                   shell_quote((pki.dir() / "pw.txt").string()),
               out);
  }

  void start() {
    broker = std::make_unique<Process>(
        std::vector<std::string>{kBin + "/mash-broker", "--config", (pki.dir() / "broker.toml").string()},
        pki.dir() / ("broker-" + std::to_string(++starts) + ".log"));
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
    cmd += " " + shell_quote("https://broker.test:" + std::to_string(port) + path);
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

  static std::string example_agreement() { return read_file(std::string(MASH_SOURCE_DIR) + "/policy/examples/tri-borough.toml"); }

  TestPki pki;
  uint16_t port;
  uint16_t link_port = 0;
  int starts = 0;
  std::unique_ptr<Process> broker;
};

inline std::string cookie_from(const Reply& r) {
  auto pos = r.headers.find("mash_session=");
  if (pos == std::string::npos) return "";
  auto end = r.headers.find(';', pos);
  return r.headers.substr(pos, end - pos);
}


}  // namespace mash::testing
