// The desk's work on time and on the record: overdue marks, retention purges, DPO erasures, and
// the reconciliation of the audit log with the store at start-up.
#include <set>

#include "clock.h"
#include "enquiries.h"

namespace mash::broker {

using nlohmann::json;

namespace {

const std::set<std::string> kErasureReasons = {"entered-in-error", "data-subject-request", "court-order",
                                                "agreement-ended"};

constexpr const char* kReconciled = "audit-reconciled-through";

}  // namespace

Status EnquiryDesk::reconcile() {
  // Every enquiry.created from where the last reconciliation stopped: each one's enquiry must
  // be stored, or be marked abandoned. (An enquiry not stored at run time is marked then; this
  // finds those a crash left between the audit record and the store's commit.)
  uint64_t from = 0;
  {
    auto txn = env_.begin_read();
    if (!txn.ok()) return txn.error();
    auto m = store_.marker(*txn, kReconciled);
    if (!m.ok()) return m.error();
    from = *m;
  }
  const uint64_t until = audit_.size();
  std::map<std::string, std::string> created;  // enquiry -> case ref
  std::set<std::string> abandoned;
  for (uint64_t i = from; i < until; ++i) {
    auto rec = audit_.record(i);
    if (!rec.ok()) return rec.error();
    if (rec->find("\"enquiry.") == std::string::npos) continue;  // cheap: most records are other kinds
    auto j = json::parse(*rec, nullptr, false);
    if (!j.is_object()) continue;
    const std::string type = j.value("type", ""), id = j.value("enquiry", "");
    if (type == "enquiry.created") created.emplace(id, j.value("case", ""));
    if (type == "enquiry.abandoned") abandoned.insert(id);
  }
  size_t marked = 0;
  for (const auto& [id, case_ref] : created) {
    if (abandoned.count(id)) continue;
    auto r = store_.read(id);
    if (!r.ok() && r.error().code != ErrorCode::kDataLoss) return r.error();
    if (!r.ok() || *r) continue;  // stored (a damaged record is stored: it is reported, not abandoned)
    abandon(id, case_ref, "not-stored");
    ++marked;
  }
  if (marked > 0) log_.warn("enquiries-abandoned", {{"enquiries", marked}, {"reason", "recorded but not stored"}});
  log_.info("audit-reconciled", {{"from", from}, {"to", until}, {"created", created.size()}, {"abandoned", marked}});
  return writer_.run([&](Txn& txn) -> Status { return store_.set_marker(txn, kReconciled, until); });
}

size_t EnquiryDesk::sweep_overdue(int64_t now_ms) {
  auto due = store_.due(now_ms, 256);
  size_t marked = 0;
  for (const auto& [key, id] : due) {
    auto found = store_.read(id);
    std::vector<std::string> late;
    std::string case_ref;
    if (found.ok() && *found) {
      case_ref = (*found)->case_ref;
      for (const auto& [agency, c] : (*found)->agencies) {
        if (waiting(c.status)) late.push_back(agency);
      }
    }
    if (!late.empty()) {
      AuditEvent e;
      e.type = "enquiry.overdue";
      e.actor = "hub";
      e.role = "system";
      e.case_ref = case_ref;
      e.enquiry = id;
      e.outcome = "overdue";
      std::string list;
      for (const auto& a : late) list += (list.empty() ? "" : "+") + a;
      e.extra["agencies"] = list;
      if (auto st = record(e); !st.ok()) {
        log_.error("audit-unavailable", {{"event", "enquiry.overdue"}, {"reason", st.error().message}});
        continue;  // tried again at the next sweep
      }
    }
    // The marks, on the record as it is now (an answer may have come in meanwhile).
    std::vector<std::pair<AgencyStatus, std::string>> changes;
    EnquiryRecord after;
    Status st = writer_.run([&](Txn& txn) -> Status {
      changes.clear();
      if (!late.empty()) {
        Status updated = store_.update(txn, id, [&](EnquiryRecord& r) -> Status {
          for (const auto& agency : late) {
            Transition t = transition(r.agencies[agency], CopyEvent::kDeadlinePassed, now_ms);
            if (t.changed) changes.emplace_back(t.before, agency);
          }
          after = r;
          return {};
        });
        if (!updated.ok() && updated.error().code != ErrorCode::kNotFound) return updated;
      }
      return store_.drop_due(txn, key);
    });
    if (!st.ok()) {
      log_.error("overdue-not-stored", {{"enquiry", id}, {"reason", st.error().message}});
      continue;
    }
    for (const auto& [before, agency] : changes) {
      count_status(before, AgencyStatus::kOverdue);
      notify(after, agency);
    }
    if (!late.empty()) {
      ++marked;
      log_.info("enquiry-overdue", {{"enquiry", id}, {"agencies", late.size()}});
    }
  }
  return marked;
}

Status EnquiryDesk::purge_case(const std::string& id, AuditEvent e, const std::string& reason_text) {
  if (auto st = record(std::move(e)); !st.ok()) return st;  // the record of why comes first
  if (auto st = vault_.purge(id, reason_text); !st.ok()) return st;
  const int64_t now = unix_millis_now();
  return writer_.run([&](Txn& txn) -> Status {
    Status st = store_.update(txn, id, [&](EnquiryRecord& r) -> Status {
      if (auto s = store_.set_retention(txn, r, std::nullopt); !s.ok()) return s;
      // Copies not yet delivered hold the subjects' details: they go too.
      for (const auto& [agency, c] : r.agencies) {
        if (c.delivery.empty()) continue;
        if (auto s = delivery_.forget(txn, agency, c.delivery); !s.ok()) return s;
      }
      r.purged_ms = now;
      r.purge_reason = reason_text;
      return {};
    });
    if (!st.ok() && st.error().code == ErrorCode::kNotFound) return {};
    if (!st.ok() && st.error().code == ErrorCode::kDataLoss) {
      // A damaged record: the content is gone with its case key all the same.
      log_.error("enquiry-record-damaged", {{"enquiry", id}, {"action", "content purged; the record stays as it is"}});
      return {};
    }
    return st;
  });
}

size_t EnquiryDesk::sweep_retention(int64_t now_ms) {
  auto due = store_.retention_due(now_ms, 64);
  size_t purged = 0;
  for (const auto& [key, id] : due) {
    auto found = store_.read(id);
    if (!found.ok() || !*found || (*found)->purged()) {
      (void)writer_.run([&](Txn& txn) -> Status { return store_.drop_retention(txn, key); });
      continue;
    }
    AuditEvent e;
    e.type = "case.purged";
    e.actor = "hub";
    e.role = "system";
    e.case_ref = (*found)->case_ref;
    e.enquiry = id;
    e.outcome = "retention-period-ended";
    e.extra["retention_days"] = std::to_string(policy_.agreement().case_content_days);
    if (auto st = purge_case(id, e, "retention period ended"); !st.ok()) {
      log_.error("purge-failed", {{"enquiry", id}, {"reason", st.error().message}});
      continue;  // tried again at the next sweep
    }
    ++purged;
    log_.info("case-purged", {{"enquiry", id}, {"reason", "retention-period-ended"}});
  }
  return purged;
}

std::variant<json, EnquiryError> EnquiryDesk::erase(const json& request, const EnquiryActor& actor) {
  if (actor.role != "dpo") return EnquiryError{403, "forbidden", "only the data protection officer authorises an erasure", {}};
  std::map<std::string, std::string> errors;
  std::string id, reason, note;
  if (!request.is_object()) return EnquiryError{400, "invalid", "the body must be a JSON object", {}};
  for (auto it = request.begin(); it != request.end(); ++it) {
    if (it.key() != "enquiry" && it.key() != "reason" && it.key() != "note") {
      errors[it.key().substr(0, 64)] = "is not a field of an erasure";
    }
  }
  if (read_string(request, "", "enquiry", id, errors, 32, true) && !is_code(id, 32, false)) {
    errors["enquiry"] = "is not an enquiry id";
  }
  if (read_string(request, "", "reason", reason, errors, 64, true) && !kErasureReasons.count(reason)) {
    errors["reason"] = "must be one of entered-in-error, data-subject-request, court-order, agreement-ended";
  }
  if (read_string(request, "", "note", note, errors, 2000, true) && note.size() < 10) {
    errors["note"] = "say why the erasure is lawful (at least 10 characters)";
  }
  if (!errors.empty()) return EnquiryError{400, "invalid", "the erasure has errors; nothing was erased", errors};
  auto found = store_.read(id);
  if (!found.ok() && found.error().code != ErrorCode::kDataLoss) {
    return EnquiryError{503, "unavailable", found.error().message, {}};
  }
  // A damaged record can still be erased: the content is destroyed by its case key.
  if (found.ok() && !*found) return EnquiryError{404, "not-found", "no such enquiry", {}};
  if (found.ok() && (*found)->purged()) {
    return EnquiryError{409, "already-purged", "this enquiry's content is already destroyed", {}};
  }
  AuditEvent e;
  e.type = "case.erased";
  e.actor = actor.user_id;
  e.role = actor.role;
  e.case_ref = found.ok() ? (*found)->case_ref : "";
  e.enquiry = id;
  e.outcome = reason;
  e.digest = hash_hex(note);  // the note is the DPO's free text: kept out of the log, its hash in it
  if (auto st = purge_case(id, e, "erased: " + reason); !st.ok()) {
    return EnquiryError{503, "unavailable", "the erasure could not be completed: " + st.error().message, {}};
  }
  log_.info("case-erased", {{"enquiry", id}, {"reason", reason}});
  return json{{"enquiry", id}, {"erased", true}, {"reason", reason}};
}

}  // namespace mash::broker
