#include "witness.h"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "clock.h"
#include "crypto.h"

namespace mash {

namespace {

constexpr std::string_view kHeader = "mash-witness-v1";

std::string one_line(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return s.substr(0, 400);
}

}  // namespace

Result<Witness> Witness::open(std::filesystem::path state_file, NoteVerifier verifier, std::string origin) {
  auto dir = state_file.parent_path();
  std::error_code ec;
  if (!dir.empty() && !std::filesystem::exists(dir, ec)) {
    std::filesystem::create_directories(dir, ec);
    if (ec) return make_error(ErrorCode::kUnavailable, dir.string() + ": cannot create: " + ec.message());
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
  }
  Witness w(std::move(state_file), std::move(verifier), std::move(origin));
  if (auto st = w.load(); !st.ok()) return st.error();
  return w;
}

Status Witness::load() {
  std::error_code ec;
  if (!std::filesystem::exists(state_file_, ec)) return {};
  std::ifstream in(state_file_);
  std::string line;
  if (!std::getline(in, line) || line != kHeader) {
    return make_error(ErrorCode::kDataLoss, state_file_.string() + ": not a witness state file");
  }
  while (std::getline(in, line)) {
    auto colon = line.find(": ");
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon), value = line.substr(colon + 2);
    if (key == "checkpoint") {
      auto note = from_base64(value);
      if (!note.ok()) return make_error(ErrorCode::kDataLoss, state_file_.string() + ": damaged checkpoint");
      std::string text(note->begin(), note->end());
      auto c = verifier_.verify(text, origin_);
      if (!c.ok()) return make_error(ErrorCode::kDataLoss, state_file_.string() + ": " + c.error().message);
      current_ = *c;
      current_note_ = text;
    } else if (key == "alarm") {
      alarm_ = value;
    } else if (key == "history") {
      history_ = value;
    }
  }
  return {};
}

Status Witness::persist() {
  std::ostringstream o;
  o << kHeader << "\n";
  if (current_) {
    o << "size: " << current_->size << "\n";
    o << "checkpoint: " << to_base64(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(current_note_.data()),
                                                              current_note_.size()))
      << "\n";
  }
  if (!alarm_.empty()) o << "alarm: " << alarm_ << "\n";
  if (!history_.empty()) o << "history: " << history_ << "\n";
  std::string text = o.str();
  auto tmp = state_file_;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(ErrorCode::kUnavailable, tmp.string() + ": cannot write witness state");
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), state_file_.c_str()) != 0) {
    return make_error(ErrorCode::kUnavailable, state_file_.string() + ": cannot record witness state");
  }
  auto dir = state_file_.parent_path().empty() ? std::filesystem::path(".") : state_file_.parent_path();
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

Witness::Step Witness::alarm(std::string reason) {
  alarm_ = one_line(iso_time(unix_millis_now()) + " " + reason);
  (void)persist();  // even if this fails the in-memory alarm stands
  Step s;
  s.kind = Step::Kind::kAlarm;
  s.reason = reason;
  return s;
}

Witness::Step Witness::on_checkpoint(std::string_view note) {
  Step s;
  auto c = verifier_.verify(note, origin_);
  if (!c.ok()) {
    s.kind = Step::Kind::kRefused;
    s.reason = c.error().message;
    return s;
  }
  s.new_size = c->size;
  if (!current_) {
    current_ = *c;
    current_note_ = std::string(note);
    if (auto st = persist(); !st.ok()) {
      current_.reset();
      s.kind = Step::Kind::kRefused;
      s.reason = st.error().message;
      return s;
    }
    s.kind = Step::Kind::kAccepted;
    return s;
  }
  s.old_size = current_->size;
  if (c->size < current_->size) {
    return alarm("broker audit log shrank from " + std::to_string(current_->size) + " to " +
                 std::to_string(c->size) + " records (truncated or rolled back)");
  }
  if (c->size == current_->size) {
    if (c->root != current_->root) {
      return alarm("broker audit log has two different trees of size " + std::to_string(c->size) +
                   " (history rewritten)");
    }
    s.kind = Step::Kind::kUnchanged;
    return s;
  }
  pending_ = *c;
  pending_note_ = std::string(note);
  s.kind = Step::Kind::kNeedProof;
  return s;
}

Witness::Step Witness::on_proof(uint64_t old_size, uint64_t new_size, const std::vector<merkle::Hash>& proof) {
  Step s;
  s.old_size = old_size;
  s.new_size = new_size;
  if (!current_ || !pending_ || old_size != current_->size || new_size != pending_->size) {
    s.kind = Step::Kind::kRefused;
    s.reason = "a consistency proof nobody asked for";
    return s;
  }
  if (!merkle::verify_consistency(old_size, new_size, current_->root, pending_->root, proof)) {
    pending_.reset();
    return alarm("broker checkpoint of " + std::to_string(new_size) + " records does not extend the witnessed " +
                 std::to_string(old_size) + " (history rewritten)");
  }
  auto previous = current_;
  auto previous_note = current_note_;
  current_ = pending_;
  current_note_ = pending_note_;
  pending_.reset();
  if (auto st = persist(); !st.ok()) {
    current_ = previous;
    current_note_ = previous_note;
    s.kind = Step::Kind::kRefused;
    s.reason = st.error().message;
    return s;
  }
  s.kind = Step::Kind::kAccepted;
  return s;
}

Status Witness::reset() {
  if (!alarm_.empty()) history_ = one_line("reset " + iso_time(unix_millis_now()) + " after: " + alarm_);
  alarm_.clear();
  current_.reset();
  current_note_.clear();
  pending_.reset();
  return persist();
}

}  // namespace mash
