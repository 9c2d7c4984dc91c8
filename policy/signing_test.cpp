#include "signing.h"

#include <catch2/catch.hpp>

#include "test_fixture.h"
#include "test_support.h"

using namespace mash;
using namespace mash::policy;
using mash::policy::testing::kAgreement;

namespace {

std::string with_version(int v) {
  std::string t = kAgreement;
  t.replace(t.find("version = 3"), 11, "version = " + std::to_string(v));
  return t;
}

std::string signed_by(const SigningKey& key, const std::string& text) {
  auto sig = sign_agreement(text, "isa.toml", key);
  REQUIRE(sig.ok());
  return format_signature(*sig);
}

}  // namespace

TEST_CASE("a signed agreement verifies, layout changes do not matter", "[signing]") {
  auto key = SigningKey::generate();
  std::string sig = signed_by(key, kAgreement);
  auto ok = verify_agreement(kAgreement, "isa.toml", sig, key.verify_key());
  REQUIRE(ok.ok());
  CHECK(ok->version == 3);
  CHECK(verify_agreement("# reviewed by the DPO\n" + kAgreement, "isa.toml", sig, key.verify_key()).ok());
  auto parsed = parse_signature(sig, "isa.toml.sig");
  REQUIRE(parsed.ok());
  CHECK(parsed->agreement_id == "test-isa");
}

TEST_CASE("tampered, wrongly signed and unsigned agreements are refused", "[signing]") {
  auto key = SigningKey::generate();
  auto other = SigningKey::generate();
  std::string sig = signed_by(key, kAgreement);

  std::string tampered = kAgreement;
  tampered.replace(tampered.find("min_brag = \"red\""), 16, "min_brag = \"blue\"");
  auto t = verify_agreement(tampered, "isa.toml", sig, key.verify_key());
  REQUIRE_FALSE(t.ok());
  CHECK(t.error().message.find("signature does not match") != std::string::npos);

  auto wrong_key = verify_agreement(kAgreement, "isa.toml", signed_by(other, kAgreement), key.verify_key());
  REQUIRE_FALSE(wrong_key.ok());
  CHECK(wrong_key.error().message.find("not the configured signer") != std::string::npos);

  CHECK_FALSE(verify_agreement(kAgreement, "isa.toml", "", key.verify_key()).ok());
  std::string stripped = sig.substr(0, sig.find("signature: "));
  auto s = verify_agreement(kAgreement, "isa.toml", stripped, key.verify_key());
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().message.find("incomplete signature") != std::string::npos);

  // A signature file edited to claim another version.
  std::string relabelled = sig;
  relabelled.replace(relabelled.find("version: 3"), 10, "version: 9");
  CHECK_FALSE(verify_agreement(kAgreement, "isa.toml", relabelled, key.verify_key()).ok());
  // Flipped signature bytes.
  auto parsed = parse_signature(sig, "s");
  REQUIRE(parsed.ok());
  parsed->signature[10] ^= 1;
  CHECK_FALSE(verify_agreement(kAgreement, "isa.toml", format_signature(*parsed), key.verify_key()).ok());
  // An invalid agreement cannot be signed.
  CHECK_FALSE(sign_agreement("[agreement]\n", "bad.toml", key).ok());
}

TEST_CASE("the gate refuses rollback and same-version substitution, and remembers", "[signing]") {
  mash::testing::TempDir dir;
  auto key = SigningKey::generate();
  auto state = dir / "policy-state";
  {
    PolicyGate gate(key.verify_key(), state);
    auto v3 = gate.accept(kAgreement, signed_by(key, kAgreement), "isa.toml");
    INFO((v3.ok() ? "" : v3.error().message));
    REQUIRE(v3.ok());
    CHECK(v3->agreement().version == 3);
    // The same document again is fine (a reconnecting agent gets it again).
    CHECK(gate.accept(kAgreement, signed_by(key, kAgreement), "isa.toml").ok());
    // Unsigned: refused.
    CHECK_FALSE(gate.accept(kAgreement, "", "isa.toml").ok());
  }
  PolicyGate gate(key.verify_key(), state);  // a restart: the state file remembers version 3
  auto acc = gate.accepted();
  REQUIRE(acc.ok());
  REQUIRE(acc->has_value());
  CHECK((*acc)->version == 3);

  std::string v2 = with_version(2);
  auto rollback = gate.accept(v2, signed_by(key, v2), "isa.toml");
  REQUIRE_FALSE(rollback.ok());
  CHECK(rollback.error().message.find("older than the accepted version 3 (rollback refused)") != std::string::npos);

  std::string changed = kAgreement;
  changed.replace(changed.find("lookback_months = 36"), 20, "lookback_months = 48");
  auto substitution = gate.accept(changed, signed_by(key, changed), "isa.toml");
  REQUIRE_FALSE(substitution.ok());
  CHECK(substitution.error().message.find("a different document claims the accepted version 3") != std::string::npos);

  std::string v4 = with_version(4);
  REQUIRE(gate.accept(v4, signed_by(key, v4), "isa.toml").ok());
  CHECK((*gate.accepted())->version == 4);
  // A damaged state file fails closed.
  mash::testing::write_file(state, "mash-isa-state-v1\nagreement: test-isa\n");
  CHECK_FALSE(gate.accept(v4, signed_by(key, v4), "isa.toml").ok());
}
