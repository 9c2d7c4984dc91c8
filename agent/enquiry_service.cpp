#include "enquiry_service.h"

#include <algorithm>
#include <ctime>
#include <set>
#include <string_view>

#include "audit_event.h"
#include "clock.h"
#include "envelope.h"
#include "link.capnp.h"
#include "link.h"

namespace mash::agent {

namespace {

constexpr size_t kMaxBatch = 64;
// Room in a frame for the Answer envelope around the body (id, signature, framing).
constexpr size_t kFrameSlack = 4096;

bool code_safe(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == ':' || c == '@' || c == '/' || c == '+' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// Values from outside go into the disclosure log only if they are plain codes; anything else
// is recorded by its hash, so nothing typed by a person can land in the log.
std::string as_code(std::string_view s) {
  if (s.empty() || code_safe(s)) return std::string(s);
  auto h = sha256(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
  return "sha256:" + to_hex(h).substr(0, 32);
}

}  // namespace

EnquiryService::EnquiryService(EnquiryServiceOptions options, SigningKey answer_key, PolicyHolder& policy,
                               ExtractStore& extract, AgentState& state, AuditLog& disclosure,
                               Logger log)
    : options_(std::move(options)),
      answer_key_(std::move(answer_key)),
      policy_(policy),
      extract_(extract),
      state_(state),
      disclosure_(disclosure),
      journal_(state, disclosure),
      log_(std::move(log)),
      matcher_(extract, options_.thresholds) {}

EnquiryService::~EnquiryService() { stop(); }

void EnquiryService::start() {
  worker_ = std::thread([this] { run(); });
}

void EnquiryService::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void EnquiryService::submit(std::vector<uint8_t> id, std::vector<uint8_t> body,
                            std::vector<uint8_t> signature, Sender reply) {
  counters_.received.fetch_add(1);
  {
    std::lock_guard lock(mu_);
    if (queue_.size() < options_.max_queued) {
      queue_.push_back({std::move(id), std::move(body), std::move(signature), std::move(reply)});
      cv_.notify_one();
      return;
    }
  }
  counters_.refused.fetch_add(1);
  log_.warn("enquiry-refused", {{"reason", "queue full"}});
  reply(make_error_frame(static_cast<int>(wire::Error::Code::OVERLOADED),
                         "the agent has too many enquiries waiting; the hub should retry", options_.limits, id));
}

void EnquiryService::acknowledged(std::vector<uint8_t> enquiry_id, std::vector<uint8_t> answer_digest) {
  std::lock_guard lock(mu_);
  acks_.push_back({std::move(enquiry_id), std::move(answer_digest)});
  cv_.notify_one();
}

void EnquiryService::connected(Sender sender) {
  std::lock_guard lock(mu_);
  current_ = std::move(sender);
  resend_outbox_ = true;
  new_connection_ = true;
  cv_.notify_one();
}

void EnquiryService::disconnected() {
  std::lock_guard lock(mu_);
  current_ = nullptr;
}

void EnquiryService::run() {
  auto next_poll = std::chrono::steady_clock::now();
  auto next_outbox_check = next_poll + kOutboxCheck;
  // The hub's acknowledgements only clear answers from the outbox (an answer sent again after
  // it was acknowledged is harmless: the hub records it once). They are written with the next
  // batch's commit, or on their own after kAckDelay: one fsync fewer per batch under load.
  std::vector<HubAck> acks;
  constexpr auto kNever = std::chrono::steady_clock::time_point::max();
  auto acks_due = kNever;  // when acknowledgements in hand are written on their own
  for (;;) {
    std::vector<Incoming> batch;
    bool resend = false;
    {
      std::unique_lock lock(mu_);
      auto until = std::min(next_poll, acks_due);
      cv_.wait_until(lock, until, [&] {
        return stopping_ || !queue_.empty() || resend_outbox_ || (!acks_.empty() && acks_due == kNever);
      });
      if (stopping_) {
        acks.insert(acks.end(), std::make_move_iterator(acks_.begin()), std::make_move_iterator(acks_.end()));
        acks_.clear();
        lock.unlock();
        if (!acks.empty()) write_acks(acks);
        return;
      }
      while (!queue_.empty() && batch.size() < kMaxBatch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      if (!acks_.empty()) {
        acks.insert(acks.end(), std::make_move_iterator(acks_.begin()), std::make_move_iterator(acks_.end()));
        acks_.clear();
        if (acks_due == kNever) acks_due = std::chrono::steady_clock::now() + kAckDelay;
      }
      resend = resend_outbox_;
      resend_outbox_ = false;
    }
    if (unfinished_) finish_unfinished(acks);  // at start, and after a failure
    if (!batch.empty()) {
      process_batch(batch, acks);  // clears `acks` once they are written
    } else if (!acks.empty() && std::chrono::steady_clock::now() >= acks_due) {
      write_acks(acks);
    }
    if (acks.empty()) acks_due = kNever;
    if (resend || std::chrono::steady_clock::now() >= next_outbox_check) {
      send_outbox();
      next_outbox_check = std::chrono::steady_clock::now() + kOutboxCheck;
    }
    if (std::chrono::steady_clock::now() >= next_poll) {
      poll_reviews(acks);
      next_poll = std::chrono::steady_clock::now() + options_.review_poll;
    }
  }
}

bool EnquiryService::acknowledges_outbox(const Txn& txn, const HubAck& ack) const {
  if (ack.digest.empty()) return true;  // an older hub: whichever answer is waiting
  auto stored = state_.answer(txn, to_hex(ack.id));
  if (!stored.ok() || !*stored) return true;  // nothing to keep
  auto digest = sha256((*stored)->body);
  return std::equal(digest.begin(), digest.end(), ack.digest.begin(), ack.digest.end());
}

void EnquiryService::write_acks(std::vector<HubAck>& acks) {
  auto txn = state_.env().begin_write();
  if (!txn.ok()) return;
  for (const auto& a : acks) {
    if (acknowledges_outbox(*txn, a)) (void)txn->del(state_.outbox(), to_hex(a.id));
  }
  if (auto st = txn->commit(); !st.ok()) {
    log_.error("outbox-update-failed", {{"error", st.error().message}});
    return;  // kept: tried again with the next batch
  }
  acks.clear();
}

StoredAnswer EnquiryService::sign_answer(const std::vector<uint8_t>& body, bool final) const {
  StoredAnswer a;
  a.body = body;
  auto sig = sign_envelope(answer_key_, kAnswerDomain, body);
  a.signature.assign(sig.begin(), sig.end());
  a.final = final;
  return a;
}

std::vector<AuditEvent> EnquiryService::disclosure_events(const AnswerDraft& d, const std::string& id_hex,
                                                          const std::string& type,
                                                          const std::string& digest) const {
  std::vector<AuditEvent> events;
  AuditEvent e;
  e.type = type;
  e.time_ms = unix_millis_now();
  e.actor = "hub";
  e.role = "agent";
  e.agency = options_.agency;
  e.case_ref = as_code(d.case_ref);
  e.enquiry = id_hex;
  e.purpose = as_code(d.purpose);
  e.legal_basis = as_code(d.legal_basis);
  e.consent = as_code(d.consent);
  e.brag = as_code(d.brag);
  e.outcome = d.status == "declined" ? "declined:" + as_code(d.decline_reason) : d.status;
  e.fields = d.released_fields();
  for (auto& f : e.fields) f = as_code(f);
  e.restricted = std::any_of(d.subjects.begin(), d.subjects.end(), [](const SubjectDraft& s) { return s.restricted; });
  e.digest = digest;
  e.extra["subjects"] = std::to_string(d.subjects.size());
  events.push_back(e);
  // One record per subject: its outcome, the local record it matched and what was released.
  for (const auto& s : d.subjects) {
    AuditEvent se;
    se.type = type + ".subject";
    se.time_ms = e.time_ms;
    se.actor = "hub";
    se.role = "agent";
    se.agency = options_.agency;
    se.case_ref = e.case_ref;
    se.enquiry = id_hex;
    se.outcome = outcome_name(s.outcome);
    se.restricted = s.restricted;
    for (const auto& r : s.released) se.fields.push_back(as_code(r.field));
    std::sort(se.fields.begin(), se.fields.end());
    se.fields.erase(std::unique(se.fields.begin(), se.fields.end()), se.fields.end());
    if (se.fields.size() > 256) se.fields.resize(256);
    se.extra["ref"] = as_code(s.ref);
    if (!s.basis.empty()) se.extra["basis"] = as_code(s.basis);
    for (size_t i = 0; i < s.records.size() && i < 8; ++i) se.extra["record." + std::to_string(i)] = as_code(s.records[i]);
    se.extra["withheld"] = std::to_string(s.withheld.size());
    events.push_back(std::move(se));
  }
  return events;
}

std::optional<EnquiryService::Outgoing> EnquiryService::process(Incoming& in) {
  const FrameLimits& limits = options_.limits;
  if (in.id.size() != 16) {
    in.reply(make_error_frame(static_cast<int>(wire::Error::Code::PROTOCOL), "enquiry id must be 16 bytes", limits));
    return std::nullopt;
  }
  Outgoing out;
  out.id = in.id;
  out.id_hex = to_hex(in.id);
  out.reply = in.reply;
  if (!verify_envelope(options_.hub_key, kEnquiryDomain, in.body, in.signature)) {
    counters_.bad_signature.fetch_add(1);
    log_.warn("enquiry-refused", {{"enquiry", out.id_hex}, {"reason", "bad hub signature"}});
    in.reply(make_error_frame(static_cast<int>(wire::Error::Code::BAD_SIGNATURE),
                              "enquiry " + out.id_hex + ": the hub's signature does not verify", limits, in.id));
    return std::nullopt;
  }
  auto nested = NestedMessage::decode(in.body, limits);
  if (!nested.ok()) {
    in.reply(make_error_frame(static_cast<int>(wire::Error::Code::PROTOCOL),
                              "enquiry " + out.id_hex + ": body is not an EnquiryBody: " + nested.error().message, limits,
                              in.id));
    return std::nullopt;
  }
  try {
    auto body = (*nested)->root<wire::EnquiryBody>();
    auto body_id = body.getId();
    if (body_id.size() != 16 || !std::equal(body_id.begin(), body_id.end(), in.id.begin())) {
      in.reply(make_error_frame(static_cast<int>(wire::Error::Code::PROTOCOL),
                                "enquiry " + out.id_hex + ": the signed body names another id", limits, in.id));
      return std::nullopt;
    }
    // Idempotent: an id already answered gets the same answer again.
    {
      auto txn = state_.env().begin_read();
      if (!txn.ok()) throw std::runtime_error(txn.error().message);
      auto stored = state_.answer(*txn, out.id_hex);
      if (!stored.ok()) throw std::runtime_error(stored.error().message);
      auto unfinished = journal_.find(*txn, out.id_hex);
      if (!unfinished.ok()) throw std::runtime_error(unfinished.error().message);
      if (*stored && *unfinished) {
        // Made before a crash, not yet on the record: its recording is finished, then it goes.
        log_.info("enquiry-recovered", {{"enquiry", out.id_hex}});
        out.unfinished = std::move(**unfinished);
        out.frames.push_back(make_ack_frame(in.id, limits));
        out.frames.push_back(make_answer_frame(in.id, (*stored)->body, (*stored)->signature, limits));
        return out;
      }
      if (*stored) {
        counters_.repeated.fetch_add(1);
        log_.info("enquiry-repeated", {{"enquiry", out.id_hex}});
        out.frames.push_back(make_ack_frame(in.id, limits));
        out.frames.push_back(make_answer_frame(in.id, (*stored)->body, (*stored)->signature, limits));
        return out;
      }
    }
    auto policy = policy_.current();
    AnswerDraft draft;
    if (!policy) {
      draft.status = "declined";
      draft.decline_reason = "agreement-not-held";
      draft.case_ref = std::string(body.getCaseRef().cStr()).substr(0, 128);
    } else {
      AnswerContext ctx{policy.get(), options_.agency, &extract_, &matcher_, today_utc(), &options_.identifier_schemes};
      auto d = draft_answer(ctx, body);
      if (!d.ok()) {
        log_.error("answer-failed", {{"enquiry", out.id_hex}, {"error", d.error().message}});
        in.reply(make_error_frame(static_cast<int>(wire::Error::Code::UNSPECIFIED),
                                  "enquiry " + out.id_hex + ": the agent could not read its records; it will be answered when the hub sends it again",
                                  limits, in.id));
        return std::nullopt;
      }
      draft = std::move(d).value();
    }
    const uint64_t version = policy ? static_cast<uint64_t>(policy->agreement().version) : 0;
    nlohmann::json evidence = {{"received_ms", unix_millis_now()},
                               {"body", to_base64(in.body)},
                               {"signature", to_base64(in.signature)}};
    out.enquiry_record = evidence.dump();
    const int64_t now = unix_millis_now();
    if (draft.review) {
      auto body_bytes = encode_answer_body(draft, in.id, options_.agency, version, now, true);
      out.answer = sign_answer(body_bytes, false);
      ReviewItem item;
      item.enquiry_id = out.id_hex;
      item.received_ms = now;
      item.policy_version = version;
      item.draft = draft;
      out.review = std::move(item);
      auto events = disclosure_events(draft, out.id_hex, "answer.held-for-review", "");
      events.resize(1);  // nothing has left; the per-subject records come with the release
      events[0].fields.clear();
      out.events = std::move(events);
      counters_.queued_for_review.fetch_add(1);
    } else {
      auto body_bytes = encode_answer_body(draft, in.id, options_.agency, version, now, false);
      if (body_bytes.size() + kFrameSlack > limits.max_frame_bytes) {
        // More than one frame can carry: the agency must answer this one by hand.
        log_.warn("answer-too-large", {{"enquiry", out.id_hex}, {"bytes", body_bytes.size()}});
        draft.status = "declined";
        draft.decline_reason = "answer-too-large";
        draft.subjects.clear();
        body_bytes = encode_answer_body(draft, in.id, options_.agency, version, now, false);
      }
      out.answer = sign_answer(body_bytes, true);
      out.to_outbox = true;
      out.events = disclosure_events(draft, out.id_hex, "answer.sent", to_hex(sha256(body_bytes)));
      (draft.status == "declined" ? counters_.declined : counters_.answered).fetch_add(1);
    }
    out.frames.push_back(make_ack_frame(in.id, limits));
    out.frames.push_back(make_answer_frame(in.id, out.answer->body, out.answer->signature, limits));
    return out;
  } catch (const kj::Exception& e) {
    // The signed body is not an EnquiryBody after all: for good.
    log_.error("enquiry-failed", {{"enquiry", out.id_hex}, {"error", std::string(e.getDescription().cStr()).substr(0, 200)}});
    in.reply(make_error_frame(static_cast<int>(wire::Error::Code::PROTOCOL),
                              "enquiry " + out.id_hex + ": could not be read", limits, in.id));
    return std::nullopt;
  } catch (const std::exception& e) {
    // Our own store or records failed (a full reader table, say): the hub sends it again.
    log_.error("enquiry-failed", {{"enquiry", out.id_hex}, {"error", std::string(e.what()).substr(0, 200)}});
    in.reply(make_error_frame(static_cast<int>(wire::Error::Code::UNSPECIFIED),
                              "enquiry " + out.id_hex + ": the agent could not answer it now; it will be answered when the hub sends it again",
                              limits, in.id));
    return std::nullopt;
  }
}

Status EnquiryService::commit(std::vector<Outgoing>& out, const std::vector<HubAck>& acks) {
  // Each answer's disclosure records as exact bytes, fixed before anything is written.
  std::vector<JournalEntry> entries;
  bool fresh = false;
  for (auto& o : out) {
    if (o.unfinished) {
      entries.push_back(*o.unfinished);
      continue;
    }
    auto records = AnswerJournal::records_of(o.events);
    if (!records.ok()) return records.error();
    JournalEntry e;
    e.id_hex = o.id_hex;
    e.records = std::move(records).value();
    e.to_outbox = o.to_outbox;
    e.leaves_review = o.leaves_review;
    entries.push_back(std::move(e));
    fresh = true;
  }
  // 1. The answers as made, with what is still to do for each, durably.
  if (fresh) {
    auto txn = state_.env().begin_write();
    if (!txn.ok()) return txn.error();
    for (size_t i = 0; i < out.size(); ++i) {
      const auto& o = out[i];
      if (o.unfinished) continue;
      if (!o.enquiry_record.empty()) {
        if (auto st = txn->put(state_.enquiries(), o.id_hex, o.enquiry_record); !st.ok()) return st;
      }
      if (o.answer) {
        if (auto st = txn->put(state_.answers(), o.id_hex, AgentState::encode(*o.answer)); !st.ok()) return st;
      }
      if (o.review) {
        if (auto st = txn->put(state_.review(), o.id_hex, o.review->to_json().dump()); !st.ok()) return st;
      }
      if (auto st = journal_.write(*txn, entries[i]); !st.ok()) return st;
    }
    if (auto st = txn->commit(); !st.ok()) return st;
  }
  // 2. The disclosure log, durably, before anything leaves. From here on a failure leaves the
  //    journal entries to be finished.
  unfinished_ = true;
  if (auto st = journal_.record(entries); !st.ok()) return st;
  // 3. The outbox and the review queue; acknowledged answers leave the outbox (an
  //    acknowledgement of another answer under the same id, the one held for review when this
  //    is the released one, does not touch it).
  auto txn = state_.env().begin_write();
  if (!txn.ok()) return txn.error();
  std::set<std::string> superseded;  // for older hubs, whose acknowledgements name no answer
  for (const auto& e : entries) {
    if (auto st = journal_.complete(*txn, e); !st.ok()) return st;
    if (e.to_outbox) superseded.insert(e.id_hex);
  }
  for (const auto& a : acks) {
    const std::string hex = to_hex(a.id);
    if (a.digest.empty() && superseded.count(hex)) continue;
    if (!acknowledges_outbox(*txn, a)) continue;
    if (auto st = txn->del(state_.outbox(), hex); !st.ok()) return st.error();
  }
  if (auto st = txn->commit(); !st.ok()) return st;
  unfinished_ = false;  // this batch's; older ones are looked for at the next finish_unfinished
  return {};
}

void EnquiryService::finish_unfinished(std::vector<HubAck>& acks) {
  constexpr size_t kAtOnce = 256;
  auto entries = journal_.unfinished(kAtOnce);
  if (!entries.ok()) {
    log_.error("journal-unreadable", {{"error", entries.error().message.substr(0, 200)}});
    return;  // tried again at the next poll
  }
  if (entries->empty()) {
    unfinished_ = false;
    return;
  }
  std::vector<Outgoing> out;
  for (auto& e : *entries) {
    Outgoing o;
    o.id_hex = e.id_hex;
    o.unfinished = std::move(e);
    out.push_back(std::move(o));
  }
  if (auto st = commit(out, acks); !st.ok()) {
    log_.error("answers-not-recovered", {{"answers", out.size()}, {"error", st.error().message.substr(0, 200)}});
    unfinished_ = true;
    return;
  }
  acks.clear();
  log_.info("answers-recovered", {{"answers", out.size()}});
  unfinished_ = out.size() == kAtOnce;  // more may wait
  std::lock_guard lock(mu_);
  resend_outbox_ = true;  // the recovered answers go out
}

void EnquiryService::process_batch(std::vector<Incoming>& batch, std::vector<HubAck>& acks) {
  // The same id twice in one batch (the hub sent it again on a new connection while the first
  // copy waited here): the repeat is answered after the batch is stored, from what was stored,
  // so it is neither answered twice nor logged twice.
  std::vector<Outgoing> out;
  std::vector<Incoming*> repeats;
  // Views of the ids' bytes (the batch outlives the set). Not a set of byte vectors: GCC 12 at
  // -O3 misreads the memcmp inside vector's operator<=> as unbounded (-Wstringop-overread).
  std::set<std::string_view> seen;
  for (auto& in : batch) {
    if (!seen.insert(std::string_view(reinterpret_cast<const char*>(in.id.data()), in.id.size())).second) {
      repeats.push_back(&in);
      continue;
    }
    auto o = process(in);
    if (o) out.push_back(std::move(*o));
  }
  struct Later {
    std::vector<Incoming*>& repeats;
    EnquiryService& self;
    bool stored = true;  // false: the batch was not stored, and the hub sends the repeat again
    ~Later() {
      if (!stored) return;
      for (auto* in : repeats) {
        auto o = self.process(*in);
        if (o && o->events.empty() && !o->unfinished) {
          for (auto& f : o->frames) o->reply(std::move(f));
        }
      }
    }
  } later{repeats, *this};
  if (out.empty()) return;
  if (auto st = commit(out, acks); !st.ok()) {
    // Fail closed: nothing is sent that is not recorded; the hub will send the enquiries again.
    log_.error("answer-not-recorded", {{"error", st.error().message}, {"enquiries", out.size()}});
    for (auto& o : out) {
      o.reply(make_error_frame(static_cast<int>(wire::Error::Code::AUDIT_UNAVAILABLE),
                               "the agent cannot record its answer, so it is not sent", options_.limits, o.id));
    }
    later.stored = false;
    return;
  }
  acks.clear();
  for (auto& o : out) {
    log_.info("enquiry-answered", {{"enquiry", o.id_hex},
                                   {"status", o.review ? "awaiting-review" : "answered"}});
    for (auto& f : o.frames) o.reply(std::move(f));
  }
}

void EnquiryService::poll_reviews(std::vector<HubAck>& acks) {
  auto items = state_.review_items();
  if (!items.ok()) {
    log_.error("review-queue-unreadable", {{"error", items.error().message}});
    return;
  }
  std::vector<Outgoing> out;
  for (auto& item : *items) {
    if (item.state == "pending") continue;
    {
      // Released before a crash and not yet on the record: finished from the journal instead.
      auto txn = state_.env().begin_read();
      if (!txn.ok()) return;
      auto unfinished = journal_.find(*txn, item.enquiry_id);
      if (!unfinished.ok() || *unfinished) {
        unfinished_ = true;
        continue;
      }
    }
    auto id = from_hex(item.enquiry_id);
    if (!id.ok()) continue;
    AnswerDraft draft = item.draft;
    std::string type;
    if (item.state == "declined") {
      draft.status = "declined";
      draft.decline_reason = "declined-on-review";
      draft.subjects.clear();
      type = "answer.declined-on-review";
    } else {
      withhold_on_review(draft, item.withhold);
      type = "answer.sent";
    }
    const int64_t now = unix_millis_now();
    auto body = encode_answer_body(draft, *id, options_.agency, item.policy_version, now, false);
    if (body.size() + kFrameSlack > options_.limits.max_frame_bytes) {
      log_.warn("answer-too-large", {{"enquiry", item.enquiry_id}, {"bytes", body.size()}});
      draft.status = "declined";
      draft.decline_reason = "answer-too-large";
      draft.subjects.clear();
      body = encode_answer_body(draft, *id, options_.agency, item.policy_version, now, false);
    }
    Outgoing o;
    o.id = *id;
    o.id_hex = item.enquiry_id;
    o.answer = sign_answer(body, true);
    o.to_outbox = true;
    o.leaves_review = true;
    o.events = disclosure_events(draft, o.id_hex, type, to_hex(sha256(body)));
    AuditEvent reviewed;
    reviewed.type = item.state == "declined" ? "review.declined" : "review.approved";
    reviewed.time_ms = now;
    reviewed.actor = as_code(item.reviewer);
    reviewed.role = "reviewer";
    reviewed.agency = options_.agency;
    reviewed.enquiry = o.id_hex;
    for (const auto& f : item.withhold) reviewed.fields.push_back(as_code(f));
    if (!item.note.empty()) {
      reviewed.digest = to_hex(sha256(std::span<const uint8_t>(
          reinterpret_cast<const uint8_t*>(item.note.data()), item.note.size())));
    }
    o.events.insert(o.events.begin(), reviewed);
    // Each settlement of a possible subject: who chose which record (or none), in order.
    for (size_t k = 0; k < item.settlements.size(); ++k) {
      const auto& st = item.settlements[k];
      AuditEvent settled;
      settled.type = "review.settled";
      settled.time_ms = st.at_ms;
      settled.actor = as_code(st.reviewer);
      settled.role = "reviewer";
      settled.agency = options_.agency;
      settled.enquiry = o.id_hex;
      settled.outcome = st.candidate == "none" ? "no-record" : "matched";
      settled.extra["ref"] = as_code(st.ref);
      if (st.candidate != "none") settled.extra["record.0"] = as_code(st.candidate);
      o.events.insert(o.events.begin() + static_cast<std::ptrdiff_t>(1 + k), std::move(settled));
    }
    o.frames.push_back(make_answer_frame(*id, o.answer->body, o.answer->signature, options_.limits));
    out.push_back(std::move(o));
  }
  if (out.empty()) return;
  if (auto st = commit(out, acks); !st.ok()) {
    log_.error("review-release-failed", {{"error", st.error().message}});
    return;
  }
  acks.clear();
  counters_.reviewed.fetch_add(out.size());
  Sender sender;
  {
    std::lock_guard lock(mu_);
    sender = current_;
  }
  for (auto& o : out) {
    log_.info("review-released", {{"enquiry", o.id_hex}});
    if (sender) {
      for (auto& f : o.frames) sender(std::move(f));
    }
  }
}

void EnquiryService::send_outbox() {
  Sender sender;
  {
    std::lock_guard lock(mu_);
    sender = current_;
    if (new_connection_) outbox_sent_.clear();  // nothing sent on the old connection counts
    new_connection_ = false;
  }
  if (!sender) return;
  auto txn = state_.env().begin_read();
  if (!txn.ok()) return;
  // Oldest first, at most kOutboxAtOnce a time; an answer sent less than kOutboxResend ago waits
  // for its acknowledgement, so a large outbox drains a part at a time, and one whose
  // acknowledgement was lost goes again.
  const auto now = std::chrono::steady_clock::now();
  std::map<std::string, std::chrono::steady_clock::time_point> still;  // answers still unacknowledged
  size_t n = 0;
  (void)txn->for_each_prefix(state_.outbox(), "", [&](std::string_view key, std::string_view value) {
    std::string k(key);
    if (auto sent = outbox_sent_.find(k); sent != outbox_sent_.end() && now - sent->second < kOutboxResend) {
      still.emplace(k, sent->second);
      return true;
    }
    if (n >= kOutboxAtOnce) return still.size() < 100'000;
    auto id = from_hex(key);
    if (!id.ok()) return true;
    std::optional<StoredAnswer> a;
    if (!value.empty()) {
      // Written by an older version: the answer itself.
      if (auto d = AgentState::decode(value); d.ok()) a = std::move(d).value();
    } else if (auto stored = state_.answer(*txn, key); stored.ok() && *stored) {
      a = std::move(**stored);
    }
    if (a && sender(make_answer_frame(*id, a->body, a->signature, options_.limits))) {
      still.emplace(std::move(k), now);
      ++n;
    }
    return true;
  });
  outbox_sent_ = std::move(still);
  if (n > 0) log_.info("outbox-sent", {{"answers", n}});
}

}  // namespace mash::agent
