// Answering one enquiry: the agent's own check of the request against the agreement and its
// local policy (it does not trust the hub to have checked), matching each subject, and choosing
// exactly what may leave.
//
// Rules that hold for every answer (policy/README.md, agent/DATA.md):
// - A field leaves only if the policy releases it for this agency, purpose, legal basis, consent
//   state and BRAG rating, and only facts inside the grant's look-back window.
// - Restricted facts (marked so, or of a record type the agreement or local policy restricts)
//   never leave, nor does anything derived from them: such a subject gets only the restricted
//   flag and the agency's contact route.
// - Only a `matched` subject gets data; `possible` gets the number of candidates; `no-record`
//   nothing.
// - A request the agent cannot check (an agreement version it does not hold, a field outside
//   the agreement, an unknown purpose) is declined as a whole, with a reason code.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine.h"
#include "extract.h"
#include "link.capnp.h"
#include "matcher.h"
#include "result.h"

namespace mash::agent {

struct ReleasedValue {
  std::string field, value, date, source;
};

struct WithheldField {
  std::string field, reason, clause;
};

// A candidate for a `possible` subject, kept at the agency for its reviewer (never sent).
struct CandidateNote {
  std::string person_id;
  double score = 0;
};

struct SubjectDraft {
  std::string ref;
  MatchOutcome outcome = MatchOutcome::kNoRecord;
  double score = 0;
  uint32_t candidate_count = 0;
  std::string basis;                   // the matcher's basis
  std::vector<std::string> records;    // matched local person ids (for the agency's log only)
  std::vector<CandidateNote> candidates;  // possible: the best candidates (for the agency's reviewer only)
  std::vector<ReleasedValue> released;
  std::vector<WithheldField> withheld;
  bool restricted = false;
};

struct AnswerDraft {
  std::string status = "answered";     // answered | declined
  std::string decline_reason;          // a code, when declined
  bool review = false;                 // the agreement or local policy wants a person to look first
  std::vector<std::string> review_fields;
  std::string restricted_contact;
  // From the enquiry, for the disclosure log and the review queue.
  std::string case_ref, purpose, legal_basis, consent, brag;
  std::vector<std::string> fields;
  std::vector<SubjectDraft> subjects;

  nlohmann::json to_json() const;
  static Result<AnswerDraft> from_json(const nlohmann::json& j);
  // Field ids released for any subject, sorted.
  std::vector<std::string> released_fields() const;
};

// Limits on what an enquiry may hold (checked by the agent whatever the hub sent).
inline constexpr size_t kMaxSubjects = 20;
inline constexpr size_t kMaxFieldsRequested = 64;
inline constexpr size_t kMaxSubjectText = 256;
inline constexpr size_t kMaxSubjectIdentifiers = 16;  // as many as the hub accepts

struct AnswerContext {
  const policy::Policy* policy = nullptr;
  std::string agency;
  const ExtractStore* store = nullptr;
  const Matcher* matcher = nullptr;
  policy::Date today;
  // The agency's own identifier schemes: an enquiry's identifier of any other scheme that is not
  // national is left out (the hub sends one only when the agreement names it for this agency).
  const std::vector<std::string>* identifier_schemes = nullptr;
  // A reviewer's settlement of `possible` subjects (review resolve): subject ref -> the local
  // person id they chose among the candidates, or "none". A settled subject is answered as
  // matched to that person (basis "settled-on-review") or as no-record.
  const std::map<std::string, std::string>* settled = nullptr;
};

// Today's date in UTC, for the agreement's look-back windows.
policy::Date today_utc();

// Builds the answer to a verified enquiry body. An error for a failure of the agent's own
// storage, and (kInvalidArgument) for a settlement that names no subject in the review band or a
// person who is not one of its candidates; a bad request is a declined draft. At an agency whose
// grant sends answers to review, a `possible` subject also sends the answer to review, so that
// the reviewer can settle it.
Result<AnswerDraft> draft_answer(const AnswerContext& ctx, wire::EnquiryBody::Reader body);

// A reviewer's decisions applied to a draft: fields withheld on review (reason
// "withheld-on-review"), or the whole answer declined ("declined-on-review").
void withhold_on_review(AnswerDraft& draft, const std::vector<std::string>& fields);

// The AnswerBody bytes (standard Cap'n Proto serialisation) for a draft. `status_override`
// lets the agent say "awaiting review" without sending anything of the draft.
std::vector<uint8_t> encode_answer_body(const AnswerDraft& draft, std::span<const uint8_t> enquiry_id,
                                        const std::string& agency, uint64_t policy_version,
                                        int64_t answered_at_ms, bool awaiting_review);

}  // namespace mash::agent
