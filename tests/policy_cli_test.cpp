// mash-policy as a DPO uses it: a real process on real files.
#include <catch2/catch.hpp>
#include <sys/stat.h>

#include "test_fixture.h"
#include "test_support.h"

using namespace mash::testing;
using mash::policy::testing::kAgreement;

namespace {

struct Cli {
  Cli() { write_file(dir / "isa.toml", kAgreement); }
  int run_policy(const std::string& args, std::string* out) {
    return run(std::string(MASH_BIN_DIR) + "/mash-policy " + args, out);
  }
  std::string path(const std::string& name) { return shell_quote((dir / name).string()); }
  TempDir dir;
};

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  auto pos = text.find(from);
  REQUIRE(pos != std::string::npos);
  return text.replace(pos, from.size(), to);
}

}  // namespace

TEST_CASE("mash-policy keygen, sign and verify, tampering and the wrong key are refused", "[policy-cli]") {
  Cli cli;
  std::string out;
  REQUIRE(cli.run_policy("keygen --out " + cli.path("signer.key"), &out) == 0);
  struct stat st {};
  REQUIRE(::stat((cli.dir / "signer.key").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(cli.run_policy("keygen --out " + cli.path("signer.key"), &out) == 3);  // never overwrites

  CHECK(cli.run_policy("verify --pubkey " + cli.path("signer.key.pub") + " " + cli.path("isa.toml"), &out) == 1);
  CHECK(out.find("no signature") != std::string::npos);

  REQUIRE(cli.run_policy("sign --key " + cli.path("signer.key") + " " + cli.path("isa.toml"), &out) == 0);
  CHECK(out.find("signed test-isa version 3") != std::string::npos);
  CHECK(cli.run_policy("verify --pubkey " + cli.path("signer.key.pub") + " " + cli.path("isa.toml"), &out) == 0);
  CHECK(out.find("signature good") != std::string::npos);

  write_file(cli.dir / "isa.toml", replaced(kAgreement, "min_brag = \"red\"", "min_brag = \"blue\""));
  CHECK(cli.run_policy("verify --pubkey " + cli.path("signer.key.pub") + " " + cli.path("isa.toml"), &out) == 1);
  CHECK(out.find("signature does not match the document") != std::string::npos);

  write_file(cli.dir / "isa.toml", kAgreement);
  REQUIRE(cli.run_policy("keygen --out " + cli.path("other.key"), &out) == 0);
  CHECK(cli.run_policy("verify --pubkey " + cli.path("other.key.pub") + " " + cli.path("isa.toml"), &out) == 1);
  CHECK(out.find("not the configured signer") != std::string::npos);
}

TEST_CASE("mash-policy explain says why each field is withheld", "[policy-cli]") {
  Cli cli;
  std::string out;
  REQUIRE(cli.run_policy("explain " + cli.path("isa.toml") +
                             " --agency health --purpose mash-risk-assessment --basis ca1989-s47"
                             " --consent refused --brag red",
                         &out) == 0);
  CHECK(out.find("health.gp: released by G-HEA-1") != std::string::npos);
  CHECK(out.find("health.sexual-health: withheld: forbidden by F-HEA-1 (Sexual health information is never shared") != std::string::npos);
  REQUIRE(cli.run_policy("explain " + cli.path("isa.toml") +
                             " --agency police --purpose mash-risk-assessment --basis ca1989-s47"
                             " --consent refused --brag amber --field police.intelligence",
                         &out) == 0);
  CHECK(out.find("police.intelligence: withheld: below-min-brag by G-POL-2") != std::string::npos);
  CHECK(out.find("police.known") == std::string::npos);
  CHECK(out.find("restricted record types (flag and contact only): ongoing-investigation") != std::string::npos);

  CHECK(cli.run_policy("explain " + cli.path("isa.toml") +
                           " --agency fire --purpose mash-risk-assessment --basis ca1989-s47 --consent refused --brag red",
                       &out) == 1);
  CHECK(out.find("unknown agency 'fire'") != std::string::npos);
  CHECK(cli.run_policy("explain " + cli.path("isa.toml") + " --agency police", &out) == 2);
  CHECK(cli.run_policy("explain " + cli.path("isa.toml") + " --colour red", &out) == 2);
}

TEST_CASE("mash-policy validate, test and diff report with file, line and exit status", "[policy-cli]") {
  Cli cli;
  std::string out;
  CHECK(cli.run_policy("validate " + cli.path("isa.toml"), &out) == 0);
  CHECK(cli.run_policy("test " + cli.path("isa.toml"), &out) == 0);
  CHECK(out.find("2 passed, 0 failed") != std::string::npos);

  write_file(cli.dir / "bad.toml", replaced(kAgreement, "min_brag = \"amber\"", "min_brag = \"orange\""));
  CHECK(cli.run_policy("validate " + cli.path("bad.toml"), &out) == 1);
  CHECK(out.find("bad.toml:") != std::string::npos);
  CHECK(out.find("unknown BRAG level 'orange'") != std::string::npos);
  CHECK(cli.run_policy("validate " + cli.path("missing.toml"), &out) == 3);

  write_file(cli.dir / "wrong-test.toml",
             replaced(kAgreement, "\"police.intelligence\" = \"below-min-brag\"", "\"police.intelligence\" = \"no-grant\""));
  CHECK(cli.run_policy("test " + cli.path("wrong-test.toml"), &out) == 1);
  CHECK(out.find("FAIL intelligence needs red: police.intelligence: expected withheld as no-grant") != std::string::npos);
  CHECK(out.find("1 passed, 1 failed") != std::string::npos);

  CHECK(cli.run_policy("diff " + cli.path("isa.toml") + " " + cli.path("isa.toml"), &out) == 0);
  CHECK(out.find("no permission changes") != std::string::npos);
  write_file(cli.dir / "v4.toml", replaced(replaced(kAgreement, "version = 3", "version = 4"),
                                           "fields = [\"police.known\", \"police.incidents\"]",
                                           "fields = [\"police.known\"]"));
  CHECK(cli.run_policy("diff " + cli.path("isa.toml") + " " + cli.path("v4.toml"), &out) == 1);
  CHECK(out.find("from test-isa version 3 to test-isa version 4") != std::string::npos);
  CHECK(out.find("- police.incidents mash-risk-assessment ca1989-s47 [consent@brag:") != std::string::npos);
  CHECK(out.find("+ ") == std::string::npos);
}
