// Tests for pseudonym.h: normalisation, NHS number and date checks, and that pseudonyms are
// stable across the ways one person gets typed, change with the key, and leak no input text.
#include "pseudonym.h"

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <string>
#include <vector>

namespace mash {
namespace {

HashKey fixed_key(uint8_t fill) {
  std::array<uint8_t, 32> bytes{};
  bytes.fill(fill);
  return HashKey::from_bytes(bytes);
}

PersonDetails mary() {
  PersonDetails p;
  p.forenames = "Mary Jane";
  p.surname = "O'Brien";
  p.date_of_birth = "2012-02-29";
  p.identifiers = {{"nhs", "943 476 5919"}, {"upn", "a123456789012"}, {"pnc", "12/345678a"}};
  return p;
}

TEST_CASE("normalise_name lower-cases ASCII and drops punctuation and spaces", "[pseudonym]") {
  CHECK(normalise_name("O'Brien") == "obrien");
  CHECK(normalise_name("obrien") == "obrien");
  CHECK(normalise_name("O\u2019Brien") == "obrien");  // right single quotation mark
  CHECK(normalise_name("  Smith-Jones ") == "smithjones");
  CHECK(normalise_name("St. John") == "stjohn");
  CHECK(normalise_name("Van der Berg") == "vanderberg");
  CHECK(normalise_name("MACDONALD") == "macdonald");
  CHECK(normalise_name("Henry 8th!") == "henry8th");
  CHECK(normalise_name("") == "");
  CHECK(normalise_name(" .-' ") == "");
}

TEST_CASE("normalise_name folds Latin accents to base letters", "[pseudonym]") {
  CHECK(normalise_name("José") == "jose");
  CHECK(normalise_name("JOSÉ") == "jose");
  CHECK(normalise_name("Zoë") == "zoe");
  CHECK(normalise_name("Chloë-Renée") == "chloerenee");
  CHECK(normalise_name("François") == "francois");
  CHECK(normalise_name("Núñez") == "nunez");
  CHECK(normalise_name("Ó Súilleabháin") == "osuilleabhain");
  CHECK(normalise_name("ÀÁÂÄÈÉÊËÌÍÎÏÒÓÔÖÙÚÛÜÇÑ") == "aaaaeeeeiiiioooouuuucn");
  CHECK(normalise_name("àáâäèéêëìíîïòóôöùúûüçñ") == "aaaaeeeeiiiioooouuuucn");
  // Beyond Latin-1: Polish, Czech, Romanian, and letters that fold to two.
  CHECK(normalise_name("Michał Wójcik") == "michalwojcik");
  CHECK(normalise_name("Dvořák") == "dvorak");
  CHECK(normalise_name("Ștefănescu") == "stefanescu");
  CHECK(normalise_name("Strauß") == "strauss");
  // Decomposed input (e + combining acute) gives the same as precomposed.
  CHECK(normalise_name("Jose\u0301") == "jose");
}

TEST_CASE("normalise_name drops other scripts and malformed UTF-8", "[pseudonym]") {
  CHECK(normalise_name("Анна") == "");
  CHECK(normalise_name("李") == "");
  CHECK(normalise_name("Ann\xff\xfe"
                       "a") == "anna");
  CHECK(normalise_name("Ann\xc3") == "ann");  // truncated sequence
  CHECK(normalise_name("\xc0\xaf"
                       "x") == "x");  // overlong encoding of '/'
  CHECK(normalise_name("\xed\xa0\x80"
                       "y") == "y");  // encoded surrogate
  CHECK(normalise_name(std::string("a\0b", 3)) == "ab");
}

TEST_CASE("valid_nhs_number checks length, digits and the modulus-11 check digit", "[pseudonym]") {
  CHECK(valid_nhs_number("9434765919"));
  CHECK(valid_nhs_number("4010232137"));
  CHECK(valid_nhs_number("9434765870"));  // remainder 0: check digit 0
  CHECK_FALSE(valid_nhs_number("9434765918"));
  CHECK_FALSE(valid_nhs_number("4010232138"));
  CHECK_FALSE(valid_nhs_number("943476591"));
  CHECK_FALSE(valid_nhs_number("94347659190"));
  CHECK_FALSE(valid_nhs_number("943 476 5919"));
  CHECK_FALSE(valid_nhs_number("943476591X"));
  CHECK_FALSE(valid_nhs_number(""));
  // A check digit of 10 is never valid: 1000000010 has weighted sum 10*1 + 2*1 = 12, remainder 1.
  CHECK_FALSE(valid_nhs_number("1000000010"));
  // Placeholders pass modulus 11 but are refused.
  CHECK_FALSE(valid_nhs_number("0000000000"));
  CHECK_FALSE(valid_nhs_number("1111111111"));
  CHECK_FALSE(valid_nhs_number("9999999999"));
}

TEST_CASE("valid_iso_date accepts only real YYYY-MM-DD dates", "[pseudonym]") {
  CHECK(valid_iso_date("2012-02-29"));
  CHECK(valid_iso_date("2000-02-29"));
  CHECK(valid_iso_date("1999-12-31"));
  CHECK_FALSE(valid_iso_date("1900-02-29"));
  CHECK_FALSE(valid_iso_date("2013-02-29"));
  CHECK_FALSE(valid_iso_date("2013-04-31"));
  CHECK_FALSE(valid_iso_date("2013-13-01"));
  CHECK_FALSE(valid_iso_date("2013-00-10"));
  CHECK_FALSE(valid_iso_date("2013-01-00"));
  CHECK_FALSE(valid_iso_date("0000-01-01"));
  CHECK_FALSE(valid_iso_date("2013-1-01"));
  CHECK_FALSE(valid_iso_date("01/02/2013"));
  CHECK_FALSE(valid_iso_date("2013-01-01T00:00"));
  CHECK_FALSE(valid_iso_date("2O13-01-01"));
  CHECK_FALSE(valid_iso_date(""));
}

TEST_CASE("pseudonyms have the documented form", "[pseudonym]") {
  Pseudonymizer pz(fixed_key(1));
  const auto ps = pz.pseudonyms(mary());
  REQUIRE(ps.size() == 4);
  CHECK(ps[0].starts_with("name-dob:"));
  CHECK(ps[1].starts_with("nhs:"));
  CHECK(ps[2].starts_with("upn:"));
  CHECK(ps[3].starts_with("pnc:"));
  for (const auto& p : ps) {
    const std::string hex = p.substr(p.find(':') + 1);
    CHECK(hex.size() == 64);
    CHECK(hex.find_first_not_of("0123456789abcdef") == std::string::npos);
  }
}

TEST_CASE("pseudonyms are the keyed hash of the documented domain-separated string",
          "[pseudonym]") {
  Pseudonymizer pz(fixed_key(7));
  PersonDetails p;
  p.forenames = "Mary";
  p.surname = "O'Brien";
  p.date_of_birth = "2012-02-29";
  p.identifiers = {{"nhs", "9434765919"}};
  const auto ps = pz.pseudonyms(p);
  REQUIRE(ps.size() == 2);

  auto expected = [](std::string_view kind, std::string_view text) {
    HashKey k = fixed_key(7);
    auto h = k.hash(std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
    return std::string(kind) + ":" + to_hex(h);
  };
  CHECK(ps[0] == expected("name-dob", "mash-pseudonym-v1|name-dob|mary|obrien|2012-02-29"));
  CHECK(ps[1] == expected("nhs", "mash-pseudonym-v1|nhs|9434765919"));
}

TEST_CASE("the same person entered differently gets the same pseudonyms", "[pseudonym]") {
  Pseudonymizer pz(fixed_key(1));
  const auto reference = pz.pseudonyms(mary());

  PersonDetails typed;
  typed.forenames = "  MARY   ";
  typed.surname = " obrien";
  typed.date_of_birth = " 2012-02-29 ";
  typed.identifiers = {{"NHS", "9434765919"}, {" upn ", "A-1234-5678-9012"}, {"pnc", "12/345678A"}};
  CHECK(pz.pseudonyms(typed) == reference);

  typed.surname = "O\u2019Brien";
  typed.forenames = "Mary";
  typed.identifiers = {{"nhs", "943-476-5919"}, {"upn", "A123456789012"}, {"pnc", " 12/345678 a "}};
  CHECK(pz.pseudonyms(typed) == reference);

  PersonDetails jose1{"José Luis", "García", "1980-01-15", {}};
  PersonDetails jose2{"Jose", "Garcia", "1980-01-15", {}};
  PersonDetails jose3{"JOSÉ", "GARCÍA", "1980-01-15", {}};
  CHECK(pz.pseudonyms(jose1) == pz.pseudonyms(jose2));
  CHECK(pz.pseudonyms(jose1) == pz.pseudonyms(jose3));
  CHECK(pz.pseudonyms(jose1).size() == 1);
}

TEST_CASE("probation and housing references are trimmed, upper-cased, unspaced", "[pseudonym]") {
  Pseudonymizer pz(fixed_key(1));
  PersonDetails a{"", "", "", {{"probation", " x123 45 "}, {"housing", "hr-00 17"}}};
  PersonDetails b{"", "", "", {{"Probation", "X12345"}, {"HOUSING", "HR-0017"}}};
  const auto pa = pz.pseudonyms(a);
  REQUIRE(pa.size() == 2);
  CHECK(pa[0].starts_with("probation:"));
  CHECK(pa[1].starts_with("housing:"));
  CHECK(pa == pz.pseudonyms(b));
  // The hyphen is kept for these schemes, unlike UPN.
  PersonDetails c{"", "", "", {{"housing", "HR0017"}}};
  CHECK(pz.pseudonyms(c)[0] != pa[1]);
}

TEST_CASE("different people and different details give different pseudonyms", "[pseudonym]") {
  Pseudonymizer pz(fixed_key(1));
  PersonDetails a{"Mary", "Brien", "2012-02-29", {}};
  PersonDetails b{"Mary", "Brien", "2012-02-28", {}};
  PersonDetails c{"Maria", "Brien", "2012-02-29", {}};
  CHECK(pz.pseudonyms(a) != pz.pseudonyms(b));
  CHECK(pz.pseudonyms(a) != pz.pseudonyms(c));
  // The same value under different schemes is a different pseudonym.
  PersonDetails d{"", "", "", {{"probation", "X1"}}};
  PersonDetails e{"", "", "", {{"housing", "X1"}}};
  CHECK(pz.pseudonyms(d)[0].substr(10) != pz.pseudonyms(e)[0].substr(8));
}

TEST_CASE("a different key gives different pseudonyms", "[pseudonym]") {
  Pseudonymizer a(fixed_key(1));
  Pseudonymizer b(fixed_key(2));
  Pseudonymizer c(HashKey::generate());
  const auto pa = a.pseudonyms(mary());
  const auto pb = b.pseudonyms(mary());
  const auto pc = c.pseudonyms(mary());
  REQUIRE(pa.size() == 4);
  REQUIRE(pb.size() == 4);
  for (size_t i = 0; i < pa.size(); ++i) {
    CHECK(pa[i] != pb[i]);
    CHECK(pa[i] != pc[i]);
  }
  // Same key, same answer.
  CHECK(Pseudonymizer(fixed_key(1)).pseudonyms(mary()) == pa);
}

TEST_CASE("no pseudonym contains the input text", "[pseudonym]") {
  Pseudonymizer pz(fixed_key(3));
  PersonDetails p{"Mary Jane",
                  "O'Brien",
                  "2012-02-29",
                  {{"nhs", "9434765919"},
                   {"upn", "A123456789012"},
                   {"pnc", "12/345678A"},
                   {"probation", "PROB-77"},
                   {"housing", "HOUSE-42"}}};
  const auto ps = pz.pseudonyms(p);
  REQUIRE(ps.size() == 6);
  for (const auto& out : ps) {
    for (std::string needle :
         {"mary", "Mary", "jane", "brien", "Brien", "2012", "02-29", "9434765919", "943476",
          "A123456789012", "123456789", "345678", "PROB", "77", "HOUSE", "42"}) {
      // "77" and "42" could occur in hex by chance, so check them only outside the hex digits.
      const std::string hex_free = out.substr(0, out.find(':'));
      const std::string& haystack = (needle.size() <= 2) ? hex_free : out;
      INFO(out << " contains " << needle);
      CHECK(haystack.find(needle) == std::string::npos);
    }
  }
}

TEST_CASE("incomplete or invalid details are skipped, not guessed", "[pseudonym]") {
  Pseudonymizer pz(fixed_key(1));
  // No name-dob without all three parts, or with an invalid date.
  CHECK(pz.pseudonyms({"", "Smith", "2010-01-01", {}}).empty());
  CHECK(pz.pseudonyms({"Ann", "", "2010-01-01", {}}).empty());
  CHECK(pz.pseudonyms({"Ann", "Smith", "", {}}).empty());
  CHECK(pz.pseudonyms({"Ann", "Smith", "2010-02-30", {}}).empty());
  CHECK(pz.pseudonyms({"Ann", "Smith", "01/01/2010", {}}).empty());
  // Names that normalise to nothing count as absent.
  CHECK(pz.pseudonyms({"Анна", "Смирнова", "2010-01-01", {}}).empty());
  CHECK(pz.pseudonyms({"Ann", "'-.", "2010-01-01", {}}).empty());
  // A first forename that is only punctuation is passed over.
  CHECK(pz.pseudonyms({"- Ann", "Smith", "2010-01-01", {}}) ==
        pz.pseudonyms({"Ann", "Smith", "2010-01-01", {}}));
  // Invalid NHS numbers, unknown schemes and empty values give nothing.
  CHECK(pz.pseudonyms({"", "", "", {{"nhs", "9434765918"}}}).empty());
  CHECK(pz.pseudonyms({"", "", "", {{"nhs", "1111111111"}}}).empty());
  CHECK(pz.pseudonyms({"", "", "", {{"nhs", "94347659190"}}}).empty());
  CHECK(pz.pseudonyms({"", "", "", {{"passport", "123456789"}}}).empty());
  CHECK(pz.pseudonyms({"", "", "", {{"upn", " - "}, {"pnc", ""}, {"housing", "  "}}}).empty());
  // A valid identifier beside invalid ones still counts.
  const auto ps = pz.pseudonyms({"", "", "", {{"nhs", "123"}, {"nhs", "4010232137"}}});
  REQUIRE(ps.size() == 1);
  CHECK(ps[0].starts_with("nhs:"));
}

TEST_CASE("a repeated identifier gives one pseudonym", "[pseudonym]") {
  Pseudonymizer pz(fixed_key(1));
  const auto ps = pz.pseudonyms({"", "", "", {{"nhs", "9434765919"}, {"nhs", "943 476 5919"}}});
  CHECK(ps.size() == 1);
}

}  // namespace
}  // namespace mash
