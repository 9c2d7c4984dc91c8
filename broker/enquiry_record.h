// An enquiry as the hub keeps it (its index record: ids and codes, never case content) and each
// agency's copy of it, with the one state machine every status change goes through.
//
// Agency copy states and what moves them (transition()):
//
//   queued ──acknowledged──▶ delivered ──held for review──▶ awaiting-review
//     │                        │                               │
//     ├──────── answered / declined (final: nothing moves them again) ◀┘
//     ├──────── refused for good ──▶ failed ──answered / declined──▶ (a late answer is kept)
//     └──────── deadline passed (from queued, delivered, awaiting-review) ──▶ overdue
//                                      overdue ──answered / declined──▶ (late)
//
// An overdue copy remembers what it was ("was": queued, delivered, awaiting-review); an
// acknowledgement or a review hold while overdue updates that, not the status. JSON appears only
// at the edges: the store (to_json/from_json) and the API (view()).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "result.h"

namespace mash::broker {

// Who is acting: a signed-in user's id, role and team.
struct EnquiryActor {
  std::string user_id, role, team;
};

// A new enquiry or delivery id (32 hex digits): 6 bytes of the time, then 10 random bytes;
// `raw` gets the 16 bytes.
std::string new_id_hex(std::vector<uint8_t>* raw = nullptr);

// The first 32 hex digits of the SHA-256 of free text: how the audit log refers to a concern, a
// justification, a rationale or a note without holding it.
std::string hash_hex(std::string_view s);

// Need to know, the one rule: a researcher sees the enquiries they own, a manager their team's;
// a DPO or an admin never sees case content.
bool may_see(const std::string& owner, const std::string& team, const EnquiryActor& actor);

enum class AgencyStatus { kQueued, kDelivered, kAwaitingReview, kAnswered, kDeclined, kOverdue, kFailed };
const char* status_name(AgencyStatus s);
std::optional<AgencyStatus> parse_status(std::string_view s);
// Still waiting for the agency's final answer (and so may become overdue).
bool waiting(AgencyStatus s);
bool final_answer(AgencyStatus s);  // answered or declined

// What happens to a copy.
enum class CopyEvent {
  kAcknowledged,   // the agent holds it
  kHeldForReview,  // the agent's interim answer: a person at the agency must approve
  kAnswered,
  kDeclined,
  kRefusedForGood,  // a bad signature, a refused policy, ...: the copy failed
  kDeadlinePassed,
};

struct AgencyCopy {
  std::string delivery;  // 32 hex digits
  AgencyStatus status = AgencyStatus::kQueued;
  std::optional<AgencyStatus> was;  // while overdue: the state it was in
  std::vector<std::string> fields;  // asked
  nlohmann::json not_permitted = nlohmann::json::array();
  int64_t updated_ms = 0;
  std::optional<int64_t> delivered_ms;
  bool late = false;               // answered after the deadline
  std::string failure;             // why it failed (refused for good)
  bool content_discarded = false;  // answered after the case's content was destroyed
};

struct Transition {
  bool changed = false;  // the status changed (watchers are told, gauges move)
  AgencyStatus before = AgencyStatus::kQueued;
};

// The one way a copy's state changes. `late` marks an answer after the deadline; `reason` is a
// failure's code.
Transition transition(AgencyCopy& copy, CopyEvent event, int64_t now_ms, bool late = false,
                      const std::string& reason = "");

struct EnquiryRecord {
  std::string id, case_ref, local_authority, owner, team, brag, purpose, legal_basis, consent;
  int64_t created_ms = 0, deadline_ms = 0;
  uint64_t policy_version = 0;
  std::map<std::string, AgencyCopy> agencies;
  std::string follows;                 // the earlier enquiry this one follows up, if any
  std::vector<std::string> follow_ups;  // later enquiries that follow this one
  std::string decision;
  std::optional<int64_t> purge_at_ms, purged_ms;
  std::string purge_reason;

  bool purged() const { return purged_ms.has_value(); }
  // The status shown at `now_ms`: a waiting copy past the deadline is overdue even before the
  // sweep marks it (the one place this is derived).
  AgencyStatus shown(const AgencyCopy& copy, int64_t now_ms) const;

  std::string to_json() const;  // as stored
  static Result<EnquiryRecord> from_json(std::string_view text);
  // As the API shows it at `now_ms`: the stored shape, with overdue derived.
  nlohmann::json view(int64_t now_ms) const;
  // What watchers are told about one agency's copy.
  nlohmann::json status_event(const std::string& agency) const;
};

}  // namespace mash::broker
