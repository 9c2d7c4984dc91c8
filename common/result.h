// Result<T>: a value or an Error, for module boundaries and wherever untrusted input is handled.
// Exceptions are for bugs and broken connections; anticipated outcomes are values.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace mash {

// A small set of codes, in the spirit of absl::Status: pick the most specific.
enum class ErrorCode {
  kInvalidArgument,     // the caller's input is malformed or out of limits
  kNotFound,            // a named thing does not exist
  kAlreadyExists,       // creating something that exists
  kPermissionDenied,    // authenticated, but not allowed
  kUnauthenticated,     // identity could not be established
  kFailedPrecondition,  // the system is not in a state where this can be done
  kUnavailable,         // a transient failure: try again later
  kDataLoss,            // stored data is corrupt or inconsistent
  kInternal,            // a bug or an unexpected library failure
};

const char* to_string(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
};

inline Error make_error(ErrorCode code, std::string message) {
  return Error{code, std::move(message)};
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}           // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}       // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { return std::get<Error>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Result<void>: success or an Error.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT: implicit by design
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace mash
