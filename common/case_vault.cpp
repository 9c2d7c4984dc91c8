// Implementation of case_vault.h. Stored value formats (byte 0 is a format version):
//   wrapped case key   0x01 | nonce (24) | XChaCha20-Poly1305(case key) (32 + 16)
//   item               0x01 | nonce (24) | XChaCha20-Poly1305(plaintext) (n + 16)
//   tombstone          "purged at <unix ms>; reason: <reason>"   (ASCII, in vault_keys)
//   master check       0x01 | nonce (24) | XChaCha20-Poly1305("") (16), under "!master-check",
//                      a key no valid case id can equal.
// Additional data: "mash-vault-v1|case-key|<case>", "mash-vault-v1|item|<case>|<item>" and
// "mash-vault-v1|master-check"; '|' cannot occur in ids, so these are unambiguous.
#include "case_vault.h"

#include <sodium.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <utility>

namespace mash {

namespace {

constexpr std::string_view kKeysDb = "vault_keys";
constexpr std::string_view kItemsDb = "vault_items";
constexpr std::string_view kMasterCheckKey = "!master-check";
constexpr std::string_view kWrapKeyLabel = "mash-vault-v1|wrap-key";
constexpr std::string_view kTombstonePrefix = "purged at ";
constexpr uint8_t kFormatV1 = 0x01;

constexpr size_t kKeyBytes = crypto_aead_xchacha20poly1305_ietf_KEYBYTES;
constexpr size_t kNonceBytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr size_t kTagBytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;
constexpr size_t kHeaderBytes = 1 + kNonceBytes;
constexpr size_t kWrappedKeyBytes = kHeaderBytes + kKeyBytes + kTagBytes;
static_assert(kKeyBytes == 32 && kNonceBytes == 24 && kTagBytes == 16);

// A 32-byte key wiped when it goes out of scope.
struct KeyBuffer {
  std::array<uint8_t, kKeyBytes> bytes{};
  KeyBuffer() = default;
  KeyBuffer(const KeyBuffer&) = delete;
  KeyBuffer& operator=(const KeyBuffer&) = delete;
  ~KeyBuffer() { sodium_memzero(bytes.data(), bytes.size()); }
};

std::span<const uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// libsodium is given a valid pointer even for empty input.
const uint8_t* data_or_dummy(std::span<const uint8_t> s) {
  static const uint8_t dummy = 0;
  return s.empty() ? &dummy : s.data();
}

std::string case_key_ad(std::string_view case_id) {
  return "mash-vault-v1|case-key|" + std::string(case_id);
}

std::string item_ad(std::string_view case_id, std::string_view item) {
  return "mash-vault-v1|item|" + std::string(case_id) + "|" + std::string(item);
}

std::string item_key(std::string_view case_id, std::string_view item) {
  return std::string(case_id) + "/" + std::string(item);
}

// 0x01 | nonce | ciphertext and tag.
std::string seal(std::span<const uint8_t, kKeyBytes> key, std::string_view ad,
                 std::span<const uint8_t> plaintext) {
  std::string out(kHeaderBytes + plaintext.size() + kTagBytes, '\0');
  auto* p = reinterpret_cast<uint8_t*>(out.data());
  p[0] = kFormatV1;
  random_bytes(std::span(p + 1, kNonceBytes));
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(p + kHeaderBytes, &clen, data_or_dummy(plaintext),
                                             plaintext.size(), data_or_dummy(as_bytes(ad)),
                                             ad.size(), nullptr, p + 1, key.data());
  return out;
}

// Opens a value made by seal into out (resized to fit). False if it is malformed or fails
// authentication; out is then wiped and emptied.
bool open_sealed(std::span<const uint8_t, kKeyBytes> key, std::string_view ad,
                 std::string_view sealed, std::span<uint8_t> out, size_t& out_len) {
  out_len = 0;
  if (sealed.size() < kHeaderBytes + kTagBytes) return false;
  const auto* p = reinterpret_cast<const uint8_t*>(sealed.data());
  if (p[0] != kFormatV1) return false;
  const size_t clen = sealed.size() - kHeaderBytes;
  if (out.size() < clen - kTagBytes) return false;
  unsigned long long mlen = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(out.data(), &mlen, nullptr, p + kHeaderBytes, clen,
                                                 data_or_dummy(as_bytes(ad)), ad.size(), p + 1,
                                                 key.data()) != 0) {
    sodium_memzero(out.data(), out.size());
    return false;
  }
  out_len = static_cast<size_t>(mlen);
  return true;
}

int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "YYYY-MM-DD HH:MM:SS UTC" for a tombstone's time, or "an unknown date".
std::string format_utc(std::string_view ms_text) {
  if (ms_text.empty() || ms_text.size() > 15) return "an unknown date";
  int64_t ms = 0;
  for (char c : ms_text) {
    if (c < '0' || c > '9') return "an unknown date";
    ms = ms * 10 + (c - '0');
  }
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  if (::gmtime_r(&secs, &tm) == nullptr) return "an unknown date";
  char buf[32];
  if (std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0) return "an unknown date";
  return buf;
}

bool is_tombstone(std::string_view value) { return value.starts_with(kTombstonePrefix); }

// The error for using a purged case, from its tombstone.
Error purged_error(std::string_view case_id, std::string_view tombstone) {
  std::string_view rest = tombstone.substr(kTombstonePrefix.size());
  std::string_view reason;
  const size_t sep = rest.find("; reason: ");
  if (sep != std::string_view::npos) {
    reason = rest.substr(sep + 10);
    rest = rest.substr(0, sep);
  }
  std::string msg = "case " + std::string(case_id) + " was purged on " + format_utc(rest);
  if (!reason.empty()) msg += " (reason: " + std::string(reason) + ")";
  return make_error(ErrorCode::kFailedPrecondition, msg);
}

Status check_name(std::string_view what, std::string_view name) {
  if (valid_vault_name(name)) return {};
  // The bad value is not echoed: it may be anything, personal data included.
  return make_error(ErrorCode::kInvalidArgument, std::string(what) + " must be 1 to " +
                                                     std::to_string(CaseVaultLimits::kMaxIdBytes) +
                                                     " bytes of A-Z a-z 0-9 . _ : - (got " +
                                                     std::to_string(name.size()) + " bytes)");
}

// Unwraps the case key stored as value (a non-tombstone vault_keys value) into key.
Status unwrap_case_key(std::span<const uint8_t, kKeyBytes> wrap_key, std::string_view case_id,
                       std::string_view value, KeyBuffer& key) {
  size_t len = 0;
  if (value.size() != kWrappedKeyBytes ||
      !open_sealed(wrap_key, case_key_ad(case_id), value, key.bytes, len) || len != kKeyBytes) {
    return make_error(ErrorCode::kDataLoss, "the key of case " + std::string(case_id) +
                                                " does not decrypt: the record is corrupt or "
                                                "was copied from another case");
  }
  return {};
}

}  // namespace

bool valid_vault_name(std::string_view name) {
  if (name.empty() || name.size() > CaseVaultLimits::kMaxIdBytes) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Result<CaseVault> CaseVault::open(Env& env, const HashKey& master) {
  if (Status s = crypto_init(); !s.ok()) return s.error();

  KeyBuffer wrap;
  {
    auto derived = master.hash(as_bytes(kWrapKeyLabel));
    wrap.bytes = derived;
    sodium_memzero(derived.data(), derived.size());
  }

  Result<Txn> txn = env.begin_write();
  if (!txn.ok()) return txn.error();
  Result<Dbi> keys = txn->open_db(kKeysDb, /*create=*/true);
  if (!keys.ok()) return keys.error();
  Result<Dbi> items = txn->open_db(kItemsDb, /*create=*/true);
  if (!items.ok()) return items.error();

  auto check = txn->get(*keys, kMasterCheckKey);
  if (!check.ok()) return check.error();
  constexpr std::string_view kCheckAd = "mash-vault-v1|master-check";
  if (check->has_value()) {
    std::array<uint8_t, 1> none{};
    size_t len = 0;
    if (!open_sealed(wrap.bytes, kCheckAd, **check, none, len) || len != 0) {
      return make_error(ErrorCode::kFailedPrecondition,
                        "the vault master key is not the one this vault was created with");
    }
  } else {
    if (Status s = txn->put(*keys, kMasterCheckKey, seal(wrap.bytes, kCheckAd, {})); !s.ok()) {
      return s.error();
    }
  }
  if (Status s = txn->commit(); !s.ok()) return s.error();
  return CaseVault(env, *keys, *items, wrap.bytes);
}

CaseVault::CaseVault(Env& env, Dbi keys, Dbi items, const std::array<uint8_t, 32>& wrap_key)
    : env_(&env), keys_(keys), items_(items), wrap_key_(wrap_key) {}

CaseVault::CaseVault(CaseVault&& other) noexcept
    : env_(other.env_), keys_(other.keys_), items_(other.items_), wrap_key_(other.wrap_key_) {
  sodium_memzero(other.wrap_key_.data(), other.wrap_key_.size());
}

CaseVault& CaseVault::operator=(CaseVault&& other) noexcept {
  if (this != &other) {
    env_ = other.env_;
    keys_ = other.keys_;
    items_ = other.items_;
    wrap_key_ = other.wrap_key_;
    sodium_memzero(other.wrap_key_.data(), other.wrap_key_.size());
  }
  return *this;
}

CaseVault::~CaseVault() { sodium_memzero(wrap_key_.data(), wrap_key_.size()); }

Status CaseVault::put(std::string_view case_id, std::string_view item,
                      std::span<const uint8_t> plaintext) {
  if (Status s = check_name("case id", case_id); !s.ok()) return s;
  if (Status s = check_name("item name", item); !s.ok()) return s;
  Result<Txn> txn = env_->begin_write();
  if (!txn.ok()) return txn.error();
  if (Status s = put(*txn, case_id, item, plaintext); !s.ok()) return s;
  return txn->commit();
}

Status CaseVault::put(Txn& txn, std::string_view case_id, std::string_view item,
                      std::span<const uint8_t> plaintext) {
  if (Status s = check_name("case id", case_id); !s.ok()) return s;
  if (Status s = check_name("item name", item); !s.ok()) return s;
  if (!txn.is_write()) return make_error(ErrorCode::kFailedPrecondition, "vault put needs a write transaction");
  if (plaintext.size() > CaseVaultLimits::kMaxPlaintextBytes) {
    return make_error(ErrorCode::kInvalidArgument,
                      "item " + std::string(item) + " is " + std::to_string(plaintext.size()) +
                          " bytes; the limit is " +
                          std::to_string(CaseVaultLimits::kMaxPlaintextBytes));
  }
  KeyBuffer key;
  auto stored = txn.get(keys_, case_id);
  if (!stored.ok()) return stored.error();
  if (!stored->has_value()) {
    random_bytes(key.bytes);
    if (Status s = txn.put(keys_, case_id, seal(wrap_key_, case_key_ad(case_id), key.bytes));
        !s.ok()) {
      return s;
    }
  } else if (is_tombstone(**stored)) {
    return purged_error(case_id, **stored);
  } else if (Status s = unwrap_case_key(wrap_key_, case_id, **stored, key); !s.ok()) {
    return s;
  }
  return txn.put(items_, item_key(case_id, item), seal(key.bytes, item_ad(case_id, item), plaintext));
}

Status CaseVault::erase(Txn& txn, std::string_view case_id, std::string_view item) {
  if (Status s = check_name("case id", case_id); !s.ok()) return s;
  if (Status s = check_name("item name", item); !s.ok()) return s;
  if (!txn.is_write()) return make_error(ErrorCode::kFailedPrecondition, "vault erase needs a write transaction");
  auto r = txn.del(items_, item_key(case_id, item));
  if (!r.ok()) return r.error();
  return {};
}

Result<std::vector<uint8_t>> CaseVault::get(std::string_view case_id, std::string_view item) const {
  if (Status s = check_name("case id", case_id); !s.ok()) return s.error();
  if (Status s = check_name("item name", item); !s.ok()) return s.error();

  Result<Txn> txn = env_->begin_read();
  if (!txn.ok()) return txn.error();
  auto stored = txn->get(keys_, case_id);
  if (!stored.ok()) return stored.error();
  if (!stored->has_value()) {
    return make_error(ErrorCode::kNotFound, "case " + std::string(case_id) + " has no items");
  }
  if (is_tombstone(**stored)) return purged_error(case_id, **stored);
  KeyBuffer key;
  if (Status s = unwrap_case_key(wrap_key_, case_id, **stored, key); !s.ok()) return s.error();

  auto sealed = txn->get(items_, item_key(case_id, item));
  if (!sealed.ok()) return sealed.error();
  if (!sealed->has_value()) {
    return make_error(ErrorCode::kNotFound,
                      "case " + std::string(case_id) + " has no item " + std::string(item));
  }
  const std::string_view value = **sealed;
  const size_t max_len =
      value.size() > kHeaderBytes + kTagBytes ? value.size() - kHeaderBytes - kTagBytes : 0;
  std::vector<uint8_t> out(max_len + 1);  // never empty, so data() is a valid pointer
  size_t len = 0;
  if (!open_sealed(key.bytes, item_ad(case_id, item), value, out, len)) {
    return make_error(ErrorCode::kDataLoss,
                      "item " + std::string(item) + " of case " + std::string(case_id) +
                          " does not decrypt: it is corrupt or was copied from another case or "
                          "item");
  }
  out.resize(len);
  return out;
}

Status CaseVault::purge(std::string_view case_id, std::string_view reason) {
  if (Status s = check_name("case id", case_id); !s.ok()) return s;
  if (reason.empty() || reason.size() > CaseVaultLimits::kMaxReasonBytes) {
    return make_error(ErrorCode::kInvalidArgument,
                      "a purge reason must be 1 to " +
                          std::to_string(CaseVaultLimits::kMaxReasonBytes) + " bytes");
  }
  for (char c : reason) {
    if (c < 0x20 || c > 0x7E) {
      return make_error(ErrorCode::kInvalidArgument,
                        "a purge reason must be printable ASCII, without control characters");
    }
  }

  Result<Txn> txn = env_->begin_write();
  if (!txn.ok()) return txn.error();
  auto stored = txn->get(keys_, case_id);
  if (!stored.ok()) return stored.error();
  if (stored->has_value() && is_tombstone(**stored)) return {};  // already purged

  const std::string prefix = std::string(case_id) + "/";
  std::vector<std::string> doomed;
  if (Status s = txn->for_each_prefix(items_, prefix,
                                      [&](std::string_view key, std::string_view) {
                                        doomed.emplace_back(key);
                                        return true;
                                      });
      !s.ok()) {
    return s;
  }
  for (const std::string& key : doomed) {
    if (auto d = txn->del(items_, key); !d.ok()) return d.error();
  }
  const std::string tombstone = std::string(kTombstonePrefix) + std::to_string(now_unix_ms()) +
                                "; reason: " + std::string(reason);
  if (Status s = txn->put(keys_, case_id, tombstone); !s.ok()) return s;
  return txn->commit();
}

bool CaseVault::purged(std::string_view case_id) const {
  if (!valid_vault_name(case_id)) return false;
  Result<Txn> txn = env_->begin_read();
  if (!txn.ok()) return false;
  auto stored = txn->get(keys_, case_id);
  return stored.ok() && stored->has_value() && is_tombstone(**stored);
}

Result<std::vector<std::string>> CaseVault::items(std::string_view case_id) const {
  if (Status s = check_name("case id", case_id); !s.ok()) return s.error();
  Result<Txn> txn = env_->begin_read();
  if (!txn.ok()) return txn.error();
  auto stored = txn->get(keys_, case_id);
  if (!stored.ok()) return stored.error();
  if (stored->has_value() && is_tombstone(**stored)) return purged_error(case_id, **stored);

  const std::string prefix = std::string(case_id) + "/";
  std::vector<std::string> names;
  if (Status s = txn->for_each_prefix(items_, prefix,
                                      [&](std::string_view key, std::string_view) {
                                        names.emplace_back(key.substr(prefix.size()));
                                        return true;
                                      });
      !s.ok()) {
    return s.error();
  }
  return names;
}

}  // namespace mash
