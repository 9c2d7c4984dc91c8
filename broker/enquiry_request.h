// What a researcher asks, checked against the agreement: the request as the hub stores it (its
// normalised form, encrypted in the case vault) and the one builder of each agency's signed
// EnquiryBody.
//
// check_enquiry() names each bad field ("subjects[0].date_of_birth") and stores nothing. An
// agency's own identifier scheme goes only to that agency; national identifiers to every agency
// asked.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine.h"

namespace mash::broker {

// A refusal with field-level messages (400), or another error.
struct EnquiryError {
  int status = 400;
  std::string code, message;
  std::map<std::string, std::string> fields;
};

struct SubjectRequest {
  std::string ref, role, forenames, surname, date_of_birth, gender, postcode, address, uprn;
  std::vector<std::string> other_names;
  std::map<std::string, std::string> identifiers;  // scheme -> value
};

struct AgencyRequest {
  std::string id, justification;
  std::vector<std::string> wanted;  // the fields chosen (all of the agency's, if none were)
  std::vector<std::string> asked;   // those the agreement permits for this purpose, basis, consent, BRAG
  nlohmann::json not_permitted = nlohmann::json::array();  // the others, each with why
};

struct EnquiryRequest {
  std::string case_ref, local_authority, brag, concerns, purpose, legal_basis, consent, consent_reason;
  std::string follows;  // an earlier enquiry of the same case, or empty
  std::vector<SubjectRequest> subjects;
  std::vector<AgencyRequest> agencies;
  int64_t deadline_hours = 0, deadline_minutes = 0;  // from the BRAG rating

  // The normalised request, as stored in the vault and shown by the API.
  nlohmann::json to_json() const;
};

constexpr size_t kMaxSubjects = 20;

std::variant<EnquiryRequest, EnquiryError> check_enquiry(const nlohmann::json& in, const policy::Policy& policy);

// One agency's copy: the EnquiryBody (Cap'n Proto bytes, to be signed) for delivery id
// `delivery`.
std::vector<uint8_t> build_enquiry_body(const EnquiryRequest& request, const AgencyRequest& agency,
                                        const policy::Agreement& agreement, std::span<const uint8_t> delivery,
                                        int64_t issued_ms, int64_t deadline_ms);

// A national identifier scheme (nhs, upn, pnc, probation, housing).
bool national_scheme(const std::string& scheme);

// Helpers shared with the other parts of the desk.
bool is_code(std::string_view s, size_t max, bool upper_ok = true);
bool printable(std::string_view s);
// Reads a string member into `out`; records a field error when it is the wrong type or too long.
bool read_string(const nlohmann::json& j, const std::string& path, const char* key, std::string& out,
                 std::map<std::string, std::string>& errors, size_t max, bool required);

}  // namespace mash::broker
