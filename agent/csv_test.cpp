// The CSV reader: RFC 4180 quoting, line numbers for messages, and the limits that make a
// hostile file fail cleanly.
#include "csv.h"

#include <catch2/catch.hpp>

#include "test_support.h"

using namespace mash;
using namespace mash::agent;
using mash::testing::TempDir;
using mash::testing::write_file;

namespace {

std::vector<std::vector<std::string>> read_all(const std::string& text, std::vector<std::string>* bad = nullptr,
                                               CsvLimits limits = {}) {
  TempDir dir;
  write_file(dir.path() / "f.csv", text);
  auto r = CsvReader::open(dir.path() / "f.csv", limits);
  REQUIRE(r.ok());
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> fields;
  for (;;) {
    auto n = r->next(fields);
    REQUIRE(n.ok());
    if (*n == CsvReader::Next::kEnd) break;
    if (*n == CsvReader::Next::kBadRecord) {
      if (bad) bad->push_back(std::to_string(r->line()) + ": " + r->error());
      continue;
    }
    rows.push_back(fields);
  }
  return rows;
}

}  // namespace

TEST_CASE("csv: quoting, CRLF, BOM, blank lines and embedded newlines", "[csv]") {
  auto rows = read_all("\xEF\xBB\xBF" "a,b,c\r\n1,\"x, y\",\"say \"\"hi\"\"\"\r\n\r\n2,\"two\nlines\",\n3,,z");
  REQUIRE(rows.size() == 4);
  CHECK(rows[0] == std::vector<std::string>{"a", "b", "c"});
  CHECK(rows[1] == std::vector<std::string>{"1", "x, y", "say \"hi\""});
  CHECK(rows[2] == std::vector<std::string>{"2", "two\nlines", ""});
  CHECK(rows[3] == std::vector<std::string>{"3", "", "z"});
}

TEST_CASE("csv: malformed records are skipped with their line, reading goes on", "[csv]") {
  std::vector<std::string> bad;
  auto rows = read_all("h1,h2\nok,1\nbad\"quote,2\n\"closed\"junk,3\nlatin1 \xE9t\xE9,4\nfine,5\n\"never closed,6\n", &bad);
  REQUIRE(rows.size() == 3);
  CHECK(rows[1][0] == "ok");
  CHECK(rows[2][0] == "fine");
  REQUIRE(bad.size() == 4);
  CHECK(bad[0] == "3: a quote inside an unquoted field");
  CHECK(bad[1] == "4: text after a closing quote");
  CHECK(bad[2] == "5: not valid UTF-8 text (or holds control characters)");
  CHECK(bad[3].rfind("7: a quoted field is not closed", 0) == 0);
}

TEST_CASE("csv: a record over the size limit or too many columns refuses the file", "[csv]") {
  TempDir dir;
  write_file(dir.path() / "huge.csv", "a,b\n" + std::string(70'000, 'x') + ",1\n");
  auto r = CsvReader::open(dir.path() / "huge.csv");
  REQUIRE(r.ok());
  std::vector<std::string> f;
  REQUIRE(r->next(f).ok());
  auto n = r->next(f);
  REQUIRE_FALSE(n.ok());
  CHECK(n.error().message.find("huge.csv:2: a record longer than 65536 bytes") != std::string::npos);

  CsvLimits limits;
  limits.max_columns = 3;
  write_file(dir.path() / "wide.csv", "a,b,c,d\n");
  auto w = CsvReader::open(dir.path() / "wide.csv", limits);
  REQUIRE(w.ok());
  auto wn = w->next(f);
  REQUIRE_FALSE(wn.ok());
  CHECK(wn.error().message.find("more than 3 columns") != std::string::npos);

  CHECK_FALSE(CsvReader::open(dir.path() / "missing.csv").ok());
}

TEST_CASE("csv: valid_text accepts UTF-8 and refuses broken or control bytes", "[csv]") {
  CHECK(valid_text("Zo\xC3\xAB O\xE2\x80\x99" "Brien"));
  CHECK(valid_text("tab\there"));
  CHECK(valid_text("two\r\nlines"));
  CHECK_FALSE(valid_text("\xC3"));                 // truncated
  CHECK_FALSE(valid_text("\xC0\xAF"));             // overlong
  CHECK_FALSE(valid_text("\xED\xA0\x80"));         // surrogate
  CHECK_FALSE(valid_text(std::string("nul\0x", 5)));
  CHECK_FALSE(valid_text("bell\x07"));
}
