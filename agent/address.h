// Addresses for the agent's person matching: one address line parsed into the parts that tell
// two addresses apart, and the Fellegi-Sunter comparison levels between two of them.
//
// Agencies and referrers write the same home in many ways: "Flat 2, 14 Acacia Rd, Hammersmith",
// "14b Acacia Road", "14 ACACIA ROAD HAMMERSMITH". The line is split at commas; the part with the
// building number and the street name is the street (street types spelt out: rd -> road,
// st -> street at the end or saint before a name, ave -> avenue, ...), parts before it name the
// building, the first part after it is the locality (the district or village), later parts the
// town. A flat ("flat 2", "apartment 4", "unit 3", "2/14") or a letter after the number ("14b")
// is the sub-unit, compared apart from the building number. A UK postcode inside the line is
// left out (the postcode column carries it).
//
// Levels, best first (compare_addresses): exact (number, sub-unit and street), number-street
// (same building number and street: another flat of the same house, or one side gives no flat),
// number-street-similar (same number, street spelt nearly the same: a typo or a missing space),
// street-number-missing (same street, a number on one side only), street (same street, other
// numbers), street-similar, locality (same locality or building name only), different. A level says how alike the two addresses are; the matcher weighs it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "result.h"

namespace mash::agent::addr {

struct Address {
  std::string number;    // building number, digits only ("14" from "14b", "14-16", "2/14")
  std::string sub;       // flat or sub-unit ("2" from "Flat 2", "b" from "14b"), or empty
  std::string street;    // street tokens spelt out and joined with spaces: "acacia road"
  std::string building;  // building or house name, parts before the street: "rose court"
  std::string locality;  // the first part after the street: "hammersmith"
  std::string town;      // later parts: "london"

  bool empty() const { return street.empty() && building.empty() && locality.empty(); }
  friend bool operator==(const Address&, const Address&) = default;
};

// The most an address line may hold.
inline constexpr size_t kMaxAddressBytes = 512;
inline constexpr size_t kMaxAddressParts = 12;

// Parses one address line. An error (kInvalidArgument, a plain reason) for a line that is too
// long, has too many parts, holds control characters, or has no street, building or place name
// (only numbers, say): such a line is reported, never guessed at. An empty or blank line gives
// an empty Address.
Result<Address> parse_address(std::string_view line);

enum class AddressLevel {
  kExact,
  kNumberStreet,
  kNumberStreetSimilar,
  kStreetNumberMissing,  // same street, the building number given on one side only
  kStreet,               // same street, other building numbers
  kStreetSimilar,
  kLocality,
  kDifferent,
  kMissing,  // one side has no address
};

const char* level_name(AddressLevel level);  // "exact", "number-street", ...

AddressLevel compare_addresses(const Address& a, const Address& b);

// The building name and the locality compared on their own (the matcher adds them to the
// street's level): the same, nearly the same (Jaro-Winkler >= 0.92 with the spaces taken out),
// different, or missing on one side.
enum class PartLevel { kSame, kSimilar, kDifferent, kMissing };
PartLevel compare_building(const Address& a, const Address& b);
PartLevel compare_locality(const Address& a, const Address& b);

// The street with its spaces taken out ("acaciaroad"): what the comparison and the blocking
// keys use, so that "pridhamstreet" and "pridham street" are the same street.
std::string street_key(const Address& a);

}  // namespace mash::agent::addr
