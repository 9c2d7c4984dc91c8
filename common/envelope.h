// Signed envelopes on the agent link: an enquiry signed by the hub, an answer signed by the
// agency. The signature covers a domain-separation prefix and then the body bytes exactly as
// sent, so a signature made for one purpose (an audit checkpoint, an answer) can never be
// passed off as another (an enquiry), even when the same key makes both.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "crypto.h"

namespace mash {

inline constexpr std::string_view kEnquiryDomain = "mash-enquiry-v1\n";
inline constexpr std::string_view kAnswerDomain = "mash-answer-v1\n";

std::array<uint8_t, 64> sign_envelope(const SigningKey& key, std::string_view domain,
                                      std::span<const uint8_t> body);
bool verify_envelope(const VerifyKey& key, std::string_view domain, std::span<const uint8_t> body,
                     std::span<const uint8_t> signature);

}  // namespace mash
