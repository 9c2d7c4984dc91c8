// Tests for case_vault.h on a real LMDB environment in a temporary folder. Tampering and copying
// are done with the plain LMDB API on the vault's own databases, as an attacker with the files
// (but not the master key) could.
#include "case_vault.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <vector>

#include "test_support.h"

namespace mash {
namespace {

using testing::TempDir;

EnvOptions test_options() {
  EnvOptions opts;
  opts.map_size = 128u << 20;
  opts.sync = false;
  return opts;
}

Env open_env(const std::filesystem::path& dir) {
  auto env = Env::open(dir, test_options());
  if (!env.ok()) FAIL("Env::open: " << env.error().message);
  return std::move(env).value();
}

CaseVault open_vault(Env& env, const HashKey& master) {
  auto vault = CaseVault::open(env, master);
  if (!vault.ok()) FAIL("CaseVault::open: " << vault.error().message);
  return std::move(vault).value();
}

std::vector<uint8_t> bytes(std::string_view s) { return {s.begin(), s.end()}; }

std::string text(const std::vector<uint8_t>& b) { return {b.begin(), b.end()}; }

std::string get_text(const CaseVault& vault, std::string_view case_id, std::string_view item) {
  auto r = vault.get(case_id, item);
  if (!r.ok()) FAIL("get " << case_id << "/" << item << ": " << r.error().message);
  return text(*r);
}

void put_text(CaseVault& vault, std::string_view case_id, std::string_view item,
              std::string_view plaintext) {
  Status s = vault.put(case_id, item, bytes(plaintext));
  if (!s.ok()) FAIL("put " << case_id << "/" << item << ": " << s.error().message);
}

// Direct access to the vault's databases, bypassing the vault.
struct Raw {
  Env& env;

  Dbi db(Txn& txn, std::string_view name) {
    auto dbi = txn.open_db(name, /*create=*/false);
    REQUIRE(dbi.ok());
    return *dbi;
  }

  std::optional<std::string> get(std::string_view db_name, std::string_view key) {
    auto txn = env.begin_write();
    REQUIRE(txn.ok());
    Dbi dbi = db(*txn, db_name);
    auto v = txn->get(dbi, key);
    REQUIRE(v.ok());
    std::optional<std::string> out;
    if (v->has_value()) out = std::string(**v);
    REQUIRE(txn->commit().ok());
    return out;
  }

  void put(std::string_view db_name, std::string_view key, std::string_view value) {
    auto txn = env.begin_write();
    REQUIRE(txn.ok());
    Dbi dbi = db(*txn, db_name);
    REQUIRE(txn->put(dbi, key, value).ok());
    REQUIRE(txn->commit().ok());
  }

  std::vector<std::pair<std::string, std::string>> all(std::string_view db_name) {
    auto txn = env.begin_write();
    REQUIRE(txn.ok());
    Dbi dbi = db(*txn, db_name);
    std::vector<std::pair<std::string, std::string>> out;
    REQUIRE(txn->for_each_prefix(dbi, "",
                                 [&](std::string_view k, std::string_view v) {
                                   out.emplace_back(k, v);
                                   return true;
                                 })
                .ok());
    REQUIRE(txn->commit().ok());
    return out;
  }
};

struct Fixture {
  TempDir tmp;
  HashKey master = HashKey::generate();
  Env env = open_env(tmp / "db");
  CaseVault vault = open_vault(env, master);
  Raw raw{env};
};

TEST_CASE("vault: items round-trip and are listed per case", "[vault]") {
  Fixture f;
  put_text(f.vault, "MASH-2024-0001", "summary", "Concerns about neglect.");
  put_text(f.vault, "MASH-2024-0001", "answer:police", "No record.");
  put_text(f.vault, "MASH-2024-0002", "summary", "Different case.");
  REQUIRE(f.vault.put("MASH-2024-0001", "empty", {}).ok());
  std::vector<uint8_t> binary(1000);
  for (size_t i = 0; i < binary.size(); ++i) binary[i] = static_cast<uint8_t>(i * 7);
  REQUIRE(f.vault.put("MASH-2024-0001", "binary.bin", binary).ok());

  CHECK(get_text(f.vault, "MASH-2024-0001", "summary") == "Concerns about neglect.");
  CHECK(get_text(f.vault, "MASH-2024-0001", "answer:police") == "No record.");
  CHECK(get_text(f.vault, "MASH-2024-0002", "summary") == "Different case.");
  CHECK(get_text(f.vault, "MASH-2024-0001", "empty").empty());
  CHECK(*f.vault.get("MASH-2024-0001", "binary.bin") == binary);

  // Replacing an item.
  put_text(f.vault, "MASH-2024-0001", "summary", "Updated.");
  CHECK(get_text(f.vault, "MASH-2024-0001", "summary") == "Updated.");

  auto names = f.vault.items("MASH-2024-0001");
  REQUIRE(names.ok());
  CHECK(*names == std::vector<std::string>{"answer:police", "binary.bin", "empty", "summary"});
  auto none = f.vault.items("MASH-2024-9999");
  REQUIRE(none.ok());
  CHECK(none->empty());
  CHECK_FALSE(f.vault.purged("MASH-2024-0001"));
}

TEST_CASE("vault: nothing is stored in the clear", "[vault]") {
  Fixture f;
  put_text(f.vault, "C1", "note", "Plaintext marker 12345");
  for (const auto& [k, v] : f.raw.all("vault_items")) {
    CHECK(v.find("Plaintext marker") == std::string::npos);
  }
  // Two puts of the same text give different ciphertexts (fresh nonces).
  const auto first = f.raw.get("vault_items", "C1/note");
  put_text(f.vault, "C1", "note", "Plaintext marker 12345");
  CHECK(f.raw.get("vault_items", "C1/note") != first);
}

TEST_CASE("vault: absent cases and items are kNotFound", "[vault]") {
  Fixture f;
  auto r = f.vault.get("C1", "summary");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::kNotFound);
  put_text(f.vault, "C1", "summary", "x");
  r = f.vault.get("C1", "other");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::kNotFound);
}

TEST_CASE("vault: an item copied to another name or case does not decrypt", "[vault]") {
  Fixture f;
  put_text(f.vault, "C1", "summary", "case one summary");
  put_text(f.vault, "C1", "notes", "case one notes");
  put_text(f.vault, "C2", "summary", "case two summary");
  const auto sealed = f.raw.get("vault_items", "C1/summary");
  REQUIRE(sealed.has_value());

  SECTION("to another item name of the same case (same key: only the AD differs)") {
    f.raw.put("vault_items", "C1/notes", *sealed);
    auto r = f.vault.get("C1", "notes");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::kDataLoss);
    CHECK(r.error().message.find("does not decrypt") != std::string::npos);
    CHECK(get_text(f.vault, "C1", "summary") == "case one summary");
  }
  SECTION("to the same item name of another case") {
    f.raw.put("vault_items", "C2/summary", *sealed);
    auto r = f.vault.get("C2", "summary");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::kDataLoss);
  }
  SECTION("to another case together with the wrapped case key") {
    // Even with the case key alongside, the wrapped key is bound to its case.
    f.raw.put("vault_keys", "C3", *f.raw.get("vault_keys", "C1"));
    f.raw.put("vault_items", "C3/summary", *sealed);
    auto r = f.vault.get("C3", "summary");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::kDataLoss);
    CHECK(r.error().message.find("key of case C3") != std::string::npos);
    // And put refuses to add to a case whose key does not decrypt.
    Status s = f.vault.put("C3", "more", bytes("x"));
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().code == ErrorCode::kDataLoss);
  }
}

TEST_CASE("vault: tampered ciphertext is kDataLoss", "[vault]") {
  Fixture f;
  put_text(f.vault, "C1", "summary", "some content to protect");
  const std::string sealed = *f.raw.get("vault_items", "C1/summary");

  auto expect_data_loss = [&](const std::string& value) {
    f.raw.put("vault_items", "C1/summary", value);
    auto r = f.vault.get("C1", "summary");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::kDataLoss);
  };
  for (size_t pos : {size_t{1}, size_t{10}, size_t{25}, sealed.size() / 2, sealed.size() - 1}) {
    std::string t = sealed;
    t[pos] = static_cast<char>(t[pos] ^ 0x01);
    INFO("flipped byte " << pos);
    expect_data_loss(t);
  }
  std::string wrong_version = sealed;
  wrong_version[0] = 0x02;
  expect_data_loss(wrong_version);
  expect_data_loss(sealed.substr(0, sealed.size() - 1));
  expect_data_loss(sealed.substr(0, 20));
  expect_data_loss("");
  expect_data_loss(sealed + "x");

  // A tampered wrapped key too.
  f.raw.put("vault_items", "C1/summary", sealed);
  CHECK(get_text(f.vault, "C1", "summary") == "some content to protect");
  std::string key = *f.raw.get("vault_keys", "C1");
  key[40] = static_cast<char>(key[40] ^ 0x80);
  f.raw.put("vault_keys", "C1", key);
  auto r = f.vault.get("C1", "summary");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::kDataLoss);
}

TEST_CASE("vault: purge shreds the case and leaves only a tombstone", "[vault]") {
  Fixture f;
  put_text(f.vault, "C1", "summary", "case one summary");
  put_text(f.vault, "C1", "answer:health", "case one health answer");
  put_text(f.vault, "C1-2", "summary", "a case whose id starts like C1");
  put_text(f.vault, "C2", "summary", "case two summary");
  const std::string wrapped_key = *f.raw.get("vault_keys", "C1");
  const std::vector<std::string> sealed_items = {*f.raw.get("vault_items", "C1/summary"),
                                                 *f.raw.get("vault_items", "C1/answer:health")};

  REQUIRE(f.vault.purge("C1", "retention period ended").ok());

  auto r = f.vault.get("C1", "summary");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::kFailedPrecondition);
  INFO(r.error().message);
  CHECK(r.error().message.starts_with("case C1 was purged on 20"));
  CHECK(r.error().message.find(" UTC (reason: retention period ended)") != std::string::npos);
  CHECK(f.vault.purged("C1"));
  CHECK_FALSE(f.vault.purged("C1-2"));
  CHECK_FALSE(f.vault.purged("C2"));
  CHECK_FALSE(f.vault.purged("never-seen"));

  // The databases hold no key and no item of C1, only the tombstone.
  for (const auto& [k, v] : f.raw.all("vault_items")) {
    CHECK_FALSE(k.starts_with("C1/"));
    for (const auto& s : sealed_items) CHECK(v.find(s) == std::string::npos);
    CHECK(v.find(wrapped_key) == std::string::npos);
  }
  for (const auto& [k, v] : f.raw.all("vault_keys")) {
    CHECK(v.find(wrapped_key) == std::string::npos);
    for (const auto& s : sealed_items) CHECK(v.find(s) == std::string::npos);
    if (k == "C1") {
      CHECK(v.starts_with("purged at "));
      CHECK(v.find("; reason: retention period ended") != std::string::npos);
      CHECK(v.size() < 64);
    }
  }
  const auto tombstone = f.raw.get("vault_keys", "C1");
  REQUIRE(tombstone.has_value());

  // Other cases are untouched.
  CHECK(get_text(f.vault, "C2", "summary") == "case two summary");
  CHECK(get_text(f.vault, "C1-2", "summary") == "a case whose id starts like C1");

  // A purged case stays purged: no new content, no listing, and purging again changes nothing.
  Status s = f.vault.put("C1", "summary", bytes("again"));
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code == ErrorCode::kFailedPrecondition);
  auto names = f.vault.items("C1");
  REQUIRE_FALSE(names.ok());
  CHECK(names.error().code == ErrorCode::kFailedPrecondition);
  REQUIRE(f.vault.purge("C1", "a second time").ok());
  CHECK(f.raw.get("vault_keys", "C1") == tombstone);
}

TEST_CASE("vault: purging a case that never existed leaves a tombstone", "[vault]") {
  Fixture f;
  REQUIRE(f.vault.purge("C9", "opened in error").ok());
  CHECK(f.vault.purged("C9"));
  Status s = f.vault.put("C9", "summary", bytes("x"));
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code == ErrorCode::kFailedPrecondition);
}

TEST_CASE("vault: a reopened environment still decrypts, with the master key file", "[vault]") {
  TempDir tmp;
  const auto key_file = tmp / "vault-master.key";
  {
    HashKey master = HashKey::generate();
    REQUIRE(save_hash_key(master, key_file).ok());
    Env env = open_env(tmp / "db");
    CaseVault vault = open_vault(env, master);
    put_text(vault, "C1", "summary", "survives a restart");
    put_text(vault, "C2", "summary", "purged before the restart");
    REQUIRE(vault.purge("C2", "retention period ended").ok());
  }
  {
    auto master = load_hash_key(key_file);
    REQUIRE(master.ok());
    Env env = open_env(tmp / "db");
    CaseVault vault = open_vault(env, *master);
    CHECK(get_text(vault, "C1", "summary") == "survives a restart");
    CHECK(vault.purged("C2"));
    put_text(vault, "C1", "more", "added after the restart");
    CHECK(get_text(vault, "C1", "more") == "added after the restart");
  }
  {
    // Another master key is refused at open, before any read.
    Env env = open_env(tmp / "db");
    HashKey wrong = HashKey::generate();
    auto vault = CaseVault::open(env, wrong);
    REQUIRE_FALSE(vault.ok());
    CHECK(vault.error().code == ErrorCode::kFailedPrecondition);
    CHECK(vault.error().message.find("master key") != std::string::npos);
  }
}

TEST_CASE("vault: bad ids, names, sizes and reasons are refused and change nothing", "[vault]") {
  Fixture f;
  put_text(f.vault, "C1", "summary", "x");
  const auto keys_before = f.raw.all("vault_keys");
  const auto items_before = f.raw.all("vault_items");

  const std::string max_name(128, 'a');
  const std::string long_name(129, 'a');
  for (std::string bad : {std::string(), long_name, std::string("C1/x"), std::string("C 1"),
                          std::string("C|1"), std::string("Cé"), std::string("C1\n"),
                          std::string("!master-check"), std::string("a\0b", 3)}) {
    INFO("bad name '" << bad << "'");
    for (Status s : {f.vault.put(bad, "summary", bytes("x")), f.vault.put("C1", bad, bytes("x")),
                     f.vault.purge(bad, "reason")}) {
      REQUIRE_FALSE(s.ok());
      CHECK(s.error().code == ErrorCode::kInvalidArgument);
    }
    auto g1 = f.vault.get(bad, "summary");
    REQUIRE_FALSE(g1.ok());
    CHECK(g1.error().code == ErrorCode::kInvalidArgument);
    auto g2 = f.vault.get("C1", bad);
    REQUIRE_FALSE(g2.ok());
    CHECK(g2.error().code == ErrorCode::kInvalidArgument);
    auto l = f.vault.items(bad);
    REQUIRE_FALSE(l.ok());
    CHECK(l.error().code == ErrorCode::kInvalidArgument);
    CHECK_FALSE(f.vault.purged(bad));
  }

  // Plaintext limit: 16 MiB is accepted, one byte more is not.
  std::vector<uint8_t> big(CaseVaultLimits::kMaxPlaintextBytes + 1, 0x5a);
  Status s = f.vault.put("C1", "big", big);
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code == ErrorCode::kInvalidArgument);

  // Purge reasons: required, bounded, printable.
  for (std::string bad_reason : {std::string(), std::string(257, 'r'), std::string("line\nbreak"),
                                 std::string("tab\there"), std::string("naïve")}) {
    Status p = f.vault.purge("C1", bad_reason);
    REQUIRE_FALSE(p.ok());
    CHECK(p.error().code == ErrorCode::kInvalidArgument);
  }
  CHECK(f.raw.all("vault_keys") == keys_before);
  CHECK(f.raw.all("vault_items") == items_before);
  CHECK_FALSE(f.vault.purged("C1"));

  // The limits themselves are accepted.
  put_text(f.vault, max_name, max_name, "longest names");
  CHECK(get_text(f.vault, max_name, max_name) == "longest names");
  big.pop_back();
  REQUIRE(f.vault.put("C1", "big", big).ok());
  CHECK(*f.vault.get("C1", "big") == big);
  CHECK(f.vault.purge("C1", std::string(256, 'r')).ok());
}

TEST_CASE("vault: open, put and purge refuse to run inside the caller's write transaction",
          "[vault]") {
  Fixture f;
  auto txn = f.env.begin_write();
  REQUIRE(txn.ok());
  Status s = f.vault.put("C1", "summary", bytes("x"));
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code == ErrorCode::kFailedPrecondition);
  // Reads still work meanwhile.
  auto names = f.vault.items("C1");
  CHECK(names.ok());
  txn->abort();
  put_text(f.vault, "C1", "summary", "x");
}


TEST_CASE("vault: erase removes one item in the caller's transaction, and refuses bad names", "[vault]") {
  Fixture f;
  put_text(f.vault, "MASH-2024-0001", "copy.police", "signed copy");
  put_text(f.vault, "MASH-2024-0001", "request", "the request");
  {
    auto txn = f.env.begin_write();
    REQUIRE(txn.ok());
    REQUIRE(f.vault.erase(*txn, "MASH-2024-0001", "copy.police").ok());
    REQUIRE(f.vault.erase(*txn, "MASH-2024-0001", "never-there").ok());  // nothing to erase: fine
    CHECK(f.vault.erase(*txn, "MASH-2024-0001", "bad name").error().code == ErrorCode::kInvalidArgument);
    CHECK(f.vault.erase(*txn, "../etc", "copy.police").error().code == ErrorCode::kInvalidArgument);
    REQUIRE(txn->commit().ok());
  }
  CHECK(f.vault.get("MASH-2024-0001", "copy.police").error().code == ErrorCode::kNotFound);
  CHECK(get_text(f.vault, "MASH-2024-0001", "request") == "the request");
  auto read = f.env.begin_read();
  REQUIRE(read.ok());
  CHECK(f.vault.erase(*read, "MASH-2024-0001", "request").error().code == ErrorCode::kFailedPrecondition);
}

}  // namespace
}  // namespace mash
