#include "witness.h"

#include <catch2/catch.hpp>

#include "test_support.h"

using namespace mash;
using mash::testing::TempDir;

namespace {

struct Log {
  Log() : signer("hub/audit", SigningKey::generate()) {}
  void add(int n) {
    for (int i = 0; i < n; ++i) {
      std::string r = "record " + std::to_string(tree.size()) + salt;
      tree.append(merkle::leaf_hash(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(r.data()), r.size())));
    }
  }
  std::string note() const { return signer.sign({"hub/audit", tree.size(), tree.root()}); }
  NoteVerifier verifier() const { return NoteVerifier("hub/audit", signer.verify_key()); }
  NoteSigner signer;
  merkle::MemoryTree tree;
  std::string salt;
};

}  // namespace

TEST_CASE("the witness accepts the first checkpoint and then only proven extensions", "[witness]") {
  TempDir dir;
  Log log;
  log.add(5);
  auto w = Witness::open(dir / "state", log.verifier(), "hub/audit");
  REQUIRE(w.ok());
  CHECK(w->on_checkpoint(log.note()).kind == Witness::Step::Kind::kAccepted);
  CHECK(w->on_checkpoint(log.note()).kind == Witness::Step::Kind::kUnchanged);
  log.add(7);
  auto step = w->on_checkpoint(log.note());
  REQUIRE(step.kind == Witness::Step::Kind::kNeedProof);
  CHECK(step.old_size == 5);
  CHECK(step.new_size == 12);
  auto accepted = w->on_proof(5, 12, merkle::consistency_proof(log.tree, 5, 12));
  CHECK(accepted.kind == Witness::Step::Kind::kAccepted);
  CHECK(w->witnessed_size() == 12);
  // A restart remembers what was witnessed.
  auto again = Witness::open(dir / "state", log.verifier(), "hub/audit");
  REQUIRE(again.ok());
  CHECK(again->witnessed_size() == 12);
  CHECK_FALSE(again->alarmed());
  // Garbage and foreign checkpoints are refused without an alarm.
  Log other;
  other.add(3);
  CHECK(again->on_checkpoint(other.note()).kind == Witness::Step::Kind::kRefused);
  CHECK(again->on_checkpoint("nonsense").kind == Witness::Step::Kind::kRefused);
  CHECK(again->on_proof(12, 13, {}).kind == Witness::Step::Kind::kRefused);
  CHECK_FALSE(again->alarmed());
}

TEST_CASE("a rolled-back, forked or rewritten history raises an alarm that survives restarts", "[witness]") {
  TempDir dir;
  Log log;
  log.add(10);
  {
    auto w = Witness::open(dir / "state", log.verifier(), "hub/audit");
    REQUIRE(w->on_checkpoint(log.note()).kind == Witness::Step::Kind::kAccepted);
    SECTION("rollback") {
      NoteSigner& s = log.signer;
      merkle::MemoryTree older;
      for (uint64_t i = 0; i < 6; ++i) older.append(log.tree.node(0, i));
      auto step = w->on_checkpoint(s.sign({"hub/audit", 6, older.root()}));
      CHECK(step.kind == Witness::Step::Kind::kAlarm);
      CHECK(step.reason.find("shrank from 10 to 6") != std::string::npos);
    }
    SECTION("fork at the same size") {
      merkle::MemoryTree fork;
      for (uint64_t i = 0; i < 10; ++i) fork.append(i == 4 ? merkle::Hash{} : log.tree.node(0, i));
      CHECK(w->on_checkpoint(log.signer.sign({"hub/audit", 10, fork.root()})).kind == Witness::Step::Kind::kAlarm);
    }
    SECTION("a larger tree that does not extend the witnessed one") {
      merkle::MemoryTree rewritten;
      for (uint64_t i = 0; i < 10; ++i) rewritten.append(i == 2 ? merkle::Hash{} : log.tree.node(0, i));
      for (int i = 0; i < 5; ++i) rewritten.append(merkle::Hash{});
      auto step = w->on_checkpoint(log.signer.sign({"hub/audit", 15, rewritten.root()}));
      REQUIRE(step.kind == Witness::Step::Kind::kNeedProof);
      auto proof = merkle::consistency_proof(rewritten, 10, 15);
      CHECK(w->on_proof(10, 15, proof).kind == Witness::Step::Kind::kAlarm);
    }
    CHECK(w->alarmed());
  }
  auto reopened = Witness::open(dir / "state", log.verifier(), "hub/audit");
  REQUIRE(reopened.ok());
  CHECK(reopened->alarmed());
  REQUIRE(reopened->reset().ok());
  CHECK_FALSE(reopened->alarmed());
  CHECK(reopened->on_checkpoint(log.note()).kind == Witness::Step::Kind::kAccepted);
  CHECK(mash::testing::read_file(dir / "state").find("history: reset") != std::string::npos);
}
