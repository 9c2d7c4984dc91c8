// Crypto primitives for MASH Exchange, a thin layer over libsodium 1.0.18: Ed25519 signatures,
// BLAKE2b keyed hashing, key files, hex/base64 and constant-time comparison.
//
// Meant to be hard to use wrong: there is no way to skip verification, secret keys are zeroed on
// destruction, cannot be copied or printed, and are only written to files created 0600 that are
// refused on load if group or others may read or write them.
//
// Caveats:
// - Secret bytes are zeroed on destruction, but not locked in memory (no mlock): they can reach
//   swap or a core dump.
// - Every function initialises libsodium on first use (once per process, thread-safe). If
//   libsodium cannot initialise, functions that cannot return a Status throw std::runtime_error;
//   call crypto_init() at startup to get that failure as a Status instead.
// - Using a moved-from SigningKey or HashKey is a bug and throws std::logic_error.
// - Key files hold the 32-byte seed (not libsodium's 64-byte secret key), in base64, one line.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "result.h"

namespace mash {

// Initialises libsodium once per process. Safe to call any number of times from any thread.
Status crypto_init();

// ---------------------------------------------------------------------------------------------
// Ed25519 signatures

struct VerifyKey {
  std::array<uint8_t, 32> bytes{};

  bool operator==(const VerifyKey&) const = default;
};

// An Ed25519 secret key. Move-only; zeroed on destruction; deliberately has no way to print it.
class SigningKey {
 public:
  static SigningKey generate();
  // Deterministic: the same 32-byte seed always gives the same key (RFC 8032 "secret key").
  static SigningKey from_seed(std::span<const uint8_t, 32> seed);

  SigningKey(SigningKey&& other) noexcept;
  SigningKey& operator=(SigningKey&& other) noexcept;
  SigningKey(const SigningKey&) = delete;
  SigningKey& operator=(const SigningKey&) = delete;
  ~SigningKey();

  VerifyKey verify_key() const;
  // A detached signature over msg.
  std::array<uint8_t, 64> sign(std::span<const uint8_t> msg) const;

 private:
  SigningKey();
  void check_live() const;

  friend Status save_signing_key(const SigningKey& key, const std::filesystem::path& path);

  std::array<uint8_t, 64> sk_{};  // libsodium layout: seed || public key
  bool live_ = false;
};

// True only if sig is a valid 64-byte signature of msg by key. A signature of any other length
// is simply invalid.
bool verify(const VerifyKey& key, std::span<const uint8_t> msg, std::span<const uint8_t> sig);

// ---------------------------------------------------------------------------------------------
// Key files
//
// Secret key files are created with open(O_CREAT|O_EXCL, 0600): an existing file (or symlink) is
// never overwritten (kAlreadyExists). Loading refuses a secret key file whose mode lets group or
// others read or write it (kPermissionDenied, naming the path and the mode) and a malformed file
// (kInvalidArgument). Formats, one line each:
//   mash-ed25519-secret-key-v1 <base64 of the 32-byte seed>
//   mash-ed25519-public-key-v1 <base64 of the 32-byte public key>
//   mash-hash-key-v1 <base64 of the 32-byte key>

Status save_signing_key(const SigningKey& key, const std::filesystem::path& path);
Result<SigningKey> load_signing_key(const std::filesystem::path& path);

// Public keys are not secret: created with mode 0644 (before umask), no mode check on load.
// Makes a new signing key pair: `path` (secret, 0600, never overwritten) and `path`.pub.
Status generate_key_pair(const std::filesystem::path& path);

Status save_verify_key(const VerifyKey& key, const std::filesystem::path& path);
Result<VerifyKey> load_verify_key(const std::filesystem::path& path);

// ---------------------------------------------------------------------------------------------
// Keyed hashing: BLAKE2b with a 32-byte key and a 32-byte output (crypto_generichash).

// SHA-256 (for content digests and RFC 6962 Merkle trees).
std::array<uint8_t, 32> sha256(std::span<const uint8_t> msg);

std::array<uint8_t, 32> keyed_hash(std::span<const uint8_t, 32> key, std::span<const uint8_t> msg);

// A 32-byte secret key for keyed_hash. Move-only; zeroed on destruction; not printable.
class HashKey {
 public:
  static HashKey generate();
  static HashKey from_bytes(std::span<const uint8_t, 32> bytes);

  HashKey(HashKey&& other) noexcept;
  HashKey& operator=(HashKey&& other) noexcept;
  HashKey(const HashKey&) = delete;
  HashKey& operator=(const HashKey&) = delete;
  ~HashKey();

  // keyed_hash with this key.
  std::array<uint8_t, 32> hash(std::span<const uint8_t> msg) const;

 private:
  HashKey();
  void check_live() const;

  friend Status save_hash_key(const HashKey& key, const std::filesystem::path& path);

  std::array<uint8_t, 32> key_{};
  bool live_ = false;
};

Status save_hash_key(const HashKey& key, const std::filesystem::path& path);
Result<HashKey> load_hash_key(const std::filesystem::path& path);

// ---------------------------------------------------------------------------------------------
// Encodings and helpers

// Lower-case hex.
std::string to_hex(std::span<const uint8_t> bytes);
// Accepts upper- or lower-case hex with an even number of digits and nothing else.
Result<std::vector<uint8_t>> from_hex(std::string_view hex);

// Standard base64 (RFC 4648 section 4) with padding.
std::string to_base64(std::span<const uint8_t> bytes);
// Accepts canonical padded standard base64 only: no whitespace, no URL-safe alphabet.
Result<std::vector<uint8_t>> from_base64(std::string_view b64);

// Fills out from the operating system's CSPRNG.
void random_bytes(std::span<uint8_t> out);

// Compares contents in constant time for a given length. Different lengths are unequal (the
// lengths themselves are not treated as secret).
bool constant_time_equal(std::span<const uint8_t> a, std::span<const uint8_t> b);

}  // namespace mash
