// Tests for `mash-broker audit ...` (audit_cli.h), run in-process with argv arrays against a
// synthetic audit store, capturing std::cout and std::cerr: results, JSON, exit codes, and the
// refusal of bad options and bad person files without echoing the person's details.
#include "audit_cli.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "audit_event.h"
#include "audit_log.h"
#include "audit_tools.h"
#include "clock.h"
#include "crypto.h"
#include "pseudonym.h"
#include "test_support.h"

using namespace mash;
using namespace mash::broker;
using mash::testing::TempDir;
using mash::testing::write_file;

namespace {

// Redirects std::cout and std::cerr while alive.
class Capture {
 public:
  Capture() : old_out_(std::cout.rdbuf(out_.rdbuf())), old_err_(std::cerr.rdbuf(err_.rdbuf())) {}
  ~Capture() {
    std::cout.rdbuf(old_out_);
    std::cerr.rdbuf(old_err_);
  }
  std::string out() const { return out_.str(); }
  std::string err() const { return err_.str(); }

 private:
  std::ostringstream out_, err_;
  std::streambuf* old_out_;
  std::streambuf* old_err_;
};

struct Run {
  int code = -1;
  std::string out, err;
};

Run audit(std::vector<std::string> args) {
  args.insert(args.begin(), "audit");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  Run r;
  {
    Capture c;
    r.code = run_audit_command(static_cast<int>(args.size()), argv.data());
    r.out = c.out();
    r.err = c.err();
  }
  return r;
}

const char* kMary = R"({
  "forenames": "Mary Jane",
  "surname": "O'Brien",
  "date_of_birth": "2012-02-29",
  // comments are allowed
  "identifiers": {"nhs": "943 476 5919"}
})";

PersonDetails mary() {
  PersonDetails p;
  p.forenames = "Mary Jane";
  p.surname = "O'Brien";
  p.date_of_birth = "2012-02-29";
  p.identifiers = {{"nhs", "9434765919"}};
  return p;
}

PersonDetails tom() {
  PersonDetails p;
  p.forenames = "Tom";
  p.surname = "Brown";
  p.date_of_birth = "2010-05-01";
  return p;
}

int64_t at(const char* iso) { return parse_audit_time(iso, TimeBound::kFrom).value(); }

AuditEvent event(const std::string& type, const char* time, const std::string& actor,
                 const std::string& case_ref, const std::string& enquiry,
                 const std::string& agency = "") {
  AuditEvent e;
  e.type = type;
  e.time_ms = at(time);
  e.actor = actor;
  e.role = actor.rfind("agent:", 0) == 0 ? "agent" : "researcher";
  e.case_ref = case_ref;
  e.enquiry = enquiry;
  e.agency = agency;
  return e;
}

// A hub folder: a hash key, a person file for Mary, and a store where enquiry e1 (case C1) asks
// police and health about Mary, e2 (case C2) asks police about Tom, and e3 (case C3) asks
// education about both.
class Hub {
 public:
  Hub() {
    {
      auto key = HashKey::generate();
      REQUIRE(save_hash_key(key, key_path()).ok());
    }
    auto key = load_hash_key(key_path());
    REQUIRE(key.ok());
    Pseudonymizer pz(std::move(key).value());
    mary_ = pz.pseudonyms(mary());
    tom_ = pz.pseudonyms(tom());
    REQUIRE(mary_.size() == 2);
    REQUIRE(tom_.size() == 1);
    write_file(mary_path(), kMary);

    AuditLogOptions o;
    o.origin = "test.hub/audit";
    o.sync = false;
    o.map_size = size_t{1} << 26;
    auto signing = SigningKey::generate();
    REQUIRE(save_verify_key(signing.verify_key(), pub_path()).ok());
    auto log = AuditLog::open(store(), o, std::move(signing));
    REQUIRE(log.ok());
    auto add = [&](AuditEvent e) {
      auto rec = event_to_record(e);
      REQUIRE(rec.ok());
      REQUIRE((*log)->append(*rec, event_index_keys(e)).ok());
    };
    for (const char* agency : {"police", "health"}) {
      auto e = event("enquiry.created", "2026-11-02T09:01:00Z", "u1", "C1", "e1", agency);
      e.subjects = mary_;
      e.purpose = "mash-risk-assessment";
      e.legal_basis = "ca1989-s47";
      e.consent = "not-sought-risk";
      e.fields = {std::string(agency) + ".known"};
      e.extra = {{"decision", "permit"}};
      add(e);  // 0, 1
    }
    add(event("enquiry.delivered", "2026-11-02T09:02:00Z", "agent:police", "", "e1",
              "police"));  // 2
    auto answer =
        event("answer.received", "2026-11-02T09:03:00Z", "agent:police", "C1", "e1", "police");
    answer.subjects = mary_;
    answer.outcome = "matched";
    answer.fields = {"police.known", "police.warnings"};
    add(answer);  // 3
    auto e2 = event("enquiry.created", "2026-11-02T09:04:00Z", "u2", "C2", "e2", "police");
    e2.subjects = tom_;
    e2.fields = {"police.known"};
    add(e2);  // 4
    auto e3 = event("enquiry.created", "2026-11-02T09:05:00Z", "u2", "C3", "e3", "education");
    e3.subjects = {mary_[1], tom_[0]};
    e3.fields = {"education.attendance"};
    add(e3);  // 5
    auto a3 = event("answer.received", "2026-11-02T09:06:00Z", "agent:education", "C3", "e3",
                    "education");
    a3.subjects = tom_;
    a3.outcome = "matched";
    a3.fields = {"education.exclusions"};
    add(a3);                                                                  // 6
    add(event("results.viewed", "2026-11-02T09:07:00Z", "u3", "C1", "e1"));   // 7
    add(event("decision.recorded", "2026-11-02T09:08:00Z", "u3", "C1", ""));  // 8
  }
  std::string store() const { return (dir_ / "store").string(); }
  std::string key_path() const { return (dir_ / "hash.key").string(); }
  std::string pub_path() const { return (dir_ / "audit.pub").string(); }
  std::string mary_path() const { return (dir_ / "mary.json").string(); }
  std::string file(const std::string& name, const std::string& text) const {
    write_file(dir_ / name, text);
    return (dir_ / name).string();
  }
  const std::vector<std::string>& mary_pseudonyms() const { return mary_; }

 private:
  TempDir dir_;
  std::vector<std::string> mary_, tom_;
};

std::vector<uint64_t> json_indexes(const std::string& out) {
  auto j = nlohmann::json::parse(out);
  std::vector<uint64_t> v;
  for (const auto& e : j.at("events")) v.push_back(e.at("index").get<uint64_t>());
  return v;
}

using V = std::vector<uint64_t>;

// Nothing of Mary's details or pseudonyms may be printed.
void check_no_person_details(const Hub& hub, const Run& r) {
  for (const std::string& s :
       {std::string("Mary"), std::string("O'Brien"), std::string("Brien"),
        std::string("2012-02-29"), std::string("943 476 5919"), std::string("9434765919")}) {
    CHECK(r.out.find(s) == std::string::npos);
    CHECK(r.err.find(s) == std::string::npos);
  }
  for (const auto& p : hub.mary_pseudonyms()) {
    std::string hex = p.substr(p.find(':') + 1);
    CHECK(r.out.find(hex) == std::string::npos);
    CHECK(r.err.find(hex) == std::string::npos);
  }
}

}  // namespace

TEST_CASE("audit --help and bad usage exit 0 and 2", "[dpo]") {
  auto help = audit({"--help"});
  CHECK(help.code == 0);
  CHECK(help.out.find("usage: mash-broker audit") != std::string::npos);
  CHECK(audit({"sar", "--help"}).code == 0);
  auto none = audit({});
  CHECK(none.code == 2);
  CHECK(none.err.find("usage:") != std::string::npos);

  auto unknown = audit({"frobnicate"});
  CHECK(unknown.code == 2);
  CHECK(unknown.err.find("unknown command 'frobnicate'") != std::string::npos);
  auto option = audit({"search", "--store", "/nonexistent", "--colour", "red"});
  CHECK(option.code == 2);
  CHECK(option.err.find("unknown option '--colour'") != std::string::npos);
  auto no_store = audit({"search", "--case", "C1"});
  CHECK(no_store.code == 2);
  CHECK(no_store.err.find("needs --store") != std::string::npos);
  CHECK(audit({"timeline", "--store", "/nonexistent"}).err.find("needs --case") !=
        std::string::npos);
  auto no_value = audit({"search", "--store"});
  CHECK(no_value.code == 2);
  CHECK(no_value.err.find("--store needs a value") != std::string::npos);
  CHECK(audit({"search", "--store", "--json"}).code == 2);
  auto twice = audit({"search", "--store", "a", "--store", "b"});
  CHECK(twice.code == 2);
  CHECK(twice.err.find("given twice") != std::string::npos);
  auto bad_time =
      audit({"stats", "--store", "/nonexistent", "--from", "yesterday", "--to", "2026-11-02"});
  CHECK(bad_time.code == 2);
  CHECK(bad_time.err.find("--from") != std::string::npos);
  CHECK(audit({"stats", "--store", "/nonexistent", "--from", "2026-11-01"}).code == 2);
  auto half = audit({"search", "--store", "/nonexistent", "--person-file", "p.json"});
  CHECK(half.code == 2);
  CHECK(half.err.find("go together") != std::string::npos);
}

TEST_CASE("audit search prints a table or JSON, nothing found is not an error", "[dpo]") {
  Hub hub;
  auto table = audit({"search", "--store", hub.store(), "--case", "C1"});
  INFO(table.err);
  REQUIRE(table.code == 0);
  CHECK(table.out.find("INDEX") != std::string::npos);
  CHECK(table.out.find("enquiry.created") != std::string::npos);
  CHECK(table.out.find("decision.recorded") != std::string::npos);
  CHECK(table.out.find("5 events.") != std::string::npos);

  auto json = audit({"search", "--store", hub.store(), "--case", "C1", "--json"});
  REQUIRE(json.code == 0);
  CHECK(json_indexes(json.out) == V{0, 1, 3, 7, 8});
  auto j = nlohmann::json::parse(json.out);
  CHECK(j.at("count") == 5);
  CHECK(j.at("truncated") == false);
  CHECK(j.at("events")[0].at("subject_count") == 2);
  CHECK(j.at("events")[0].count("subjects") == 0);

  auto combined =
      audit({"search", "--store", hub.store(), "--user", "u2", "--agency", "police", "--type",
             "enquiry.created", "--from", "2026-11-02T09:04:00Z", "--to", "2026-11-02", "--json"});
  REQUIRE(combined.code == 0);
  CHECK(json_indexes(combined.out) == V{4});

  auto nothing = audit({"search", "--store", hub.store(), "--case", "NOPE"});
  CHECK(nothing.code == 0);
  CHECK(nothing.out.find("No events found") != std::string::npos);

  auto timeline = audit({"timeline", "--store", hub.store(), "--case", "C1", "--json"});
  REQUIRE(timeline.code == 0);
  CHECK(json_indexes(timeline.out) == V{0, 1, 2, 3, 7, 8});
}

TEST_CASE("audit search by person file finds only that person and prints none of their details",
          "[dpo]") {
  Hub hub;
  auto r = audit({"search", "--store", hub.store(), "--person-file", hub.mary_path(), "--hash-key",
                  hub.key_path(), "--json"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(json_indexes(r.out) == V{0, 1, 3, 5});  // not Tom's 4 and 6
  check_no_person_details(hub, r);
  auto table = audit({"search", "--store", hub.store(), "--person-file", hub.mary_path(),
                      "--hash-key", hub.key_path(), "--agency", "education"});
  REQUIRE(table.code == 0);
  CHECK(table.out.find("1 event.") != std::string::npos);
  check_no_person_details(hub, table);

  // By NHS number alone, and by a different spelling of the same details.
  auto nhs = hub.file("nhs.json", R"({"identifiers": {"NHS": ["9434765919"]}})");
  auto by_nhs = audit({"search", "--store", hub.store(), "--person-file", nhs, "--hash-key",
                       hub.key_path(), "--json"});
  REQUIRE(by_nhs.code == 0);
  CHECK(json_indexes(by_nhs.out) == V{0, 1, 3, 5});
  auto name = hub.file(
      "name.json", R"({"forenames": "MARY", "surname": "obrien", "date_of_birth": "2012-02-29"})");
  auto by_name = audit({"search", "--store", hub.store(), "--person-file", name, "--hash-key",
                        hub.key_path(), "--json"});
  REQUIRE(by_name.code == 0);
  CHECK(json_indexes(by_name.out) == V{0, 1, 3});
}

TEST_CASE("audit refuses unreadable and malformed person and key files", "[dpo]") {
  Hub hub;
  auto with_person = [&](const std::string& person, const std::string& key) {
    return audit({"search", "--store", hub.store(), "--person-file", person, "--hash-key", key});
  };
  auto missing = with_person(hub.file("x", "") + ".missing", hub.key_path());
  CHECK(missing.code == 3);
  CHECK(missing.err.find("x.missing") != std::string::npos);
  auto no_key = with_person(hub.mary_path(), hub.key_path() + ".missing");
  CHECK(no_key.code == 3);
  CHECK(no_key.err.find("hash.key.missing") != std::string::npos);
  auto open_key = hub.file("open.key", testing::read_file(hub.key_path()));
  std::filesystem::permissions(open_key, std::filesystem::perms(0644));
  auto loose = with_person(hub.mary_path(), open_key);
  CHECK(loose.code == 3);
  CHECK(loose.err.find("open.key") != std::string::npos);

  struct Bad {
    const char* text;
    const char* message;
  };
  for (const Bad& b : {
           Bad{R"({"surname": "Secretname", "forenames": )", "not valid JSON"},
           Bad{R"(["Secretname"])", "one JSON object"},
           Bad{R"({"surname": 42})", "surname must be a string"},
           Bad{R"({"surnmae": "Secretname"})", "unexpected key"},
           Bad{R"({"identifiers": {"passport": "Secretname"}})", "unknown scheme"},
           Bad{R"({"identifiers": {"nhs": 9434765919}})", "nhs must be a string"},
           Bad{R"({"identifiers": {"nhs": "9434765918"}})", "identifier nhs #1 is not usable"},
           Bad{R"({"forenames": "Secretname", "surname": "Smith", "date_of_birth": "2012-02-30"})",
               "date_of_birth"},
           Bad{R"({"forenames": "Secretname"})", "no usable identity"},
           Bad{R"({})", "no usable identity"},
           Bad{R"({"forenames": "Алла", "surname": "Петрова", "date_of_birth": "2012-02-29"})",
               "no usable identity"},
       }) {
    INFO(b.text);
    auto path = hub.file("bad.json", b.text);
    auto r = with_person(path, hub.key_path());
    CHECK(r.code == 2);
    CHECK(r.err.find(path) != std::string::npos);
    CHECK(r.err.find(b.message) != std::string::npos);
    CHECK(r.err.find("Secretname") == std::string::npos);
    CHECK(r.out.empty());
  }
  auto partial = hub.file("partial.json",
                          R"({"forenames": "Secretname", "identifiers": {"nhs": "9434765919"}})");
  auto warned = with_person(partial, hub.key_path());
  CHECK(warned.code == 0);
  CHECK(warned.err.find("warning") != std::string::npos);
  CHECK(warned.err.find("Secretname") == std::string::npos);
}

TEST_CASE("audit reports a missing store as unreadable and a damaged one as a store problem",
          "[dpo]") {
  TempDir dir;
  auto missing = audit({"search", "--store", (dir / "nowhere").string()});
  CHECK(missing.code == 3);
  CHECK(missing.err.find((dir / "nowhere").string()) != std::string::npos);

  {
    AuditLogOptions o;
    o.sync = false;
    o.map_size = size_t{1} << 26;
    auto log = AuditLog::open(dir / "store", o, SigningKey::generate());
    REQUIRE(log.ok());
    REQUIRE((*log)->append("{\"type\":\"test\"}", {{"type", "test"}}).ok());
  }
  auto damaged = audit({"search", "--store", (dir / "store").string(), "--type", "test"});
  CHECK(damaged.code == 1);
  CHECK(damaged.err.find("audit record 0") != std::string::npos);
}

TEST_CASE("audit sar lists requests, the fields released to whom, and who viewed the results",
          "[dpo]") {
  Hub hub;
  auto r = audit({"sar", "--store", hub.store(), "--person-file", hub.mary_path(), "--hash-key",
                  hub.key_path()});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(r.out.find("Subject access report") != std::string::npos);
  CHECK(r.out.find("police.known,police.warnings") != std::string::npos);
  CHECK(r.out.find("no answer") != std::string::npos);  // health, and education about Mary
  CHECK(r.out.find("education.exclusions") == std::string::npos);  // Tom's answer
  CHECK(r.out.find("Results viewed or exported") != std::string::npos);
  check_no_person_details(hub, r);

  auto json = audit({"sar", "--store", hub.store(), "--person-file", hub.mary_path(), "--hash-key",
                     hub.key_path(), "--json"});
  REQUIRE(json.code == 0);
  check_no_person_details(hub, json);
  auto j = nlohmann::json::parse(json.out);
  REQUIRE(j.at("accesses").size() == 3);
  const auto& police = j.at("accesses")[0];
  CHECK(police.at("agency") == "police");
  CHECK(police.at("actor") == "u1");
  CHECK(police.at("legal_basis") == "ca1989-s47");
  CHECK(police.at("fields_requested") == nlohmann::json{"police.known"});
  CHECK(police.at("delivered") == "2026-11-02T09:02:00.000Z");
  REQUIRE(police.at("answers").size() == 1);
  CHECK(police.at("answers")[0].at("fields_released") ==
        nlohmann::json{"police.known", "police.warnings"});
  CHECK(j.at("accesses")[1].at("agency") == "health");
  CHECK(j.at("accesses")[2].at("agency") == "education");
  CHECK(j.at("accesses")[2].at("answers").empty());
  REQUIRE(j.at("views").size() == 1);
  CHECK(j.at("views")[0].at("actor") == "u3");

  auto nobody = hub.file("nobody.json", R"({"identifiers": {"upn": "A123456789012"}})");
  auto none =
      audit({"sar", "--store", hub.store(), "--person-file", nobody, "--hash-key", hub.key_path()});
  CHECK(none.code == 0);
  CHECK(none.out.find("No access to this person's data") != std::string::npos);
  CHECK(audit({"sar", "--store", hub.store(), "--hash-key", hub.key_path()}).code == 2);
}

TEST_CASE("audit stats and flags", "[dpo]") {
  Hub hub;
  auto stats = audit(
      {"stats", "--store", hub.store(), "--from", "2026-11-02", "--to", "2026-11-02", "--json"});
  INFO(stats.err);
  REQUIRE(stats.code == 0);
  auto s = nlohmann::json::parse(stats.out);
  CHECK(s.at("events") == 9);
  CHECK(s.at("by_user").at("u2").at("enquiry.created") == 2);
  CHECK(s.at("by_agency").at("police").at("enquiry.created") == 2);
  CHECK(s.at("by_type").at("answer.received") == 2);
  auto table =
      audit({"stats", "--store", hub.store(), "--from", "2026-11-02", "--to", "2026-11-02"});
  REQUIRE(table.code == 0);
  CHECK(table.out.find("By agency:") != std::string::npos);
  CHECK(table.out.find(": 9\n") != std::string::npos);

  // C1 has a decision; C2 and C3 have none a week on.
  auto flags = audit(
      {"flags", "--store", hub.store(), "--from", "2026-11-01", "--to", "2026-11-30", "--json"});
  REQUIRE(flags.code == 0);
  auto f = nlohmann::json::parse(flags.out);
  REQUIRE(f.at("flags").size() == 2);
  CHECK(f.at("flags")[0].at("code") == "no-decision");
  CHECK(f.at("flags")[0].at("case") == "C2");
  CHECK(f.at("flags")[0].at("evidence") == nlohmann::json{4});
  CHECK(f.at("flags")[1].at("case") == "C3");
  auto early =
      audit({"flags", "--store", hub.store(), "--from", "2026-11-01", "--to", "2026-11-05"});
  REQUIRE(early.code == 0);
  CHECK(early.out.find("No unusual patterns found") != std::string::npos);
  auto flag_table =
      audit({"flags", "--store", hub.store(), "--from", "2026-11-01", "--to", "2026-11-30"});
  REQUIRE(flag_table.code == 0);
  CHECK(flag_table.out.find("case C2 enquiry e2") != std::string::npos);
  CHECK(flag_table.out.find("2 flags.") != std::string::npos);
}

TEST_CASE("with --pubkey the store is verified first, a tampered store reports nothing", "[dpo]") {
  Hub hub;
  auto ok = audit({"search", "--store", hub.store(), "--case", "C1", "--pubkey", hub.pub_path()});
  REQUIRE(ok.code == 0);
  CHECK(ok.err.find("integrity check passed") != std::string::npos);
  CHECK(ok.out.find("5 events.") != std::string::npos);
  {
    EnvOptions o;
    o.map_size = size_t{1} << 26;
    o.max_dbs = 8;
    auto env = Env::open(hub.store(), o);
    REQUIRE(env.ok());
    auto txn = env->begin_write();
    auto leaves = txn->open_db("leaves", false);
    std::string rec(**txn->get(*leaves, be64(3)));
    rec[rec.size() / 2] ^= 1;
    REQUIRE(txn->put(*leaves, be64(3), rec).ok());
    REQUIRE(txn->commit().ok());
  }
  auto bad = audit({"search", "--store", hub.store(), "--case", "C1", "--pubkey", hub.pub_path()});
  CHECK(bad.code == 1);
  CHECK(bad.err.find("integrity check FAILED") != std::string::npos);
  CHECK(bad.err.find("record 3 does not match") != std::string::npos);
  CHECK(bad.out.empty());
  auto missing_key = audit({"stats", "--store", hub.store(), "--from", "2026-11-01", "--to", "2026-11-30",
                            "--pubkey", hub.store() + "/nope.pub"});
  CHECK(missing_key.code == 3);
}
