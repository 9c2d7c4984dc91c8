// Implementation of pseudonym.h. Normalisation works on code points decoded from UTF-8 by hand
// (no locale, no ICU): a malformed sequence is dropped one byte at a time.
#include "pseudonym.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>

namespace mash {

namespace {

constexpr std::string_view kDomain = "mash-pseudonym-v1";

bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

char ascii_upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }

bool is_ascii_alnum(char c) {
  return is_ascii_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ascii_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ascii_space(s.back())) s.remove_suffix(1);
  return s;
}

// Decodes one code point from the front of s into cp and returns its length in bytes, or 0 for
// a malformed, overlong, surrogate or out-of-range sequence.
size_t decode_utf8(std::string_view s, uint32_t& cp) {
  const auto b0 = static_cast<uint8_t>(s[0]);
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  size_t len = 0;
  uint32_t min = 0;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, cp = b0 & 0x1Fu, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, cp = b0 & 0x0Fu, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, cp = b0 & 0x07u, min = 0x10000;
  } else {
    return 0;
  }
  if (s.size() < len) return 0;
  for (size_t i = 1; i < len; ++i) {
    const auto b = static_cast<uint8_t>(s[i]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3Fu);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

// clang-format off
// Base letters for U+00C0..U+00FF; "" drops the character (× and ÷).
constexpr std::array<std::string_view, 64> kLatin1 = {
    "a",  "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i",  "i",  // C0-CF
    "d",  "n", "o", "o", "o", "o", "o",  "",  "o", "u", "u", "u", "u", "y", "th", "ss", // D0-DF
    "a",  "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i",  "i",  // E0-EF
    "d",  "n", "o", "o", "o", "o", "o",  "",  "o", "u", "u", "u", "u", "y", "th", "y",  // F0-FF
};

// Base letters for Latin Extended-A, U+0100..U+017F.
constexpr std::array<std::string_view, 128> kLatinExtA = {
    "a",  "a",  "a", "a", "a", "a", "c", "c", "c", "c", "c", "c", "c", "c", "d", "d",  // 100-10F
    "d",  "d",  "e", "e", "e", "e", "e", "e", "e", "e", "e", "e", "g", "g", "g", "g",  // 110-11F
    "g",  "g",  "g", "g", "h", "h", "h", "h", "i", "i", "i", "i", "i", "i", "i", "i",  // 120-12F
    "i",  "i",  "ij", "ij", "j", "j", "k", "k", "k", "l", "l", "l", "l", "l", "l", "l",  // 130-13F
    "l",  "l",  "l", "n", "n", "n", "n", "n", "n", "n", "n", "n", "o", "o", "o", "o",  // 140-14F
    "o",  "o",  "oe", "oe", "r", "r", "r", "r", "r", "r", "s", "s", "s", "s", "s", "s",  // 150-15F
    "s",  "s",  "t", "t", "t", "t", "t", "t", "u", "u", "u", "u", "u", "u", "u", "u",  // 160-16F
    "u",  "u",  "u", "u", "w", "w", "y", "y", "y", "z", "z", "z", "z", "z", "z", "s",  // 170-17F
};
// clang-format on

// What a code point contributes to a normalised name.
std::string_view fold(uint32_t cp, char& ascii) {
  if (cp < 0x80) {
    const auto c = static_cast<char>(cp);
    if (!is_ascii_alnum(c)) return {};
    ascii = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    return {&ascii, 1};
  }
  if (cp >= 0xC0 && cp <= 0xFF) return kLatin1[cp - 0xC0];
  if (cp >= 0x100 && cp <= 0x17F) return kLatinExtA[cp - 0x100];
  if (cp >= 0x218 && cp <= 0x219) return "s";  // Romanian Ș ș (comma below)
  if (cp >= 0x21A && cp <= 0x21B) return "t";  // Romanian Ț ț
  return {};
}

// The first whitespace-separated forename that normalises to something, or "".
std::string first_forename(std::string_view forenames) {
  size_t i = 0;
  while (i < forenames.size()) {
    while (i < forenames.size() && is_ascii_space(forenames[i])) ++i;
    size_t j = i;
    while (j < forenames.size() && !is_ascii_space(forenames[j])) ++j;
    std::string n = normalise_name(forenames.substr(i, j - i));
    if (!n.empty()) return n;
    i = j;
  }
  return {};
}

std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// The normalised identifier value for a known scheme, or "" to skip it.
std::string normalise_identifier(std::string_view scheme, std::string_view value) {
  std::string out;
  if (scheme == "nhs") {
    for (char c : value) {
      if (is_ascii_digit(c)) out += c;
    }
    return valid_nhs_number(out) ? out : std::string();
  }
  if (scheme == "upn") {
    for (char c : value) {
      if (is_ascii_alnum(c)) out += ascii_upper(c);
    }
    return out;
  }
  if (scheme == "pnc") {
    for (char c : value) {
      if (is_ascii_alnum(c) || c == '/') out += ascii_upper(c);
    }
    return out;
  }
  if (scheme == "probation" || scheme == "housing") {
    for (char c : trim(value)) {
      if (!is_ascii_space(c)) out += ascii_upper(c);
    }
    return out;
  }
  return {};  // unknown scheme
}

}  // namespace

std::string normalise_name(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  while (!name.empty()) {
    uint32_t cp = 0;
    size_t len = decode_utf8(name, cp);
    if (len == 0) {
      name.remove_prefix(1);
      continue;
    }
    name.remove_prefix(len);
    char ascii = 0;
    out += fold(cp, ascii);
  }
  return out;
}

bool valid_nhs_number(std::string_view digits) {
  if (digits.size() != 10) return false;
  if (!std::all_of(digits.begin(), digits.end(), is_ascii_digit)) return false;
  if (std::all_of(digits.begin(), digits.end(), [&](char c) { return c == digits[0]; })) {
    return false;
  }
  int sum = 0;
  for (int i = 0; i < 9; ++i) sum += (digits[i] - '0') * (10 - i);
  int check = 11 - sum % 11;
  if (check == 11) check = 0;
  if (check == 10) return false;  // numbers with this remainder are never issued
  return check == digits[9] - '0';
}

bool valid_iso_date(std::string_view date) {
  if (date.size() != 10 || date[4] != '-' || date[7] != '-') return false;
  auto number = [&](size_t pos, size_t len, int& out) {
    out = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (!is_ascii_digit(date[i])) return false;
      out = out * 10 + (date[i] - '0');
    }
    return true;
  };
  int year = 0, month = 0, day = 0;
  if (!number(0, 4, year) || !number(5, 2, month) || !number(8, 2, day)) return false;
  if (year < 1 || month < 1 || month > 12 || day < 1) return false;
  static constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  const int max_day = (month == 2 && leap) ? 29 : kDays[month - 1];
  return day <= max_day;
}

Pseudonymizer::Pseudonymizer(HashKey key) : key_(std::move(key)) {}

std::string Pseudonymizer::make(std::string_view kind, std::string_view normalised) const {
  std::string input;
  input.reserve(kDomain.size() + kind.size() + normalised.size() + 2);
  input.append(kDomain).append("|").append(kind).append("|").append(normalised);
  const auto digest =
      key_.hash(std::span(reinterpret_cast<const uint8_t*>(input.data()), input.size()));
  return std::string(kind) + ":" + to_hex(digest);
}

std::vector<std::string> Pseudonymizer::pseudonyms(const PersonDetails& person) const {
  std::vector<std::string> out;
  auto add = [&](std::string p) {
    if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(std::move(p));
  };

  const std::string forename = first_forename(person.forenames);
  const std::string surname = normalise_name(person.surname);
  const std::string_view dob = trim(person.date_of_birth);
  if (!forename.empty() && !surname.empty() && valid_iso_date(dob)) {
    std::string fields = forename;
    fields.append("|").append(surname).append("|").append(dob);
    add(make("name-dob", fields));
  }

  for (const auto& [scheme, value] : person.identifiers) {
    const std::string kind = lower_ascii(trim(scheme));
    const std::string normalised = normalise_identifier(kind, value);
    if (!normalised.empty()) add(make(kind, normalised));
  }
  return out;
}

}  // namespace mash
