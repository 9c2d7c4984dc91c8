#include "signing.h"

#include <fcntl.h>
#include <unistd.h>

#include <sstream>

namespace mash::policy {

namespace {

constexpr std::string_view kSignatureHeader = "mash-isa-signature-v1";
constexpr std::string_view kStateHeader = "mash-isa-state-v1";

std::span<const uint8_t> bytes_of(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Splits "key: value" lines after a header line; refuses anything else.
Result<std::vector<std::pair<std::string, std::string>>> read_lines(std::string_view text,
                                                                    std::string_view header,
                                                                    const std::string& source) {
  if (text.size() > 4096) return make_error(ErrorCode::kInvalidArgument, source + ": too large");
  std::vector<std::pair<std::string, std::string>> out;
  std::istringstream in{std::string(text)};
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (n == 1) {
      if (line != header) {
        return make_error(ErrorCode::kInvalidArgument,
                          source + ":1: expected '" + std::string(header) + "'");
      }
      continue;
    }
    if (line.empty()) continue;
    auto colon = line.find(": ");
    if (colon == std::string::npos) {
      return make_error(ErrorCode::kInvalidArgument,
                        source + ":" + std::to_string(n) + ": expected 'key: value'");
    }
    out.emplace_back(line.substr(0, colon), line.substr(colon + 2));
  }
  if (n == 0) return make_error(ErrorCode::kInvalidArgument, source + ": empty");
  return out;
}

Result<int64_t> parse_version(const std::string& s, const std::string& source) {
  if (s.empty() || s.size() > 12 || s.find_first_not_of("0123456789") != std::string::npos) {
    return make_error(ErrorCode::kInvalidArgument, source + ": invalid version '" + s + "'");
  }
  return std::stoll(s);
}

std::string digest_hex(std::string_view canonical) { return to_hex(sha256(bytes_of(canonical))); }

}  // namespace

std::string format_signature(const AgreementSignature& sig) {
  std::ostringstream o;
  o << kSignatureHeader << "\n"
    << "agreement: " << sig.agreement_id << "\n"
    << "version: " << sig.version << "\n"
    << "signer: " << to_base64(sig.signer.bytes) << "\n"
    << "signature: " << to_base64(sig.signature) << "\n";
  return o.str();
}

Result<AgreementSignature> parse_signature(std::string_view text, const std::string& source) {
  auto lines = read_lines(text, kSignatureHeader, source);
  if (!lines.ok()) return lines.error();
  AgreementSignature sig;
  bool have[4] = {false, false, false, false};
  for (const auto& [k, v] : *lines) {
    if (k == "agreement") {
      sig.agreement_id = v;
      have[0] = true;
    } else if (k == "version") {
      auto ver = parse_version(v, source);
      if (!ver.ok()) return ver.error();
      sig.version = *ver;
      have[1] = true;
    } else if (k == "signer") {
      auto b = from_base64(v);
      if (!b.ok() || b->size() != 32) return make_error(ErrorCode::kInvalidArgument, source + ": bad signer key");
      std::copy(b->begin(), b->end(), sig.signer.bytes.begin());
      have[2] = true;
    } else if (k == "signature") {
      auto b = from_base64(v);
      if (!b.ok() || b->size() != 64) return make_error(ErrorCode::kInvalidArgument, source + ": bad signature");
      std::copy(b->begin(), b->end(), sig.signature.begin());
      have[3] = true;
    } else {
      return make_error(ErrorCode::kInvalidArgument, source + ": unknown line '" + k + "'");
    }
  }
  if (!(have[0] && have[1] && have[2] && have[3])) {
    return make_error(ErrorCode::kInvalidArgument,
                      source + ": incomplete signature (needs agreement, version, signer, signature)");
  }
  return sig;
}

Result<AgreementSignature> sign_agreement(std::string_view toml_text, const std::string& source,
                                          const SigningKey& key) {
  auto agreement = parse_agreement(toml_text, source);
  if (!agreement.ok()) return agreement.error();
  auto canonical = canonical_bytes(toml_text, source);
  if (!canonical.ok()) return canonical.error();
  AgreementSignature sig;
  sig.agreement_id = agreement->id;
  sig.version = agreement->version;
  sig.signer = key.verify_key();
  sig.signature = key.sign(bytes_of(*canonical));
  return sig;
}

Result<Agreement> verify_agreement(std::string_view toml_text, const std::string& source,
                                   std::string_view signature_text, const VerifyKey& trusted) {
  auto sig = parse_signature(signature_text, source + ".sig");
  if (!sig.ok()) return sig.error();
  if (!constant_time_equal(sig->signer.bytes, trusted.bytes)) {
    return make_error(ErrorCode::kUnauthenticated,
                      source + ": signed by key " + to_base64(sig->signer.bytes) +
                          ", which is not the configured signer " + to_base64(trusted.bytes));
  }
  auto canonical = canonical_bytes(toml_text, source);
  if (!canonical.ok()) return canonical.error();
  if (!verify(trusted, bytes_of(*canonical), sig->signature)) {
    return make_error(ErrorCode::kUnauthenticated,
                      source + ": signature does not match the document (altered after signing?)");
  }
  auto agreement = parse_agreement(toml_text, source);
  if (!agreement.ok()) return agreement.error();
  if (agreement->id != sig->agreement_id || agreement->version != sig->version) {
    return make_error(ErrorCode::kUnauthenticated, source + ": signature names " + sig->agreement_id +
                                                       " version " + std::to_string(sig->version));
  }
  return agreement;
}

PolicyGate::PolicyGate(VerifyKey signer, std::filesystem::path state_file)
    : signer_(signer), state_file_(std::move(state_file)) {}

Result<std::optional<PolicyGate::Accepted>> PolicyGate::accepted() const {
  std::error_code ec;
  if (!std::filesystem::exists(state_file_, ec)) return std::optional<Accepted>();
  auto text = read_text_file(state_file_, 4096);
  if (!text.ok()) return text.error();
  auto lines = read_lines(*text, kStateHeader, state_file_.string());
  if (!lines.ok()) return lines.error();
  Accepted acc;
  for (const auto& [k, v] : *lines) {
    if (k == "agreement") acc.agreement_id = v;
    else if (k == "digest") acc.digest = v;
    else if (k == "version") {
      auto ver = parse_version(v, state_file_.string());
      if (!ver.ok()) return ver.error();
      acc.version = *ver;
    }
  }
  if (acc.agreement_id.empty() || acc.version == 0 || acc.digest.size() != 64) {
    return make_error(ErrorCode::kDataLoss, state_file_.string() + ": incomplete policy state");
  }
  return std::optional<Accepted>(acc);
}

Result<Policy> PolicyGate::accept(std::string_view toml_text, std::string_view signature_text,
                                  const std::string& source) {
  auto agreement = verify_agreement(toml_text, source, signature_text, signer_);
  if (!agreement.ok()) return agreement.error();
  auto canonical = canonical_bytes(toml_text, source);
  if (!canonical.ok()) return canonical.error();
  std::string digest = digest_hex(*canonical);
  auto previous = accepted();
  if (!previous.ok()) return previous.error();
  if (*previous) {
    const Accepted& p = **previous;
    if (p.agreement_id != agreement->id) {
      return make_error(ErrorCode::kFailedPrecondition,
                        source + ": agreement '" + agreement->id + "' is not the accepted agreement '" +
                            p.agreement_id + "'");
    }
    if (agreement->version < p.version) {
      return make_error(ErrorCode::kFailedPrecondition,
                        source + ": version " + std::to_string(agreement->version) +
                            " is older than the accepted version " + std::to_string(p.version) +
                            " (rollback refused)");
    }
    if (agreement->version == p.version && digest != p.digest) {
      return make_error(ErrorCode::kFailedPrecondition,
                        source + ": a different document claims the accepted version " +
                            std::to_string(p.version) + " (refused: bump the version)");
    }
  }
  auto policy = Policy::compile(std::move(agreement).value());
  if (!policy.ok()) return policy.error();

  // Record the acceptance durably: write a temporary file, fsync, rename over the old one.
  std::ostringstream state;
  state << kStateHeader << "\nagreement: " << policy->agreement().id
        << "\nversion: " << policy->agreement().version << "\ndigest: " << digest << "\n";
  std::string text = state.str();
  auto tmp = state_file_;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(ErrorCode::kUnavailable, tmp.string() + ": cannot write policy state");
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), state_file_.c_str()) != 0) {
    return make_error(ErrorCode::kUnavailable, state_file_.string() + ": cannot record policy state");
  }
  // Make the rename itself durable.
  auto dir = state_file_.parent_path().empty() ? std::filesystem::path(".") : state_file_.parent_path();
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return policy;
}

}  // namespace mash::policy
