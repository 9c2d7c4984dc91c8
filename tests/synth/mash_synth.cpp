// mash-synth: a synthetic population, one noisy extract per agency and a set of referrals, with
// ground truth, for testing the agents' importer and person matching (agent/DATA.md, "Synthetic
// extracts"). Everything is fictional: names are drawn at random from generic lists, addresses
// are invented street/district combinations, and the identifiers are never real ones (below).
//
//   mash-synth --out DIR [--households N] [--seed S] [--referrals N] [--agencies LIST]
//              [--as-of YYYY-MM-DD]
//
// Output is a pure function of the arguments: the program has its own random number generator
// (xoshiro256** seeded by splitmix64) and its own distributions, uses integer weights for every
// weighted choice, and never reads the clock for data (dates are relative to --as-of, default
// 2026-11-01). Each part has its own random stream, so the population does not depend on
// --agencies or --referrals, and an agency's extract does not depend on which other agencies
// are written.
//
// THE POPULATION (population.csv)
//   Households of 1-2 adults and 1-4 children (45/35/14/6%) sharing one address. Compositions:
//   both birth parents 55% (60% of them married: one surname; otherwise the children mostly carry
//   the father's surname, sometimes the mother's or a double-barrelled "Mother-Father");
//   mother and her partner (role "carer", a step-parent) 10%, children carrying their absent
//   father's or their mother's surname and the mother sometimes the partner's; father and
//   step-mother (role "mother") 2%; two mothers or two fathers 2%; single mother 21% (children
//   often with the absent father's surname); single father 5%; kinship carer (a grandparent or
//   aunt, role "carer") 5%.
//   Ages: children 0-17 (in 3% of households the eldest is an 18-19 year old still at home),
//   siblings 10 months to 6 years apart, twins (same date of birth and surname, different
//   forenames) in 3% of households with 2+ children; adults 18-60, every child born after each
//   adult in the household was 16 (birth parents 17-42 at the eldest's birth).
//   Names: 370 surnames with Zipf-like weights (Smith, Jones, Taylor, Brown, Williams, ... Patel,
//   Khan are common, most are rare), in groups (general British/Irish, South Asian, Muslim,
//   African, East and South European, East Asian); a household's forenames mostly follow its
//   surname's group, adults more often traditional names and children modern ones; about half
//   have a middle name ("Emily Rose"). Every adult woman has another surname (maiden name, or a
//   former married one) that agencies may hold. Hard cases on purpose: O'Brien, D'Souza,
//   Da Silva, double-barrelled surnames, hyphenated forenames (Lily-Mae), non-ASCII letters
//   (Zoë, Łukasz, Wójcik), many people sharing a common name and a date of birth year.
//   Addresses: "14 Station Road, Hammersmith", "Flat 3, 27 Elm Grove, Fulham" or "Flat 12, Wren
//   House, Percy Street, Bayswater", with a postcode in the right district (tri-borough mostly)
//   and a random inward code, in every UK format (A9 9AA, A99 9AA, AA9 9AA, AA99 9AA, A9A 9AA,
//   AA9A 9AA). Each household also has a previous address.
//
// IDENTIFIERS
//   nhs  10 digits, modulus 11: check = 11 - (sum of digit i * (11 - i), i = 1..9) mod 11, where 11
//        becomes 0 and 10 is never issued (redrawn). Everyone has one. All start with 9: the
//        9xx million block is outside the ranges issued to patients in the UK (England and Wales
//        400-499 and 600-799 million, Northern Ireland 320-399 million, Scottish CHI numbers
//        start with a date), so no real person's number is used.
//   upn  DfE Unique Pupil Number, for children aged 4+: a check letter and 12 digits (local
//        authority code, establishment number, two-digit year of allocation, serial). The check
//        letter: sum of (digit at character position p) * p for p = 2..13, mod 23, indexes
//        "ABCDEFGHJKLMNPQRTUVWXYZ" (0 = A, 22 = Z; I, O and S are not used).
//   pnc  Police National Computer id for people with a police record (most adults known to
//        police, some older children, everyone on probation): YY/NNNNNNN and a check letter, YY
//        the year of the first record; check = (YY * 10^7 + NNNNNNN) mod 23 indexes
//        "ZABCDEFGHJKLMNPQRTUVWXY".
//   probation "CRN" + letter + 6 digits; housing "HSG-" + 8 digits; each agency's person_id is
//        its own scheme (POL0001234, H-0042331, EDU0001234, PRB-001234, HOU0001234), in an
//        order unrelated to the true ids.
//
// WHO EACH AGENCY KNOWS (all decided once, so an extract does not depend on the others)
//   health 97% of everyone; education 95% of children 4-17 and 60% of 18-19s; police 20% of
//   households (85% of their adults, 50% of children 10+, 30% of younger ones); probation about
//   5% of adults, 80% of them in households police know, mostly men; housing 30% of households
//   (42% of those police know), every member.
//   Identifiers held: health nhs (99%); education upn (97%) and nhs (60%); police pnc (90% of
//   those with one) and nhs (30%); probation its case reference and pnc (95%); housing its
//   housing reference (95% adults, 70% children).
//
// NOISE IN AGENCY RECORDS (each independently, per record)
//   names  6% a one-character typo in the first forename or the surname (substitute a QWERTY
//          neighbour, insert, delete, or transpose two adjacent letters; ASCII letters only);
//          6% a nickname or short form instead of the first forename (Bill for William, Liz,
//          Jack for John, Sam, Alex, Chris, Kate, Mike, Tom, Dan, Becky, Jenny, Maggie, Harry
//          for Henry, Mo for Muhammad, ...; only for names that have one), half the time without
//          the middle name; 5% the middle name dropped; 1.5% forenames and surname swapped;
//          3% of adult women under their other surname (maiden or married), with the current
//          name in other_names (and 10% of them with the other name only in other_names);
//          2% names in upper case (police: 20% surnames in upper case); 1% extra spaces;
//          30% of hyphenated names written with a space instead of the hyphen.
//   dob    2% day and month transposed (only when the day is 1-12 and differs from the month);
//          1% one digit wrong in the year or the day (still a valid date); 1% missing.
//   gender 2% empty, 0.3% "unknown".
//   address 8% moved: a different address and postcode, and half the time the old (true)
//          postcode in previous_postcodes; 3% out of date: the household's previous address;
//          otherwise 20% list the previous postcode in previous_postcodes. Postcodes are
//          sometimes written without the space (3%) or in lower case (2%).
//   ids    missing at the agency rates above; NHS numbers written "943 476 5919" (health 30%,
//          others 10%); 0.2% of NHS numbers with a wrong check digit (a data-entry error the
//          importer must report, not store).
//   duplicates 0.3% of people appear twice in one agency: another person_id, noise drawn again
//          plus one forced difference (middle name dropped, nickname, typo, another address or
//          no date of birth), their NHS number only half the time, a new probation or housing
//          reference, and 0-2 facts.
//   strangers 1% of records are people who are not in the population (empty true_id in
//          truth.csv); a fifth of them are "lookalikes" with the name of someone who is, but
//          another date of birth and address.
//
// FACTS (facts.csv): 0-6 facts per person (mostly 1-3), each a field id from the agency's
//   catalogue in policy/examples/tri-borough.toml, chosen to suit the person's age and role
//   (health visitor for under-fives, maternity for women 16-45, exclusions for pupils, adult
//   offending for adults, ...), with a short English value, a date in the last 10 years (55%
//   in the last 3 years, 30% 3-6 years ago, 15% 6-10 years ago, never before birth), a source
//   reference (CAD/2024/0123456, GP-EMIS-..., SIMS-...) and the agency's record type.
//   Restricted facts (restricted = true, record types from the agreement's [[restricted]]
//   rules): police ongoing-investigation on an adult in 2% of the households police know and
//   covert-operation in 0.2%; health sealed-record for 0.05% of people and safeguarding-adult for
//   0.3% of adults; probation victim-information for 8% of people on probation; housing
//   refuge-address for a woman in 0.5% of the households housing knows.
//
// REFERRALS (referrals.csv): whole households drawn at random until --referrals people (default
//   min(population, 2000)), typed as a MASH researcher would: 3% typo, 3% nickname, 15% middle
//   name left out, 1% day and month transposed, gender left out 5%, NHS number given 40%, UPN
//   20% (of those who have one), PNC 10% (of those who have one), address and postcode current
//   90% / previous 10%. The household column is the true household.
//
// truth.csv: agency, person_id, true_id for every agency record (strangers have no true_id).
//
// All CSV is UTF-8 with LF line ends, RFC 4180 quoting when a field holds a comma or a quote, and
// never a newline inside a value.

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "synth_tables.h"

namespace {

using namespace synth;

// ---------------------------------------------------------------------------------------------
// Random numbers: xoshiro256** seeded by splitmix64; every distribution is our own.
// ---------------------------------------------------------------------------------------------

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

class Rng {
 public:
  Rng(uint64_t seed, uint64_t stream) {
    uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ULL);
    for (auto& w : s_) w = splitmix64(x);
  }
  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, n), n > 0 (multiply-shift; the bias is below 2^-40 for our n).
  uint64_t below(uint64_t n) { return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64); }
  int range(int lo, int hi) { return lo + static_cast<int>(below(static_cast<uint64_t>(hi - lo) + 1)); }
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  bool chance(double p) { return unit() < p; }
  template <typename T, size_t N>
  const T& pick(const T (&a)[N]) { return a[below(N)]; }
  template <typename T>
  const T& pick(const std::vector<T>& v) { return v[below(v.size())]; }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

// A discrete distribution with integer weights.
class Weighted {
 public:
  Weighted() = default;
  Weighted(std::initializer_list<uint64_t> weights) {
    for (uint64_t w : weights) add(w);
  }
  void add(uint64_t w) { cum_.push_back((cum_.empty() ? 0 : cum_.back()) + w); }
  size_t pick(Rng& r) const {
    const uint64_t x = r.below(cum_.back());
    return static_cast<size_t>(std::upper_bound(cum_.begin(), cum_.end(), x) - cum_.begin());
  }
  size_t size() const { return cum_.size(); }

 private:
  std::vector<uint64_t> cum_;
};

// ---------------------------------------------------------------------------------------------
// Dates as days since 1970-01-01 (H. Hinnant's civil calendar algorithms).
// ---------------------------------------------------------------------------------------------

struct Ymd {
  int y, m, d;
};

int days_from_civil(int y, int m, int d) {
  y -= m <= 2;
  const int era = (y >= 0 ? y : y - 399) / 400;
  const int yoe = y - era * 400;
  const int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

Ymd civil(int z) {
  z += 719468;
  const int era = (z >= 0 ? z : z - 146096) / 146097;
  const int doe = z - era * 146097;
  const int yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int mp = (5 * doy + 2) / 153;
  const int d = doy - (153 * mp + 2) / 5 + 1;
  const int m = mp < 10 ? mp + 3 : mp - 9;
  return {yoe + era * 400 + (m <= 2), m, d};
}

bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }
int days_in_month(int y, int m) {
  static constexpr int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : kDays[m - 1];
}
int add_years(int day, int n) {
  Ymd c = civil(day);
  c.y += n;
  if (c.m == 2 && c.d == 29 && !leap(c.y)) c.d = 28;
  return days_from_civil(c.y, c.m, c.d);
}
int age_on(int dob, int on) {
  const Ymd b = civil(dob), t = civil(on);
  int a = t.y - b.y;
  if (t.m < b.m || (t.m == b.m && t.d < b.d)) --a;
  return a;
}

// ---------------------------------------------------------------------------------------------
// Small text helpers
// ---------------------------------------------------------------------------------------------

void put_uint(std::string& out, uint64_t v, int width = 0) {
  char buf[24];
  int n = 0;
  do {
    buf[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  for (int i = n; i < width; ++i) out += '0';
  while (n > 0) out += buf[--n];
}

void put_ymd(std::string& out, const Ymd& c) {
  put_uint(out, static_cast<uint64_t>(c.y), 4);
  out += '-';
  put_uint(out, static_cast<uint64_t>(c.m), 2);
  out += '-';
  put_uint(out, static_cast<uint64_t>(c.d), 2);
}
void put_date(std::string& out, int day) { put_ymd(out, civil(day)); }

std::vector<std::string> split_words(std::string_view s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\n')) ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\n') ++j;
    if (j > i) {
      std::string w(s.substr(i, j - i));
      std::replace(w.begin(), w.end(), '_', ' ');
      out.push_back(std::move(w));
    }
    i = j;
  }
  return out;
}

bool is_ascii_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
char to_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
char to_upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }
void upper_ascii(std::string& s) {
  for (char& c : s) c = to_upper(c);
}

// ---------------------------------------------------------------------------------------------
// Tables built from synth_tables.h
// ---------------------------------------------------------------------------------------------

constexpr uint16_t kNone = 0xFFFF;
enum Sex : uint8_t { kFemale = 0, kMale = 1 };

struct NamePool {
  std::vector<uint16_t> names;
  Weighted weights;
};

struct Tables {
  std::vector<std::string> forenames[2];
  std::vector<std::vector<std::string>> nicknames[2];  // by forename index
  NamePool forename_pools[2][kForenamePools];
  std::vector<std::string> surnames;
  std::vector<uint8_t> surname_group;
  Weighted surname_weights;  // over all surnames, by rank
  NamePool surname_pools[kGroups];
  uint16_t begum = kNone;  // a woman's name, never a family's
  std::vector<std::string> streets, street_types, blocks, block_types, saints;
  Weighted district_weights, move_weights;
};

// Zipf-like weight for rank r (0-based): 10^9 / (r + offset).
uint64_t zipf(size_t rank, size_t offset) { return 1000000000ULL / (rank + offset); }

Tables build_tables() {
  Tables t;
  for (int sex = 0; sex < 2; ++sex) {
    const char* const* lists = sex == kFemale ? kFemaleForenames : kMaleForenames;
    std::unordered_map<std::string, uint16_t> seen;
    for (int pool = 0; pool < kForenamePools; ++pool) {
      const auto words = split_words(lists[pool]);
      NamePool& np = t.forename_pools[sex][pool];
      for (size_t i = 0; i < words.size(); ++i) {
        if (seen.count(words[i])) throw std::logic_error("duplicate forename " + words[i]);
        const auto idx = static_cast<uint16_t>(t.forenames[sex].size());
        seen[words[i]] = idx;
        t.forenames[sex].push_back(words[i]);
        np.names.push_back(idx);
        np.weights.add(zipf(i, 12));
      }
    }
    t.nicknames[sex].resize(t.forenames[sex].size());
    std::string_view rest = kNicknames;
    while (!rest.empty()) {
      const size_t semi = rest.find(';');
      std::string_view item = rest.substr(0, semi);
      rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
      const size_t colon = item.find(':');
      const auto it = seen.find(std::string(item.substr(0, colon)));
      if (it == seen.end()) continue;  // a name of the other sex
      std::string_view shorts = item.substr(colon + 1);
      while (!shorts.empty()) {
        const size_t comma = shorts.find(',');
        t.nicknames[sex][it->second].emplace_back(shorts.substr(0, comma));
        shorts = comma == std::string_view::npos ? std::string_view() : shorts.substr(comma + 1);
      }
    }
  }
  {
    std::unordered_set<std::string> seen;
    const auto words = split_words(kSurnames);
    for (size_t i = 0; i < words.size(); ++i) {
      std::string name = words[i];
      Group g = kGeneral;
      if (const size_t slash = name.find('/'); slash != std::string::npos) {
        static constexpr std::string_view kTags = "smaepc";
        g = static_cast<Group>(1 + kTags.find(name[slash + 1]));
        name.resize(slash);
      }
      if (!seen.insert(name).second) throw std::logic_error("duplicate surname " + name);
      const auto idx = static_cast<uint16_t>(t.surnames.size());
      if (name == "Begum") t.begum = idx;
      t.surnames.push_back(name);
      t.surname_group.push_back(g);
      t.surname_weights.add(zipf(i, 8));
      t.surname_pools[g].names.push_back(idx);
      t.surname_pools[g].weights.add(zipf(i, 8));
    }
  }
  if (t.forenames[kFemale].size() < 150 || t.forenames[kMale].size() < 150 || t.surnames.size() < 300) {
    throw std::logic_error("name lists too short");
  }
  t.streets = split_words(kStreets);
  t.street_types = split_words(kStreetTypes);
  t.blocks = split_words(kBlocks);
  t.block_types = split_words(kBlockTypes);
  t.saints = split_words(kSaints);
  for (const District& d : kDistricts) {
    t.district_weights.add(static_cast<uint64_t>(d.weight));
    t.move_weights.add(static_cast<uint64_t>(d.move_weight));
  }
  return t;
}

// ---------------------------------------------------------------------------------------------
// Identifiers
// ---------------------------------------------------------------------------------------------

// The NHS check digit of a 9-digit prefix, or 10 (never issued).
int nhs_check(uint64_t prefix) {
  int sum = 0;
  for (int weight = 2; weight <= 10; ++weight) {
    sum += static_cast<int>(prefix % 10) * weight;
    prefix /= 10;
  }
  const int check = 11 - sum % 11;
  return check == 11 ? 0 : check;
}

// A new valid NHS number whose 9-digit prefix is in [lo, hi).
uint64_t draw_nhs(Rng& r, uint64_t lo, uint64_t hi, std::unordered_set<uint64_t>& used) {
  for (;;) {
    const uint64_t prefix = lo + r.below(hi - lo);
    const int check = nhs_check(prefix);
    if (check == 10) continue;
    const uint64_t nhs = prefix * 10 + static_cast<uint64_t>(check);
    if (used.insert(nhs).second) return nhs;
  }
}

void put_nhs(std::string& out, uint64_t nhs, bool spaced) {
  std::string digits;
  put_uint(digits, nhs, 10);
  if (!spaced) {
    out += digits;
    return;
  }
  out.append(digits, 0, 3).append(" ").append(digits, 3, 3).append(" ").append(digits, 6, 4);
}

// The same number with a wrong check digit.
uint64_t corrupt_nhs(Rng& r, uint64_t nhs) {
  const uint64_t check = nhs % 10;
  return nhs - check + (check + 1 + r.below(9)) % 10;
}

// UPN: 12 digits stored as a number (LA code, establishment, year of allocation, serial).
uint64_t draw_upn(Rng& r, int year_allocated, bool stranger, std::unordered_set<uint64_t>& used) {
  static constexpr uint64_t kOtherLas[] = {202, 203, 204, 206, 208, 209, 210, 211, 212, 304, 307, 309, 310, 313};
  static const Weighted kLaWeights = {35, 25, 30, 10};
  for (;;) {
    uint64_t la = 0;
    switch (kLaWeights.pick(r)) {
      case 0: la = 205; break;  // Hammersmith and Fulham
      case 1: la = 207; break;  // Kensington and Chelsea
      case 2: la = 213; break;  // Westminster
      default: la = r.pick(kOtherLas); break;
    }
    const uint64_t estab = r.chance(0.6) ? 2000 + r.below(900) : 4000 + r.below(700);
    const uint64_t serial = stranger ? 900 + r.below(100) : r.below(900);
    const uint64_t upn = la * 1000000000ULL + estab * 100000ULL + static_cast<uint64_t>(year_allocated % 100) * 1000ULL + serial;
    if (used.insert(upn).second) return upn;
  }
}

void put_upn(std::string& out, uint64_t upn) {
  std::string digits;
  put_uint(digits, upn, 12);
  int sum = 0;
  for (int i = 0; i < 12; ++i) sum += (digits[static_cast<size_t>(i)] - '0') * (i + 2);  // character positions 2..13
  out += "ABCDEFGHJKLMNPQRTUVWXYZ"[sum % 23];
  out += digits;
}

// PNC id stored as YY * 10^7 + N (plus one, so that 0 means none).
uint32_t draw_pnc(Rng& r, int first_year, int last_year, uint32_t serial_base, std::unordered_set<uint32_t>& used) {
  for (;;) {
    const int year = first_year >= last_year ? last_year : r.range(first_year, last_year);
    const uint32_t key = static_cast<uint32_t>(year % 100) * 10000000U + serial_base + static_cast<uint32_t>(r.below(1000000));
    if (used.insert(key).second) return key + 1;
  }
}

void put_pnc(std::string& out, uint32_t pnc) {
  const uint32_t key = pnc - 1;
  put_uint(out, key / 10000000U, 2);
  out += '/';
  put_uint(out, key % 10000000U, 7);
  out += "ZABCDEFGHJKLMNPQRTUVWXY"[key % 23];
}

// ---------------------------------------------------------------------------------------------
// Addresses
// ---------------------------------------------------------------------------------------------

struct Address {
  uint16_t street = 0, number = 0, flat = 0, block = 0;  // block: 0 = none, else index + 1
  uint8_t street_type = 0, block_type = 0, district = 0;
  char inward[3] = {'0', 'A', 'A'};
};

Address random_address(Rng& r, const Tables& t, bool moving) {
  Address a;
  a.district = static_cast<uint8_t>((moving ? t.move_weights : t.district_weights).pick(r));
  a.street = static_cast<uint16_t>(r.below(t.streets.size()));
  a.street_type = static_cast<uint8_t>(r.below(t.street_types.size()));
  const double kind = r.unit();
  if (kind < 0.25) {  // a flat in a block
    a.block = static_cast<uint16_t>(1 + r.below(t.blocks.size()));
    a.block_type = static_cast<uint8_t>(r.below(t.block_types.size()));
    a.flat = static_cast<uint16_t>(1 + r.below(80));
  } else {
    a.number = static_cast<uint16_t>(1 + std::min(r.below(220), r.below(220)));
    if (kind < 0.45) a.flat = static_cast<uint16_t>(1 + r.below(6));
  }
  a.inward[0] = static_cast<char>('0' + r.below(10));
  a.inward[1] = kInwardLetters[r.below(20)];
  a.inward[2] = kInwardLetters[r.below(20)];
  return a;
}

void put_street(std::string& out, const Tables& t, const Address& a) {
  out += t.streets[a.street];
  out += ' ';
  out += t.street_types[a.street_type];
}

void put_address(std::string& out, const Tables& t, const Address& a) {
  if (a.flat != 0) {
    out += "Flat ";
    put_uint(out, a.flat);
    out += ", ";
  }
  if (a.block != 0) {
    out += t.blocks[a.block - 1u];
    out += ' ';
    out += t.block_types[a.block_type];
    out += ", ";
  } else {
    put_uint(out, a.number);
    out += ' ';
  }
  put_street(out, t, a);
  out += ", ";
  out += kDistricts[a.district].locality;
}

void put_postcode(std::string& out, const Address& a) {
  out += kDistricts[a.district].outward;
  out += ' ';
  out.append(a.inward, 3);
}

// ---------------------------------------------------------------------------------------------
// The population
// ---------------------------------------------------------------------------------------------

enum Role : uint8_t { kChild, kMother, kFather, kCarer };
constexpr const char* kRoleNames[] = {"child", "mother", "father", "carer"};

enum AgencyId : int { kPolice, kHealth, kEducation, kProbation, kHousing, kAgencies };
constexpr uint8_t bit(int agency) { return static_cast<uint8_t>(1u << agency); }

struct Person {
  uint32_t household = 0;
  Role role = kChild;
  Sex sex = kFemale;
  uint8_t known = 0;     // bit(agency) for each agency that knows the person
  uint8_t name_pool = 0; // the forename pool the person's names came from
  uint16_t fn[2] = {kNone, kNone};  // forename and middle name
  uint16_t sn[2] = {kNone, kNone};  // surname, and the second half of a double-barrelled one
  uint16_t other = kNone;           // an adult woman's other surname (maiden or former married)
  int32_t dob = 0;
  uint32_t pnc = 0;  // 0 = none
  uint64_t nhs = 0;
  uint64_t upn = 0;  // 0 = none
  bool adult() const { return role != kChild; }
};

struct Household {
  uint32_t first = 0, count = 0;  // people[first, first + count)
  Address current, previous;
  bool police = false, housing = false;
};

struct Options {
  std::string out;
  uint64_t households = 1000;
  uint64_t seed = 1;
  int64_t referrals = -1;  // -1: default
  bool agencies[kAgencies] = {true, true, true, true, true};
  int as_of = days_from_civil(2026, 11, 1);
};

struct World {
  Tables t;
  Options o;
  std::vector<Household> households;
  std::vector<Person> people;
  std::unordered_set<uint64_t> nhs_used, upn_used;
  std::unordered_set<uint32_t> pnc_used;
};

// Random stream numbers.
enum Stream : uint64_t { kPopulationStream = 1, kCoverageStream = 2, kReferralStream = 3, kAgencyStream = 100 };

// NHS number prefixes: the population draws from [900M, 980M), agency a's strangers from their
// own 3M block above that.
constexpr uint64_t kNhsPopulationLo = 900000000ULL, kNhsPopulationHi = 980000000ULL;

std::string forenames_of(const Tables& t, const Person& p) {
  std::string s = t.forenames[p.sex][p.fn[0]];
  if (p.fn[1] != kNone) s.append(" ").append(t.forenames[p.sex][p.fn[1]]);
  return s;
}

std::string surname_text(const Tables& t, uint16_t a, uint16_t b) {
  std::string s = t.surnames[a];
  if (b != kNone) s.append("-").append(t.surnames[b]);
  return s;
}
std::string surname_of(const Tables& t, const Person& p) { return surname_text(t, p.sn[0], p.sn[1]); }

class PopulationBuilder {
 public:
  PopulationBuilder(World& w) : w_(w), t_(w.t), r_(w.o.seed, kPopulationStream) {}

  void build() {
    w_.households.resize(w_.o.households);
    w_.people.reserve(w_.o.households * 7 / 2);
    for (uint32_t h = 0; h < w_.households.size(); ++h) make_household(h);
    for (Person& p : w_.people) p.nhs = draw_nhs(r_, kNhsPopulationLo, kNhsPopulationHi, w_.nhs_used);
    for (Person& p : w_.people) {
      if (p.adult() || age(p) < 4) continue;
      const int allocated = std::min(civil(add_years(p.dob, 4 + static_cast<int>(r_.below(2)))).y, civil(w_.o.as_of).y);
      p.upn = draw_upn(r_, allocated, false, w_.upn_used);
    }
  }

 private:
  int age(const Person& p) const { return age_on(p.dob, w_.o.as_of); }
  int years_ago(int n) const { return add_years(w_.o.as_of, -n); }

  uint16_t draw_surname(Group g, double same_group) {
    for (;;) {
      uint16_t s;
      if (r_.chance(same_group)) {
        const NamePool& pool = t_.surname_pools[g];
        s = pool.names[pool.weights.pick(r_)];
      } else {
        s = static_cast<uint16_t>(t_.surname_weights.pick(r_));
      }
      if (s != t_.begum) return s;
    }
  }
  // A woman's own surname: in Muslim families sometimes Begum.
  uint16_t draw_womans_surname(Group g, double same_group) {
    if (g == kMuslim && t_.begum != kNone && r_.chance(0.2)) return t_.begum;
    return draw_surname(g, same_group);
  }

  // Forename pool for someone of group g.
  uint8_t pool_for(Group g, bool child) {
    const bool general = g == kGeneral || g == kEastAsian || r_.chance(child ? 0.2 : 0.1);
    if (!general) return static_cast<uint8_t>(2 + (g - kSouthAsian));
    return r_.chance(child ? 0.25 : 0.7) ? 0 : 1;
  }
  uint16_t draw_forename(Sex sex, uint8_t pool) {
    const NamePool& np = t_.forename_pools[sex][pool];
    return np.names[np.weights.pick(r_)];
  }
  void name(Person& p, Group g, const std::vector<uint16_t>& avoid) {
    p.name_pool = pool_for(g, !p.adult());
    for (int tries = 0; tries < 20; ++tries) {
      p.fn[0] = draw_forename(p.sex, p.name_pool);
      if (std::find(avoid.begin(), avoid.end(), p.fn[0]) == avoid.end()) break;
    }
    if (r_.chance(p.name_pool <= 1 ? 0.6 : 0.4)) {
      const uint8_t middle_pool = p.name_pool <= 1 ? static_cast<uint8_t>(r_.below(2)) : p.name_pool;
      const uint16_t m = draw_forename(p.sex, middle_pool);
      if (m != p.fn[0] && t_.forenames[p.sex][m].find('-') == std::string::npos) p.fn[1] = m;
    }
  }

  // A day uniform in [lo, hi], or triangular (peaked in the middle) when `peaked`.
  int draw_day(int lo, int hi, bool peaked) {
    if (hi <= lo) return lo;
    const auto span = static_cast<uint64_t>(hi - lo) + 1;
    if (!peaked) return lo + static_cast<int>(r_.below(span));
    return lo + static_cast<int>((r_.below(span) + r_.below(span)) / 2);
  }

  // Date of birth for an adult aged 18-60 who was at least `min_gap` years older than the eldest
  // child (born on `eldest`), centred on `centre` when given.
  int adult_dob(int eldest, int min_gap, int max_gap, int centre) {
    const int lo = std::max(years_ago(61) + 1, add_years(eldest, -max_gap));
    const int hi = std::min(years_ago(18), add_years(eldest, -min_gap) - 1);
    if (centre == 0) return draw_day(lo, hi, true);
    return std::clamp(centre, lo, hi);
  }
  // A partner's date of birth near `other`'s (typically 2 years older for a man).
  int partner_dob(int other, int eldest, int min_gap, bool older) {
    const int shift = static_cast<int>(r_.below(4000)) - (older ? 2700 : 1300);  // days
    const int lo = std::max(years_ago(61) + 1, add_years(eldest, -50));
    const int hi = std::min(years_ago(18), add_years(eldest, -min_gap) - 1);
    return std::clamp(other - shift, lo, std::max(lo, hi));
  }

  Person& add_adult(uint32_t h, Role role, Sex sex, int dob) {
    Person& p = w_.people.emplace_back();
    p.household = h;
    p.role = role;
    p.sex = sex;
    p.dob = dob;
    return p;
  }

  void make_household(uint32_t h) {
    Household& hh = w_.households[h];
    hh.first = static_cast<uint32_t>(w_.people.size());
    hh.current = random_address(r_, t_, false);
    hh.previous = random_address(r_, t_, true);

    static const Weighted kChildren = {45, 35, 14, 6};
    int nchild = 1 + static_cast<int>(kChildren.pick(r_));
    const bool young_adult = r_.chance(0.03);
    const bool twins = nchild >= 2 && r_.chance(0.03);

    // Children's dates of birth, eldest first.
    std::vector<int> dobs;
    for (int tries = 0;; ++tries) {
      if (tries == 40) {
        tries = 0;
        nchild = std::max(1, nchild - 1);
      }
      dobs.clear();
      const int lo = young_adult ? years_ago(20) + 1 : years_ago(18) + 1;
      const int hi = young_adult ? years_ago(18) : w_.o.as_of;
      dobs.push_back(draw_day(lo, hi, false));
      const int twin_at = twins ? static_cast<int>(r_.below(static_cast<uint64_t>(nchild - 1))) : -1;
      for (int k = 1; k < nchild; ++k) {
        const int gap = k - 1 == twin_at ? 0 : 300 + static_cast<int>(r_.below(900) + r_.below(900));
        dobs.push_back(dobs.back() + gap);
      }
      if (dobs.back() <= w_.o.as_of) break;
    }
    const int eldest = dobs.front();

    const uint16_t family = draw_surname(kGeneral, 0.0);  // Zipf over all surnames
    const Group g = static_cast<Group>(t_.surname_group[family]);

    // Adults, and the children's surname.
    static const Weighted kKinds = {550, 100, 20, 12, 8, 210, 50, 50};
    enum { kCouple, kStepFather, kStepMother, kTwoMothers, kTwoFathers, kSingleMother, kSingleFather, kKinship };
    const size_t kind = kKinds.pick(r_);
    uint16_t child_sn[2] = {family, kNone};
    auto double_barrel = [&](uint16_t a, uint16_t b) {
      if (a == b || t_.surnames[a].find('-') != std::string::npos || t_.surnames[b].find('-') != std::string::npos ||
          t_.surnames[a].find(' ') != std::string::npos || t_.surnames[b].find(' ') != std::string::npos) {
        child_sn[0] = a;
        child_sn[1] = kNone;
      } else {
        child_sn[0] = a;
        child_sn[1] = b;
      }
    };
    // Group of a person's own (birth) surname, for their forenames.
    auto group_of = [&](uint16_t s) { return s == t_.begum ? kMuslim : static_cast<Group>(t_.surname_group[s]); };
    std::vector<std::pair<size_t, Group>> adults;  // index into people, forename group

    switch (kind) {
      case kCouple: {
        const int mum_dob = adult_dob(eldest, 17, 42, 0);
        add_adult(h, kMother, kFemale, mum_dob);
        const size_t mum_i = w_.people.size() - 1;
        const bool married = r_.chance(0.6);
        const uint16_t maiden = draw_womans_surname(g, 0.8);
        w_.people[mum_i].sn[0] = married ? family : maiden;
        w_.people[mum_i].other = married ? maiden : draw_surname(g, 0.8);
        adults.push_back({mum_i, group_of(maiden)});
        Person& dad = add_adult(h, kFather, kMale, partner_dob(mum_dob, eldest, 17, true));
        dad.sn[0] = family;
        adults.push_back({w_.people.size() - 1, g});
        if (!married) {
          const double c = r_.unit();
          if (c < 0.15) child_sn[0] = maiden;
          else if (c < 0.25) double_barrel(maiden, family);
        }
        break;
      }
      case kStepFather: {
        const int mum_dob = adult_dob(eldest, 17, 42, 0);
        const uint16_t ex = draw_surname(g, 0.7);
        const uint16_t partner = draw_surname(g, 0.7);
        Person& mum = add_adult(h, kMother, kFemale, mum_dob);
        const double c = r_.unit();
        if (c < 0.35) {
          mum.sn[0] = partner;  // married her partner
          mum.other = family;
        } else if (c < 0.6) {
          mum.sn[0] = ex;  // kept her former married name
          mum.other = family;
        } else {
          mum.sn[0] = family;
          mum.other = ex;
        }
        adults.push_back({w_.people.size() - 1, g});
        Person& step = add_adult(h, kCarer, kMale, partner_dob(mum_dob, eldest, 16, true));
        step.sn[0] = partner;
        adults.push_back({w_.people.size() - 1, group_of(partner)});
        child_sn[0] = r_.chance(0.55) ? ex : family;
        break;
      }
      case kStepMother:
      case kSingleFather:
      case kTwoFathers: {
        Person& dad = add_adult(h, kFather, kMale, adult_dob(eldest, 17, 45, 0));
        dad.sn[0] = family;
        const int dad_dob = dad.dob;
        adults.push_back({w_.people.size() - 1, g});
        if (kind == kStepMother) {
          Person& step = add_adult(h, kMother, kFemale, partner_dob(dad_dob, eldest, 16, false));
          const uint16_t maiden = draw_womans_surname(g, 0.7);
          const bool married = r_.chance(0.5);
          step.sn[0] = married ? family : maiden;
          step.other = married ? maiden : draw_surname(g, 0.7);
          adults.push_back({w_.people.size() - 1, group_of(maiden)});
        } else if (kind == kTwoFathers) {
          Person& other = add_adult(h, kFather, kMale, partner_dob(dad_dob, eldest, 16, false));
          other.sn[0] = r_.chance(0.4) ? family : draw_surname(g, 0.6);
          adults.push_back({w_.people.size() - 1, group_of(other.sn[0])});
        } else if (r_.chance(0.15)) {
          child_sn[0] = draw_surname(g, 0.8);  // the children carry their mother's name
        }
        break;
      }
      case kTwoMothers: {
        const int mum_dob = adult_dob(eldest, 17, 42, 0);
        Person& mum = add_adult(h, kMother, kFemale, mum_dob);
        mum.sn[0] = family;
        mum.other = draw_surname(g, 0.7);
        adults.push_back({w_.people.size() - 1, g});
        Person& other = add_adult(h, kMother, kFemale, partner_dob(mum_dob, eldest, 16, false));
        const uint16_t maiden = draw_womans_surname(g, 0.6);
        const bool married = r_.chance(0.4);
        other.sn[0] = married ? family : maiden;
        other.other = married ? maiden : draw_surname(g, 0.6);
        adults.push_back({w_.people.size() - 1, group_of(maiden)});
        if (!married && r_.chance(0.2)) double_barrel(family, maiden);
        break;
      }
      case kSingleMother: {
        Person& mum = add_adult(h, kMother, kFemale, adult_dob(eldest, 17, 42, 0));
        const uint16_t ex = draw_surname(g, 0.7);
        if (r_.chance(0.25)) {
          mum.sn[0] = ex;  // divorced, kept her married name
          mum.other = family;
          child_sn[0] = ex;
        } else {
          mum.sn[0] = family;
          mum.other = r_.chance(0.3) ? ex : draw_surname(g, 0.7);
          const double c = r_.unit();
          if (c < 0.45) child_sn[0] = ex;
          else if (c < 0.55) double_barrel(family, ex);
        }
        adults.push_back({w_.people.size() - 1, g});
        break;
      }
      default: {  // kinship carer: a grandparent, aunt or uncle
        const Sex sex = r_.chance(0.75) ? kFemale : kMale;
        const int lo = years_ago(61) + 1, hi = std::min(years_ago(25), add_years(eldest, -17) - 1);
        const int dob = std::min(draw_day(lo, std::max(lo, hi), false), draw_day(lo, std::max(lo, hi), false));
        Person& carer = add_adult(h, kCarer, sex, dob);
        carer.sn[0] = family;
        if (sex == kFemale) carer.other = draw_surname(g, 0.7);
        adults.push_back({w_.people.size() - 1, g});
        if (r_.chance(0.5)) child_sn[0] = draw_surname(g, 0.7);
        break;
      }
    }
    for (auto& [i, group] : adults) name(w_.people[i], group, {});

    std::vector<uint16_t> taken;
    for (int k = 0; k < nchild; ++k) {
      Person& c = w_.people.emplace_back();
      c.household = h;
      c.role = kChild;
      c.sex = r_.chance(0.5) ? kFemale : kMale;
      c.dob = dobs[static_cast<size_t>(k)];
      c.sn[0] = child_sn[0];
      c.sn[1] = child_sn[1];
      name(c, g, taken);
      taken.push_back(c.fn[0]);
    }
    hh.count = static_cast<uint32_t>(w_.people.size()) - hh.first;
  }

  World& w_;
  const Tables& t_;
  Rng r_;
};

// Who each agency knows, and PNC ids for people with a police record.
void decide_coverage(World& w) {
  Rng r(w.o.seed, kCoverageStream);
  const int this_year = civil(w.o.as_of).y;
  for (Household& hh : w.households) {
    hh.police = r.chance(0.20);
    hh.housing = r.chance(hh.police ? 0.42 : 0.27);
    bool any_police = false;
    for (uint32_t i = hh.first; i < hh.first + hh.count; ++i) {
      Person& p = w.people[i];
      const int age = age_on(p.dob, w.o.as_of);
      if (r.chance(0.97)) p.known |= bit(kHealth);
      if (!p.adult() && ((age >= 4 && age <= 17 && r.chance(0.95)) || (age >= 18 && r.chance(0.6)))) {
        p.known |= bit(kEducation);
      }
      if (hh.police && r.chance(p.adult() ? 0.85 : age >= 10 ? 0.5 : 0.3)) {
        p.known |= bit(kPolice);
        any_police = true;
      }
      if (hh.housing) p.known |= bit(kHousing);
    }
    if (hh.police && !any_police) w.people[hh.first].known |= bit(kPolice);
    for (uint32_t i = hh.first; i < hh.first + hh.count; ++i) {
      Person& p = w.people[i];
      const bool police = p.known & bit(kPolice);
      const bool male = p.sex == kMale;
      if (p.adult() && r.chance(police ? (male ? 0.34 : 0.10) : (male ? 0.02 : 0.004))) p.known |= bit(kProbation);
      const int age = age_on(p.dob, w.o.as_of);
      const bool record = (p.known & bit(kProbation)) ||
                          (police && (p.adult() ? r.chance(male ? 0.7 : 0.4) : age >= 10 && r.chance(0.15)));
      if (record) {
        const int first = std::max(civil(p.dob).y + 10, this_year - 40);
        p.pnc = draw_pnc(r, first, this_year, static_cast<uint32_t>(r.below(8)) * 1000000U, w.pnc_used);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// CSV output: large buffers, RFC 4180 quoting.
// ---------------------------------------------------------------------------------------------

class CsvFile {
 public:
  CsvFile(const std::filesystem::path& path, std::string_view header) : path_(path.string()) {
    f_ = std::fopen(path_.c_str(), "wb");
    if (f_ == nullptr) throw std::runtime_error(path_ + ": " + std::strerror(errno));
    buf_.reserve(kFlushAt + 65536);
    buf_.append(header).append("\n");
  }
  CsvFile(const CsvFile&) = delete;
  CsvFile& operator=(const CsvFile&) = delete;
  ~CsvFile() {
    if (f_ != nullptr) std::fclose(f_);
  }

  void field(std::string_view v) {
    if (!first_) buf_ += ',';
    first_ = false;
    if (v.find_first_of(",\"\r\n") == std::string_view::npos) {
      buf_.append(v);
      return;
    }
    buf_ += '"';
    for (char c : v) {
      if (c == '\r' || c == '\n') c = ' ';  // never a line break inside a value
      if (c == '"') buf_ += '"';
      buf_ += c;
    }
    buf_ += '"';
  }
  void end_row() {
    buf_ += '\n';
    first_ = true;
    ++rows_;
    if (buf_.size() >= kFlushAt) flush();
  }
  uint64_t rows() const { return rows_; }
  void close() {
    flush();
    const bool bad = std::ferror(f_) != 0;
    const int rc = std::fclose(f_);
    f_ = nullptr;
    if (bad || rc != 0) throw std::runtime_error(path_ + ": write failed: " + std::strerror(errno));
  }

 private:
  static constexpr size_t kFlushAt = 4 << 20;
  void flush() {
    if (!buf_.empty() && std::fwrite(buf_.data(), 1, buf_.size(), f_) != buf_.size()) {
      throw std::runtime_error(path_ + ": write failed: " + std::strerror(errno));
    }
    buf_.clear();
  }
  std::string path_;
  FILE* f_ = nullptr;
  std::string buf_;
  bool first_ = true;
  uint64_t rows_ = 0;
};

void put_true_id(std::string& out, uint32_t person) {
  out += 'P';
  put_uint(out, person + 1u, 7);
}
void put_household_id(std::string& out, uint32_t household) {
  out += "HH";
  put_uint(out, household + 1u, 6);
}

void write_population(const World& w) {
  CsvFile f(std::filesystem::path(w.o.out) / "population.csv",
            "true_id,household,role,forenames,surname,date_of_birth,gender,address,postcode,nhs,upn,pnc");
  std::string s;
  for (uint32_t i = 0; i < w.people.size(); ++i) {
    const Person& p = w.people[i];
    const Household& hh = w.households[p.household];
    s.clear();
    put_true_id(s, i);
    f.field(s);
    s.clear();
    put_household_id(s, p.household);
    f.field(s);
    f.field(kRoleNames[p.role]);
    f.field(forenames_of(w.t, p));
    f.field(surname_of(w.t, p));
    s.clear();
    put_date(s, p.dob);
    f.field(s);
    f.field(p.sex == kFemale ? "female" : "male");
    s.clear();
    put_address(s, w.t, hh.current);
    f.field(s);
    s.clear();
    put_postcode(s, hh.current);
    f.field(s);
    s.clear();
    put_nhs(s, p.nhs, false);
    f.field(s);
    s.clear();
    if (p.upn != 0) put_upn(s, p.upn);
    f.field(s);
    s.clear();
    if (p.pnc != 0) put_pnc(s, p.pnc);
    f.field(s);
    f.end_row();
  }
  f.close();
}

// ---------------------------------------------------------------------------------------------
// Noise
// ---------------------------------------------------------------------------------------------

// Positions of ASCII letters in s[from, to).
std::vector<size_t> letter_positions(const std::string& s, size_t from, size_t to) {
  std::vector<size_t> out;
  for (size_t i = from; i < to && i < s.size(); ++i) {
    if (is_ascii_letter(s[i])) out.push_back(i);
  }
  return out;
}

// One typing error in the first word of s (or anywhere when whole_string): substitute a QWERTY
// neighbour, insert a letter, delete one, or transpose two adjacent ones. Capitalisation of the
// word's first letter is kept. Returns false if s was left unchanged.
bool typo(Rng& r, std::string& s, bool whole_string) {
  const size_t end = whole_string ? s.size() : std::min(s.size(), s.find(' '));
  const auto pos = letter_positions(s, 0, end);
  if (pos.size() < 3) return false;
  const size_t p = pos[r.below(pos.size())];
  const bool capital = s[p] >= 'A' && s[p] <= 'Z';
  const char* neighbours = kKeyNeighbours[to_lower(s[p]) - 'a'];
  const char neighbour = neighbours[r.below(std::strlen(neighbours))];
  switch (r.below(4)) {
    case 0:  // substitute
      s[p] = capital ? to_upper(neighbour) : neighbour;
      return true;
    case 1:  // insert after p: a doubled letter or a neighbour
      s.insert(p + 1, 1, r.chance(0.5) ? to_lower(s[p]) : neighbour);
      return true;
    case 2: {  // delete
      if (pos.size() < 4) return false;
      const bool first_of_word = p == 0 || s[p - 1] == ' ' || s[p - 1] == '-';
      s.erase(p, 1);
      if (first_of_word && capital && p < s.size()) s[p] = to_upper(s[p]);
      return true;
    }
    default: {  // transpose with the next letter
      if (p + 1 >= end || !is_ascii_letter(s[p + 1]) || to_lower(s[p]) == to_lower(s[p + 1])) return false;
      std::swap(s[p], s[p + 1]);
      if (capital) {
        s[p] = to_upper(s[p]);
        s[p + 1] = to_lower(s[p + 1]);
      }
      return true;
    }
  }
}

// Replaces the first forename by a nickname (and half the time drops the middle name).
bool nickname(Rng& r, const Tables& t, const Person& p, std::string& forenames) {
  const auto& nicks = t.nicknames[p.sex][p.fn[0]];
  if (nicks.empty()) return false;
  std::string rest;
  if (const size_t space = forenames.find(' '); space != std::string::npos && r.chance(0.5)) rest = forenames.substr(space);
  forenames = r.pick(nicks) + rest;
  return true;
}

bool first_only(std::string& forenames) {
  const size_t space = forenames.find(' ');
  if (space == std::string::npos) return false;
  forenames.resize(space);
  return true;
}

void extra_spaces(Rng& r, std::string& forenames, std::string& surname) {
  switch (r.below(3)) {
    case 0:
      if (const size_t space = forenames.find(' '); space != std::string::npos) {
        forenames.insert(space, " ");
        break;
      }
      [[fallthrough]];
    case 1:
      surname += ' ';
      break;
    default:
      forenames.insert(0, " ");
      break;
  }
}

// A date of birth as typed: 0 none, 1 day/month swapped, 2 a digit of the year or day wrong, or
// -1 when the date is left out. Returns the day number to print (or INT32_MIN for none).
constexpr int kNoDate = INT32_MIN;

int swap_day_month(int dob) {
  const Ymd c = civil(dob);
  if (c.d > 12 || c.d == c.m) return dob;
  return days_from_civil(c.y, c.d, c.m);
}

int wrong_digit(Rng& r, int dob, int as_of) {
  Ymd c = civil(dob);
  for (int tries = 0; tries < 10; ++tries) {
    Ymd n = c;
    if (r.chance(0.5)) {  // the last or second-last digit of the year
      const int place = r.chance(0.7) ? 1 : 10;
      const int digit = (n.y / place) % 10;
      const int other = static_cast<int>((static_cast<uint64_t>(digit) + 1 + r.below(9)) % 10);
      n.y += (other - digit) * place;
    } else {  // a digit of the day
      const bool tens = r.chance(0.4);
      const int digit = tens ? n.d / 10 : n.d % 10;
      const int other = static_cast<int>((static_cast<uint64_t>(digit) + 1 + r.below(tens ? 3 : 9)) % (tens ? 4 : 10));
      n.d = tens ? other * 10 + n.d % 10 : (n.d / 10) * 10 + other;
    }
    if (n.d < 1 || n.d > days_in_month(n.y, n.m)) continue;
    const int day = days_from_civil(n.y, n.m, n.d);
    if (day != dob && day <= as_of) return day;
  }
  return dob;
}

// Writes a postcode as typed: sometimes without the space, sometimes in lower case.
void noisy_postcode(Rng& r, const Address& a, std::string& out) {
  put_postcode(out, a);
  const double c = r.unit();
  if (c < 0.03) {
    out.erase(std::remove(out.begin(), out.end(), ' '), out.end());
  } else if (c < 0.05) {
    for (char& ch : out) ch = to_lower(ch);
  }
}

// ---------------------------------------------------------------------------------------------
// Facts
// ---------------------------------------------------------------------------------------------

// Who a field suits.
enum Who : uint16_t {
  kAdult = 1 << 0,
  kUnder5 = 1 << 1,
  kPupil = 1 << 2,     // child 5+
  kChild8 = 1 << 3,    // child 8+
  kChild10 = 1 << 4,   // child 10+
  kChild13 = 1 << 5,   // child 13+
  kMaternal = 1 << 6,  // woman 16-45
  kAnyChild = 1 << 7,
  kAnyone = 0xFF,
};

enum FieldId : uint8_t {
  kPolKnown, kPolIncidents, kPolDomesticAbuse, kPolMissing, kPolMerlin, kPolOffending, kPolCourtOrders,
  kPolMarkers, kPolIntel,
  kHeaGp, kHeaHealthVisitor, kHeaSchoolNurse, kHeaWasNotBrought, kHeaAe, kHeaMaternity, kHeaCamhs,
  kHeaParentalMh, kHeaSubstance, kHeaSexualHealth,
  kEduOnRoll, kEduAttendance, kEduExclusions, kEduSen, kEduWellbeing, kEduMissing, kEduAttainment,
  kEduPreviousSchools,
  kProSupervision, kProOffence, kProRisk, kProMappa, kProDapp, kProLicence, kProSupport,
  kHouTenancy, kHouTemporary, kHouArrears, kHouAsb, kHouOvercrowding, kHouComposition, kHouPrevious,
};

struct FieldSpec {
  FieldId f;
  int agency;
  const char* id;           // from the agreement's [[fields]] catalogue
  const char* record_type;  // the agency's own record type
  const char* source;       // source reference prefix
  uint8_t style;            // source: 0 PREFIX/YYYY/NNNNNNN, 1 PREFIX-NNNNNNN, 2 PREFIX only
  uint16_t who;
  uint8_t weight;
  bool once;        // at most one per person
  uint8_t min_age;  // no fact dated before the person was this old
};

constexpr FieldSpec kFields[] = {
    {kPolKnown, kPolice, "police.known", "nominal", "NOM", 1, kAnyone, 8, true, 0},
    {kPolIncidents, kPolice, "police.incidents-summary", "incident", "CAD", 0, kAnyone, 16, false, 0},
    {kPolDomesticAbuse, kPolice, "police.domestic-abuse", "crime", "CRIS", 0, kAdult | kChild8, 18, false, 0},
    {kPolMissing, kPolice, "police.missing-episodes", "missing-person", "COMPACT", 0, kChild10, 14, false, 10},
    {kPolMerlin, kPolice, "police.merlin-reports", "merlin", "MERLIN", 0, kAnyChild, 16, false, 0},
    {kPolOffending, kPolice, "police.adult-offending", "custody", "CUSTODY", 0, kAdult, 16, false, 17},
    {kPolCourtOrders, kPolice, "police.court-orders", "court-order", "COURT", 0, kAdult, 5, false, 18},
    {kPolMarkers, kPolice, "police.warning-markers", "pnc-marker", "PNC", 2, kAdult, 5, true, 18},
    {kPolIntel, kPolice, "police.intelligence-summary", "intelligence", "INT", 0, kAdult, 4, false, 18},

    {kHeaGp, kHealth, "health.gp-registered", "gp-record", "GP-EMIS", 1, kAnyone, 10, true, 0},
    {kHeaHealthVisitor, kHealth, "health.health-visitor", "health-visiting", "HV-RIO", 1, kUnder5, 30, false, 0},
    {kHeaSchoolNurse, kHealth, "health.school-nurse", "school-nursing", "SN-RIO", 1, kPupil, 12, false, 5},
    {kHeaWasNotBrought, kHealth, "health.was-not-brought", "appointments", "GP-EMIS", 1, kAnyChild, 12, true, 0},
    {kHeaAe, kHealth, "health.ae-attendances", "ae-attendance", "ED-CERNER", 1, kAnyChild, 16, false, 0},
    {kHeaMaternity, kHealth, "health.maternity", "maternity", "MAT-CERNER", 1, kMaternal, 14, false, 16},
    {kHeaCamhs, kHealth, "health.camhs", "camhs", "CAMHS-RIO", 1, kChild8, 8, false, 8},
    {kHeaParentalMh, kHealth, "health.parental-mental-health", "mental-health", "CMHT-RIO", 1, kAdult, 12, false, 18},
    {kHeaSubstance, kHealth, "health.substance-misuse", "substance-misuse", "DAAS", 1, kAdult | kChild13, 6, false, 13},
    {kHeaSexualHealth, kHealth, "health.sexual-health", "sexual-health", "SHS", 1, kChild13, 5, false, 13},

    {kEduOnRoll, kEducation, "education.school-on-roll", "census", "SIMS", 1, kAnyone, 10, true, 4},
    {kEduAttendance, kEducation, "education.attendance", "attendance", "SIMS-ATT", 1, kAnyone, 30, true, 4},
    {kEduExclusions, kEducation, "education.exclusions", "exclusion", "SIMS-EXC", 1, kChild8, 8, false, 6},
    {kEduSen, kEducation, "education.sen", "sen", "SIMS-SEN", 1, kAnyone, 14, true, 4},
    {kEduWellbeing, kEducation, "education.wellbeing-concerns", "cp-file", "CPOMS", 1, kAnyone, 12, false, 4},
    {kEduMissing, kEducation, "education.missing-education", "cme", "CME", 0, kAnyone, 2, true, 5},
    {kEduAttainment, kEducation, "education.attainment", "assessment", "SIMS-ASM", 1, kPupil, 10, true, 5},
    {kEduPreviousSchools, kEducation, "education.previous-schools", "admissions", "ADM", 0, kPupil, 6, false, 5},

    {kProSupervision, kProbation, "probation.under-supervision", "case", "NDELIUS", 1, kAnyone, 10, true, 18},
    {kProOffence, kProbation, "probation.offence-category", "case", "NDELIUS", 1, kAnyone, 20, true, 18},
    {kProRisk, kProbation, "probation.risk-to-children", "oasys", "OASYS", 1, kAnyone, 16, true, 18},
    {kProMappa, kProbation, "probation.mappa-level", "mappa", "MAPPA", 0, kAnyone, 8, true, 18},
    {kProDapp, kProbation, "probation.da-perpetrator-programme", "intervention", "NDELIUS", 1, kAnyone, 8, true, 18},
    {kProLicence, kProbation, "probation.licence-conditions", "licence", "NDELIUS", 1, kAnyone, 10, false, 18},
    {kProSupport, kProbation, "probation.support-provided", "supervision", "NDELIUS", 1, kAnyone, 10, false, 18},

    {kHouTenancy, kHousing, "housing.tenancy-type", "tenancy", "NEC-HSG", 1, kAnyone, 10, true, 0},
    {kHouTemporary, kHousing, "housing.temporary-accommodation", "ta-placement", "TA", 0, kAnyone, 8, true, 0},
    {kHouArrears, kHousing, "housing.arrears-eviction-risk", "rent-account", "NEC-RENT", 1, kAdult, 14, true, 18},
    {kHouAsb, kHousing, "housing.anti-social-behaviour", "asb-case", "ASB", 0, kAnyone, 10, false, 0},
    {kHouOvercrowding, kHousing, "housing.overcrowding", "overcrowding-assessment", "NEC-HSG", 1, kAnyone, 8, true, 0},
    {kHouComposition, kHousing, "housing.household-composition", "housing-register", "NEC-REG", 1, kAdult, 10, true, 18},
    {kHouPrevious, kHousing, "housing.previous-addresses", "address-history", "NEC-HSG", 1, kAnyone, 8, false, 0},
};
constexpr size_t kFieldCount = sizeof(kFields) / sizeof(kFields[0]);

const FieldSpec& spec(FieldId f) { return kFields[f]; }

// The field an agency usually records first for everyone it knows.
constexpr FieldId kFirstField[kAgencies] = {kPolKnown, kHeaGp, kEduOnRoll, kProSupervision, kHouTenancy};
constexpr double kFirstFieldChance[kAgencies] = {0.3, 0.85, 0.9, 1.0, 0.9};

uint16_t who_of(const Person& p, int age) {
  uint16_t w = 0;
  if (p.adult()) {
    w |= kAdult;
    if (p.sex == kFemale && age <= 45) w |= kMaternal;
  } else {
    w |= kAnyChild;
    if (age < 5) w |= kUnder5;
    if (age >= 5) w |= kPupil;
    if (age >= 8) w |= kChild8;
    if (age >= 10) w |= kChild10;
    if (age >= 13) w |= kChild13;
    if (p.sex == kFemale && age >= 16) w |= kMaternal;
  }
  return w;
}

// What a fact generator knows about the person.
struct FactCtx {
  const Tables* t;
  const Person* p;
  const Person* members;  // the household (for household composition)
  uint32_t nmembers;
  const Address* current;
  const Address* previous;
  int age;
  int as_of;
};

// The start of the school year (1 September) on or before `day`.
int school_year_start(int day) {
  const Ymd c = civil(day);
  return days_from_civil(c.m >= 9 ? c.y : c.y - 1, 9, 1);
}

void school_name(Rng& r, const Tables& t, const Address& a, bool secondary, std::string& out) {
  switch (r.below(4)) {
    case 0:
      out.append(t.streets[a.street]).append(secondary ? " High School" : " Primary School");
      break;
    case 1:
      out.append("St ").append(r.pick(t.saints)).append(secondary ? " CE High School" : " CE Primary School");
      break;
    case 2:
      out.append(kDistricts[a.district].locality).append(secondary ? " Academy" : " Primary Academy");
      break;
    default:
      out.append(t.streets[r.below(t.streets.size())]).append(secondary ? " Community College" : " Infant and Junior School");
      break;
  }
}

void practitioner(Rng& r, const Tables& t, std::string& out) {
  const int sex = static_cast<int>(r.below(2));
  const auto& pool = t.forename_pools[sex][r.below(kForenamePools)];
  out.append(t.forenames[sex][pool.names[r.below(pool.names.size())]]).append(" ");
  out.append(t.surnames[t.surname_weights.pick(r)]);
}

void money(Rng& r, int lo, int hi, std::string& out) {
  const int v = r.range(lo, hi) * 10;
  out += "\xC2\xA3";  // £
  if (v >= 1000) {
    put_uint(out, static_cast<uint64_t>(v / 1000));
    out += ',';
    put_uint(out, static_cast<uint64_t>(v % 1000), 3);
  } else {
    put_uint(out, static_cast<uint64_t>(v));
  }
}

// A short, plausible English value for a fact dated `date`.
void fact_value(Rng& r, FieldId f, const FactCtx& c, int date, std::string& out) {
  const Tables& t = *c.t;
  switch (f) {
    case kPolKnown: {
      static constexpr const char* k[] = {"Yes: known as a victim", "Yes: known as a witness", "Yes: known as a suspect",
                                          "Yes: person of concern", "Yes: subject of a Merlin report", "Yes: known as an informant's associate"};
      out += c.p->adult() ? r.pick(k) : "Yes: subject of a Merlin report";
      break;
    }
    case kPolIncidents: {
      static constexpr const char* k[] = {
          "Noise complaint at the address; words of advice given",
          "Verbal argument between adults; no offences disclosed",
          "Concern for welfare call from a neighbour; all well on attendance",
          "Burglary reported at the address; no suspects",
          "Neighbour dispute; officers attended, no further action",
          "Suspicious persons reported outside the address",
          "Child found alone in the flat at night; mother returned after 2 hours",
          "Criminal damage to the front door reported",
          "Adults heard shouting, child crying; officers attended, no offences disclosed",
          "Anti-social behaviour in the stairwell; youths dispersed"};
      out += r.pick(k);
      break;
    }
    case kPolDomesticAbuse: {
      static constexpr const char* k[] = {"Verbal altercation between partners", "Assault by partner, minor injury",
                                          "Ex-partner attended the address in breach of bail", "Threats made by text message",
                                          "Criminal damage by partner during an argument", "Partner pushed victim; no injury"};
      static constexpr const char* risk[] = {"standard", "standard", "medium", "medium", "high"};
      const char* level = r.pick(risk);
      out.append(r.pick(k)).append("; children present: ").append(r.chance(0.45) ? "yes" : "no");
      out.append("; DASH: ").append(level).append("; MARAC: ");
      out += std::strcmp(level, "high") == 0 ? "referred" : "no";
      break;
    }
    case kPolMissing: {
      static constexpr const char* where[] = {"at a friend's address", "at a shopping centre in W12", "in a park nearby",
                                              "at an address in Croydon", "at Victoria station", "at a relative's home",
                                              "with older males in a car in Harlesden"};
      out += "Missing for ";
      put_uint(out, static_cast<uint64_t>(r.range(3, 70)));
      out.append(" hours, found ").append(r.pick(where));
      out += r.chance(0.6) ? "; return home interview offered" : "; return home interview declined";
      break;
    }
    case kPolMerlin: {
      static constexpr const char* k[] = {"Merlin: child present at a domestic incident",
                                          "Merlin: child found with older males late at night",
                                          "Merlin: child stopped and searched, nothing found",
                                          "Merlin: child reported missing from home",
                                          "Merlin: concerns about home conditions",
                                          "Merlin: child involved in a fight outside school",
                                          "Merlin: child left unsupervised"};
      out += r.pick(k);
      break;
    }
    case kPolOffending: {
      static constexpr const char* k[] = {"Arrested for common assault; no further action",
                                          "Convicted of assault occasioning actual bodily harm; community order",
                                          "Caution for possession of cannabis",
                                          "Charged with possession of an offensive weapon; awaiting trial",
                                          "Convicted of drink driving; disqualified for 18 months",
                                          "Arrested for harassment of a former partner; released on bail",
                                          "Convicted of theft from a shop; fine",
                                          "Arrested on suspicion of supplying Class A drugs; released under investigation",
                                          "Convicted of battery against a partner; suspended sentence"};
      out += r.pick(k);
      break;
    }
    case kPolCourtOrders: {
      switch (r.below(5)) {
        case 0:
          out += "Non-molestation order in force until ";
          put_date(out, date + 365);
          break;
        case 1:
          out += "Bail conditions: not to contact the named partner or attend the address";
          break;
        case 2:
          out += "Domestic Abuse Protection Notice issued";
          break;
        case 3:
          out += "Restraining order protecting a former partner until ";
          put_date(out, date + 730);
          break;
        default:
          out += "Sexual Harm Prevention Order until ";
          put_date(out, date + 1825);
          break;
      }
      break;
    }
    case kPolMarkers: {
      static constexpr const char* k[] = {"Violent", "Weapons", "Drugs", "Violent; Weapons", "Mental health", "Firearms",
                                          "Violent; Drugs"};
      out += r.pick(k);
      break;
    }
    case kPolIntel: {
      static constexpr const char* k[] = {"Low-grade intelligence that the address is used to store drugs",
                                          "Intelligence links the subject to a local street gang",
                                          "Intelligence that an older male visits the address when the mother is out",
                                          "No current intelligence of note",
                                          "Intelligence of cuckooing at the address",
                                          "Intelligence that the subject carries a knife"};
      out += r.pick(k);
      break;
    }
    case kHeaGp: {
      static constexpr const char* k[] = {"Medical Centre", "Surgery", "Health Centre", "Medical Practice", "Family Practice"};
      if (r.chance(0.03)) {
        out += "Not registered; last registered ";
        put_uint(out, static_cast<uint64_t>(civil(date).y));
      } else {
        out.append("Registered with ").append(t.streets[r.below(t.streets.size())]).append(" ").append(r.pick(k));
      }
      break;
    }
    case kHeaHealthVisitor: {
      static constexpr const char* k[] = {"Universal service; 12-month review completed, no concerns",
                                          "Universal Plus: support with feeding and weight gain",
                                          "Universal Partnership Plus: concerns about home conditions shared with social care",
                                          "New birth visit completed; mother reports low mood",
                                          "2-year review not attended; two further appointments offered",
                                          "Targeted support for postnatal depression, improving",
                                          "Universal service; development on track"};
      out += r.pick(k);
      break;
    }
    case kHeaSchoolNurse: {
      static constexpr const char* k[] = {"Height and weight check, no concerns", "Seen for bedwetting; advice given",
                                          "Drop-in: low mood and worries about exams", "Immunisation catch-up completed",
                                          "Referred to CAMHS after a disclosure of self-harm",
                                          "Seen for headaches; eyesight check arranged",
                                          "Concerns about weight loss; GP informed"};
      out += r.pick(k);
      break;
    }
    case kHeaWasNotBrought: {
      static constexpr const char* k[] = {"dental", "audiology", "paediatrics", "immunisations", "speech and language therapy",
                                          "ophthalmology", "dietitian"};
      const uint64_t n = 1 + r.below(5);
      put_uint(out, n);
      out += " (";
      for (uint64_t i = 0; i < n && i < 3; ++i) {
        if (i != 0) out += ", ";
        out += r.pick(k);
      }
      out += ')';
      break;
    }
    case kHeaAe: {
      static constexpr const char* k[] = {"A&E: head injury after a fall from the sofa, discharged",
                                          "Urgent care centre: scald to the left hand",
                                          "A&E: fractured wrist, said to have fallen off a bike",
                                          "Walk-in centre: asthma attack",
                                          "A&E: swallowed a parent's medication, observed and discharged",
                                          "A&E: cut to the forehead, glued",
                                          "A&E: bruising to the face, explanation inconsistent; safeguarding referral",
                                          "Urgent care centre: high temperature, no concerns"};
      out += r.pick(k);
      break;
    }
    case kHeaMaternity: {
      static constexpr const char* k[] = {"Booked at 24 weeks (late booking)", "Missed three antenatal appointments",
                                          "Pre-birth safeguarding referral made by the midwife",
                                          "Concealed pregnancy, first presented in labour",
                                          "Antenatal care attended, no concerns", "Known to the perinatal mental health team"};
      out += r.pick(k);
      break;
    }
    case kHeaCamhs: {
      switch (r.below(4)) {
        case 0:
          out += "Open to CAMHS since ";
          put_date(out, date);
          out += ": anxiety";
          break;
        case 1:
          out += "Closed to CAMHS after 6 sessions for low mood";
          break;
        case 2:
          out += "Referred for self-harm; assessment booked";
          break;
        default:
          out += "Referral not accepted; signposted to school counselling";
          break;
      }
      break;
    }
    case kHeaParentalMh: {
      static constexpr const char* k[] = {"Depression, managed by the GP with medication",
                                          "Known to the community mental health team: bipolar disorder",
                                          "Postnatal depression; perinatal mental health team involved",
                                          "Anxiety; self-referred to talking therapies",
                                          "Admitted under the Mental Health Act for 2 weeks",
                                          "Post-traumatic stress disorder; waiting for therapy"};
      out += r.pick(k);
      break;
    }
    case kHeaSubstance: {
      static constexpr const char* k[] = {"Alcohol misuse; engaged with the drug and alcohol service",
                                          "Cannabis use disclosed to the GP",
                                          "Opiate substitution therapy (methadone), stable",
                                          "Dropped out of alcohol treatment",
                                          "Cocaine use; referred to the substance misuse service"};
      out += r.pick(k);
      break;
    }
    case kHeaSexualHealth: {
      static constexpr const char* k[] = {"Attended the sexual health clinic; partner said to be 22",
                                          "Emergency contraception twice in 3 months",
                                          "Fraser competent; contraception started",
                                          "Clinic nurse raised concerns about exploitation"};
      out += r.pick(k);
      break;
    }
    case kEduOnRoll: {
      const int age_sept = age_on(c.p->dob, school_year_start(c.as_of));
      const int year = age_sept - 4;  // Reception = 0
      school_name(r, t, *c.current, year >= 7, out);
      if (year <= 0) out += " (Reception)";
      else if (year <= 13) {
        out += " (Year ";
        put_uint(out, static_cast<uint64_t>(year));
        out += ')';
      } else {
        out += " (college)";
      }
      out += "; DSL ";
      practitioner(r, t, out);
      break;
    }
    case kEduAttendance: {
      const int pct = r.chance(0.7) ? r.range(90, 100) : r.range(55, 89);
      put_uint(out, static_cast<uint64_t>(pct));
      out += '%';
      if (pct < 90) {
        static constexpr const char* k[] = {" (unexplained absences, mostly Mondays)", " (persistent absence)",
                                            " (term-time holidays and late arrivals)", " (absences after weekends with dad)",
                                            " (medical appointments)"};
        out += r.pick(k);
      }
      break;
    }
    case kEduExclusions: {
      static constexpr const char* k[] = {"Suspension: 2 days for assaulting another pupil",
                                          "Suspension: 1 day for persistent disruptive behaviour",
                                          "Permanent exclusion for bringing a knife to school",
                                          "Suspension: 3 days for verbal abuse of staff",
                                          "Internal exclusion: 1 day for truancy"};
      out += r.pick(k);
      break;
    }
    case kEduSen: {
      static constexpr const char* k[] = {"None", "None", "None", "SEN support: speech, language and communication",
                                          "SEN support: social, emotional and mental health",
                                          "EHCP: autistic spectrum disorder", "EHCP: severe learning difficulty",
                                          "SEN support: specific learning difficulty (dyslexia)"};
      out += r.pick(k);
      break;
    }
    case kEduWellbeing: {
      static constexpr const char* k[] = {"Often arrives hungry; breakfast club offered",
                                          "Unexplained bruise on the arm; referred to MASH",
                                          "Disclosed arguments at home; pastoral support in place",
                                          "Withdrawn and tearful in class",
                                          "Uniform unwashed, head lice repeatedly",
                                          "Said they are scared of mum's boyfriend",
                                          "Late collection several times; no adult answering the phone",
                                          "No concerns"};
      out += r.pick(k);
      break;
    }
    case kEduMissing: {
      if (r.chance(0.5)) {
        out += "Yes: not on roll since ";
        put_date(out, date);
      } else {
        out += "Electively home educated since ";
        put_date(out, date);
      }
      break;
    }
    case kEduAttainment: {
      static constexpr const char* k[] = {"Working at the expected standard", "Working below the expected standard in reading and writing",
                                          "Working at greater depth in maths", "Sharp decline in progress this term",
                                          "Predicted grades 4-5 at GCSE", "Well below the expected standard; assessment for SEN requested"};
      out += r.pick(k);
      break;
    }
    case kEduPreviousSchools: {
      school_name(r, t, random_address(r, t, true), age_on(c.p->dob, date) >= 12, out);
      out += " (";
      put_uint(out, static_cast<uint64_t>(civil(date).y - 1 - static_cast<int>(r.below(3))));
      out += '-';
      put_uint(out, static_cast<uint64_t>(civil(date).y));
      out += ')';
      break;
    }
    case kProSupervision: {
      static constexpr const char* k[] = {"Yes: community order since ", "Yes: on licence since ",
                                          "Yes: suspended sentence order since ", "No: supervision ended "};
      out += r.pick(k);
      put_date(out, date);
      break;
    }
    case kProOffence: {
      static constexpr const char* k[] = {"violence", "domestic abuse", "domestic abuse", "sexual", "drugs", "acquisitive", "other"};
      out += r.pick(k);
      break;
    }
    case kProRisk: {
      static constexpr const char* k[] = {"low", "low", "medium", "medium", "high", "very high"};
      out.append(r.pick(k)).append(" (assessed ");
      put_date(out, date);
      out += ')';
      break;
    }
    case kProMappa: {
      static constexpr const char* k[] = {"none", "none", "none", "Category 1, level 1", "Category 2, level 1",
                                          "Category 2, level 2", "Category 1, level 2", "Category 3, level 3"};
      out += r.pick(k);
      break;
    }
    case kProDapp: {
      static constexpr const char* k[] = {"not required", "required and not started", "in progress", "completed", "failed to complete"};
      out += r.pick(k);
      break;
    }
    case kProLicence: {
      static constexpr const char* k[] = {"No unsupervised contact with children under 18",
                                          "Exclusion zone around a former partner's address",
                                          "Reside at approved premises", "Curfew 19:00-07:00, electronically monitored",
                                          "Not to contact the victim directly or indirectly"};
      out += r.pick(k);
      break;
    }
    case kProSupport: {
      static constexpr const char* k[] = {"accredited programme", "drug testing", "employment support", "housing support",
                                          "alcohol treatment requirement", "weekly supervision"};
      out += "Probation practitioner ";
      practitioner(r, t, out);
      out.append("; ").append(r.pick(k));
      break;
    }
    case kHouTenancy: {
      static constexpr const char* k[] = {"council secure", "council secure", "housing association", "private rented",
                                          "owner-occupied", "none known"};
      out += r.pick(k);
      break;
    }
    case kHouTemporary: {
      static constexpr const char* k[] = {"Ealing", "Brent", "Hounslow", "Croydon", "Barking and Dagenham", "Hammersmith and Fulham",
                                          "Westminster", "Enfield"};
      if (r.chance(0.6)) {
        out += "No";
      } else {
        out.append("Yes: placed in ").append(r.pick(k)).append(" since ");
        put_date(out, date);
      }
      break;
    }
    case kHouArrears: {
      switch (r.below(6)) {
        case 0:
        case 1:
          out += "none";
          break;
        case 2:
          out += "arrears (";
          money(r, 20, 400, out);
          out += ')';
          break;
        case 3:
          out += "notice served";
          break;
        case 4:
          out += "possession order";
          break;
        default:
          out += "eviction date set for ";
          put_date(out, date + 60);
          break;
      }
      break;
    }
    case kHouAsb: {
      static constexpr const char* k[] = {"Noise nuisance reported by neighbours (perpetrator)",
                                          "Victim of harassment by a neighbour", "Drug-related ASB at the block",
                                          "Damage to the communal door", "Victim of racist abuse by neighbours"};
      out += r.pick(k);
      break;
    }
    case kHouOvercrowding: {
      static constexpr const char* k[] = {"Yes: statutorily overcrowded (2 bedrooms short)",
                                          "Yes: assessed as overcrowded (1 bedroom short)", "No", "No"};
      out += r.pick(k);
      break;
    }
    case kHouComposition: {
      for (uint32_t i = 0; i < c.nmembers; ++i) {
        const Person& m = c.members[i];
        if (i != 0) out += "; ";
        out.append(t.forenames[m.sex][m.fn[0]]).append(" ").append(surname_of(t, m)).append(" (");
        out += m.adult() ? (i == 0 ? "tenant" : "partner") : (m.sex == kFemale ? "daughter" : "son");
        out += ", ";
        put_date(out, m.dob);
        out += ')';
      }
      break;
    }
    case kHouPrevious: {
      put_address(out, t, r.chance(0.5) ? *c.previous : random_address(r, t, true));
      out += " (";
      put_uint(out, static_cast<uint64_t>(civil(date).y - 1 - static_cast<int>(r.below(4))));
      out += '-';
      put_uint(out, static_cast<uint64_t>(civil(date).y));
      out += ')';
      break;
    }
  }
}

void fact_source(Rng& r, const FieldSpec& s, int date, std::string& out) {
  out += s.source;
  switch (s.style) {
    case 0:
      out += '/';
      put_uint(out, static_cast<uint64_t>(civil(date).y));
      out += '/';
      put_uint(out, r.below(10000000), 7);
      break;
    case 1:
      out += '-';
      put_uint(out, r.below(10000000), 7);
      break;
    default:
      break;
  }
}

// A fact date: 55% in the last 3 years, 30% 3-6 years ago, 15% 6-10 years ago; never before `lo`.
int fact_date(Rng& r, int lo, int as_of) {
  const double u = r.unit();
  int from, to;
  if (u < 0.55) {
    from = add_years(as_of, -3) + 1, to = as_of;
  } else if (u < 0.85) {
    from = add_years(as_of, -6) + 1, to = add_years(as_of, -3);
  } else {
    from = add_years(as_of, -10) + 1, to = add_years(as_of, -6);
  }
  from = std::max(from, lo);
  if (from > to) from = lo, to = as_of;
  return from + static_cast<int>(r.below(static_cast<uint64_t>(to - from) + 1));
}

// ---------------------------------------------------------------------------------------------
// Agencies
// ---------------------------------------------------------------------------------------------

struct AgencySpec {
  const char* name;
  const char* id_prefix;
  int id_digits;
  double nhs, upn, pnc;   // chance an identifier the person has is in the record
  double upper_surname;   // chance the surname is in capitals
};
constexpr AgencySpec kAgencySpecs[kAgencies] = {
    {"police", "POL", 7, 0.30, 0.0, 0.90, 0.20},
    {"health", "H-", 7, 0.99, 0.0, 0.0, 0.01},
    {"education", "EDU", 7, 0.60, 0.97, 0.0, 0.01},
    {"probation", "PRB-", 6, 0.0, 0.0, 0.95, 0.05},
    {"housing", "HOU", 7, 0.0, 0.0, 0.0, 0.01},
};

struct AgencyCounts {
  uint64_t records = 0, facts = 0, strangers = 0, duplicates = 0, restricted = 0;
};

// Restricted record kinds (the agreement's [[restricted]] record types).
enum Restricted : uint8_t { kNoRestriction, kOngoingInvestigation, kCovertOperation, kSealedRecord, kSafeguardingAdult, kVictimInformation, kRefugeAddress };

class AgencyWriter {
 public:
  AgencyWriter(const World& w, int agency, CsvFile& truth)
      : w_(w), t_(w.t), a_(agency), spec_(kAgencySpecs[agency]), truth_(truth),
        r_(w.o.seed, kAgencyStream + static_cast<uint64_t>(agency)) {}

  AgencyCounts run() {
    const std::filesystem::path dir = std::filesystem::path(w_.o.out) / spec_.name;
    std::filesystem::create_directories(dir);
    CsvFile persons(dir / "persons.csv",
                    "person_id,forenames,surname,other_names,date_of_birth,gender,address,postcode,previous_postcodes,nhs,upn,pnc,probation,housing");
    CsvFile facts(dir / "facts.csv", "person_id,field,value,date,source,record_type,restricted");

    // Entries: people the agency knows, duplicates of some, and strangers.
    enum Kind : uint32_t { kKnown = 0, kDuplicate = 1u << 30, kStranger = 2u << 30 };
    std::vector<uint32_t> entries;
    for (uint32_t i = 0; i < w_.people.size(); ++i) {
      if (w_.people[i].known & bit(a_)) entries.push_back(i);
    }
    const size_t known = entries.size();
    for (size_t k = 0; k < known; ++k) {
      if (r_.chance(0.003)) entries.push_back(entries[k] | kDuplicate);
    }
    const auto strangers = static_cast<uint32_t>((known + 50) / 100);
    for (uint32_t s = 0; s < strangers; ++s) entries.push_back(s | kStranger);
    for (size_t i = entries.size(); i > 1; --i) std::swap(entries[i - 1], entries[r_.below(i)]);

    mark_restricted();

    uint64_t next_id = 1000 + r_.below(9000);
    Record rec;
    Person stranger;
    std::string s;
    for (uint32_t e : entries) {
      next_id += 1 + r_.below(3);
      rec.id.clear();
      rec.id += spec_.id_prefix;
      put_uint(rec.id, next_id, spec_.id_digits);
      const uint32_t index = e & ((1u << 30) - 1);
      const uint32_t kind = e & (3u << 30);
      const Person* p;
      const Household* hh = nullptr;
      Household stranger_home;
      if (kind == kStranger) {
        make_stranger(stranger, stranger_home);
        p = &stranger;
        hh = &stranger_home;
        ++counts_.strangers;
      } else {
        p = &w_.people[index];
        hh = &w_.households[p->household];
        if (kind == kDuplicate) ++counts_.duplicates;
      }
      make_record(*p, *hh, kind == kDuplicate, rec);
      write_record(persons, rec);

      truth_.field(spec_.name);
      truth_.field(rec.id);
      s.clear();
      if (kind != kStranger) put_true_id(s, index);
      truth_.field(s);
      truth_.end_row();

      // Facts.
      FactCtx ctx{&t_, p, kind == kStranger ? p : &w_.people[hh->first], kind == kStranger ? 1u : hh->count,
                  &hh->current, &hh->previous, age_on(p->dob, w_.o.as_of), w_.o.as_of};
      const bool lead = kind == kStranger || (p->adult() && index == hh->first) || a_ != kHousing;
      const bool restricted = kind == kKnown && restricted_[index] != kNoRestriction;
      write_facts(facts, rec.id, ctx, kind == kDuplicate, lead, restricted ? 5 : 6);
      if (restricted) write_restricted(facts, rec.id, ctx, static_cast<Restricted>(restricted_[index]));
      ++counts_.records;
    }
    counts_.facts = facts.rows();
    persons.close();
    facts.close();
    return counts_;
  }

 private:
  struct Record {
    std::string id, forenames, surname, other_names, dob, gender, address, postcode, previous, nhs, upn, pnc, probation, housing;
  };

  // Chooses who carries a restricted record.
  void mark_restricted() {
    restricted_.assign(w_.people.size(), kNoRestriction);
    for (const Household& hh : w_.households) {
      auto pick_member = [&](bool adults_only, bool women_only) -> int64_t {
        std::vector<uint32_t> c;
        for (uint32_t i = hh.first; i < hh.first + hh.count; ++i) {
          const Person& p = w_.people[i];
          if ((p.known & bit(a_)) && (!adults_only || p.adult()) && (!women_only || p.sex == kFemale)) c.push_back(i);
        }
        return c.empty() ? -1 : static_cast<int64_t>(c[r_.below(c.size())]);
      };
      switch (a_) {
        case kPolice:
          if (!hh.police) break;
          if (r_.chance(0.02)) {
            if (const int64_t i = pick_member(true, false); i >= 0) restricted_[static_cast<size_t>(i)] = kOngoingInvestigation;
          } else if (r_.chance(0.002)) {
            if (const int64_t i = pick_member(true, false); i >= 0) restricted_[static_cast<size_t>(i)] = kCovertOperation;
          }
          break;
        case kHealth:
          for (uint32_t i = hh.first; i < hh.first + hh.count; ++i) {
            const Person& p = w_.people[i];
            if (!(p.known & bit(kHealth))) continue;
            if (r_.chance(0.0005)) restricted_[i] = kSealedRecord;
            else if (p.adult() && r_.chance(0.003)) restricted_[i] = kSafeguardingAdult;
          }
          break;
        case kProbation:
          for (uint32_t i = hh.first; i < hh.first + hh.count; ++i) {
            if ((w_.people[i].known & bit(kProbation)) && r_.chance(0.08)) restricted_[i] = kVictimInformation;
          }
          break;
        case kHousing:
          if (hh.housing && r_.chance(0.005)) {
            if (const int64_t i = pick_member(true, true); i >= 0) restricted_[static_cast<size_t>(i)] = kRefugeAddress;
          }
          break;
        default:
          break;
      }
    }
  }

  // Someone the population does not hold; a fifth of them share a real person's name.
  void make_stranger(Person& s, Household& home) {
    s = Person{};
    const int as_of = w_.o.as_of;
    const bool child = a_ == kEducation || (a_ != kProbation && r_.chance(0.3));
    s.role = child ? kChild : (r_.chance(0.5) ? kMother : kFather);
    if (r_.chance(0.2)) {
      // A lookalike: the name of someone in the population of the same kind.
      for (int tries = 0; tries < 50; ++tries) {
        const Person& o = w_.people[r_.below(w_.people.size())];
        if (o.adult() == !child) {
          s.sex = o.sex;
          s.role = o.role;
          s.fn[0] = o.fn[0];
          s.fn[1] = o.fn[1];
          s.sn[0] = o.sn[0];
          s.sn[1] = o.sn[1];
          s.other = o.other;
          break;
        }
      }
    }
    if (s.fn[0] == kNone) {
      s.sex = s.role == kFather ? kMale : s.role == kMother ? kFemale : (r_.chance(0.5) ? kFemale : kMale);
      const uint16_t sn = static_cast<uint16_t>(t_.surname_weights.pick(r_));
      s.sn[0] = sn;
      const Group g = static_cast<Group>(t_.surname_group[sn]);
      const uint8_t pool = (g == kGeneral || g == kEastAsian) ? static_cast<uint8_t>(r_.below(2)) : static_cast<uint8_t>(2 + g - kSouthAsian);
      const NamePool& np = t_.forename_pools[s.sex][pool];
      s.fn[0] = np.names[np.weights.pick(r_)];
      if (r_.chance(0.5)) {
        const uint16_t m = np.names[np.weights.pick(r_)];
        if (m != s.fn[0] && t_.forenames[s.sex][m].find('-') == std::string::npos) s.fn[1] = m;
      }
      if (s.sex == kFemale && s.adult()) s.other = static_cast<uint16_t>(t_.surname_weights.pick(r_));
    }
    if (child) {
      const int lo = a_ == kEducation ? add_years(as_of, -18) + 1 : add_years(as_of, -18) + 1;
      const int hi = a_ == kEducation ? add_years(as_of, -4) : as_of;
      s.dob = lo + static_cast<int>(r_.below(static_cast<uint64_t>(hi - lo) + 1));
    } else {
      const int lo = add_years(as_of, -61) + 1, hi = add_years(as_of, -18);
      s.dob = lo + static_cast<int>(r_.below(static_cast<uint64_t>(hi - lo) + 1));
    }
    const uint64_t lo = kNhsPopulationHi + static_cast<uint64_t>(a_) * 3000000ULL;
    s.nhs = draw_nhs(r_, lo, lo + 3000000ULL, stranger_nhs_);
    if (child && age_on(s.dob, as_of) >= 4) s.upn = draw_upn(r_, civil(add_years(s.dob, 4)).y, true, stranger_upn_);
    if ((a_ == kPolice && r_.chance(0.5)) || a_ == kProbation) {
      const int year = civil(as_of).y;
      s.pnc = draw_pnc(r_, std::min(year, civil(s.dob).y + 12), year, 8000000U + (a_ == kProbation ? 1000000U : 0U), stranger_pnc_);
    }
    home = Household{};
    home.current = random_address(r_, t_, true);
    home.previous = random_address(r_, t_, true);
  }

  void make_record(const Person& p, const Household& hh, bool duplicate, Record& rec) {
    const int as_of = w_.o.as_of;
    rec.forenames = forenames_of(t_, p);
    rec.surname = surname_of(t_, p);
    rec.other_names.clear();
    // Other surname (maiden or married) for adult women.
    if (p.adult() && p.sex == kFemale && p.other != kNone) {
      const double c = r_.unit();
      if (c < 0.03) {
        rec.other_names = rec.forenames + " " + rec.surname;
        rec.surname = t_.surnames[p.other];
      } else if (c < 0.13) {
        rec.other_names = t_.forenames[p.sex][p.fn[0]] + " " + t_.surnames[p.other];
      }
    }
    // A duplicate differs in at least one way.
    int forced = duplicate ? static_cast<int>(r_.below(5)) : -1;
    if (r_.chance(0.06) || forced == 1) nickname(r_, t_, p, rec.forenames);
    if (r_.chance(0.05) || forced == 0) first_only(rec.forenames);
    if (r_.chance(0.06) || forced == 2) {
      if (r_.chance(0.6)) typo(r_, rec.forenames, false);
      else typo(r_, rec.surname, true);
    }
    if (rec.surname.find('-') != std::string::npos && r_.chance(0.3)) std::replace(rec.surname.begin(), rec.surname.end(), '-', ' ');
    if (rec.forenames.find('-') != std::string::npos && r_.chance(0.3)) std::replace(rec.forenames.begin(), rec.forenames.end(), '-', ' ');
    if (r_.chance(0.015)) std::swap(rec.forenames, rec.surname);
    if (r_.chance(0.02)) {
      upper_ascii(rec.forenames);
      upper_ascii(rec.surname);
    } else if (r_.chance(spec_.upper_surname)) {
      upper_ascii(rec.surname);
    }
    if (r_.chance(0.01)) extra_spaces(r_, rec.forenames, rec.surname);

    // Date of birth.
    int dob = p.dob;
    const double d = r_.unit();
    if (d < 0.02) dob = swap_day_month(dob);
    else if (d < 0.03) dob = wrong_digit(r_, dob, as_of);
    else if (d < 0.04 || forced == 4) dob = kNoDate;
    rec.dob.clear();
    if (dob != kNoDate) put_date(rec.dob, dob);

    const double gd = r_.unit();
    rec.gender = gd < 0.02 ? "" : gd < 0.023 ? "unknown" : p.sex == kFemale ? "female" : "male";

    // Address.
    rec.address.clear();
    rec.postcode.clear();
    rec.previous.clear();
    const double m = r_.unit();
    if (m < 0.08 || forced == 3) {  // moved
      const Address moved = random_address(r_, t_, true);
      put_address(rec.address, t_, moved);
      noisy_postcode(r_, moved, rec.postcode);
      if (r_.chance(0.5)) put_postcode(rec.previous, hh.current);
    } else if (m < 0.11) {  // not told of the last move
      put_address(rec.address, t_, hh.previous);
      noisy_postcode(r_, hh.previous, rec.postcode);
    } else {
      put_address(rec.address, t_, hh.current);
      noisy_postcode(r_, hh.current, rec.postcode);
      if (r_.chance(0.2)) put_postcode(rec.previous, hh.previous);
    }

    // Identifiers.
    rec.nhs.clear();
    rec.upn.clear();
    rec.pnc.clear();
    rec.probation.clear();
    rec.housing.clear();
    if (r_.chance(spec_.nhs * (duplicate ? 0.5 : 1.0))) {
      const uint64_t nhs = r_.chance(0.002) ? corrupt_nhs(r_, p.nhs) : p.nhs;
      put_nhs(rec.nhs, nhs, r_.chance(a_ == kHealth ? 0.3 : 0.1));
    }
    if (p.upn != 0 && r_.chance(spec_.upn)) put_upn(rec.upn, p.upn);
    if (p.pnc != 0 && r_.chance(spec_.pnc)) put_pnc(rec.pnc, p.pnc);
    if (a_ == kProbation) {
      for (;;) {
        const uint64_t n = r_.below(26000000);
        if (!refs_.insert(n).second) continue;
        rec.probation = "CRN";
        rec.probation += static_cast<char>('A' + n / 1000000);
        put_uint(rec.probation, n % 1000000, 6);
        break;
      }
    }
    if (a_ == kHousing && r_.chance(p.adult() ? 0.95 : 0.7)) {
      for (;;) {
        const uint64_t n = 10000000 + r_.below(90000000);
        if (!refs_.insert(n).second) continue;
        rec.housing = "HSG-";
        put_uint(rec.housing, n, 8);
        break;
      }
    }
  }

  static void write_record(CsvFile& f, const Record& rec) {
    f.field(rec.id);
    f.field(rec.forenames);
    f.field(rec.surname);
    f.field(rec.other_names);
    f.field(rec.dob);
    f.field(rec.gender);
    f.field(rec.address);
    f.field(rec.postcode);
    f.field(rec.previous);
    f.field(rec.nhs);
    f.field(rec.upn);
    f.field(rec.pnc);
    f.field(rec.probation);
    f.field(rec.housing);
    f.end_row();
  }

  void write_fact(CsvFile& f, const std::string& id, const FieldSpec& s, const std::string& value, int date,
                  const char* record_type, bool restricted) {
    source_.clear();
    fact_source(r_, s, date, source_);
    date_.clear();
    put_date(date_, date);
    f.field(id);
    f.field(s.id);
    f.field(value);
    f.field(date_);
    f.field(source_);
    f.field(record_type);
    f.field(restricted ? "true" : "false");
    f.end_row();
  }

  // Writes 0 to `most` ordinary facts about a person.
  void write_facts(CsvFile& f, const std::string& id, const FactCtx& c, bool duplicate, bool lead, size_t most) {
    static const Weighted kCounts = {10, 30, 25, 15, 10, 6, 4};  // 0..6 facts
    static const Weighted kFewer = {60, 30, 10};                 // 0..2
    size_t n = std::min(most, duplicate || !lead ? kFewer.pick(r_) : kCounts.pick(r_));
    if (n == 0) return;
    const uint16_t who = who_of(*c.p, c.age);
    // Eligible fields and their weights.
    eligible_.clear();
    Weighted weights;
    for (const FieldSpec& s : kFields) {
      if (s.agency != a_ || !(s.who & who) || c.age < s.min_age) continue;
      eligible_.push_back(s.f);
      weights.add(s.weight);
    }
    if (eligible_.empty()) return;
    used_.clear();
    auto emit = [&](FieldId fid) {
      const FieldSpec& s = spec(fid);
      const int lo = std::max(add_years(c.p->dob, s.min_age), add_years(c.as_of, -10) + 1);
      const int date = fact_date(r_, lo, c.as_of);
      value_.clear();
      fact_value(r_, fid, c, date, value_);
      write_fact(f, id, s, value_, date, s.record_type, false);
      used_.push_back(fid);
    };
    const FieldId first = kFirstField[a_];
    if (lead && std::find(eligible_.begin(), eligible_.end(), first) != eligible_.end() && r_.chance(kFirstFieldChance[a_])) {
      emit(first);
      --n;
    }
    for (size_t k = 0; k < n; ++k) {
      for (int tries = 0; tries < 6; ++tries) {
        const FieldId fid = eligible_[weights.pick(r_)];
        if (spec(fid).once && std::find(used_.begin(), used_.end(), fid) != used_.end()) continue;
        emit(fid);
        break;
      }
    }
  }

  void write_restricted(CsvFile& f, const std::string& id, const FactCtx& c, Restricted kind) {
    static constexpr const char* kOperations[] = {"Kestrel", "Larkspur", "Bramble", "Granite", "Harbour", "Juniper", "Foxglove", "Tamarisk"};
    const int lo = std::max(c.p->dob, add_years(c.as_of, -2));
    const int date = lo + static_cast<int>(r_.below(static_cast<uint64_t>(c.as_of - lo) + 1));
    value_.clear();
    FieldId fid = kPolIntel;
    const char* type = "";
    switch (kind) {
      case kOngoingInvestigation:
        fid = r_.chance(0.5) ? kPolIntel : kPolOffending;
        type = "ongoing-investigation";
        value_.append("Subject of an ongoing investigation (Operation ").append(r_.pick(kOperations)).append("); do not disclose");
        break;
      case kCovertOperation:
        fid = kPolIntel;
        type = "covert-operation";
        value_ += "Linked to a covert operation; contact the police desk before any action";
        break;
      case kSealedRecord:
        fid = kHeaGp;
        type = "sealed-record";
        value_ += "Sealed record: registration details held by the named nurse";
        break;
      case kSafeguardingAdult:
        fid = kHeaParentalMh;
        type = "safeguarding-adult";
        value_ += "Adult safeguarding enquiry (Care Act s42) open: domestic abuse";
        break;
      case kVictimInformation:
        fid = kProLicence;
        type = "victim-information";
        value_.append("Victim contact scheme: the victim lives at a confidential address in ").append(kDistricts[r_.below(8)].locality);
        break;
      case kRefugeAddress:
        fid = kHouPrevious;
        type = "refuge-address";
        value_ += "Refuge placement at a confidential address; do not disclose";
        break;
      default:
        return;
    }
    write_fact(f, id, spec(fid), value_, date, type, true);
    ++counts_.restricted;
  }

  const World& w_;
  const Tables& t_;
  const int a_;
  const AgencySpec& spec_;
  CsvFile& truth_;
  Rng r_;
  AgencyCounts counts_;
  std::vector<uint8_t> restricted_;
  std::unordered_set<uint64_t> stranger_nhs_, stranger_upn_, refs_;
  std::unordered_set<uint32_t> stranger_pnc_;
  std::vector<FieldId> eligible_, used_;
  std::string value_, source_, date_;
};

// ---------------------------------------------------------------------------------------------
// Referrals
// ---------------------------------------------------------------------------------------------

uint64_t write_referrals(const World& w, uint64_t target) {
  Rng r(w.o.seed, kReferralStream);
  const Tables& t = w.t;
  std::vector<uint32_t> order(w.households.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[r.below(i)]);

  CsvFile f(std::filesystem::path(w.o.out) / "referrals.csv",
            "true_id,household,role,forenames,surname,date_of_birth,gender,address,postcode,nhs,upn,pnc");
  uint64_t written = 0;
  std::string s, forenames, surname;
  for (uint32_t h : order) {
    if (written >= target) break;
    const Household& hh = w.households[h];
    if (written + hh.count > target) continue;  // whole households only
    const bool old_address = r.chance(0.1);
    const Address& a = old_address ? hh.previous : hh.current;
    for (uint32_t i = hh.first; i < hh.first + hh.count; ++i) {
      const Person& p = w.people[i];
      forenames = forenames_of(t, p);
      surname = surname_of(t, p);
      if (r.chance(0.03)) nickname(r, t, p, forenames);
      if (r.chance(0.15)) first_only(forenames);
      if (r.chance(0.03)) {
        if (r.chance(0.6)) typo(r, forenames, false);
        else typo(r, surname, true);
      }
      int dob = p.dob;
      if (r.chance(0.01)) dob = swap_day_month(dob);
      s.clear();
      put_true_id(s, i);
      f.field(s);
      s.clear();
      put_household_id(s, h);
      f.field(s);
      f.field(kRoleNames[p.role]);
      f.field(forenames);
      f.field(surname);
      s.clear();
      put_date(s, dob);
      f.field(s);
      f.field(r.chance(0.05) ? "" : p.sex == kFemale ? "female" : "male");
      s.clear();
      put_address(s, t, a);
      f.field(s);
      s.clear();
      put_postcode(s, a);
      f.field(s);
      s.clear();
      if (r.chance(0.4)) put_nhs(s, p.nhs, r.chance(0.5));
      f.field(s);
      s.clear();
      if (p.upn != 0 && r.chance(0.2)) put_upn(s, p.upn);
      f.field(s);
      s.clear();
      if (p.pnc != 0 && r.chance(0.1)) put_pnc(s, p.pnc);
      f.field(s);
      f.end_row();
      ++written;
    }
  }
  f.close();
  return written;
}

// ---------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------

constexpr const char* kUsage =
    "usage: mash-synth --out DIR [--households N] [--seed S] [--referrals N] [--agencies LIST]\n"
    "                  [--as-of YYYY-MM-DD]\n"
    "\n"
    "Writes a synthetic population, one noisy extract per agency and referrals, with ground truth\n"
    "(agent/DATA.md, \"Synthetic extracts\"):\n"
    "  DIR/population.csv, DIR/referrals.csv, DIR/truth.csv,\n"
    "  DIR/<agency>/persons.csv and DIR/<agency>/facts.csv\n"
    "\n"
    "  --out DIR         where to write (created if missing)\n"
    "  --households N    households to generate, 1-1000000 (default 1000; about 3.5 people each)\n"
    "  --seed S          random seed, 0-18446744073709551615 (default 1); same seed, same output\n"
    "  --referrals N     people in referrals.csv, whole households (default min(population, 2000))\n"
    "  --agencies LIST   comma-separated, from police,health,education,probation,housing (default all)\n"
    "  --as-of DATE      the date the data is as of: ages and fact dates (default 2026-11-01)\n"
    "  --help            this text\n";

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

uint64_t parse_uint(std::string_view flag, std::string_view v, uint64_t lo, uint64_t hi) {
  uint64_t n = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || end != v.data() + v.size() || n < lo || n > hi) {
    throw UsageError(std::string(flag) + ": expected a whole number from " + std::to_string(lo) + " to " + std::to_string(hi) +
                     ", got '" + std::string(v) + "'");
  }
  return n;
}

int parse_date(std::string_view flag, std::string_view v) {
  auto digits = [&](size_t pos, size_t len, int& out) {
    out = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (v[i] < '0' || v[i] > '9') return false;
      out = out * 10 + (v[i] - '0');
    }
    return true;
  };
  int y = 0, m = 0, d = 0;
  if (v.size() != 10 || v[4] != '-' || v[7] != '-' || !digits(0, 4, y) || !digits(5, 2, m) || !digits(8, 2, d) || y < 1950 ||
      y > 9000 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m)) {
    throw UsageError(std::string(flag) + ": expected a date YYYY-MM-DD (1950 or later), got '" + std::string(v) + "'");
  }
  return days_from_civil(y, m, d);
}

// Returns false when --help was given.
bool parse_args(int argc, char** argv, Options& o) {
  bool have_out = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") return false;
    std::string_view flag = arg, value;
    bool inline_value = false;
    if (const size_t eq = arg.find('='); arg.substr(0, 2) == "--" && eq != std::string_view::npos) {
      flag = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      inline_value = true;
    }
    static constexpr std::string_view kFlags[] = {"--out", "--households", "--seed", "--referrals", "--agencies", "--as-of"};
    if (std::find(std::begin(kFlags), std::end(kFlags), flag) == std::end(kFlags)) {
      throw UsageError("unknown argument '" + std::string(arg) + "' (see --help)");
    }
    if (!inline_value) {
      if (i + 1 >= argc) throw UsageError(std::string(flag) + " needs a value");
      value = argv[++i];
    }
    if (flag == "--out") {
      if (value.empty()) throw UsageError("--out: empty directory name");
      o.out = value;
      have_out = true;
    } else if (flag == "--households") {
      o.households = parse_uint(flag, value, 1, 1000000);
    } else if (flag == "--seed") {
      o.seed = parse_uint(flag, value, 0, UINT64_MAX);
    } else if (flag == "--referrals") {
      o.referrals = static_cast<int64_t>(parse_uint(flag, value, 0, 100000000));
    } else if (flag == "--as-of") {
      o.as_of = parse_date(flag, value);
    } else {  // --agencies
      std::fill(std::begin(o.agencies), std::end(o.agencies), false);
      bool any = false;
      while (true) {
        const size_t comma = value.find(',');
        const std::string_view name = value.substr(0, comma);
        int found = -1;
        for (int a = 0; a < kAgencies; ++a) {
          if (name == kAgencySpecs[a].name) found = a;
        }
        if (found < 0) {
          throw UsageError("--agencies: unknown agency '" + std::string(name) + "' (police, health, education, probation, housing)");
        }
        o.agencies[found] = any = true;
        if (comma == std::string_view::npos) break;
        value = value.substr(comma + 1);
      }
      if (!any) throw UsageError("--agencies: no agency named");
    }
  }
  if (!have_out) throw UsageError("--out DIR is required (see --help)");
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    if (!parse_args(argc, argv, o)) {
      std::fputs(kUsage, stdout);
      return 0;
    }
  } catch (const UsageError& e) {
    std::fprintf(stderr, "mash-synth: %s\n", e.what());
    return 2;
  }
  try {
    const auto start = std::chrono::steady_clock::now();
    World w{build_tables(), o, {}, {}, {}, {}, {}};
    std::filesystem::create_directories(o.out);
    PopulationBuilder(w).build();
    decide_coverage(w);
    write_population(w);
    const uint64_t target = o.referrals < 0 ? std::min<uint64_t>(w.people.size(), 2000) : static_cast<uint64_t>(o.referrals);
    const uint64_t referrals = write_referrals(w, target);

    CsvFile truth(std::filesystem::path(o.out) / "truth.csv", "agency,person_id,true_id");
    std::string summary;
    for (int a = 0; a < kAgencies; ++a) {
      if (!o.agencies[a]) continue;
      const AgencyCounts c = AgencyWriter(w, a, truth).run();
      summary += summary.empty() ? "" : ", ";
      summary += std::string(kAgencySpecs[a].name) + " " + std::to_string(c.records) + " (" + std::to_string(c.facts) + " facts)";
    }
    truth.close();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("mash-synth: %llu households, %zu persons, %llu referrals; records: %s; wrote %s in %.1f s\n",
                static_cast<unsigned long long>(w.households.size()), w.people.size(), static_cast<unsigned long long>(referrals),
                summary.c_str(), o.out.c_str(), secs);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mash-synth: %s\n", e.what());
    return 1;
  }
  return 0;
}
