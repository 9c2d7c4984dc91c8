// Submission: an enquiry checked, recorded, stored with its signed copies, and queued for
// delivery; with the agreement's rate limits and the DPO's flag for repeated lookups.
#include <set>

#include "clock.h"
#include "enquiries.h"
#include "envelope.h"
#include "link.h"

namespace mash::broker {

using nlohmann::json;

namespace {

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

}  // namespace

// One submission on its way: what the steps below make and share.
struct EnquiryDesk::Submission {
  const EnquiryRequest& request;
  const EnquiryActor& actor;
  std::string key, hash;  // idempotency key and the request's hash (empty: none)
  std::string id;
  int64_t now = 0, deadline = 0;
  AuditEvent created;
  EnquiryRecord record;
  struct Copy {
    std::string agency, delivery_hex;
    std::vector<uint8_t> frame;
  };
  std::vector<Copy> copies;
  std::vector<std::string> crossed;  // pseudonyms this enquiry takes over the repeated-lookup limit
  bool duplicate = false;            // a concurrent retry with the same key got there first
};

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
  const auto& c = std::get<EnquiryRequest>(checked);
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

  Submission sub{c, actor, idempotency_key, request_hash, new_id_hex(), unix_millis_now(), 0, {}, {}, {}, {}, false};
  sub.deadline = sub.now + c.deadline_minutes * 60'000LL;
  // The agreement's rate limits: this enquiry takes a place in the user's window now, so that
  // concurrent submissions cannot both take the last one; it gives the place back if it is not
  // stored.
  if (!take_rate_slot(actor.user_id, sub.now)) return rate_limited(actor);
  struct SlotGuard {
    EnquiryDesk* desk;
    const std::string& user;
    int64_t at;
    bool keep = false;
    ~SlotGuard() {
      if (!keep) desk->give_back_rate_slot(user, at);
    }
  } slot{this, actor.user_id, sub.now};

  // 1. The audit record first: who asked what of whom, under which basis, about whom.
  sub.created = created_event(sub);
  if (auto st = record(sub.created); !st.ok()) {
    log_.error("audit-unavailable", {{"event", "enquiry.created"}, {"reason", st.error().message}});
    return EnquiryError{503, "audit-unavailable", "the enquiry cannot be recorded, so it was not stored or sent", {}};
  }
  // 2. Case content (encrypted under the enquiry's key), one signed copy per agency for the
  //    outbox, and the index records, all in one operation of the store's group commit.
  make_record_and_copies(sub);
  if (Status stored = store_submission(sub); !stored.ok()) {
    abandon(sub.id, c.case_ref, sub.duplicate ? "duplicate-request" : "not-stored");
    if (sub.duplicate) {
      if (auto earlier = replay(actor, idempotency_key, request_hash)) return *earlier;
    }
    log_.error("enquiry-not-stored", {{"enquiry", sub.id}, {"reason", stored.error().message}});
    return EnquiryError{503, "unavailable", "the enquiry could not be stored: " + stored.error().message, {}};
  }
  for (const auto& a : c.agencies) {
    count_status(std::nullopt, AgencyStatus::kQueued);
    notify(sub.record, a.id);
  }
  if (!sub.crossed.empty()) raise_repeated_lookup_flag(actor, sub.id, c.case_ref, sub.crossed);
  // 3. Sent to the agents that are connected, as their windows allow; the others get it when
  //    they connect.
  for (const auto& cp : sub.copies) delivery_.queued(cp.agency);
  slot.keep = true;
  log_.info("enquiry-created", {{"enquiry", sub.id}, {"agencies", sub.created.extra["agencies"]}});
  return json{{"id", sub.id}, {"deadline_ms", sub.deadline}, {"agencies", sub.record.view(sub.now)["agencies"]}};
}

EnquiryError EnquiryDesk::rate_limited(const EnquiryActor& actor) {
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

AuditEvent EnquiryDesk::created_event(const Submission& sub) const {
  const EnquiryRequest& c = sub.request;
  AuditEvent e;
  e.type = "enquiry.created";
  e.actor = sub.actor.user_id;
  e.role = sub.actor.role;
  e.case_ref = c.case_ref;
  e.enquiry = sub.id;
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
  return e;
}

void EnquiryDesk::make_record_and_copies(Submission& sub) {
  const EnquiryRequest& c = sub.request;
  const auto& agreement = policy_.agreement();
  EnquiryRecord& rec = sub.record;
  rec.id = sub.id;
  rec.case_ref = c.case_ref;
  rec.local_authority = c.local_authority;
  rec.owner = sub.actor.user_id;
  rec.team = sub.actor.team;
  rec.brag = c.brag;
  rec.purpose = c.purpose;
  rec.legal_basis = c.legal_basis;
  rec.consent = c.consent;
  rec.created_ms = sub.now;
  rec.deadline_ms = sub.deadline;
  rec.policy_version = static_cast<uint64_t>(agreement.version);
  rec.follows = c.follows;
  for (const auto& a : c.agencies) {
    std::vector<uint8_t> delivery;
    std::string delivery_hex = new_id_hex(&delivery);
    auto bytes = build_enquiry_body(c, a, agreement, delivery, sub.now, sub.deadline);
    auto sig = sign_envelope(key_, kEnquiryDomain, bytes);
    AgencyCopy copy;
    copy.delivery = delivery_hex;
    copy.fields = a.asked;
    copy.not_permitted = a.not_permitted;
    copy.updated_ms = sub.now;
    rec.agencies.emplace(a.id, std::move(copy));
    sub.copies.push_back({a.id, delivery_hex, make_enquiry_frame(delivery, bytes, sig, FrameLimits{})});
  }
}

Status EnquiryDesk::store_submission(Submission& sub) {
  const std::string content = sub.request.to_json().dump();
  const std::string& id = sub.id;
  return writer_.run([&](Txn& txn) -> Status {
    sub.duplicate = false;
    if (!sub.key.empty()) {
      // Checked again here, where a concurrent retry with the same key cannot slip past.
      auto first = store_.idempotent(txn, sub.actor.user_id, sub.key);
      if (!first.ok()) return first.error();
      if (*first && (*first)->at_ms + kIdempotencyMs >= sub.now) {
        sub.duplicate = true;
        return make_error(ErrorCode::kAlreadyExists, "a retry with the same idempotency key");
      }
      if (auto st = store_.put_idempotent(txn, sub.actor.user_id, sub.key, {sub.hash, id, sub.now}); !st.ok()) return st;
    }
    if (auto st = vault_.put(txn, id, "request",
                             std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(content.data()), content.size()));
        !st.ok()) {
      return st;
    }
    for (const auto& cp : sub.copies) {
      if (auto st = delivery_.put(txn, id, cp.agency, cp.delivery_hex, cp.frame); !st.ok()) return st;
      if (auto st = store_.add_delivery(txn, cp.delivery_hex, id, cp.agency); !st.ok()) return st;
    }
    if (auto st = store_.put(txn, sub.record); !st.ok()) return st;
    if (!sub.request.follows.empty()) {
      // The earlier enquiry lists its follow-ups (read here, inside the write, so that a status
      // change stored meanwhile is kept), checked again where nothing can change under it.
      Status linked = store_.update(txn, sub.request.follows, [&](EnquiryRecord& earlier) -> Status {
        if (earlier.purged()) return make_error(ErrorCode::kFailedPrecondition, "the enquiry this follows was purged");
        if (earlier.follow_ups.size() >= kMaxFollowUps) {
          return make_error(ErrorCode::kFailedPrecondition, "the enquiry this follows has too many follow-ups");
        }
        earlier.follow_ups.push_back(id);
        return {};
      });
      if (!linked.ok()) return linked;
    }
    if (auto st = store_.add_due(txn, sub.deadline, id); !st.ok()) return st;
    if (auto st = store_.add_owner_entry(txn, sub.actor.user_id, sub.now, id); !st.ok()) return st;
    auto lookups = count_lookups(txn, sub.actor.user_id, id, sub.created.subjects, sub.now);
    if (!lookups.ok()) return lookups.error();
    sub.crossed = std::move(lookups).value();
    return {};
  });
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

}  // namespace mash::broker
