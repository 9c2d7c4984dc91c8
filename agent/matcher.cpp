#include "matcher.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <unordered_map>

namespace mash::agent {

namespace {

// Weights in bits. m: how often the level occurs for a true pair; u: for a random pair. The
// values come from the noise rates of real extracts (agent/DATA.md, mash-synth) and were
// checked against the synthetic ground truth, never against the held-out FEBRL set.
constexpr double kForeExact = 6.5;        // m 0.90, u ~1/100
constexpr double kForeNickname = 4.5;
constexpr double kForeOtherToken = 3.5;   // a middle name used as the first name, or an alias
constexpr double kForeJwHigh = 3.5;       // Jaro-Winkler >= 0.92: a typo
constexpr double kForeJwMid = 1.0;        // >= 0.85
constexpr double kForeDiffer = -7.0;        // m ~0.01: a sibling with the same birthday (twins) must not pass
constexpr double kForeTfRange = 2.0;      // term-frequency adjustment at most +-2 bits
constexpr double kForeTypical = 1.0 / 100;

constexpr double kMiddleAgree = 2.0;      // both give a second forename and it agrees
constexpr double kMiddleDiffer = -3.0;    // both give one and it clearly differs

constexpr double kSurExact = 7.5;         // m 0.92, u ~1/300
constexpr double kSurOther = 6.0;         // a previous or married surname
constexpr double kSurJwHigh = 4.5;
constexpr double kSurJwMid = 1.5;
constexpr double kSurDiffer = -5.0;
constexpr double kSurTfRange = 3.0;
constexpr double kSurTypical = 1.0 / 300;

constexpr double kSwapPenalty = 2.0;      // names swapped: both agree crosswise, less a little

constexpr double kDobExact = 12.0;
constexpr double kDobSwap = 7.0;
constexpr double kDobOneEdit = 4.5;       // ~30 dates are one edit away: weak among a million people
constexpr double kDobNear = 1.5;
constexpr double kDobDiffer = -9.0;

constexpr double kPostFull = 6.0;
constexpr double kPostPrevious = 4.5;
constexpr double kPostSector = 3.0;
constexpr double kPostDistrict = 1.5;
constexpr double kPostDiffer = -2.5;      // people move (m ~0.15): weak evidence against

constexpr double kGenderAgree = 0.3;
constexpr double kGenderDiffer = -4.0;
constexpr double kIdentifierDiffer = -12.0;

constexpr size_t kCandidateCap = 5000;

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& t : v) s += t;
  return s;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// Below this many persons the extract says little about how common a name is.
constexpr uint64_t kMinPersonsForFrequency = 1000;

double tf_adjust(uint64_t count, uint64_t persons, double typical, double range) {
  if (persons < kMinPersonsForFrequency || count == 0) return 0;
  double u = static_cast<double>(count) / static_cast<double>(persons);
  return std::clamp(std::log2(typical / u), -range, range);
}

struct Part {
  const char* level;
  double weight;
};

Part compare_forename(const PersonFeatures& s, const PersonFeatures& c, double tf) {
  if (s.forenames.empty() || (c.forenames.empty() && c.other_forenames.empty())) return {"missing", 0};
  const std::string& a = s.forenames[0];
  if (!c.forenames.empty()) {
    const std::string& b = c.forenames[0];
    if (a == b) return {"exact", kForeExact + tf};
    if (text::nickname_match(a, b)) return {"nickname", kForeNickname};
  }
  // A middle name used as the first name, either way, or an alias.
  for (size_t i = 1; i < c.forenames.size(); ++i) {
    if (c.forenames[i] == a) return {"other-token", kForeOtherToken};
  }
  for (size_t i = 1; i < s.forenames.size(); ++i) {
    if (!c.forenames.empty() && s.forenames[i] == c.forenames[0]) return {"other-token", kForeOtherToken};
  }
  if (contains(c.other_forenames, a)) return {"alias", kForeOtherToken};
  if (c.forenames.empty()) return {"missing", 0};
  double jw = text::jaro_winkler(a, c.forenames[0]);
  if (jw >= 0.92) return {"jw-high", kForeJwHigh};
  if (jw >= 0.85) return {"jw-mid", kForeJwMid};
  return {"different", kForeDiffer};
}

// Second forenames, when both sides give one (agency records often drop them, so absence says
// nothing).
Part compare_middle(const PersonFeatures& s, const PersonFeatures& c) {
  if (s.forenames.size() < 2 || c.forenames.size() < 2) return {"missing", 0};
  const std::string& a = s.forenames[1];
  const std::string& b = c.forenames[1];
  if (a == b || text::nickname_match(a, b) || text::jaro_winkler(a, b) >= 0.92) return {"agree", kMiddleAgree};
  // A middle name used as the first name on one side is handled by the forename comparison.
  if (a == c.forenames[0] || b == s.forenames[0]) return {"missing", 0};
  return {"different", kMiddleDiffer};
}

Part compare_surname(const PersonFeatures& s, const PersonFeatures& c, double tf) {
  if (s.surnames.empty() || (c.surnames.empty() && c.other_surnames.empty())) return {"missing", 0};
  if (s.surnames == c.surnames) return {"exact", kSurExact + tf};
  for (const auto& t : s.surnames) {
    if (contains(c.surnames, t)) return {"token", kSurExact + tf - 1.0};  // part of a double-barrelled name
  }
  for (const auto& t : s.surnames) {
    if (contains(c.other_surnames, t)) return {"previous-name", kSurOther};
  }
  for (const auto& t : s.other_surnames) {
    if (contains(c.surnames, t)) return {"previous-name", kSurOther};
  }
  if (c.surnames.empty()) return {"missing", 0};
  double jw = text::jaro_winkler(join(s.surnames), join(c.surnames));
  if (jw >= 0.92) return {"jw-high", kSurJwHigh};
  if (jw >= 0.85) return {"jw-mid", kSurJwMid};
  return {"different", kSurDiffer};
}

// Forename and surname the wrong way round on one side.
bool swapped(const PersonFeatures& s, const PersonFeatures& c) {
  if (s.forenames.empty() || s.surnames.empty() || c.forenames.empty() || c.surnames.empty()) return false;
  auto close = [](const std::string& x, const std::string& y) {
    return x == y || text::nickname_match(x, y) || text::jaro_winkler(x, y) >= 0.92;
  };
  bool fore_in_surname = false;
  for (const auto& t : c.surnames) fore_in_surname = fore_in_surname || close(s.forenames[0], t);
  bool sur_in_forename = false;
  for (const auto& t : s.surnames) sur_in_forename = sur_in_forename || close(t, c.forenames[0]);
  return fore_in_surname && sur_in_forename;
}

Part compare_dob(const PersonFeatures& s, const PersonFeatures& c) {
  if (s.dob.y == 0 || c.dob.y == 0) return {"missing", 0};
  switch (text::compare_dates(s.dob, c.dob)) {
    case text::DateLevel::kExact: return {"exact", kDobExact};
    case text::DateLevel::kDayMonthSwap: return {"day-month-swap", kDobSwap};
    case text::DateLevel::kOneEdit: return {"one-edit", kDobOneEdit};
    case text::DateLevel::kNear: return {"near", kDobNear};
    case text::DateLevel::kDifferent: break;
  }
  return {"different", kDobDiffer};
}

std::string_view district(std::string_view full) { return full.substr(0, full.find(' ')); }
std::string_view sector(std::string_view full) {
  auto sp = full.find(' ');
  return sp == std::string_view::npos ? full : full.substr(0, sp + 2);
}

Part compare_postcode(const PersonFeatures& s, const PersonFeatures& c) {
  if (s.postcode.empty() || c.postcode.empty()) {
    if (!s.postcode.empty() && contains(c.previous_postcodes, s.postcode)) return {"previous", kPostPrevious};
    return {"missing", 0};
  }
  if (s.postcode == c.postcode) return {"exact", kPostFull};
  if (contains(c.previous_postcodes, s.postcode) || contains(s.previous_postcodes, c.postcode)) {
    return {"previous", kPostPrevious};
  }
  if (sector(s.postcode) == sector(c.postcode)) return {"sector", kPostSector};
  if (district(s.postcode) == district(c.postcode)) return {"district", kPostDistrict};
  return {"different", kPostDiffer};
}

}  // namespace

const char* outcome_name(MatchOutcome o) {
  switch (o) {
    case MatchOutcome::kNoRecord: return "no-record";
    case MatchOutcome::kPossible: return "possible";
    case MatchOutcome::kMatched: return "matched";
  }
  return "no-record";
}

Matcher::Matcher(const ExtractStore& store, MatchThresholds thresholds)
    : store_(store), thresholds_(thresholds) {}

double Matcher::score(const PersonFeatures& s, const PersonFeatures& c, uint64_t surname_count,
                      uint64_t forename_count, uint64_t persons, std::vector<Evidence>* ev) const {
  double total = 0;
  auto add = [&](const char* field, Part p) {
    total += p.weight;
    if (ev) ev->push_back({field, p.level, p.weight});
  };
  Part fore = compare_forename(s, c, tf_adjust(forename_count, persons, kForeTypical, kForeTfRange));
  Part sur = compare_surname(s, c, tf_adjust(surname_count, persons, kSurTypical, kSurTfRange));
  double straight = fore.weight + sur.weight;
  if (straight < 0 && swapped(s, c)) {
    add("names", {"swapped", kForeExact + kSurExact - kSwapPenalty});
  } else {
    add("forename", fore);
    add("surname", sur);
  }
  if (Part middle = compare_middle(s, c); middle.weight != 0) add("middle_name", middle);
  add("date_of_birth", compare_dob(s, c));
  add("postcode", compare_postcode(s, c));
  if (s.gender != 0 && c.gender != 0) {
    add("gender", s.gender == c.gender ? Part{"agree", kGenderAgree} : Part{"different", kGenderDiffer});
  }
  for (const auto& [scheme, value] : s.identifiers) {
    for (const auto& [cs, cv] : c.identifiers) {
      if (cs != scheme) continue;
      if (cv == value) {
        if (ev) ev->push_back({"identifier", "exact:" + scheme, 0});
      } else {
        add("identifier", {"different", kIdentifierDiffer});
      }
    }
  }
  return total;
}

Result<MatchResult> Matcher::match(const Txn& txn, const PersonFeatures& subject) const {
  MatchResult result;
  auto info = store_.info(txn);
  if (!info.ok()) return info.error();
  const uint64_t persons = info->persons;
  uint64_t sur_count = 0, fore_count = 0;
  if (!subject.surnames.empty()) {
    auto n = store_.frequency(txn, "s|" + subject.surnames.back());
    if (!n.ok()) return n.error();
    sur_count = *n;
  }
  if (!subject.forenames.empty()) {
    auto n = store_.frequency(txn, "f|" + std::string(text::forename_root(subject.forenames[0])));
    if (!n.ok()) return n.error();
    fore_count = *n;
  }
  auto score_id = [&](const std::string& id, bool by_identifier) -> Result<std::optional<ScoredCandidate>> {
    auto p = store_.person(txn, id);
    if (!p.ok()) return p.error();
    if (!*p) return std::optional<ScoredCandidate>();
    ScoredCandidate c;
    c.person_id = id;
    c.identifier = by_identifier;
    c.score = score(subject, **p, sur_count, fore_count, persons, &c.evidence);
    return std::optional<ScoredCandidate>(std::move(c));
  };

  // 1. Identifiers both sides hold decide.
  std::set<std::string> by_id;
  std::set<std::string> schemes_found;
  for (const auto& [scheme, value] : subject.identifiers) {
    std::vector<std::string> ids;
    if (auto st = store_.by_identifier(txn, scheme, value, ids); !st.ok()) return st.error();
    if (!ids.empty()) schemes_found.insert(scheme);
    by_id.insert(ids.begin(), ids.end());
  }
  if (!by_id.empty()) {
    std::vector<ScoredCandidate> found;
    for (const auto& id : by_id) {
      auto c = score_id(id, true);
      if (!c.ok()) return c.error();
      if (*c) found.push_back(std::move(**c));
    }
    std::sort(found.begin(), found.end(),
              [](const auto& a, const auto& b) { return a.score > b.score; });
    // Records found by different identifiers that disagree among themselves, or details that
    // contradict the identifier: a person at the agency must look.
    bool contradicted = found.empty() || found.back().score < thresholds_.identifier_floor;
    bool conflicting = false;
    for (const auto& c : found) {
      for (const auto& e : c.evidence) conflicting = conflicting || (e.field == "identifier" && e.level == "different");
    }
    result.score = found.empty() ? 0 : found.front().score;
    if (!contradicted && !conflicting) {
      result.outcome = MatchOutcome::kMatched;
      for (const auto& c : found) result.person_ids.push_back(c.person_id);
      result.basis = "identifier:" + *schemes_found.begin();
    } else {
      result.outcome = MatchOutcome::kPossible;
      result.candidate_count = static_cast<uint32_t>(found.size());
      result.basis = conflicting ? "identifier-conflict" : "identifier-contradicted";
    }
    if (found.size() > 3) found.resize(3);
    result.top = std::move(found);
    return result;
  }

  // 2. Candidates from the blocking keys, scored.
  std::vector<std::string> ids;
  for (const auto& key : blocking_keys(subject)) {
    // A block bigger than the cap is too common to tell people apart ("Smith" born in 1985):
    // it is skipped whole rather than cut at an arbitrary point; the other keys still count.
    std::vector<std::string> block;
    bool truncated = false;
    if (auto st = store_.block(txn, key, thresholds_.max_block, block, &truncated); !st.ok()) return st.error();
    if (truncated) continue;
    ids.insert(ids.end(), std::make_move_iterator(block.begin()), std::make_move_iterator(block.end()));
    if (ids.size() >= kCandidateCap) break;
  }
  std::sort(ids.begin(), ids.end());
  // Someone who agrees on only one blocking key cannot reach the review band in practice (each
  // key stands for a name, date or address agreeing), so with many candidates only those found
  // under two or more keys are scored: the difference between a few hundred lookups and a few
  // thousand at a million persons (BENCHMARKS.md).
  if (ids.size() > thresholds_.score_all_below) {
    std::vector<std::string> multi;
    for (size_t i = 0; i < ids.size();) {
      size_t j = i;
      while (j < ids.size() && ids[j] == ids[i]) ++j;
      if (j - i >= 2) multi.push_back(std::move(ids[i]));
      i = j;
    }
    ids = std::move(multi);
  } else {
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  }
  std::vector<ScoredCandidate> scored;
  PersonFeatures candidate;  // reused: no allocation per candidate once warm
  for (const auto& id : ids) {
    auto found = store_.person_into(txn, id, candidate);
    if (!found.ok()) return found.error();
    if (!*found) continue;
    double s = score(subject, candidate, sur_count, fore_count, persons, nullptr);
    if (s >= thresholds_.review - thresholds_.margin) {
      ScoredCandidate c;
      c.person_id = id;
      c.score = s;
      scored.push_back(std::move(c));
    }
  }
  std::sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) {
    return a.score != b.score ? a.score > b.score : a.person_id < b.person_id;
  });
  // Evidence for the best few only.
  for (size_t i = 0; i < scored.size() && i < 3; ++i) {
    auto p = store_.person(txn, scored[i].person_id);
    if (!p.ok()) return p.error();
    if (*p) score(subject, **p, sur_count, fore_count, persons, &scored[i].evidence);
  }
  uint32_t in_band = 0;
  for (const auto& c : scored) in_band += c.score >= thresholds_.review ? 1 : 0;
  if (scored.empty() || scored.front().score < thresholds_.review) {
    result.outcome = MatchOutcome::kNoRecord;
    result.score = scored.empty() ? 0 : scored.front().score;
    result.basis = "below-review";
  } else {
    const auto& best = scored.front();
    result.score = best.score;
    bool close = scored.size() > 1 && scored[1].score >= thresholds_.review &&
                 best.score - scored[1].score < thresholds_.margin;
    if (best.score >= thresholds_.automatic && !close) {
      result.outcome = MatchOutcome::kMatched;
      result.person_ids.push_back(best.person_id);
      result.basis = "score";
    } else {
      result.outcome = MatchOutcome::kPossible;
      result.candidate_count = in_band;
      result.basis = close ? "too-close" : "review-band";
    }
  }
  if (scored.size() > 3) scored.resize(3);
  result.top = std::move(scored);
  return result;
}

}  // namespace mash::agent
