// Person matching: is the enquiry's subject someone in this agency's extract?
//
// A valid national identifier held by both sides decides (unless the person's details contradict
// it outright, which goes to review); one of the agency's own schemes is strong evidence
// (+10 bits, -6 when it differs), never a decision alone. Otherwise candidates come from the blocking keys
// (extract.h) and each is scored Fellegi-Sunter style: a weight in bits (log2 of the
// likelihood ratio m/u) per compared field and level, summed. Names use Jaro-Winkler levels,
// nicknames and a swapped-names level, with a bounded term-frequency adjustment so a rare
// surname counts for more than "Smith"; dates use exact / day-month swap / one edit / near;
// postcodes full / previous address / sector / district (a postcode that is not a UK one: exact
// or different); addresses by address.h's levels (or an exact UPRN), a previous address, and
// combined with the postcode so that one home is not counted twice. When the forenames clearly
// differ, a shared address or postcode counts for nothing (siblings, twins and parents share
// them).
//
// Outcomes: kMatched above the automatic threshold when no other candidate is within `margin`
// bits; kPossible for the review band or two candidates too close to call (only the count
// leaves the agency); kNoRecord otherwise. Weights and thresholds are in BENCHMARKS.md with the
// precision and recall they give.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "extract.h"
#include "result.h"

namespace mash::agent {

struct MatchThresholds {
  double automatic = 20.0;  // at or above: a match (if not too close to another candidate)
  double review = 12.0;     // at or above: a possible match
  double margin = 6.0;       // the best must lead the next candidate in the review band by this
  double identifier_floor = -4.0;  // an identifier match with details scoring below this: review
  size_t max_block = 256;   // blocks with more persons than this are skipped as uninformative
  size_t score_all_below = 64;  // more candidates than this: score only those under 2+ keys
};

struct Evidence {
  std::string field;  // forename, surname, names, date_of_birth, postcode, gender, identifier
  std::string level;  // exact, nickname, jw-high, swapped, day-month-swap, sector, different, ...
  double weight = 0;
};

struct ScoredCandidate {
  std::string person_id;
  double score = 0;
  bool identifier = false;  // found by an identifier both sides hold
  std::vector<Evidence> evidence;
};

enum class MatchOutcome { kNoRecord, kPossible, kMatched };
const char* outcome_name(MatchOutcome o);  // "no-record", "possible", "matched"

struct MatchResult {
  MatchOutcome outcome = MatchOutcome::kNoRecord;
  double score = 0;                     // the best candidate's score
  std::vector<std::string> person_ids;  // kMatched only: the person (and records sharing its identifier)
  uint32_t candidate_count = 0;         // kPossible: candidates in the review band or above
  std::string basis;                    // why: "identifier:nhs", "score", "too-close", "review-band", ...
  std::vector<ScoredCandidate> top;     // the best few, for the agency's own checks (never sent)
};

class Matcher {
 public:
  explicit Matcher(const ExtractStore& store, MatchThresholds thresholds = {});

  Result<MatchResult> match(const Txn& txn, const PersonFeatures& subject) const;

  // The Fellegi-Sunter score of one pair; `evidence` (if given) gets one entry per field.
  // `surname_count`/`forename_count`: persons in the extract with the subject's surname token
  // and forename root; `persons`: the extract's size (0: no frequency adjustment).
  double score(const PersonFeatures& subject, const PersonFeatures& candidate,
               uint64_t surname_count, uint64_t forename_count, uint64_t persons,
               std::vector<Evidence>* evidence) const;

  const MatchThresholds& thresholds() const { return thresholds_; }

 private:
  const ExtractStore& store_;
  MatchThresholds thresholds_;
};

}  // namespace mash::agent
