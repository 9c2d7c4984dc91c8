#include "matcher.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <string_view>
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

constexpr double kPostOther = 4.0;        // a postcode that is not a UK one, the same on both sides

// Addresses (address.h levels). A full address is rarer than a full postcode, but the people of
// one household share it: see combine_residence and the forename guard in score().
// The street's level, then the building name and the locality added, the sum kept within
// [kAddrFloor, kAddrCap].
constexpr double kAddrExact = 8.0;        // also the same UPRN (which stands alone: 9 bits)
constexpr double kAddrNumberStreet = 7.0;
constexpr double kAddrNumberStreetSimilar = 6.0;
constexpr double kAddrStreetNumberMissing = 5.0;
constexpr double kAddrStreet = 2.0;       // a neighbour's number
constexpr double kAddrStreetSimilar = 1.5;
constexpr double kAddrPrevious = 5.0;     // the number and street of a previous address
constexpr double kAddrDiffer = -1.5;      // both give a street and they differ: people move
constexpr double kUprnSame = 9.0;
constexpr double kUprnDiffer = -3.0;
constexpr double kBuildingSame = 3.0;
constexpr double kBuildingSimilar = 2.0;
constexpr double kBuildingDiffer = -0.5;
constexpr double kLocalitySame = 2.0;
constexpr double kLocalitySimilar = 1.5;
constexpr double kLocalityDiffer = -0.5;
constexpr double kAddrCap = 11.0;
constexpr double kResidenceWithoutDob = 2.0;  // at most, when one side gives no date of birth
constexpr double kAddrFloor = -4.0;

constexpr double kGenderAgree = 0.3;
constexpr double kGenderDiffer = -4.0;
constexpr double kIdentifierDiffer = -12.0;
constexpr double kLocalIdAgree = 10.0;    // an agency scheme's value, the same on both sides
constexpr double kLocalIdDiffer = -6.0;   // a typo or a reused number are possible: not -12

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

bool uk_postcode(const std::string& normalised) { return normalised.find(' ') != std::string::npos; }

Part compare_postcode(const PersonFeatures& s, const PersonFeatures& c) {
  if (s.postcode.empty() || c.postcode.empty()) {
    if (!s.postcode.empty() && contains(c.previous_postcodes, s.postcode)) return {"previous", kPostPrevious};
    return {"missing", 0};
  }
  if (!uk_postcode(s.postcode) || !uk_postcode(c.postcode)) {
    // Not UK postcodes: their parts mean nothing here, so exact or different.
    if (s.postcode == c.postcode) return {"exact-other", kPostOther};
    if (contains(c.previous_postcodes, s.postcode) || contains(s.previous_postcodes, c.postcode)) {
      return {"previous", kPostPrevious};
    }
    return {"different", kPostDiffer};
  }
  if (s.postcode == c.postcode) return {"exact", kPostFull};
  if (contains(c.previous_postcodes, s.postcode) || contains(s.previous_postcodes, c.postcode)) {
    return {"previous", kPostPrevious};
  }
  if (sector(s.postcode) == sector(c.postcode)) return {"sector", kPostSector};
  if (district(s.postcode) == district(c.postcode)) return {"district", kPostDistrict};
  return {"different", kPostDiffer};
}

// The street's part of the address comparison.
Part street_part(addr::AddressLevel level, const addr::Address& a, const addr::Address& b) {
  switch (level) {
    case addr::AddressLevel::kExact: return {"exact", kAddrExact};
    case addr::AddressLevel::kNumberStreet: return {"number-street", kAddrNumberStreet};
    case addr::AddressLevel::kNumberStreetSimilar: return {"number-street-similar", kAddrNumberStreetSimilar};
    case addr::AddressLevel::kStreetNumberMissing: return {"street-number-missing", kAddrStreetNumberMissing};
    case addr::AddressLevel::kStreet: return {"street", kAddrStreet};
    case addr::AddressLevel::kStreetSimilar: return {"street-similar", kAddrStreetSimilar};
    case addr::AddressLevel::kLocality:
    case addr::AddressLevel::kDifferent:
      // The locality and building are weighed on their own below.
      if (!a.street.empty() && !b.street.empty()) return {"different", kAddrDiffer};
      return {"no-street", 0};
    case addr::AddressLevel::kMissing: break;
  }
  return {"missing", 0};
}

Part part_level(addr::PartLevel level, double same, double similar, double differ) {
  switch (level) {
    case addr::PartLevel::kSame: return {"exact", same};
    case addr::PartLevel::kSimilar: return {"similar", similar};
    case addr::PartLevel::kDifferent: return {"different", differ};
    case addr::PartLevel::kMissing: break;
  }
  return {"missing", 0};
}

bool same_house(addr::AddressLevel level) {
  return level == addr::AddressLevel::kExact || level == addr::AddressLevel::kNumberStreet ||
         level == addr::AddressLevel::kNumberStreetSimilar;
}

// The address as three parts (street with number, building name, locality), each with its
// weight; `capped` is what keeps their sum within [kAddrFloor, kAddrCap].
struct AddressParts {
  Part street{"missing", 0}, building{"missing", 0}, locality{"missing", 0};
  double capped = 0;
  double total() const { return street.weight + building.weight + locality.weight + capped; }
};

AddressParts compare_address(const PersonFeatures& s, const PersonFeatures& c) {
  AddressParts out;
  if (!s.uprn.empty() && !c.uprn.empty()) {
    // A UPRN names a property exactly; it says where someone lives, not who they are.
    out.street = s.uprn == c.uprn ? Part{"uprn", kUprnSame} : Part{"different-uprn", kUprnDiffer};
    return out;
  }
  const addr::AddressLevel level = addr::compare_addresses(s.address, c.address);
  if (level == addr::AddressLevel::kMissing) {
    // The subject's address is where the agency knew them before, or the other way round.
    auto previous = [&](const addr::Address& a, const std::vector<addr::Address>& list) {
      for (const auto& b : list) {
        if (same_house(addr::compare_addresses(a, b))) return true;
      }
      return false;
    };
    if ((!s.address.empty() && previous(s.address, c.previous_addresses)) ||
        (!c.address.empty() && previous(c.address, s.previous_addresses))) {
      out.street = {"previous", kAddrPrevious};
    }
    return out;
  }
  out.street = street_part(level, s.address, c.address);
  if (!same_house(level)) {
    for (const auto& b : c.previous_addresses) {
      if (same_house(addr::compare_addresses(s.address, b))) {
        out.street = {"previous", kAddrPrevious};
        return out;
      }
    }
  }
  // A line of one part with no street or number ("London") names a place, not a building: it
  // is weighed as a locality.
  auto place_only = [](const addr::Address& a) {
    return a.street.empty() && a.number.empty() && a.locality.empty();
  };
  if (place_only(s.address) || place_only(c.address)) {
    out.building = part_level(addr::compare_building(s.address, c.address), kLocalitySame, kLocalitySimilar,
                              kLocalityDiffer);
  } else {
    out.building = part_level(addr::compare_building(s.address, c.address), kBuildingSame, kBuildingSimilar,
                              kBuildingDiffer);
  }
  out.locality = part_level(addr::compare_locality(s.address, c.address), kLocalitySame, kLocalitySimilar,
                            kLocalityDiffer);
  // On another street, the same district is weak evidence (the postcode's district says it too).
  if (std::string_view(out.street.level) == "different" && out.locality.weight > 0) {
    out.locality.weight = 0.5;
  }
  const double sum = out.total();
  out.capped = std::clamp(sum, kAddrFloor, kAddrCap) - sum;
  return out;
}

// The address and the postcode say much the same thing (where the person lives): counted
// apart they would add up to more than the evidence holds. The stronger of two agreeing (or two
// disagreeing) parts counts in full and the other for a quarter; a disagreement beside an
// agreement (a typo in one of them) counts for half. Returns the postcode's share.
double postcode_share(double address, double postcode) {
  if (address == 0 || postcode == 0) return postcode;
  const bool same_sign = (address > 0) == (postcode > 0);
  if (same_sign) {
    double total = std::abs(address) >= std::abs(postcode) ? address + postcode / 4 : postcode + address / 4;
    return total - address;
  }
  return postcode > 0 ? postcode + address / 2 - address : postcode / 2;
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
  const bool names_swapped = fore.weight + sur.weight < 0 && swapped(s, c);
  if (names_swapped) {
    add("names", {"swapped", kForeExact + kSurExact - kSwapPenalty});
  } else {
    add("forename", fore);
    add("surname", sur);
  }
  if (Part middle = compare_middle(s, c); middle.weight != 0) add("middle_name", middle);
  const Part dob = compare_dob(s, c);
  add("date_of_birth", dob);
  AddressParts address = compare_address(s, c);
  Part postcode = compare_postcode(s, c);
  // People of one household share an address; what tells them apart is the forename and the
  // date of birth. When either clearly differs (a sibling, a twin, a parent with the child's
  // name), living at the same place is no evidence that this is the same person; when the date
  // of birth is not known on one side, it counts for little (a father and son of one name).
  // The agency's own identifier schemes, each judged once: agreement on any value of the scheme,
  // else disagreement if the candidate holds the scheme at all.
  std::vector<std::pair<std::string_view, bool>> local;  // scheme, agrees
  for (const auto& [scheme, value] : s.identifiers) {
    if (is_national_scheme(scheme)) continue;
    bool held = false, agrees = false;
    for (const auto& [cs, cv] : c.identifiers) {
      if (cs != scheme) continue;
      held = true;
      agrees = agrees || cv == value;
    }
    if (!held) continue;
    auto it = std::find_if(local.begin(), local.end(), [&](const auto& l) { return l.first == scheme; });
    if (it == local.end()) local.emplace_back(scheme, agrees);
    else it->second = it->second || agrees;
  }
  // One that agrees is personal: a sibling or a parent does not share it, so then the shared home
  // counts as it is; but not when the forename and the date of birth both differ (a reused or
  // mistyped number).
  const bool personal_id = std::any_of(local.begin(), local.end(), [](const auto& l) { return l.second; });
  const bool names_differ = !names_swapped && std::string_view(fore.level) == "different";
  const bool dob_differs = std::string_view(dob.level) == "different";
  const bool household = (names_differ && dob_differs) || (!personal_id && (names_differ || dob_differs));
  if (!personal_id && !household && std::string_view(dob.level) == "missing") {
    for (Part* p : {&address.street, &address.building, &address.locality, &postcode}) {
      if (p->weight > kResidenceWithoutDob) p->weight = kResidenceWithoutDob;
    }
    const double sum = address.street.weight + address.building.weight + address.locality.weight;
    address.capped = std::min(sum, kResidenceWithoutDob) - sum;
    if (postcode.weight > 0 && address.total() > 0) postcode = {postcode.level, 0};  // the cap is for both
  }
  if (household) {
    for (Part* p : {&address.street, &address.building, &address.locality, &postcode}) {
      if (p->weight > 0) *p = {"household", 0};
    }
    const double sum = address.street.weight + address.building.weight + address.locality.weight;
    address.capped = std::clamp(sum, kAddrFloor, kAddrCap) - sum;
  }
  if (std::string_view(address.street.level) != "missing") add("address", address.street);
  if (std::string_view(address.building.level) != "missing") add("building", address.building);
  if (std::string_view(address.locality.level) != "missing") add("locality", address.locality);
  if (address.capped != 0) add("address", {"capped", address.capped});
  add("postcode", {postcode.level, postcode_share(address.total(), postcode.weight)});
  if (s.gender != 0 && c.gender != 0) {
    add("gender", s.gender == c.gender ? Part{"agree", kGenderAgree} : Part{"different", kGenderDiffer});
  }
  for (const auto& [scheme, value] : s.identifiers) {
    if (!is_national_scheme(scheme)) continue;
    for (const auto& [cs, cv] : c.identifiers) {
      if (cs != scheme) continue;
      // A national identifier both hold decides in match(); here only a disagreement counts.
      if (cv == value) {
        if (ev) ev->push_back({"identifier", "exact:" + scheme, 0});
      } else {
        add("identifier", {"different", kIdentifierDiffer});
      }
    }
  }
  for (const auto& [scheme, agrees] : local) {
    // The agency's own scheme: strong evidence either way, never a decision alone.
    total += agrees ? kLocalIdAgree : kLocalIdDiffer;
    if (ev) {
      ev->push_back({"identifier", (agrees ? "exact:" : "different:") + std::string(scheme),
                     agrees ? kLocalIdAgree : kLocalIdDiffer});
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
    if (!is_national_scheme(scheme)) continue;  // the agency's own: evidence in score(), not a decision
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
  std::vector<std::string> strong;  // found by a UPRN or an identifier of the agency's own: always scored
  for (const auto& key : blocking_keys(subject)) {
    // A block bigger than the cap is too common to tell people apart ("Smith" born in 1985):
    // it is skipped whole rather than cut at an arbitrary point; the other keys still count.
    std::vector<std::string> block;
    bool truncated = false;
    if (auto st = store_.block(txn, key, thresholds_.max_block, block, &truncated); !st.ok()) return st.error();
    if (truncated) continue;
    if (key.rfind("x|", 0) == 0 || key.rfind("u|", 0) == 0) strong.insert(strong.end(), block.begin(), block.end());
    ids.insert(ids.end(), std::make_move_iterator(block.begin()), std::make_move_iterator(block.end()));
    if (ids.size() >= kCandidateCap) break;
  }
  std::sort(ids.begin(), ids.end());
  std::sort(strong.begin(), strong.end());
  // Someone who agrees on only one blocking key cannot reach the review band in practice (each
  // key stands for a name, date or address agreeing), so with many candidates only those found
  // under two or more keys are scored: the difference between a few hundred lookups and a few
  // thousand at a million persons (BENCHMARKS.md).
  if (ids.size() > thresholds_.score_all_below) {
    std::vector<std::string> multi;
    for (size_t i = 0; i < ids.size();) {
      size_t j = i;
      while (j < ids.size() && ids[j] == ids[i]) ++j;
      if (j - i >= 2 || std::binary_search(strong.begin(), strong.end(), ids[i])) multi.push_back(std::move(ids[i]));
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
