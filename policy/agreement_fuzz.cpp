// libFuzzer target: arbitrary bytes as an agreement, a local policy and a signature file.
// Nothing may crash, hang or leak; the reader must answer with a value or an error.
// Built with clang (-DMASH_FUZZ=ON); deploy/test.sh runs it for a short while.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "agreement.h"
#include "engine.h"
#include "signing.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto agreement = mash::policy::parse_agreement(text, "fuzz.toml");
  (void)mash::policy::canonical_bytes(text, "fuzz.toml");
  (void)mash::policy::parse_signature(text, "fuzz.sig");
  if (agreement.ok()) {
    auto local = mash::policy::parse_local_policy(text, "fuzz-local.toml", *agreement);
    auto policy = mash::policy::Policy::compile(std::move(agreement).value());
    if (policy.ok()) {
      (void)policy->run_tests();
      if (local.ok()) (void)policy->apply_local(*local);
    }
  }
  return 0;
}
