// Checkpoints of a Merkle log in the signed-note text format:
//
//   <origin>\n
//   <tree size, decimal>\n
//   <root hash, base64>\n
//   \n
//   — <key name> <base64(4-byte key id || 64-byte Ed25519 signature)>\n
//
// The signature covers the text before the blank line (including its final newline). The key id
// is the first 4 bytes of SHA-256(key name || "\n" || 0x01 || public key), so a verifier can
// pick the right line when a note carries several signatures (e.g. witnesses).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "crypto.h"
#include "merkle.h"
#include "result.h"

namespace mash {

struct Checkpoint {
  std::string origin;
  uint64_t size = 0;
  merkle::Hash root{};
};

// The signed part of a note.
std::string checkpoint_body(const Checkpoint& c);

class NoteSigner {
 public:
  NoteSigner(std::string key_name, SigningKey key);
  std::string sign(const Checkpoint& c) const;
  VerifyKey verify_key() const { return key_.verify_key(); }
  const std::string& key_name() const { return name_; }

 private:
  std::string name_;
  SigningKey key_;
};

class NoteVerifier {
 public:
  NoteVerifier(std::string key_name, VerifyKey key);
  // Parses a note and checks that it carries a valid signature by this key; also checks the
  // origin when `expected_origin` is not empty. Notes are at most 8 KiB.
  Result<Checkpoint> verify(std::string_view note, std::string_view expected_origin = {}) const;

 private:
  std::string name_;
  VerifyKey key_;
  uint32_t key_id_;
};

uint32_t note_key_id(std::string_view key_name, const VerifyKey& key);

}  // namespace mash
