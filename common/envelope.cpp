#include "envelope.h"

namespace mash {

namespace {
std::vector<uint8_t> payload(std::string_view domain, std::span<const uint8_t> body) {
  std::vector<uint8_t> out(domain.begin(), domain.end());
  out.insert(out.end(), body.begin(), body.end());
  return out;
}
}  // namespace

std::array<uint8_t, 64> sign_envelope(const SigningKey& key, std::string_view domain,
                                      std::span<const uint8_t> body) {
  return key.sign(payload(domain, body));
}

bool verify_envelope(const VerifyKey& key, std::string_view domain, std::span<const uint8_t> body,
                     std::span<const uint8_t> signature) {
  return verify(key, payload(domain, body), signature);
}

}  // namespace mash
