// Tests for address.h: how UK and other address lines are read, each comparison level, and the
// lines that are refused.
#include "address.h"

#include <catch2/catch.hpp>
#include <string>

namespace mash::agent::addr {
namespace {

Address parsed(const std::string& line) {
  auto a = parse_address(line);
  INFO(line);
  REQUIRE(a.ok());
  return *a;
}

AddressLevel level(const std::string& a, const std::string& b) {
  return compare_addresses(parsed(a), parsed(b));
}

TEST_CASE("address: a UK line is read into number, flat, street, locality and town", "[address]") {
  Address a = parsed("Flat 2, 14 Acacia Rd, Hammersmith, London W6 9AA");
  CHECK(a.number == "14");
  CHECK(a.sub == "2");
  CHECK(a.street == "acacia road");
  CHECK(a.building.empty());
  CHECK(a.locality == "hammersmith");
  CHECK(a.town == "london");  // the postcode at the end is left to the postcode column

  Address pc = parsed("14 Acacia Rd W6 9AA");  // a postcode in the street's part
  CHECK(pc.street == "acacia road");
  CHECK(pc.number == "14");

  Address b = parsed("14b ACACIA ROAD");
  CHECK(b.number == "14");
  CHECK(b.sub == "b");
  CHECK(b.street == "acacia road");

  Address c = parsed("Rose Court, 3 St. John's St., Islington");
  CHECK(c.building == "rose court");
  CHECK(c.number == "3");
  CHECK(c.street == "saint johns street");  // "st" before a name is saint, at the end street
  CHECK(c.locality == "islington");

  Address d = parsed("2/14 Wallaby Pl, Cleveland");  // flat 2 of number 14
  CHECK(d.number == "14");
  CHECK(d.sub == "2");
  CHECK(d.street == "wallaby place");

  Address e = parsed("14-16 High St");
  CHECK(e.number == "14");
  CHECK(e.street == "high street");

  Address f = parsed("Apartment 4B, Riverside House, Mill Lane");  // no building number
  CHECK(f.sub == "4b");
  CHECK(f.number.empty());
  CHECK(f.street == "mill lane");
  CHECK(f.building == "riverside house");

  Address g = parsed("12, Mountain Creek Road, Eaton");  // the number on a line of its own
  CHECK(g.number == "12");
  CHECK(g.street == "mountain creek road");
  CHECK(g.locality == "eaton");

  Address h = parsed("Old Post Office, Tarrant Keyneston");  // a house name and a village
  CHECK(h.building == "old post office");
  CHECK(h.locality == "tarrant keyneston");
  CHECK(h.street.empty());

  CHECK(parsed("").empty());
  CHECK(parsed("  ,  ").empty());
}

TEST_CASE("address: each comparison level", "[address]") {
  CHECK(level("14 Acacia Road, Hammersmith", "14 acacia rd") == AddressLevel::kExact);
  CHECK(level("Flat 2, 14 Acacia Rd", "Flat 2, 14 Acacia Road, Hammersmith") == AddressLevel::kExact);
  // Another flat of the same house, or a flat on one side only: the same building.
  CHECK(level("Flat 2, 14 Acacia Rd", "14b Acacia Road") == AddressLevel::kNumberStreet);
  CHECK(level("Flat 2, 14 Acacia Rd", "14 Acacia Road") == AddressLevel::kNumberStreet);
  // A typo, or a space lost between the street's name and its type.
  CHECK(level("177 pridham street, milton", "177 pridhamstreet, milton") == AddressLevel::kExact);
  CHECK(level("54 hoseason street", "54 hoseasen street") == AddressLevel::kNumberStreetSimilar);
  CHECK(level("16 Acacia Road", "61 Acacia Road") == AddressLevel::kStreet);
  CHECK(level("Acacia Road, Hammersmith", "14 Acacia Road") == AddressLevel::kStreetNumberMissing);
  CHECK(level("16 Acacia Road", "61 Acacai Road") == AddressLevel::kStreetSimilar);
  CHECK(level("3 Mill Lane, Hammersmith", "9 Church Street, Hammersmith") == AddressLevel::kLocality);
  CHECK(level("3 Mill Lane, Hammersmith", "9 Church Street, Fulham") == AddressLevel::kDifferent);
  CHECK(level("3 Mill Lane", "") == AddressLevel::kMissing);
  // The street written on the building line (two lines swapped).
  CHECK(level("27 mackinnon street, aspley", "mackinnon street, 27 jarreah, aspley") == AddressLevel::kNumberStreet);
  CHECK(level("27 mackinnon street, aspley", "mackinnon street, 25 jarreah, aspley") == AddressLevel::kStreet);
  CHECK(std::string(level_name(AddressLevel::kNumberStreetSimilar)) == "number-street-similar");
  // Building names and localities on their own.
  CHECK(compare_building(parsed("Rose Vale, 12 Studley St"), parsed("rosevale, studley street")) == PartLevel::kSame);
  CHECK(compare_building(parsed("Rose Vale, 12 Studley St"), parsed("rose vate, studley street")) == PartLevel::kSimilar);
  CHECK(compare_building(parsed("Rose Vale, 12 Studley St"), parsed("Oak Lodge, 12 Studley St")) == PartLevel::kDifferent);
  CHECK(compare_building(parsed("Rose Vale, 12 Studley St"), parsed("12 Studley St")) == PartLevel::kMissing);
  CHECK(compare_locality(parsed("1 Mill Lane, Fulham"), parsed("1 Mill Lane, Fulhma")) == PartLevel::kSimilar);
  CHECK(compare_locality(parsed("1 Mill Lane, Fulham"), parsed("1 Mill Lane, Putney")) == PartLevel::kDifferent);
}

TEST_CASE("address: lines that cannot be read are refused with a reason", "[address]") {
  auto only_numbers = parse_address("14, 2");
  REQUIRE_FALSE(only_numbers.ok());
  CHECK(only_numbers.error().message == "address has no street, building or place name");
  auto long_line = parse_address(std::string(kMaxAddressBytes + 1, 'a'));
  REQUIRE_FALSE(long_line.ok());
  CHECK(long_line.error().message.find("longer than 512 bytes") != std::string::npos);
  auto control = parse_address("14 Acacia Road\x01");
  REQUIRE_FALSE(control.ok());
  CHECK(control.error().message == "address holds a control character");
  std::string many;
  for (int i = 0; i < 13; ++i) many += "part" + std::to_string(i) + ", ";
  auto parts = parse_address(many);
  REQUIRE_FALSE(parts.ok());
  CHECK(parts.error().message.find("more than 12 parts") != std::string::npos);
}

}  // namespace
}  // namespace mash::agent::addr
