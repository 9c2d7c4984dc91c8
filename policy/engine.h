// The compiled agreement: every decision the ISA can make, precomputed into one flat table, so
// that deciding an enquiry is an index computation and a copy (see BENCHMARKS.md). Rules of
// decision are in policy/README.md ("Decisions"); an agency's local policy narrows the table.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "agreement.h"
#include "result.h"

namespace mash::policy {

enum class Reason : uint8_t {
  kReleased,
  kNoGrant,
  kForbidden,
  kConsentRequired,
  kBelowMinBrag,
  kOutsideLookback,
  kNarrowedLocal,
};

// "released", "no-grant", "forbidden", "consent-required", "below-min-brag",
// "outside-lookback", "narrowed-local".
const char* reason_code(Reason reason);

struct Decision {
  uint16_t field = 0;            // index into Policy::field()
  Reason reason = Reason::kNoGrant;
  bool review = false;           // released only after a person at the agency approves
  uint16_t lookback_months = 0;  // for releases: facts older than this are withheld
  uint16_t clause = 0;           // index into Policy::clause(); 0 means none

  bool released() const { return reason == Reason::kReleased; }
};

// A resolved question: agency, purpose, legal basis, consent state and BRAG as indices.
struct Query {
  uint16_t agency = 0, purpose = 0, basis = 0, consent = 0, brag = 0;
};

// An agency's local narrowing of the agreement (policy/README.md, "Local policy").
struct LocalRule {
  enum class Kind { kWithhold, kReview, kLookback, kRestricted };
  Kind kind = Kind::kWithhold;
  std::string id, reason;
  std::vector<std::string> fields, purposes, legal_bases, consent, record_types;
  int months = 0;
  int line = 0;
};

struct LocalPolicy {
  std::string source, agency, agreement;
  std::vector<LocalRule> rules;
};

// Parses a local policy and checks it against the agreement: it may only narrow. Every problem
// is reported as "FILE:LINE: problem".
Result<LocalPolicy> parse_local_policy(std::string_view text, const std::string& source,
                                       const Agreement& agreement);

class Policy {
 public:
  // The agreement must have come from parse_agreement (validated).
  static Result<Policy> compile(Agreement agreement);

  // Narrows this policy with an agency's local rules (parse_local_policy checked them).
  Status apply_local(const LocalPolicy& local);

  // Resolves ids; an unknown id is an error naming it.
  Result<Query> query(std::string_view agency, std::string_view purpose, std::string_view basis,
                      std::string_view consent, std::string_view brag) const;

  // One decision per field of the query's agency, in catalogue order.
  std::span<const Decision> decide(const Query& q) const;
  // The decision for one field; an error if the field is unknown or another agency's.
  Result<Decision> decide_field(const Query& q, std::string_view field_id) const;
  // For a released field: whether a fact dated `fact` may go out on `today`.
  static Reason decide_fact(const Decision& d, const Date& fact, const Date& today);

  const std::string& field(uint16_t index) const { return field_ids_[index]; }
  const std::string& clause(uint16_t index) const { return clause_ids_[index]; }
  // What a clause says, for explanations (a forbid's or local rule's reason, a grant's scope).
  const std::string& clause_text(uint16_t index) const { return clause_texts_[index]; }
  const Agreement& agreement() const { return agreement_; }
  // Record types the agency treats as restricted (agreement plus local policy).
  std::vector<std::string> restricted_record_types(std::string_view agency) const;

  struct TestFailure {
    std::string test;
    int line = 0;
    std::string message;
  };
  // Runs the agreement's own [[tests]].
  std::vector<TestFailure> run_tests() const;

 private:
  Policy() = default;
  size_t block(const Query& q) const;
  Decision evaluate(size_t agency, size_t purpose, size_t basis, size_t consent, size_t brag,
                    uint16_t field) const;

  Agreement agreement_;
  std::vector<std::string> field_ids_;
  std::vector<std::string> clause_ids_{""};
  std::vector<std::string> clause_texts_{""};
  std::unordered_map<std::string, uint16_t> clause_index_;
  std::unordered_map<std::string, std::pair<uint16_t, uint16_t>> field_pos_;  // agency, position
  std::vector<std::vector<uint16_t>> agency_fields_;  // per agency: field indices
  std::vector<size_t> agency_base_;                   // per agency: table offset
  size_t purposes_ = 0, bases_ = 0, consents_ = 0, brags_ = 0;
  std::vector<Decision> table_;
  std::vector<std::vector<std::string>> local_restricted_;  // per agency
};

}  // namespace mash::policy
