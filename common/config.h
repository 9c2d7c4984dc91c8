// Reading TOML configuration files with errors an operator can act on.
//
// Every problem becomes one line naming the file, the key and what is wrong, e.g.
//   /etc/mash/agent.toml: tls.key: file not found: /etc/mash/agent.key
// Keys the program does not know are refused (a misspelt key must not be silently ignored).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "result.h"

namespace toml {
inline namespace v3 {
class table;
}
}  // namespace toml

namespace mash {

class ConfigFile {
 public:
  // Parses the file; a syntax error names the line and column.
  static Result<ConfigFile> load(const std::filesystem::path& path);
  // Parses text (for tests); `name` stands in for the file name in messages.
  static Result<ConfigFile> parse(std::string_view text, std::string name);

  ConfigFile(ConfigFile&&) noexcept;
  ConfigFile& operator=(ConfigFile&&) noexcept;
  ~ConfigFile();

  // Each getter takes a dotted key ("tls.ca"). Required getters fail when the key is absent.
  Result<std::string> string(std::string_view key);
  Result<std::string> string_or(std::string_view key, std::string fallback);
  Result<int64_t> integer_or(std::string_view key, int64_t fallback, int64_t min, int64_t max);
  Result<bool> boolean_or(std::string_view key, bool fallback);
  // A list of strings (at most `max_items`, none empty or repeated); empty when absent.
  Result<std::vector<std::string>> strings_or_empty(std::string_view key, size_t max_items);
  // A path; relative paths are resolved against the config file's folder. With must_exist, the
  // file must exist and be readable.
  Result<std::filesystem::path> path(std::string_view key, bool must_exist);
  // As path(), with a fallback (also resolved against the config file's folder) when absent.
  Result<std::filesystem::path> path_or(std::string_view key, const std::string& fallback);
  // As path(key, must_exist) when the key is present; an empty path when it is absent.
  Result<std::filesystem::path> optional_path(std::string_view key, bool must_exist);
  // A duration written as an integer of milliseconds under a key ending in "_ms".
  Result<std::chrono::milliseconds> millis_or(std::string_view key, std::chrono::milliseconds fallback,
                                              std::chrono::milliseconds min,
                                              std::chrono::milliseconds max);

  // The keys of a table (e.g. "witness.agencies"), for tables whose keys are names; empty when
  // the table is absent. Each key still has to be read to count as known.
  Result<std::vector<std::string>> keys(std::string_view table) const;

  // After reading every key the program knows: refuses any key that was never asked for.
  Status check_no_unknown_keys() const;

  // An error about `key` in this file's standard form.
  Error error(std::string_view key, std::string_view problem) const;

  const std::string& name() const { return name_; }

 private:
  ConfigFile(std::unique_ptr<toml::table> table, std::string name, std::filesystem::path dir);

  std::unique_ptr<toml::table> table_;
  std::string name_;
  std::filesystem::path dir_;
  std::set<std::string> seen_;
};

}  // namespace mash
