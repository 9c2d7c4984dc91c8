// Tests for users.h. Argon2id runs at libsodium's minimum limits so that the suite stays fast;
// time moves through the now_ms parameters, never by sleeping.
#include "users.h"

#include <sodium.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "crypto.h"
#include "lmdb_store.h"
#include "test_support.h"

namespace mash::broker {
namespace {

constexpr int64_t kT0 = 1'800'000'000'000;  // an arbitrary "now", in Unix ms
constexpr int64_t kSecond = 1000;
const std::string kPassword = "correct horse battery";

UserStoreOptions fast_options() {
  UserStoreOptions o;
  o.opslimit = crypto_pwhash_OPSLIMIT_MIN;
  o.memlimit = crypto_pwhash_MEMLIMIT_MIN;
  return o;
}

NewUser alice() {
  return NewUser{"alice.smith", "Alice Smith", "researcher", "team-north", kPassword};
}

// An environment and a store in a temporary folder, which can be closed and reopened.
struct Fixture {
  mash::testing::TempDir dir;
  UserStoreOptions options = fast_options();
  std::optional<Env> env;
  std::unique_ptr<UserStore> store;

  Fixture() { open(); }
  ~Fixture() { close(); }

  void open() {
    EnvOptions eo;
    eo.map_size = 16u << 20;
    eo.sync = false;  // durability across power loss is not under test
    auto e = Env::open(dir.path() / "db", eo);
    if (!e.ok()) FAIL("Env::open: " << e.error().message);
    env.emplace(std::move(e).value());
    auto s = UserStore::open(*env, options);
    if (!s.ok()) FAIL("UserStore::open: " << s.error().message);
    store = std::move(s).value();
  }
  void close() {
    store.reset();
    env.reset();
  }
  void reopen() {
    close();
    open();
  }

  User add(const NewUser& u = alice()) {
    auto r = store->add(u);
    if (!r.ok()) FAIL("add: " << r.error().message);
    return *r;
  }
  User get(const std::string& id = "alice.smith") {
    auto r = store->get(id);
    if (!r.ok()) FAIL("get: " << r.error().message);
    if (!r->has_value()) FAIL("get: no user " << id);
    return **r;
  }
  LoginResult login(const std::string& password, int64_t now, const std::string& id = "alice.smith") {
    auto r = store->login(id, password, now);
    if (!r.ok()) FAIL("login: " << r.error().message);
    return *r;
  }
  Session login_ok(int64_t now, const std::string& password = kPassword,
                   const std::string& id = "alice.smith") {
    LoginResult r = login(password, now, id);
    REQUIRE(r.outcome == LoginResult::kOk);
    REQUIRE(r.session.has_value());
    return *r.session;
  }
  std::optional<Session> check(const std::string& token, int64_t now) {
    auto r = store->check_session(token, now);
    if (!r.ok()) FAIL("check_session: " << r.error().message);
    return *r;
  }

  // Every key and value of a named database, read straight from LMDB.
  std::map<std::string, std::string> raw(const std::string& db) {
    auto txn = env->begin_read();
    REQUIRE(txn.ok());
    auto dbi = txn->open_db(db, false);
    REQUIRE(dbi.ok());
    std::map<std::string, std::string> out;
    REQUIRE(txn->for_each_prefix(*dbi, "", [&](std::string_view k, std::string_view v) {
                   out.emplace(k, v);
                   return true;
                 }).ok());
    return out;
  }
  std::string stored_hash(const std::string& id = "alice.smith") {
    auto users = raw("users");
    REQUIRE(users.count(id) == 1);
    return nlohmann_free_hash(users.at(id));
  }
  // The "password_hash" string of a stored record, found without a JSON library so that the
  // test does not share the implementation's parsing.
  static std::string nlohmann_free_hash(const std::string& json) {
    const std::string field = "\"password_hash\":\"";
    const auto at = json.find(field);
    REQUIRE(at != std::string::npos);
    const auto start = at + field.size();
    return json.substr(start, json.find('"', start) - start);
  }
};

bool is_base64url(const std::string& s) {
  return s.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
         std::string::npos;
}

std::string token_hash_hex(const std::string& token) {
  std::array<uint8_t, 32> raw{};
  size_t len = 0;
  REQUIRE(sodium_base642bin(raw.data(), raw.size(), token.data(), token.size(), nullptr, &len,
                            nullptr, sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0);
  REQUIRE(len == 32);
  return to_hex(sha256(raw));
}

void require_invalid(const Status& s, const std::string& message_part) {
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code == ErrorCode::kInvalidArgument);
  CHECK_THAT(s.error().message, Catch::Contains(message_part));
}

template <typename T>
void require_invalid(const Result<T>& r, const std::string& message_part) {
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::kInvalidArgument);
  CHECK_THAT(r.error().message, Catch::Contains(message_part));
}

TEST_CASE("add and get an account", "[users]") {
  Fixture f;
  const User added = f.add();
  CHECK(added.id == "alice.smith");
  CHECK(added.version == 1);
  CHECK(added.created_ms > 0);

  const User u = f.get();
  CHECK(u.id == "alice.smith");
  CHECK(u.display_name == "Alice Smith");
  CHECK(u.role == "researcher");
  CHECK(u.team == "team-north");
  CHECK_FALSE(u.disabled);
  CHECK(u.failed_logins == 0);
  CHECK(u.locked_until_ms == 0);
  CHECK(u.version == 1);
  CHECK(u.created_ms == added.created_ms);
  CHECK(u.updated_ms == u.created_ms);

  auto missing = f.store->get("bob");
  REQUIRE(missing.ok());
  CHECK_FALSE(missing->has_value());

  f.add(NewUser{"bob", "Bob", "admin", "hub", "another long password"});
  f.add(NewUser{"carol-1", "Carol", "manager", "team-north", "yet another password"});
  auto all = f.store->list();
  REQUIRE(all.ok());
  REQUIRE(all->size() == 3);
  CHECK((*all)[0].id == "alice.smith");
  CHECK((*all)[1].id == "bob");
  CHECK((*all)[2].id == "carol-1");

  // Stored as Argon2id; the password itself appears nowhere.
  const auto users = f.raw("users");
  CHECK(f.stored_hash().starts_with("$argon2id$"));
  for (const auto& [k, v] : users) CHECK(v.find(kPassword) == std::string::npos);
}

TEST_CASE("every role can be added, the boundaries of each field are accepted", "[users]") {
  Fixture f;
  for (std::string_view role : kUserRoles) {
    NewUser u{"user-" + std::string(role), "Someone", std::string(role), "t", kPassword};
    f.add(u);
    CHECK(f.get(u.id).role == role);
  }
  // 3 and 64 characters of id, 128 code points of display name (in 2-byte characters), 64 of
  // team, 12 and 256 bytes of password.
  f.add(NewUser{"abc", std::string(128, 'y'), "dpo",
                std::string(64, 't'), "twelve bytes"});
  std::string name;
  for (int i = 0; i < 128; ++i) name += "\xC3\xA9";  // é
  f.add(NewUser{std::string(64, 'z'), name, "admin", "a", std::string(255, 'p') + "q"});
  CHECK(f.get(std::string(64, 'z')).display_name == name);
  CHECK(f.login(std::string(255, 'p') + "q", kT0, std::string(64, 'z')).outcome ==
        LoginResult::kOk);
  // Names may be any printable script.
  f.add(NewUser{"dai", "Dafydd ap Gruffydd – Ⓜ 李小龍 ✓", "manager", "wales", kPassword});
}

TEST_CASE("a duplicate id is refused and the first account is unchanged", "[users]") {
  Fixture f;
  f.add();
  NewUser again = alice();
  again.display_name = "Impostor";
  again.role = "admin";
  auto r = f.store->add(again);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::kAlreadyExists);
  CHECK_THAT(r.error().message, Catch::Contains("alice.smith"));
  const User u = f.get();
  CHECK(u.display_name == "Alice Smith");
  CHECK(u.role == "researcher");
  CHECK(u.version == 1);
  CHECK(f.login(kPassword, kT0).outcome == LoginResult::kOk);
}

TEST_CASE("each validation rule is refused with its message and nothing is stored", "[users]") {
  Fixture f;
  struct Case {
    const char* what;
    NewUser user;
    std::string message;
  };
  auto with = [](auto change) {
    NewUser u = alice();
    change(u);
    return u;
  };
  const std::vector<Case> cases = {
      {"short id", with([](NewUser& u) { u.id = "ab"; }), "id: must be 3 to 64 characters"},
      {"long id", with([](NewUser& u) { u.id = std::string(65, 'a'); }),
       "id: must be 3 to 64 characters"},
      {"upper-case id", with([](NewUser& u) { u.id = "Alice"; }), "id: may only contain"},
      {"slash in id", with([](NewUser& u) { u.id = "alice/x"; }), "id: may only contain"},
      {"space in id", with([](NewUser& u) { u.id = "alice smith"; }), "id: may only contain"},
      {"empty name", with([](NewUser& u) { u.display_name = ""; }),
       "display_name: must be 1 to 128 characters"},
      {"long name", with([](NewUser& u) { u.display_name = std::string(129, 'a'); }),
       "display_name: must be 1 to 128 characters"},
      {"newline in name", with([](NewUser& u) { u.display_name = "Alice\nSmith"; }),
       "display_name: must not contain control"},
      {"NUL in name", with([](NewUser& u) { u.display_name = std::string("Al\0ce", 5); }),
       "display_name: must not contain control"},
      {"DEL in name", with([](NewUser& u) { u.display_name = "Alice\x7f"; }),
       "display_name: must not contain control"},
      {"C1 control in name", with([](NewUser& u) { u.display_name = "Alice\xC2\x85"; }),
       "display_name: must not contain control"},
      {"bidi override in name", with([](NewUser& u) { u.display_name = "Alice\xE2\x80\xAE"; }),
       "(found U+202E)"},
      {"invalid UTF-8 name", with([](NewUser& u) { u.display_name = "Alice\xC3"; }),
       "display_name: is not valid UTF-8"},
      {"overlong UTF-8 name", with([](NewUser& u) { u.display_name = "\xC0\xAF"; }),
       "display_name: is not valid UTF-8"},
      {"surrogate in name", with([](NewUser& u) { u.display_name = "\xED\xA0\x80"; }),
       "display_name: is not valid UTF-8"},
      {"blank name", with([](NewUser& u) { u.display_name = "   "; }),
       "display_name: must not be only spaces"},
      {"unknown role", with([](NewUser& u) { u.role = "superuser"; }),
       "role: must be one of researcher, manager, dpo, admin"},
      {"capitalised role", with([](NewUser& u) { u.role = "Admin"; }), "role: must be one of"},
      {"empty role", with([](NewUser& u) { u.role = ""; }), "role: must be one of"},
      {"empty team", with([](NewUser& u) { u.team = ""; }), "team: must be 1 to 64 characters"},
      {"long team", with([](NewUser& u) { u.team = std::string(65, 't'); }),
       "team: must be 1 to 64 characters"},
      {"team with space", with([](NewUser& u) { u.team = "team north"; }),
       "team: may only contain"},
      {"team with dot", with([](NewUser& u) { u.team = "team.north"; }), "team: may only contain"},
      {"short password", with([](NewUser& u) { u.password = "elevenchars"; }),
       "password: must be at least 12 bytes"},
      {"long password", with([](NewUser& u) { u.password = std::string(256, 'a') + "b"; }),
       "password: must be at most 256 bytes"},
      {"password is the id", with([](NewUser& u) { u.password = "alice.smith12"; u.id = "alice.smith12"; }),
       "password: must not be the user id"},
      {"password is the id in capitals",
       with([](NewUser& u) { u.password = "ALICE.SMITH12"; u.id = "alice.smith12"; }),
       "password: must not be the user id"},
      {"one byte repeated", with([](NewUser& u) { u.password = std::string(20, 'a'); }),
       "password: must not be one character repeated"},
      {"one UTF-8 character repeated", with([](NewUser& u) {
         u.password.clear();
         for (int i = 0; i < 8; ++i) u.password += "\xC3\xA9";
       }),
       "password: must not be one character repeated"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    auto r = f.store->add(c.user);
    require_invalid(r, c.message);
    // The message never repeats the password.
    if (!r.ok()) CHECK(r.error().message.find(c.user.password) == std::string::npos);
  }
  CHECK(f.raw("users").empty());
  CHECK(f.raw("users_sessions").empty());

  // The same checks guard the other entry points, and bad input changes nothing.
  f.add();
  require_invalid(f.store->set_role("alice.smith", "root"), "role: must be one of");
  require_invalid(f.store->set_team("alice.smith", "North Team"), "team: may only contain");
  require_invalid(f.store->set_password("alice.smith", "short"), "password: must be at least");
  require_invalid(f.store->set_password("alice.smith", "alice.smith"), "password: must be at least");
  require_invalid(f.store->set_password("alice.smith", "xxxxxxxxxxxxxxxx"), "one character repeated");
  require_invalid(f.store->set_role("Alice.Smith", "admin"), "id: may only contain");
  require_invalid(f.store->get("a"), "id: must be 3 to 64");
  require_invalid(f.store->disable("x"), "id: must be 3 to 64");
  require_invalid(f.store->revoke_sessions("ALICE"), "id: may only contain");
  require_invalid(f.store->login("a", kPassword, kT0), "id: must be 3 to 64");
  require_invalid(f.store->login("alice.smith", std::string(257, 'x'), kT0),
                  "password: must be at most 256 bytes");
  const User u = f.get();
  CHECK(u.version == 1);
  CHECK(u.role == "researcher");
  CHECK(u.team == "team-north");
  CHECK(u.failed_logins == 0);
  CHECK(f.login(kPassword, kT0).outcome == LoginResult::kOk);

  // Unknown accounts.
  for (const Status& s : {f.store->set_role("nobody", "admin"), f.store->set_team("nobody", "x"),
                          f.store->set_password("nobody", "a fine password"),
                          f.store->disable("nobody"), f.store->enable("nobody"),
                          f.store->revoke_sessions("nobody")}) {
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().code == ErrorCode::kNotFound);
    CHECK_THAT(s.error().message, Catch::Contains("'nobody'"));
  }
  CHECK(f.raw("users").size() == 1);
}

TEST_CASE("options out of range are refused", "[users]") {
  mash::testing::TempDir dir;
  EnvOptions eo;
  eo.map_size = 16u << 20;
  eo.sync = false;
  auto env = Env::open(dir.path() / "db", eo);
  REQUIRE(env.ok());
  auto refuse = [&](auto change, const std::string& message) {
    UserStoreOptions o = fast_options();
    change(o);
    require_invalid(UserStore::open(*env, o), message);
  };
  refuse([](UserStoreOptions& o) { o.opslimit = 0; }, "UserStoreOptions.opslimit");
  refuse([](UserStoreOptions& o) { o.memlimit = 1024; }, "UserStoreOptions.memlimit");
  refuse([](UserStoreOptions& o) { o.max_failed_logins = 0; }, "UserStoreOptions.max_failed_logins");
  refuse([](UserStoreOptions& o) { o.lockout = std::chrono::seconds(0); }, "UserStoreOptions.lockout");
  refuse([](UserStoreOptions& o) { o.session_idle = std::chrono::seconds(-1); },
         "UserStoreOptions.session_idle");
  refuse([](UserStoreOptions& o) { o.session_max = std::chrono::hours(24 * 400); },
         "UserStoreOptions.session_max");
}

TEST_CASE("login gives a session whose token is stored only as its SHA-256", "[users]") {
  Fixture f;
  f.add();
  const LoginResult r = f.login(kPassword, kT0);
  REQUIRE(r.outcome == LoginResult::kOk);
  CHECK(r.user_id == "alice.smith");
  REQUIRE(r.session.has_value());
  const Session& s = *r.session;
  CHECK(s.token.size() == 43);
  CHECK(is_base64url(s.token));
  CHECK(s.csrf.size() == 43);
  CHECK(is_base64url(s.csrf));
  CHECK(s.csrf != s.token);
  CHECK(s.user_id == "alice.smith");
  CHECK(s.role == "researcher");
  CHECK(s.team == "team-north");
  CHECK(s.created_ms == kT0);
  CHECK(s.last_used_ms == kT0);
  CHECK(s.expires_ms == kT0 + 1800 * kSecond);

  // The raw databases: the key is the hash, and the token itself is nowhere.
  const auto sessions = f.raw("users_sessions");
  REQUIRE(sessions.size() == 1);
  CHECK(sessions.begin()->first == token_hash_hex(s.token));
  CHECK(sessions.begin()->second.find(s.csrf) != std::string::npos);
  for (const std::string db : {"users", "users_sessions", "users_session_index", "users_meta"}) {
    for (const auto& [k, v] : f.raw(db)) {
      CHECK(k.find(s.token) == std::string::npos);
      CHECK(v.find(s.token) == std::string::npos);
    }
  }
  const auto index = f.raw("users_session_index");
  REQUIRE(index.size() == 1);
  CHECK(index.begin()->first == "alice.smith/" + token_hash_hex(s.token));

  const auto checked = f.check(s.token, kT0 + 5 * kSecond);
  REQUIRE(checked.has_value());
  CHECK(checked->token.empty());  // the token is only ever handed out once
  CHECK(checked->csrf == s.csrf);
  CHECK(checked->user_id == "alice.smith");
  CHECK(checked->role == "researcher");
  CHECK(checked->team == "team-north");
  CHECK(checked->created_ms == kT0);
  // The last use moves on in steps of a hundredth of the idle time (18 s), not every check.
  CHECK(checked->last_used_ms == kT0);
  CHECK(checked->expires_ms == kT0 + 1800 * kSecond);
  const auto later = f.check(s.token, kT0 + 20 * kSecond);
  REQUIRE(later.has_value());
  CHECK(later->last_used_ms == kT0 + 20 * kSecond);
  CHECK(later->expires_ms == kT0 + 20 * kSecond + 1800 * kSecond);
  CHECK(csrf_matches(*checked, s.csrf));
  CHECK_FALSE(csrf_matches(*checked, s.token));
  CHECK_FALSE(csrf_matches(*checked, ""));
  CHECK_FALSE(csrf_matches(Session{}, ""));

  // A second login is a second session; tokens never repeat.
  const Session s2 = f.login_ok(kT0 + 10 * kSecond);
  CHECK(s2.token != s.token);
  CHECK(s2.csrf != s.csrf);
  CHECK(f.raw("users_sessions").size() == 2);
  // A successful login with nothing to reset leaves the account as it was.
  CHECK(f.get().version == 1);
}

TEST_CASE("malformed, unknown and tampered tokens give no session", "[users]") {
  Fixture f;
  f.add();
  const Session s = f.login_ok(kT0);
  require_invalid(f.store->check_session("", kT0), "session token: must be 43 base64url");
  require_invalid(f.store->check_session(s.token.substr(1), kT0), "must be 43 base64url");
  require_invalid(f.store->check_session(s.token + "A", kT0), "must be 43 base64url");
  require_invalid(f.store->check_session(std::string(42, 'A') + "=", kT0), "must be 43 base64url");
  require_invalid(f.store->check_session(std::string(42, 'A') + "+", kT0), "must be 43 base64url");
  // 43 characters carry 258 bits: the last 2 must be zero, so each token has one spelling.
  require_invalid(f.store->check_session(std::string(42, 'A') + "B", kT0), "not canonical");
  require_invalid(f.store->logout("not a token"), "session token: must be 43 base64url");

  CHECK_FALSE(f.check(std::string(43, 'A'), kT0).has_value());
  std::string flipped = s.token;
  flipped[5] = flipped[5] == 'x' ? 'y' : 'x';
  CHECK_FALSE(f.check(flipped, kT0).has_value());
  // The csrf token is not a session token.
  CHECK_FALSE(f.check(s.csrf, kT0).has_value());
  CHECK(f.check(s.token, kT0).has_value());
}

TEST_CASE("wrong passwords count, and lock the account until the lockout passes", "[users]") {
  Fixture f;
  f.add();

  SECTION("a success resets the count") {
    CHECK(f.login("wrong password!", kT0).outcome == LoginResult::kBadCredentials);
    CHECK(f.login("wrong password!", kT0).outcome == LoginResult::kBadCredentials);
    CHECK(f.get().failed_logins == 2);
    CHECK(f.get().version == 3);
    f.login_ok(kT0);
    CHECK(f.get().failed_logins == 0);
    CHECK(f.get().version == 4);
  }

  SECTION("five failures lock; the right password is refused until the lockout ends") {
    for (int i = 1; i <= 4; ++i) {
      const LoginResult r = f.login("wrong password!", kT0 + i);
      CHECK(r.outcome == LoginResult::kBadCredentials);
      CHECK_FALSE(r.session.has_value());
      CHECK(f.get().failed_logins == i);
    }
    const LoginResult fifth = f.login("wrong password!", kT0 + 5);
    CHECK(fifth.outcome == LoginResult::kLocked);
    const int64_t until = kT0 + 5 + 900 * kSecond;
    CHECK(fifth.locked_until_ms == until);
    CHECK(f.get().locked_until_ms == until);
    CHECK(f.get().failed_logins == 5);
    const uint64_t version = f.get().version;

    // Locked: even the right password is refused, and attempts are not counted.
    for (int64_t t : {kT0 + 6, kT0 + 600 * kSecond, until - 1}) {
      const LoginResult r = f.login(kPassword, t);
      CHECK(r.outcome == LoginResult::kLocked);
      CHECK(r.locked_until_ms == until);
      CHECK_FALSE(r.session.has_value());
    }
    CHECK(f.login("wrong password!", until - 1).outcome == LoginResult::kLocked);
    CHECK(f.get().version == version);
    CHECK(f.raw("users_sessions").empty());

    SECTION("then the right password works and clears the lockout") {
      const LoginResult r = f.login(kPassword, until);
      CHECK(r.outcome == LoginResult::kOk);
      CHECK(r.session.has_value());
      const User u = f.get();
      CHECK(u.failed_logins == 0);
      CHECK(u.locked_until_ms == 0);
    }
    SECTION("then a wrong password starts a fresh count instead of locking at once") {
      CHECK(f.login("wrong password!", until).outcome == LoginResult::kBadCredentials);
      CHECK(f.get().failed_logins == 1);
      CHECK(f.get().locked_until_ms == 0);
    }
    SECTION("a new password set by an admin unlocks") {
      REQUIRE(f.store->set_password("alice.smith", "a brand new password").ok());
      CHECK(f.get().locked_until_ms == 0);
      CHECK(f.login("a brand new password", kT0 + 7).outcome == LoginResult::kOk);
    }
  }
}

TEST_CASE("failures from concurrent logins are all counted", "[users]") {
  Fixture f;
  f.options.max_failed_logins = 100;
  f.reopen();
  f.add();
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        auto r = f.store->login("alice.smith", "wrong password!", kT0);
        if (r.ok() && r->outcome == LoginResult::kBadCredentials) ++bad;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(bad == 20);
  CHECK(f.get().failed_logins == 20);
  CHECK(f.get().version == 21);
}

TEST_CASE("an unknown user gets kBadCredentials and nothing is created", "[users]") {
  Fixture f;
  f.add();
  const LoginResult r = f.login(kPassword, kT0, "mallory");
  CHECK(r.outcome == LoginResult::kBadCredentials);
  CHECK(r.user_id == "mallory");
  CHECK_FALSE(r.session.has_value());
  CHECK(f.raw("users").size() == 1);
  CHECK(f.raw("users_sessions").empty());
  // The failure was written somewhere all the same (see count_unknown_login()).
  CHECK(f.raw("users_meta").at("unknown_login_failures") == "1");
  CHECK(f.login("", kT0, "mallory").outcome == LoginResult::kBadCredentials);
  CHECK(f.raw("users_meta").at("unknown_login_failures") == "2");
  // An empty password is simply wrong for a real account too.
  CHECK(f.login("", kT0).outcome == LoginResult::kBadCredentials);
}

TEST_CASE("a disabled account cannot log in and loses its sessions", "[users]") {
  Fixture f;
  f.add();
  f.add(NewUser{"bob", "Bob", "admin", "hub", "another long password"});
  const Session s1 = f.login_ok(kT0);
  const Session s2 = f.login_ok(kT0 + 1);
  const Session bob = f.login_ok(kT0, "another long password", "bob");

  REQUIRE(f.store->disable("alice.smith").ok());
  CHECK(f.get().disabled);
  CHECK(f.get().version == 2);
  CHECK_FALSE(f.check(s1.token, kT0 + 2).has_value());
  CHECK_FALSE(f.check(s2.token, kT0 + 2).has_value());
  CHECK(f.check(bob.token, kT0 + 2).has_value());  // other users keep theirs
  CHECK(f.raw("users_sessions").size() == 1);
  CHECK(f.raw("users_session_index").size() == 1);

  const LoginResult right = f.login(kPassword, kT0 + 3);
  CHECK(right.outcome == LoginResult::kDisabled);
  CHECK_FALSE(right.session.has_value());
  CHECK(f.login("wrong password!", kT0 + 3).outcome == LoginResult::kBadCredentials);
  CHECK(f.raw("users_sessions").size() == 1);

  // Disabling twice changes nothing more.
  REQUIRE(f.store->disable("alice.smith").ok());
  CHECK(f.get().version == 3);  // 2, plus the counted wrong password

  REQUIRE(f.store->enable("alice.smith").ok());
  CHECK_FALSE(f.get().disabled);
  CHECK(f.get().version == 4);
  REQUIRE(f.store->enable("alice.smith").ok());
  CHECK(f.get().version == 4);
  // Enabling does not bring old sessions back.
  CHECK_FALSE(f.check(s1.token, kT0 + 4).has_value());
  f.login_ok(kT0 + 4);
}

TEST_CASE("sessions expire after idle time and after their maximum age", "[users]") {
  Fixture f;
  f.add();
  const int64_t idle = 1800 * kSecond;
  const int64_t max = 43200 * kSecond;

  SECTION("idle") {
    const Session s = f.login_ok(kT0);
    // Each use pushes the idle expiry on.
    auto c = f.check(s.token, kT0 + idle - 1);
    REQUIRE(c.has_value());
    CHECK(c->expires_ms == kT0 + 2 * idle - 1);
    CHECK(f.check(s.token, kT0 + 2 * idle - 2).has_value());
    // Then left alone for exactly session_idle: gone, and deleted.
    CHECK_FALSE(f.check(s.token, kT0 + 3 * idle - 2).has_value());
    CHECK(f.raw("users_sessions").empty());
    CHECK(f.raw("users_session_index").empty());
    CHECK_FALSE(f.check(s.token, kT0 + 2 * idle - 2).has_value());  // even if time steps back
  }

  SECTION("maximum age, however recently used") {
    const Session s = f.login_ok(kT0);
    int64_t t = kT0;
    while (t + 1000 * kSecond < kT0 + max) {
      t += 1000 * kSecond;
      REQUIRE(f.check(s.token, t).has_value());
    }
    auto c = f.check(s.token, kT0 + max - 1);
    REQUIRE(c.has_value());
    CHECK(c->expires_ms == kT0 + max);
    CHECK_FALSE(f.check(s.token, kT0 + max).has_value());
  }

  SECTION("a clock stepping back does not move last use back") {
    const Session s = f.login_ok(kT0);
    REQUIRE(f.check(s.token, kT0 + 100 * kSecond).has_value());
    auto c = f.check(s.token, kT0 + 50 * kSecond);
    REQUIRE(c.has_value());
    CHECK(c->last_used_ms == kT0 + 100 * kSecond);
  }

  SECTION("purge_expired deletes expired sessions only, and login sweeps the user's own") {
    f.login_ok(kT0);
    f.login_ok(kT0 + 1);
    const Session fresh = f.login_ok(kT0 + idle - 10);
    auto purged = f.store->purge_expired(kT0 + idle + 1);
    REQUIRE(purged.ok());
    CHECK(*purged == 2);
    CHECK(f.raw("users_sessions").size() == 1);
    CHECK(f.raw("users_session_index").size() == 1);
    CHECK(f.check(fresh.token, kT0 + idle + 2).has_value());

    f.login_ok(kT0 + 2 * idle + 10);  // "fresh" expired meanwhile: swept by this login
    CHECK(f.raw("users_sessions").size() == 1);
    CHECK(f.raw("users_session_index").size() == 1);
  }
}

TEST_CASE("logout ends that session only", "[users]") {
  Fixture f;
  f.add();
  const Session a = f.login_ok(kT0);
  const Session b = f.login_ok(kT0);
  REQUIRE(f.store->logout(a.token).ok());
  CHECK_FALSE(f.check(a.token, kT0 + 1).has_value());
  CHECK(f.check(b.token, kT0 + 1).has_value());
  CHECK(f.raw("users_sessions").size() == 1);
  CHECK(f.raw("users_session_index").size() == 1);
  REQUIRE(f.store->logout(a.token).ok());  // again: nothing to do
  REQUIRE(f.store->logout(std::string(43, 'A')).ok());
}

TEST_CASE("a password change revokes sessions and the old password stops working", "[users]") {
  Fixture f;
  f.add();
  const Session a = f.login_ok(kT0);
  const Session b = f.login_ok(kT0);
  const std::string before = f.stored_hash();
  REQUIRE(f.store->set_password("alice.smith", "the new passphrase").ok());
  CHECK(f.stored_hash() != before);
  CHECK(f.get().version == 2);
  CHECK_FALSE(f.check(a.token, kT0 + 1).has_value());
  CHECK_FALSE(f.check(b.token, kT0 + 1).has_value());
  CHECK(f.raw("users_session_index").empty());
  CHECK(f.login(kPassword, kT0 + 2).outcome == LoginResult::kBadCredentials);
  f.login_ok(kT0 + 3, "the new passphrase");
  for (const auto& [k, v] : f.raw("users")) CHECK(v.find("the new passphrase") == std::string::npos);
}

TEST_CASE("a role change revokes sessions, a team change applies to live ones", "[users]") {
  Fixture f;
  f.add();
  const Session s = f.login_ok(kT0);

  REQUIRE(f.store->set_team("alice.smith", "team-south").ok());
  CHECK(f.get().version == 2);
  auto c = f.check(s.token, kT0 + 1);
  REQUIRE(c.has_value());
  CHECK(c->team == "team-south");
  REQUIRE(f.store->set_team("alice.smith", "team-south").ok());
  CHECK(f.get().version == 2);

  // The same role again is no change: no new version, no revocation.
  REQUIRE(f.store->set_role("alice.smith", "researcher").ok());
  CHECK(f.get().version == 2);
  CHECK(f.check(s.token, kT0 + 2).has_value());

  REQUIRE(f.store->set_role("alice.smith", "manager").ok());
  CHECK(f.get().role == "manager");
  CHECK(f.get().version == 3);
  CHECK_FALSE(f.check(s.token, kT0 + 3).has_value());
  const Session again = f.login_ok(kT0 + 4);
  CHECK(again.role == "manager");
  CHECK(again.team == "team-south");
}

TEST_CASE("revoke_sessions ends all of a user's sessions", "[users]") {
  Fixture f;
  f.add();
  const Session a = f.login_ok(kT0);
  const Session b = f.login_ok(kT0);
  REQUIRE(f.store->revoke_sessions("alice.smith").ok());
  CHECK_FALSE(f.check(a.token, kT0 + 1).has_value());
  CHECK_FALSE(f.check(b.token, kT0 + 1).has_value());
  CHECK(f.raw("users_sessions").empty());
  CHECK(f.get().version == 1);  // the account itself is unchanged
}

TEST_CASE("a hash made at other limits is upgraded at the next login", "[users]") {
  Fixture f;
  f.add();
  const std::string old_hash = f.stored_hash();
  CHECK_THAT(old_hash, Catch::Contains("t=1,"));

  f.login_ok(kT0);
  CHECK(f.stored_hash() == old_hash);  // same limits: left alone
  CHECK(f.get().version == 1);

  f.options.opslimit = crypto_pwhash_OPSLIMIT_MIN + 1;
  f.reopen();
  CHECK(f.login("wrong password!", kT0 + 1).outcome == LoginResult::kBadCredentials);
  CHECK(f.stored_hash() == old_hash);  // only a right password can be rehashed
  f.login_ok(kT0 + 2);
  const std::string new_hash = f.stored_hash();
  CHECK(new_hash != old_hash);
  CHECK(new_hash.starts_with("$argon2id$"));
  CHECK_THAT(new_hash, Catch::Contains("t=2,"));
  CHECK(crypto_pwhash_str_needs_rehash(new_hash.c_str(), f.options.opslimit, f.options.memlimit) ==
        0);
  f.login_ok(kT0 + 3);
  CHECK(f.stored_hash() == new_hash);
}

TEST_CASE("accounts and sessions survive closing and reopening the environment", "[users]") {
  Fixture f;
  const User added = f.add();
  f.add(NewUser{"bob", "Bob", "dpo", "hub", "another long password"});
  REQUIRE(f.store->set_team("bob", "hub-2").ok());
  const Session s = f.login_ok(kT0);
  CHECK(f.login("wrong password!", kT0 + 1, "bob").outcome == LoginResult::kBadCredentials);

  f.reopen();
  const User u = f.get();
  CHECK(u.display_name == added.display_name);
  CHECK(u.created_ms == added.created_ms);
  CHECK(u.version == 1);
  const User bob = f.get("bob");
  CHECK(bob.team == "hub-2");
  CHECK(bob.role == "dpo");
  CHECK(bob.failed_logins == 1);
  auto c = f.check(s.token, kT0 + 2);
  REQUIRE(c.has_value());
  CHECK(c->csrf == s.csrf);
  f.login_ok(kT0 + 3);
  f.login_ok(kT0 + 3, "another long password", "bob");
  CHECK(f.get("bob").failed_logins == 0);
}

TEST_CASE("the default (interactive) limits work", "[users]") {
  Fixture f;
  f.options = UserStoreOptions{};
  f.reopen();
  f.add();
  const std::string hash = f.stored_hash();
  CHECK(hash.starts_with("$argon2id$"));
  CHECK(crypto_pwhash_str_needs_rehash(hash.c_str(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                       crypto_pwhash_MEMLIMIT_INTERACTIVE) == 0);
  f.login_ok(kT0);
  CHECK(f.login("wrong password!", kT0).outcome == LoginResult::kBadCredentials);
  CHECK(f.login(kPassword, kT0, "nobody").outcome == LoginResult::kBadCredentials);
}

}  // namespace
}  // namespace mash::broker
