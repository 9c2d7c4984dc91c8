// For end-to-end tests: every record of an audit store, exported with the real `mash-audit
// export` and decoded, one JSON record a line.
#pragma once

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <sstream>
#include <string>

#include "crypto.h"
#include "test_support.h"

namespace mash::testing {

inline std::string exported_records(const std::filesystem::path& store, const std::filesystem::path& out_file) {
  std::string out;
  REQUIRE(run(std::string(MASH_BIN_DIR) + "/mash-audit export --store " + shell_quote(store.string()) + " --out " +
                  shell_quote(out_file.string()),
              &out) == 0);
  std::string records;
  std::istringstream lines(read_file(out_file));
  std::string line;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line);
    if (!j.contains("record")) continue;  // the checkpoint line
    auto rec = from_base64(j.at("record").get<std::string>());
    REQUIRE(rec.ok());
    records += std::string(rec->begin(), rec->end()) + "\n";
  }
  return records;
}

}  // namespace mash::testing
