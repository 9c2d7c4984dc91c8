// Signed agreements: a detached Ed25519 signature over the agreement's canonical bytes
// (agreement.h), and the gate through which an agent or the broker accepts an agreement.
//
// The gate is built with the signer's public key and cannot be asked to skip verification; it
// remembers what it accepted in a small state file, and refuses an older version (rollback) or
// a different document under the same version.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "agreement.h"
#include "crypto.h"
#include "engine.h"
#include "result.h"

namespace mash::policy {

struct AgreementSignature {
  std::string agreement_id;
  int64_t version = 0;
  VerifyKey signer;
  std::array<uint8_t, 64> signature{};
};

// The .sig file's text form:
//   mash-isa-signature-v1
//   agreement: <id>
//   version: <n>
//   signer: <base64 public key>
//   signature: <base64 signature>
std::string format_signature(const AgreementSignature& sig);
Result<AgreementSignature> parse_signature(std::string_view text, const std::string& source);

// Validates the agreement, then signs its canonical bytes.
Result<AgreementSignature> sign_agreement(std::string_view toml_text, const std::string& source,
                                          const SigningKey& key);

// Checks the signature against `trusted` and that it names this agreement and version. Returns
// the parsed, validated agreement.
Result<Agreement> verify_agreement(std::string_view toml_text, const std::string& source,
                                   std::string_view signature_text, const VerifyKey& trusted);

// The acceptance gate (see top of file).
class PolicyGate {
 public:
  PolicyGate(VerifyKey signer, std::filesystem::path state_file);

  // Verifies, validates and compiles; refuses rollback and same-version substitution; records
  // the accepted version durably before returning.
  Result<Policy> accept(std::string_view toml_text, std::string_view signature_text,
                        const std::string& source);

  struct Accepted {
    std::string agreement_id;
    int64_t version = 0;
    std::string digest;  // hex SHA-256 of the canonical bytes
  };
  // What the state file says was accepted last, if anything.
  Result<std::optional<Accepted>> accepted() const;

 private:
  VerifyKey signer_;
  std::filesystem::path state_file_;
};

}  // namespace mash::policy
