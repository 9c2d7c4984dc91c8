#include "signed_note.h"

#include <catch2/catch.hpp>

using namespace mash;

TEST_CASE("a checkpoint note round-trips and names its signer", "[note]") {
  NoteSigner signer("hub.example/audit", SigningKey::generate());
  Checkpoint c{"hub.example/audit", 42, merkle::leaf_hash({})};
  std::string note = signer.sign(c);
  CHECK(note.rfind("hub.example/audit\n42\n", 0) == 0);
  CHECK(note.find("\n\n\xE2\x80\x94 hub.example/audit ") != std::string::npos);
  NoteVerifier verifier("hub.example/audit", signer.verify_key());
  auto back = verifier.verify(note, "hub.example/audit");
  REQUIRE(back.ok());
  CHECK(back->size == 42);
  CHECK(back->root == c.root);
}

TEST_CASE("altered, foreign and malformed notes are refused", "[note]") {
  NoteSigner signer("hub", SigningKey::generate());
  NoteVerifier verifier("hub", signer.verify_key());
  std::string note = signer.sign({"hub", 7, merkle::leaf_hash({})});

  std::string altered = note;
  altered.replace(altered.find("\n7\n"), 3, "\n8\n");
  auto r = verifier.verify(altered);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::kUnauthenticated);

  NoteSigner other("hub", SigningKey::generate());
  CHECK_FALSE(verifier.verify(other.sign({"hub", 7, merkle::leaf_hash({})})).ok());
  CHECK_FALSE(verifier.verify(note, "another-origin").ok());
  // A replaced signature (valid base64, wrong bytes).
  std::string replaced = note;
  auto pos = replaced.rfind(' ') + 10;
  replaced[pos] = replaced[pos] == 'A' ? 'B' : 'A';
  CHECK_FALSE(verifier.verify(replaced).ok());
  for (std::string bad : {std::string(""), std::string("hub\n7\n"), note.substr(0, note.size() - 1),
                          std::string("hub\n07\nAAAA\n\n") + note.substr(note.find("\xE2\x80\x94")),
                          std::string(9000, 'a')}) {
    CHECK_FALSE(verifier.verify(bad).ok());
  }
}
