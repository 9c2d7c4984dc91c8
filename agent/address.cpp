#include "address.h"

#include <algorithm>
#include <array>
#include <utility>

#include "pseudonym.h"
#include "text_match.h"

namespace mash::agent::addr {

namespace {

// Street types as written and spelt out. "st" is handled apart (street or saint).
constexpr std::array<std::pair<std::string_view, std::string_view>, 40> kStreetTypes = {{
    {"rd", "road"},       {"road", "road"},         {"street", "street"},    {"str", "street"},
    {"ave", "avenue"},    {"av", "avenue"},         {"avenue", "avenue"},    {"ln", "lane"},
    {"lane", "lane"},     {"cl", "close"},          {"close", "close"},      {"cres", "crescent"},
    {"cr", "crescent"},   {"crescent", "crescent"}, {"dr", "drive"},         {"drv", "drive"},
    {"drive", "drive"},   {"gdns", "gardens"},      {"gardens", "gardens"},  {"gr", "grove"},
    {"gro", "grove"},     {"grove", "grove"},       {"pl", "place"},         {"place", "place"},
    {"sq", "square"},     {"square", "square"},     {"ter", "terrace"},      {"terr", "terrace"},
    {"tce", "terrace"},   {"terrace", "terrace"},   {"ct", "court"},         {"court", "court"},
    {"pde", "parade"},    {"parade", "parade"},     {"hwy", "highway"},      {"cct", "circuit"},
    {"circuit", "circuit"}, {"wy", "way"},          {"way", "way"},          {"blvd", "boulevard"},
}};

// Words that introduce a flat or other sub-unit: the next token is its number or letter.
constexpr std::array<std::string_view, 9> kSubUnitWords = {
    "flat", "flt", "apartment", "apt", "unit", "room", "suite", "maisonette", "studio"};

std::optional<std::string_view> street_type(std::string_view t) {
  for (const auto& [abbr, full] : kStreetTypes) {
    if (abbr == t) return full;
  }
  return std::nullopt;
}

bool is_sub_unit_word(std::string_view t) {
  return std::find(kSubUnitWords.begin(), kSubUnitWords.end(), t) != kSubUnitWords.end();
}

bool all_digits(std::string_view t) {
  return !t.empty() && std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "14" -> ("14", ""), "14b" -> ("14", "b"); nullopt for anything else.
std::optional<std::pair<std::string, std::string>> building_number(std::string_view t) {
  if (all_digits(t) && t.size() <= 6) return std::make_pair(std::string(t), std::string());
  if (t.size() >= 2 && t.size() <= 7 && all_digits(t.substr(0, t.size() - 1)) && t.back() >= 'a' &&
      t.back() <= 'z') {
    return std::make_pair(std::string(t.substr(0, t.size() - 1)), std::string(1, t.back()));
  }
  return std::nullopt;
}

// One comma-separated part as raw tokens: split on white space; "2/14" stays one token.
std::vector<std::string> raw_tokens(std::string_view part) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < part.size()) {
    while (i < part.size() && (part[i] == ' ' || part[i] == '\t')) ++i;
    size_t j = i;
    while (j < part.size() && part[j] != ' ' && part[j] != '\t') ++j;
    if (j > i) out.emplace_back(part.substr(i, j - i));
    i = j;
  }
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& t : v) {
    if (!s.empty()) s += ' ';
    s += t;
  }
  return s;
}

struct Part {
  std::vector<std::string> words;  // normalised, street type spelt out
  std::string number, sub;
};

// Reads one part: sub-unit words, a building number (also "2/14" and "14-16"), and the words.
Part read_part(std::string_view text) {
  Part p;
  std::vector<std::string> tokens = raw_tokens(text);
  for (size_t i = 0; i < tokens.size(); ++i) {
    std::string raw = tokens[i];
    // "2/14": flat 2 of number 14.
    if (auto slash = raw.find('/'); slash != std::string::npos) {
      std::string a = normalise_name(raw.substr(0, slash)), b = normalise_name(raw.substr(slash + 1));
      auto n = building_number(b);
      if (!a.empty() && n && p.number.empty()) {
        p.sub = a;
        p.number = n->first;
        continue;
      }
    }
    // "14-16": the first number of a range.
    if (auto dash = raw.find('-'); dash != std::string::npos && dash > 0) {
      auto n = building_number(normalise_name(raw.substr(0, dash)));
      if (n && all_digits(normalise_name(raw.substr(dash + 1)))) raw = raw.substr(0, dash);
    }
    std::string t = normalise_name(raw);
    if (t.empty()) continue;
    if (is_sub_unit_word(t) && i + 1 < tokens.size() && p.sub.empty()) {
      std::string next = normalise_name(tokens[i + 1]);
      if (!next.empty() && next.size() <= 6) {
        p.sub = next;
        ++i;
        continue;
      }
    }
    if (p.number.empty() && p.words.empty()) {
      if (auto n = building_number(t)) {
        p.number = n->first;
        if (p.sub.empty()) p.sub = n->second;
        continue;
      }
    }
    p.words.push_back(std::move(t));
  }
  // A UK postcode at the end of the part ("london sw1a 1aa", "acacia rd w69aa") is left out
  // first, so that the street type before it is recognised.
  if (p.words.size() >= 2 && text::parse_uk_postcode(p.words[p.words.size() - 2] + p.words.back())) {
    p.words.resize(p.words.size() - 2);
  } else if (!p.words.empty() && text::parse_uk_postcode(p.words.back())) {
    p.words.pop_back();
  }
  // Street types spelt out; "st" is "street" at the end and "saint" before a name.
  for (size_t i = 0; i < p.words.size(); ++i) {
    std::string& w = p.words[i];
    if (w == "st") {
      w = i + 1 == p.words.size() && i > 0 ? "street" : "saint";
    } else if (i + 1 == p.words.size() && i > 0) {
      if (auto full = street_type(w)) w = std::string(*full);
    }
  }
  return p;
}

bool ends_with_street_type(const Part& p) {
  if (p.words.size() < 2) return false;
  const std::string& last = p.words.back();
  return last == "street" || street_type(last).has_value();
}

bool similar(std::string_view a, std::string_view b, double at_least) {
  if (a.empty() || b.empty()) return false;
  return a == b || text::jaro_winkler(a, b) >= at_least;
}

std::string squeeze(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c != ' ') out += c;
  }
  return out;
}

}  // namespace

std::string street_key(const Address& a) { return squeeze(a.street); }

Result<Address> parse_address(std::string_view line) {
  Address a;
  if (line.size() > kMaxAddressBytes) {
    return make_error(ErrorCode::kInvalidArgument,
                      "address is longer than " + std::to_string(kMaxAddressBytes) + " bytes");
  }
  for (char c : line) {
    if (static_cast<unsigned char>(c) < 0x20 && c != '\t') {
      return make_error(ErrorCode::kInvalidArgument, "address holds a control character");
    }
  }
  std::vector<Part> parts;
  bool any_text = false;
  size_t start = 0;
  while (start <= line.size()) {
    size_t comma = line.find_first_of(",;\n", start);
    if (comma == std::string_view::npos) comma = line.size();
    std::string_view piece = line.substr(start, comma - start);
    start = comma + 1;
    any_text = any_text || piece.find_first_not_of(" \t") != std::string_view::npos;
    if (text::parse_uk_postcode(piece)) continue;  // the postcode column carries it
    Part p = read_part(piece);
    if (p.words.empty() && p.number.empty() && p.sub.empty()) continue;
    parts.push_back(std::move(p));
    if (parts.size() > kMaxAddressParts) {
      return make_error(ErrorCode::kInvalidArgument,
                        "address has more than " + std::to_string(kMaxAddressParts) + " parts");
    }
  }
  if (!any_text) return a;
  // A part that is only a number or a flat ("14", "Flat 2") belongs to the part after it.
  for (size_t i = 0; i + 1 < parts.size();) {
    if (parts[i].words.empty()) {
      Part& next = parts[i + 1];
      if (next.number.empty()) next.number = parts[i].number;
      if (next.sub.empty()) next.sub = parts[i].sub;
      parts.erase(parts.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
  bool has_words = std::any_of(parts.begin(), parts.end(), [](const Part& p) { return !p.words.empty(); });
  if (!has_words) {
    return make_error(ErrorCode::kInvalidArgument, "address has no street, building or place name");
  }
  // The street: the first part with a building number and words, else the first part ending in
  // a street type, else the first part.
  size_t street = parts.size();
  for (size_t i = 0; i < parts.size() && street == parts.size(); ++i) {
    if (!parts[i].number.empty() && !parts[i].words.empty()) street = i;
  }
  for (size_t i = 0; i < parts.size() && street == parts.size(); ++i) {
    if (ends_with_street_type(parts[i])) street = i;
  }
  if (street == parts.size()) {
    // No street: the first part names the building (or the place), the next the locality.
    a.building = join(parts[0].words);
    a.number = parts[0].number;
    a.sub = parts[0].sub;
    if (parts.size() > 1) a.locality = join(parts[1].words);
    for (size_t i = 2; i < parts.size(); ++i) a.town += (a.town.empty() ? "" : " ") + join(parts[i].words);
    return a;
  }
  a.street = join(parts[street].words);
  a.number = parts[street].number;
  a.sub = parts[street].sub;
  for (size_t i = 0; i < street; ++i) {
    if (a.sub.empty() && !parts[i].sub.empty()) a.sub = parts[i].sub;
    if (!parts[i].words.empty()) a.building += (a.building.empty() ? "" : " ") + join(parts[i].words);
  }
  if (street + 1 < parts.size()) a.locality = join(parts[street + 1].words);
  for (size_t i = street + 2; i < parts.size(); ++i) {
    a.town += (a.town.empty() ? "" : " ") + join(parts[i].words);
  }
  return a;
}

const char* level_name(AddressLevel level) {
  switch (level) {
    case AddressLevel::kExact: return "exact";
    case AddressLevel::kNumberStreet: return "number-street";
    case AddressLevel::kNumberStreetSimilar: return "number-street-similar";
    case AddressLevel::kStreetNumberMissing: return "street-number-missing";
    case AddressLevel::kStreet: return "street";
    case AddressLevel::kStreetSimilar: return "street-similar";
    case AddressLevel::kLocality: return "locality";
    case AddressLevel::kDifferent: return "different";
    case AddressLevel::kMissing: return "missing";
  }
  return "missing";
}

AddressLevel compare_addresses(const Address& a, const Address& b) {
  if (a.empty() || b.empty()) return AddressLevel::kMissing;
  const std::string sa = street_key(a), sb = street_key(b);
  const std::string ba = squeeze(a.building), bb = squeeze(b.building);
  const bool direct = !sa.empty() && sa == sb;
  // The street may have been written on the building line on one side (lines swapped).
  const bool crossed = !direct && ((!sa.empty() && sa == bb) || (!sb.empty() && sb == ba));
  const bool street_same = direct || crossed;
  const bool street_close = similar(sa, sb, 0.92);
  const bool number_same = !a.number.empty() && a.number == b.number;
  if (street_same && number_same) {
    return direct && a.sub == b.sub ? AddressLevel::kExact : AddressLevel::kNumberStreet;
  }
  if (street_close && number_same) return AddressLevel::kNumberStreetSimilar;
  if (street_same) {
    return a.number.empty() != b.number.empty() ? AddressLevel::kStreetNumberMissing : AddressLevel::kStreet;
  }
  if (street_close) return AddressLevel::kStreetSimilar;
  const std::string la = squeeze(a.locality), lb = squeeze(b.locality);
  if (similar(la, lb, 0.92) || (!ba.empty() && ba == bb)) return AddressLevel::kLocality;
  return AddressLevel::kDifferent;
}

namespace {

PartLevel compare_part(const std::string& a, const std::string& b) {
  if (a.empty() || b.empty()) return PartLevel::kMissing;
  const std::string x = squeeze(a), y = squeeze(b);
  if (x == y) return PartLevel::kSame;
  return similar(x, y, 0.92) ? PartLevel::kSimilar : PartLevel::kDifferent;
}

}  // namespace

PartLevel compare_building(const Address& a, const Address& b) { return compare_part(a.building, b.building); }
PartLevel compare_locality(const Address& a, const Address& b) { return compare_part(a.locality, b.locality); }

}  // namespace mash::agent::addr
