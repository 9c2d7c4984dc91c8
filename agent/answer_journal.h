// Answers made but not yet on the disclosure record: the write-ahead step that makes the agent's
// answer to a delivery the same, byte for byte, whatever moment the agent is killed at.
//
// An answer is made once. Its bytes (in AgentState's answers table) and its disclosure records
// (exact bytes, with their index keys) are stored first, with a journal entry naming what is
// still to do; then the records are appended to the disclosure log; then, in a second write, the
// entry goes and the answer joins the outbox (and, for a released review, leaves the queue).
// Nothing is sent before that second write.
//
// Killed between the two writes, the agent finishes the entry at its next start (or when the hub
// sends the enquiry again): records already on the log are not appended twice (they are found
// by the enquiry's index key and compared byte for byte), and the stored answer is the one sent.
// So the disclosure log never holds two different answers for one delivery.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent_state.h"
#include "audit_event.h"
#include "audit_log.h"
#include "lmdb_store.h"
#include "result.h"

namespace mash::agent {

struct JournalRecord {
  std::string record;                                    // as appended to the disclosure log
  std::vector<std::pair<std::string, std::string>> keys;  // its index keys
};

struct JournalEntry {
  std::string id_hex;  // the delivery (enquiry id)
  std::vector<JournalRecord> records;
  bool to_outbox = false;      // a final answer: it joins the outbox once recorded
  bool leaves_review = false;  // a released review: the item leaves the queue once recorded
  bool recovered = false;      // read back from the store: some records may be on the log already

  std::string encode() const;
  static Result<JournalEntry> decode(std::string id_hex, std::string_view bytes);
};

class AnswerJournal {
 public:
  AnswerJournal(AgentState& state, AuditLog& disclosure) : state_(state), disclosure_(disclosure) {}

  // The exact records the events become (their time fixed now).
  static Result<std::vector<JournalRecord>> records_of(const std::vector<AuditEvent>& events);

  // Step 1, inside the caller's write with the answer itself.
  Status write(Txn& txn, const JournalEntry& entry);
  // Step 2: the records, durably. Of a recovered entry, those already on the log are left out.
  Status record(const std::vector<JournalEntry>& entries);
  // Step 3, inside the caller's second write: the entry goes, the answer joins the outbox and a
  // released review leaves the queue.
  Status complete(Txn& txn, const JournalEntry& entry);

  // The delivery's entry still to finish, if it has one.
  Result<std::optional<JournalEntry>> find(const Txn& txn, const std::string& id_hex) const;
  // Entries still to finish, oldest first, at most `max`.
  Result<std::vector<JournalEntry>> unfinished(size_t max) const;

 private:
  // Whether this exact record is on the disclosure log for the delivery.
  Result<bool> on_log(const std::string& id_hex, const std::string& record) const;

  AgentState& state_;
  AuditLog& disclosure_;
};

}  // namespace mash::agent
