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

std::string hash_hex(std::string_view s) {
  auto h = sha256(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
  return to_hex(h).substr(0, 32);
}

// A new id: 6 bytes of the time (milliseconds, big-endian) and 10 random bytes. Ids made one
// after another sort together, so every table keyed by them (here and at the agents) takes new
// entries at its end: a commit then writes a few pages instead of one page per table per id.
// The 80 random bits keep ids unguessable.
std::string new_id_hex(std::vector<uint8_t>* raw = nullptr) {
  std::vector<uint8_t> b(16);
  random_bytes(b);
  const auto ms = static_cast<uint64_t>(std::max<int64_t>(unix_millis_now(), 0));
  for (int i = 0; i < 6; ++i) b[static_cast<size_t>(i)] = static_cast<uint8_t>(ms >> (8 * (5 - i)));
  if (raw) *raw = b;
  return to_hex(b);
}

// Answer latency buckets (seconds) for /metrics.
constexpr double kLatencyBounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 10, 60, 600, 3600, 14400, 86400};
// A user asking about the same person more than this many times in the window is flagged.
constexpr int kRepeatLookups = 3;
constexpr int64_t kRepeatWindowMs = 30LL * 86'400'000;
// An idempotency key is honoured this long.
constexpr int64_t kIdempotencyMs = 86'400'000;

bool valid_idempotency_key(const std::string& k) {
  if (k.empty() || k.size() > 128) return false;
  return std::all_of(k.begin(), k.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == ':' || c == '-';
  });
}

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

std::variant<json, EnquiryError> EnquiryDesk::submit(const json& request, const EnquiryActor& actor,
                                                     const std::string& idempotency_key) {
  if (actor.role != "researcher" && actor.role != "manager") {
    return EnquiryError{403, "forbidden", "only researchers and managers make enquiries", {}};
  }
  std::string request_hash;
  if (!idempotency_key.empty()) {
    if (!valid_idempotency_key(idempotency_key)) {
      return EnquiryError{400, "invalid", "the Idempotency-Key header must be 1 to 128 of A-Z a-z 0-9 . _ : -",
                          {{"Idempotency-Key", "must be 1 to 128 of A-Z a-z 0-9 . _ : -"}}};
    }
    request_hash = hash_hex(request.dump());
    if (auto earlier = replay(actor, idempotency_key, request_hash)) return *earlier;
  }
  auto checked = check_enquiry(request, policy_);
  if (auto* e = std::get_if<EnquiryError>(&checked)) return *e;
  auto& c = std::get<EnquiryRequest>(checked);
  std::map<std::string, std::string> empty_agency;
  for (size_t i = 0; i < c.agencies.size(); ++i) {
    if (c.agencies[i].asked.empty()) {
      empty_agency["agencies[" + std::to_string(i) + "]"] =
          "nothing may be asked of " + c.agencies[i].id + " for this purpose, basis, consent and BRAG (see the preview)";
    }
  }
  if (!empty_agency.empty()) return EnquiryError{400, "invalid", "an agency would be asked nothing", empty_agency};
  if (!c.follows.empty()) {
    if (auto refused = check_follow_up(c.follows, c, actor)) return *refused;
  }

  // The agreement's rate limits: this enquiry takes a place in the user's window now, so that
  // concurrent submissions cannot both take the last one; it gives the place back if it is not
  // stored.
  const int64_t now = unix_millis_now();
  if (!take_rate_slot(actor.user_id, now)) {
    const auto& a = policy_.agreement();
    AuditEvent refused;
    refused.type = "enquiry.refused";
    refused.actor = actor.user_id;
    refused.role = actor.role;
    refused.outcome = "rate-limited";
    (void)record(refused);
    return EnquiryError{429, "rate-limited",
                        "the agreement allows " + std::to_string(a.enquiries_per_user_per_hour) + " enquiries an hour and " +
                            std::to_string(a.enquiries_per_user_per_day) + " a day per user; ask your manager if this is urgent",
                        {}};
  }
  struct SlotGuard {
    EnquiryDesk* desk;
    const std::string& user;
    int64_t at;
    bool keep = false;
    ~SlotGuard() {
      if (!keep) desk->give_back_rate_slot(user, at);
    }
  } slot{this, actor.user_id, now};

  const std::string id = new_id_hex();
  const int64_t deadline = now + c.deadline_minutes * 60'000LL;
  const auto& agreement = policy_.agreement();

  // 1. The audit record first: who asked what of whom, under which basis, about whom.
  AuditEvent e;
  e.type = "enquiry.created";
  e.actor = actor.user_id;
  e.role = actor.role;
  e.case_ref = c.case_ref;
  e.enquiry = id;
  e.purpose = c.purpose;
  e.legal_basis = c.legal_basis;
  e.consent = c.consent;
  e.brag = c.brag;
  e.outcome = "permitted";
  e.digest = hash_hex(c.concerns);
  std::set<std::string> pseudos;
  std::map<std::string, std::string> ref_keys;  // "ref.<subject ref>" -> its pseudonyms' first 16 hex digits
  for (const auto& s : c.subjects) {
    PersonDetails pd;
    pd.forenames = s.forenames;
    pd.surname = s.surname;
    pd.date_of_birth = s.date_of_birth;
    for (const auto& [scheme, value] : s.identifiers) pd.identifiers.emplace_back(scheme, value);
    std::string prefixes;
    size_t n = 0;
    for (auto& p : pseudonyms_.pseudonyms(pd)) {
      // Which subject each pseudonym belongs to, so that a subject access report can give the
      // outcome for that person (answers give outcomes per subject ref).
      auto colon = p.find(':');
      if (colon != std::string::npos && n < 7) prefixes += (n++ ? "+" : "") + p.substr(colon + 1, 16);
      pseudos.insert(p);
    }
    if (!prefixes.empty()) ref_keys["ref." + s.ref] = prefixes;
  }
  e.subjects.assign(pseudos.begin(), pseudos.end());
  if (e.subjects.size() > 64) e.subjects.resize(64);
  std::string agency_list;
  for (const auto& a : c.agencies) {
    agency_list += (agency_list.empty() ? "" : "+") + a.id;
    e.extra["justification." + a.id] = hash_hex(a.justification);
    for (const auto& f : a.asked) e.fields.push_back(f);
    if (!a.not_permitted.empty()) e.extra["not_permitted." + a.id] = std::to_string(a.not_permitted.size());
  }
  e.extra["agencies"] = agency_list;
  if (!c.follows.empty()) e.extra["follows"] = c.follows;
  e.extra["local_authority"] = c.local_authority;
  for (auto& [k, v] : ref_keys) {
    if (e.extra.size() >= 64) break;  // the audit record's limit; the report then gives answer statuses
    e.extra[k] = v;
  }
  if (auto st = record(e); !st.ok()) {
    log_.error("audit-unavailable", {{"event", "enquiry.created"}, {"reason", st.error().message}});
    return EnquiryError{503, "audit-unavailable", "the enquiry cannot be recorded, so it was not stored or sent", {}};
  }

  // 2. Case content (encrypted under the enquiry's key), one signed copy per agency for the
  //    outbox, and the index records, all in one operation of the store's group commit.
  const std::string content = c.to_json().dump();
  EnquiryRecord rec;
  rec.id = id;
  rec.case_ref = c.case_ref;
  rec.local_authority = c.local_authority;
  rec.owner = actor.user_id;
  rec.team = actor.team;
  rec.brag = c.brag;
  rec.purpose = c.purpose;
  rec.legal_basis = c.legal_basis;
  rec.consent = c.consent;
  rec.created_ms = now;
  rec.deadline_ms = deadline;
  rec.policy_version = static_cast<uint64_t>(agreement.version);
  rec.follows = c.follows;
  struct Copy {
    std::string agency, delivery_hex;
    std::vector<uint8_t> frame;
  };
  std::vector<Copy> copies;
  for (const auto& a : c.agencies) {
    std::vector<uint8_t> delivery;
    std::string delivery_hex = new_id_hex(&delivery);
    auto bytes = build_enquiry_body(c, a, agreement, delivery, now, deadline);
    auto sig = sign_envelope(key_, kEnquiryDomain, bytes);
    AgencyCopy copy;
    copy.delivery = delivery_hex;
    copy.fields = a.asked;
    copy.not_permitted = a.not_permitted;
    copy.updated_ms = now;
    rec.agencies.emplace(a.id, std::move(copy));
    copies.push_back({a.id, delivery_hex, make_enquiry_frame(delivery, bytes, sig, FrameLimits{})});
  }
  std::vector<std::string> crossed;
  bool duplicate = false;
  Status stored = writer_.run([&](Txn& txn) -> Status {
    duplicate = false;
    if (!idempotency_key.empty()) {
      // Checked again here, where a concurrent retry with the same key cannot slip past.
      auto first = store_.idempotent(txn, actor.user_id, idempotency_key);
      if (!first.ok()) return first.error();
      if (*first && (*first)->at_ms + kIdempotencyMs >= now) {
        duplicate = true;
        return make_error(ErrorCode::kAlreadyExists, "a retry with the same idempotency key");
      }
      if (auto st = store_.put_idempotent(txn, actor.user_id, idempotency_key, {request_hash, id, now}); !st.ok()) return st;
    }
    if (auto st = vault_.put(txn, id, "request",
                             std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(content.data()), content.size()));
        !st.ok()) {
      return st;
    }
    for (const auto& cp : copies) {
      if (auto st = delivery_.put(txn, id, cp.agency, cp.delivery_hex, cp.frame); !st.ok()) return st;
      if (auto st = store_.add_delivery(txn, cp.delivery_hex, id, cp.agency); !st.ok()) return st;
    }
    if (auto st = store_.put(txn, rec); !st.ok()) return st;
    if (!c.follows.empty()) {
      // The earlier enquiry lists its follow-ups (read here, inside the write, so that a status
      // change stored meanwhile is kept), checked again where nothing can change under it.
      Status linked = store_.update(txn, c.follows, [&](EnquiryRecord& earlier) -> Status {
        if (earlier.purged()) return make_error(ErrorCode::kFailedPrecondition, "the enquiry this follows was purged");
        if (earlier.follow_ups.size() >= kMaxFollowUps) {
          return make_error(ErrorCode::kFailedPrecondition, "the enquiry this follows has too many follow-ups");
        }
        earlier.follow_ups.push_back(id);
        return {};
      });
      if (!linked.ok()) return linked;
    }
    if (auto st = store_.add_due(txn, deadline, id); !st.ok()) return st;
    if (auto st = store_.add_owner_entry(txn, actor.user_id, now, id); !st.ok()) return st;
    auto lookups = count_lookups(txn, actor.user_id, id, e.subjects, now);
    if (!lookups.ok()) return lookups.error();
    crossed = std::move(lookups).value();
    return {};
  });
  if (!stored.ok()) {
    abandon(id, c.case_ref, duplicate ? "duplicate-request" : "not-stored");
    if (duplicate) {
      if (auto earlier = replay(actor, idempotency_key, request_hash)) return *earlier;
    }
    log_.error("enquiry-not-stored", {{"enquiry", id}, {"reason", stored.error().message}});
    return EnquiryError{503, "unavailable", "the enquiry could not be stored: " + stored.error().message, {}};
  }
  for (const auto& a : c.agencies) {
    count_status(std::nullopt, AgencyStatus::kQueued);
    notify(rec, a.id);
  }
  if (!crossed.empty()) raise_repeated_lookup_flag(actor, id, c.case_ref, crossed);
  // 3. Sent to the agents that are connected, as their windows allow; the others get it when
  //    they connect.
  for (const auto& cp : copies) delivery_.queued(cp.agency);
  slot.keep = true;
  log_.info("enquiry-created", {{"enquiry", id}, {"agencies", agency_list}});
  return json{{"id", id}, {"deadline_ms", deadline}, {"agencies", rec.view(now)["agencies"]}};
}

bool EnquiryDesk::take_rate_slot(const std::string& user_id, int64_t now_ms) {
  const auto& a = policy_.agreement();
  const int64_t hour_cap = a.enquiries_per_user_per_hour, day_cap = a.enquiries_per_user_per_day;
  if (hour_cap <= 0 && day_cap <= 0) return true;
  std::lock_guard lock(rate_mu_);
  auto [found, fresh] = rate_windows_.try_emplace(user_id);
  std::deque<int64_t>& times = found->second;  // the user's enquiries in the last day, oldest first
  // At most this many are kept: enough to decide both limits.
  const size_t keep = static_cast<size_t>(day_cap > 0 ? day_cap : hour_cap * 24) + 1;
  if (fresh) {
    // First enquiry since the hub started: the last day's, from the store (bounded by `keep`).
    for (int64_t t : store_.owner_times(user_id, now_ms - 86'400'000, keep)) times.push_back(t);
  }
  while (!times.empty() && times.front() < now_ms - 86'400'000) times.pop_front();
  const int64_t day = static_cast<int64_t>(times.size());
  const int64_t hour = static_cast<int64_t>(times.end() - std::lower_bound(times.begin(), times.end(), now_ms - 3'600'000));
  if ((hour_cap > 0 && hour >= hour_cap) || (day_cap > 0 && day >= day_cap)) return false;
  times.insert(std::upper_bound(times.begin(), times.end(), now_ms), now_ms);
  if (times.size() > keep) times.pop_front();
  return true;
}

void EnquiryDesk::give_back_rate_slot(const std::string& user_id, int64_t at_ms) {
  std::lock_guard lock(rate_mu_);
  auto found = rate_windows_.find(user_id);
  if (found == rate_windows_.end()) return;
  auto& times = found->second;
  auto it = std::lower_bound(times.begin(), times.end(), at_ms);
  if (it != times.end() && *it == at_ms) times.erase(it);
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

Result<std::vector<std::string>> EnquiryDesk::count_lookups(Txn& txn, const std::string& user_id,
                                                            const std::string& enquiry,
                                                            const std::vector<std::string>& pseudonyms, int64_t now_ms) {
  std::vector<std::string> crossed;
  for (const auto& p : pseudonyms) {
    const std::string prefix = user_id + "/" + p + "/";
    std::vector<std::string> old;
    int in_window = 0;
    {
      // Entries older than the window are forgotten (a few at a time), and the count stops just
      // past the limit: the cost does not grow with how often the person was looked up.
      auto cur = txn.cursor(store_.lookups());
      if (!cur.ok()) return cur.error();
      if (auto st = cur->seek(prefix); !st.ok()) return st.error();
      const std::string from = prefix + ms_key(now_ms - kRepeatWindowMs);
      for (; cur->valid() && cur->key().starts_with(prefix) && cur->key() < from && old.size() < 256; (void)cur->next()) {
        old.emplace_back(cur->key());
      }
      if (auto st = cur->seek(from); !st.ok()) return st.error();
      for (; cur->valid() && cur->key().starts_with(prefix) && in_window <= kRepeatLookups; (void)cur->next()) ++in_window;
    }
    for (const auto& k : old) {
      if (auto st = txn.del(store_.lookups(), k); !st.ok()) return st.error();  // outside the window: forgotten
    }
    if (auto st = txn.put(store_.lookups(), prefix + ms_key(now_ms) + "/" + enquiry, ""); !st.ok()) return st.error();
    if (in_window == kRepeatLookups) crossed.push_back(p);  // this lookup takes it over the limit
  }
  return crossed;
}

void EnquiryDesk::raise_repeated_lookup_flag(const EnquiryActor& actor, const std::string& enquiry,
                                             const std::string& case_ref, const std::vector<std::string>& crossed) {
  AuditEvent e;
  e.type = "flag.raised";
  e.actor = "hub";
  e.role = "system";
  e.case_ref = case_ref;
  e.enquiry = enquiry;
  e.outcome = "repeated-lookup";
  e.subjects = crossed;
  e.extra["user"] = actor.user_id;
  e.extra["lookups"] = std::to_string(kRepeatLookups + 1);
  e.extra["window_days"] = std::to_string(kRepeatWindowMs / 86'400'000);
  if (auto st = record(e); !st.ok()) {
    log_.error("audit-unavailable", {{"event", "flag.raised"}, {"reason", st.error().message}});
    return;
  }
  {
    std::lock_guard lock(metrics_mu_);
    ++flags_raised_;
  }
  log_.warn("flag-raised", {{"flag", "repeated-lookup"}, {"enquiry", enquiry}});
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
