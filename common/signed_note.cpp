#include "signed_note.h"

#include <cstring>
#include <vector>

namespace mash {

namespace {

constexpr std::string_view kDash = "\xE2\x80\x94 ";  // U+2014 EM DASH, then a space

std::span<const uint8_t> bytes_of(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

bool valid_line_text(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  return true;
}

}  // namespace

uint32_t note_key_id(std::string_view key_name, const VerifyKey& key) {
  std::vector<uint8_t> buf(key_name.begin(), key_name.end());
  buf.push_back('\n');
  buf.push_back(0x01);  // signature type: Ed25519
  buf.insert(buf.end(), key.bytes.begin(), key.bytes.end());
  auto h = sha256(buf);
  return (uint32_t{h[0]} << 24) | (uint32_t{h[1]} << 16) | (uint32_t{h[2]} << 8) | uint32_t{h[3]};
}

std::string checkpoint_body(const Checkpoint& c) {
  return c.origin + "\n" + std::to_string(c.size) + "\n" + to_base64(c.root) + "\n";
}

NoteSigner::NoteSigner(std::string key_name, SigningKey key)
    : name_(std::move(key_name)), key_(std::move(key)) {}

std::string NoteSigner::sign(const Checkpoint& c) const {
  std::string body = checkpoint_body(c);
  auto sig = key_.sign(bytes_of(body));
  uint32_t id = note_key_id(name_, key_.verify_key());
  std::vector<uint8_t> blob = {static_cast<uint8_t>(id >> 24), static_cast<uint8_t>(id >> 16),
                               static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id)};
  blob.insert(blob.end(), sig.begin(), sig.end());
  return body + "\n" + std::string(kDash) + name_ + " " + to_base64(blob) + "\n";
}

NoteVerifier::NoteVerifier(std::string key_name, VerifyKey key)
    : name_(std::move(key_name)), key_(key), key_id_(note_key_id(name_, key_)) {}

Result<Checkpoint> NoteVerifier::verify(std::string_view note, std::string_view expected_origin) const {
  auto bad = [](const std::string& why) { return make_error(ErrorCode::kInvalidArgument, "checkpoint: " + why); };
  if (note.size() > 8192) return bad("larger than 8 KiB");
  auto split = note.find("\n\n");
  if (split == std::string_view::npos) return bad("no blank line before the signatures");
  std::string_view body = note.substr(0, split + 1);
  std::string_view sigs = note.substr(split + 2);

  // Body: exactly origin, size, root.
  std::vector<std::string_view> lines;
  for (size_t pos = 0; pos < body.size();) {
    auto nl = body.find('\n', pos);
    lines.push_back(body.substr(pos, nl - pos));
    pos = nl + 1;
  }
  if (lines.size() != 3) return bad("expected three lines (origin, size, root)");
  Checkpoint c;
  if (!valid_line_text(lines[0])) return bad("invalid origin line");
  c.origin = std::string(lines[0]);
  if (lines[1].empty() || lines[1].size() > 20 || lines[1].find_first_not_of("0123456789") != std::string_view::npos ||
      (lines[1].size() > 1 && lines[1][0] == '0')) {
    return bad("invalid tree size");
  }
  c.size = std::stoull(std::string(lines[1]));
  auto root = from_base64(lines[2]);
  if (!root.ok() || root->size() != 32) return bad("invalid root hash");
  std::memcpy(c.root.data(), root->data(), 32);
  if (!expected_origin.empty() && c.origin != expected_origin) {
    return make_error(ErrorCode::kInvalidArgument,
                      "checkpoint: origin '" + c.origin + "' is not '" + std::string(expected_origin) + "'");
  }

  // Signature lines: find ours.
  bool found = false;
  for (size_t pos = 0; pos < sigs.size();) {
    auto nl = sigs.find('\n', pos);
    if (nl == std::string_view::npos) return bad("signature line without a newline");
    std::string_view line = sigs.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.substr(0, kDash.size()) != kDash) return bad("malformed signature line");
    line.remove_prefix(kDash.size());
    auto space = line.rfind(' ');
    if (space == std::string_view::npos) return bad("malformed signature line");
    if (line.substr(0, space) != name_) continue;
    auto blob = from_base64(line.substr(space + 1));
    if (!blob.ok() || blob->size() != 68) return bad("malformed signature");
    uint32_t id = (uint32_t{(*blob)[0]} << 24) | (uint32_t{(*blob)[1]} << 16) |
                  (uint32_t{(*blob)[2]} << 8) | uint32_t{(*blob)[3]};
    if (id != key_id_) continue;
    if (!mash::verify(key_, bytes_of(body), std::span<const uint8_t>(blob->data() + 4, 64))) {
      return make_error(ErrorCode::kUnauthenticated, "checkpoint: signature by '" + name_ + "' is not valid");
    }
    found = true;
  }
  if (!found) {
    return make_error(ErrorCode::kUnauthenticated, "checkpoint: no signature by '" + name_ + "' with the expected key");
  }
  return c;
}

}  // namespace mash
