// The desk's side of the agent link: acknowledgements and answers in batches (one audit group
// commit and one store commit per batch), and refusals.
#include <limits>
#include <set>

#include "clock.h"
#include "enquiries.h"
#include "enquiry_link_item.h"
#include "framing.h"
#include "link.capnp.h"

namespace mash::broker {

using nlohmann::json;

namespace {

// The copy event an answer is, from its status.
CopyEvent answer_event(wire::AnswerBody::Status s) {
  switch (s) {
    case wire::AnswerBody::Status::ANSWERED: return CopyEvent::kAnswered;
    case wire::AnswerBody::Status::DECLINED: return CopyEvent::kDeclined;
    case wire::AnswerBody::Status::AWAITING_REVIEW: return CopyEvent::kHeldForReview;
  }
  return CopyEvent::kAnswered;
}

const char* event_status(CopyEvent e) {
  switch (e) {
    case CopyEvent::kDeclined: return "declined";
    case CopyEvent::kHeldForReview: return "awaiting-review";
    default: return "answered";
  }
}

const char* outcome_code(wire::SubjectAnswer::Outcome o) {
  switch (o) {
    case wire::SubjectAnswer::Outcome::MATCHED: return "matched";
    case wire::SubjectAnswer::Outcome::POSSIBLE: return "possible";
    case wire::SubjectAnswer::Outcome::NO_RECORD: return "no-record";
  }
  return "no-record";
}

}  // namespace

void EnquiryDesk::on_connected(const std::string& agency) { delivery_.connected(agency); }

size_t EnquiryDesk::sweep_delivery(int64_t now_ms) { return delivery_.sweep(now_ms); }

std::optional<int64_t> EnquiryDesk::retry_due(const std::string& delivery_hex) const {
  return delivery_.retry_due(delivery_hex);
}

void EnquiryDesk::on_acknowledged(const std::string& agency, const std::vector<uint8_t>& delivery_id) {
  std::vector<LinkItem> batch(1);
  batch[0].agency = agency;
  batch[0].delivery = delivery_id;
  process_link(batch);
}

bool EnquiryDesk::on_answer(const AgentAnswer& answer) {
  std::vector<LinkItem> batch(1);
  batch[0].is_answer = true;
  batch[0].agency = answer.agency;
  batch[0].answer = answer;
  process_link(batch);
  return batch[0].stored;
}

void EnquiryDesk::post_acknowledged(std::string agency, std::vector<uint8_t> delivery_id) {
  LinkItem item;
  item.agency = std::move(agency);
  item.delivery = std::move(delivery_id);
  post_link(std::move(item));
}

void EnquiryDesk::post_answer(AgentAnswer answer, std::function<void(bool)> done) {
  LinkItem item;
  item.is_answer = true;
  item.agency = answer.agency;
  item.answer = std::move(answer);
  item.done = std::move(done);
  post_link(std::move(item));
}

void EnquiryDesk::post_refused(std::string agency, std::vector<uint8_t> delivery_id, int code) {
  LinkItem item;
  item.agency = agency;
  item.task = [this, agency, d = std::move(delivery_id), code] { on_refused(agency, d, code); };
  post_link(std::move(item));
}

void EnquiryDesk::on_refused(const std::string& agency, const std::vector<uint8_t>& delivery_id, int code) {
  using C = wire::Error::Code;
  const auto c = static_cast<C>(code);
  const std::string d = to_hex(delivery_id);
  std::string enquiry;
  {
    auto txn = env_.begin_read();
    if (!txn.ok()) return;
    auto target = store_.delivery(*txn, d);
    if (!target.ok() || !*target || (*target)->second != agency) return;  // not ours, or another agency's id
    enquiry = (*target)->first;
  }
  if (c == C::OVERLOADED || c == C::AUDIT_UNAVAILABLE || c == C::UNSPECIFIED || c == C::SHUTTING_DOWN) {
    // For now: the copy stays in the outbox and goes again after its back-off (see Delivery).
    delivery_.refused_for_now(agency, d);
    log_.info("enquiry-retry", {{"enquiry", enquiry}, {"agency", agency}, {"code", code}});
    return;
  }
  // For good (a bad signature, a malformed enquiry, a refused policy): the agency's copy failed.
  const char* reason = c == C::BAD_SIGNATURE     ? "bad-signature"
                       : c == C::PROTOCOL        ? "protocol"
                       : c == C::POLICY_REJECTED ? "policy-rejected"
                       : c == C::WITNESS_ALARM   ? "witness-alarm"
                                                 : "refused";
  auto found = store_.read(enquiry);
  if (!found.ok() || !*found) return;
  auto copy = (*found)->agencies.find(agency);
  if (copy == (*found)->agencies.end()) return;
  if (final_answer(copy->second.status) || copy->second.status == AgencyStatus::kFailed) return;
  // On the record already (a store failure after the record, then the refusal again): once.
  const bool on_record = on_record_for(enquiry).failed.count(agency) > 0;
  AuditEvent e;
  e.type = "enquiry.failed";
  e.actor = "agent:" + agency;
  e.role = "agent";
  e.agency = agency;
  e.case_ref = (*found)->case_ref;
  e.enquiry = enquiry;
  e.outcome = reason;
  if (auto st = on_record ? Status() : record(e); !st.ok()) {
    log_.error("audit-unavailable", {{"event", "enquiry.failed"}, {"reason", st.error().message}});
    return;  // the copy stays in the outbox and goes again
  }
  EnquiryRecord after;
  Transition t;
  Status st = writer_.run([&](Txn& txn) -> Status {
    if (auto r = delivery_.drop(txn, enquiry, agency, d); !r.ok()) return r;
    return store_.update(txn, enquiry, [&](EnquiryRecord& r) -> Status {
      t = transition(r.agencies[agency], CopyEvent::kRefusedForGood, unix_millis_now(), false, reason);
      after = r;
      return {};
    });
  });
  if (!st.ok()) {
    log_.error("failure-not-stored", {{"enquiry", enquiry}, {"reason", st.error().message}});
    return;
  }
  delivery_.settled(agency, {d});
  if (t.changed) {
    count_status(t.before, AgencyStatus::kFailed);
    notify(after, agency);
  }
  log_.warn("enquiry-failed", {{"enquiry", enquiry}, {"agency", agency}, {"reason", reason}});
}

void EnquiryDesk::post_link(LinkItem item) {
  const size_t bytes = item.answer.body.size() + item.answer.signature.size() + 256;
  {
    std::lock_guard lock(link_queue_mu_);
    if (link_queue_.size() < kMaxLinkQueue && link_queue_bytes_ + bytes <= kMaxLinkQueueBytes && !link_stopping_) {
      link_queue_bytes_ += bytes;
      link_queue_.push_back(std::move(item));
      link_wake_.notify_one();
      return;
    }
  }
  // Full (or stopping): not acknowledged, so the agent sends it again later.
  log_.warn("link-queue-full", {{"agency", item.agency}});
  if (item.done) item.done(false);
}

void EnquiryDesk::start_link_worker() {
  link_thread_ = std::thread([this] {
    for (;;) {
      std::vector<LinkItem> batch;
      {
        std::unique_lock lock(link_queue_mu_);
        link_wake_.wait(lock, [&] { return link_stopping_ || !link_queue_.empty(); });
        if (link_queue_.empty()) return;  // stopping, and nothing left in hand
        batch.swap(link_queue_);
        link_queue_bytes_ = 0;
      }
      std::vector<std::function<void()>> tasks;
      std::erase_if(batch, [&](LinkItem& it) {
        if (!it.task) return false;
        tasks.push_back(std::move(it.task));
        return true;
      });
      // Nothing may end this thread: what failed is not acknowledged, so agents send it again.
      try {
        if (!batch.empty()) process_link(batch);
      } catch (const std::exception& e) {
        log_.error("link-batch-failed", {{"items", batch.size()}, {"error", std::string(e.what()).substr(0, 200)}});
      }
      for (auto& t : tasks) {
        try {
          t();
        } catch (const std::exception& e) {
          log_.error("link-task-failed", {{"error", std::string(e.what()).substr(0, 200)}});
        }
      }
    }
  });
}

void EnquiryDesk::stop_link_worker() {
  {
    std::lock_guard lock(link_queue_mu_);
    link_stopping_ = true;
  }
  link_wake_.notify_all();
  if (link_thread_.joinable()) link_thread_.join();
}

EnquiryDesk::~EnquiryDesk() { stop_link_worker(); }

void EnquiryDesk::process_link(std::vector<LinkItem>& batch) {
  // One batch at a time: a repeated acknowledgement or answer is then seen as repeated, whether
  // it comes in this batch or a later one.
  std::lock_guard serial(link_mu_);
  const int64_t now = unix_millis_now();

  // 1. Which enquiry each item is about, and what is already held (one read transaction).
  std::map<std::string, EnquiryRecord> records;  // enquiry -> its record as stored
  {
    auto rtxn = env_.begin_read();
    if (!rtxn.ok()) {
      for (auto& it : batch) {
        if (it.done) it.done(false);
      }
      return;
    }
    for (auto& it : batch) {
      try {
        if (it.is_answer) {
          it.d = to_hex(it.answer.enquiry_id);
          auto n = NestedMessage::decode(it.answer.body, FrameLimits{});
          if (!n.ok()) continue;
          // The typed getters throw on a body that is well framed but of the wrong shape.
          auto body = (*n)->root<wire::AnswerBody>();
          if (std::string(body.getAgency().cStr()) != it.agency) continue;
          it.event = answer_event(body.getStatus());
          it.digest = to_hex(sha256(it.answer.body));
          std::set<std::string> released;
          for (auto s : body.getSubjects()) {
            it.audit.restricted = it.audit.restricted || s.getRestricted();
            for (auto f : s.getReleased()) released.insert(f.getField().cStr());
            std::string ref = s.getRef().cStr();
            if (ref.size() <= 16 && is_code(ref, 16, false)) it.audit.extra["subject." + ref] = outcome_code(s.getOutcome());
          }
          it.audit.fields.assign(released.begin(), released.end());
        } else {
          it.d = to_hex(it.delivery);
        }
      } catch (const std::exception& e) {  // kj::Exception is one too
        log_.warn("answer-unreadable", {{"agency", it.agency}, {"error", std::string(e.what()).substr(0, 200)}});
        continue;
      }
      auto target = store_.delivery(*rtxn, it.d);
      if (!target.ok() || !*target || (*target)->second != it.agency) continue;  // not ours, or another agency's id
      it.enquiry = (*target)->first;
      if (!records.contains(it.enquiry)) {
        auto r = store_.get(*rtxn, it.enquiry);
        if (!r.ok() || !*r) continue;
        records.emplace(it.enquiry, std::move(**r));
      }
      it.usable = true;
    }
  }

  // 2. The audit records first, each once: an agent sends an answer again until it is
  //    acknowledged (after a restart on either side), and the same answer is recorded once; so
  //    is a delivery. What is already on the record is read from the audit log itself (the
  //    store may lag behind it after a failure), once per enquiry.
  std::map<std::string, OnRecord> on_record;
  auto recorded_for = [&](const std::string& enquiry) -> const OnRecord& {
    auto [found, fresh] = on_record.try_emplace(enquiry);
    if (fresh) found->second = on_record_for(enquiry);
    return found->second;
  };
  std::map<std::string, LinkItem*> first_in_batch;  // "a/<delivery>" or "d/<delivery>" (+ digest) -> first item
  std::vector<LinkItem*> to_record;
  for (auto& it : batch) {
    if (!it.usable) continue;
    const EnquiryRecord& r = records.at(it.enquiry);
    if (!it.is_answer) {
      auto [first, fresh] = first_in_batch.try_emplace("d/" + it.d, &it);
      if (!fresh) {
        it.first = first->second;  // follows the first: stored only if that one is on the record
        continue;
      }
      auto copy = r.agencies.find(it.agency);
      const bool delivered = copy != r.agencies.end() && copy->second.delivered_ms.has_value();
      if (delivered || recorded_for(it.enquiry).delivered.count(it.agency)) continue;
      it.audit.type = "enquiry.delivered";
      it.audit.actor = "agent:" + it.agency;
      it.audit.role = "agent";
      it.audit.agency = it.agency;
      it.audit.enquiry = it.enquiry;
      it.audit.outcome = "ok";
      to_record.push_back(&it);
      continue;
    }
    it.late = now > r.deadline_ms;
    auto [first, fresh] = first_in_batch.try_emplace("a/" + it.d + "/" + it.digest, &it);
    if (!fresh) {
      it.recorded = true;
      it.first = first->second;
      continue;
    }
    if (recorded_for(it.enquiry).answers.count(it.agency + "/" + it.digest)) {
      it.recorded = true;
      continue;
    }
    it.audit.type = "answer.received";
    it.audit.actor = "agent:" + it.agency;
    it.audit.role = "agent";
    it.audit.agency = it.agency;
    it.audit.case_ref = r.case_ref;
    it.audit.enquiry = it.enquiry;
    it.audit.outcome = event_status(it.event);
    it.audit.digest = it.digest;
    if (it.late) it.audit.extra["late"] = "true";
    to_record.push_back(&it);
  }
  if (!to_record.empty()) {
    std::vector<AuditEvent> events;
    for (auto* it : to_record) {
      it->audit.time_ms = now;
      events.push_back(it->audit);
    }
    auto results = record_all(events);
    for (size_t k = 0; k < to_record.size(); ++k) {
      if (results[k].ok()) continue;
      LinkItem& it = *to_record[k];
      log_.error("audit-unavailable", {{"event", it.audit.type}});
      // Not on the record: the state is not changed, and the agent sends it again (an
      // acknowledgement's copy stays in the outbox; an answer is not acknowledged).
      it.usable = false;
    }
  }
  // A repeat within the batch goes with its first: not on the record, not stored.
  for (auto& it : batch) {
    if (it.first && !it.first->usable) it.usable = false;
  }

  // 3. The state: every item's change in one operation of the store's group commit. An item
  //    whose change fails is left out and the operation run again without it (rare; nested
  //    transactions per item would cost LMDB a 2 MiB allocation each), so it fails alone and
  //    its agent sends it again.
  Status st;
  std::map<std::string, EnquiryRecord> current;  // enquiry -> its record as this batch left it
  for (int attempt = 0; attempt < 8; ++attempt) {
    LinkItem* culprit = nullptr;
    Status culprit_error;
    st = writer_.run([&](Txn& txn) -> Status {
      current.clear();
      std::set<std::string> dirty;
      for (auto& it : batch) it.changed = it.stored = false;
      for (auto& it : batch) {
        if (!it.usable) continue;
        auto found = current.find(it.enquiry);
        if (found == current.end()) {
          auto r = store_.get(txn, it.enquiry);
          if (!r.ok() || !*r) continue;  // gone or damaged: an answer is not acknowledged
          found = current.emplace(it.enquiry, std::move(**r)).first;
        }
        if (Status applied = apply_link_item(txn, it, found->second); !applied.ok()) {
          culprit = &it;
          culprit_error = applied;
          return applied;
        }
        if (it.stored) dirty.insert(it.enquiry);
        if (it.changed) it.status_event = found->second.status_event(it.agency);
      }
      for (const auto& id : dirty) {
        if (auto r = store_.put(txn, current.at(id)); !r.ok()) return r;
      }
      return {};
    });
    if (st.ok() || culprit == nullptr) break;
    log_.warn("answer-not-stored", {{"enquiry", culprit->enquiry}, {"agency", culprit->agency},
                                    {"reason", culprit_error.error().message.substr(0, 200)}});
    culprit->usable = false;  // left out; the others are tried again
  }
  if (!st.ok()) {
    log_.error("answer-not-stored", {{"items", batch.size()}, {"reason", st.error().message}});
    for (auto& it : batch) it.stored = it.changed = false;  // acknowledgements and answers come again
  }

  // 4. The copies that left the outbox leave their agency's window; watchers, metrics, and the
  //    agents' acknowledgements.
  std::map<std::string, std::vector<std::string>> settled;
  for (const auto& it : batch) {
    if (it.stored) settled[it.agency].push_back(it.d);
  }
  for (const auto& [agency, deliveries] : settled) delivery_.settled(agency, deliveries);
  for (auto& it : batch) {
    if (it.changed) {
      const EnquiryRecord& r = current.at(it.enquiry);
      count_status(it.before, it.after);
      if (it.is_answer && it.after != AgencyStatus::kAwaitingReview) observe_latency(unix_millis_now() - r.created_ms);
      hub_.publish(it.enquiry, r.owner, r.team, "status", it.status_event);
    }
    if (it.is_answer) {
      if (it.stored && it.recorded && !it.changed) {
        log_.info("answer-repeated", {{"enquiry", it.enquiry}, {"agency", it.agency}});
      } else if (it.stored) {
        log_.info("answer-received", {{"enquiry", it.enquiry}, {"agency", it.agency}, {"status", event_status(it.event)}});
      }
      if (it.done) it.done(it.stored);
    }
  }
}

Status EnquiryDesk::apply_link_item(Txn& txn, LinkItem& it, EnquiryRecord& r) {
  AgencyCopy& copy = r.agencies[it.agency];
  const int64_t t = unix_millis_now();
  // Every item that reaches here means the agent holds the copy: it leaves the outbox.
  if (auto d = delivery_.drop(txn, it.enquiry, it.agency, it.d); !d.ok()) return d;
  auto apply = [&](CopyEvent e) {
    Transition tr = transition(copy, e, t, it.late);
    it.before = tr.before;
    it.after = copy.status;
    it.changed = tr.changed;
    it.stored = true;
  };
  if (!it.is_answer) {
    apply(CopyEvent::kAcknowledged);
    return {};
  }
  if (final_answer(copy.status)) {  // a final answer already held is kept
    it.stored = true;
    return {};
  }
  // The case's content was destroyed: the answer is on the record (above), its content is not
  // kept, and it is acknowledged so that the agent stops sending it.
  auto discard = [&] {
    apply(it.event);
    copy.content_discarded = true;
    return Status();
  };
  if (r.purged()) return discard();
  if (it.event != CopyEvent::kHeldForReview) {
    auto s = vault_.put(txn, it.enquiry, "answer." + it.agency,
                        std::span<const uint8_t>(it.answer.body.data(), it.answer.body.size()));
    // Purged between the case's tombstone and its record being marked (purge_case): as above.
    if (!s.ok() && s.error().code == ErrorCode::kFailedPrecondition && vault_.purged(it.enquiry)) return discard();
    if (!s.ok()) return s;
  }
  apply(it.event);
  return {};
}

}  // namespace mash::broker
