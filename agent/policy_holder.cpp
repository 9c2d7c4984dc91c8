#include "policy_holder.h"

#include <fcntl.h>
#include <unistd.h>

namespace mash::agent {

namespace {

Status write_durably(const std::filesystem::path& path, std::string_view text) {
  auto tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(ErrorCode::kUnavailable, tmp.string() + ": cannot write");
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    return make_error(ErrorCode::kUnavailable, path.string() + ": cannot write");
  }
  return {};
}

}  // namespace

PolicyHolder::PolicyHolder(std::filesystem::path dir, VerifyKey signer,
                           std::filesystem::path local_policy, std::string agency)
    : dir_(std::move(dir)),
      gate_(signer, dir_ / "accepted"),
      local_policy_(std::move(local_policy)),
      agency_(std::move(agency)) {}

Status PolicyHolder::load(const std::filesystem::path& installed,
                          const std::filesystem::path& installed_sig) {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return make_error(ErrorCode::kUnavailable, dir_.string() + ": " + ec.message());
  const auto held = dir_ / "current.toml";
  if (std::filesystem::exists(held)) {
    auto toml = policy::read_text_file(held);
    auto sig = policy::read_text_file(dir_ / "current.toml.sig", 64 * 1024);
    if (!toml.ok()) return toml.error();
    if (!sig.ok()) return sig.error();
    if (auto st = accept(*toml, *sig, held.string()); !st.ok()) return st;
  }
  if (!installed.empty()) {
    auto toml = policy::read_text_file(installed);
    auto sig = policy::read_text_file(installed_sig, 64 * 1024);
    if (!toml.ok()) return toml.error();
    if (!sig.ok()) return sig.error();
    auto parsed = policy::parse_agreement(*toml, installed.string());
    // An installed file older than what the hub has since sent is simply not used.
    if (parsed.ok() && parsed->version < version()) return {};
    if (parsed.ok() && parsed->version == version()) return {};
    if (auto st = offer(*toml, *sig, installed.string()); !st.ok()) return st;
  }
  return {};
}

Status PolicyHolder::offer(std::string_view toml, std::string_view signature, const std::string& source) {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return make_error(ErrorCode::kUnavailable, dir_.string() + ": " + ec.message());
  // Kept beside the current bundle first, so a crash between accepting and saving cannot leave
  // the gate ahead of the files.
  if (auto st = write_durably(dir_ / "incoming.toml", toml); !st.ok()) return st;
  if (auto st = write_durably(dir_ / "incoming.toml.sig", signature); !st.ok()) return st;
  if (auto st = accept(toml, signature, source); !st.ok()) return st;
  if (auto st = write_durably(dir_ / "current.toml.sig", signature); !st.ok()) return st;
  return write_durably(dir_ / "current.toml", toml);
}

Status PolicyHolder::accept(std::string_view toml, std::string_view signature, const std::string& source) {
  auto compiled = gate_.accept(toml, signature, source);
  if (!compiled.ok()) return compiled.error();
  if (!local_policy_.empty()) {
    auto text = policy::read_text_file(local_policy_);
    if (!text.ok()) return text.error();
    auto local = policy::parse_local_policy(*text, local_policy_.string(), compiled->agreement());
    if (!local.ok()) return local.error();
    if (local->agency != agency_) {
      return make_error(ErrorCode::kInvalidArgument,
                        local_policy_.string() + ": local policy is for agency '" + local->agency +
                            "', this agent is '" + agency_ + "'");
    }
    if (auto st = compiled->apply_local(*local); !st.ok()) return st;
  }
  if (compiled->agreement().agency(agency_) == nullptr) {
    return make_error(ErrorCode::kInvalidArgument,
                      source + ": the agreement has no agency '" + agency_ + "' (this agent's certificate)");
  }
  auto p = std::make_shared<const policy::Policy>(std::move(compiled).value());
  std::lock_guard lock(mu_);
  current_ = std::move(p);
  return {};
}

std::shared_ptr<const policy::Policy> PolicyHolder::current() const {
  std::lock_guard lock(mu_);
  return current_;
}

int64_t PolicyHolder::version() const {
  std::lock_guard lock(mu_);
  return current_ ? current_->agreement().version : 0;
}

}  // namespace mash::agent
