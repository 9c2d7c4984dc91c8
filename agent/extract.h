// The agency's extract in LMDB: persons (as the features matching needs), facts about them,
// blocking keys and identifiers for finding candidates, and name frequencies for weighting.
//
// An import reads persons.csv and facts.csv (agent/DATA.md), reports every bad row, and replaces
// the whole extract in one write transaction: a reader (an enquiry being answered) sees the old
// extract or the new one, never a mix. Keys are sorted in memory and bulk-appended, which is
// what makes a million persons take seconds (BENCHMARKS.md).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "address.h"
#include "engine.h"
#include "lmdb_store.h"
#include "result.h"
#include "text_match.h"

namespace mash::agent {

// The identifier schemes an agency may hold, in the order of the persons.csv columns.
inline constexpr std::string_view kIdentifierSchemes[] = {"nhs", "upn", "pnc", "probation",
                                                          "housing"};

// Normalises an identifier for comparison (NHS: digits only, and the check digit must be right;
// others: upper case without spaces). nullopt if it is not a usable identifier of that scheme.
std::optional<std::string> normalise_identifier(std::string_view scheme, std::string_view value);

// The agency's own identifier schemes (declared in [matching] identifier_schemes): a scheme
// name is 2 to 32 lower-case letters, digits or '-', and not a national scheme. Their values are
// compared in upper case without spaces: 1 to 32 letters, digits or / - . _ (nullopt otherwise).
// Unlike a national identifier, agreement on one is strong evidence, not a decision.
bool is_national_scheme(std::string_view scheme);
bool valid_local_scheme(std::string_view scheme);
std::optional<std::string> normalise_local_identifier(std::string_view value);

// At most this many previous addresses are kept per person (the most recent first).
inline constexpr size_t kMaxPreviousAddresses = 8;

// What matching knows about a person: normalised tokens, parsed date, postcodes and addresses.
struct PersonFeatures {
  std::string id;
  std::vector<std::string> forenames;        // tokens, first given name first
  std::vector<std::string> surnames;         // tokens of the surname
  std::vector<std::string> other_forenames;  // from previous names and aliases
  std::vector<std::string> other_surnames;
  text::Ymd dob;                             // y == 0 when unknown
  char gender = 0;                           // 'f', 'm', 'o', or 0 when unknown
  // Normalised postcode: a UK one as "SW1A 1AA" (always with its space), any other as its
  // letters and digits in upper case ("2119"); empty when unknown.
  std::string postcode;
  std::vector<std::string> previous_postcodes;
  addr::Address address;                     // empty when unknown
  std::vector<addr::Address> previous_addresses;
  std::string uprn;                          // Unique Property Reference Number, digits, or empty
  std::vector<std::pair<std::string, std::string>> identifiers;  // (scheme, normalised value)

  std::string encode() const;
  static Result<PersonFeatures> decode(std::string_view bytes);
  // Decodes into an existing object, reusing its memory (the matcher's hot loop).
  static Status decode_into(std::string_view bytes, PersonFeatures& out);
};

// A person's details as given, by the agency's extract or an enquiry, before normalising.
struct PersonDetails {
  std::string forenames, surname;
  std::vector<std::string> other_names;  // whole names, "forenames surname"
  std::string date_of_birth;             // YYYY-MM-DD
  std::string gender;
  std::string address;                   // one line
  std::vector<std::string> previous_addresses;
  std::string postcode;
  std::vector<std::string> previous_postcodes;
  std::string uprn;
  // (scheme, value as given): national schemes and the agency's own (callers keep out schemes
  // the agency has not declared).
  std::vector<std::pair<std::string, std::string>> identifiers;
};

// Builds features from a person's details. Values that cannot be used (a date that is not one,
// an address line that does not parse, an invalid identifier) are left out: callers that must
// report them check first (check_postcode, addr::parse_address, normalise_uprn,
// normalise_identifier).
PersonFeatures make_features(std::string id, const PersonDetails& details);
// As above, with the addresses already parsed (details.address and previous_addresses unused).
PersonFeatures make_features(std::string id, const PersonDetails& details, addr::Address address,
                             std::vector<addr::Address> previous_addresses);

// A postcode for comparison: a valid UK postcode normalised ("SW1A 1AA"); any other as its
// letters and digits in upper case, 2 to 12 of them with at least one digit ("2119", "75008");
// nullopt otherwise (only punctuation, too long, or a placeholder such as "NFA" or "NONE").
std::optional<std::string> normalise_postcode(std::string_view text);

// A UPRN: 1 to 12 digits (leading zeros dropped); nullopt otherwise.
std::optional<std::string> normalise_uprn(std::string_view text);

// The blocking keys of a person (deduplicated): phonetic surname + birth year, date of birth
// with day and month in either order, nickname-normalised forename + birth year, sorted name
// tokens, each postcode; and keys that need no date of birth, so that a wrongly typed one does
// not hide the true record: phonetic surname + forename initial, building number + street,
// building number + locality, postcode + building number, and the UPRN.
std::vector<std::string> blocking_keys(const PersonFeatures& p);

struct Fact {
  std::string field, value, date, source, record_type;
  bool restricted = false;

  std::string encode() const;
  static Result<Fact> decode(std::string_view bytes);
};

struct ImportOptions;
struct ImportReport;

struct ExtractInfo {
  uint64_t persons = 0, facts = 0;
  int64_t imported_at_ms = 0;  // 0: nothing imported yet
  std::string persons_file, facts_file;
};

class ExtractStore {
 public:
  // `map_size` bounds the database file (sparse until used).
  static Result<std::unique_ptr<ExtractStore>> open(const std::filesystem::path& dir,
                                                    size_t map_size = 64ull << 30);

  Result<Txn> begin_read() const { return env_.begin_read(); }
  Result<ExtractInfo> info(const Txn& txn) const;
  Result<std::optional<PersonFeatures>> person(const Txn& txn, std::string_view id) const;
  // As person(), into `out`; false if there is no such person.
  Result<bool> person_into(const Txn& txn, std::string_view id, PersonFeatures& out) const;
  // Person ids under a blocking key, at most `cap` (a block bigger than that is too common to
  // tell people apart; `truncated` says so).
  Status block(const Txn& txn, std::string_view key, size_t cap, std::vector<std::string>& ids,
               bool* truncated = nullptr) const;
  Status by_identifier(const Txn& txn, std::string_view scheme, std::string_view value,
                       std::vector<std::string>& ids) const;
  // How many persons carry this surname token ("s|" + token) or forename root ("f|" + root).
  Result<uint64_t> frequency(const Txn& txn, std::string_view key) const;
  Result<std::vector<Fact>> facts(const Txn& txn, std::string_view person_id) const;

 private:
  friend Result<ImportReport> import_extract(ExtractStore& store, const ImportOptions& options);
  explicit ExtractStore(Env env) : env_(std::move(env)) {}
  Env env_;
  Dbi persons_, facts_, blocks_, ids_, freq_, meta_;
};

struct ImportOptions {
  std::filesystem::path persons, facts;
  std::filesystem::path mapping;   // empty: the columns already have our names
  bool dry_run = false;            // check and report, change nothing
  bool strict = false;             // any bad row refuses the whole import
  std::string agency;              // facts must use this agency's field ids
  std::vector<std::string> identifier_schemes;  // the agency's own schemes ([matching])
  const policy::Agreement* agreement = nullptr;
  size_t max_problems_listed = 1000;
};

struct ImportReport {
  uint64_t persons_read = 0, persons_imported = 0;
  uint64_t facts_read = 0, facts_imported = 0;
  uint64_t problem_count = 0;
  std::vector<std::string> problems;  // "FILE:LINE: reason", the first max_problems_listed
  std::vector<std::string> notes;     // e.g. columns that are not used
  bool committed = false;
  double seconds = 0;
  double read_persons_seconds = 0, read_facts_seconds = 0, write_seconds = 0;  // phases
};

// Reads, checks and (unless dry_run) replaces the extract. An error Result means nothing was
// changed: a missing column, a broken file limit, a bad mapping, or (strict) any bad row.
Result<ImportReport> import_extract(ExtractStore& store, const ImportOptions& options);

}  // namespace mash::agent
