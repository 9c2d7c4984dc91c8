#include "enquiry_record.h"

#include <algorithm>

#include "clock.h"
#include "crypto.h"

namespace mash::broker {

using nlohmann::json;

// A new id: 6 bytes of the time (milliseconds, big-endian) and 10 random bytes. Ids made one
// after another sort together, so every table keyed by them (here and at the agents) takes new
// entries at its end: a commit then writes a few pages instead of one page per table per id.
// The 80 random bits keep ids unguessable.
std::string new_id_hex(std::vector<uint8_t>* raw) {
  std::vector<uint8_t> b(16);
  random_bytes(b);
  const auto ms = static_cast<uint64_t>(std::max<int64_t>(unix_millis_now(), 0));
  for (int i = 0; i < 6; ++i) b[static_cast<size_t>(i)] = static_cast<uint8_t>(ms >> (8 * (5 - i)));
  if (raw) *raw = b;
  return to_hex(b);
}

std::string hash_hex(std::string_view s) {
  auto h = sha256(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
  return to_hex(h).substr(0, 32);
}

bool may_see(const std::string& owner, const std::string& team, const EnquiryActor& actor) {
  if (actor.role == "researcher") return !owner.empty() && owner == actor.user_id;
  if (actor.role == "manager") return !team.empty() && team == actor.team;
  return false;  // DPOs and admins never see case content
}

namespace {
constexpr std::pair<AgencyStatus, const char*> kNames[] = {
    {AgencyStatus::kQueued, "queued"},     {AgencyStatus::kDelivered, "delivered"},
    {AgencyStatus::kAwaitingReview, "awaiting-review"}, {AgencyStatus::kAnswered, "answered"},
    {AgencyStatus::kDeclined, "declined"}, {AgencyStatus::kOverdue, "overdue"},
    {AgencyStatus::kFailed, "failed"}};
}  // namespace

const char* status_name(AgencyStatus s) {
  for (const auto& [v, name] : kNames) {
    if (v == s) return name;
  }
  return "queued";
}

std::optional<AgencyStatus> parse_status(std::string_view s) {
  for (const auto& [v, name] : kNames) {
    if (s == name) return v;
  }
  return std::nullopt;
}

bool waiting(AgencyStatus s) {
  return s == AgencyStatus::kQueued || s == AgencyStatus::kDelivered || s == AgencyStatus::kAwaitingReview;
}

bool final_answer(AgencyStatus s) { return s == AgencyStatus::kAnswered || s == AgencyStatus::kDeclined; }

Transition transition(AgencyCopy& c, CopyEvent event, int64_t now_ms, bool late, const std::string& reason) {
  Transition t{false, c.status};
  auto move_to = [&](AgencyStatus to) {
    t.changed = c.status != to;
    c.status = to;
    c.updated_ms = now_ms;
  };
  switch (event) {
    case CopyEvent::kAcknowledged:
      if (!c.delivered_ms) c.delivered_ms = now_ms;
      if (c.status == AgencyStatus::kQueued) {
        move_to(AgencyStatus::kDelivered);
      } else if (c.status == AgencyStatus::kOverdue && c.was == AgencyStatus::kQueued) {
        c.was = AgencyStatus::kDelivered;  // delivered late: still overdue
      }
      break;
    case CopyEvent::kHeldForReview:
      if (final_answer(c.status)) break;  // a final answer already held is kept
      if (c.status == AgencyStatus::kOverdue) {
        c.was = AgencyStatus::kAwaitingReview;  // stays overdue until it answers
        break;
      }
      move_to(AgencyStatus::kAwaitingReview);
      break;
    case CopyEvent::kAnswered:
    case CopyEvent::kDeclined:
      if (final_answer(c.status)) break;
      move_to(event == CopyEvent::kAnswered ? AgencyStatus::kAnswered : AgencyStatus::kDeclined);
      c.was.reset();
      if (late) c.late = true;
      break;
    case CopyEvent::kRefusedForGood:
      if (final_answer(c.status) || c.status == AgencyStatus::kFailed) break;
      move_to(AgencyStatus::kFailed);
      c.failure = reason;
      break;
    case CopyEvent::kDeadlinePassed:
      if (!waiting(c.status)) break;
      c.was = c.status;
      move_to(AgencyStatus::kOverdue);
      break;
  }
  return t;
}

AgencyStatus EnquiryRecord::shown(const AgencyCopy& copy, int64_t now_ms) const {
  if (waiting(copy.status) && now_ms > deadline_ms) return AgencyStatus::kOverdue;
  return copy.status;
}

namespace {

json copy_json(const AgencyCopy& c) {
  json a = {{"delivery", c.delivery}, {"status", status_name(c.status)}, {"fields", c.fields},
            {"not_permitted", c.not_permitted}, {"updated_ms", c.updated_ms}};
  if (c.was) a["was"] = status_name(*c.was);
  if (c.delivered_ms) a["delivered_ms"] = *c.delivered_ms;
  if (c.late) a["late"] = true;
  if (!c.failure.empty()) a["failure"] = c.failure;
  if (c.content_discarded) a["content_discarded"] = true;
  return a;
}

json record_json(const EnquiryRecord& r) {
  json agencies = json::object();
  for (const auto& [id, c] : r.agencies) agencies[id] = copy_json(c);
  json j = {{"id", r.id}, {"case_ref", r.case_ref}, {"local_authority", r.local_authority}, {"owner", r.owner},
            {"team", r.team}, {"brag", r.brag}, {"purpose", r.purpose}, {"legal_basis", r.legal_basis},
            {"consent", r.consent}, {"created_ms", r.created_ms}, {"deadline_ms", r.deadline_ms},
            {"policy_version", r.policy_version}, {"agencies", agencies}};
  if (!r.follows.empty()) j["follows"] = r.follows;
  if (!r.follow_ups.empty()) j["follow_ups"] = r.follow_ups;
  if (!r.decision.empty()) j["decision"] = r.decision;
  if (r.purge_at_ms) j["purge_at_ms"] = *r.purge_at_ms;
  if (r.purged_ms) j["purged_ms"] = *r.purged_ms;
  if (!r.purge_reason.empty()) j["purge_reason"] = r.purge_reason;
  return j;
}

}  // namespace

std::string EnquiryRecord::to_json() const { return record_json(*this).dump(); }

Result<EnquiryRecord> EnquiryRecord::from_json(std::string_view text) {
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return make_error(ErrorCode::kDataLoss, "the enquiry record is not JSON");
  try {
    EnquiryRecord r;
    r.id = j.at("id").get<std::string>();
    r.case_ref = j.value("case_ref", "");
    r.local_authority = j.value("local_authority", "");
    r.owner = j.value("owner", "");
    r.team = j.value("team", "");
    r.brag = j.value("brag", "");
    r.purpose = j.value("purpose", "");
    r.legal_basis = j.value("legal_basis", "");
    r.consent = j.value("consent", "");
    r.created_ms = j.value("created_ms", int64_t{0});
    r.deadline_ms = j.at("deadline_ms").get<int64_t>();
    r.policy_version = j.value("policy_version", uint64_t{0});
    for (const auto& [agency, a] : j.at("agencies").items()) {
      AgencyCopy c;
      c.delivery = a.value("delivery", "");
      auto s = parse_status(a.value("status", "queued"));
      if (!s) return make_error(ErrorCode::kDataLoss, "the enquiry record has an unknown status");
      c.status = *s;
      if (a.contains("was")) c.was = parse_status(a["was"].get<std::string>());
      c.fields = a.value("fields", std::vector<std::string>{});
      c.not_permitted = a.value("not_permitted", json::array());
      c.updated_ms = a.value("updated_ms", int64_t{0});
      if (a.contains("delivered_ms")) c.delivered_ms = a["delivered_ms"].get<int64_t>();
      c.late = a.value("late", false);
      c.failure = a.value("failure", "");
      c.content_discarded = a.value("content_discarded", false);
      r.agencies.emplace(agency, std::move(c));
    }
    r.follows = j.value("follows", "");
    r.follow_ups = j.value("follow_ups", std::vector<std::string>{});
    r.decision = j.value("decision", "");
    if (j.contains("purge_at_ms")) r.purge_at_ms = j["purge_at_ms"].get<int64_t>();
    if (j.contains("purged_ms")) r.purged_ms = j["purged_ms"].get<int64_t>();
    r.purge_reason = j.value("purge_reason", "");
    return r;
  } catch (const json::exception& e) {
    return make_error(ErrorCode::kDataLoss, std::string("the enquiry record is damaged: ") + e.what());
  }
}

json EnquiryRecord::view(int64_t now_ms) const {
  json j = record_json(*this);
  for (const auto& [id, c] : agencies) {
    const AgencyStatus s = shown(c, now_ms);
    if (s != c.status) {
      j["agencies"][id]["status"] = status_name(s);
      j["agencies"][id]["was"] = status_name(c.status);
    }
  }
  return j;
}

json EnquiryRecord::status_event(const std::string& agency) const {
  const auto found = agencies.find(agency);
  if (found == agencies.end()) return json::object();
  const AgencyCopy& c = found->second;
  return {{"enquiry", id},
          {"case_ref", case_ref},
          {"agency", agency},
          {"status", status_name(shown(c, unix_millis_now()))},
          {"late", c.late},
          {"updated_ms", c.updated_ms},
          {"deadline_ms", deadline_ms}};
}

}  // namespace mash::broker
