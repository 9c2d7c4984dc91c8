// Enquiries at the hub: checked against the agreement (enquiry_request.h), recorded, signed,
// delivered to each chosen agency (delivery.h), and their answers kept. The parts:
//
//   enquiries.cpp       opening, the audit log, follow-ups, idempotent replays, decisions, gauges
//   enquiry_submit.cpp  submission: checked, recorded, stored with its signed copies, queued;
//                       rate limits and repeated lookups flagged
//   enquiry_link.cpp    acknowledgements, answers and refusals from the agents, in batches
//   enquiry_views.cpp   the list, the consolidated picture, the front-door export, status events
//   enquiry_sweeps.cpp  overdue marks, retention purges, DPO erasures, start-up reconciliation
//
// - The enquiry and the policy decision go into the audit log durably before anything is stored
//   for sending or sent (fail closed). An enquiry recorded but not stored (a store failure, a
//   crash between the two) is marked enquiry.abandoned, once.
// - Case content (subjects' details, the concerns, justifications, answers) is encrypted at rest
//   in the case vault under the enquiry's own key; the enquiry's index record (enquiry_record.h)
//   holds ids and codes only. Every change of an agency's copy goes through transition().
// - Who may see what: may_see() (enquiry_record.h), for the API and the status stream alike.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent_listener.h"
#include "audit_event.h"
#include "audit_log.h"
#include "case_vault.h"
#include "crypto.h"
#include "delivery.h"
#include "engine.h"
#include "enquiry_record.h"
#include "enquiry_request.h"
#include "enquiry_store.h"
#include "group_commit.h"
#include "lmdb_store.h"
#include "log.h"
#include "pseudonym.h"
#include "result.h"
#include "status_hub.h"

namespace mash::broker {

class EnquiryDesk {
 public:
  EnquiryDesk(Env& env, CaseVault& vault, const policy::Policy& policy, AuditLog& audit,
              SigningKey signing_key, Pseudonymizer pseudonyms, Logger log);
  // Opens the tables, then reconciles the audit log with the store: an enquiry.created since
  // the last reconciliation whose enquiry is not stored gets its enquiry.abandoned record.
  Status open();
  // Copies go to agents through `listener` from now on.
  void attach(AgentListener* listener);

  // Status changes as server-sent events: "ready" once the watch is in place, then "status"
  // {enquiry, case_ref, agency, status, late, updated_ms, deadline_ms} for every change. With an
  // enquiry id, only that enquiry (and first its current status per agency); without, every
  // enquiry the caller may see.
  std::variant<nlohmann::json, EnquiryError> watch(std::shared_ptr<EventStream> stream, const EnquiryActor& actor,
                                                   const std::string& enquiry);
  // Marks agencies that have not answered by the deadline as overdue (audited, pushed to
  // watchers). Called every second by main(); returns how many enquiries it marked.
  size_t sweep_overdue(int64_t now_ms);
  // Purges the content of cases whose retention period (the agreement's case_content_days after
  // the decision) has ended: audited first (case.purged), then the case key and content are
  // destroyed; the audit trail stays. Called every second by main(); returns how many it purged.
  size_t sweep_retention(int64_t now_ms);
  // An erasure authorised by the DPO ({"enquiry", "reason": one of kErasureReasons, "note"}):
  // recorded (case.erased: who, the reason code, a hash of the note), then purged as above.
  std::variant<nlohmann::json, EnquiryError> erase(const nlohmann::json& request, const EnquiryActor& actor);
  // Prometheus text: agency copies by status, answer latency, flags raised, watchers, delivery.
  std::string metrics_text() const;

  // What each agency would be asked, and what is not permitted and why. Nothing is stored.
  std::variant<nlohmann::json, EnquiryError> preview(const nlohmann::json& request);
  // Validates, records, signs and sends. Returns the new enquiry's id and per-agency status.
  // With an idempotency key (1 to 128 of A-Z a-z 0-9 . _ : -), a retry with the same key and the
  // same request within 24 hours returns the first enquiry ("replayed": true) and makes no
  // other; the same key with another request is refused (409).
  std::variant<nlohmann::json, EnquiryError> submit(const nlohmann::json& request, const EnquiryActor& actor,
                                                    const std::string& idempotency_key = "");
  // A page of the enquiries the actor may see, newest first: {"enquiries": [...], "next_cursor"}.
  std::variant<nlohmann::json, EnquiryError> list(const EnquiryActor& actor, const ListQuery& query = {});
  // The enquiry with per-agency status and the consolidated picture; the view is audited.
  std::variant<nlohmann::json, EnquiryError> get(const std::string& id, const EnquiryActor& actor);
  // A manager of the owning team records the decision (one of kDecisions) with a rationale.
  std::variant<nlohmann::json, EnquiryError> decide(const std::string& id, const nlohmann::json& request,
                                                    const EnquiryActor& actor);
  // What is passed to the local authority's front door: released information and the decision,
  // never restricted content (not even the flag's contact route). Manager only; audited.
  std::variant<nlohmann::json, EnquiryError> export_for_front_door(const std::string& id, const EnquiryActor& actor);

  // From the agent link.
  void on_connected(const std::string& agency);
  // Acknowledgements and answers are handled in batches by one worker thread: each batch's
  // audit records share a commit, and so do its changes to the store, so that thousands a
  // second cost a few fsyncs and thread switches, not two each. `done(true)` is called once an
  // answer is on the record and stored (the agent is then told); `done(false)` when it is not,
  // and the agent sends it again. A queue past kMaxLinkQueue items or kMaxLinkQueueBytes refuses
  // (done(false)): answers may be megabytes each.
  void start_link_worker();
  void stop_link_worker();  // finishes what is queued first
  void post_acknowledged(std::string agency, std::vector<uint8_t> delivery_id);
  void post_answer(AgentAnswer answer, std::function<void(bool)> done);
  // The agent refused one enquiry (an Error frame with its id, code from wire::Error::Code).
  // Overloaded, audit-unavailable, unspecified and shutting-down are for now: the copy goes
  // again after 5 s, doubling with each further refusal up to 5 minutes (sweep_delivery), and
  // on reconnection. Any other code is for good: the agency's copy is marked failed (audited as
  // enquiry.failed with the reason), leaves the outbox, and watchers are told; an answer that
  // comes later is still recorded.
  void post_refused(std::string agency, std::vector<uint8_t> delivery_id, int code);
  // Delivery's sweep (see delivery.h): copies unacknowledged too long and copies refused for
  // now whose time has come go again, and every connected agency's window is refilled. Returns
  // how many copies it sent. Called every second by main().
  size_t sweep_delivery(int64_t now_ms);
  // When a copy refused for now goes again (for tests and diagnostics); nullopt if not waiting.
  std::optional<int64_t> retry_due(const std::string& delivery_hex) const;
  // The same, one item, on the caller's thread (for tests).
  void on_refused(const std::string& agency, const std::vector<uint8_t>& delivery_id, int code);
  void on_acknowledged(const std::string& agency, const std::vector<uint8_t>& delivery_id);
  bool on_answer(const AgentAnswer& answer);
  ~EnquiryDesk();

 private:
  struct LinkItem;
  static constexpr size_t kMaxFollowUps = 20;
  static constexpr size_t kMaxLinkQueue = 20'000, kMaxLinkQueueBytes = size_t{256} << 20;

  // The audit log, the one way: each event appended (the records of a batch share a group
  // commit) and waited for; the result per event, in order.
  std::vector<Status> record_all(std::vector<AuditEvent>& events);
  Status record(AuditEvent e);
  // What the audit log already holds for an enquiry (the store may lag behind it after a
  // failure between the two): answers by "agency/digest", deliveries and failures by agency.
  struct OnRecord {
    std::set<std::string> answers, delivered, failed;
    bool abandoned = false;
  };
  OnRecord on_record_for(const std::string& enquiry) const;
  // The enquiry was recorded (enquiry.created) but is not stored: recorded so, once.
  void abandon(const std::string& id, const std::string& case_ref, const std::string& why);
  Status reconcile();  // see open()

  // Submission (enquiry_submit.cpp), in steps that share one Submission.
  struct Submission;
  EnquiryError rate_limited(const EnquiryActor& actor);
  AuditEvent created_event(const Submission& sub) const;
  void make_record_and_copies(Submission& sub);
  Status store_submission(Submission& sub);
  std::optional<EnquiryError> check_follow_up(const std::string& follows, const EnquiryRequest& request,
                                              const EnquiryActor& actor);
  // The agreement's per-user limits on enquiries an hour and a day: takes a place in the
  // user's window at `now_ms`, or returns false if the user is at a limit. A place taken for an
  // enquiry that is then not stored is given back.
  bool take_rate_slot(const std::string& user_id, int64_t now_ms);
  void give_back_rate_slot(const std::string& user_id, int64_t at_ms);
  // A retry of an earlier submission with the same key: its answer, or the refusal.
  std::optional<std::variant<nlohmann::json, EnquiryError>> replay(const EnquiryActor& actor, const std::string& key,
                                                                   const std::string& hash);
  // Counts the user's lookups of each pseudonym in the window (forgetting older ones); returns
  // the pseudonyms this enquiry takes over the limit.
  Result<std::vector<std::string>> count_lookups(Txn& txn, const std::string& user_id, const std::string& enquiry,
                                                 const std::vector<std::string>& pseudonyms, int64_t now_ms);
  // One flag for the DPO (audited) for this enquiry's pseudonyms that went over the limit.
  void raise_repeated_lookup_flag(const EnquiryActor& actor, const std::string& enquiry, const std::string& case_ref,
                                  const std::vector<std::string>& crossed);

  // The link.
  void post_link(LinkItem item);
  void process_link(std::vector<LinkItem>& batch);
  // One item's change to the store and to `record` (its enquiry's); sets the item's
  // stored/changed/before.
  Status apply_link_item(Txn& txn, LinkItem& it, EnquiryRecord& record);

  // Destroys the case's content (vault key and items, queued copies in the outbox) once `e`,
  // the record of why, is durable.
  Status purge_case(const std::string& id, AuditEvent e, const std::string& reason_text);

  void notify(const EnquiryRecord& record, const std::string& agency);
  void count_status(std::optional<AgencyStatus> from, AgencyStatus to);
  void observe_latency(int64_t ms);

  Env& env_;
  CaseVault& vault_;
  const policy::Policy& policy_;
  AuditLog& audit_;
  SigningKey key_;
  Pseudonymizer pseudonyms_;
  Logger log_;
  AgentListener* listener_ = nullptr;
  EnquiryStore store_;
  Delivery delivery_;  // the outbox and what is in flight to each agency
  std::mutex rate_mu_;
  std::unordered_map<std::string, std::deque<int64_t>> rate_windows_;  // user -> times in the last day
  std::mutex link_mu_;  // one batch of acknowledgements and answers at a time
  std::mutex link_queue_mu_;
  std::condition_variable link_wake_;
  std::vector<LinkItem> link_queue_;  // the next batch
  size_t link_queue_bytes_ = 0;
  bool link_stopping_ = false;
  std::thread link_thread_;
  GroupCommit writer_;  // every write to the store: read-modify-write inside one operation
  StatusHub hub_;
  mutable std::mutex metrics_mu_;
  std::map<AgencyStatus, int64_t> status_counts_;
  std::vector<uint64_t> latency_buckets_;
  uint64_t latency_count_ = 0, flags_raised_ = 0, damaged_records_ = 0, unreadable_answers_ = 0, abandoned_ = 0;
  double latency_sum_s_ = 0;
};

}  // namespace mash::broker
