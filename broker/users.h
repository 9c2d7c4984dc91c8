// The broker's local user accounts and login sessions (MASH researchers, managers, data
// protection officers and admins), kept in four named databases of an LMDB environment the
// caller owns:
//   users                <user id>             -> the account, JSON (password hash included)
//   users_sessions       <hex SHA-256 of token> -> a session, JSON
//   users_session_index  <user id>/<hash>       -> "" (finds a user's sessions to revoke them)
//   users_meta           fixed keys             -> counters (see login())
//
// Security properties:
// - Passwords are hashed with Argon2id (libsodium crypto_pwhash_str) at the limits in
//   UserStoreOptions; a hash made at other limits is upgraded at the next successful login.
//   Passwords and hashes never leave this module: User has no hash field, error messages never
//   quote a password, and nothing here logs.
// - login() costs one Argon2id verification and one durable write whether or not the user exists
//   (an unknown id is verified against a dummy hash made at open, and bumps a counter instead of
//   a user's failure count), so neither the answer nor its timing tells which ids exist. Locked
//   and disabled outcomes do reveal that the account exists; callers that must hide even that
//   should show them to the client exactly like kBadCredentials (and audit the difference).
//   The dummy hash is made at the current limits, so an account whose hash still has older
//   limits (until its next successful login) verifies in a different time.
// - After max_failed_logins consecutive failures the account is locked for `lockout`; while
//   locked even the right password is refused (kLocked). Failures made while locked do not count.
// - A session token is 32 random bytes (base64url, 43 characters, given to the client once);
//   only SHA-256 of those bytes is stored, so a copy of the database yields no working session.
//   The CSRF token is stored as is: it only matters together with the session token.
// - Sessions end after session_idle without use, session_max after creation, on logout, and for
//   all of a user's sessions on password change, role change and disable. Role and team are
//   read from the account at every check_session(), so a team change applies at once.
//
// Transactions and threads: every call is its own short LMDB transaction (each change is one
// write transaction: it happens entirely or not at all, and bad input changes nothing). Argon2id
// runs outside any transaction, so a slow login never holds LMDB's single writer. The methods
// may be called from several threads at once; do not call them on a thread that holds a write
// transaction on the same Env (kFailedPrecondition). The Env must outlive the store and have room
// for four more named databases (EnvOptions::max_dbs).
//
// Caveats:
// - Each concurrent login or password change takes memlimit bytes (64 MiB at the default) for
//   Argon2id: the caller should bound how many run at once.
// - check_session() writes (it records last use): one write transaction per checked request.
// - Times are Unix milliseconds. login(), check_session() and purge_expired() take the time from
//   the caller; the other changes stamp updated_ms with the wall clock (clock.h).
// - Expired sessions are deleted when they are next presented, when their user next logs in, or
//   by purge_expired(): call that now and then so abandoned sessions do not pile up.
// - set_password() does not ask for the old password: a caller offering self-service password
//   change must check it first (e.g. with login()). It also clears a lockout (an admin's reset).
#pragma once

#include <sodium.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lmdb_store.h"
#include "result.h"

namespace mash::broker {

// The only roles there are.
inline constexpr std::array<std::string_view, 4> kUserRoles = {"researcher", "manager", "dpo",
                                                               "admin"};

inline constexpr size_t kMinUserIdChars = 3;
inline constexpr size_t kMaxUserIdChars = 64;
inline constexpr size_t kMaxDisplayNameChars = 128;  // Unicode code points
inline constexpr size_t kMaxTeamChars = 64;
inline constexpr size_t kMinPasswordBytes = 12;
inline constexpr size_t kMaxPasswordBytes = 256;

// An account as callers see it: everything but the password hash.
struct User {
  std::string id;            // login name: 3-64 of [a-z0-9._-]
  std::string display_name;  // 1-128 code points of printable UTF-8
  std::string role;          // one of kUserRoles
  std::string team;          // 1-64 of [a-z0-9-]; managers see their team's cases
  bool disabled = false;
  int failed_logins = 0;        // consecutive failures since the last success or lockout end
  int64_t locked_until_ms = 0;  // 0, or the end of the current (or last) lockout
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
  uint64_t version = 0;  // 1 when added; increases on every change to the account
};

struct NewUser {
  std::string id;
  std::string display_name;
  std::string role;
  std::string team;
  std::string password;
};

struct Session {
  std::string token;  // only set by login(): the client's credential, never stored
  std::string csrf;   // 43 base64url characters; compare with csrf_matches()
  std::string user_id;
  std::string role;  // the account's current role and team
  std::string team;
  int64_t created_ms = 0;
  int64_t last_used_ms = 0;
  int64_t expires_ms = 0;  // min(last use + session_idle, creation + session_max)
};

struct LoginResult {
  enum Outcome { kOk, kBadCredentials, kLocked, kDisabled };
  // kOk: session is set. kBadCredentials: unknown id or wrong password. kLocked: the account is
  // locked, including by this very failure (locked_until_ms says until when). kDisabled: the
  // password was right but the account is disabled (a wrong one gives kBadCredentials).
  Outcome outcome = kBadCredentials;
  std::optional<Session> session;
  std::string user_id;
  int64_t locked_until_ms = 0;  // only with kLocked
};

struct UserStoreOptions {
  // Argon2id cost of new hashes. Tests may use crypto_pwhash_OPSLIMIT_MIN / MEMLIMIT_MIN.
  unsigned long long opslimit = crypto_pwhash_OPSLIMIT_INTERACTIVE;
  size_t memlimit = crypto_pwhash_MEMLIMIT_INTERACTIVE;
  int max_failed_logins = 5;
  std::chrono::seconds lockout{900};
  std::chrono::seconds session_idle{1800};
  std::chrono::seconds session_max{43200};
};

// OK, or kInvalidArgument naming the field and the rule. Exposed so that a form can check
// before submitting; add() and set_password() check the same.
Status check_user_id(std::string_view id);
Status check_display_name(std::string_view name);
Status check_role(std::string_view role);
Status check_team(std::string_view team);
// 12-256 bytes, not the user id (ignoring ASCII case), not one character repeated.
Status check_password(std::string_view user_id, std::string_view password);

// Compares a request's CSRF token with the session's in constant time.
bool csrf_matches(const Session& session, std::string_view presented);

class UserStore {
 public:
  // Opens (creating if needed) the store's databases in env, and makes the dummy hash login()
  // uses for unknown ids (one Argon2id hash: takes as long as a login). kInvalidArgument for
  // options out of range.
  static Result<std::unique_ptr<UserStore>> open(Env& env, UserStoreOptions options);

  UserStore(const UserStore&) = delete;
  UserStore& operator=(const UserStore&) = delete;

  // Adds an enabled account. kAlreadyExists if the id is taken. Returns the account stored.
  Result<User> add(const NewUser& user);
  // Each: kInvalidArgument for bad input, kNotFound for an unknown id. Setting the value an
  // account already has changes nothing (no new version, no revocation).
  Status set_password(std::string_view id, std::string_view password);  // revokes sessions
  Status set_role(std::string_view id, std::string_view role);           // revokes sessions
  Status set_team(std::string_view id, std::string_view team);
  Status disable(std::string_view id);  // revokes sessions (even if already disabled)
  Status enable(std::string_view id);

  Result<std::optional<User>> get(std::string_view id) const;
  Result<std::vector<User>> list() const;  // in id order

  // Checks the password; see the top of this file for timing, counting and lockout. On kOk the
  // failure count and lockout are cleared, a hash made at other limits is replaced, and a new
  // session is created (the user's expired sessions are deleted on the way). kInvalidArgument
  // only for a malformed id or a password longer than kMaxPasswordBytes: no account can match
  // either, so refusing them early says nothing about which ids exist.
  Result<LoginResult> login(std::string_view id, std::string_view password, int64_t now_ms);

  // The live session the token names, with its last use set to now_ms; nullopt when the token
  // is unknown, expired, revoked or its user is disabled (an expired or orphaned session is
  // deleted). A token that is not 43 base64url characters is kInvalidArgument. Treat any error
  // as "not logged in".
  Result<std::optional<Session>> check_session(std::string_view token, int64_t now_ms);
  // Ends the session; OK if there was none. kInvalidArgument for a malformed token.
  Status logout(std::string_view token);
  // Ends every session of the user. kNotFound for an unknown id.
  Status revoke_sessions(std::string_view user_id);
  // Deletes every expired session; returns how many.
  Result<size_t> purge_expired(int64_t now_ms);

 private:
  struct Record;  // User plus the password hash (users.cpp)

  UserStore(Env& env, UserStoreOptions options);

  Result<std::optional<Record>> load(const Txn& txn, std::string_view id) const;
  Status save(Txn& txn, const Record& record);
  // Deletes the user's sessions (only the expired ones if only_expired_at is set).
  Result<size_t> delete_sessions(Txn& txn, std::string_view user_id,
                                 std::optional<int64_t> only_expired_at);
  Status delete_session(Txn& txn, std::string_view hash_hex, std::string_view user_id);
  int64_t expires_at(int64_t created_ms, int64_t last_used_ms) const;
  Result<std::string> hash_password(std::string_view password) const;
  // Applies change to the account in one write transaction; change returns whether it changed
  // anything (if so the version and updated_ms move on and the record is saved).
  template <typename Change>
  Status update(std::string_view id, Change&& change);
  Status count_unknown_login();

  Env& env_;
  UserStoreOptions options_;
  Dbi users_;
  Dbi sessions_;
  Dbi session_index_;
  Dbi meta_;
  std::string dummy_hash_;
};

}  // namespace mash::broker
