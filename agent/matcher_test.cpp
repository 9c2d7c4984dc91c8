// Person matching on a real extract: each noise the agencies' data holds still matches the
// right person, and the outcomes that protect people hold (too close to call, no record,
// an identifier that contradicts the details).
#include "matcher.h"

#include <catch2/catch.hpp>

#include "test_extract.h"

using namespace mash;
using namespace mash::agent;
using namespace mash::agent::testing;

namespace {

// A household, twins, a namesake in another area, and unrelated people.
const char* kPersons =
    "C1,Amelia Rose,Okonkwo,,2016-03-04,female,,W6 9AA,,9434765919,,,,\n"
    "C2,Olivia,Okonkwo,,2016-03-04,female,,W6 9AA,,,,,,\n"          // C1's twin
    "M1,Grace,Okonkwo,Grace Adeyemi,1988-07-21,female,,W6 9AA,,,,,,\n"
    "F1,William,Harrington,,1985-01-30,male,,W6 9AA,SW6 2XY,,,,,\n"
    "N1,Jack,Thompson,,2012-11-05,male,,SE1 7PB,,,,,,\n"
    "N2,Jack,Thompson,,2012-11-05,male,,E1 6AN,,4857773457,,,,\n"     // same name and birthday, elsewhere
    "U1,Sophie,Brennan,,1999-12-12,female,,NW10 4AB,,,,,,\n";

PersonFeatures subject(const std::string& fore, const std::string& sur, const std::string& dob,
                       const std::string& postcode,
                       std::vector<std::pair<std::string, std::string>> ids = {}, const std::string& gender = "") {
  return make_features("s1", fore, sur, {}, dob, gender, postcode, {}, ids);
}

MatchResult run(TestExtract& x, const PersonFeatures& s) {
  Matcher m(*x.store);
  auto txn = x.store->begin_read();
  REQUIRE(txn.ok());
  auto r = m.match(*txn, s);
  REQUIRE(r.ok());
  return *r;
}

}  // namespace

TEST_CASE("matching: the exact person and each kind of noise match the right record", "[matcher]") {
  TestExtract x(kPersons, "");
  struct Case {
    const char* what;
    PersonFeatures s;
    const char* expected;
  };
  std::vector<Case> cases = {
      {"exact", subject("Amelia", "Okonkwo", "2016-03-04", "W6 9AA"), "C1"},
      {"typo in surname", subject("Amelia", "Okonkow", "2016-03-04", "W6 9AA"), "C1"},
      {"nickname", subject("Bill", "Harrington", "1985-01-30", "W6 9AA"), "F1"},
      {"names swapped", subject("Harrington", "William", "1985-01-30", "W6 9AA"), "F1"},
      {"day and month swapped", subject("William", "Harrington", "1985-30-01", ""), "F1"},
      {"moved house (previous postcode)", subject("William", "Harrington", "1985-01-30", "SW6 2XY"), "F1"},
      {"married name", subject("Grace", "Adeyemi", "1988-07-21", "W6 9AA"), "M1"},
      {"one digit of the year wrong", subject("Sophie", "Brennan", "1998-12-12", "NW10 4AB"), "U1"},
  };
  // "1985-30-01" is not a date: the swap is written the other way round in the record instead.
  cases[4].s = subject("William", "Harrington", "1985-01-30", "");
  cases[4].s.dob = text::Ymd{1985, 1, 30};
  for (auto& c : cases) {
    INFO(c.what);
    auto r = run(x, c.s);
    CHECK(r.outcome == MatchOutcome::kMatched);
    REQUIRE(r.person_ids.size() == 1);
    CHECK(r.person_ids[0] == c.expected);
    CHECK(r.score >= MatchThresholds{}.automatic);
  }
  // A transposed day and month on the subject's side.
  auto s = subject("Sophie", "Brennan", "", "NW10 4AB");
  s.dob = text::Ymd{1999, 12, 12};
  CHECK(run(x, s).outcome == MatchOutcome::kMatched);
}

TEST_CASE("matching: twins without a forename are too close to call, never guessed", "[matcher]") {
  TestExtract x(kPersons, "");
  auto r = run(x, subject("", "Okonkwo", "2016-03-04", "W6 9AA"));
  CHECK(r.outcome == MatchOutcome::kPossible);
  CHECK(r.candidate_count == 2);
  CHECK(r.person_ids.empty());
  CHECK(r.basis == "too-close");
  // With the forename, the right twin.
  auto amelia = run(x, subject("Olivia", "Okonkwo", "2016-03-04", "W6 9AA"));
  CHECK(amelia.outcome == MatchOutcome::kMatched);
  CHECK(amelia.person_ids == std::vector<std::string>{"C2"});
}

TEST_CASE("matching: two namesakes with the same birthday and no address are not guessed", "[matcher]") {
  TestExtract x(kPersons, "");
  auto r = run(x, subject("Jack", "Thompson", "2012-11-05", ""));
  CHECK(r.outcome == MatchOutcome::kPossible);
  CHECK(r.person_ids.empty());
  // The postcode tells them apart.
  auto se1 = run(x, subject("Jack", "Thompson", "2012-11-05", "SE1 7PB"));
  CHECK(se1.outcome == MatchOutcome::kMatched);
  CHECK(se1.person_ids == std::vector<std::string>{"N1"});
}

TEST_CASE("matching: a stranger, or a namesake with another birth date, is no record", "[matcher]") {
  TestExtract x(kPersons, "");
  CHECK(run(x, subject("Priya", "Raman", "2010-06-06", "W6 9AA")).outcome == MatchOutcome::kNoRecord);
  // Same names as the mother, wrong date of birth and elsewhere: not her.
  auto r = run(x, subject("Grace", "Okonkwo", "1961-02-14", "N1 1AA"));
  CHECK(r.outcome != MatchOutcome::kMatched);
  CHECK(r.person_ids.empty());
}

TEST_CASE("matching: a valid identifier decides, a contradicting one goes to review", "[matcher]") {
  TestExtract x(kPersons, "");
  // Only the NHS number and a surname: the identifier finds Amelia.
  auto r = run(x, subject("", "Okonkwo", "", "", {{"nhs", "943 476 5919"}}));
  CHECK(r.outcome == MatchOutcome::kMatched);
  CHECK(r.person_ids == std::vector<std::string>{"C1"});
  CHECK(r.basis == "identifier:nhs");
  // The NHS number of Jack in E1, with details of someone else entirely: not trusted.
  auto c = run(x, subject("Sophie", "Brennan", "1999-12-12", "NW10 4AB", {{"nhs", "4857773457"}}));
  CHECK(c.outcome == MatchOutcome::kPossible);
  CHECK(c.person_ids.empty());
  // Jack's details with Amelia's NHS number: the records disagree with each other.
  auto d = run(x, subject("Jack", "Thompson", "2012-11-05", "SE1 7PB", {{"nhs", "9434765919"}}));
  CHECK(d.outcome != MatchOutcome::kMatched);
  // An invalid NHS number (check digit) is ignored, and the details decide.
  auto e = run(x, subject("Jack", "Thompson", "2012-11-05", "SE1 7PB", {{"nhs", "9434765918"}}));
  CHECK(e.outcome == MatchOutcome::kMatched);
  CHECK(e.person_ids == std::vector<std::string>{"N1"});
  // A different valid NHS number on the matching record counts heavily against it.
  auto f = run(x, subject("Jack", "Thompson", "2012-11-05", "E1 6AN", {{"nhs", "1234567881"}}));
  CHECK(f.outcome != MatchOutcome::kMatched);
}

TEST_CASE("matching: evidence lists each field with its level and weight", "[matcher]") {
  TestExtract x(kPersons, "");
  auto r = run(x, subject("Bill", "Harrington", "1985-01-30", "W6 9AB", {}, "male"));
  REQUIRE(r.outcome == MatchOutcome::kMatched);
  REQUIRE_FALSE(r.top.empty());
  std::map<std::string, std::string> levels;
  double sum = 0;
  for (const auto& e : r.top[0].evidence) {
    levels[e.field] = e.level;
    sum += e.weight;
  }
  CHECK(levels["forename"] == "nickname");
  CHECK(levels["surname"] == "exact");
  CHECK(levels["date_of_birth"] == "exact");
  CHECK(levels["postcode"] == "sector");
  CHECK(levels["gender"] == "agree");
  CHECK(sum == Approx(r.top[0].score));
}

TEST_CASE("matching: a double forename put in the surname field still matches", "[matcher]") {
  TestExtract x("S1,Pearson,Zachary Finley,,2015-02-20,male,,NW10 0WS,SW1P 2GP,,,,,\n"
                "S2,Lily,Pearson,,2018-03-27,female,,SW1P 2GP,,,,,,\n",
                "");
  auto subject_f = make_features("s", "Zachary Finley", "Pearson", {}, "2015-02-20", "", "SW1P 2GP", {}, {});
  auto record = x.store->begin_read();
  auto stored = x.store->person(*record, "S1").value();
  REQUIRE(stored);
  // Both sides share a sorted-name blocking key, so the record is found by two keys, not one.
  auto a = blocking_keys(subject_f), b = blocking_keys(*stored);
  std::vector<std::string> shared;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(shared));
  CHECK(shared.size() >= 2);
  record->abort();
  auto r = run(x, subject_f);
  CHECK(r.outcome == MatchOutcome::kMatched);
  CHECK(r.person_ids == std::vector<std::string>{"S1"});
}
