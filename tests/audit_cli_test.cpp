// The audit log across processes: a writer killed with SIGKILL mid-append, and mash-audit's
// verify / export / verify-export on real stores.
#include <catch2/catch.hpp>
#include <signal.h>

#include <fstream>
#include <map>
#include <sstream>

#include "audit_log.h"
#include "crypto.h"
#include "process.h"
#include "test_support.h"

using namespace mash;
using namespace mash::testing;
using namespace std::chrono_literals;

namespace {

const char* kSeedHex = "0101010101010101010101010101010101010101010101010101010101010101";

std::array<uint8_t, 32> seed() {
  std::array<uint8_t, 32> s{};
  s.fill(1);
  return s;
}

std::string bin(const std::string& name) { return std::string(MASH_BIN_DIR) + "/" + name; }

// A store with n records written by an AuditLog in this process, and its public key file.
void make_store(const TempDir& dir, int n) {
  AuditLogOptions o;
  o.origin = "cli.test/audit";
  o.map_size = size_t{1} << 30;
  auto log = AuditLog::open(dir / "store", o, SigningKey::from_seed(seed()));
  REQUIRE(log.ok());
  for (int i = 0; i < n; ++i) REQUIRE((*log)->append("{\"n\":" + std::to_string(i) + "}").ok());
  REQUIRE((*log)->checkpoint_now().ok());
  REQUIRE(save_verify_key(SigningKey::from_seed(seed()).verify_key(), dir / "audit.pub").ok());
}

}  // namespace

TEST_CASE("a writer killed with SIGKILL mid-append leaves a store that verifies, with every acknowledged record",
          "[audit][crash]") {
  TempDir dir;
  auto writer = std::make_unique<Process>(
      std::vector<std::string>{bin("audit-crash-writer"), (dir / "store").string(), kSeedHex}, dir / "acks.txt");
  REQUIRE(writer->wait_for_log("ack ", 10000ms, 2000));
  writer->signal(SIGKILL);
  writer->wait(5000ms);

  std::map<uint64_t, std::string> acked;
  std::istringstream acks(read_file(dir / "acks.txt"));
  std::string word, hash;
  uint64_t index;
  while (acks >> word >> index >> hash) {
    if (word == "ack" && hash.size() == 64) acked[index] = hash;
  }
  REQUIRE(acked.size() >= 2000);

  auto reader = AuditReader::open(dir / "store");
  REQUIRE(reader.ok());
  CHECK(reader->size() > acked.rbegin()->first);
  size_t present = 0;
  for (const auto& [i, h] : acked) {
    auto rec = reader->record(i);
    INFO("record " << i << ": " << (rec.ok() ? "" : rec.error().message));
    REQUIRE(rec.ok());
    present += to_hex(sha256(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(rec->data()), rec->size()))) == h;
  }
  CHECK(present == acked.size());

  REQUIRE(save_verify_key(SigningKey::from_seed(seed()).verify_key(), dir / "audit.pub").ok());
  std::string out;
  INFO(out);
  CHECK(run(bin("mash-audit") + " verify --store " + shell_quote((dir / "store").string()) + " --pubkey " +
                shell_quote((dir / "audit.pub").string()),
            &out) == 0);
  CHECK(out.find("verified") != std::string::npos);

  // The log reopens and continues after the crash.
  AuditLogOptions o;
  o.origin = "crash.test/audit";
  o.map_size = size_t{1} << 30;
  auto log = AuditLog::open(dir / "store", o, SigningKey::from_seed(seed()));
  REQUIRE(log.ok());
  auto next = (*log)->append("{\"after\":\"crash\"}");
  REQUIRE(next.ok());
  CHECK(*next == reader->size());
}

TEST_CASE("mash-audit verify reports a tampered record by index and exits 1", "[audit][cli]") {
  TempDir dir;
  make_store(dir, 30);
  std::string out;
  std::string verify = bin("mash-audit") + " verify --store " + shell_quote((dir / "store").string()) +
                       " --pubkey " + shell_quote((dir / "audit.pub").string());
  REQUIRE(run(verify, &out) == 0);
  CHECK(out.find("30 records, ") != std::string::npos);
  {
    EnvOptions o;
    o.map_size = size_t{1} << 30;
    o.max_dbs = 8;
    auto env = Env::open(dir / "store", o);
    REQUIRE(env.ok());
    auto txn = env->begin_write();
    auto leaves = txn->open_db("leaves", false);
    REQUIRE(txn->put(*leaves, be64(12), "{\"n\":99}").ok());
    REQUIRE(txn->commit().ok());
  }
  CHECK(run(verify, &out) == 1);
  CHECK(out.find("PROBLEM: record 12 does not match its leaf hash") != std::string::npos);
  CHECK(out.find("NOT VERIFIED") != std::string::npos);
  // The wrong public key: every checkpoint is refused.
  REQUIRE(save_verify_key(SigningKey::generate().verify_key(), dir / "other.pub").ok());
  CHECK(run(bin("mash-audit") + " verify --store " + shell_quote((dir / "store").string()) + " --pubkey " +
                shell_quote((dir / "other.pub").string()),
            &out) == 1);
  CHECK(run(bin("mash-audit") + " verify --store /nonexistent --pubkey " + shell_quote((dir / "audit.pub").string()), &out) == 3);
  CHECK(run(bin("mash-audit") + " verify --store", &out) == 2);
}

TEST_CASE("an export carries proofs, a changed exported record is found by index", "[audit][cli]") {
  TempDir dir;
  make_store(dir, 25);
  std::string out;
  std::string exported = (dir / "export.jsonl").string();
  int rc = run(bin("mash-audit") + " export --store " + shell_quote((dir / "store").string()) + " --out " +
                   shell_quote(exported) + " --from 5 --to 14",
               &out);
  INFO(out);
  REQUIRE(rc == 0);
  std::string check = bin("mash-audit") + " verify-export --in " + shell_quote(exported) + " --pubkey " +
                      shell_quote((dir / "audit.pub").string());
  REQUIRE(run(check, &out) == 0);
  CHECK(out.find("10 records: verified") != std::string::npos);

  std::string text = read_file(exported);
  std::string original = "\"record\":\"" + to_base64(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>("{\"n\":9}"), 7)) + "\"";
  std::string forged = "\"record\":\"" + to_base64(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>("{\"n\":8}"), 7)) + "\"";
  REQUIRE(text.find(original) != std::string::npos);
  text.replace(text.find(original), original.size(), forged);
  write_file(exported, text);
  CHECK(run(check, &out) == 1);
  CHECK(out.find("PROBLEM: record 9 is not in the signed tree") != std::string::npos);
  CHECK(run(bin("mash-audit") + " export --store " + shell_quote((dir / "store").string()) + " --out " +
                shell_quote(exported) + " --from 20 --to 40",
            &out) == 2);
}
