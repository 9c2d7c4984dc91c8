// Implementation of users.h.
#include "users.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <span>
#include <utility>

#include "clock.h"
#include "crypto.h"

namespace mash::broker {

// The stored account: what callers see plus the password hash, which only this file handles.
struct UserStore::Record {
  User user;
  std::string hash;
};

namespace {

struct SessionRecord {
  std::string user_id;
  std::string csrf;
  int64_t created_ms = 0;
  int64_t last_used_ms = 0;
};

constexpr const char* kUsersDb = "users";
constexpr const char* kSessionsDb = "users_sessions";
constexpr const char* kSessionIndexDb = "users_session_index";
constexpr const char* kMetaDb = "users_meta";
constexpr std::string_view kUnknownLoginsKey = "unknown_login_failures";

constexpr size_t kTokenBytes = 32;
constexpr size_t kTokenChars = 43;  // base64url of 32 bytes, no padding
constexpr int kB64Variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;

// A year bounds every duration option, so that now + duration cannot overflow.
constexpr std::chrono::seconds kMaxDuration{366LL * 24 * 3600};

Error invalid(std::string message) {
  return make_error(ErrorCode::kInvalidArgument, std::move(message));
}

Error not_found(std::string_view id) {
  // Only called with ids that passed check_user_id, so quoting them is safe.
  return make_error(ErrorCode::kNotFound, "user '" + std::string(id) + "' does not exist");
}

// Strict UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF.
std::optional<std::u32string> decode_utf8(std::string_view s) {
  std::u32string out;
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    char32_t cp = 0;
    size_t len = 0;
    if (c < 0x80) {
      cp = c;
      len = 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
      cp = c & 0x1Fu;
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      cp = c & 0x0Fu;
      len = 3;
    } else if (c >= 0xF0 && c <= 0xF4) {
      cp = c & 0x07u;
      len = 4;
    } else {
      return std::nullopt;
    }
    if (len > s.size() - i) return std::nullopt;
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0u) != 0x80u) return std::nullopt;
      cp = (cp << 6) | (cc & 0x3Fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return std::nullopt;
    }
    out.push_back(cp);
    i += len;
  }
  return out;
}

// Control characters, and the invisible formatting characters that can make a name display as
// something it is not (zero-width characters, bidirectional overrides and isolates).
bool is_hidden_or_control(char32_t cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || (cp >= 0x200B && cp <= 0x200F) ||
         (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2060 && cp <= 0x206F) || cp == 0xFEFF ||
         (cp >= 0xFFF9 && cp <= 0xFFFB) || cp == 0xFFFE || cp == 0xFFFF;
}

bool is_space(char32_t cp) {
  return cp == 0x20 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

bool ascii_iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string base64url(std::span<const uint8_t> bytes) {
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), kB64Variant), '\0');
  sodium_bin2base64(out.data(), out.size(), bytes.data(), bytes.size(), kB64Variant);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

// A new random token in base64url; with key, also the hex SHA-256 of its bytes (the key a
// session token is stored under).
std::string random_token(std::string* key = nullptr) {
  std::array<uint8_t, kTokenBytes> raw{};
  random_bytes(raw);
  std::string token = base64url(raw);
  if (key != nullptr) *key = to_hex(sha256(raw));
  sodium_memzero(raw.data(), raw.size());
  return token;
}

// The storage key of a token presented by a client.
Result<std::string> token_key(std::string_view token) {
  const bool alphabet = std::all_of(token.begin(), token.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_';
  });
  if (token.size() != kTokenChars || !alphabet) {
    return invalid("session token: must be 43 base64url characters");
  }
  std::array<uint8_t, kTokenBytes> raw{};
  size_t len = 0;
  // libsodium also refuses non-zero trailing bits, so each token has exactly one spelling.
  if (sodium_base642bin(raw.data(), raw.size(), token.data(), token.size(), nullptr, &len,
                        nullptr, kB64Variant) != 0 ||
      len != raw.size()) {
    return invalid("session token: is not canonical base64url");
  }
  std::string key = to_hex(sha256(raw));
  sodium_memzero(raw.data(), raw.size());
  return key;
}

bool verify_password(const std::string& hash, std::string_view password) {
  // libsodium's arguments are declared non-null, and an empty string_view may have no data.
  const char* p = password.empty() ? "" : password.data();
  return crypto_pwhash_str_verify(hash.c_str(), p, password.size()) == 0;
}

Error damaged(const std::string& what, const std::string& detail) {
  return make_error(ErrorCode::kDataLoss, what + " is damaged: " + detail);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Validation

Status check_user_id(std::string_view id) {
  if (id.size() < kMinUserIdChars || id.size() > kMaxUserIdChars) {
    return invalid("id: must be 3 to 64 characters long (it is " + std::to_string(id.size()) +
                   ")");
  }
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
          c == '-')) {
      return invalid("id: may only contain lower-case a-z, 0-9, '.', '_' and '-'");
    }
  }
  return {};
}

Status check_display_name(std::string_view name) {
  const auto cps = decode_utf8(name);
  if (!cps) return invalid("display_name: is not valid UTF-8");
  if (cps->empty() || cps->size() > kMaxDisplayNameChars) {
    return invalid("display_name: must be 1 to 128 characters long (it is " +
                   std::to_string(cps->size()) + ")");
  }
  for (char32_t cp : *cps) {
    if (is_hidden_or_control(cp)) {
      char code[16];
      std::snprintf(code, sizeof code, "U+%04X", static_cast<unsigned>(cp));
      return invalid(std::string("display_name: must not contain control or invisible formatting "
                                 "characters (found ") +
                     code + ")");
    }
  }
  if (std::all_of(cps->begin(), cps->end(), is_space)) {
    return invalid("display_name: must not be only spaces");
  }
  return {};
}

Status check_role(std::string_view role) {
  if (std::find(kUserRoles.begin(), kUserRoles.end(), role) == kUserRoles.end()) {
    return invalid("role: must be one of researcher, manager, dpo, admin");
  }
  return {};
}

Status check_team(std::string_view team) {
  if (team.empty() || team.size() > kMaxTeamChars) {
    return invalid("team: must be 1 to 64 characters long (it is " + std::to_string(team.size()) +
                   ")");
  }
  for (char c : team) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
      return invalid("team: may only contain lower-case a-z, 0-9 and '-'");
    }
  }
  return {};
}

Status check_password(std::string_view user_id, std::string_view password) {
  // Never put the password, or anything derived from it, into a message.
  if (password.size() < kMinPasswordBytes) {
    return invalid("password: must be at least 12 bytes long");
  }
  if (password.size() > kMaxPasswordBytes) {
    return invalid("password: must be at most 256 bytes long");
  }
  if (ascii_iequal(password, user_id)) return invalid("password: must not be the user id");
  // "One character" means one code point for UTF-8 ("éééééééééééé"), else one byte.
  bool repeated = false;
  if (const auto cps = decode_utf8(password)) {
    repeated = std::all_of(cps->begin(), cps->end(), [&](char32_t c) { return c == cps->front(); });
  } else {
    repeated = password.find_first_not_of(password.front()) == std::string_view::npos;
  }
  if (repeated) return invalid("password: must not be one character repeated");
  return {};
}

bool csrf_matches(const Session& session, std::string_view presented) {
  if (session.csrf.empty()) return false;
  auto bytes = [](std::string_view s) {
    return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  };
  return constant_time_equal(bytes(session.csrf), bytes(presented));
}

// ---------------------------------------------------------------------------------------------
// Stored records

namespace {

std::string encode_user(const User& u, const std::string& hash) {
  const nlohmann::json j = {{"id", u.id},
                            {"display_name", u.display_name},
                            {"role", u.role},
                            {"team", u.team},
                            {"disabled", u.disabled},
                            {"password_hash", hash},
                            {"failed_logins", u.failed_logins},
                            {"locked_until_ms", u.locked_until_ms},
                            {"created_ms", u.created_ms},
                            {"updated_ms", u.updated_ms},
                            {"version", u.version}};
  return j.dump();
}

}  // namespace

Result<std::optional<UserStore::Record>> UserStore::load(const Txn& txn,
                                                         std::string_view id) const {
  auto v = txn.get(users_, id);
  if (!v.ok()) return v.error();
  if (!*v) return std::optional<Record>();
  // list() passes keys read from the database: quote only what is a well-formed id.
  const std::string what =
      check_user_id(id).ok() ? "the record of user '" + std::string(id) + "'" : "a user record";
  Record r;
  try {
    const auto j = nlohmann::json::parse(**v);
    r.user.id = j.at("id").get<std::string>();
    r.user.display_name = j.at("display_name").get<std::string>();
    r.user.role = j.at("role").get<std::string>();
    r.user.team = j.at("team").get<std::string>();
    r.user.disabled = j.at("disabled").get<bool>();
    r.hash = j.at("password_hash").get<std::string>();
    r.user.failed_logins = j.at("failed_logins").get<int>();
    r.user.locked_until_ms = j.at("locked_until_ms").get<int64_t>();
    r.user.created_ms = j.at("created_ms").get<int64_t>();
    r.user.updated_ms = j.at("updated_ms").get<int64_t>();
    r.user.version = j.at("version").get<uint64_t>();
  } catch (const nlohmann::json::exception& e) {
    return damaged(what, e.what());
  }
  if (r.user.id != id) return damaged(what, "it names another user");
  if (!check_role(r.user.role).ok()) return damaged(what, "unknown role");
  if (!check_team(r.user.team).ok()) return damaged(what, "bad team");
  if (r.user.failed_logins < 0) return damaged(what, "negative failure count");
  // crypto_pwhash_str_verify reads a NUL-terminated string of under crypto_pwhash_STRBYTES.
  if (!r.hash.starts_with("$argon2") || r.hash.size() >= crypto_pwhash_STRBYTES ||
      r.hash.find('\0') != std::string::npos) {
    return damaged(what, "bad password hash");
  }
  return std::optional<Record>(std::move(r));
}

Status UserStore::save(Txn& txn, const Record& record) {
  return txn.put(users_, record.user.id, encode_user(record.user, record.hash));
}

namespace {

std::string encode_session(const std::string& user_id, const std::string& csrf, int64_t created,
                           int64_t last_used) {
  const nlohmann::json j = {
      {"user_id", user_id}, {"csrf", csrf}, {"created_ms", created}, {"last_used_ms", last_used}};
  return j.dump();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Sessions in a transaction

int64_t UserStore::expires_at(int64_t created_ms, int64_t last_used_ms) const {
  const int64_t idle = std::chrono::milliseconds(options_.session_idle).count();
  const int64_t max = std::chrono::milliseconds(options_.session_max).count();
  return std::min(last_used_ms + idle, created_ms + max);
}

namespace {

Result<SessionRecord> decode_session(std::string_view bytes) {
  SessionRecord s;
  try {
    const auto j = nlohmann::json::parse(bytes);
    s.user_id = j.at("user_id").get<std::string>();
    s.csrf = j.at("csrf").get<std::string>();
    s.created_ms = j.at("created_ms").get<int64_t>();
    s.last_used_ms = j.at("last_used_ms").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    return damaged("a session record", e.what());
  }
  if (!check_user_id(s.user_id).ok()) return damaged("a session record", "bad user id");
  return s;
}

}  // namespace

Status UserStore::delete_session(Txn& txn, std::string_view hash_hex, std::string_view user_id) {
  if (auto d = txn.del(sessions_, hash_hex); !d.ok()) return d.error();
  if (!user_id.empty()) {
    const std::string index_key = std::string(user_id) + "/" + std::string(hash_hex);
    if (auto d = txn.del(session_index_, index_key); !d.ok()) return d.error();
  }
  return {};
}

Result<size_t> UserStore::delete_sessions(Txn& txn, std::string_view user_id,
                                          std::optional<int64_t> only_expired_at) {
  // '/' cannot occur in a user id, so this prefix matches this user's entries only.
  const std::string prefix = std::string(user_id) + "/";
  std::vector<std::string> hashes;
  // Collect first: the views into the map are invalidated by the deletions.
  Status st = txn.for_each_prefix(session_index_, prefix, [&](std::string_view k, std::string_view) {
    hashes.emplace_back(k.substr(prefix.size()));
    return true;
  });
  if (!st.ok()) return st.error();
  size_t deleted = 0;
  for (const auto& h : hashes) {
    if (only_expired_at) {
      auto v = txn.get(sessions_, h);
      if (!v.ok()) return v.error();
      if (*v) {
        auto s = decode_session(**v);
        // A damaged session is deleted like an expired one: it can never be used.
        if (s.ok() && *only_expired_at < expires_at(s->created_ms, s->last_used_ms)) continue;
      }
    }
    if (Status d = delete_session(txn, h, user_id); !d.ok()) return d.error();
    ++deleted;
  }
  return deleted;
}

// ---------------------------------------------------------------------------------------------
// UserStore

UserStore::UserStore(Env& env, UserStoreOptions options) : env_(env), options_(options) {}

Result<std::unique_ptr<UserStore>> UserStore::open(Env& env, UserStoreOptions options) {
  if (Status s = crypto_init(); !s.ok()) return s.error();
  if (options.opslimit < crypto_pwhash_OPSLIMIT_MIN ||
      options.opslimit > crypto_pwhash_OPSLIMIT_MAX) {
    return invalid("UserStoreOptions.opslimit: out of libsodium's range");
  }
  if (options.memlimit < crypto_pwhash_MEMLIMIT_MIN ||
      options.memlimit > crypto_pwhash_MEMLIMIT_MAX) {
    return invalid("UserStoreOptions.memlimit: out of libsodium's range");
  }
  if (options.max_failed_logins < 1 || options.max_failed_logins > 1000) {
    return invalid("UserStoreOptions.max_failed_logins: must be 1 to 1000");
  }
  const std::pair<const char*, std::chrono::seconds> durations[] = {
      {"lockout", options.lockout},
      {"session_idle", options.session_idle},
      {"session_max", options.session_max}};
  for (const auto& [name, d] : durations) {
    if (d.count() < 1 || d > kMaxDuration) {
      return invalid(std::string("UserStoreOptions.") + name + ": must be 1 second to 366 days");
    }
  }

  std::unique_ptr<UserStore> store(new UserStore(env, options));
  {
    auto txn = env.begin_write();
    if (!txn.ok()) return txn.error();
    const std::pair<const char*, Dbi*> dbs[] = {{kUsersDb, &store->users_},
                                                {kSessionsDb, &store->sessions_},
                                                {kSessionIndexDb, &store->session_index_},
                                                {kMetaDb, &store->meta_}};
    for (auto [name, dbi] : dbs) {
      auto d = txn->open_db(name, /*create=*/true);
      if (!d.ok()) return d.error();
      *dbi = *d;
    }
    if (Status s = txn->commit(); !s.ok()) return s.error();
  }

  // A hash of a random password that nobody knows, at the current limits: verifying an unknown
  // id against it costs what verifying a real account costs.
  std::array<uint8_t, 16> secret{};
  random_bytes(secret);
  auto dummy = store->hash_password(base64url(secret));
  sodium_memzero(secret.data(), secret.size());
  if (!dummy.ok()) return dummy.error();
  store->dummy_hash_ = std::move(dummy).value();
  return store;
}

Result<std::string> UserStore::hash_password(std::string_view password) const {
  char out[crypto_pwhash_STRBYTES];
  const char* p = password.empty() ? "" : password.data();
  if (crypto_pwhash_str(out, p, password.size(), options_.opslimit, options_.memlimit) != 0) {
    return make_error(ErrorCode::kUnavailable,
                      "cannot hash the password: not enough memory for Argon2id");
  }
  std::string hash(out);
  sodium_memzero(out, sizeof out);
  return hash;
}

template <typename Change>
Status UserStore::update(std::string_view id, Change&& change) {
  if (Status s = check_user_id(id); !s.ok()) return s;
  auto txn = env_.begin_write();
  if (!txn.ok()) return txn.error();
  auto loaded = load(*txn, id);
  if (!loaded.ok()) return loaded.error();
  if (!*loaded) return not_found(id);
  Record r = std::move(**loaded);
  Result<bool> changed = change(r, *txn);
  if (!changed.ok()) return changed.error();  // the transaction aborts: nothing changes
  if (*changed) {
    ++r.user.version;
    r.user.updated_ms = unix_millis_now();
    if (Status s = save(*txn, r); !s.ok()) return s;
  }
  return txn->commit();
}

Result<User> UserStore::add(const NewUser& nu) {
  for (const Status& s : {check_user_id(nu.id), check_display_name(nu.display_name),
                          check_role(nu.role), check_team(nu.team)}) {
    if (!s.ok()) return s.error();
  }
  if (Status s = check_password(nu.id, nu.password); !s.ok()) return s.error();
  const Error exists =
      make_error(ErrorCode::kAlreadyExists, "user '" + nu.id + "' already exists");
  {
    // Checked before hashing so that a duplicate costs no Argon2id; checked again below.
    auto txn = env_.begin_read();
    if (!txn.ok()) return txn.error();
    auto v = txn->get(users_, nu.id);
    if (!v.ok()) return v.error();
    if (*v) return exists;
  }
  auto hash = hash_password(nu.password);
  if (!hash.ok()) return hash.error();

  Record r;
  r.user.id = nu.id;
  r.user.display_name = nu.display_name;
  r.user.role = nu.role;
  r.user.team = nu.team;
  r.user.created_ms = r.user.updated_ms = unix_millis_now();
  r.user.version = 1;
  r.hash = std::move(hash).value();

  auto txn = env_.begin_write();
  if (!txn.ok()) return txn.error();
  Status put = txn->put(users_, r.user.id, encode_user(r.user, r.hash), /*no_overwrite=*/true);
  if (!put.ok()) {
    if (put.error().code == ErrorCode::kAlreadyExists) return exists;
    return put.error();
  }
  if (Status s = txn->commit(); !s.ok()) return s.error();
  return r.user;
}

Status UserStore::set_password(std::string_view id, std::string_view password) {
  if (Status s = check_user_id(id); !s.ok()) return s;
  if (Status s = check_password(id, password); !s.ok()) return s;
  {
    // Refuse an unknown id before spending an Argon2id hash on it.
    auto txn = env_.begin_read();
    if (!txn.ok()) return txn.error();
    auto v = txn->get(users_, id);
    if (!v.ok()) return v.error();
    if (!*v) return not_found(id);
  }
  auto hash = hash_password(password);
  if (!hash.ok()) return hash.error();
  return update(id, [&](Record& r, Txn& txn) -> Result<bool> {
    auto n = delete_sessions(txn, id, std::nullopt);
    if (!n.ok()) return n.error();
    r.hash = std::move(hash).value();
    // A new password makes the guesses against the old one moot, so a reset also unlocks.
    r.user.failed_logins = 0;
    r.user.locked_until_ms = 0;
    return true;
  });
}

Status UserStore::set_role(std::string_view id, std::string_view role) {
  if (Status s = check_user_id(id); !s.ok()) return s;
  if (Status s = check_role(role); !s.ok()) return s;
  return update(id, [&](Record& r, Txn& txn) -> Result<bool> {
    if (r.user.role == role) return false;
    // Sessions carry the authority of the role they were made under: make the user log in anew.
    auto n = delete_sessions(txn, id, std::nullopt);
    if (!n.ok()) return n.error();
    r.user.role = std::string(role);
    return true;
  });
}

Status UserStore::set_team(std::string_view id, std::string_view team) {
  if (Status s = check_user_id(id); !s.ok()) return s;
  if (Status s = check_team(team); !s.ok()) return s;
  // No revocation: check_session() reads the team from the account, so it applies at once.
  return update(id, [&](Record& r, Txn&) -> Result<bool> {
    if (r.user.team == team) return false;
    r.user.team = std::string(team);
    return true;
  });
}

Status UserStore::disable(std::string_view id) {
  return update(id, [&](Record& r, Txn& txn) -> Result<bool> {
    // Revoke even when already disabled: it costs nothing and leaves no doubt.
    auto n = delete_sessions(txn, id, std::nullopt);
    if (!n.ok()) return n.error();
    if (r.user.disabled) return false;
    r.user.disabled = true;
    return true;
  });
}

Status UserStore::enable(std::string_view id) {
  return update(id, [&](Record& r, Txn&) -> Result<bool> {
    if (!r.user.disabled) return false;
    r.user.disabled = false;
    return true;
  });
}

Result<std::optional<User>> UserStore::get(std::string_view id) const {
  if (Status s = check_user_id(id); !s.ok()) return s.error();
  auto txn = env_.begin_read();
  if (!txn.ok()) return txn.error();
  auto r = load(*txn, id);
  if (!r.ok()) return r.error();
  if (!*r) return std::optional<User>();
  return std::optional<User>(std::move((*r)->user));
}

Result<std::vector<User>> UserStore::list() const {
  auto txn = env_.begin_read();
  if (!txn.ok()) return txn.error();
  std::vector<std::string> ids;
  Status st = txn->for_each_prefix(users_, "", [&](std::string_view k, std::string_view) {
    ids.emplace_back(k);
    return true;
  });
  if (!st.ok()) return st.error();
  std::vector<User> out;
  out.reserve(ids.size());
  for (const auto& id : ids) {
    auto r = load(*txn, id);
    if (!r.ok()) return r.error();
    if (*r) out.push_back(std::move((*r)->user));
  }
  return out;
}

Status UserStore::count_unknown_login() {
  // The write is the point: a failure against a real account writes its failure count, so an
  // unknown id must cost a durable write too, or the commit's fsync would tell them apart.
  auto txn = env_.begin_write();
  if (!txn.ok()) return txn.error();
  auto v = txn->get(meta_, kUnknownLoginsKey);
  if (!v.ok()) return v.error();
  unsigned long long n = 0;
  if (*v) {
    // Only a statistic: an unreadable value restarts from zero rather than failing logins.
    const std::string text(**v);
    if (std::sscanf(text.c_str(), "%llu", &n) != 1) n = 0;
  }
  if (Status s = txn->put(meta_, kUnknownLoginsKey, std::to_string(n + 1)); !s.ok()) return s;
  return txn->commit();
}

Result<LoginResult> UserStore::login(std::string_view id, std::string_view password,
                                     int64_t now_ms) {
  if (Status s = check_user_id(id); !s.ok()) return s.error();
  if (password.size() > kMaxPasswordBytes) {
    return invalid("password: must be at most 256 bytes long");
  }
  LoginResult result;
  result.user_id = std::string(id);

  // Argon2id runs between two transactions, never inside the write transaction (it would hold
  // LMDB's only writer for its whole duration). If the hash changed in between (a password
  // change, or another login's rehash), verify again against the new one.
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::optional<Record> seen;
    {
      auto txn = env_.begin_read();
      if (!txn.ok()) return txn.error();
      auto r = load(*txn, id);
      if (!r.ok()) return r.error();
      seen = std::move(r).value();
    }
    if (!seen) {
      (void)verify_password(dummy_hash_, password);
      if (Status s = count_unknown_login(); !s.ok()) return s.error();
      return result;  // kBadCredentials
    }
    const bool password_ok = verify_password(seen->hash, password);
    std::string new_hash;
    if (password_ok && crypto_pwhash_str_needs_rehash(seen->hash.c_str(), options_.opslimit,
                                                      options_.memlimit) != 0) {
      // If this fails (out of memory) the old hash stays: it is still a valid hash, and the
      // upgrade is tried again at the next login.
      if (auto h = hash_password(password); h.ok()) new_hash = std::move(h).value();
    }

    auto txn = env_.begin_write();
    if (!txn.ok()) return txn.error();
    auto loaded = load(*txn, id);
    if (!loaded.ok()) return loaded.error();
    if (!*loaded) return result;  // gone meanwhile: kBadCredentials
    Record r = std::move(**loaded);
    if (r.hash != seen->hash) continue;

    bool changed = false;
    if (r.user.locked_until_ms != 0 && r.user.locked_until_ms <= now_ms) {
      // The lockout is over: the next max_failed_logins attempts count afresh.
      r.user.failed_logins = 0;
      r.user.locked_until_ms = 0;
      changed = true;
    }
    if (r.user.locked_until_ms > now_ms) {
      // Refused whatever the password, and not counted (nothing is written).
      result.outcome = LoginResult::kLocked;
      result.locked_until_ms = r.user.locked_until_ms;
      return result;
    }
    if (!password_ok) {
      ++r.user.failed_logins;
      result.outcome = LoginResult::kBadCredentials;
      if (r.user.failed_logins >= options_.max_failed_logins) {
        r.user.locked_until_ms = now_ms + std::chrono::milliseconds(options_.lockout).count();
        result.outcome = LoginResult::kLocked;
        result.locked_until_ms = r.user.locked_until_ms;
      }
      changed = true;
    } else if (r.user.disabled) {
      result.outcome = LoginResult::kDisabled;
    } else {
      if (r.user.failed_logins != 0) {
        r.user.failed_logins = 0;
        changed = true;
      }
      if (!new_hash.empty()) {
        r.hash = std::move(new_hash);
        changed = true;
      }
      // Sweep this user's expired sessions, so that they cannot pile up across logins.
      if (auto n = delete_sessions(*txn, id, now_ms); !n.ok()) return n.error();
      std::string key;
      std::string token = random_token(&key);
      std::string csrf = random_token();
      Status put = txn->put(sessions_, key, encode_session(r.user.id, csrf, now_ms, now_ms));
      if (!put.ok()) return put.error();
      put = txn->put(session_index_, r.user.id + "/" + key, "");
      if (!put.ok()) return put.error();
      Session s;
      s.token = std::move(token);
      s.csrf = std::move(csrf);
      s.user_id = r.user.id;
      s.role = r.user.role;
      s.team = r.user.team;
      s.created_ms = s.last_used_ms = now_ms;
      s.expires_ms = expires_at(now_ms, now_ms);
      result.outcome = LoginResult::kOk;
      result.session = std::move(s);
    }
    if (changed) {
      ++r.user.version;
      r.user.updated_ms = now_ms;
      if (Status s = save(*txn, r); !s.ok()) return s.error();
    }
    if (Status s = txn->commit(); !s.ok()) return s.error();
    return result;
  }
  return make_error(ErrorCode::kUnavailable,
                    "login: the account's password changed during the login; try again");
}

Result<std::optional<Session>> UserStore::check_session(std::string_view token, int64_t now_ms) {
  auto key = token_key(token);
  if (!key.ok()) return key.error();
  // The lookup by hash is not constant time, which is fine: it can only leak the hash, and
  // the hash of an unknown token says nothing about a live one.
  // Most checks only read; a write transaction is taken only to end a session or to move its
  // last use on, and then everything is read again inside it.
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool writing = attempt == 1;
    auto txn = writing ? env_.begin_write() : env_.begin_read();
    if (!txn.ok()) return txn.error();
    auto v = txn->get(sessions_, *key);
    if (!v.ok()) return v.error();
    if (!*v) return std::optional<Session>();
    auto rec = decode_session(**v);
    if (!rec.ok()) return rec.error();
    auto user = load(*txn, rec->user_id);
    if (!user.ok()) return user.error();
    const bool ended = now_ms >= expires_at(rec->created_ms, rec->last_used_ms) || !*user || (*user)->user.disabled;
    // Time may step backwards (clock adjustments); last use never does. The last use is
    // written when it has moved on by a hundredth of the idle time (18 s of the default 30
    // minutes) or more, not on every request: a durable write per request would cost far more
    // than the idle timeout gains from the precision.
    const int64_t step = std::chrono::milliseconds(options_.session_idle).count() / 100;
    const bool touch = !ended && now_ms - rec->last_used_ms >= step;
    if ((ended || touch) && !writing) continue;  // again, for writing
    if (ended) {
      if (Status s = delete_session(*txn, *key, rec->user_id); !s.ok()) return s.error();
      if (Status s = txn->commit(); !s.ok()) return s.error();
      return std::optional<Session>();
    }
    if (touch) {
      rec->last_used_ms = std::max(rec->last_used_ms, now_ms);
      Status put = txn->put(sessions_, *key,
                            encode_session(rec->user_id, rec->csrf, rec->created_ms, rec->last_used_ms));
      if (!put.ok()) return put.error();
      if (Status s = txn->commit(); !s.ok()) return s.error();
    }
    Session s;
    s.csrf = rec->csrf;
    s.user_id = rec->user_id;
    s.role = (*user)->user.role;
    s.team = (*user)->user.team;
    s.created_ms = rec->created_ms;
    s.last_used_ms = rec->last_used_ms;
    s.expires_ms = expires_at(rec->created_ms, rec->last_used_ms);
    return std::optional<Session>(std::move(s));
  }
  return make_error(ErrorCode::kInternal, "check_session: unreachable");
}

Status UserStore::logout(std::string_view token) {
  auto key = token_key(token);
  if (!key.ok()) return key.error();
  auto txn = env_.begin_write();
  if (!txn.ok()) return txn.error();
  auto v = txn->get(sessions_, *key);
  if (!v.ok()) return v.error();
  if (!*v) return {};
  auto rec = decode_session(**v);
  // A damaged session is deleted all the same; its index entry (if any) then points nowhere,
  // which delete_sessions() tolerates.
  if (Status s = delete_session(*txn, *key, rec.ok() ? std::string_view(rec->user_id) : ""); !s.ok()) {
    return s;
  }
  return txn->commit();
}

Status UserStore::revoke_sessions(std::string_view user_id) {
  if (Status s = check_user_id(user_id); !s.ok()) return s;
  auto txn = env_.begin_write();
  if (!txn.ok()) return txn.error();
  auto v = txn->get(users_, user_id);
  if (!v.ok()) return v.error();
  if (!*v) return not_found(user_id);
  if (auto n = delete_sessions(*txn, user_id, std::nullopt); !n.ok()) return n.error();
  return txn->commit();
}

Result<size_t> UserStore::purge_expired(int64_t now_ms) {
  auto txn = env_.begin_write();
  if (!txn.ok()) return txn.error();
  std::vector<std::pair<std::string, std::string>> doomed;  // (hash, user id)
  Status st = txn->for_each_prefix(sessions_, "", [&](std::string_view k, std::string_view v) {
    auto rec = decode_session(v);
    if (!rec.ok()) {
      doomed.emplace_back(k, "");
    } else if (now_ms >= expires_at(rec->created_ms, rec->last_used_ms)) {
      doomed.emplace_back(k, rec->user_id);
    }
    return true;
  });
  if (!st.ok()) return st.error();
  for (const auto& [hash, user_id] : doomed) {
    if (Status s = delete_session(*txn, hash, user_id); !s.ok()) return s.error();
  }
  if (Status s = txn->commit(); !s.ok()) return s.error();
  return doomed.size();
}

}  // namespace mash::broker
