// The answer journal on a real agent store and disclosure log in a temporary directory: an
// entry interrupted at each step is finished exactly once, and a damaged entry is reported.
#include "answer_journal.h"

#include <catch2/catch.hpp>

#include "crypto.h"
#include "test_support.h"

using namespace mash;
using namespace mash::agent;

namespace {

struct Store {
  testing::TempDir dir;
  std::unique_ptr<AgentState> state;
  std::unique_ptr<AuditLog> log;
  Store() {
    auto s = AgentState::open(dir.path() / "state");
    REQUIRE(s.ok());
    state = std::move(s).value();
    AuditLogOptions o;
    o.origin = "mash-agent/test";
    auto l = AuditLog::open(dir.path() / "disclosure", o, SigningKey::generate());
    REQUIRE(l.ok());
    log = std::move(l).value();
  }
  JournalEntry entry(const std::string& id, const std::string& digest) {
    AuditEvent e;
    e.type = "answer.sent";
    e.time_ms = 1'700'000'000'000;
    e.actor = "hub";
    e.role = "agent";
    e.agency = "police";
    e.enquiry = id;
    e.outcome = "answered";
    e.digest = digest;
    AuditEvent s = e;
    s.type = "answer.sent.subject";
    s.extra["ref"] = "s1";
    auto records = AnswerJournal::records_of({e, s});
    REQUIRE(records.ok());
    JournalEntry j;
    j.id_hex = id;
    j.records = std::move(records).value();
    j.to_outbox = true;
    return j;
  }
  void write(const JournalEntry& e) {
    AnswerJournal journal(*state, *log);
    auto txn = state->env().begin_write();
    REQUIRE(txn.ok());
    REQUIRE(journal.write(*txn, e).ok());
    REQUIRE(txn->commit().ok());
  }
  void complete(const JournalEntry& e) {
    AnswerJournal journal(*state, *log);
    auto txn = state->env().begin_write();
    REQUIRE(txn.ok());
    REQUIRE(journal.complete(*txn, e).ok());
    REQUIRE(txn->commit().ok());
  }
  size_t records_for(const std::string& id) {
    auto found = log->find("enquiry", id);
    REQUIRE(found.ok());
    return found->size();
  }
  bool in_outbox(const std::string& id) {
    auto txn = state->env().begin_read();
    REQUIRE(txn.ok());
    auto v = txn->get(state->outbox(), id);
    REQUIRE(v.ok());
    return v->has_value();
  }
};

const std::string kA(32, 'a'), kB(32, 'b');

}  // namespace

TEST_CASE("answer journal: an entry cut off before or after its records is finished once", "[journal]") {
  Store store;
  AnswerJournal journal(*store.state, *store.log);
  // A: stopped after step 1 (nothing on the log). B: stopped after step 2 (records on the log).
  store.write(store.entry(kA, "d1"));
  auto b = store.entry(kB, "d2");
  store.write(b);
  REQUIRE(journal.record({b}).ok());
  CHECK(store.records_for(kB) == 2);
  CHECK_FALSE(store.in_outbox(kA));

  auto unfinished = journal.unfinished(10);
  REQUIRE(unfinished.ok());
  REQUIRE(unfinished->size() == 2);
  for (const auto& e : *unfinished) CHECK(e.recovered);
  // Finishing: A's records are appended, B's are not appended again.
  REQUIRE(journal.record(*unfinished).ok());
  CHECK(store.records_for(kA) == 2);
  CHECK(store.records_for(kB) == 2);
  for (const auto& e : *unfinished) store.complete(e);
  CHECK(store.in_outbox(kA));
  CHECK(store.in_outbox(kB));
  unfinished = journal.unfinished(10);
  REQUIRE(unfinished.ok());
  CHECK(unfinished->empty());
  // Finishing again changes nothing.
  auto txn = store.state->env().begin_read();
  REQUIRE(txn.ok());
  auto found = journal.find(*txn, kA);
  REQUIRE(found.ok());
  CHECK_FALSE(*found);
}

TEST_CASE("answer journal: a damaged entry is reported, not taken as finished", "[journal]") {
  Store store;
  {
    auto txn = store.state->env().begin_write();
    REQUIRE(txn.ok());
    REQUIRE(txn->put(store.state->journal(), kA, "{\"records\": 7}").ok());
    REQUIRE(txn->commit().ok());
  }
  AnswerJournal journal(*store.state, *store.log);
  auto unfinished = journal.unfinished(10);
  REQUIRE_FALSE(unfinished.ok());
  CHECK(unfinished.error().message.find("journal entry " + kA + " damaged") != std::string::npos);
  auto txn = store.state->env().begin_read();
  REQUIRE(txn.ok());
  CHECK_FALSE(journal.find(*txn, kA).ok());
  CHECK_FALSE(JournalEntry::decode(kA, "not json").ok());
}
