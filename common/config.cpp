#include "config.h"

#include <unistd.h>

#include <toml++/toml.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace mash {
namespace {

void collect_keys(const toml::table& table, const std::string& prefix, std::set<std::string>& out) {
  for (const auto& [k, node] : table) {
    std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (const auto* sub = node.as_table()) {
      collect_keys(*sub, key, out);
    } else {
      out.insert(key);
    }
  }
}

}  // namespace

ConfigFile::ConfigFile(std::unique_ptr<toml::table> table, std::string name,
                       std::filesystem::path dir)
    : table_(std::move(table)), name_(std::move(name)), dir_(std::move(dir)) {}
ConfigFile::ConfigFile(ConfigFile&&) noexcept = default;
ConfigFile& ConfigFile::operator=(ConfigFile&&) noexcept = default;
ConfigFile::~ConfigFile() = default;

Result<ConfigFile> ConfigFile::parse(std::string_view text, std::string name) {
  try {
    auto table = std::make_unique<toml::table>(toml::parse(text, name));
    return ConfigFile(std::move(table), std::move(name), std::filesystem::current_path());
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << name << ":" << e.source().begin.line << ":" << e.source().begin.column << ": "
        << e.description();
    return make_error(ErrorCode::kInvalidArgument, msg.str());
  }
}

Result<ConfigFile> ConfigFile::load(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return make_error(ErrorCode::kNotFound, path.string() + ": cannot open configuration file");
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  std::string text = buf.str();
  if (text.size() > (1u << 20)) {
    return make_error(ErrorCode::kInvalidArgument, path.string() + ": configuration file over 1 MiB");
  }
  auto parsed = parse(text, path.string());
  if (!parsed.ok()) return parsed.error();
  auto dir = std::filesystem::absolute(path).parent_path();
  parsed->dir_ = dir;
  return std::move(parsed).value();
}

Error ConfigFile::error(std::string_view key, std::string_view problem) const {
  return make_error(ErrorCode::kInvalidArgument,
                    name_ + ": " + std::string(key) + ": " + std::string(problem));
}

Result<std::string> ConfigFile::string(std::string_view key) {
  seen_.insert(std::string(key));
  auto node = table_->at_path(key);
  if (!node) return error(key, "missing (required)");
  auto v = node.value<std::string>();
  if (!node.is_string() || !v) return error(key, "must be a string");
  if (v->empty()) return error(key, "must not be empty");
  return *v;
}

Result<std::string> ConfigFile::string_or(std::string_view key, std::string fallback) {
  seen_.insert(std::string(key));
  if (!table_->at_path(key)) return fallback;
  return string(key);
}

Result<int64_t> ConfigFile::integer_or(std::string_view key, int64_t fallback, int64_t min,
                                       int64_t max) {
  seen_.insert(std::string(key));
  auto node = table_->at_path(key);
  if (!node) return fallback;
  if (!node.is_integer()) return error(key, "must be an integer");
  int64_t v = *node.value<int64_t>();
  if (v < min || v > max) {
    return error(key, "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                          " (got " + std::to_string(v) + ")");
  }
  return v;
}

Result<std::vector<std::string>> ConfigFile::strings_or_empty(std::string_view key, size_t max_items) {
  seen_.insert(std::string(key));
  std::vector<std::string> out;
  auto node = table_->at_path(key);
  if (!node) return out;
  const toml::array* a = node.as_array();
  if (!a) return error(key, "must be a list of strings, e.g. [\"a\", \"b\"]");
  if (a->size() > max_items) return error(key, "must have at most " + std::to_string(max_items) + " entries");
  for (const auto& e : *a) {
    if (!e.is_string() || e.value<std::string>()->empty()) return error(key, "must be a list of non-empty strings");
    std::string v = *e.value<std::string>();
    if (std::find(out.begin(), out.end(), v) != out.end()) return error(key, "lists '" + v + "' twice");
    out.push_back(std::move(v));
  }
  return out;
}

Result<bool> ConfigFile::boolean_or(std::string_view key, bool fallback) {
  seen_.insert(std::string(key));
  auto node = table_->at_path(key);
  if (!node) return fallback;
  if (!node.is_boolean()) return error(key, "must be true or false");
  return *node.value<bool>();
}

Result<std::filesystem::path> ConfigFile::path(std::string_view key, bool must_exist) {
  auto s = string(key);
  if (!s.ok()) return s.error();
  std::filesystem::path p(*s);
  if (p.is_relative()) p = dir_ / p;
  if (must_exist) {
    std::error_code ec;
    if (!std::filesystem::exists(p, ec)) return error(key, "file not found: " + p.string());
    if (::access(p.c_str(), R_OK) != 0) return error(key, "file not readable: " + p.string());
  }
  return p;
}

Result<std::filesystem::path> ConfigFile::path_or(std::string_view key, const std::string& fallback) {
  seen_.insert(std::string(key));
  if (table_->at_path(key)) return path(key, false);
  std::filesystem::path p(fallback);
  return p.is_relative() ? dir_ / p : p;
}

Result<std::filesystem::path> ConfigFile::optional_path(std::string_view key, bool must_exist) {
  seen_.insert(std::string(key));
  if (table_->at_path(key)) return path(key, must_exist);
  return std::filesystem::path();
}

Result<std::chrono::milliseconds> ConfigFile::millis_or(std::string_view key,
                                                        std::chrono::milliseconds fallback,
                                                        std::chrono::milliseconds min,
                                                        std::chrono::milliseconds max) {
  auto v = integer_or(key, fallback.count(), min.count(), max.count());
  if (!v.ok()) return v.error();
  return std::chrono::milliseconds(*v);
}

Result<std::vector<std::string>> ConfigFile::keys(std::string_view table) const {
  std::vector<std::string> out;
  auto node = table_->at_path(table);
  if (!node) return out;
  const toml::table* t = node.as_table();
  if (!t) return error(table, "must be a table");
  for (const auto& [k, v] : *t) out.emplace_back(k.str());
  return out;
}

Status ConfigFile::check_no_unknown_keys() const {
  std::set<std::string> present;
  collect_keys(*table_, "", present);
  for (const auto& key : present) {
    if (!seen_.count(key)) return error(key, "unknown key (misspelt, or not used by this program)");
  }
  return {};
}

}  // namespace mash
