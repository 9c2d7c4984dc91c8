// Keyed-hash pseudonyms for people, so that audit records can name a subject without holding any
// plaintext personal data, and a DPO can still find every access to a person by entering the
// person's details again (DESIGN.md section 7).
//
// A pseudonym is "<kind>:<64 hex digits>", the keyed BLAKE2b-256 (HashKey) of a normalised,
// domain-separated string:
//   name-dob   mash-pseudonym-v1|name-dob|<first forename>|<surname>|<YYYY-MM-DD>
//   nhs        mash-pseudonym-v1|nhs|<10 digits>
//   upn, pnc, probation, housing: mash-pseudonym-v1|<scheme>|<normalised value>
//
// Caveats:
// - Pseudonyms match only what normalises identically. Normalisation absorbs case, spacing,
//   punctuation and Latin accents ("O'Brien" = "obrien", "José" = "Jose"), but not typos,
//   nicknames, swapped forename and surname, transposed day and month, or "Mary-Jane" versus
//   "Mary Jane" (which give "maryjane" and "mary"). Searching by person is exact, not fuzzy.
// - Names written only in non-Latin scripts normalise to nothing and so give no name-dob
//   pseudonym; such a person can only be found by identifier.
// - The key is what keeps pseudonyms from being reversed by guessing names and dates of birth:
//   whoever holds it (or can ask this class) can test guesses. Keep it apart from the audit log.
//   Changing the key changes every pseudonym, so earlier records can no longer be searched.
// - Placeholder NHS numbers with every digit the same (0000000000, 1111111111, ...) pass the
//   modulus-11 check but are refused here, since they would link unrelated people.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "crypto.h"

namespace mash {

struct PersonDetails {
  std::string forenames;  // one or more, separated by whitespace; only the first is used
  std::string surname;
  std::string date_of_birth;  // YYYY-MM-DD
  // (scheme, value); schemes: nhs, upn, pnc, probation, housing (case-insensitive). Values of
  // unknown schemes, and values that are invalid once normalised, are skipped.
  std::vector<std::pair<std::string, std::string>> identifiers;
};

// Lower-case ASCII letters and digits only, from UTF-8: ASCII letters are lower-cased; letters
// with diacritics from Latin-1 and Latin Extended-A (and Romanian ș ț) are folded to their base
// letter (æ, œ, ß, þ and ĳ to two letters); everything else (spaces, hyphens, apostrophes
// including U+2019, full stops, combining marks, other scripts, malformed UTF-8) is dropped.
std::string normalise_name(std::string_view name);

// True for a 10-digit NHS number (digits only, no spaces) whose modulus-11 check digit is right
// and whose digits are not all the same.
bool valid_nhs_number(std::string_view digits);

// True for a real calendar date written exactly YYYY-MM-DD (year 0001 to 9999, Gregorian).
bool valid_iso_date(std::string_view date);

class Pseudonymizer {
 public:
  explicit Pseudonymizer(HashKey key);

  // The pseudonyms for a person: name-dob first (only when a forename, a surname and a valid date
  // of birth are present after normalisation), then one per usable identifier in the order
  // given, without duplicates. Empty if nothing is usable.
  std::vector<std::string> pseudonyms(const PersonDetails& person) const;

 private:
  std::string make(std::string_view kind, std::string_view normalised) const;

  HashKey key_;
};

}  // namespace mash
