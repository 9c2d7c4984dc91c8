#include "framing.h"

#include <capnp/any.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <cstring>
#include <stdexcept>

namespace mash {
namespace {

capnp::ReaderOptions reader_options(const FrameLimits& limits) {
  capnp::ReaderOptions options;
  options.traversalLimitInWords = limits.traversal_limit_words;
  options.nestingLimit = limits.nesting_limit;
  return options;
}

kj::Array<capnp::word> copy_to_words(std::span<const uint8_t> bytes) {
  auto words = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
  std::memcpy(words.begin(), bytes.data(), words.size() * sizeof(capnp::word));
  return words;
}

// Builds a reader over `words` and traverses the whole message once so that every limit is
// checked now rather than when some later code happens to read a field.
Result<std::unique_ptr<capnp::FlatArrayMessageReader>> checked_reader(
    const kj::Array<capnp::word>& words, const FrameLimits& limits) {
  try {
    auto reader = std::make_unique<capnp::FlatArrayMessageReader>(words.asPtr(),
                                                                  reader_options(limits));
    if (reader->getEnd() != words.end()) {
      return make_error(ErrorCode::kInvalidArgument,
                        "frame has bytes after the end of its Cap'n Proto message");
    }
    reader->getRoot<capnp::AnyPointer>().targetSize();
    return reader;
  } catch (const kj::Exception& e) {
    return make_error(ErrorCode::kInvalidArgument,
                      std::string("malformed Cap'n Proto message: ") + e.getDescription().cStr());
  }
}

}  // namespace

FrameLimits FrameLimits::for_frame_size(uint32_t max_frame_bytes) {
  FrameLimits limits;
  limits.max_frame_bytes = max_frame_bytes;
  limits.traversal_limit_words = 4ull * max_frame_bytes / sizeof(capnp::word);
  return limits;
}

Frame::Frame(kj::Array<capnp::word> words, const FrameLimits& limits) : words_(kj::mv(words)) {
  reader_ = std::make_unique<capnp::FlatArrayMessageReader>(words_.asPtr(),
                                                            reader_options(limits));
}

Result<uint32_t> parse_frame_header(std::span<const uint8_t, kFrameHeaderBytes> header,
                                    const FrameLimits& limits) {
  uint32_t length = (uint32_t{header[0]} << 24) | (uint32_t{header[1]} << 16) |
                    (uint32_t{header[2]} << 8) | uint32_t{header[3]};
  if (length == 0) {
    return make_error(ErrorCode::kInvalidArgument, "frame length is zero");
  }
  if (length > limits.max_frame_bytes) {
    return make_error(ErrorCode::kInvalidArgument,
                      "frame length " + std::to_string(length) + " exceeds the limit of " +
                          std::to_string(limits.max_frame_bytes) + " bytes");
  }
  if (length % sizeof(capnp::word) != 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "frame length " + std::to_string(length) + " is not a multiple of 8");
  }
  return length;
}

Result<std::unique_ptr<Frame>> decode_frame(std::span<const uint8_t> body,
                                            const FrameLimits& limits) {
  if (body.empty() || body.size() % sizeof(capnp::word) != 0 ||
      body.size() > limits.max_frame_bytes) {
    return make_error(ErrorCode::kInvalidArgument, "frame body has an invalid length");
  }
  auto words = copy_to_words(body);
  auto checked = checked_reader(words, limits);
  if (!checked.ok()) return checked.error();
  // The check consumed part of the traversal budget; the Frame gets a fresh reader.
  return std::make_unique<Frame>(kj::mv(words), limits);
}

std::vector<uint8_t> encode_frame(capnp::MessageBuilder& message, const FrameLimits& limits) {
  auto words = capnp::messageToFlatArray(message);
  auto bytes = words.asBytes();
  if (bytes.size() > limits.max_frame_bytes) {
    throw std::length_error("outgoing frame of " + std::to_string(bytes.size()) +
                            " bytes exceeds the limit of " +
                            std::to_string(limits.max_frame_bytes));
  }
  std::vector<uint8_t> out(kFrameHeaderBytes + bytes.size());
  uint32_t n = static_cast<uint32_t>(bytes.size());
  out[0] = static_cast<uint8_t>(n >> 24);
  out[1] = static_cast<uint8_t>(n >> 16);
  out[2] = static_cast<uint8_t>(n >> 8);
  out[3] = static_cast<uint8_t>(n);
  std::memcpy(out.data() + kFrameHeaderBytes, bytes.begin(), bytes.size());
  return out;
}

Result<std::unique_ptr<NestedMessage>> NestedMessage::decode(std::span<const uint8_t> bytes,
                                                             const FrameLimits& limits) {
  if (bytes.empty() || bytes.size() % sizeof(capnp::word) != 0 ||
      bytes.size() > limits.max_frame_bytes) {
    return make_error(ErrorCode::kInvalidArgument, "nested message has an invalid length");
  }
  auto words = copy_to_words(bytes);
  auto checked = checked_reader(words, limits);
  if (!checked.ok()) return checked.error();
  std::unique_ptr<NestedMessage> nested(new NestedMessage());
  nested->words_ = kj::mv(words);
  nested->reader_ = std::make_unique<capnp::FlatArrayMessageReader>(nested->words_.asPtr(),
                                                                    reader_options(limits));
  return nested;
}

std::vector<uint8_t> serialize_message(capnp::MessageBuilder& message) {
  auto words = capnp::messageToFlatArray(message);
  auto bytes = words.asBytes();
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

}  // namespace mash
