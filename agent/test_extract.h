// Test helpers: a small extract written as CSV and imported into a real LMDB store, and the
// example agreement compiled.
#pragma once

#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "engine.h"
#include "extract.h"
#include "test_support.h"

namespace mash::agent::testing {

inline const char* kPersonsHeader =
    "person_id,forenames,surname,other_names,date_of_birth,gender,address,postcode,previous_postcodes,nhs,upn,pnc,probation,housing\n";
inline const char* kFactsHeader = "person_id,field,value,date,source,record_type,restricted\n";

inline std::unique_ptr<policy::Policy> example_policy() {
  auto a = policy::load_agreement(std::string(MASH_SOURCE_DIR) + "/policy/examples/tri-borough.toml");
  REQUIRE(a.ok());
  auto p = policy::Policy::compile(std::move(a).value());
  REQUIRE(p.ok());
  return std::make_unique<policy::Policy>(std::move(p).value());
}

struct TestExtract {
  mash::testing::TempDir dir;
  std::unique_ptr<ExtractStore> store;
  ImportReport report;

  TestExtract(const std::string& persons_rows, const std::string& facts_rows, const std::string& agency = "police",
              const policy::Agreement* agreement = nullptr) {
    auto s = ExtractStore::open(dir.path() / "extract", size_t{1} << 30);
    REQUIRE(s.ok());
    store = std::move(s).value();
    load(persons_rows, facts_rows, agency, agreement);
  }
  // A persons.csv given whole, header included (for columns kPersonsHeader does not have), and
  // no facts.
  struct WholeFile {
    std::string persons_csv;
    std::vector<std::string> identifier_schemes = {};  // the agency's own, as [matching] declares
  };
  explicit TestExtract(const WholeFile& file) {
    auto s = ExtractStore::open(dir.path() / "extract", size_t{1} << 30);
    REQUIRE(s.ok());
    store = std::move(s).value();
    mash::testing::write_file(dir.path() / "persons.csv", file.persons_csv);
    mash::testing::write_file(dir.path() / "facts.csv", kFactsHeader);
    ImportOptions opts;
    opts.persons = dir.path() / "persons.csv";
    opts.facts = dir.path() / "facts.csv";
    opts.identifier_schemes = file.identifier_schemes;
    auto r = import_extract(*store, opts);
    INFO((r.ok() ? std::string() : r.error().message));
    REQUIRE(r.ok());
    report = *r;
  }
  void load(const std::string& persons_rows, const std::string& facts_rows, const std::string& agency = "police",
            const policy::Agreement* agreement = nullptr) {
    mash::testing::write_file(dir.path() / "persons.csv", kPersonsHeader + persons_rows);
    mash::testing::write_file(dir.path() / "facts.csv", kFactsHeader + facts_rows);
    ImportOptions opts;
    opts.persons = dir.path() / "persons.csv";
    opts.facts = dir.path() / "facts.csv";
    opts.agency = agency;
    opts.agreement = agreement;
    auto r = import_extract(*store, opts);
    INFO((r.ok() ? std::string() : r.error().message));
    REQUIRE(r.ok());
    report = *r;
  }
};

}  // namespace mash::agent::testing
