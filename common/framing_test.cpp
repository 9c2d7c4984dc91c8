#include "framing.h"

#include <capnp/message.h>
#include <catch2/catch.hpp>

#include <cstring>

#include "link.capnp.h"

using namespace mash;

namespace {

std::vector<uint8_t> hello_frame(const FrameLimits& limits) {
  capnp::MallocMessageBuilder b;
  auto hello = b.initRoot<wire::Message>().initHello();
  hello.setProtocolVersion(wire::PROTOCOL_VERSION);
  hello.setSoftware("mash-agent test");
  return encode_frame(b, limits);
}

std::span<const uint8_t, kFrameHeaderBytes> header_of(const std::vector<uint8_t>& f) {
  return std::span<const uint8_t, kFrameHeaderBytes>(f.data(), kFrameHeaderBytes);
}

std::span<const uint8_t> body_of(const std::vector<uint8_t>& f) {
  return std::span<const uint8_t>(f.data() + kFrameHeaderBytes, f.size() - kFrameHeaderBytes);
}

// A Hello whose `features` list holds `n` pointers that all point at the same large `software`
// text: small on the wire, `n` times larger when traversed (a pointer-amplification attack).
std::vector<uint8_t> amplified_body(size_t n, bool amplify) {
  capnp::MallocMessageBuilder b(1 << 16);  // one segment: pointers patched below stay in it
  auto hello = b.initRoot<wire::Message>().initHello();
  auto features = hello.initFeatures(static_cast<unsigned>(n));
  for (size_t i = 0; i < n; ++i) features.set(static_cast<unsigned>(i), "x");
  std::string big(4000, 'a');
  hello.setSoftware(big);
  auto words = capnp::messageToFlatArray(b);
  std::vector<uint64_t> w(words.size());
  std::memcpy(w.data(), words.begin(), w.size() * 8);
  if (amplify) {
    // Word 0 is the segment table; pointers are little-endian words. Text "x" is a byte list
    // of 2 elements: low two bits 01, upper half (count << 3) | 2.
    const uint64_t small_upper = (2u << 3) | 2u, big_upper = (4001u << 3) | 2u;
    size_t big_target = 0;
    for (size_t p = 1; p < w.size(); ++p) {
      if ((w[p] & 3) == 1 && (w[p] >> 32) == big_upper) {
        int32_t offset = static_cast<int32_t>(static_cast<uint32_t>(w[p])) >> 2;
        big_target = p + 1 + offset;
      }
    }
    REQUIRE(big_target != 0);
    size_t patched = 0;
    for (size_t q = 1; q < w.size(); ++q) {
      if ((w[q] & 3) == 1 && (w[q] >> 32) == small_upper) {
        int64_t offset = static_cast<int64_t>(big_target) - static_cast<int64_t>(q + 1);
        w[q] = (big_upper << 32) | ((static_cast<uint64_t>(offset) << 2) & 0xffffffffu) | 1u;
        ++patched;
      }
    }
    REQUIRE(patched == n);
  }
  std::vector<uint8_t> out(w.size() * 8);
  std::memcpy(out.data(), w.data(), out.size());
  return out;
}

}  // namespace

TEST_CASE("a frame round-trips through encode and decode", "[framing]") {
  FrameLimits limits;
  auto f = hello_frame(limits);
  auto length = parse_frame_header(header_of(f), limits);
  REQUIRE(length.ok());
  CHECK(*length == f.size() - kFrameHeaderBytes);
  auto frame = decode_frame(body_of(f), limits);
  REQUIRE(frame.ok());
  auto msg = (*frame)->message();
  REQUIRE(msg.which() == wire::Message::HELLO);
  CHECK(std::string(msg.getHello().getSoftware().cStr()) == "mash-agent test");
}

TEST_CASE("frame headers with bad lengths are refused", "[framing]") {
  FrameLimits limits = FrameLimits::for_frame_size(4096);
  std::array<uint8_t, 4> zero{0, 0, 0, 0};
  CHECK_FALSE(parse_frame_header(zero, limits).ok());
  std::array<uint8_t, 4> odd{0, 0, 0, 12};
  CHECK_FALSE(parse_frame_header(odd, limits).ok());
  std::array<uint8_t, 4> huge{0xff, 0xff, 0xff, 0xf8};
  auto r = parse_frame_header(huge, limits);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("exceeds the limit") != std::string::npos);
  std::array<uint8_t, 4> just_over{0, 0, 0x10, 0x08};  // 4104 > 4096
  CHECK_FALSE(parse_frame_header(just_over, limits).ok());
  std::array<uint8_t, 4> at_limit{0, 0, 0x10, 0x00};
  CHECK(parse_frame_header(at_limit, limits).ok());
}

TEST_CASE("malformed frame bodies are refused without throwing", "[framing]") {
  FrameLimits limits;
  // A segment table claiming 2^32-1 segments.
  std::vector<uint8_t> garbage(64, 0xff);
  auto r = decode_frame(garbage, limits);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::kInvalidArgument);
  // A valid segment table whose segment is shorter than claimed.
  std::vector<uint8_t> short_segment = {0, 0, 0, 0, 100, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  CHECK_FALSE(decode_frame(short_segment, limits).ok());
  // A root pointer pointing far outside its segment.
  std::vector<uint8_t> bad_pointer = {0, 0, 0, 0, 1, 0, 0, 0, 0xfc, 0xff, 0xff, 0x0f, 1, 0, 1, 0};
  CHECK_FALSE(decode_frame(bad_pointer, limits).ok());
  // Trailing bytes after a valid message.
  auto f = hello_frame(limits);
  std::vector<uint8_t> trailing(f.begin() + kFrameHeaderBytes, f.end());
  trailing.resize(trailing.size() + 8, 0);
  CHECK_FALSE(decode_frame(trailing, limits).ok());
}

TEST_CASE("pointer amplification trips the traversal limit", "[framing]") {
  auto limits = FrameLimits::for_frame_size(64 * 1024);
  auto honest = amplified_body(2000, false);
  REQUIRE(honest.size() < limits.max_frame_bytes);
  REQUIRE(decode_frame(honest, limits).ok());
  auto amplified = amplified_body(2000, true);
  REQUIRE(amplified.size() == honest.size());
  auto r = decode_frame(amplified, limits);
  REQUIRE_FALSE(r.ok());
  // Cap'n Proto reports the exhausted read budget as an out-of-bounds pointer; show that it is
  // the budget: with an unlimited budget the same bytes decode.
  FrameLimits generous = limits;
  generous.traversal_limit_words = 1ull << 32;
  auto generous_result = decode_frame(amplified, generous);
  INFO((generous_result.ok() ? std::string("ok") : generous_result.error().message));
  CHECK(generous_result.ok());
}

TEST_CASE("an outgoing message over the frame limit is a bug, not a silent truncation",
          "[framing]") {
  auto limits = FrameLimits::for_frame_size(4096);
  capnp::MallocMessageBuilder b;
  b.initRoot<wire::Message>().initHello().setSoftware(std::string(8000, 'a'));
  CHECK_THROWS_AS(encode_frame(b, limits), std::length_error);
}

TEST_CASE("nested messages are decoded with the same limits", "[framing]") {
  capnp::MallocMessageBuilder b;
  auto body = b.initRoot<wire::EnquiryBody>();
  body.setCaseRef("C-1");
  body.setPurpose("safeguarding");
  auto bytes = serialize_message(b);
  auto nested = NestedMessage::decode(bytes, FrameLimits{});
  REQUIRE(nested.ok());
  CHECK(std::string((*nested)->root<wire::EnquiryBody>().getCaseRef().cStr()) == "C-1");
  bytes[0] = 0xff;
  bytes[1] = 0xff;
  CHECK_FALSE(NestedMessage::decode(bytes, FrameLimits{}).ok());
  CHECK_FALSE(NestedMessage::decode(std::vector<uint8_t>(5, 0), FrameLimits{}).ok());
}
