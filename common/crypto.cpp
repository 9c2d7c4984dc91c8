// Implementation of crypto.h over libsodium. Secret material that passes through local buffers
// (seeds, key file text) is wiped with sodium_memzero before the buffer goes away.
#include "crypto.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace mash {

namespace {

constexpr std::string_view kSigningKeyHeader = "mash-ed25519-secret-key-v1";
constexpr std::string_view kVerifyKeyHeader = "mash-ed25519-public-key-v1";
constexpr std::string_view kHashKeyHeader = "mash-hash-key-v1";

// A key file is one short line; anything much longer is not a key file.
constexpr size_t kMaxKeyFileSize = 1024;

static_assert(crypto_sign_SECRETKEYBYTES == 64);
static_assert(crypto_sign_PUBLICKEYBYTES == 32);
static_assert(crypto_sign_SEEDBYTES == 32);
static_assert(crypto_sign_BYTES == 64);

void ensure_init() {
  if (Status s = crypto_init(); !s.ok()) throw std::runtime_error(s.error().message);
}

// Wipes a buffer when it goes out of scope.
class WipeOnExit {
 public:
  WipeOnExit(void* data, size_t size) : data_(data), size_(size) {}
  WipeOnExit(const WipeOnExit&) = delete;
  WipeOnExit& operator=(const WipeOnExit&) = delete;
  ~WipeOnExit() { sodium_memzero(data_, size_); }

 private:
  void* data_;
  size_t size_;
};

Error errno_error(const std::string& what, int err) {
  ErrorCode code = ErrorCode::kInternal;
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      code = ErrorCode::kNotFound;
      break;
    case EACCES:
    case EPERM:
    case EROFS:
      code = ErrorCode::kPermissionDenied;
      break;
    case EEXIST:
      code = ErrorCode::kAlreadyExists;
      break;
    case ENOSPC:
    case EDQUOT:
    case EIO:
    case EINTR:
      code = ErrorCode::kUnavailable;
      break;
    default:
      break;
  }
  return make_error(code, what + ": " + std::system_category().message(err));
}

// Closes a file descriptor on scope exit unless released.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  ~FdCloser() {
    if (fd_ >= 0) ::close(fd_);
  }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

std::string mode_string(mode_t mode) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// Creates path (refusing to replace anything there) and writes "<header> <base64(key)>\n".
Status write_key_file(const std::filesystem::path& path, std::string_view header,
                      std::span<const uint8_t, 32> key, mode_t mode) {
  constexpr size_t kB64Len = sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL);
  std::array<char, 64 + kB64Len + 2> line{};
  WipeOnExit wipe_line(line.data(), line.size());
  if (header.size() > 64) throw std::logic_error("key file header too long");

  size_t n = 0;
  std::memcpy(line.data(), header.data(), header.size());
  n += header.size();
  line[n++] = ' ';
  sodium_bin2base64(line.data() + n, kB64Len, key.data(), key.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  n += kB64Len - 1;  // without the terminating NUL
  line[n++] = '\n';

  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, mode);
  if (fd < 0) {
    int err = errno;
    if (err == EEXIST) {
      return make_error(ErrorCode::kAlreadyExists,
                        "key file " + path.string() + " already exists; refusing to overwrite it");
    }
    return errno_error("cannot create key file " + path.string(), err);
  }
  FdCloser closer(fd);

  auto fail = [&](const std::string& what, int err) -> Status {
    ::close(closer.release());
    ::unlink(path.c_str());  // we created it, so a partial file is ours to remove
    return errno_error(what + " " + path.string(), err);
  };

  size_t written = 0;
  while (written < n) {
    ssize_t w = ::write(fd, line.data() + written, n - written);
    if (w < 0) {
      if (errno == EINTR) continue;
      return fail("cannot write key file", errno);
    }
    written += static_cast<size_t>(w);
  }
  if (::fsync(fd) != 0) return fail("cannot sync key file", errno);
  if (::close(closer.release()) != 0) {
    int err = errno;
    ::unlink(path.c_str());
    return errno_error("cannot close key file " + path.string(), err);
  }
  return {};
}

// Reads a key file written by write_key_file into out. For secret keys, refuses a file that group
// or others may read or write. Never puts file contents into error messages.
Status read_key_file(const std::filesystem::path& path, std::string_view header, bool secret,
                     std::span<uint8_t, 32> out) {
  const std::string p = path.string();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return errno_error("cannot open key file " + p, errno);
  FdCloser closer(fd);

  struct stat st {};
  if (::fstat(fd, &st) != 0) return errno_error("cannot stat key file " + p, errno);
  if (!S_ISREG(st.st_mode)) {
    return make_error(ErrorCode::kInvalidArgument, "key file " + p + " is not a regular file");
  }
  if (secret && (st.st_mode & 077) != 0) {
    return make_error(ErrorCode::kPermissionDenied, "key file " + p + " has mode " +
                                                        mode_string(st.st_mode) +
                                                        "; it must be 0600 (chmod 600 " + p + ")");
  }

  std::array<char, kMaxKeyFileSize + 1> buf{};
  WipeOnExit wipe_buf(buf.data(), buf.size());
  size_t n = 0;
  while (n < buf.size()) {
    ssize_t r = ::read(fd, buf.data() + n, buf.size() - n);
    if (r < 0) {
      if (errno == EINTR) continue;
      return errno_error("cannot read key file " + p, errno);
    }
    if (r == 0) break;
    n += static_cast<size_t>(r);
  }
  const std::string expected =
      "expected one line '" + std::string(header) + " <base64 of 32 bytes>'";
  if (n > kMaxKeyFileSize) {
    return make_error(ErrorCode::kInvalidArgument,
                      "key file " + p + " is malformed: too large to be a key file; " + expected);
  }
  std::string_view text(buf.data(), n);
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  const size_t space = text.find(' ');
  if (space == std::string_view::npos) {
    return make_error(ErrorCode::kInvalidArgument, "key file " + p + " is malformed: " + expected);
  }
  const std::string_view found_header = text.substr(0, space);
  if (found_header != header) {
    std::string what = "key file " + p + " is malformed: " + expected;
    // Name a wrong kind of key file, but echo nothing that could be key material.
    for (std::string_view known : {kSigningKeyHeader, kVerifyKeyHeader, kHashKeyHeader}) {
      if (found_header == known) {
        what = "key file " + p + " holds a '" + std::string(known) + "', expected a '" +
               std::string(header) + "'";
      }
    }
    return make_error(ErrorCode::kInvalidArgument, what);
  }
  const std::string_view b64 = text.substr(space + 1);
  size_t bin_len = 0;
  if (sodium_base642bin(out.data(), out.size(), b64.data(), b64.size(), nullptr, &bin_len, nullptr,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      bin_len != out.size()) {
    sodium_memzero(out.data(), out.size());
    return make_error(
        ErrorCode::kInvalidArgument,
        "key file " + p + " is malformed: the key is not 32 bytes of base64; " + expected);
  }
  return {};
}

}  // namespace

Status crypto_init() {
  static std::once_flag once;
  static int rc = -1;
  std::call_once(once, [] { rc = sodium_init(); });
  if (rc < 0) return make_error(ErrorCode::kInternal, "libsodium failed to initialise");
  return {};
}

// ---------------------------------------------------------------------------------------------
// SigningKey

SigningKey::SigningKey() = default;

SigningKey::SigningKey(SigningKey&& other) noexcept : sk_(other.sk_), live_(other.live_) {
  sodium_memzero(other.sk_.data(), other.sk_.size());
  other.live_ = false;
}

SigningKey& SigningKey::operator=(SigningKey&& other) noexcept {
  if (this != &other) {
    sk_ = other.sk_;
    live_ = other.live_;
    sodium_memzero(other.sk_.data(), other.sk_.size());
    other.live_ = false;
  }
  return *this;
}

SigningKey::~SigningKey() { sodium_memzero(sk_.data(), sk_.size()); }

void SigningKey::check_live() const {
  if (!live_) throw std::logic_error("use of a moved-from SigningKey");
}

SigningKey SigningKey::generate() {
  ensure_init();
  SigningKey key;
  std::array<uint8_t, 32> pk{};
  crypto_sign_keypair(pk.data(), key.sk_.data());
  key.live_ = true;
  return key;
}

SigningKey SigningKey::from_seed(std::span<const uint8_t, 32> seed) {
  ensure_init();
  SigningKey key;
  std::array<uint8_t, 32> pk{};
  crypto_sign_seed_keypair(pk.data(), key.sk_.data(), seed.data());
  key.live_ = true;
  return key;
}

VerifyKey SigningKey::verify_key() const {
  check_live();
  VerifyKey vk;
  crypto_sign_ed25519_sk_to_pk(vk.bytes.data(), sk_.data());
  return vk;
}

std::array<uint8_t, 64> SigningKey::sign(std::span<const uint8_t> msg) const {
  check_live();
  ensure_init();
  std::array<uint8_t, 64> sig{};
  crypto_sign_detached(sig.data(), nullptr, msg.data(), msg.size(), sk_.data());
  return sig;
}

bool verify(const VerifyKey& key, std::span<const uint8_t> msg, std::span<const uint8_t> sig) {
  ensure_init();
  if (sig.size() != crypto_sign_BYTES) return false;
  return crypto_sign_verify_detached(sig.data(), msg.data(), msg.size(), key.bytes.data()) == 0;
}

// ---------------------------------------------------------------------------------------------
// Key files

Status save_signing_key(const SigningKey& key, const std::filesystem::path& path) {
  key.check_live();
  ensure_init();
  std::array<uint8_t, 32> seed{};
  WipeOnExit wipe_seed(seed.data(), seed.size());
  crypto_sign_ed25519_sk_to_seed(seed.data(), key.sk_.data());
  return write_key_file(path, kSigningKeyHeader, seed, 0600);
}

Result<SigningKey> load_signing_key(const std::filesystem::path& path) {
  ensure_init();
  std::array<uint8_t, 32> seed{};
  WipeOnExit wipe_seed(seed.data(), seed.size());
  if (Status s = read_key_file(path, kSigningKeyHeader, /*secret=*/true, seed); !s.ok()) {
    return s.error();
  }
  return SigningKey::from_seed(seed);
}

Status save_verify_key(const VerifyKey& key, const std::filesystem::path& path) {
  ensure_init();
  return write_key_file(path, kVerifyKeyHeader, key.bytes, 0644);
}

Result<VerifyKey> load_verify_key(const std::filesystem::path& path) {
  ensure_init();
  VerifyKey key;
  if (Status s = read_key_file(path, kVerifyKeyHeader, /*secret=*/false, key.bytes); !s.ok()) {
    return s.error();
  }
  return key;
}

// ---------------------------------------------------------------------------------------------
// Keyed hashing

std::array<uint8_t, 32> keyed_hash(std::span<const uint8_t, 32> key, std::span<const uint8_t> msg) {
  ensure_init();
  std::array<uint8_t, 32> out{};
  if (crypto_generichash(out.data(), out.size(), msg.data(), msg.size(), key.data(), key.size()) !=
      0) {
    throw std::logic_error("crypto_generichash failed with valid sizes");
  }
  return out;
}

HashKey::HashKey() = default;

HashKey::HashKey(HashKey&& other) noexcept : key_(other.key_), live_(other.live_) {
  sodium_memzero(other.key_.data(), other.key_.size());
  other.live_ = false;
}

HashKey& HashKey::operator=(HashKey&& other) noexcept {
  if (this != &other) {
    key_ = other.key_;
    live_ = other.live_;
    sodium_memzero(other.key_.data(), other.key_.size());
    other.live_ = false;
  }
  return *this;
}

HashKey::~HashKey() { sodium_memzero(key_.data(), key_.size()); }

void HashKey::check_live() const {
  if (!live_) throw std::logic_error("use of a moved-from HashKey");
}

HashKey HashKey::generate() {
  ensure_init();
  HashKey key;
  randombytes_buf(key.key_.data(), key.key_.size());
  key.live_ = true;
  return key;
}

HashKey HashKey::from_bytes(std::span<const uint8_t, 32> bytes) {
  HashKey key;
  std::memcpy(key.key_.data(), bytes.data(), key.key_.size());
  key.live_ = true;
  return key;
}

std::array<uint8_t, 32> HashKey::hash(std::span<const uint8_t> msg) const {
  check_live();
  return keyed_hash(key_, msg);
}

Status save_hash_key(const HashKey& key, const std::filesystem::path& path) {
  key.check_live();
  ensure_init();
  return write_key_file(path, kHashKeyHeader, key.key_, 0600);
}

Result<HashKey> load_hash_key(const std::filesystem::path& path) {
  ensure_init();
  std::array<uint8_t, 32> bytes{};
  WipeOnExit wipe_bytes(bytes.data(), bytes.size());
  if (Status s = read_key_file(path, kHashKeyHeader, /*secret=*/true, bytes); !s.ok()) {
    return s.error();
  }
  return HashKey::from_bytes(bytes);
}

// ---------------------------------------------------------------------------------------------
// Encodings and helpers

std::string to_hex(std::span<const uint8_t> bytes) {
  ensure_init();
  std::string hex(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), bytes.data(), bytes.size());
  hex.resize(bytes.size() * 2);
  return hex;
}

Result<std::vector<uint8_t>> from_hex(std::string_view hex) {
  ensure_init();
  if (hex.size() % 2 != 0) {
    return make_error(ErrorCode::kInvalidArgument, "invalid hex: odd number of digits");
  }
  // At least one byte so that the output pointer is never null.
  std::vector<uint8_t> out(hex.size() / 2 + 1);
  size_t bin_len = 0;
  if (sodium_hex2bin(out.data(), hex.size() / 2, hex.data(), hex.size(), nullptr, &bin_len,
                     nullptr) != 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "invalid hex: expected only the digits 0-9, a-f and A-F");
  }
  out.resize(bin_len);
  return out;
}

std::string to_base64(std::span<const uint8_t> bytes) {
  ensure_init();
  const size_t len = sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  std::string b64(len, '\0');
  sodium_bin2base64(b64.data(), b64.size(), bytes.data(), bytes.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  b64.resize(len - 1);  // drop the terminating NUL
  return b64;
}

Result<std::vector<uint8_t>> from_base64(std::string_view b64) {
  ensure_init();
  // Every 4 characters decode to at most 3 bytes; at least one byte so the pointer is not null.
  const size_t max_len = b64.size() / 4 * 3 + 3;
  std::vector<uint8_t> out(max_len);
  size_t bin_len = 0;
  if (sodium_base642bin(out.data(), max_len, b64.data(), b64.size(), nullptr, &bin_len, nullptr,
                        sodium_base64_VARIANT_ORIGINAL) != 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "invalid base64: expected standard padded base64 (A-Z a-z 0-9 + /)");
  }
  out.resize(bin_len);
  return out;
}

void random_bytes(std::span<uint8_t> out) {
  ensure_init();
  if (!out.empty()) randombytes_buf(out.data(), out.size());
}

bool constant_time_equal(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  ensure_init();
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace mash

namespace mash {

std::array<uint8_t, 32> sha256(std::span<const uint8_t> msg) {
  (void)crypto_init();
  std::array<uint8_t, 32> out{};
  crypto_hash_sha256(out.data(), msg.data(), msg.size());
  return out;
}

}  // namespace mash

namespace mash {

Status generate_key_pair(const std::filesystem::path& path) {
  auto key = SigningKey::generate();
  if (auto st = save_signing_key(key, path); !st.ok()) return st;
  auto pub = path;
  pub += ".pub";
  return save_verify_key(key.verify_key(), pub);
}

}  // namespace mash
