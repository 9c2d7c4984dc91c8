// The agreement in force at this agency: accepted only through the signature gate
// (policy/signing.h: signed by the ISA signer, never older than the one held), narrowed by the
// agency's local policy, and kept on disk so the agent answers with it after a restart.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "crypto.h"
#include "engine.h"
#include "result.h"
#include "signing.h"

namespace mash::agent {

class PolicyHolder {
 public:
  // `dir` holds the accepted bundle (current.toml, current.toml.sig) and the gate's state.
  PolicyHolder(std::filesystem::path dir, VerifyKey signer, std::filesystem::path local_policy,
               std::string agency);

  // At startup: the bundle accepted before (if any), then the agreement the agency installed
  // (if given and newer). An error only when a file given is bad; no agreement at all is fine
  // (the hub sends one on the link).
  Status load(const std::filesystem::path& installed, const std::filesystem::path& installed_sig);
  // A bundle from the hub. Accepting the version already held is a no-op.
  Status offer(std::string_view toml, std::string_view signature, const std::string& source);

  std::shared_ptr<const policy::Policy> current() const;
  int64_t version() const;  // 0 when none

 private:
  Status accept(std::string_view toml, std::string_view signature, const std::string& source);

  std::filesystem::path dir_;
  policy::PolicyGate gate_;
  std::filesystem::path local_policy_;
  std::string agency_;
  mutable std::mutex mu_;
  std::shared_ptr<const policy::Policy> current_;
};

}  // namespace mash::agent
