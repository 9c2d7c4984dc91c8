// End to end: real mash-broker and mash-agent processes on loopback, certificates made by
// certs/mash-pki, and openssl s_client as an outside client.
#include <catch2/catch.hpp>
#include <signal.h>

#include <memory>
#include <string>

#include "audit_log.h"
#include "process.h"
#include "test_support.h"

using namespace mash::testing;
using namespace std::chrono_literals;

namespace {

const char* kAgencies[] = {"police", "health", "education", "probation", "housing"};

std::string tls_toml(const mash::TlsFiles& f) {
  return "[tls]\nca = \"" + f.ca.string() + "\"\ncert = \"" + f.cert.string() + "\"\nkey = \"" +
         f.key.string() + "\"\ncrl = \"" + f.crl.string() + "\"\nreload_interval_ms = 200\n";
}

struct Hub {
  // The broker witnesses every agency's disclosure log: their public keys, made here.
  std::string witness_toml() {
    std::string toml = "[witness]\ndir = \"" + (pki.dir() / "witness").string() + "\"\n[witness.agencies]\n";
    for (const char* a : kAgencies) {
      std::string out;
      REQUIRE(run(std::string(MASH_BIN_DIR) + "/mash-agent keygen --out " +
                      shell_quote((pki.dir() / (std::string(a) + "-disclosure.key")).string()),
                  &out) == 0);
      toml += std::string(a) + " = \"" + (pki.dir() / (std::string(a) + "-disclosure.key.pub")).string() + "\"\n";
    }
    return toml;
  }
  Hub() : port(free_port()) {
    std::string out;
    // The ISA signer's key: agents need it to accept an agreement (none is sent in these tests).
    REQUIRE(run(std::string(MASH_BIN_DIR) + "/mash-policy keygen --out " + shell_quote((pki.dir() / "isa.key").string()),
                &out) == 0);
    REQUIRE(run(std::string(MASH_BIN_DIR) + "/mash-broker keygen --out " +
                    shell_quote((pki.dir() / "audit.key").string()),
                &out) == 0);
    write_file(pki.dir() / "broker.toml",
               "[link]\nlisten = \"127.0.0.1:" + std::to_string(port) +
                   "\"\nheartbeat_interval_ms = 200\nidle_timeout_ms = 1000\n" +
                   "[http]\nlisten = \"127.0.0.1:0\"\n[store]\ndir = \"" + (pki.dir() / "store").string() + "\"\n" +
                   "[audit]\ndir = \"" + (pki.dir() / "audit").string() + "\"\nsigning_key = \"" +
                   (pki.dir() / "audit.key").string() + "\"\norigin = \"mash-broker/test\"\n" +
                   "checkpoint_interval_ms = 100\n" + witness_toml() + tls_toml(pki.broker()));
    for (const char* a : kAgencies) {
      write_file(pki.dir() / (std::string(a) + ".toml"),
                 "[broker]\naddress = \"127.0.0.1:" + std::to_string(port) +
                     "\"\nname = \"broker.test\"\n[link]\nheartbeat_interval_ms = 200\n"
                     "idle_timeout_ms = 1000\nreconnect_initial_ms = 100\nreconnect_max_ms = 500\n"
                     "connect_timeout_ms = 2000\n"
                     "[disclosure]\ndir = \"" + (pki.dir() / (std::string(a) + "-disclosure")).string() +
                     "\"\nsigning_key = \"" + (pki.dir() / (std::string(a) + "-disclosure.key")).string() +
                     "\"\ncheckpoint_interval_ms = 100\n"
                     "[witness]\nbroker_audit_key = \"" + (pki.dir() / "audit.key.pub").string() +
                     "\"\nbroker_audit_origin = \"mash-broker/test\"\nstate = \"" +
                     (pki.dir() / (std::string(a) + ".witness")).string() + "\"\n" +
                     "[store]\ndir = \"" + (pki.dir() / (std::string(a) + "-store")).string() + "\"\n" +
                     "[policy]\nsigner = \"" + (pki.dir() / "isa.key.pub").string() + "\"\n" +
                     tls_toml(pki.agent(a)));
    }
  }
  std::unique_ptr<Process> start_broker(const std::string& log_name = "broker.log") {
    return std::make_unique<Process>(
        std::vector<std::string>{std::string(MASH_BIN_DIR) + "/mash-broker", "--config",
                                 (pki.dir() / "broker.toml").string()},
        pki.dir() / log_name);
  }
  std::unique_ptr<Process> start_agent(const std::string& agency) {
    return std::make_unique<Process>(
        std::vector<std::string>{std::string(MASH_BIN_DIR) + "/mash-agent", "--config",
                                 (pki.dir() / (agency + ".toml")).string()},
        pki.dir() / (agency + ".log"));
  }
  TestPki pki;
  uint16_t port;
};

}  // namespace

TEST_CASE("five agent processes connect to a broker process, known by their certificates",
          "[e2e]") {
  Hub hub;
  auto broker = hub.start_broker();
  REQUIRE(broker->wait_for_log("listening", 5000ms));
  std::vector<std::unique_ptr<Process>> agents;
  for (const char* a : kAgencies) agents.push_back(hub.start_agent(a));
  for (const char* a : kAgencies) {
    INFO(broker->log());
    CHECK(broker->wait_for_log(std::string("agent-connected agency=") + a, 10000ms));
  }
  for (auto& agent : agents) CHECK(agent->wait_for_log("INFO agent.link connected", 5000ms));
  // Clean stop on SIGTERM.
  broker->signal(SIGTERM);
  CHECK(broker->wait(5000ms) == 0);
}

TEST_CASE("an agent comes back by itself when the broker restarts", "[e2e]") {
  Hub hub;
  auto broker = hub.start_broker();
  REQUIRE(broker->wait_for_log("listening", 5000ms));
  auto agent = hub.start_agent("police");
  REQUIRE(broker->wait_for_log("agent-connected agency=police", 10000ms));
  broker->signal(SIGKILL);
  broker->wait(5000ms);
  REQUIRE(agent->wait_for_log("disconnected", 5000ms));
  auto restarted = hub.start_broker("broker2.log");
  INFO(agent->log());
  CHECK(restarted->wait_for_log("agent-connected agency=police", 10000ms));
  CHECK(agent->wait_for_log("INFO agent.link connected", 5000ms, 2));
}

TEST_CASE("a frozen broker is noticed by the agent, and a frozen agent by the broker", "[e2e]") {
  Hub hub;
  auto broker = hub.start_broker();
  REQUIRE(broker->wait_for_log("listening", 5000ms));
  auto agent = hub.start_agent("health");
  REQUIRE(broker->wait_for_log("agent-connected agency=health", 10000ms));

  agent->signal(SIGSTOP);
  CHECK(broker->wait_for_log("agent-disconnected agency=health", 5000ms));
  CHECK(broker->log().find("peer silent") != std::string::npos);
  agent->signal(SIGCONT);
  CHECK(broker->wait_for_log("agent-connected agency=health", 10000ms, 2));

  // (The resumed agent may itself have logged "peer silent" once: its own clock jumped.)
  int silent_before = count_occurrences(agent->log(), "peer silent");
  broker->signal(SIGSTOP);
  CHECK(agent->wait_for_log("peer silent", 5000ms, silent_before + 1));
  broker->signal(SIGCONT);
  INFO(broker->log());
  INFO(agent->log());
  CHECK(broker->wait_for_log("agent-connected agency=health", 10000ms, 3));
}

TEST_CASE("revoking a connected agent's certificate drops it and keeps it out, without a restart",
          "[e2e]") {
  Hub hub;
  auto broker = hub.start_broker();
  REQUIRE(broker->wait_for_log("listening", 5000ms));
  auto police = hub.start_agent("police");
  auto health = hub.start_agent("health");
  REQUIRE(broker->wait_for_log("agent-connected agency=police", 10000ms));
  REQUIRE(broker->wait_for_log("agent-connected agency=health", 10000ms));

  hub.pki.revoke(hub.pki.agent("police").cert);  // refreshes the CRL file in place
  INFO(broker->log());
  CHECK(broker->wait_for_log("tls-reloaded", 5000ms));
  CHECK(broker->wait_for_log("certificate-no-longer-valid", 5000ms));
  CHECK(broker->wait_for_log("agent-disconnected agency=police", 5000ms));
  // The agent keeps trying; every attempt is refused in the handshake.
  CHECK(broker->wait_for_log("reason=\"certificate revoked\"", 5000ms, 2));
  CHECK(count_occurrences(broker->log(), "agent-connected agency=police") == 1);
  // Health is untouched.
  CHECK(broker->log().find("agent-disconnected agency=health") == std::string::npos);
  CHECK(broker->log().find("tls-reload-failed") == std::string::npos);
}

TEST_CASE("a connected agent witnesses the broker's audit log and notices a rollback", "[e2e][witness]") {
  Hub hub;
  auto audit = (hub.pki.dir() / "audit").string(), old_copy = (hub.pki.dir() / "audit-old").string();
  auto broker = hub.start_broker();
  REQUIRE(broker->wait_for_log("listening", 5000ms));
  auto agent = hub.start_agent("police");
  REQUIRE(broker->wait_for_log("agent-connected agency=police", 10000ms));
  INFO(agent->log());
  REQUIRE(agent->wait_for_log("witness-accepted", 5000ms));

  // A restart continues the same log: the agent gets proofs that each new checkpoint extends it.
  broker->signal(SIGTERM);
  REQUIRE(broker->wait(5000ms) == 0);
  std::string out;
  REQUIRE(run("cp -a " + shell_quote(audit) + " " + shell_quote(old_copy), &out) == 0);
  auto second = hub.start_broker("broker2.log");
  REQUIRE(second->wait_for_log("agent-connected agency=police", 10000ms));
  // The agent witnesses a checkpoint that includes this connection, which the old copy lacks.
  auto copy = mash::AuditReader::open(old_copy);
  REQUIRE(copy.ok());
  uint64_t old_size = copy->size();
  auto witnessed = [&] {
    uint64_t best = 0;
    std::string log = agent->log();
    for (size_t pos = log.find("witness-accepted "); pos != std::string::npos;
         pos = log.find("witness-accepted ", pos + 1)) {
      best = std::max<uint64_t>(best, std::stoull(log.substr(log.find(" size=", pos) + 6)));
    }
    return best;
  };
  CHECK(wait_until([&] { return witnessed() > old_size; }, 5000ms));
  CHECK(agent->log().find("audit-witness-alarm") == std::string::npos);

  // Roll the broker's store back to the older copy: the agent raises the alarm.
  second->signal(SIGTERM);
  REQUIRE(second->wait(5000ms) == 0);
  REQUIRE(run("rm -rf " + shell_quote(audit) + " && cp -a " + shell_quote(old_copy) + " " + shell_quote(audit), &out) == 0);
  auto third = hub.start_broker("broker3.log");
  bool alarmed = agent->wait_for_log("audit-witness-alarm", 10000ms);
  INFO("agent log: " << agent->log() << "\nbroker log: " << third->log());
  CHECK(alarmed);
  // Depending on timing the rolled-back broker has appended again before the agent sees its
  // checkpoint: a smaller tree, a different tree of the same size, or one that does not extend.
  std::string alog = agent->log();
  CHECK((alog.find("shrank from") != std::string::npos ||
         alog.find("two different trees") != std::string::npos ||
         alog.find("does not extend") != std::string::npos));
  CHECK(third->wait_for_log("agent-error agency=police code=9", 5000ms));

  // The alarm survives an agent restart until an operator resets it.
  agent->signal(SIGTERM);
  agent->wait(5000ms);
  auto restarted = hub.start_agent("police");
  CHECK(restarted->wait_for_log("audit-witness-alarm-active", 5000ms));
  restarted->signal(SIGTERM);
  restarted->wait(5000ms);
  // The operator's check names it and the way out.
  CHECK(run(std::string(MASH_BIN_DIR) + "/mash-agent doctor --config " + shell_quote((hub.pki.dir() / "police.toml").string()),
            &out) != 0);
  CHECK(out.find("FAIL  hub audit witness: ALARM: ") != std::string::npos);
  CHECK(out.find("witness-reset") != std::string::npos);
  CHECK(run(std::string(MASH_BIN_DIR) + "/mash-agent witness-reset --config " +
                shell_quote((hub.pki.dir() / "police.toml").string()),
            &out) == 0);
  CHECK(out.find("cleared alarm") != std::string::npos);
}

TEST_CASE("the broker witnesses an agency's disclosure log and notices a rollback", "[e2e][witness]") {
  Hub hub;
  auto log_dir = (hub.pki.dir() / "probation-disclosure").string();
  auto old_copy = (hub.pki.dir() / "probation-disclosure-old").string();
  auto broker = hub.start_broker();
  REQUIRE(broker->wait_for_log("listening", 5000ms));
  auto agent = hub.start_agent("probation");
  bool accepted = broker->wait_for_log("agency-witness-accepted agency=probation", 10000ms);
  INFO("broker: " << broker->log() << "\nagent: " << agent->log());
  REQUIRE(accepted);

  agent->signal(SIGTERM);
  REQUIRE(agent->wait(5000ms) == 0);
  std::string out;
  REQUIRE(run("cp -a " + shell_quote(log_dir) + " " + shell_quote(old_copy), &out) == 0);
  auto copy = mash::AuditReader::open(old_copy);
  REQUIRE(copy.ok());
  uint64_t old_size = copy->size();
  auto witnessed = [&] {
    uint64_t best = 0;
    std::string log = broker->log();
    const std::string needle = "agency-witness-accepted agency=probation size=";
    for (size_t pos = log.find(needle); pos != std::string::npos; pos = log.find(needle, pos + 1)) {
      best = std::max<uint64_t>(best, std::stoull(log.substr(pos + needle.size())));
    }
    return best;
  };
  auto second = hub.start_agent("probation");
  INFO(broker->log());
  CHECK(wait_until([&] { return witnessed() > old_size; }, 10000ms));
  second->signal(SIGTERM);
  REQUIRE(second->wait(5000ms) == 0);

  REQUIRE(run("rm -rf " + shell_quote(log_dir) + " && cp -a " + shell_quote(old_copy) + " " + shell_quote(log_dir), &out) == 0);
  auto third = hub.start_agent("probation");
  CHECK(broker->wait_for_log("agency-witness-alarm agency=probation", 10000ms));
  CHECK(third->wait_for_log("broker-error code=9", 5000ms));
  // The alarm shows where an operator looks: /metrics, and the admin's agencies (same source).
  {
    const std::string log = broker->log();
    auto at = log.find("https-listening");
    REQUIRE(at != std::string::npos);
    at = log.find("port=", at);
    const std::string port = log.substr(at + 5, log.find_first_not_of("0123456789", at + 5) - at - 5);
    std::string metrics;
    REQUIRE(run("curl -sS --cacert " + shell_quote(hub.pki.broker().ca.string()) + " --resolve broker.test:" + port +
                    ":127.0.0.1 https://broker.test:" + port + "/metrics",
                &metrics) == 0);
    CHECK(metrics.find("mash_agency_witness_alarm{agency=\"probation\"} 1") != std::string::npos);
    CHECK(metrics.find("mash_agency_witness_alarm{agency=\"police\"} 0") != std::string::npos);
  }
  third->signal(SIGTERM);
  third->wait(5000ms);
  // The operator resets the alarm with the broker stopped; the next checkpoint is trusted afresh.
  broker->signal(SIGTERM);
  REQUIRE(broker->wait(5000ms) == 0);
  CHECK(run(std::string(MASH_BIN_DIR) + "/mash-broker witness-reset --config " +
                shell_quote((hub.pki.dir() / "broker.toml").string()) + " --agency probation",
            &out) == 0);
  CHECK(out.find("cleared alarm") != std::string::npos);
}

TEST_CASE("openssl s_client without a client certificate gets no application data", "[e2e]") {
  Hub hub;
  auto broker = hub.start_broker();
  REQUIRE(broker->wait_for_log("listening", 5000ms));
  auto data = hub.pki.dir() / "s_client.out", diag = hub.pki.dir() / "s_client.err";
  int rc = run("{ printf 'hello\\n' | timeout 10 openssl s_client -quiet -connect 127.0.0.1:" +
               std::to_string(hub.port) + " -servername broker.test -CAfile " +
               shell_quote(hub.pki.broker().ca.string()) + " > " + shell_quote(data.string()) +
               " 2> " + shell_quote(diag.string()) + "; }");
  INFO("rc=" << rc << " stderr=" << read_file(diag));
  CHECK(read_file(data).empty());
  CHECK(rc != 124);  // closed by the broker, not by the timeout
  CHECK(read_file(diag).find("certificate required") != std::string::npos);
  CHECK(broker->wait_for_log("handshake-refused", 5000ms));
  CHECK(broker->log().find("agent-connected") == std::string::npos);
}

TEST_CASE("openssl s_client -tls1_2 fails the handshake", "[e2e]") {
  Hub hub;
  auto broker = hub.start_broker();
  REQUIRE(broker->wait_for_log("listening", 5000ms));
  auto f = hub.pki.agent("police");
  std::string out;
  int rc = run("timeout 10 openssl s_client -tls1_2 -connect 127.0.0.1:" + std::to_string(hub.port) +
                   " -servername broker.test -CAfile " + shell_quote(f.ca.string()) + " -cert " +
                   shell_quote(f.cert.string()) + " -key " + shell_quote(f.key.string()) +
                   " < /dev/null",
               &out);
  INFO(out);
  CHECK(rc != 0);
  CHECK(out.find("alert protocol version") != std::string::npos);
  CHECK(broker->wait_for_log("handshake-refused", 5000ms));
  // The same client with TLS 1.3 and a good certificate does get through the handshake.
  rc = run("timeout 10 openssl s_client -tls1_3 -connect 127.0.0.1:" + std::to_string(hub.port) +
               " -servername broker.test -verify_return_error -CAfile " + shell_quote(f.ca.string()) +
               " -cert " + shell_quote(f.cert.string()) + " -key " + shell_quote(f.key.string()) +
               " < /dev/null",
           &out);
  CHECK(out.find("Verification: OK") != std::string::npos);
}

TEST_CASE("the programs explain themselves and refuse bad configuration in one line", "[e2e]") {
  TempDir dir;
  std::string out;
  for (const char* prog : {"mash-broker", "mash-agent"}) {
    std::string bin = std::string(MASH_BIN_DIR) + "/" + prog;
    CHECK(run(bin + " --help", &out) == 0);
    CHECK(out.find("--config FILE") != std::string::npos);
    CHECK(run(bin, &out) == 2);
    write_file(dir / "bad.toml", "[broker]\naddress = \"127.0.0.1:1\"\n[tls]\nca = 5\n");
    CHECK(run(bin + " --config " + shell_quote((dir / "bad.toml").string()), &out) == 2);
    CHECK(count_occurrences(out, "\n") == 1);
    CHECK(out.find("tls.ca: must be a string") != std::string::npos);
    write_file(dir / "syntax.toml", "[tls\n");
    CHECK(run(bin + " --config " + shell_quote((dir / "syntax.toml").string()), &out) == 2);
    CHECK(out.find("syntax.toml:1:") != std::string::npos);
  }
  // A command's --help is the help, not a complaint about a missing argument.
  for (const char* cmd : {"review", "review resolve", "match", "import"}) {
    INFO(cmd);
    CHECK(run(std::string(MASH_BIN_DIR) + "/mash-agent " + cmd + " --help", &out) == 0);
    CHECK(out.find("review resolve ID SUBJECT") != std::string::npos);
  }
  // An agent certificate is refused as the broker's own (it names no DNS host; and an agent
  // refuses to start with a certificate that names no agency).
  Hub hub;
  write_file(dir / "agent.toml", "[broker]\naddress = \"127.0.0.1:1\"\n" + tls_toml(hub.pki.broker()));
  // (the agency check on tls.cert comes before the [witness] keys are read)
  CHECK(run(std::string(MASH_BIN_DIR) + "/mash-agent --check-config --config " +
                shell_quote((dir / "agent.toml").string()),
            &out) == 2);
  CHECK(out.find("tls.cert: certificate names no agency") != std::string::npos);
}
