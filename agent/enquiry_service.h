// The agent's enquiry pipeline, on its own worker thread so that matching and the durable
// writes never hold up the link:
//
//   verify the hub's signature -> decode the body -> an answer already given? send it again
//   -> draft the answer (answerer.h) -> the answer and its journal entry in LMDB (durable)
//   -> disclosure log (durable) -> outbox/review in LMDB (durable) -> acknowledge and answer.
//
// Nothing leaves before its disclosure record and the stored answer are durable, and an answer
// is made once: a crash between the steps is finished from the journal (answer_journal.h), so
// a repeated delivery gets the same answer, byte for byte. Enquiries
// that arrive together are handled as one batch: one LMDB commit, one group commit of the
// disclosure log. Answers stay in the outbox until the hub acknowledges them and are sent
// again on every connection and whenever one has waited 30 s unacknowledged, 256 at a time. Decisions made with `mash-agent review` are picked up within
// `review_poll` and sent.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent_state.h"
#include "answer_journal.h"
#include "answerer.h"
#include "audit_event.h"
#include "audit_log.h"
#include "crypto.h"
#include "extract.h"
#include "framing.h"
#include "log.h"
#include "matcher.h"
#include "policy_holder.h"
#include "witness.h"

namespace mash::agent {

struct EnquiryServiceOptions {
  std::string agency;
  VerifyKey hub_key;                 // enquiries must be signed with this key
  FrameLimits limits;
  MatchThresholds thresholds;
  std::vector<std::string> identifier_schemes;  // the agency's own ([matching] identifier_schemes)
  std::chrono::milliseconds review_poll{500};
  size_t max_queued = 10'000;        // enquiries waiting; more are refused as overloaded
};

struct EnquiryServiceCounters {
  std::atomic<uint64_t> received{0}, answered{0}, repeated{0}, declined{0}, bad_signature{0},
      queued_for_review{0}, reviewed{0}, refused{0};
};

class EnquiryService {
 public:
  // Sends one frame on the current connection; false when there is none.
  using Sender = std::function<bool(std::vector<uint8_t>)>;

  EnquiryService(EnquiryServiceOptions options, SigningKey answer_key, PolicyHolder& policy,
                 ExtractStore& extract, AgentState& state, AuditLog& disclosure, Logger log);
  ~EnquiryService();
  void start();
  void stop();

  // From the link (any thread). `reply` sends on the connection the enquiry came on.
  void submit(std::vector<uint8_t> id, std::vector<uint8_t> body, std::vector<uint8_t> signature,
              Sender reply);
  // The hub confirmed it holds our answer to this enquiry: the one whose body has SHA-256
  // `answer_digest` (empty from older hubs: whichever answer is in the outbox).
  void acknowledged(std::vector<uint8_t> enquiry_id, std::vector<uint8_t> answer_digest = {});
  // A new connection: answers in the outbox go out on it.
  void connected(Sender sender);
  void disconnected();

  const EnquiryServiceCounters& counters() const { return counters_; }

 private:
  struct HubAck {
    std::vector<uint8_t> id, digest;
  };
  struct Incoming {
    std::vector<uint8_t> id, body, signature;
    Sender reply;
  };
  struct Outgoing {
    std::string id_hex;
    std::vector<uint8_t> id;
    Sender reply;
    std::vector<std::vector<uint8_t>> frames;
    // Durable writes for this enquiry (done in one transaction for the batch).
    std::string enquiry_record;
    std::optional<StoredAnswer> answer;
    bool to_outbox = false;
    std::optional<ReviewItem> review;
    bool leaves_review = false;  // a released review item
    std::vector<AuditEvent> events;
    // An answer stored earlier whose recording was not finished (answer_journal.h): only the
    // rest of its journal entry is done, nothing is made again.
    std::optional<JournalEntry> unfinished;
  };

  void run();
  void process_batch(std::vector<Incoming>& batch, std::vector<HubAck>& acks);
  std::optional<Outgoing> process(Incoming& in);
  void poll_reviews(std::vector<HubAck>& acks);  // writes (and clears) acks with its commit
  // Answers, enquiries as received, review items and their journal entries (durably); then
  // the disclosure records (durably); then the outbox, the review queue and the acknowledged
  // answers' removal from the outbox. Nothing is sent before all three.
  Status commit(std::vector<Outgoing>& out, const std::vector<HubAck>& acks);
  // Finishes answers whose recording a crash or a failure interrupted (a batch at a time).
  void finish_unfinished(std::vector<HubAck>& acks);
  void write_acks(std::vector<HubAck>& acks);  // clears `acks` once written
  // True if the acknowledgement is for the answer now stored under its id.
  bool acknowledges_outbox(const Txn& txn, const HubAck& ack) const;
  static constexpr std::chrono::milliseconds kAckDelay{200};
  // Sends answers waiting in the outbox (see the .cpp). On the worker thread.
  void send_outbox();
  static constexpr size_t kOutboxAtOnce = 256;
  static constexpr std::chrono::seconds kOutboxResend{30}, kOutboxCheck{2};
  std::map<std::string, std::chrono::steady_clock::time_point> outbox_sent_;  // id -> when sent
  StoredAnswer sign_answer(const std::vector<uint8_t>& body, bool final) const;
  std::vector<AuditEvent> disclosure_events(const AnswerDraft& draft, const std::string& id_hex,
                                            const std::string& type, const std::string& digest) const;

  EnquiryServiceOptions options_;
  SigningKey answer_key_;
  PolicyHolder& policy_;
  ExtractStore& extract_;
  AgentState& state_;
  AuditLog& disclosure_;
  AnswerJournal journal_;
  bool unfinished_ = true;  // journal entries may be waiting (so, at start)
  Logger log_;
  Matcher matcher_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Incoming> queue_;
  std::vector<HubAck> acks_;
  bool resend_outbox_ = false;
  bool new_connection_ = false;
  bool stopping_ = false;
  Sender current_;
  std::thread worker_;
  EnquiryServiceCounters counters_;
};

}  // namespace mash::agent
