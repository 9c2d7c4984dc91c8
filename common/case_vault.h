// Case content encrypted at rest, one key per case, destroyed by crypto-shredding (DESIGN.md
// section 3, step 6). Stored in two named databases of an LMDB environment the caller owns:
//   vault_keys   <case id>           -> the case key wrapped under the master key, or a tombstone
//   vault_items  <case id>/<item>    -> an item encrypted under the case key
//
// Cryptography (libsodium): every encryption is XChaCha20-Poly1305-IETF with a fresh random
// 24-byte nonce. A case key is a random 32 bytes, wrapped with additional data naming the case; an
// item's additional data names the case and the item. A wrapped key or an item copied to another
// case or name therefore fails to decrypt (kDataLoss), as does anything altered.
//
// The master key is a HashKey (32 random bytes) kept in a key file with save_hash_key /
// load_hash_key (format "mash-hash-key-v1", mode 0600, checked on load). The vault never uses it
// directly: it derives its wrapping key as BLAKE2b(master, "mash-vault-v1|wrap-key"), so even a
// file that is (wrongly) also used as the pseudonym key yields unrelated keys. Use a file of its
// own all the same. The first open stores a check value, and a later open with another master key
// is refused (kFailedPrecondition) instead of failing on every read.
//
// Transactions: the vault begins and ends its own short LMDB transactions, one per call (put and
// purge are each one write transaction, so they happen entirely or not at all). Consequences:
// - Do not call open, put or purge on a thread that holds a write transaction on the same Env:
//   LMDB has one writer, and the call fails with kFailedPrecondition rather than deadlock. A put
//   is therefore not atomic with the caller's other writes (e.g. an audit record).
// - The methods may be called from several threads at once; writes are serialised by LMDB.
// - The Env must outlive the vault.
//
// Caveats:
// - Crypto-shredding destroys the only live copy of a case key, but LMDB is copy-on-write: the
//   pages that held the wrapped key and the items stay in data.mdb as free pages until LMDB
//   reuses them (in a test, the wrapped key was still in the file after three more write
//   transactions, a small item after five; overwriting with zeros before deleting does not help,
//   since the old page is what survives), and backups keep them for as long as backups are kept.
//   They are encrypted, but the wrapped key opens with the master key. For a guarantee that
//   outlives stale pages and backups, rotate the master key (re-wrap the live case keys under a
//   new one, destroy the old one) at least once per retention period; this class does not do
//   that yet.
// - Plaintext returned by get() belongs to the caller, who should wipe it when done; the case
//   key and the wrapping key are wiped by the vault (sodium_memzero), the master key by HashKey.
// - Item names are visible in the clear in vault_items (only values are encrypted): they must
//   not hold personal data. The same goes for case ids and the purge reason.
// - Purging is final: a purged case id can never hold content again.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crypto.h"
#include "lmdb_store.h"
#include "result.h"

namespace mash {

struct CaseVaultLimits {
  static constexpr size_t kMaxIdBytes = 128;               // case ids and item names
  static constexpr size_t kMaxPlaintextBytes = 16u << 20;  // 16 MiB per item
  static constexpr size_t kMaxReasonBytes = 256;           // purge reason
};

// True for 1 to 128 bytes of [A-Za-z0-9._:-]: the form of both case ids and item names.
bool valid_vault_name(std::string_view name);

class CaseVault {
 public:
  // Opens (creating if needed) the vault's databases in env and checks master against the check
  // value stored by the first open (kFailedPrecondition if it differs).
  static Result<CaseVault> open(Env& env, const HashKey& master);

  CaseVault(CaseVault&& other) noexcept;
  CaseVault& operator=(CaseVault&& other) noexcept;
  CaseVault(const CaseVault&) = delete;
  CaseVault& operator=(const CaseVault&) = delete;
  ~CaseVault();

  // Stores (or replaces) an item, creating the case key on the case's first item.
  // kInvalidArgument for a bad id or name or a plaintext over 16 MiB; kFailedPrecondition if the
  // case was purged; kDataLoss if the stored case key does not decrypt.
  Status put(std::string_view case_id, std::string_view item, std::span<const uint8_t> plaintext);
  // The same inside the caller's write transaction on the vault's environment (e.g. an
  // operation of a GroupCommit), so that the item and the caller's own records land together.
  Status put(Txn& txn, std::string_view case_id, std::string_view item, std::span<const uint8_t> plaintext);

  // Deletes one item inside the caller's write transaction (nothing if it is not there).
  Status erase(Txn& txn, std::string_view case_id, std::string_view item);

  // kNotFound if the case or item does not exist; kFailedPrecondition "case X was purged on
  // <UTC time> (reason: ...)" if purged; kDataLoss if the case key or the item fails
  // authentication (tampered, truncated, or copied from another case or name).
  Result<std::vector<uint8_t>> get(std::string_view case_id, std::string_view item) const;

  // In one write transaction: deletes the case key and every item of the case and leaves a
  // tombstone "purged at <unix ms>; reason: <reason>". The reason (1 to 256 bytes of printable
  // ASCII) must say why (e.g. "retention period ended"), never hold personal data. Purging a
  // case that never existed leaves a tombstone too; purging a purged case changes nothing.
  Status purge(std::string_view case_id, std::string_view reason);

  // True if the case has a tombstone. False for a bad id, and also when storage cannot be read
  // (readers exhausted): get() and items() report that as an error, so use them to act safely.
  bool purged(std::string_view case_id) const;

  // The item names of a case in byte order; empty for a case that has none.
  // kFailedPrecondition if the case was purged.
  Result<std::vector<std::string>> items(std::string_view case_id) const;

 private:
  CaseVault(Env& env, Dbi keys, Dbi items, const std::array<uint8_t, 32>& wrap_key);

  Env* env_;
  Dbi keys_;
  Dbi items_;
  std::array<uint8_t, 32> wrap_key_{};  // derived from the master key; wiped on destruction
};

}  // namespace mash
