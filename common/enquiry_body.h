// The one builder of an EnquiryBody (link.capnp), the signed part of an enquiry: the hub builds
// each agency's copy with it (broker/enquiry_request.h decides what goes in), and the tests and
// benchmarks that play the hub build theirs the same way.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace mash {

struct EnquirySubject {
  std::string ref, role, forenames, surname, date_of_birth, gender, postcode, address, uprn;
  std::vector<std::string> other_names;
  std::vector<std::pair<std::string, std::string>> identifiers;  // scheme, value
};

struct EnquiryBodyFields {
  std::vector<uint8_t> id;  // the delivery id, 16 bytes
  std::string agency, agreement_id;
  uint64_t policy_version = 0;
  int64_t issued_ms = 0, deadline_ms = 0;
  std::string case_ref, purpose, legal_basis, consent, brag, justification;
  std::vector<std::string> fields;
  std::vector<EnquirySubject> subjects;
};

// The Cap'n Proto bytes of the body (to be signed with kEnquiryDomain).
std::vector<uint8_t> encode_enquiry_body(const EnquiryBodyFields& f);

}  // namespace mash
