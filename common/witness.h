// A witness of another party's audit log: an agent witnesses the broker's access audit, and the
// broker each agent's disclosure log. It keeps the newest checkpoint it has verified (in a small
// state file, written durably) and accepts a newer one only with a consistency proof that the
// newer tree extends it. A checkpoint for a smaller tree, a second tree of the same size, or a
// proof that fails raises an alarm: it is kept in the state file, survives restarts, and the
// witnessing side stops the exchange (enquiries) until an operator resets it (`mash-agent
// witness-reset`, `mash-broker witness-reset`), having found out why the history changed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "merkle.h"
#include "result.h"
#include "signed_note.h"

namespace mash {

class Witness {
 public:
  static Result<Witness> open(std::filesystem::path state_file, NoteVerifier verifier,
                              std::string origin);

  struct Step {
    enum class Kind {
      kAccepted,   // first checkpoint (trust on first use), or a proven extension
      kUnchanged,  // the same checkpoint again
      kNeedProof,  // ask the broker for a consistency proof old_size -> new_size
      kRefused,    // not a valid checkpoint (bad signature, wrong origin): ignored, not trusted
      kAlarm,      // the broker's history is inconsistent with what we witnessed
    };
    Kind kind = Kind::kRefused;
    uint64_t old_size = 0, new_size = 0;
    std::string reason;
  };

  Step on_checkpoint(std::string_view note);
  Step on_proof(uint64_t old_size, uint64_t new_size, const std::vector<merkle::Hash>& proof);

  bool alarmed() const { return !alarm_.empty(); }
  const std::string& alarm_reason() const { return alarm_; }
  uint64_t witnessed_size() const { return current_ ? current_->size : 0; }
  // Operator action: clears the alarm and the witnessed checkpoint (the next one is trusted on
  // first use). The previous alarm is kept in the state file's history line.
  Status reset();

 private:
  Witness(std::filesystem::path state_file, NoteVerifier verifier, std::string origin)
      : state_file_(std::move(state_file)), verifier_(std::move(verifier)), origin_(std::move(origin)) {}
  Status load();
  Status persist();
  Step alarm(std::string reason);

  std::filesystem::path state_file_;
  NoteVerifier verifier_;
  std::string origin_;
  std::optional<Checkpoint> current_;
  std::string current_note_;
  std::optional<Checkpoint> pending_;
  std::string pending_note_;
  std::string alarm_;
  std::string history_;
};

}  // namespace mash
