// Importing an agency's extract: good rows in, bad rows reported with file and line, nothing
// changed by a refused import or a dry run, and the replacement is atomic for readers.
#include "extract.h"

#include <catch2/catch.hpp>

#include "test_extract.h"

using namespace mash;
using namespace mash::agent;
using namespace mash::agent::testing;
using mash::testing::write_file;

namespace {

const char* kGoodPersons =
    "P1,Amelia Rose,Smith,,2015-03-04,female,\"1 High St, Hammersmith\",W6 9AA,W12 7BB,943 476 5919,,,,\n"
    "P2,John,Smith,Johnny Smith-Jones,1985-11-20,male,,w69aa,,,,,,\n";

bool has_problem(const ImportReport& r, const std::string& needle) {
  for (const auto& p : r.problems) {
    if (p.find(needle) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("import: persons, facts, identifiers and blocking keys are stored", "[extract]") {
  auto policy = example_policy();
  TestExtract x(kGoodPersons,
                "P1,police.known,Known to police,2024-01-02,CAD/1,,\n"
                "P1,police.domestic-abuse,\"Incident, no injuries\",2023-05-06,CAD/2,,false\n"
                "P2,police.adult-offending,Theft 2019,2019-04-01,PNC/3,ongoing-investigation,yes\n",
                "police", &policy->agreement());
  CHECK(x.report.persons_imported == 2);
  CHECK(x.report.facts_imported == 3);
  CHECK(x.report.problem_count == 0);
  auto txn = x.store->begin_read();
  REQUIRE(txn.ok());
  auto info = x.store->info(*txn);
  REQUIRE(info.ok());
  CHECK(info->persons == 2);
  CHECK(info->facts == 3);
  CHECK(info->imported_at_ms > 0);

  auto p1 = x.store->person(*txn, "P1");
  REQUIRE(p1.ok());
  REQUIRE(*p1);
  CHECK((*p1)->forenames == std::vector<std::string>{"amelia", "rose"});
  CHECK((*p1)->postcode == "W6 9AA");
  CHECK((*p1)->previous_postcodes == std::vector<std::string>{"W12 7BB"});
  CHECK((*p1)->dob.y == 2015);
  CHECK((*p1)->gender == 'f');
  std::vector<std::string> ids;
  REQUIRE(x.store->by_identifier(*txn, "nhs", "9434765919", ids).ok());
  CHECK(ids == std::vector<std::string>{"P1"});
  auto p2 = x.store->person(*txn, "P2");
  REQUIRE(*p2);
  CHECK((*p2)->other_surnames == std::vector<std::string>{"jones"});  // "Smith-Jones": last token

  // Both Smiths share the postcode block; the frequency table counts the surname.
  std::vector<std::string> block;
  REQUIRE(x.store->block(*txn, "c|W6 9AA", 100, block).ok());
  CHECK(block == std::vector<std::string>{"P1", "P2"});
  CHECK(x.store->frequency(*txn, "s|smith").value() == 2);

  auto facts = x.store->facts(*txn, "P1");
  REQUIRE(facts.ok());
  REQUIRE(facts->size() == 2);
  CHECK((*facts)[1].value == "Incident, no injuries");
  CHECK_FALSE((*facts)[1].restricted);
  auto f2 = x.store->facts(*txn, "P2");
  REQUIRE(f2->size() == 1);
  CHECK((*f2)[0].restricted);
  CHECK((*f2)[0].record_type == "ongoing-investigation");
}

TEST_CASE("import: bad rows are reported with file and line, good rows still go in", "[extract]") {
  auto policy = example_policy();
  TestExtract x(std::string(kGoodPersons) +
                    "P3,Bad,Date,,2015-02-30,,,,,,,,,\n"          // line 4: no such date
                    "P4,Wrong,Check,,2001-01-01,,,,,9434765918,,,,\n"  // line 5: NHS check digit
                    "P1,Again,Dup,,2001-01-01,,,,,,,,,\n"         // line 6: duplicate id
                    ",No,Id,,,,,,,,,,,\n"                          // line 7
                    "P5,Only,Two\n"                               // line 8: short row
                    "P6,X,Y,,2001-01-01,purple,,,,,,,,\n",         // line 9: gender
                "P1,police.known,yes,2024-01-01,,,\n"
                "P9,police.known,yes,2024-01-01,,,\n"             // line 3: unknown person
                "P1,health.gp-registered,yes,2024-01-01,,,\n"     // line 4: another agency's field
                "P1,police.known,yes,01/02/2024,,,\n"             // line 5: date format
                "P1,police.known,,2024-01-01,,,\n"                // line 6: empty value
                "P1,police.known,yes,2024-01-01,,,maybe\n",       // line 7: unclear marker: restricted
                "police", &policy->agreement());
  CHECK(x.report.persons_read == 8);
  CHECK(x.report.persons_imported == 3);  // P1, P2 and P4 (kept, without its NHS number)
  CHECK(x.report.facts_imported == 2);
  CHECK(has_problem(x.report, "persons.csv:4: date_of_birth '2015-02-30'"));
  CHECK(has_problem(x.report, "persons.csv:5: nhs '9434765918' is not a valid NHS number"));
  CHECK(has_problem(x.report, "persons.csv:6: person_id 'P1' appears again"));
  CHECK(has_problem(x.report, "persons.csv:7: person_id is empty"));
  CHECK(has_problem(x.report, "persons.csv:8: 3 columns where the header has 14"));
  CHECK(has_problem(x.report, "persons.csv:9: gender 'purple'"));
  CHECK(has_problem(x.report, "facts.csv:3: person_id 'P9' is not in persons.csv"));
  CHECK(has_problem(x.report, "facts.csv:4: field 'health.gp-registered' is not in the agreement's catalogue for police"));
  CHECK(has_problem(x.report, "facts.csv:5: date '01/02/2024'"));
  CHECK(has_problem(x.report, "facts.csv:6: value is empty"));
  CHECK(has_problem(x.report, "facts.csv:7: restricted 'maybe' is not true or false; treated as restricted"));
  auto txn = x.store->begin_read();
  std::vector<std::string> ids;
  REQUIRE(x.store->by_identifier(*txn, "nhs", "9434765918", ids).ok());
  CHECK(ids.empty());  // a wrong check digit is never trusted for matching
  auto facts = x.store->facts(*txn, "P1");
  REQUIRE(facts->size() == 2);
  CHECK((*facts)[1].restricted);
}

TEST_CASE("import: an address, UPRN or postcode that cannot be used is reported and left out", "[extract]") {
  TestExtract x(TestExtract::WholeFile{
      "person_id,forenames,surname,date_of_birth,address,previous_addresses,postcode,uprn\n"
      "P1,Ann,Ames,2001-01-01,\"14 Acacia Rd, Hammersmith\",\"3 Mill Lane; 12, 4\",W6 9AA,100023336956\n"
      "P2,Ben,Bell,2001-01-01,\"14, 2\",,!!!,12ab\n"    // line 3: only numbers; no postcode; no UPRN
      "P3,Cat,Cole,2001-01-01,,,2119,\n"});              // a postcode that is not a UK one is kept
  CHECK(x.report.persons_imported == 3);
  CHECK(has_problem(x.report, "persons.csv:2: previous address: address has no street, building or place name"));
  CHECK(has_problem(x.report, "persons.csv:3: address: address has no street, building or place name; kept without it"));
  CHECK(has_problem(x.report, "persons.csv:3: postcode '!!!' is not a postcode; kept without it"));
  CHECK(has_problem(x.report, "persons.csv:3: uprn '12ab' is not a UPRN (1 to 12 digits); kept without it"));
  CHECK(x.report.problem_count == 4);
  auto txn = x.store->begin_read();
  auto p1 = x.store->person(*txn, "P1").value();
  REQUIRE(p1);
  CHECK(p1->address.street == "acacia road");
  CHECK(p1->address.number == "14");
  REQUIRE(p1->previous_addresses.size() == 1);
  CHECK(p1->previous_addresses[0].street == "mill lane");
  CHECK(p1->uprn == "100023336956");
  auto p2 = x.store->person(*txn, "P2").value();
  REQUIRE(p2);
  CHECK(p2->address.empty());
  CHECK(p2->postcode.empty());
  CHECK(p2->uprn.empty());
  CHECK(x.store->person(*txn, "P3").value()->postcode == "2119");
}

TEST_CASE("import: the agency's own identifier schemes, declared, in the identifiers column", "[extract]") {
  mash::testing::TempDir dir;
  auto store = ExtractStore::open(dir.path() / "extract", size_t{1} << 30);
  REQUIRE(store.ok());
  mash::testing::write_file(dir.path() / "persons.csv",
                            "person_id,forenames,surname,date_of_birth,identifiers\n"
                            "P1,Ann,Ames,2001-01-01,police-nominal:ab 123;case:77\n"
                            "P2,Ben,Bell,2001-01-01,ssn:42\n"          // line 3: not declared
                            "P3,Cat,Cole,2001-01-01,police-nominal\n"  // line 4: no value
                            "P4,Dan,Dale,2001-01-01,case:a b!c\n");    // line 5: not a usable value
  mash::testing::write_file(dir.path() / "facts.csv", "person_id,field,value\n");
  ImportOptions opts;
  opts.persons = dir.path() / "persons.csv";
  opts.facts = dir.path() / "facts.csv";
  opts.identifier_schemes = {"police-nominal", "case"};
  auto r = import_extract(**store, opts);
  REQUIRE(r.ok());
  CHECK(r->persons_imported == 4);
  CHECK(has_problem(*r, "persons.csv:3: identifiers: scheme 'ssn' is not declared in [matching] identifier_schemes"));
  CHECK(has_problem(*r, "persons.csv:4: identifiers: 'police-nominal' is not scheme:value"));
  CHECK(has_problem(*r, "persons.csv:5: identifiers: 'case:a b!c' is not a usable identifier"));
  CHECK(r->problem_count == 3);
  auto txn = (*store)->begin_read();
  auto p1 = (*store)->person(*txn, "P1").value();
  REQUIRE(p1);
  REQUIRE(p1->identifiers.size() == 2);
  CHECK(p1->identifiers[0] == std::make_pair(std::string("police-nominal"), std::string("AB123")));
  auto keys = blocking_keys(*p1);
  CHECK(std::find(keys.begin(), keys.end(), "x|police-nominal|AB123") != keys.end());
  CHECK(valid_local_scheme("police-nominal"));
  // Postcodes: a UK one, another country's, and placeholders that are none.
  CHECK(normalise_postcode("sw1a1aa") == std::optional<std::string>("SW1A 1AA"));
  CHECK(normalise_postcode("2119") == std::optional<std::string>("2119"));
  CHECK(normalise_postcode("75008") == std::optional<std::string>("75008"));
  CHECK_FALSE(normalise_postcode("NFA"));
  CHECK_FALSE(normalise_postcode("none"));
  CHECK_FALSE(normalise_postcode("!!"));
  // An identifier given twice is kept once.
  PersonDetails twice;
  twice.surname = "Ames";
  twice.identifiers = {{"case", "77"}, {"case", " 77"}, {"case", "78"}};
  CHECK(make_features("t", twice).identifiers.size() == 2);
  CHECK_FALSE(valid_local_scheme("nhs"));
  CHECK_FALSE(valid_local_scheme("Case"));
  CHECK_FALSE(valid_local_scheme("x"));
}

TEST_CASE("import: a refused file, --strict or --dry-run change nothing", "[extract]") {
  TestExtract x(kGoodPersons, "P1,police.known,yes,2024-01-01,,,\n");
  auto count = [&] {
    auto txn = x.store->begin_read();
    return x.store->info(*txn)->persons;
  };
  REQUIRE(count() == 2);
  const auto& d = x.dir.path();
  ImportOptions opts;
  opts.persons = d / "p2.csv";
  opts.facts = d / "facts.csv";
  opts.agency = "police";

  // A missing required column.
  write_file(d / "p2.csv", "forenames,surname\nA,B\n");
  auto r = import_extract(*x.store, opts);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("required column 'person_id' is missing") != std::string::npos);
  CHECK(count() == 2);

  // A huge line.
  write_file(d / "p2.csv", std::string(kPersonsHeader) + "P7," + std::string(100'000, 'a') + ",B,,,,,,,,,,,\n");
  r = import_extract(*x.store, opts);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("longer than 65536 bytes") != std::string::npos);
  CHECK(count() == 2);

  // Not UTF-8 at all: every row is bad; with --strict nothing is imported.
  write_file(d / "p2.csv", std::string(kPersonsHeader) + "P7,Jos\xE9,Smith,,,,,,,,,,,\nP8,Ann,Lee,,,,,,,,,,,\n");
  opts.strict = true;
  r = import_extract(*x.store, opts);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("--strict") != std::string::npos);
  CHECK(count() == 2);

  // A dry run reports and changes nothing.
  opts.strict = false;
  opts.dry_run = true;
  r = import_extract(*x.store, opts);
  REQUIRE(r.ok());
  CHECK(r->persons_imported == 1);
  CHECK(r->problem_count == 2);  // the bad row, and the fact about P1 who is not in this file
  CHECK_FALSE(r->committed);
  CHECK(count() == 2);

  // An empty file.
  write_file(d / "p2.csv", "");
  opts.dry_run = false;
  r = import_extract(*x.store, opts);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("no header line") != std::string::npos);
  CHECK(count() == 2);
}

TEST_CASE("import: a new extract replaces the old one atomically, even for an open reader", "[extract]") {
  TestExtract x(kGoodPersons, "P1,police.known,yes,2024-01-01,,,\n");
  auto before = x.store->begin_read();
  REQUIRE(before.ok());
  x.load("Q1,Zara,Khan,,2010-10-10,,,,,,,,,\n", "");
  // The reader that started before still sees the whole old extract...
  CHECK(x.store->person(*before, "P1").value().has_value());
  CHECK_FALSE(x.store->person(*before, "Q1").value().has_value());
  CHECK(x.store->info(*before)->persons == 2);
  before->abort();
  // ...and a new reader only the new one: nothing of the old is left behind.
  auto after = x.store->begin_read();
  CHECK(x.store->info(*after)->persons == 1);
  CHECK_FALSE(x.store->person(*after, "P1").value().has_value());
  CHECK(x.store->facts(*after, "P1")->empty());
  std::vector<std::string> block;
  REQUIRE(x.store->block(*after, "c|W6 9AA", 100, block).ok());
  CHECK(block.empty());
}

TEST_CASE("import: a mapping file renames the agency's columns, a bad mapping is refused", "[extract]") {
  TestExtract x(kGoodPersons, "");
  const auto& d = x.dir.path();
  write_file(d / "theirs.csv", "REF,GIVEN,FAMILY,DOB\nX1,Ann,Lee,1990-01-01\n");
  write_file(d / "theirs-facts.csv", "REF,FIELD,VALUE\nX1,police.known,yes\n");
  write_file(d / "mapping.toml",
             "[persons]\nperson_id = \"REF\"\nforenames = \"GIVEN\"\nsurname = \"FAMILY\"\ndate_of_birth = \"DOB\"\n"
             "[facts]\nperson_id = \"REF\"\nfield = \"FIELD\"\nvalue = \"VALUE\"\n");
  ImportOptions opts;
  opts.persons = d / "theirs.csv";
  opts.facts = d / "theirs-facts.csv";
  opts.mapping = d / "mapping.toml";
  opts.agency = "police";
  auto r = import_extract(*x.store, opts);
  REQUIRE(r.ok());
  CHECK(r->persons_imported == 1);
  CHECK(r->facts_imported == 1);
  auto txn = x.store->begin_read();
  CHECK((*x.store->person(*txn, "X1").value()).surnames == std::vector<std::string>{"lee"});
  txn->abort();

  write_file(d / "mapping.toml", "[persons]\nshoe_size = \"SHOES\"\n");
  r = import_extract(*x.store, opts);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("mapping.toml:2: [persons] shoe_size is not one of our column names") != std::string::npos);
  write_file(d / "mapping.toml", "[persons]\nperson_id = \"NOPE\"\n");
  r = import_extract(*x.store, opts);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("the mapping names column 'NOPE'") != std::string::npos);
}

TEST_CASE("features: encode and decode round-trip, damaged bytes are refused", "[extract]") {
  PersonDetails d;
  d.forenames = "Mary-Jane";
  d.surname = "O'Brien";
  d.other_names = {"Mary Smith"};
  d.date_of_birth = "2001-02-03";
  d.gender = "F";
  d.address = "Flat 2, 14 Acacia Rd, Hammersmith, London";
  d.previous_addresses = {"3 Mill Lane, Fulham"};
  d.postcode = "sw1a1aa";
  d.previous_postcodes = {"W6 9AA"};
  d.uprn = "00100023336956";
  d.identifiers = {{"nhs", "9434765919"}, {"upn", "a123"}};
  auto f = make_features("id-1", d);
  CHECK(f.forenames == std::vector<std::string>{"mary", "jane"});
  CHECK(f.surnames == std::vector<std::string>{"obrien"});
  CHECK(f.postcode == "SW1A 1AA");
  REQUIRE(f.identifiers.size() == 2);
  CHECK(f.identifiers[1].second == "A123");
  auto bytes = f.encode();
  auto back = PersonFeatures::decode(bytes);
  REQUIRE(back.ok());
  CHECK(back->encode() == bytes);
  CHECK_FALSE(PersonFeatures::decode(bytes.substr(0, bytes.size() - 1)).ok());
  CHECK_FALSE(PersonFeatures::decode(bytes + "x").ok());
  CHECK(f.address.street == "acacia road");
  CHECK(f.address.sub == "2");
  REQUIRE(f.previous_addresses.size() == 1);
  CHECK(f.uprn == "100023336956");  // leading zeros dropped
  CHECK(back->address == f.address);
  CHECK(back->previous_addresses == f.previous_addresses);
  auto keys = blocking_keys(f);
  CHECK(std::find(keys.begin(), keys.end(), "d|20010203") != keys.end());
  CHECK(std::find(keys.begin(), keys.end(), "p|O165|2001") != keys.end());
  CHECK(std::find(keys.begin(), keys.end(), "c|W6 9AA") != keys.end());
}
