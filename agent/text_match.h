// Text comparison for the agent's person matching: string similarity (Jaro, Jaro-Winkler, optimal
// string alignment distance), American Soundex, name tokens, forename nicknames, UK postcodes and
// dates of birth.
//
// A MASH researcher types a referral from a phone call; the agency's record was typed by someone
// else, years earlier. The same person turns up as "Bill O'Brien" and "William OBrien", born
// 1979-05-14 or 1979-14-05 or 1980-05-14. These functions measure how far apart two such values
// are, so the matcher can weight the evidence; they decide nothing themselves.
//
// Conventions:
// - jaro, jaro_winkler and osa_distance compare bytes, case-sensitively: give them normalised
//   tokens (name_tokens) so that case, accents and punctuation do not count as differences.
// - They allocate nothing for inputs of up to 64 bytes (a matcher scores hundreds of pairs per
//   enquiry); longer inputs work the same, on the heap.
// - Every function is thread-safe; the nickname table is a compile-time constant.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mash::agent::text {

// Similarity of two strings in [0,1] (Jaro 1989). Empty vs empty = 1.0; empty vs non-empty = 0.
// Characters match when equal and at most max(|a|,|b|)/2 - 1 positions apart.
double jaro(std::string_view a, std::string_view b);

// Jaro-Winkler (Winkler 1990): jaro + l * p * (1 - jaro) where l is the length of the common
// prefix, at most 4. The boost applies whatever the Jaro value (the common textbook definition,
// without Winkler's 0.7 threshold). p is clamped to [0, 0.25] so the result stays in [0,1].
double jaro_winkler(std::string_view a, std::string_view b, double p = 0.1);

// Optimal string alignment distance (Damerau-Levenshtein restricted: insert, delete, substitute,
// transpose adjacent; no substring is edited twice), on bytes. Not a metric: the triangle
// inequality fails ("ca"-"ac" 1, "ac"-"abc" 1, but "ca"-"abc" 3). No heap allocation when the
// shorter string has at most 64 bytes.
int osa_distance(std::string_view a, std::string_view b);

// American Soundex (the US National Archives rules: H and W do not separate equal codes, vowels
// and Y do; a letter coded like the first letter right after it is dropped), e.g. "R163".
// Input is any name: Latin accents are folded ("Müller" = "Muller"), non-letters ignored.
// "" when there is no letter.
std::string soundex(std::string_view name);

// Tokens of a name: split on whitespace, hyphens, commas and full stops (also the Unicode
// no-break and other spaces and the dashes U+2010..U+2015), then each part normalised with
// mash::normalise_name, so "O'Brien" -> "obrien", "Mary-Jane" -> {"mary", "jane"},
// "José" -> "jose". Empty tokens are dropped; order is kept.
std::vector<std::string> name_tokens(std::string_view name);

// Forename roots for nickname matching, from a built-in table of common UK/English given-name
// nicknames, diminutives and spelling variants ("bill" -> {"william"}, "jack" -> {"jack",
// "john"}, "sam" -> {"samantha", "samuel"}). `token` is one normalised token (lower case ASCII,
// as from name_tokens). Returns the sorted roots; the token itself is among them when it is a
// name in its own right or has no entry (a full name such as "william" has none).
// The views point into the static table, or into `token` itself when it has no entry: keep
// `token` alive as long as the result.
std::vector<std::string_view> forename_roots(std::string_view token);

// One deterministic root for blocking: the alphabetically first of forename_roots(token)
// (a view into the static table, or `token` itself). Blocking on one root cannot bring together
// every pair nickname_match accepts ("jack" -> "jack", "john" -> "john"); a blocker that needs
// that should emit a key per root.
std::string_view forename_root(std::string_view token);

// True when the two tokens share a root (so "bill" ~ "william", "liz" ~ "beth",
// "jack" ~ "john", but "sam" !~ "chris"). Equal tokens always match. Allocates nothing.
bool nickname_match(std::string_view a, std::string_view b);

// A UK postcode, normalised: upper case, single space before the 3-character inward code.
struct Postcode {
  std::string full;      // "SW1A 1AA"
  std::string sector;    // "SW1A 1"
  std::string district;  // "SW1A" (the outward code)
  std::string area;      // "SW" (the letters of the outward code; "GIR" for GIR 0AA)

  friend bool operator==(const Postcode&, const Postcode&) = default;
};

// Parses any case and any ASCII spacing ("sw1a1aa", " SW1A  1AA ", "S W1A1AA"); validates the
// shape of the six official formats (A9 9AA, A99 9AA, AA9 9AA, AA99 9AA, A9A 9AA, AA9A 9AA) and
// GIR 0AA; nullopt otherwise. Only the shape is checked, not which letters may appear where nor
// whether the postcode exists.
std::optional<Postcode> parse_uk_postcode(std::string_view text);

// Comparison level of two valid dates of birth, checked in this order:
//   kExact         equal;
//   kDayMonthSwap  same year, day and month swapped (and day != month);
//   kOneEdit       the YYYYMMDD digit strings differ by one substitution or one adjacent
//                  transposition (a typing slip: 1980-05-14 / 1980-05-15, 1978 / 1987);
//   kNear          within 31 days, or the same day and month with the year one apart;
//   kDifferent     anything else.
enum class DateLevel { kExact, kOneEdit, kDayMonthSwap, kNear, kDifferent };

struct Ymd {
  int y = 0, m = 0, d = 0;

  friend bool operator==(const Ymd&, const Ymd&) = default;
};

// Strict YYYY-MM-DD (exactly 10 characters, no spaces), a real Gregorian date from 0001-01-01 to
// 9999-12-31; nullopt otherwise.
std::optional<Ymd> parse_ymd(std::string_view iso);

// Both dates should come from parse_ymd; other values give a level but not a meaningful one.
DateLevel compare_dates(const Ymd& a, const Ymd& b);

}  // namespace mash::agent::text
