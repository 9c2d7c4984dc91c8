#include "enquiries.h"

#include "enquiry_link_item.h"

#include <algorithm>
#include <condition_variable>
#include <limits>
#include <set>
#include <sstream>

#include "audit_event.h"
#include "clock.h"
#include "envelope.h"
#include "link.h"

namespace mash::broker {

using nlohmann::json;

namespace {

// Answer latency buckets (seconds) for /metrics.
constexpr double kLatencyBounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 10, 60, 600, 3600, 14400, 86400};
// An idempotency key is honoured this long.
constexpr int64_t kIdempotencyMs = 86'400'000;

const std::set<std::string> kDecisions = {"no-further-action", "signpost", "early-help", "s17-assessment",
                                          "s47-strategy-discussion"};

}  // namespace

EnquiryDesk::EnquiryDesk(Env& env, CaseVault& vault, const policy::Policy& policy, AuditLog& audit,
                         SigningKey signing_key, Pseudonymizer pseudonyms, Logger log)
    : env_(env),
      vault_(vault),
      policy_(policy),
      audit_(audit),
      key_(std::move(signing_key)),
      pseudonyms_(std::move(pseudonyms)),
      log_(std::move(log)),
      store_(env),
      delivery_(env, vault, log_.child("delivery")),
      writer_(env),
      latency_buckets_(std::size(kLatencyBounds), 0) {}

Status EnquiryDesk::open() {
  {
    auto txn = env_.begin_write();
    if (!txn.ok()) return txn.error();
    if (auto st = delivery_.open(*txn); !st.ok()) return st;
    if (auto st = store_.open(*txn); !st.ok()) return st;
    if (auto st = txn->commit(); !st.ok()) return st;
  }
  // The status gauges start from what is stored; a damaged record is reported, not fatal.
  store_.for_each([&](const std::string& id, const Result<EnquiryRecord>& r) {
    if (!r.ok()) {
      ++damaged_records_;
      log_.error("enquiry-record-damaged", {{"enquiry", id.substr(0, 64)}, {"reason", r.error().message.substr(0, 200)}});
      return;
    }
    for (const auto& [agency, c] : r->agencies) ++status_counts_[c.status];
  });
  return reconcile();
}

void EnquiryDesk::attach(AgentListener* listener) {
  listener_ = listener;
  delivery_.set_sender([listener](const std::string& agency, std::vector<uint8_t> frame) {
    return listener && listener->send_to(agency, std::move(frame));
  });
}

std::vector<Status> EnquiryDesk::record_all(std::vector<AuditEvent>& events) {
  std::vector<Status> out(events.size());
  std::mutex m;
  std::condition_variable cv;
  size_t pending = 0;
  const int64_t now = unix_millis_now();
  for (size_t k = 0; k < events.size(); ++k) {
    AuditEvent& e = events[k];
    if (e.time_ms == 0) e.time_ms = now;
    auto rec = event_to_record(e);
    if (!rec.ok()) {
      out[k] = rec.error();
      continue;
    }
    {
      std::lock_guard lock(m);
      ++pending;
    }
    audit_.append_async(*rec, event_index_keys(e), [&, k](Result<uint64_t> r) {
      std::lock_guard lock(m);
      if (!r.ok()) out[k] = r.error();
      if (--pending == 0) cv.notify_one();
    });
  }
  std::unique_lock lock(m);
  cv.wait(lock, [&] { return pending == 0; });
  return out;
}

Status EnquiryDesk::record(AuditEvent e) {
  e.time_ms = 0;
  std::vector<AuditEvent> one{std::move(e)};
  return record_all(one)[0];
}

EnquiryDesk::OnRecord EnquiryDesk::on_record_for(const std::string& enquiry) const {
  OnRecord out;
  auto ids = audit_.find("enquiry", enquiry, 100000);
  if (!ids.ok()) return out;
  for (uint64_t idx : *ids) {
    auto rec = audit_.record(idx);
    if (!rec.ok()) continue;
    auto j = json::parse(*rec, nullptr, false);
    if (!j.is_object()) continue;
    const std::string type = j.value("type", ""), agency = j.value("agency", "");
    if (type == "answer.received") out.answers.insert(agency + "/" + j.value("digest", ""));
    if (type == "enquiry.delivered") out.delivered.insert(agency);
    if (type == "enquiry.failed") out.failed.insert(agency);
    if (type == "enquiry.abandoned") out.abandoned = true;
  }
  return out;
}

void EnquiryDesk::abandon(const std::string& id, const std::string& case_ref, const std::string& why) {
  if (on_record_for(id).abandoned) return;
  AuditEvent e;
  e.type = "enquiry.abandoned";
  e.actor = "hub";
  e.role = "system";
  e.case_ref = case_ref;
  e.enquiry = id;
  e.outcome = why;
  if (auto st = record(e); !st.ok()) {
    log_.error("audit-unavailable", {{"event", "enquiry.abandoned"}, {"reason", st.error().message}});
    return;  // found again at the next start
  }
  std::lock_guard lock(metrics_mu_);
  ++abandoned_;
}

std::variant<json, EnquiryError> EnquiryDesk::preview(const json& request) {
  auto checked = check_enquiry(request, policy_);
  if (auto* e = std::get_if<EnquiryError>(&checked)) return *e;
  auto& c = std::get<EnquiryRequest>(checked);
  json agencies = json::array();
  for (const auto& a : c.agencies) {
    agencies.push_back({{"agency", a.id}, {"asked", a.asked}, {"not_permitted", a.not_permitted}});
  }
  return json{{"agencies", agencies}, {"deadline_hours", c.deadline_hours}, {"deadline_minutes", c.deadline_minutes}};
}

std::optional<EnquiryError> EnquiryDesk::check_follow_up(const std::string& follows, const EnquiryRequest& c,
                                                         const EnquiryActor& actor) {
  auto earlier = store_.read(follows);
  if (!earlier.ok() && earlier.error().code != ErrorCode::kDataLoss) {
    return EnquiryError{503, "unavailable", earlier.error().message, {}};
  }
  // One the user may not see looks the same as one that does not exist.
  if (!earlier.ok() || !*earlier || !may_see((*earlier)->owner, (*earlier)->team, actor) || (*earlier)->purged()) {
    return EnquiryError{400, "invalid", "the enquiry has errors; nothing was stored or sent",
                        {{"follows", "is not an enquiry of yours that is still held"}}};
  }
  const EnquiryRecord& e = **earlier;
  std::map<std::string, std::string> errors;
  if (e.case_ref != c.case_ref) {
    errors["case_ref"] = "a follow-up keeps the case reference of the enquiry it follows (" + e.case_ref + ")";
  }
  for (size_t i = 0; i < c.agencies.size(); ++i) {
    if (!e.agencies.count(c.agencies[i].id)) {
      errors["agencies[" + std::to_string(i) + "]"] =
          "was not asked in the enquiry this follows: a follow-up asks the same agencies again (start a new enquiry to ask another)";
    }
  }
  if (e.follow_ups.size() >= kMaxFollowUps) {
    errors["follows"] = "already has " + std::to_string(kMaxFollowUps) + " follow-ups";
  }
  if (!errors.empty()) return EnquiryError{400, "invalid", "the enquiry has errors; nothing was stored or sent", errors};
  return std::nullopt;
}

std::optional<std::variant<json, EnquiryError>> EnquiryDesk::replay(const EnquiryActor& actor, const std::string& key,
                                                                    const std::string& hash) {
  auto txn = env_.begin_read();
  if (!txn.ok()) return EnquiryError{503, "unavailable", txn.error().message, {}};
  auto first = store_.idempotent(*txn, actor.user_id, key);
  if (!first.ok()) return EnquiryError{503, "unavailable", first.error().message, {}};
  if (!*first || (*first)->at_ms + kIdempotencyMs < unix_millis_now()) return std::nullopt;
  if ((*first)->hash != hash) {
    return EnquiryError{409, "idempotency-key-reused",
                        "this Idempotency-Key was used for a different enquiry; use a new key for a new enquiry", {}};
  }
  auto record = store_.get(*txn, (*first)->enquiry);
  if (!record.ok() || !*record) return EnquiryError{503, "unavailable", "the first enquiry with this key cannot be read", {}};
  return json{{"id", (*record)->id},
              {"deadline_ms", (*record)->deadline_ms},
              {"agencies", (*record)->view(unix_millis_now())["agencies"]},
              {"replayed", true}};
}

std::variant<json, EnquiryError> EnquiryDesk::decide(const std::string& id, const json& request, const EnquiryActor& actor) {
  if (actor.role != "manager") return EnquiryError{403, "forbidden", "only a manager records the decision", {}};
  std::map<std::string, std::string> errors;
  std::string decision, rationale;
  if (!request.is_object()) return EnquiryError{400, "invalid", "the body must be a JSON object", {}};
  if (read_string(request, "", "decision", decision, errors, 64, true) && !kDecisions.count(decision)) {
    errors["decision"] = "must be one of no-further-action, signpost, early-help, s17-assessment, s47-strategy-discussion";
  }
  if (read_string(request, "", "rationale", rationale, errors, 4000, true) && rationale.size() < 10) {
    errors["rationale"] = "say why (at least 10 characters)";
  }
  if (!errors.empty()) return EnquiryError{400, "invalid", "the decision has errors; nothing was recorded", errors};
  auto found = store_.read(is_code(id, 32, false) ? id : std::string());
  if (!found.ok() && found.error().code == ErrorCode::kDataLoss) {
    return EnquiryError{500, "damaged", "this enquiry's record is damaged; tell the hub's administrator", {}};
  }
  if (!found.ok() || !*found) return EnquiryError{404, "not-found", "no such enquiry", {}};
  const EnquiryRecord& r = **found;
  if (!may_see(r.owner, r.team, actor)) return EnquiryError{404, "not-found", "no such enquiry", {}};
  if (r.purged()) return EnquiryError{410, "purged", "this enquiry's content was destroyed", {}};
  AuditEvent e;
  e.type = "decision.recorded";
  e.actor = actor.user_id;
  e.role = actor.role;
  e.case_ref = r.case_ref;
  e.enquiry = id;
  e.outcome = decision;
  e.digest = hash_hex(rationale);
  if (auto st = record(e); !st.ok()) {
    return EnquiryError{503, "audit-unavailable", "the decision cannot be recorded, so it was not stored", {}};
  }
  const std::string bytes =
      json{{"decision", decision}, {"rationale", rationale}, {"by", actor.user_id}, {"at_ms", unix_millis_now()}}.dump();
  Status st = writer_.run([&](Txn& txn) -> Status {
    if (auto s = vault_.put(txn, id, "decision",
                            std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
        !s.ok()) {
      return s;
    }
    return store_.update(txn, id, [&](EnquiryRecord& current) -> Status {
      current.decision = decision;
      // The case is closed by its decision; its content is kept for the agreement's retention
      // period from the latest decision.
      const int64_t purge_at = unix_millis_now() + int64_t{policy_.agreement().case_content_days} * 86'400'000;
      return store_.set_retention(txn, current, purge_at);
    });
  });
  if (!st.ok()) return EnquiryError{503, "unavailable", st.error().message, {}};
  return json{{"id", id}, {"decision", decision}};
}

void EnquiryDesk::notify(const EnquiryRecord& r, const std::string& agency) {
  hub_.publish(r.id, r.owner, r.team, "status", r.status_event(agency));
}

void EnquiryDesk::count_status(std::optional<AgencyStatus> from, AgencyStatus to) {
  std::lock_guard lock(metrics_mu_);
  if (from) --status_counts_[*from];
  ++status_counts_[to];
}

void EnquiryDesk::observe_latency(int64_t ms) {
  std::lock_guard lock(metrics_mu_);
  const double s = static_cast<double>(ms) / 1000.0;
  for (size_t i = 0; i < std::size(kLatencyBounds); ++i) {
    if (s <= kLatencyBounds[i]) ++latency_buckets_[i];
  }
  ++latency_count_;
  latency_sum_s_ += s;
}

std::string EnquiryDesk::metrics_text() const {
  std::ostringstream m;
  std::lock_guard lock(metrics_mu_);
  m << "# HELP mash_enquiry_agencies Agency copies of enquiries by status (overdue once the sweep marks them).\n"
       "# TYPE mash_enquiry_agencies gauge\n";
  for (auto s : {AgencyStatus::kQueued, AgencyStatus::kDelivered, AgencyStatus::kAwaitingReview, AgencyStatus::kAnswered,
                 AgencyStatus::kDeclined, AgencyStatus::kOverdue, AgencyStatus::kFailed}) {
    auto it = status_counts_.find(s);
    m << "mash_enquiry_agencies{status=\"" << status_name(s) << "\"} " << (it == status_counts_.end() ? 0 : it->second)
      << "\n";
  }
  m << "# HELP mash_answer_latency_seconds From submission to an agency's final answer.\n"
       "# TYPE mash_answer_latency_seconds histogram\n";
  for (size_t i = 0; i < std::size(kLatencyBounds); ++i) {
    m << "mash_answer_latency_seconds_bucket{le=\"" << kLatencyBounds[i] << "\"} " << latency_buckets_[i] << "\n";
  }
  m << "mash_answer_latency_seconds_bucket{le=\"+Inf\"} " << latency_count_ << "\n"
    << "mash_answer_latency_seconds_sum " << latency_sum_s_ << "\n"
    << "mash_answer_latency_seconds_count " << latency_count_ << "\n"
    << "# HELP mash_flags_raised_total Flags raised for the DPO (repeated lookups of one person by one user).\n"
       "# TYPE mash_flags_raised_total counter\n"
    << "mash_flags_raised_total " << flags_raised_ << "\n"
    << "# HELP mash_enquiry_records_damaged Enquiry records in the case store that do not decode.\n"
       "# TYPE mash_enquiry_records_damaged gauge\n"
    << "mash_enquiry_records_damaged " << damaged_records_ << "\n"
    << "# HELP mash_answers_unreadable_total Stored answers that failed authentication when read.\n"
       "# TYPE mash_answers_unreadable_total counter\n"
    << "mash_answers_unreadable_total " << unreadable_answers_ << "\n"
    << "# HELP mash_enquiries_abandoned_total Enquiries recorded but not stored (marked enquiry.abandoned).\n"
       "# TYPE mash_enquiries_abandoned_total counter\n"
    << "mash_enquiries_abandoned_total " << abandoned_ << "\n"
    << "# HELP mash_status_watchers Open status event streams.\n# TYPE mash_status_watchers gauge\n"
    << "mash_status_watchers " << hub_.watchers() << "\n"
    << delivery_.metrics_text();
  return m.str();
}

}  // namespace mash::broker
