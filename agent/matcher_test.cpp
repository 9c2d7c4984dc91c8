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

// A subject's names, date of birth and postcode; the callers add the rest.
PersonDetails details(const std::string& fore, const std::string& sur, const std::string& dob,
                      const std::string& postcode) {
  PersonDetails d;
  d.forenames = fore;
  d.surname = sur;
  d.date_of_birth = dob;
  d.postcode = postcode;
  return d;
}

PersonFeatures subject(const std::string& fore, const std::string& sur, const std::string& dob,
                       const std::string& postcode,
                       std::vector<std::pair<std::string, std::string>> ids = {}, const std::string& gender = "") {
  PersonDetails d = details(fore, sur, dob, postcode);
  d.gender = gender;
  d.identifiers = std::move(ids);
  return make_features("s1", d);
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
  auto subject_f = subject("Zachary Finley", "Pearson", "2015-02-20", "SW1P 2GP");
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

namespace {

// Persons with addresses (and a UPRN, and postcodes that are not UK ones) in the columns that
// the header of test_extract.h does not have.
TestExtract address_extract() {
  return TestExtract(TestExtract::WholeFile{
      "person_id,forenames,surname,date_of_birth,address,previous_addresses,postcode,uprn\n"
      "A1,Keira,Lindqvist,1990-06-01,\"Flat 2, 14 Acacia Rd, Hammersmith\",,W6 9AA,100023336956\n"
      "A2,Tomasz,Lindqvist,1990-06-01,\"Flat 2, 14 Acacia Rd, Hammersmith\",,W6 9AA,100023336956\n"  // twin
      "A3,Wayne,Drummond,1962-03-09,\"7 Mill Lane, Fulham\",,SW6 2XY,\n"
      "B1,Mitchell,Greenhalgh,1956-04-09,\"delmar, 7 wallaby place, cleveland\",,2119,\n"
      "B2,Harley,Mcconachie,1908-04-19,\"177 pridham street, milton\",\"3 Old Road, Putney\",3165,\n"});
}

PersonFeatures with_address(const std::string& fore, const std::string& sur, const std::string& dob,
                            const std::string& address, const std::string& postcode, const std::string& uprn = "") {
  PersonDetails d = details(fore, sur, dob, postcode);
  d.address = address;
  d.uprn = uprn;
  return make_features("s1", d);
}

std::string level_of(const MatchResult& r, const std::string& field) {
  if (r.top.empty()) return "";
  for (const auto& e : r.top[0].evidence) {
    if (e.field == field) return e.level;
  }
  return "";
}

}  // namespace

TEST_CASE("matching: addresses, postcodes that are not UK ones and UPRNs are evidence", "[matcher]") {
  TestExtract x = address_extract();
  // A wrongly typed date of birth, a surname typo and a postcode that is not a UK one: the
  // address (a missing space, the street type spelt out) and the postcode find the person.
  auto r = run(x, with_address("Mitchell", "Greenhalg", "1965-04-09", "Delmar, 7 Wallaby Pl, Cleveland", "2119"));
  REQUIRE_FALSE(r.top.empty());
  CHECK(r.top[0].person_id == "B1");
  CHECK(level_of(r, "address") == "exact");
  CHECK(level_of(r, "building") == "exact");
  CHECK(level_of(r, "postcode") == "exact-other");
  auto m = run(x, with_address("Harley", "Mcconachie", "1908-04-19", "177 Pridhamstreet, Milton", "3165"));
  CHECK(m.outcome == MatchOutcome::kMatched);
  CHECK(level_of(m, "address") == "exact");
  // Another postcode that is not a UK one counts against, weakly.
  auto other = run(x, with_address("Harley", "Mcconachie", "1908-04-19", "", "3166"));
  CHECK(level_of(other, "postcode") == "different");
  // A previous address.
  auto prev = run(x, with_address("Harley", "Mcconachie", "1908-04-19", "3 Old Rd, Putney", ""));
  CHECK(level_of(prev, "address") == "previous");
  // The same UPRN is the same property.
  auto u = run(x, with_address("Keira", "Lindqvist", "1990-06-01", "", "", "100023336956"));
  CHECK(level_of(u, "address") == "uprn");
  CHECK(u.person_ids == std::vector<std::string>{"A1"});
}

TEST_CASE("matching: a shared home does not make a sibling or a parent the person asked about", "[matcher]") {
  TestExtract x = address_extract();
  // A twin the agency does not hold: same surname, birthday, flat and UPRN as A1 and A2, another
  // forename. Living there counts for nothing when the forename differs.
  auto twin = run(x, with_address("Freya", "Lindqvist", "1990-06-01", "Flat 2, 14 Acacia Road, Hammersmith", "W6 9AA",
                                  "100023336956"));
  CHECK(twin.outcome != MatchOutcome::kMatched);
  REQUIRE_FALSE(twin.top.empty());
  CHECK(level_of(twin, "address") == "household");
  // The son of the same name at his father's address, another date of birth: not the father.
  auto son = run(x, with_address("Wayne", "Drummond", "1989-11-10", "7 Mill Lane, Fulham", "SW6 2XY"));
  CHECK(son.outcome != MatchOutcome::kMatched);
  // With no date of birth, name and address alone stay below the automatic threshold.
  auto no_dob = run(x, with_address("Wayne", "Drummond", "", "7 Mill Lane, Fulham", "SW6 2XY"));
  CHECK(no_dob.outcome != MatchOutcome::kMatched);
  // With it, the father matches.
  auto father = run(x, with_address("Wayne", "Drummond", "1962-03-09", "7 Mill Lane, Fulham", "SW6 2XY"));
  CHECK(father.person_ids == std::vector<std::string>{"A3"});
}

TEST_CASE("blocking: keys without the birth year find a record whose date was mistyped", "[matcher]") {
  auto f = with_address("Mitchell", "Greenhalgh", "1956-04-09", "delmar, 7 wallaby place, cleveland", "2119", "12");
  auto keys = blocking_keys(f);
  auto has = [&](const std::string& k) { return std::find(keys.begin(), keys.end(), k) != keys.end(); };
  CHECK(has("i|G654|m"));              // phonetic surname + forename initial
  CHECK(has("a|7|wallabyplace"));      // number + street
  CHECK(has("l|7|cleveland"));         // number + locality
  CHECK(has("h|7|2119"));              // number + postcode
  CHECK(has("u|12"));
}

TEST_CASE("matching: an identifier of the agency's own scheme is strong evidence, never a decision", "[matcher]") {
  TestExtract x(TestExtract::WholeFile{
      "person_id,forenames,surname,date_of_birth,postcode,identifiers\n"
      "L1,Jordan,Whitfield,2009-05-17,SE1 7PB,case:C-1001\n"
      "L2,Priya,Raman,1979-02-11,E1 6AN,case:C-2002\n",
      {"case"}});
  auto with_case = [](const std::string& fore, const std::string& sur, const std::string& dob, const std::string& id) {
    PersonDetails d;
    d.forenames = fore;
    d.surname = sur;
    d.date_of_birth = dob;
    d.identifiers = {{"case", id}};
    return make_features("s1", d);
  };
  // A mistyped surname and date of birth: the case id finds the record and lifts it over the
  // automatic threshold.
  auto r = run(x, with_case("Jordan", "Whitfeld", "2009-05-71", "c-1001"));
  CHECK(r.person_ids == std::vector<std::string>{"L1"});
  CHECK(r.basis == "score");
  CHECK(level_of(r, "identifier") == "exact:case");
  // The case id alone, with details of someone else, is not enough: no decision by identifier.
  auto alone = run(x, with_case("Mary", "Smith", "1990-01-01", "C-1001"));
  CHECK(alone.outcome != MatchOutcome::kMatched);
  // A different case id counts against.
  auto differ = run(x, with_case("Priya", "Raman", "1979-02-11", "C-9999"));
  CHECK(level_of(differ, "identifier") == "different:case");
  // Given twice, it still counts once.
  PersonDetails d;
  d.forenames = "Jordan";
  d.surname = "Whitfield";
  d.identifiers = {{"case", "C-1001"}, {"case", "c-1001"}};
  auto once = run(x, make_features("s1", d));
  REQUIRE_FALSE(once.top.empty());
  size_t identifier_entries = 0;
  for (const auto& e : once.top[0].evidence) identifier_entries += e.field == "identifier" ? 1 : 0;
  CHECK(identifier_entries == 1);
}

TEST_CASE("matching: a sibling sharing a mistyped case id, at the same home, is not the person", "[matcher]") {
  TestExtract x(TestExtract::WholeFile{
      "person_id,forenames,surname,date_of_birth,address,postcode,identifiers\n"
      "K1,Maya,Osei,2012-04-02,\"9 Rope Walk, Deptford\",SE8 3AB,case:C-7\n",
      {"case"}});
  PersonDetails d;
  d.forenames = "Kwame";  // the brother, another forename and birthday, the same home and (by a typo) case id
  d.surname = "Osei";
  d.date_of_birth = "2009-10-30";
  d.address = "9 Rope Walk, Deptford";
  d.postcode = "SE8 3AB";
  d.identifiers = {{"case", "C-7"}};
  auto subject_f = make_features("s1", d);
  auto r = run(x, subject_f);
  CHECK(r.outcome != MatchOutcome::kMatched);
  // The pair's evidence: the case id agrees, but the home counts for nothing.
  Matcher m(*x.store);
  auto txn = x.store->begin_read();
  REQUIRE(txn.ok());
  auto k1 = x.store->person(*txn, "K1");
  REQUIRE(k1.ok());
  REQUIRE(*k1);
  std::vector<Evidence> ev;
  double score = m.score(subject_f, **k1, 0, 0, 0, &ev);
  CHECK(score < m.thresholds().automatic);
  bool household = false, agrees = false;
  for (const auto& e : ev) {
    household = household || (e.field == "address" && e.level == "household");
    agrees = agrees || (e.field == "identifier" && e.level == "exact:case");
  }
  CHECK(household);
  CHECK(agrees);
}
