// What goes into an audit record: a structured event with no plaintext personal data.
//
// Subjects appear only as pseudonyms (pseudonym.h); every other field is an id, a code or a
// hash, restricted to a small character set, so free text typed by a user (a concerns
// summary, a justification) cannot be copied into the log by accident: record its hash in
// `digest` instead. Records are canonical JSON (sorted keys), and carry index keys for search:
// type, actor, agency, case, enquiry, subject (one per pseudonym), time (ISO-8601 UTC).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "clock.h"
#include "result.h"

namespace mash {

struct AuditEvent {
  std::string type;         // e.g. login.succeeded, enquiry.created, answer.received, results.viewed
  int64_t time_ms = 0;      // Unix milliseconds, UTC
  std::string actor;        // user id, "agent:<agency>" or "system"
  std::string role;         // researcher, manager, dpo, admin, agent, system
  std::string agency;
  std::string case_ref;
  std::string enquiry;      // enquiry id (hex)
  std::vector<std::string> subjects;  // pseudonyms, "<kind>:<64 hex>"
  std::string purpose, legal_basis, consent, brag;
  std::vector<std::string> fields;    // field ids (requested, released or withheld)
  std::string outcome;      // e.g. ok, refused, matched, no-record, possible, overdue
  bool restricted = false;  // the agency flagged restricted information
  std::string digest;       // hex hash of something not recorded itself (a signed answer, a text)
  std::map<std::string, std::string> extra;  // further ids or codes, same rules
};

// Refuses anything that could carry free text or personal data (see top of file).
Status validate_event(const AuditEvent& e);
// Canonical JSON; validates first.
Result<std::string> event_to_record(const AuditEvent& e);
Result<AuditEvent> event_from_record(std::string_view record);
// (name, value) index keys for AuditLog::append.
std::vector<std::pair<std::string, std::string>> event_index_keys(const AuditEvent& e);

}  // namespace mash
