// Backups with real processes: a hub and an agent backed up while they run, their stores lost,
// restored from the backups, and carrying on where they were.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <sys/stat.h>

#include <csignal>
#include <filesystem>
#include <string>
#include <vector>

#include "api_hub.h"

using namespace mash::testing;
using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

}  // namespace

TEST_CASE("backup: a hub and an agent backed up while running are restored after their stores are lost",
          "[e2e][backup]") {
  ApiHub hub;
  const auto& d = hub.pki.dir();
  std::string out;
  hub.setup_police();
  REQUIRE(hub.user("add --id rita.r --role researcher --team west", "rita's long passphrase", &out) == 0);
  hub.start();
  auto agent = hub.start_police();
  REQUIRE(hub.broker->wait_for_log("agent-connected", 10'000ms));
  const std::string rita = hub.bearer("rita.r", "rita's long passphrase");
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    auto r = hub.call("POST", "/api/v1/enquiries", enquiry_request().dump(), rita);
    REQUIRE(r.status == 201);
    ids.push_back(r.j()["id"]);
  }
  auto all_answered = [&] {
    for (const auto& id : ids) {
      if (hub.call("GET", "/api/v1/enquiries/" + id, "", rita).j()["agencies"]["police"]["status"] != "answered") return false;
    }
    return true;
  };
  REQUIRE(wait_until(all_answered, 20'000ms));

  // Backups while both run.
  const std::string broker_cfg = shell_quote((d / "broker.toml").string()), agent_cfg = shell_quote((d / "police.toml").string());
  REQUIRE(run(kBin + "/mash-broker backup --config " + broker_cfg + " --out " + shell_quote((d / "hub-backup").string()), &out) == 0);
  INFO(out);
  CHECK(out.find("backup complete; its audit log verified") != std::string::npos);
  CHECK(mode_of(d / "hub-backup") == 0700);
  CHECK(mode_of(d / "hub-backup" / "vault.key") == 0600);
  CHECK(mode_of(d / "hub-backup" / "store" / "data.mdb") == 0600);
  CHECK(fs::exists(d / "hub-backup" / "MANIFEST"));
  {
    const int rc = run(kBin + "/mash-agent backup --config " + agent_cfg + " --out " + shell_quote((d / "agent-backup").string()), &out);
    INFO(out);
    REQUIRE(rc == 0);
    CHECK(out.find("backup complete; its disclosure log verified") != std::string::npos);
  }
  // Refused: a folder that is not empty, a usage mistake.
  CHECK(run(kBin + "/mash-broker backup --config " + broker_cfg + " --out " + shell_quote((d / "hub-backup").string()), &out) == 1);
  CHECK(out.find("is not empty") != std::string::npos);
  CHECK(run(kBin + "/mash-broker backup --config " + broker_cfg, &out) == 2);

  // Both stop; restoring over live stores is refused and changes nothing.
  agent->signal(SIGTERM);
  REQUIRE(agent->wait(10'000ms) == 0);
  hub.broker->signal(SIGTERM);
  REQUIRE(hub.broker->wait(10'000ms) == 0);
  CHECK(run(kBin + "/mash-broker restore --config " + broker_cfg + " --from " + shell_quote((d / "hub-backup").string()), &out) == 1);
  CHECK(out.find("exists: stop the program and move it aside first") != std::string::npos);

  // The stores and keys are lost (moved aside here); both are restored.
  fs::create_directories(d / "lost");
  for (const char* p : {"store", "audit", "witness", "vault.key", "pseudonym.key", "agent-store", "disclosure", "police.witness"}) {
    if (fs::exists(d / p)) fs::rename(d / p, d / "lost" / p);
  }
  REQUIRE(run(kBin + "/mash-broker restore --config " + broker_cfg + " --from " + shell_quote((d / "hub-backup").string()), &out) == 0);
  REQUIRE(run(kBin + "/mash-agent restore --config " + agent_cfg + " --from " + shell_quote((d / "agent-backup").string()), &out) == 0);
  CHECK(mode_of(d / "vault.key") == 0600);

  // They carry on: the earlier enquiries and their answers are there, the audit log verifies and
  // a new enquiry is answered.
  hub.start();
  agent = hub.start_police();
  REQUIRE(hub.broker->wait_for_log("agent-connected", 10'000ms));
  const std::string again = hub.bearer("rita.r", "rita's long passphrase");
  for (const auto& id : ids) {
    auto v = hub.call("GET", "/api/v1/enquiries/" + id, "", again);
    REQUIRE(v.status == 200);
    CHECK(v.j()["agencies"]["police"]["status"] == "answered");
    CHECK(v.j()["subjects"]["s1"]["agencies"].contains("police"));
  }
  auto fresh = hub.call("POST", "/api/v1/enquiries", enquiry_request().dump(), again);
  REQUIRE(fresh.status == 201);
  ids.push_back(fresh.j()["id"]);
  CHECK(wait_until(all_answered, 20'000ms));
  CHECK(hub.call("GET", "/readyz").status == 200);
  agent->signal(SIGTERM);
  agent->wait(10'000ms);
  hub.broker->signal(SIGTERM);
  REQUIRE(hub.broker->wait(10'000ms) == 0);
  REQUIRE(run(kBin + "/mash-audit verify --store " + shell_quote((d / "audit").string()) + " --pubkey " +
                  shell_quote((d / "audit.key.pub").string()), &out) == 0);
}
