// Framing for the agent link: a 4-byte big-endian length, then one Cap'n Proto message in the
// standard serialisation (segment table included).
//
// Everything read from the network passes through decode_frame(), which enforces hard limits
// before anything else looks at the bytes: the frame length (checked from the 4-byte header, so an
// oversized frame is refused before its body is read), the segment table, the Cap'n Proto
// traversal limit (defends against pointer amplification) and nesting limit. The whole message
// is traversed once on decode, so a frame that would trip a limit later is refused up front.
#pragma once

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "link.capnp.h"
#include "result.h"

namespace mash {

struct FrameLimits {
  // Largest frame body accepted, in bytes. Must be a multiple of 8 (Cap'n Proto words).
  uint32_t max_frame_bytes = 4u << 20;
  // Words that may be traversed while reading one message; several times the frame size so that
  // a legitimate message can be validated and then read, but an amplified one cannot.
  uint64_t traversal_limit_words = 4ull * (4u << 20) / 8;
  // Depth of nested structs and lists.
  int nesting_limit = 16;

  // Limits derived from a frame size, with the traversal limit at four passes over the frame.
  static FrameLimits for_frame_size(uint32_t max_frame_bytes);
};

inline constexpr size_t kFrameHeaderBytes = 4;

// A decoded, validated frame. The reader refers into `words`, which the Frame owns.
class Frame {
 public:
  Frame(kj::Array<capnp::word> words, const FrameLimits& limits);
  Frame(const Frame&) = delete;
  Frame& operator=(const Frame&) = delete;

  wire::Message::Reader message() { return reader_->getRoot<wire::Message>(); }
  size_t size_bytes() const { return words_.size() * sizeof(capnp::word); }

 private:
  kj::Array<capnp::word> words_;
  std::unique_ptr<capnp::FlatArrayMessageReader> reader_;
};

// Reads the length from a 4-byte header; refuses zero, a length that is not a whole number of
// words, and anything over the limit.
Result<uint32_t> parse_frame_header(std::span<const uint8_t, kFrameHeaderBytes> header,
                                    const FrameLimits& limits);

// Validates a frame body (the bytes after the header). Never throws: every Cap'n Proto error
// (bad segment table, out-of-bounds pointer, traversal or nesting limit) becomes an Error.
Result<std::unique_ptr<Frame>> decode_frame(std::span<const uint8_t> body,
                                            const FrameLimits& limits);

// Serialises a message with its header. Throws std::length_error if the message would exceed
// `max_frame_bytes` (our own messages must never be refused by the peer).
std::vector<uint8_t> encode_frame(capnp::MessageBuilder& message, const FrameLimits& limits);

// Decodes a message carried inside a Data field (e.g. EnquiryBody) with the same limits.
// The returned reader owns a copy of the bytes.
class NestedMessage {
 public:
  static Result<std::unique_ptr<NestedMessage>> decode(std::span<const uint8_t> bytes,
                                                       const FrameLimits& limits);
  template <typename T>
  typename T::Reader root() { return reader_->getRoot<T>(); }

 private:
  NestedMessage() = default;
  kj::Array<capnp::word> words_;
  std::unique_ptr<capnp::FlatArrayMessageReader> reader_;
};

// The standard serialisation of a message, for carrying inside a Data field (e.g. the body of an
// enquiry). A signature covers exactly these bytes; the receiver verifies the bytes it received.
std::vector<uint8_t> serialize_message(capnp::MessageBuilder& message);

}  // namespace mash
