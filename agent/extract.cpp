#include "extract.h"

#include <toml++/toml.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <set>
#include <unordered_map>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "clock.h"
#include "csv.h"
#include "pseudonym.h"

namespace mash::agent {

namespace {

// --- a small length-prefixed binary encoding for stored values ---------------------------------

class Writer {
 public:
  void u64(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  void str(std::string_view s) {
    u64(s.size());
    out_.append(s);
  }
  void strs(const std::vector<std::string>& v) {
    u64(v.size());
    for (const auto& s : v) str(s);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool u64(uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= in_.size()) return false;
      auto b = static_cast<unsigned char>(in_[pos_++]);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;
  }
  bool str(std::string& s) {
    uint64_t n = 0;
    if (!u64(n) || n > in_.size() - pos_) return false;
    s.assign(in_.substr(pos_, n));
    pos_ += n;
    return true;
  }
  bool strs(std::vector<std::string>& v) {
    uint64_t n = 0;
    if (!u64(n) || n > in_.size() - pos_) return false;
    v.resize(n);
    for (auto& s : v) {
      if (!str(s)) return false;
    }
    return true;
  }
  bool done() const { return pos_ == in_.size(); }

 private:
  std::string_view in_;
  size_t pos_ = 0;
};

Error corrupt(const char* what) {
  return make_error(ErrorCode::kDataLoss, std::string("extract store: a damaged ") + what +
                                              " record (re-import the extract)");
}

std::string be64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 7; i >= 0; --i) {
    s[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return s;
}

// Index keys (blocks, identifiers) start with a 64-bit FNV-1a hash of the blocking key, then the
// person id: short keys, and a bulk load that sorts mostly on one integer. Two blocking keys
// with the same hash would merely share a block (more candidates scored), never lose one.
std::string index_prefix(std::string_view key) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : key) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  return be64(h);
}

uint64_t from_be64(std::string_view s) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < s.size(); ++i) v = (v << 8) | static_cast<unsigned char>(s[i]);
  return v;
}

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
  return std::string(s.substr(b, e - b));
}

std::vector<std::string> split_list(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(';', start);
    if (end == std::string_view::npos) end = s.size();
    auto item = trim(s.substr(start, end - start));
    if (!item.empty()) out.push_back(std::move(item));
    start = end + 1;
  }
  return out;
}

void add_tokens(std::vector<std::string>& out, std::string_view name) {
  for (auto& t : text::name_tokens(name)) out.push_back(std::move(t));
}

}  // namespace

// --- identifiers and features ------------------------------------------------------------------

std::optional<std::string> normalise_identifier(std::string_view scheme, std::string_view value) {
  std::string v;
  for (char c : value) {
    if (c == ' ' || c == '-' || c == '\t') {
      if (scheme == "nhs") continue;
      if (c == ' ' || c == '\t') continue;
    }
    v.push_back(static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c));
  }
  if (v.empty() || v.size() > 32) return std::nullopt;
  if (scheme == "nhs") {
    if (!valid_nhs_number(v)) return std::nullopt;
    return v;
  }
  bool known = false;
  for (auto s : kIdentifierSchemes) known = known || s == scheme;
  if (!known) return std::nullopt;
  for (char c : v) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '/' || c == '-';
    if (!ok) return std::nullopt;
  }
  return v;
}

std::optional<std::string> normalise_postcode(std::string_view text) {
  if (auto pc = text::parse_uk_postcode(text)) return pc->full;
  std::string v;
  for (char c : text) {
    if (c >= 'a' && c <= 'z') v.push_back(static_cast<char>(c - 32));
    else if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) v.push_back(c);
    else if (c != ' ' && c != '-' && c != '\t') return std::nullopt;
  }
  if (v.size() < 2 || v.size() > 12) return std::nullopt;
  // Every postcode system has digits; "NFA" (no fixed abode), "NONE", "UNKNOWN" and the like
  // are placeholders, and two people marked so share nothing.
  if (std::none_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
  return v;
}

std::optional<std::string> normalise_uprn(std::string_view text) {
  std::string v;
  for (char c : text) {
    if (c == ' ') continue;
    if (c < '0' || c > '9') return std::nullopt;
    if (v.empty() && c == '0') continue;
    v.push_back(c);
  }
  if (v.empty() || v.size() > 12) return std::nullopt;
  return v;
}

bool is_national_scheme(std::string_view scheme) {
  for (auto s : kIdentifierSchemes) {
    if (s == scheme) return true;
  }
  return false;
}

bool valid_local_scheme(std::string_view scheme) {
  if (scheme.size() < 2 || scheme.size() > 32 || is_national_scheme(scheme) || scheme[0] == '-') return false;
  return std::all_of(scheme.begin(), scheme.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

std::optional<std::string> normalise_local_identifier(std::string_view value) {
  std::string v;
  for (char c : value) {
    if (c == ' ' || c == '\t') continue;
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
    bool ok = (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '/' || c == '-' || c == '.' || c == '_';
    if (!ok) return std::nullopt;
    v.push_back(c);
  }
  if (v.empty() || v.size() > 32) return std::nullopt;
  return v;
}

PersonFeatures make_features(std::string id, const PersonDetails& d) {
  addr::Address address;
  if (auto a = addr::parse_address(d.address); a.ok()) address = std::move(*a);
  std::vector<addr::Address> previous;
  for (const auto& prev : d.previous_addresses) {
    if (auto a = addr::parse_address(prev); a.ok()) previous.push_back(std::move(*a));
  }
  return make_features(std::move(id), d, std::move(address), std::move(previous));
}

PersonFeatures make_features(std::string id, const PersonDetails& d, addr::Address address,
                             std::vector<addr::Address> previous_addresses) {
  PersonFeatures p;
  p.id = std::move(id);
  add_tokens(p.forenames, d.forenames);
  add_tokens(p.surnames, d.surname);
  for (const auto& other : d.other_names) {
    auto tokens = text::name_tokens(other);
    if (tokens.empty()) continue;
    p.other_surnames.push_back(tokens.back());
    for (size_t i = 0; i + 1 < tokens.size(); ++i) p.other_forenames.push_back(tokens[i]);
  }
  if (auto dt = text::parse_ymd(d.date_of_birth)) p.dob = *dt;
  std::string g;
  for (char c : d.gender) g.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (g == "f" || g == "female") p.gender = 'f';
  else if (g == "m" || g == "male") p.gender = 'm';
  else if (g == "o" || g == "other") p.gender = 'o';
  if (auto pc = normalise_postcode(d.postcode)) p.postcode = *pc;
  for (const auto& prev : d.previous_postcodes) {
    if (auto pc = normalise_postcode(prev); pc && *pc != p.postcode) {
      if (std::find(p.previous_postcodes.begin(), p.previous_postcodes.end(), *pc) ==
          p.previous_postcodes.end()) {
        p.previous_postcodes.push_back(*pc);
      }
    }
  }
  p.address = std::move(address);
  for (auto& a : previous_addresses) {
    if (p.previous_addresses.size() >= kMaxPreviousAddresses) break;
    if (!a.empty() && !(a == p.address)) p.previous_addresses.push_back(std::move(a));
  }
  if (auto u = normalise_uprn(d.uprn)) p.uprn = *u;
  for (const auto& [scheme, value] : d.identifiers) {
    if (p.identifiers.size() >= 16) break;
    auto v = is_national_scheme(scheme) ? normalise_identifier(scheme, value)
                                        : valid_local_scheme(scheme) ? normalise_local_identifier(value) : std::nullopt;
    if (!v) continue;
    auto pair = std::make_pair(scheme, *v);
    if (std::find(p.identifiers.begin(), p.identifiers.end(), pair) == p.identifiers.end()) {
      p.identifiers.push_back(std::move(pair));
    }
  }
  return p;
}

namespace {

void write_address(Writer& w, const addr::Address& a) {
  w.str(a.number);
  w.str(a.sub);
  w.str(a.street);
  w.str(a.building);
  w.str(a.locality);
  w.str(a.town);
}

bool read_address(Reader& r, addr::Address& a) {
  return r.str(a.number) && r.str(a.sub) && r.str(a.street) && r.str(a.building) && r.str(a.locality) &&
         r.str(a.town);
}

}  // namespace

// Format 2 adds the address, previous addresses and UPRN after the identifiers; format 1
// records (extracts imported before) read with none.
std::string PersonFeatures::encode() const {
  Writer w;
  w.u64(2);  // format version
  w.str(id);
  w.strs(forenames);
  w.strs(surnames);
  w.strs(other_forenames);
  w.strs(other_surnames);
  w.u64(static_cast<uint64_t>(dob.y) * 10000 + static_cast<uint64_t>(dob.m) * 100 +
        static_cast<uint64_t>(dob.d));
  w.u64(static_cast<unsigned char>(gender));
  w.str(postcode);
  w.strs(previous_postcodes);
  w.u64(identifiers.size());
  for (const auto& [s, v] : identifiers) {
    w.str(s);
    w.str(v);
  }
  write_address(w, address);
  w.u64(previous_addresses.size());
  for (const auto& a : previous_addresses) write_address(w, a);
  w.str(uprn);
  return w.take();
}

Status PersonFeatures::decode_into(std::string_view bytes, PersonFeatures& p) {
  Reader r(bytes);
  uint64_t version = 0, dob = 0, gender = 0, n = 0;
  if (!r.u64(version) || (version != 1 && version != 2) || !r.str(p.id) || !r.strs(p.forenames) ||
      !r.strs(p.surnames) || !r.strs(p.other_forenames) || !r.strs(p.other_surnames) ||
      !r.u64(dob) || !r.u64(gender) || !r.str(p.postcode) || !r.strs(p.previous_postcodes) ||
      !r.u64(n) || n > 16) {
    return corrupt("person");
  }
  p.dob = text::Ymd{static_cast<int>(dob / 10000), static_cast<int>(dob / 100 % 100),
                    static_cast<int>(dob % 100)};
  p.gender = static_cast<char>(gender);
  p.identifiers.resize(n);
  for (auto& [s, v] : p.identifiers) {
    if (!r.str(s) || !r.str(v)) return corrupt("person");
  }
  if (version == 1) {
    p.address = {};
    p.previous_addresses.clear();
    p.uprn.clear();
  } else {
    if (!read_address(r, p.address) || !r.u64(n) || n > kMaxPreviousAddresses) return corrupt("person");
    p.previous_addresses.resize(n);
    for (auto& a : p.previous_addresses) {
      if (!read_address(r, a)) return corrupt("person");
    }
    if (!r.str(p.uprn)) return corrupt("person");
  }
  if (!r.done()) return corrupt("person");
  return {};
}

Result<PersonFeatures> PersonFeatures::decode(std::string_view bytes) {
  PersonFeatures p;
  if (auto st = decode_into(bytes, p); !st.ok()) return st.error();
  return p;
}

std::vector<std::string> blocking_keys(const PersonFeatures& p) {
  std::vector<std::string> keys;
  const std::string year = p.dob.y > 0 ? std::to_string(p.dob.y) : std::string();
  const std::string initial = p.forenames.empty() ? std::string() : p.forenames[0].substr(0, 1);
  auto add_surname = [&](const std::string& s) {
    if (s.empty()) return;
    auto code = text::soundex(s);
    if (code.empty()) return;
    if (!year.empty()) keys.push_back("p|" + code + "|" + year);
    // No birth year needed: a wrongly typed date of birth does not hide the record.
    if (!initial.empty()) keys.push_back("i|" + code + "|" + initial);
  };
  for (const auto& s : p.surnames) add_surname(s);
  for (const auto& s : p.other_surnames) add_surname(s);
  if (p.dob.y > 0) {
    int a = std::min(p.dob.m, p.dob.d), b = std::max(p.dob.m, p.dob.d);
    char buf[24];
    std::snprintf(buf, sizeof buf, "d|%04d%02d%02d", p.dob.y % 10000, a % 100, b % 100);
    keys.emplace_back(buf);
  }
  if (!p.forenames.empty() && !year.empty()) {
    keys.push_back("f|" + std::string(text::forename_root(p.forenames[0])) + "|" + year);
  }
  if (!p.forenames.empty() && !p.surnames.empty()) {
    // Sorted tokens: "Smith John" and "John Smith" land together, also when a double forename
    // was put in the surname field ("Pearson", "Zachary Finley").
    std::string a0 = std::string(text::forename_root(p.forenames[0]));
    for (const auto& sur : p.surnames) {
      std::string a = a0, b = sur;
      if (b < a) std::swap(a, b);
      keys.push_back("n|" + a + "|" + b);
    }
  }
  if (!p.postcode.empty()) keys.push_back("c|" + p.postcode);
  for (const auto& pc : p.previous_postcodes) keys.push_back("c|" + pc);
  // Where the person lives, without the date of birth: the building number with the street,
  // with the locality and with the postcode.
  auto add_address = [&](const addr::Address& a, const std::string& postcode) {
    if (a.number.empty()) return;
    if (!a.street.empty()) keys.push_back("a|" + a.number + "|" + addr::street_key(a));
    if (!a.locality.empty()) keys.push_back("l|" + a.number + "|" + a.locality);
    if (!postcode.empty()) keys.push_back("h|" + a.number + "|" + postcode);
  };
  add_address(p.address, p.postcode);
  for (const auto& a : p.previous_addresses) add_address(a, std::string());
  if (!p.uprn.empty()) keys.push_back("u|" + p.uprn);
  // The agency's own identifiers find the record whatever else was mistyped (national ones are
  // looked up directly, and decide).
  for (const auto& [scheme, value] : p.identifiers) {
    if (!is_national_scheme(scheme)) keys.push_back("x|" + scheme + "|" + value);
  }
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  // Keys are bounded by LMDB's key size with room for the person id.
  keys.erase(std::remove_if(keys.begin(), keys.end(), [](const std::string& k) { return k.size() > 200; }),
             keys.end());
  return keys;
}

std::string Fact::encode() const {
  Writer w;
  w.u64(1);
  w.str(field);
  w.str(value);
  w.str(date);
  w.str(source);
  w.str(record_type);
  w.u64(restricted ? 1 : 0);
  return w.take();
}

Result<Fact> Fact::decode(std::string_view bytes) {
  Reader r(bytes);
  Fact f;
  uint64_t version = 0, restricted = 0;
  if (!r.u64(version) || version != 1 || !r.str(f.field) || !r.str(f.value) || !r.str(f.date) ||
      !r.str(f.source) || !r.str(f.record_type) || !r.u64(restricted) || !r.done()) {
    return corrupt("fact");
  }
  f.restricted = restricted != 0;
  return f;
}

// --- the store ---------------------------------------------------------------------------------

Result<std::unique_ptr<ExtractStore>> ExtractStore::open(const std::filesystem::path& dir,
                                                         size_t map_size) {
  EnvOptions opts;
  opts.map_size = map_size;
  opts.max_dbs = 8;
  auto env = Env::open(dir, opts);
  if (!env.ok()) return env.error();
  std::unique_ptr<ExtractStore> store(new ExtractStore(std::move(env).value()));
  auto txn = store->env_.begin_write();
  if (!txn.ok()) return txn.error();
  const std::pair<const char*, Dbi*> dbs[] = {{"persons", &store->persons_}, {"facts", &store->facts_},
                                              {"blocks", &store->blocks_},   {"ids", &store->ids_},
                                              {"freq", &store->freq_},       {"meta", &store->meta_}};
  for (auto [name, dbi] : dbs) {
    auto d = txn->open_db(name, true);
    if (!d.ok()) return d.error();
    *dbi = *d;
  }
  if (auto st = txn->commit(); !st.ok()) return st.error();
  return store;
}

Result<ExtractInfo> ExtractStore::info(const Txn& txn) const {
  ExtractInfo info;
  auto get = [&](std::string_view key) -> Result<std::string> {
    auto v = txn.get(meta_, key);
    if (!v.ok()) return v.error();
    return *v ? std::string(**v) : std::string();
  };
  auto persons = get("persons");
  if (!persons.ok()) return persons.error();
  info.persons = from_be64(*persons);
  auto facts = get("facts");
  if (!facts.ok()) return facts.error();
  info.facts = from_be64(*facts);
  auto at = get("imported_at_ms");
  if (!at.ok()) return at.error();
  info.imported_at_ms = static_cast<int64_t>(from_be64(*at));
  auto pf = get("persons_file");
  if (!pf.ok()) return pf.error();
  info.persons_file = *pf;
  auto ff = get("facts_file");
  if (!ff.ok()) return ff.error();
  info.facts_file = *ff;
  return info;
}

Result<std::optional<PersonFeatures>> ExtractStore::person(const Txn& txn, std::string_view id) const {
  auto v = txn.get(persons_, id);
  if (!v.ok()) return v.error();
  if (!*v) return std::optional<PersonFeatures>();
  auto p = PersonFeatures::decode(**v);
  if (!p.ok()) return p.error();
  return std::optional<PersonFeatures>(std::move(p).value());
}

Result<bool> ExtractStore::person_into(const Txn& txn, std::string_view id, PersonFeatures& out) const {
  auto v = txn.get(persons_, id);
  if (!v.ok()) return v.error();
  if (!*v) return false;
  if (auto st = PersonFeatures::decode_into(**v, out); !st.ok()) return st.error();
  return true;
}

namespace {

Status scan_ids(const Txn& txn, Dbi dbi, std::string_view key, size_t cap,
                std::vector<std::string>& ids, bool* truncated) {
  std::string prefix = index_prefix(key);
  auto cursor = txn.cursor(dbi);
  if (!cursor.ok()) return cursor.error();
  if (auto st = cursor->seek(prefix); !st.ok()) return st;
  size_t n = 0;
  while (cursor->valid()) {
    auto k = cursor->key();
    if (k.size() < prefix.size() || k.compare(0, prefix.size(), prefix) != 0) break;
    if (n == cap) {
      if (truncated) *truncated = true;
      break;
    }
    ids.emplace_back(k.substr(prefix.size()));
    ++n;
    if (auto st = cursor->next(); !st.ok()) return st;
  }
  return {};
}

}  // namespace

Status ExtractStore::block(const Txn& txn, std::string_view key, size_t cap,
                           std::vector<std::string>& ids, bool* truncated) const {
  if (truncated) *truncated = false;
  return scan_ids(txn, blocks_, key, cap, ids, truncated);
}

Status ExtractStore::by_identifier(const Txn& txn, std::string_view scheme, std::string_view value,
                                   std::vector<std::string>& ids) const {
  std::string key = std::string(scheme) + "|" + std::string(value);
  return scan_ids(txn, ids_, key, 64, ids, nullptr);
}

Result<uint64_t> ExtractStore::frequency(const Txn& txn, std::string_view key) const {
  auto v = txn.get(freq_, key);
  if (!v.ok()) return v.error();
  if (!*v) return uint64_t{0};
  return from_be64(**v);
}

Result<std::vector<Fact>> ExtractStore::facts(const Txn& txn, std::string_view person_id) const {
  std::string prefix(person_id);
  prefix.push_back('\0');
  std::vector<Fact> out;
  Status inner;
  auto st = txn.for_each_prefix(facts_, prefix, [&](std::string_view, std::string_view value) {
    auto f = Fact::decode(value);
    if (!f.ok()) {
      inner = f.error();
      return false;
    }
    out.push_back(std::move(f).value());
    return out.size() < 100'000;
  });
  if (!st.ok()) return st.error();
  if (!inner.ok()) return inner.error();
  return out;
}

// --- import ------------------------------------------------------------------------------------

namespace {

constexpr std::string_view kPersonColumns[] = {
    "person_id", "forenames", "surname", "other_names", "date_of_birth", "gender", "address",
    "previous_addresses", "postcode", "previous_postcodes", "uprn", "nhs", "upn", "pnc", "probation",
    "housing", "identifiers"};
constexpr std::string_view kFactColumns[] = {"person_id", "field",       "value",     "date",
                                             "source",    "record_type", "restricted"};
constexpr size_t kMaxValueBytes = 4096;
constexpr size_t kMaxNameBytes = 256;

using Mapping = std::map<std::string, std::string>;  // ours -> theirs

Result<std::pair<Mapping, Mapping>> load_mapping(const std::filesystem::path& path) {
  std::pair<Mapping, Mapping> out;
  if (path.empty()) return out;
  auto text = policy::read_text_file(path, 64 * 1024);
  if (!text.ok()) return text.error();
  toml::table root;
  try {
    root = toml::parse(*text, path.string());
  } catch (const toml::parse_error& e) {
    return make_error(ErrorCode::kInvalidArgument,
                      path.string() + ":" + std::to_string(e.source().begin.line) + ": " +
                          std::string(e.description()));
  }
  std::vector<std::string> problems;
  auto read_table = [&](const char* name, std::span<const std::string_view> ours, Mapping& m) {
    const toml::node* node = root.get(name);
    if (node == nullptr) return;
    const toml::table* t = node->as_table();
    if (t == nullptr) {
      problems.push_back(path.string() + ": [" + name + "] must be a table");
      return;
    }
    for (const auto& [k, v] : *t) {
      std::string key(k.str());
      int line = static_cast<int>(v.source().begin.line);
      if (std::find(ours.begin(), ours.end(), key) == ours.end()) {
        problems.push_back(path.string() + ":" + std::to_string(line) + ": [" + name + "] " + key +
                           " is not one of our column names (see agent/DATA.md)");
        continue;
      }
      auto s = v.value<std::string>();
      if (!s || s->empty()) {
        problems.push_back(path.string() + ":" + std::to_string(line) + ": [" + name + "] " + key +
                           " must be the agency's column name (a non-empty string)");
        continue;
      }
      m[key] = *s;
    }
  };
  for (const auto& [k, v] : root) {
    if (k.str() != "persons" && k.str() != "facts") {
      problems.push_back(path.string() + ":" + std::to_string(v.source().begin.line) + ": unknown table '" +
                         std::string(k.str()) + "' (expected [persons] and [facts])");
    }
  }
  read_table("persons", kPersonColumns, out.first);
  read_table("facts", kFactColumns, out.second);
  if (!problems.empty()) {
    std::string msg;
    for (const auto& p : problems) msg += (msg.empty() ? "" : "\n") + p;
    return make_error(ErrorCode::kInvalidArgument, msg);
  }
  return out;
}

// Column positions by our name; -1 when absent.
struct Columns {
  std::map<std::string, int> pos;
  int operator[](std::string_view name) const {
    auto it = pos.find(std::string(name));
    return it == pos.end() ? -1 : it->second;
  }
};

Result<Columns> map_header(const std::vector<std::string>& header, const Mapping& mapping,
                           std::span<const std::string_view> ours,
                           std::span<const std::string_view> required, const std::string& file,
                           std::vector<std::string>& notes) {
  std::map<std::string, std::string> theirs_to_ours;
  for (const auto& [o, t] : mapping) theirs_to_ours[t] = o;
  Columns cols;
  std::set<std::string> present;
  for (size_t i = 0; i < header.size(); ++i) {
    std::string name = trim(header[i]);
    present.insert(name);
    if (auto it = theirs_to_ours.find(name); it != theirs_to_ours.end()) name = it->second;
    if (std::find(ours.begin(), ours.end(), name) == ours.end()) {
      notes.push_back(file + ":1: column '" + header[i].substr(0, 64) + "' is not used");
      continue;
    }
    if (cols.pos.count(name)) {
      return make_error(ErrorCode::kInvalidArgument,
                        file + ":1: column '" + name + "' appears twice; the file is refused");
    }
    cols.pos[name] = static_cast<int>(i);
  }
  for (const auto& [o, t] : mapping) {
    if (!present.count(t)) {
      return make_error(ErrorCode::kInvalidArgument,
                        file + ":1: the mapping names column '" + t + "' for " + o +
                            ", but the file has no such column; the file is refused");
    }
  }
  for (auto r : required) {
    if (cols[r] < 0) {
      return make_error(ErrorCode::kInvalidArgument,
                        file + ":1: required column '" + std::string(r) +
                            "' is missing; the file is refused (see agent/DATA.md)");
    }
  }
  return cols;
}

// Sorted (key, value) pairs for a bulk append, held in one arena to keep a million persons cheap.
// Each entry carries its key's first 16 bytes as two big-endian integers, so most comparisons
// in the sort are integer compares instead of a memcmp (the order is still LMDB's bytewise one).
class SortedLoad {
 public:
  void add(std::string_view key, std::string_view value) {
    uint64_t p[2] = {0, 0};
    for (size_t i = 0; i < 16; ++i) {
      p[i / 8] = (p[i / 8] << 8) | (i < key.size() ? static_cast<unsigned char>(key[i]) : 0u);
    }
    entries_.push_back({p[0], p[1], arena_.size(), static_cast<uint32_t>(key.size()), static_cast<uint32_t>(value.size())});
    arena_.append(key);
    arena_.append(value);
  }
  void sort() {
    std::sort(entries_.begin(), entries_.end(), [&](const Entry& a, const Entry& b) {
      if (a.p0 != b.p0) return a.p0 < b.p0;
      if (a.p1 != b.p1) return a.p1 < b.p1;
      // Equal first 16 bytes (zero-padded): the rest decides, then the length.
      if (a.klen <= 16 || b.klen <= 16) return a.klen < b.klen;
      return key(a).substr(16) < key(b).substr(16);
    });
    sorted_ = true;
  }
  Status write(Txn& txn, Dbi dbi) {
    if (!sorted_) sort();
    std::string_view last;
    bool have_last = false;
    for (const auto& e : entries_) {
      auto k = key(e);
      if (have_last && k == last) continue;  // the same key twice: keep the first
      if (auto st = txn.append(dbi, k, std::string_view(arena_).substr(e.off + e.klen, e.vlen));
          !st.ok()) {
        return st;
      }
      last = k;
      have_last = true;
    }
    return {};
  }
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    uint64_t p0, p1;
    size_t off;
    uint32_t klen, vlen;
  };
  std::string_view key(const Entry& e) const { return std::string_view(arena_).substr(e.off, e.klen); }
  std::string arena_;
  std::vector<Entry> entries_;
  bool sorted_ = false;
};

class Problems {
 public:
  Problems(ImportReport& report, size_t max) : report_(report), max_(max) {}
  void add(const std::string& file, size_t line, const std::string& reason) {
    ++report_.problem_count;
    if (report_.problems.size() < max_) {
      report_.problems.push_back(file + ":" + std::to_string(line) + ": " + reason);
    }
  }

 private:
  ImportReport& report_;
  size_t max_;
};

std::string show(std::string_view v) {
  // Values in messages are the agency's own data, shown to the agency's operator only; keep
  // them short.
  std::string s(v.substr(0, 40));
  if (v.size() > 40) s += "...";
  return "'" + s + "'";
}

}  // namespace

namespace {

struct PendingFact {
  std::string person_id;
  size_t line = 0;
  std::string encoded;
};

struct FactsRead {
  Status status;
  uint64_t rows = 0;
  std::vector<PendingFact> facts;
  std::vector<std::pair<size_t, std::string>> problems;  // (line, reason), in file order
  std::vector<std::string> notes;
};

FactsRead read_facts(const ImportOptions& options, const Mapping& mapping, const std::string& ffile) {
  FactsRead out;
  auto fail = [&](Error e) {
    out.status = std::move(e);
    return std::move(out);
  };
  auto freader = CsvReader::open(options.facts);
  if (!freader.ok()) return fail(freader.error());
  std::vector<std::string> row;
  auto first = freader->next(row);
  if (!first.ok()) return fail(first.error());
  if (*first != CsvReader::Next::kRecord) {
    return fail(make_error(ErrorCode::kInvalidArgument,
                           ffile + ":1: no header line (an empty or unreadable file); nothing was imported"));
  }
  static constexpr std::string_view kFactRequired[] = {"person_id", "field", "value"};
  auto fcols = map_header(row, mapping, kFactColumns, kFactRequired, ffile, out.notes);
  if (!fcols.ok()) return fail(fcols.error());
  const int fact_width = static_cast<int>(row.size());
  auto col = [&](const Columns& c, std::string_view name) -> std::string {
    int i = c[name];
    return i >= 0 && i < static_cast<int>(row.size()) ? trim(row[i]) : std::string();
  };
  auto problem = [&](size_t line, std::string reason) { out.problems.emplace_back(line, std::move(reason)); };
  for (;;) {
    auto next = freader->next(row);
    if (!next.ok()) return fail(next.error());
    if (*next == CsvReader::Next::kEnd) break;
    ++out.rows;
    const size_t line = freader->line();
    if (*next == CsvReader::Next::kBadRecord) {
      problem(line, freader->error() + "; row skipped");
      continue;
    }
    if (static_cast<int>(row.size()) != fact_width) {
      problem(line, std::to_string(row.size()) + " columns where the header has " +
                        std::to_string(fact_width) + "; row skipped");
      continue;
    }
    Fact fact;
    std::string pid = col(*fcols, "person_id");
    fact.field = col(*fcols, "field");
    fact.value = col(*fcols, "value");
    fact.date = col(*fcols, "date");
    fact.source = col(*fcols, "source");
    fact.record_type = col(*fcols, "record_type");
    std::string restricted = col(*fcols, "restricted");
    if (options.agreement != nullptr) {
      const auto* def = options.agreement->field(fact.field);
      if (def == nullptr || def->agency != options.agency) {
        problem(line, "field " + show(fact.field) + " is not in the agreement's catalogue for " +
                          options.agency + "; row skipped");
        continue;
      }
    }
    if (fact.value.empty() || fact.value.size() > kMaxValueBytes) {
      problem(line, "value is empty or longer than 4096 bytes; row skipped");
      continue;
    }
    if (!fact.date.empty() && !valid_iso_date(fact.date)) {
      problem(line, "date " + show(fact.date) + " is not a date written YYYY-MM-DD; row skipped");
      continue;
    }
    if (fact.source.size() > 256 || fact.record_type.size() > 64) {
      problem(line, "source or record_type too long; row skipped");
      continue;
    }
    std::string r;
    for (char c : restricted) r.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    if (r == "true" || r == "yes" || r == "1") {
      fact.restricted = true;
    } else if (!(r.empty() || r == "false" || r == "no" || r == "0")) {
      // An unclear marker is treated as restricted: the safe reading, and reported.
      problem(line, "restricted " + show(restricted) + " is not true or false; treated as restricted");
      fact.restricted = true;
    }
    if (pid.empty() || pid.size() > 128) {
      problem(line, "person_id is empty or longer than 128 characters; row skipped");
      continue;
    }
    out.facts.push_back({std::move(pid), line, fact.encode()});
  }
  return out;
}

}  // namespace

namespace {

struct PersonRow {
  std::string id;
  PersonDetails details;
  addr::Address address;  // parsed when the row was checked: not parsed again
  std::vector<addr::Address> previous_addresses;
};

// Builds the stored form of checked rows on its own thread, in the order they were pushed.
class PersonBuilder {
 public:
  PersonBuilder(SortedLoad& persons, SortedLoad& blocks, SortedLoad& ids,
                std::unordered_map<std::string, uint64_t>& freq)
      : persons_(persons), blocks_(blocks), ids_(ids), freq_(freq), thread_([this] { run(); }) {}
  ~PersonBuilder() { finish(); }
  void push(std::vector<PersonRow> batch) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return queue_.size() < 8; });  // bounded: the reader cannot run away
    queue_.push_back(std::move(batch));
    cv_.notify_all();
  }
  // Waits until every pushed row is built.
  void finish() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
      cv_.notify_all();
    }
    if (thread_.joinable()) thread_.join();
  }

 private:
  void run() {
    for (;;) {
      std::vector<PersonRow> batch;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return done_ || !queue_.empty(); });
        if (queue_.empty()) return;
        batch = std::move(queue_.front());
        queue_.pop_front();
        cv_.notify_all();
      }
      for (auto& r : batch) build(r);
    }
  }
  void build(PersonRow& r) {
    auto f = make_features(std::move(r.id), r.details, std::move(r.address), std::move(r.previous_addresses));
    persons_.add(f.id, f.encode());
    for (const auto& k : blocking_keys(f)) blocks_.add(index_prefix(k) + f.id, {});
    for (const auto& [s, v] : f.identifiers) ids_.add(index_prefix(s + "|" + v) + f.id, {});
    for (size_t i = 0; i < f.surnames.size(); ++i) {
      bool repeated = std::find(f.surnames.begin(), f.surnames.begin() + static_cast<long>(i), f.surnames[i]) !=
                      f.surnames.begin() + static_cast<long>(i);
      if (!repeated) ++freq_["s|" + f.surnames[i]];
    }
    if (!f.forenames.empty()) ++freq_["f|" + std::string(text::forename_root(f.forenames[0]))];
  }

  SortedLoad &persons_, &blocks_, &ids_;
  std::unordered_map<std::string, uint64_t>& freq_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::vector<PersonRow>> queue_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace

Result<ImportReport> import_extract(ExtractStore& store, const ImportOptions& options) {
  auto started = std::chrono::steady_clock::now();
  ImportReport report;
  Problems problems(report, options.max_problems_listed);
  auto mapping = load_mapping(options.mapping);
  if (!mapping.ok()) return mapping.error();

  const std::string pfile = options.persons.filename().string();
  const std::string ffile = options.facts.filename().string();

  // The facts file is read on a second thread while the persons are read here; facts about
  // persons not in persons.csv are found when both are done.
  FactsRead facts_read;
  std::thread facts_thread([&] { facts_read = read_facts(options, mapping->second, ffile); });
  struct Join {
    std::thread& t;
    ~Join() {
      if (t.joinable()) t.join();
    }
  } join{facts_thread};

  // --- persons ---
  auto preader = CsvReader::open(options.persons);
  if (!preader.ok()) return preader.error();
  std::vector<std::string> row;
  auto first = preader->next(row);
  if (!first.ok()) return first.error();
  if (*first != CsvReader::Next::kRecord) {
    return make_error(ErrorCode::kInvalidArgument,
                      pfile + ":1: no header line (an empty or unreadable file); nothing was imported");
  }
  static constexpr std::string_view kPersonRequired[] = {"person_id"};
  auto pcols = map_header(row, mapping->first, kPersonColumns, kPersonRequired, pfile, report.notes);
  if (!pcols.ok()) return pcols.error();
  if ((*pcols)["forenames"] < 0 && (*pcols)["surname"] < 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      pfile + ":1: neither 'forenames' nor 'surname' is present; the file is refused");
  }
  const int header_width = static_cast<int>(row.size());

  SortedLoad persons, blocks, ids, facts;
  std::unordered_set<std::string> seen;
  std::unordered_map<std::string, uint64_t> freq;
  // Rows are checked here, in file order; features, blocking keys and encodings are built on a
  // second thread from batches of checked rows.
  constexpr size_t kBatch = 4096;
  std::vector<PersonRow> batch;
  PersonBuilder builder(persons, blocks, ids, freq);
  auto col = [&](const Columns& c, std::string_view name) -> std::string {
    int i = c[name];
    return i >= 0 && i < static_cast<int>(row.size()) ? trim(row[i]) : std::string();
  };
  for (;;) {
    auto next = preader->next(row);
    if (!next.ok()) return next.error();
    if (*next == CsvReader::Next::kEnd) break;
    ++report.persons_read;
    const size_t line = preader->line();
    if (*next == CsvReader::Next::kBadRecord) {
      problems.add(pfile, line, preader->error() + "; row skipped");
      continue;
    }
    if (static_cast<int>(row.size()) != header_width) {
      problems.add(pfile, line,
                   std::to_string(row.size()) + " columns where the header has " +
                       std::to_string(header_width) + "; row skipped");
      continue;
    }
    std::string id = col(*pcols, "person_id");
    if (id.empty() || id.size() > 128) {
      problems.add(pfile, line, "person_id is empty or longer than 128 characters; row skipped");
      continue;
    }
    if (id.find('\0') != std::string::npos) continue;
    std::string fore = col(*pcols, "forenames"), sur = col(*pcols, "surname");
    std::string dob = col(*pcols, "date_of_birth");
    if (fore.size() > kMaxNameBytes || sur.size() > kMaxNameBytes) {
      problems.add(pfile, line, "a name longer than 256 bytes; row skipped");
      continue;
    }
    if (!dob.empty() && !valid_iso_date(dob)) {
      problems.add(pfile, line, "date_of_birth " + show(dob) + " is not a date written YYYY-MM-DD; row skipped");
      continue;
    }
    if (text::name_tokens(sur).empty() && (text::name_tokens(fore).empty() || dob.empty())) {
      problems.add(pfile, line, "needs a surname, or a forename and a date of birth; row skipped");
      continue;
    }
    std::string gender = col(*pcols, "gender");
    {
      std::string g;
      for (char c : gender) g.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
      static const std::set<std::string> kGenders = {"", "f", "m", "o", "u", "female", "male", "other", "unknown"};
      if (!kGenders.count(g)) {
        problems.add(pfile, line, "gender " + show(gender) + " is not female, male, other or unknown; row skipped");
        continue;
      }
    }
    PersonDetails d;
    d.postcode = col(*pcols, "postcode");
    if (!d.postcode.empty() && !normalise_postcode(d.postcode)) {
      problems.add(pfile, line, "postcode " + show(d.postcode) + " is not a postcode; kept without it");
    }
    d.previous_postcodes = split_list(col(*pcols, "previous_postcodes"));
    for (const auto& pc : d.previous_postcodes) {
      if (!normalise_postcode(pc)) {
        problems.add(pfile, line, "previous postcode " + show(pc) + " is not a postcode; kept without it");
      }
    }
    addr::Address address;
    std::vector<addr::Address> previous_addresses;
    if (auto a = addr::parse_address(col(*pcols, "address")); a.ok()) {
      address = std::move(*a);
    } else {
      problems.add(pfile, line, "address: " + a.error().message + "; kept without it");
    }
    for (const auto& pa : split_list(col(*pcols, "previous_addresses"))) {
      if (auto a = addr::parse_address(pa); a.ok()) {
        previous_addresses.push_back(std::move(*a));
      } else {
        problems.add(pfile, line, "previous address: " + a.error().message + "; kept without it");
      }
    }
    if (previous_addresses.size() > kMaxPreviousAddresses) {
      problems.add(pfile, line, "more than " + std::to_string(kMaxPreviousAddresses) +
                                    " previous addresses; the first " + std::to_string(kMaxPreviousAddresses) + " kept");
    }
    d.uprn = col(*pcols, "uprn");
    if (!d.uprn.empty() && !normalise_uprn(d.uprn)) {
      problems.add(pfile, line, "uprn " + show(d.uprn) + " is not a UPRN (1 to 12 digits); kept without it");
    }
    std::vector<std::pair<std::string, std::string>> identifiers;
    for (auto scheme : kIdentifierSchemes) {
      std::string v = col(*pcols, scheme);
      if (v.empty()) continue;
      if (!normalise_identifier(scheme, v)) {
        problems.add(pfile, line,
                     std::string(scheme) + " " + show(v) +
                         (scheme == "nhs" ? " is not a valid NHS number (check digit); "
                                          : " is not a usable identifier; ") +
                         "kept without it, not trusted for matching");
        continue;
      }
      identifiers.emplace_back(std::string(scheme), v);
    }
    // The agency's own schemes: "scheme:value;scheme:value", each scheme declared.
    for (const auto& item : split_list(col(*pcols, "identifiers"))) {
      auto colon = item.find(':');
      std::string scheme = colon == std::string::npos ? std::string() : trim(item.substr(0, colon));
      std::string value = colon == std::string::npos ? std::string() : trim(item.substr(colon + 1));
      if (scheme.empty() || value.empty()) {
        problems.add(pfile, line, "identifiers: " + show(item) + " is not scheme:value; kept without it");
      } else if (std::find(options.identifier_schemes.begin(), options.identifier_schemes.end(), scheme) ==
                 options.identifier_schemes.end()) {
        problems.add(pfile, line, "identifiers: scheme " + show(scheme) +
                                      " is not declared in [matching] identifier_schemes; kept without it");
      } else if (!normalise_local_identifier(value)) {
        problems.add(pfile, line, "identifiers: " + show(item) +
                                      " is not a usable identifier (1 to 32 letters, digits or / - . _); kept without it");
      } else {
        identifiers.emplace_back(std::move(scheme), std::move(value));
      }
    }
    if (!seen.insert(id).second) {
      problems.add(pfile, line, "person_id " + show(id) + " appears again; the later row is skipped");
      continue;
    }
    d.forenames = std::move(fore);
    d.surname = std::move(sur);
    d.other_names = split_list(col(*pcols, "other_names"));
    d.date_of_birth = std::move(dob);
    d.gender = std::move(gender);
    d.identifiers = std::move(identifiers);
    batch.push_back({std::move(id), std::move(d), std::move(address), std::move(previous_addresses)});
    if (batch.size() == kBatch) builder.push(std::move(batch));
    ++report.persons_imported;
  }
  if (!batch.empty()) builder.push(std::move(batch));
  builder.finish();

  auto since = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(); };
  report.read_persons_seconds = since();
  facts_thread.join();
  if (!facts_read.status.ok()) return facts_read.status.error();
  report.notes.insert(report.notes.end(), facts_read.notes.begin(), facts_read.notes.end());
  report.facts_read = facts_read.rows;
  std::unordered_map<std::string_view, uint32_t> fact_seq;
  size_t next_problem = 0;
  for (auto& pf : facts_read.facts) {
    // Problems in file order: those found while reading, then whether the person exists.
    while (next_problem < facts_read.problems.size() && facts_read.problems[next_problem].first < pf.line) {
      problems.add(ffile, facts_read.problems[next_problem].first, facts_read.problems[next_problem].second);
      ++next_problem;
    }
    auto it = seen.find(pf.person_id);
    if (it == seen.end()) {
      problems.add(ffile, pf.line, "person_id " + show(pf.person_id) + " is not in " + pfile + "; row skipped");
      continue;
    }
    uint32_t seq = fact_seq[*it]++;
    std::string key = pf.person_id;
    key.push_back('\0');
    key += be64(seq).substr(4);
    facts.add(key, pf.encoded);
    ++report.facts_imported;
  }
  for (; next_problem < facts_read.problems.size(); ++next_problem) {
    problems.add(ffile, facts_read.problems[next_problem].first, facts_read.problems[next_problem].second);
  }
  facts_read.facts.clear();
  facts_read.facts.shrink_to_fit();
  report.read_facts_seconds = since() - report.read_persons_seconds;
  if (options.strict && report.problem_count > 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      std::to_string(report.problem_count) +
                          " bad rows and --strict was given; nothing was imported (first: " +
                          (report.problems.empty() ? std::string() : report.problems.front()) + ")");
  }
  if (options.dry_run) {
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return report;
  }

  // --- replace the extract in one write transaction ---
  // The largest sort runs beside the others (two cores are the usual agency server's minimum).
  {
    std::thread sorter([&] { blocks.sort(); });
    persons.sort();
    facts.sort();
    ids.sort();
    sorter.join();
  }
  auto txn = store.env_.begin_write();
  if (!txn.ok()) return txn.error();
  for (Dbi d : {store.persons_, store.facts_, store.blocks_, store.ids_, store.freq_, store.meta_}) {
    if (auto st = txn->clear(d); !st.ok()) return st.error();
  }
  if (auto st = persons.write(*txn, store.persons_); !st.ok()) return st.error();
  if (auto st = facts.write(*txn, store.facts_); !st.ok()) return st.error();
  if (auto st = blocks.write(*txn, store.blocks_); !st.ok()) return st.error();
  if (auto st = ids.write(*txn, store.ids_); !st.ok()) return st.error();
  {
    SortedLoad f;
    for (const auto& [k, n] : freq) f.add(k, be64(n));
    if (auto st = f.write(*txn, store.freq_); !st.ok()) return st.error();
  }
  const std::pair<std::string, std::string> meta[] = {
      {"persons", be64(report.persons_imported)},
      {"facts", be64(report.facts_imported)},
      {"imported_at_ms", be64(static_cast<uint64_t>(unix_millis_now()))},
      {"persons_file", pfile},
      {"facts_file", ffile}};
  for (const auto& [k, v] : meta) {
    if (auto st = txn->put(store.meta_, k, v); !st.ok()) return st.error();
  }
  if (auto st = txn->commit(); !st.ok()) return st.error();
  report.write_seconds = since() - report.read_persons_seconds - report.read_facts_seconds;
  report.committed = true;
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

}  // namespace mash::agent
