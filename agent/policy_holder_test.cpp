// The agreement in force at an agency: only signed, never older, kept across restarts.
#include "policy_holder.h"

#include <catch2/catch.hpp>

#include "test_support.h"

using namespace mash;
using namespace mash::agent;
using mash::testing::read_file;
using mash::testing::TempDir;

namespace {

std::string agreement_text(int version) {
  std::string text = read_file(std::string(MASH_SOURCE_DIR) + "/policy/examples/tri-borough.toml");
  auto pos = text.find("version = 1");
  REQUIRE(pos != std::string::npos);
  text.replace(pos, 11, "version = " + std::to_string(version));
  return text;
}

std::string sign(const std::string& text, const SigningKey& key) {
  auto sig = policy::sign_agreement(text, "isa.toml", key);
  REQUIRE(sig.ok());
  return policy::format_signature(*sig);
}

}  // namespace

TEST_CASE("policy holder: signed newer versions only, and what it holds survives a restart", "[policy-holder]") {
  TempDir dir;
  auto key = SigningKey::generate();
  auto rogue = SigningKey::generate();
  {
    PolicyHolder holder(dir.path() / "policy", key.verify_key(), {}, "police");
    REQUIRE(holder.load({}, {}).ok());
    CHECK(holder.version() == 0);
    CHECK(holder.current() == nullptr);

    auto v1 = agreement_text(1);
    REQUIRE(holder.offer(v1, sign(v1, key), "hub").ok());
    CHECK(holder.version() == 1);
    auto v2 = agreement_text(2);
    // Signed by someone else, unsigned, or a signature for other bytes: refused, v1 stays.
    CHECK_FALSE(holder.offer(v2, sign(v2, rogue), "hub").ok());
    CHECK_FALSE(holder.offer(v2, "", "hub").ok());
    CHECK_FALSE(holder.offer(v2, sign(v1, key), "hub").ok());
    CHECK(holder.version() == 1);
    REQUIRE(holder.offer(v2, sign(v2, key), "hub").ok());
    CHECK(holder.version() == 2);
    // Rollback refused.
    auto st = holder.offer(v1, sign(v1, key), "hub");
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().message.find("rollback refused") != std::string::npos);
    CHECK(holder.version() == 2);
  }
  // A restart holds version 2, and an installed older file does not take it back.
  TempDir files;
  auto v1 = agreement_text(1);
  mash::testing::write_file(files.path() / "isa.toml", v1);
  mash::testing::write_file(files.path() / "isa.toml.sig", sign(v1, key));
  PolicyHolder again(dir.path() / "policy", key.verify_key(), {}, "police");
  REQUIRE(again.load(files.path() / "isa.toml", files.path() / "isa.toml.sig").ok());
  CHECK(again.version() == 2);
}

TEST_CASE("policy holder: a local policy narrows, one for another agency is refused", "[policy-holder]") {
  TempDir dir;
  auto key = SigningKey::generate();
  auto v1 = agreement_text(1);
  const std::string local = std::string(MASH_SOURCE_DIR) + "/policy/examples/local-police.toml";
  PolicyHolder police(dir.path() / "p", key.verify_key(), local, "police");
  REQUIRE(police.offer(v1, sign(v1, key), "hub").ok());
  PolicyHolder health(dir.path() / "h", key.verify_key(), local, "health");
  auto st = health.offer(v1, sign(v1, key), "hub");
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().message.find("local policy is for agency 'police'") != std::string::npos);
  // An agent whose certificate names an agency the agreement lacks cannot take it.
  PolicyHolder stranger(dir.path() / "s", key.verify_key(), {}, "fire-service");
  CHECK_FALSE(stranger.offer(v1, sign(v1, key), "hub").ok());
}
