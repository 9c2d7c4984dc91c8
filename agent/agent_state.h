// The agent's durable state besides the extract: every enquiry received (as evidence), every
// answer given (so a repeated enquiry id gets the same answer, across restarts), answers the
// hub has not yet confirmed (the outbox, re-sent on each connection), and the review queue.
//
// One LMDB environment, shared by the running agent and the `mash-agent review` commands (LMDB
// is safe across processes); only the running agent sends and signs.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "answerer.h"
#include "lmdb_store.h"
#include "result.h"

namespace mash::agent {

struct StoredAnswer {
  std::vector<uint8_t> body;       // AnswerBody bytes
  std::vector<uint8_t> signature;  // the agent's signature over them (common/envelope.h)
  bool final = true;               // false: the "awaiting review" interim answer
};

struct ReviewItem {
  std::string enquiry_id;          // hex
  int64_t received_ms = 0;
  uint64_t policy_version = 0;
  std::string state = "pending";   // pending | approved | declined
  std::string reviewer, note;      // set by approve/decline (the note stays at the agency)
  std::vector<std::string> withhold;  // fields the reviewer withheld before approving
  int64_t decided_ms = 0;
  // Possible subjects the reviewer settled (review resolve): ref -> local person id or "none",
  // with who and when, in order.
  std::map<std::string, std::string> settled;
  struct Settlement {
    std::string ref, candidate, reviewer;
    int64_t at_ms = 0;
  };
  std::vector<Settlement> settlements;
  AnswerDraft draft;

  nlohmann::json to_json() const;
  static Result<ReviewItem> from_json(std::string_view text);
};

class AgentState {
 public:
  static Result<std::unique_ptr<AgentState>> open(const std::filesystem::path& dir);

  Env& env() { return env_; }
  Dbi enquiries() const { return enquiries_; }
  Dbi answers() const { return answers_; }
  Dbi outbox() const { return outbox_; }
  Dbi review() const { return review_; }
  Dbi journal() const { return journal_; }  // answers not yet on the disclosure record (answer_journal.h)

  Result<std::optional<StoredAnswer>> answer(const Txn& txn, std::string_view id_hex) const;
  static std::string encode(const StoredAnswer& a);
  static Result<StoredAnswer> decode(std::string_view bytes);

  Result<std::vector<ReviewItem>> review_items() const;
  Result<std::optional<ReviewItem>> review_item(std::string_view id_hex) const;
  // Records a reviewer's decision on a pending item; refuses items already decided.
  Status decide(std::string_view id_hex, bool approve, const std::string& reviewer,
                const std::string& note, const std::vector<std::string>& withhold);
  // Records a reviewer's settlement of one possible subject on a pending item, with the draft
  // recomputed under it; refuses items already decided.
  // `based_on`: the settlements the draft was recomputed under, besides this one; if another
  // reviewer's settlement was stored meanwhile, nothing is changed and the call fails (run it
  // again).
  Status settle(std::string_view id_hex, const std::string& ref, const std::string& candidate,
                const std::string& reviewer, const AnswerDraft& recomputed,
                const std::map<std::string, std::string>& based_on);
  // The enquiry as received: the hub's signed body (verified when it arrived).
  Result<std::optional<std::vector<uint8_t>>> enquiry_body(std::string_view id_hex) const;

 private:
  explicit AgentState(Env env) : env_(std::move(env)) {}
  // The review item `id_hex` inside `txn`, if it is still pending; an error naming why not.
  Result<ReviewItem> pending_item(Txn& txn, std::string_view id_hex) const;
  Env env_;
  Dbi enquiries_, answers_, outbox_, review_, journal_;
};

}  // namespace mash::agent
