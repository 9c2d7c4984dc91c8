#include "agreement.h"

#include <catch2/catch.hpp>

#include <random>

#include "test_fixture.h"

using namespace mash::policy;
using mash::policy::testing::kAgreement;

namespace {

std::string edit(std::string text, const std::string& from, const std::string& to) {
  auto pos = text.find(from);
  REQUIRE(pos != std::string::npos);
  return text.replace(pos, from.size(), to);
}

// Parses `text`, requires failure, and returns the problems.
std::string problems(const std::string& text) {
  auto r = parse_agreement(text, "isa.toml");
  REQUIRE_FALSE(r.ok());
  return r.error().message;
}

int line_of(const std::string& text, const std::string& needle) {
  auto pos = text.find(needle);
  REQUIRE(pos != std::string::npos);
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(pos), '\n'));
}

}  // namespace

TEST_CASE("the fixture agreement is valid", "[agreement]") {
  auto r = parse_agreement(kAgreement, "isa.toml");
  INFO((r.ok() ? "" : r.error().message));
  REQUIRE(r.ok());
  CHECK(r->id == "test-isa");
  CHECK(r->version == 3);
  CHECK(r->agencies.size() == 2);
  CHECK(r->fields.size() == 5);
  CHECK(r->grants.size() == 4);
  CHECK(r->brag_level("red")->deadline_hours == 4);
  CHECK(r->brag_level("red")->deadline_minutes == 240);
  CHECK(r->effective.to_string() == "2026-04-01");
  // An agency's own identifier schemes.
  auto with = parse_agreement(edit(kAgreement, "restricted_contact = \"Police MASH desk\"",
                                   "restricted_contact = \"Police MASH desk\"\n"
                                   "identifier_schemes = [{ id = \"police-nominal\", name = \"Police nominal reference\" }]"),
                              "isa.toml");
  INFO((with.ok() ? "" : with.error().message));
  REQUIRE(with.ok());
  const auto* police = with->agency("police");
  REQUIRE(police);
  REQUIRE(police->identifier_scheme("police-nominal"));
  CHECK(police->identifier_scheme("police-nominal")->name == "Police nominal reference");
  CHECK_FALSE(police->identifier_scheme("nhs"));
  CHECK(with->agency("health")->identifier_schemes.empty());
}

TEST_CASE("validation names the file, line and problem for each kind of mistake", "[agreement]") {
  struct Case {
    const char* name;
    std::string from, to, expected;
  };
  std::vector<Case> cases = {
      {"misspelt key", "title = \"Test agreement\"", "titel = \"Test agreement\"", "unknown key 'titel' in [agreement]"},
      {"duplicate field", "id = \"health.gp\"", "id = \"police.known\"\nagency = \"police\"\ntype = \"text\"\ndescription = \"x\"\n[[fields]]\nid = \"health.gp\"", "field 'police.known' is defined twice"},
      {"unknown agency", "agency = \"police\"\ntype = \"boolean\"", "agency = \"polise\"\ntype = \"boolean\"", "unknown agency 'polise'"},
      {"field granted to the wrong agency", "fields = [\"health.gp\", \"health.sexual-health\"]", "fields = [\"health.gp\", \"police.known\"]", "field 'police.known' belongs to agency 'police', not 'health'"},
      {"unknown purpose", "purposes = [\"mash-risk-assessment\", \"early-help-assessment\"]", "purposes = [\"mash-risk-assessment\", \"early-help\"]", "unknown purpose 'early-help'"},
      {"unknown legal basis", "legal_bases = [\"ca1989-s17\"]", "legal_bases = [\"ca1989-s71\"]", "unknown legal basis 'ca1989-s71'"},
      {"unknown consent state", "consent = [\"given\"]\nmin_brag = \"amber\"", "consent = [\"agreed\"]\nmin_brag = \"amber\"", "unknown consent state 'agreed'"},
      {"unknown BRAG level", "min_brag = \"amber\"", "min_brag = \"orange\"", "unknown BRAG level 'orange'"},
      {"grant that can never apply (consent basis without consent)", "legal_bases = [\"ca1989-s17\"]\nconsent = [\"given\"]", "legal_bases = [\"consent\"]\nconsent = [\"refused\"]", "can never apply: its legal bases all require consent"},
      {"missing deadline", "rank = 4\ndeadline_hours = 4", "rank = 4", "brag 'red': missing 'deadline_hours'"},
      {"two deadlines", "rank = 4\ndeadline_hours = 4", "rank = 4\ndeadline_hours = 4\ndeadline_minutes = 30", "not both"},
      {"zero minutes", "rank = 4\ndeadline_hours = 4", "rank = 4\ndeadline_minutes = 0", "deadline_minutes"},
      {"certificate identity", "certificate = \"urn:mash:agency:health\"", "certificate = \"urn:mash:agency:nhs\"", "certificate must be 'urn:mash:agency:health'"},
      {"duplicate clause id", "id = \"G-POL-3\"", "id = \"G-POL-2\"", "clause 'G-POL-2' is defined twice"},
      {"field id without its agency prefix", "id = \"health.gp\"", "id = \"gp\"", "field ids must start with their agency"},
      {"review before effective", "review = 2027-03-31", "review = 2025-03-31", "is not after the effective date"},
      {"wrong type", "lookback_months = 36", "lookback_months = \"36\"", "'lookback_months' must be an integer"},
      {"restricted content handling", "handling = \"flag-only\"", "handling = \"share\"", "handling must be 'flag-only'"},
      {"identifier scheme that is a national one", "restricted_contact = \"Police MASH desk\"",
       "restricted_contact = \"Police MASH desk\"\nidentifier_schemes = [{ id = \"nhs\", name = \"NHS\" }]",
       "agency 'police' identifier scheme: 'nhs' is a national scheme"},
      {"identifier scheme with a bad id", "restricted_contact = \"Police MASH desk\"",
       "restricted_contact = \"Police MASH desk\"\nidentifier_schemes = [{ id = \"Case Ref\", name = \"Case\" }]",
       "id 'Case Ref' must be 2 to 32 lower-case letters, digits or '-'"},
      {"identifier scheme declared twice", "restricted_contact = \"Police MASH desk\"",
       "restricted_contact = \"Police MASH desk\"\nidentifier_schemes = [{ id = \"pol-ref\", name = \"A\" }, { id = \"pol-ref\", name = \"B\" }]",
       "'pol-ref' is declared twice"},
      {"identifier scheme declared by two agencies", "restricted_contact = \"Police MASH desk\"",
       "restricted_contact = \"Police MASH desk\"\nidentifier_schemes = [{ id = \"nhs-local\", name = \"A\" }]\n"
       "[[agencies]]\nid = \"police2\"\nname = \"P2\"\ncertificate = \"urn:mash:agency:police2\"\nrestricted_contact = \"x\"\n"
       "identifier_schemes = [{ id = \"nhs-local\", name = \"B\" }]",
       "'nhs-local' is already agency 'police''s (a scheme belongs to one agency)"},
      {"identifier scheme without a name", "restricted_contact = \"Police MASH desk\"",
       "restricted_contact = \"Police MASH desk\"\nidentifier_schemes = [{ id = \"pol-ref\" }]",
       "identifier scheme 'pol-ref': missing 'name'"},
      {"test with an unknown reason code", "\"police.intelligence\" = \"below-min-brag\"", "\"police.intelligence\" = \"too-low\"", "unknown reason code 'too-low'"},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    std::string text = edit(kAgreement, c.from, c.to);
    std::string p = problems(text);
    INFO(p);
    CHECK(p.find(c.expected) != std::string::npos);
    CHECK(p.rfind("isa.toml:", 0) == 0);
  }
}

TEST_CASE("a grant whose every field is forbidden without condition can never apply", "[agreement]") {
  std::string text = kAgreement + R"(
[[forbids]]
id = "F-POL-ALL"
agency = "police"
fields = ["police.intelligence"]
reason = "never"
)";
  CHECK(problems(text).find("grant 'G-POL-2' can never apply: every field it grants is forbidden") != std::string::npos);
}

TEST_CASE("problems carry the line they are on, and all are reported at once", "[agreement]") {
  std::string text = edit(kAgreement, "title = \"Test agreement\"", "titel = \"Test agreement\"");
  text = edit(text, "min_brag = \"amber\"", "min_brag = \"orange\"");
  std::string p = problems(text);
  CHECK(p.find("isa.toml:" + std::to_string(line_of(text, "titel")) + ": unknown key 'titel'") != std::string::npos);
  CHECK(std::count(p.begin(), p.end(), '\n') >= 1);

  auto syntax = parse_agreement("[agreement\nid = 1\n", "bad.toml");
  REQUIRE_FALSE(syntax.ok());
  CHECK(syntax.error().message.rfind("bad.toml:1:", 0) == 0);
}

TEST_CASE("canonical bytes follow meaning, not layout", "[agreement]") {
  auto a = canonical_bytes(kAgreement, "a");
  auto b = canonical_bytes("# a comment\n" + edit(kAgreement, "version = 3", "version   =   3   # three"), "b");
  auto c = canonical_bytes(edit(kAgreement, "lookback_months = 36", "lookback_months = 37"), "c");
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  REQUIRE(c.ok());
  CHECK(*a == *b);
  CHECK(*a != *c);
  CHECK(a->rfind("mash-isa-v1\n{", 0) == 0);
}

TEST_CASE("random damage to an agreement never crashes the reader", "[agreement][fuzz]") {
  std::mt19937 rng(20261122);
  const std::string snippets[] = {"[[", "]]", "=", "\"", "\n", "[agreement]", "id = 1", "{", "}",
                                  "[[grants]]\nfields = [1, 2]", "x = 1979-05-27T07:32:00Z",
                                  "\\u0000", "'''", "\"\"\"", "[a.b.c]", "inf", "nan", "0x7fffffff",
                                  "[[tests]]\nwithheld = { a = 1 }"};
  int parsed = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string text = kAgreement;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      size_t pos = rng() % (text.size() + 1);
      switch (rng() % 4) {
        case 0: if (pos < text.size()) text[pos] = static_cast<char>(rng() % 256); break;
        case 1: text.erase(pos, rng() % 40); break;
        case 2: text.insert(pos, snippets[rng() % std::size(snippets)]); break;
        case 3: text = text.substr(0, pos); break;
      }
    }
    auto r = parse_agreement(text, "fuzz.toml");
    parsed += r.ok();
    auto c = canonical_bytes(text, "fuzz.toml");
    (void)c;
  }
  // Some mutations are harmless (inside comments or descriptions); most must be refused.
  CHECK(parsed < 3000);
}
