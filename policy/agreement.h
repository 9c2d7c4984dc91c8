// The Information Sharing Agreement (ISA) as data: the document model and its TOML reader.
//
// The format is described in policy/README.md and shown in policy/examples/. Reading never
// throws: every problem (syntax, unknown key, wrong type, a reference to something that does not
// exist, a grant that can never apply, ...) is reported as "FILE:LINE: problem", all of them at
// once, so a DPO can fix a draft in one pass.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "result.h"

namespace mash::policy {

struct Date {
  int year = 0, month = 0, day = 0;
  auto operator<=>(const Date&) const = default;
  std::string to_string() const;  // YYYY-MM-DD
  // The same day `months` months earlier (clamped to the month's last day).
  Date minus_months(int months) const;
  static std::optional<Date> parse(std::string_view text);  // YYYY-MM-DD
};

struct Signatory {
  std::string organisation, name, role;
  Date signed_on;
};

// An identifier scheme of the agency's own (a local case-system id, say), beyond the national
// ones every agreement knows (nhs, upn, pnc, probation, housing). A researcher may give such an
// identifier in an enquiry, and only the agencies that declare the scheme receive it.
struct IdentifierScheme {
  std::string id;    // lower-case letters, digits and '-', 2 to 32: "police-nominal"
  std::string name;  // plain words for people: "Police nominal reference"
  int line = 0;
};

// The identifier schemes every agreement knows; an agency may not redeclare them.
inline constexpr const char* kNationalIdentifierSchemes[] = {"nhs", "upn", "pnc", "probation", "housing"};

struct Agency {
  std::string id, name, certificate, restricted_contact;
  std::vector<IdentifierScheme> identifier_schemes;
  int line = 0;

  const IdentifierScheme* identifier_scheme(std::string_view scheme) const;
};

struct FieldDef {
  std::string id, agency, type, description;
  bool special_category = false;
  int line = 0;
};

struct Purpose {
  std::string id, name, description;
  int line = 0;
};

struct LegalBasis {
  std::string id, name;
  bool requires_consent = false;  // the basis is consent itself: only "given" can use it
  int line = 0;
};

struct ConsentState {
  std::string id, name;
  bool requires_reason = false;   // e.g. not sought because it could increase the risk of harm
  bool is_given = false;          // the state meaning the family agreed
  int line = 0;
};

struct BragLevel {
  std::string id, name;
  int rank = 0;                   // higher is more urgent
  int deadline_hours = 0;         // time allowed for agencies to answer, rounded up to hours
  int deadline_minutes = 0;       // the same exactly (the agreement gives hours or minutes)
  int line = 0;
};

struct Grant {
  std::string id, agency, min_brag;
  std::vector<std::string> purposes, legal_bases, consent, fields;
  int lookback_months = 0;
  bool review = false;            // the agency must review before anything is released
  int line = 0;
};

struct Forbid {
  std::string id, agency, reason;
  std::vector<std::string> fields;
  // Empty means "any".
  std::vector<std::string> purposes, legal_bases, consent;
  int line = 0;
};

struct RestrictedRule {
  std::string id, agency, handling, description;
  std::vector<std::string> record_types;
  int line = 0;
};

struct TestCase {
  std::string name, agency, purpose, basis, consent, brag;
  std::vector<std::string> fields;                 // requested; empty = the agency's catalogue
  std::vector<std::string> released;               // exactly these are released
  std::map<std::string, std::string> withheld;     // field -> reason code
  int line = 0;
};

struct Agreement {
  std::string source;             // file name, for messages
  std::string id, title;
  int64_t version = 0;
  Date effective, review;
  std::vector<Signatory> signatories;
  int case_content_days = 0, audit_metadata_days = 0;
  int enquiries_per_user_per_hour = 0, enquiries_per_user_per_day = 0;
  std::vector<BragLevel> brag;
  std::vector<Purpose> purposes;
  std::vector<LegalBasis> legal_bases;
  std::vector<ConsentState> consent_states;
  std::vector<Agency> agencies;
  std::vector<FieldDef> fields;
  std::vector<Grant> grants;
  std::vector<Forbid> forbids;
  std::vector<RestrictedRule> restricted;
  std::vector<TestCase> tests;

  const Agency* agency(std::string_view id) const;
  const FieldDef* field(std::string_view id) const;
  const BragLevel* brag_level(std::string_view id) const;
};

// Parses and validates. The error message lists every problem, one "FILE:LINE: problem" a line.
Result<Agreement> parse_agreement(std::string_view text, const std::string& source);
Result<Agreement> load_agreement(const std::filesystem::path& path);

// The agreement's meaning as canonical bytes: a domain-separation line, then JSON with sorted
// keys and no insignificant whitespace, built from the parsed document. Comments and layout do
// not change it; any change of meaning does. This is what a signature covers.
Result<std::string> canonical_bytes(std::string_view toml_text, const std::string& source);

// Reads a file of at most `limit` bytes.
Result<std::string> read_text_file(const std::filesystem::path& path, size_t limit = 4u << 20);

}  // namespace mash::policy
