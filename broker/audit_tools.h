// The data protection officer's tools over the broker's audit store (DESIGN.md sections 7 and 8):
// search by person, user, agency, case, event type and time; a case's timeline; a subject access
// report; access statistics; and flags for unusual patterns of access. Pure functions over an
// AuditReader: they only read, and return values (an empty result is not an error).
//
// Caveats:
// - Searches go through the store's index keys, which the Merkle tree does not cover. Every hit
//   is re-checked against its parsed record, so a damaged index cannot add a wrong event to a
//   result, but it could hide one: check the records themselves with `mash-audit verify`.
// - A record that is not an audit event (audit_event.h) is a store problem: kDataLoss, naming
//   its index.
// - Results are bounded. Lists stop at `limit` events (default 10,000) and say `truncated`; each
//   index lookup stops at `scan_limit` hits (default 1,000,000), and when that cuts a lookup the
//   result is marked `truncated` too. Statistics and flags examine at most `scan_limit` events.
// - Times are UTC throughout, days are UTC calendar days. Ranges are inclusive at both ends, and
//   an upper bound covers the whole of the precision it is written to ("2026-11-22" as `to` is up
//   to 23:59:59.999 that day).
// - Only records that existed when the reader was opened are seen.
// - The reports carry pseudonyms only where they must (the flags about a person); the subject
//   access report and event lists never need a caller to print them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit_event.h"
#include "audit_log.h"
#include "result.h"

namespace mash::broker {

inline constexpr size_t kDefaultAuditLimit = 10'000;
inline constexpr size_t kDefaultAuditScanLimit = 1'000'000;
inline constexpr size_t kMaxQueryPseudonyms = 64;

// ---------------------------------------------------------------------------------------------
// Times

enum class TimeBound { kFrom, kTo };

// Parses an ISO-8601 UTC time, YYYY-MM-DD[THH:MM[:SS[.f{1,3}]]][Z] (years 1970 to 9999), into Unix
// milliseconds. As kFrom it is the start of what is written; as kTo the end of it (a date alone
// ends at 23:59:59.999, a minute at :59.999, a second at .999). kInvalidArgument otherwise.
Result<int64_t> parse_audit_time(std::string_view text, TimeBound bound);

// ---------------------------------------------------------------------------------------------
// Search

struct AuditQuery {
  // One person's pseudonyms (pseudonym.h): an event naming any of them matches. Unset: any
  // subject (or none). Set but empty is refused, so a person whose details gave no pseudonym can
  // never turn into "everyone".
  std::optional<std::vector<std::string>> persons;
  std::string user;  // the event's actor
  std::string agency;
  std::string case_ref;
  std::string enquiry;   // enquiry id
  std::string type;      // e.g. enquiry.created
  std::string from, to;  // parse_audit_time forms, inclusive; empty: unbounded
  size_t limit = kDefaultAuditLimit;
  size_t scan_limit = kDefaultAuditScanLimit;
};

struct IndexedEvent {
  uint64_t index = 0;  // the record's index in the log
  AuditEvent event;
};

struct EventList {
  std::vector<IndexedEvent> events;  // oldest first (log order)
  bool truncated = false;            // there may be more matches than listed
};

// Every event matching all the conditions given (AND; `persons` is an OR over pseudonyms).
Result<EventList> search(const AuditReader& reader, const AuditQuery& query);

// Everything recorded about a case: its own events and those of its enquiries that carry no case
// (enquiry.delivered), oldest first.
Result<EventList> case_timeline(const AuditReader& reader, std::string_view case_ref,
                                size_t limit = kDefaultAuditLimit);

// ---------------------------------------------------------------------------------------------
// Subject access report

struct SarAnswer {
  uint64_t index = 0;
  int64_t time_ms = 0;
  std::string outcome;         // the answer's status: answered, declined, awaiting-review
  std::string person_outcome;  // for this person: matched, possible, no-record ("" if not known)
  std::vector<std::string> fields_released;
  bool restricted = false;  // the agency holds restricted information
};

// One agency asked about the person in one enquiry.
struct SarAccess {
  std::string enquiry, case_ref, agency;
  std::optional<uint64_t> request_index;  // the enquiry.created record (unset: only answers found)
  int64_t time_ms = 0;                    // when asked (or first answered, without a request)
  std::string actor, role;                // who asked
  std::string purpose, legal_basis, consent, brag;
  std::string decision;  // the policy decision recorded with the request
  std::vector<std::string> fields_requested;
  std::optional<int64_t> delivered_ms;  // when the agency's agent took the enquiry
  std::vector<SarAnswer> answers;       // answers about this person, oldest first
};

// Someone looked at or exported the results of an enquiry about the person (or of their case).
struct SarView {
  uint64_t index = 0;
  int64_t time_ms = 0;
  std::string type;  // results.viewed or results.exported
  std::string actor, role, case_ref, enquiry;
};

struct SubjectAccessReport {
  std::vector<SarAccess> accesses;  // by time asked
  std::vector<SarView> views;       // oldest first
  std::vector<IndexedEvent> other;  // further events naming the person, of other types
  bool truncated = false;
};

// Every access to the data of the person with these pseudonyms: enquiry.created and
// answer.received joined by enquiry and agency, with who viewed or exported the results. Answers
// naming only other subjects of the same enquiry are left out. At most `limit` events are used.
Result<SubjectAccessReport> subject_access_report(const AuditReader& reader,
                                                  const std::vector<std::string>& pseudonyms,
                                                  size_t limit = kDefaultAuditLimit);

// ---------------------------------------------------------------------------------------------
// Statistics

struct AccessStatistics {
  int64_t from_ms = 0, to_ms = 0;
  uint64_t events = 0;
  std::map<std::string, uint64_t> by_type;
  std::map<std::string, std::map<std::string, uint64_t>> by_user;    // actor -> type -> count
  std::map<std::string, std::map<std::string, uint64_t>> by_agency;  // agency -> type -> count
  bool truncated = false;  // more than scan_limit events in the range: counts cover the earliest
};

// Counts of the events in [from, to] (both required).
Result<AccessStatistics> access_statistics(const AuditReader& reader, std::string_view from,
                                           std::string_view to,
                                           size_t scan_limit = kDefaultAuditScanLimit);

// ---------------------------------------------------------------------------------------------
// Unusual patterns

struct PatternThresholds {
  uint64_t enquiries_per_user_day = 40;  // N: a user creating more than N enquiries in a UTC day
  uint64_t cases_per_person = 3;         // M: a pseudonym asked about in more than M cases ...
  uint64_t enquiries_per_person = 5;     // K: ... or more than K enquiries ...
  int64_t person_window_days = 30;       // ... within this many days (a window [t, t + days))
  int64_t decision_days = 7;             // D: no decision.recorded within D days of an enquiry
};

inline constexpr const char* kFlagUserEnquiriesPerDay = "user-enquiries-per-day";
inline constexpr const char* kFlagPersonManyCases = "person-many-cases";
inline constexpr const char* kFlagPersonManyEnquiries = "person-many-enquiries";
inline constexpr const char* kFlagNoDecision = "no-decision";

struct PatternFlag {
  std::string code;  // one of kFlag...
  std::string user;  // user-enquiries-per-day, no-decision: the actor
  std::string day;   // user-enquiries-per-day: YYYY-MM-DD (UTC)
  // person-*: pseudonyms whose evidence is identical; usually one person's several pseudonyms,
  // but people always asked about together (siblings) share evidence too.
  std::vector<std::string> persons;
  std::string case_ref, enquiry;  // no-decision
  uint64_t count = 0;             // what was counted (enquiries, cases; days for no-decision)
  uint64_t threshold = 0;         // the limit it exceeded
  int64_t window_from_ms = 0, window_to_ms = 0;  // the period the evidence covers
  std::vector<uint64_t> evidence;                // record indexes, oldest first
};

struct PatternReport {
  std::vector<PatternFlag> flags;  // by code, then by first evidence
  bool truncated = false;          // more than scan_limit enquiries in the range
};

// Looks at the enquiry.created events in [from, to] (both required). Enquiries are counted once
// however many agencies they went to. An enquiry is flagged no-decision when its case has no
// decision.recorded in [created, created + D days] and created + D days <= to (judged at `to`;
// one not yet due is not flagged).
Result<PatternReport> unusual_patterns(const AuditReader& reader, std::string_view from,
                                       std::string_view to,
                                       const PatternThresholds& thresholds = {},
                                       size_t scan_limit = kDefaultAuditScanLimit);

}  // namespace mash::broker
