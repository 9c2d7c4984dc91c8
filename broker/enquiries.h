// Enquiries at the hub: checked against the agreement, recorded, signed, delivered to each
// chosen agency through a durable outbox, and their answers kept.
//
// - Validation names each bad field ("subjects[0].date_of_birth") and stores nothing.
// - The enquiry and the policy decision go into the audit log durably before anything is stored
//   for sending or sent (fail closed).
// - Case content (subjects' details, the concerns, justifications, answers) is encrypted at rest
//   in the case vault under the enquiry's own key; the enquiry's index record holds ids and
//   codes only.
// - Each agency's copy has its own 16-byte delivery id. It waits in the outbox (delivery.h) until
//   the agent acknowledges it, sent as that agency's window allows and again if it waits too
//   long; the agent answers a repeated id with the same answer, so nothing is lost or doubled
//   across restarts.
// - Who may see what: a researcher their own enquiries, a manager their team's; a DPO or an admin
//   never sees case content.
#pragma once

#include <array>
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
#include "group_commit.h"
#include "lmdb_store.h"
#include "log.h"
#include "pseudonym.h"
#include "result.h"
#include "status_hub.h"

namespace mash::broker {

struct Caller;

struct EnquiryActor {
  std::string user_id, role, team;
};

// A refusal with field-level messages (400), or another error.
struct EnquiryError {
  int status = 400;
  std::string code, message;
  std::map<std::string, std::string> fields;
};

class EnquiryDesk {
 public:
  EnquiryDesk(Env& env, CaseVault& vault, const policy::Policy& policy, AuditLog& audit,
              SigningKey signing_key, Pseudonymizer pseudonyms, Logger log);
  Status open();  // opens the databases
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
  // Prometheus text: agency copies by status, answer latency, flags raised, watchers.
  std::string metrics_text() const;

  // What each agency would be asked, and what is not permitted and why. Nothing is stored.
  std::variant<nlohmann::json, EnquiryError> preview(const nlohmann::json& request);
  // Validates, records, signs and sends. Returns the new enquiry's id and per-agency status.
  std::variant<nlohmann::json, EnquiryError> submit(const nlohmann::json& request, const EnquiryActor& actor);
  std::variant<nlohmann::json, EnquiryError> list(const EnquiryActor& actor);
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
  // on reconnection. Any other code is for
  // good: the agency's copy is marked failed (audited as enquiry.failed with the reason),
  // leaves the outbox, and watchers are told; an answer that comes later is still recorded.
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
  struct Checked;
  struct LinkItem;
  static constexpr size_t kMaxFollowUps = 20;
  // A follow-up's earlier enquiry: one the actor may see, still held, of the same case, asked of
  // the same agencies; the error to give otherwise.
  std::optional<EnquiryError> check_follow_up(const std::string& follows, const Checked& c, const EnquiryActor& actor);
  static constexpr size_t kMaxLinkQueue = 20'000, kMaxLinkQueueBytes = size_t{256} << 20;
  void post_link(LinkItem item);
  // What the audit log already holds for an enquiry (the store may lag behind it after a
  // failure between the two): answers by "agency/digest", deliveries and failures by agency.
  struct OnRecord {
    std::set<std::string> answers, delivered, failed;
  };
  OnRecord on_record_for(const std::string& enquiry) const;
  void process_link(std::vector<LinkItem>& batch);
  // One item's change to the store and to `meta` (its enquiry's record); sets the item's
  // stored/changed/before.
  Status apply_link_item(Txn& txn, LinkItem& it, nlohmann::json& meta);
  std::variant<Checked, EnquiryError> check(const nlohmann::json& request);
  // The agreement's per-user limits on enquiries an hour and a day: takes a place in the
  // user's window at `now_ms`, or returns false if the user is at a limit. A place taken for an
  // enquiry that is then not stored is given back.
  bool take_rate_slot(const std::string& user_id, int64_t now_ms);
  void give_back_rate_slot(const std::string& user_id, int64_t at_ms);
  Status record(AuditEvent e);
  void notify(const nlohmann::json& meta, const std::string& agency);
  // Entries of a time-keyed table ("<16 hex ms>/<enquiry>") due at now_ms, oldest first.
  std::vector<std::pair<std::string, std::string>> due_entries(Dbi db, int64_t now_ms, size_t max);
  nlohmann::json read_meta(const std::string& id);  // null if absent
  // Destroys the case's content (vault key and items, queued copies in the outbox) once `e`,
  // the record of why, is durable.
  Status purge_case(const std::string& id, AuditEvent e, const std::string& reason_text);
  void count_status(const std::string& from, const std::string& to);
  void observe_latency(int64_t ms);
  // Counts the user's lookups of each pseudonym in the window (forgetting older ones); returns
  // the pseudonyms this enquiry takes over the limit.
  Result<std::vector<std::string>> count_lookups(Txn& txn, const std::string& user_id, const std::string& enquiry,
                                                 const std::vector<std::string>& pseudonyms, int64_t now_ms);
  // One flag for the DPO (audited) for this enquiry's pseudonyms that went over the limit.
  void raise_repeated_lookup_flag(const EnquiryActor& actor, const std::string& enquiry, const std::string& case_ref,
                                  const std::vector<std::string>& crossed);

  Env& env_;
  CaseVault& vault_;
  const policy::Policy& policy_;
  AuditLog& audit_;
  SigningKey key_;
  Pseudonymizer pseudonyms_;
  Logger log_;
  AgentListener* listener_ = nullptr;
  Dbi enquiries_, deliveries_, due_, by_owner_, lookups_, retention_;
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
  std::map<std::string, int64_t> status_counts_;
  std::vector<uint64_t> latency_buckets_;
  uint64_t latency_count_ = 0, flags_raised_ = 0;
  double latency_sum_s_ = 0;
};

}  // namespace mash::broker
