// Tests for crypto.h: signatures (with the RFC 8032 vector), keyed hashing, key files and their
// mode rules, and the encodings. Key files are written to a fresh temporary directory per test.
#include "crypto.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

namespace mash {
namespace {

// A fresh directory under /tmp, removed with its contents at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = "/tmp/mash-crypto-test-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

std::vector<uint8_t> hex(std::string_view s) {
  auto r = from_hex(s);
  REQUIRE(r.ok());
  return *r;
}

std::vector<uint8_t> bytes_of(std::string_view s) { return {s.begin(), s.end()}; }

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const std::filesystem::path& p, const std::string& content, mode_t mode) {
  {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << content;
    REQUIRE(out.good());
  }
  REQUIRE(::chmod(p.c_str(), mode) == 0);
}

mode_t file_mode(const std::filesystem::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("crypto_init can be called repeatedly", "[crypto]") {
  REQUIRE(crypto_init().ok());
  REQUIRE(crypto_init().ok());
}

TEST_CASE("sign and verify round trip", "[crypto]") {
  const SigningKey key = SigningKey::generate();
  const VerifyKey vk = key.verify_key();
  const auto msg = bytes_of("query 42: count(*) where age > 30");
  const auto sig = key.sign(msg);
  CHECK(verify(vk, msg, sig));

  SECTION("a flipped message bit fails") {
    auto bad = msg;
    bad[3] ^= 0x01;
    CHECK_FALSE(verify(vk, bad, sig));
  }
  SECTION("a flipped signature bit fails") {
    for (size_t i : {size_t{0}, size_t{31}, size_t{32}, size_t{63}}) {
      auto bad = sig;
      bad[i] ^= 0x80;
      CHECK_FALSE(verify(vk, msg, bad));
    }
  }
  SECTION("another key's verify key fails") {
    const SigningKey other = SigningKey::generate();
    CHECK_FALSE(verify(other.verify_key(), msg, sig));
  }
  SECTION("a signature of the wrong length fails") {
    std::vector<uint8_t> s(sig.begin(), sig.end());
    CHECK_FALSE(verify(vk, msg, std::span(s).first(63)));
    s.push_back(0);
    CHECK_FALSE(verify(vk, msg, s));
    CHECK_FALSE(verify(vk, msg, std::span<const uint8_t>()));
  }
  SECTION("the empty message can be signed") {
    const auto empty_sig = key.sign({});
    CHECK(verify(vk, {}, empty_sig));
    CHECK_FALSE(verify(vk, msg, empty_sig));
  }
}

TEST_CASE("Ed25519 matches RFC 8032 test vector 1", "[crypto]") {
  const auto seed = hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
  REQUIRE(seed.size() == 32);
  const SigningKey key = SigningKey::from_seed(std::span<const uint8_t, 32>(seed.data(), 32));
  CHECK(to_hex(key.verify_key().bytes) ==
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  const auto sig = key.sign({});
  CHECK(to_hex(sig) ==
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e397"
        "01cf9b46bd25bf5f0595bbe24655141438e7a100b");
  CHECK(verify(key.verify_key(), {}, sig));
}

TEST_CASE("a moved-from key is a bug", "[crypto]") {
  SigningKey a = SigningKey::generate();
  const VerifyKey vk = a.verify_key();
  SigningKey b = std::move(a);
  CHECK(b.verify_key() == vk);
  CHECK_THROWS_AS(a.sign({}), std::logic_error);  // NOLINT(bugprone-use-after-move)

  HashKey h = HashKey::generate();
  HashKey h2 = std::move(h);
  CHECK_THROWS_AS(h.hash({}), std::logic_error);  // NOLINT(bugprone-use-after-move)
}

TEST_CASE("keyed BLAKE2b matches independently computed values", "[crypto]") {
  // python3: hashlib.blake2b(msg, key=bytes(range(32)), digest_size=32).hexdigest()
  std::array<uint8_t, 32> key{};
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i);
  CHECK(to_hex(keyed_hash(key, bytes_of("abc"))) ==
        "d63a32d3e44738d7907f964316c241adaba0abfeabc32349677578a15a203f7f");
  CHECK(to_hex(keyed_hash(key, {})) ==
        "4e51e7a913fc80137da52880fecca175bf81e117d5c68126dc2774033517ea0d");

  const HashKey hk = HashKey::from_bytes(key);
  CHECK(to_hex(hk.hash(bytes_of("abc"))) ==
        "d63a32d3e44738d7907f964316c241adaba0abfeabc32349677578a15a203f7f");

  // Different keys give different hashes.
  const HashKey a = HashKey::generate();
  const HashKey b = HashKey::generate();
  CHECK(a.hash(bytes_of("abc")) != b.hash(bytes_of("abc")));
  CHECK(a.hash(bytes_of("abc")) == a.hash(bytes_of("abc")));
}

TEST_CASE("key files round trip", "[crypto]") {
  TempDir dir;

  SECTION("signing key, 0600, loads back to the same key") {
    const auto path = dir.path() / "broker.key";
    const SigningKey key = SigningKey::generate();
    REQUIRE(save_signing_key(key, path).ok());
    CHECK(file_mode(path) == 0600);
    const std::string text = read_file(path);
    CHECK(text.rfind("mash-ed25519-secret-key-v1 ", 0) == 0);
    CHECK(text.size() == std::string("mash-ed25519-secret-key-v1 ").size() + 44 + 1);
    CHECK(text.back() == '\n');

    auto loaded = load_signing_key(path);
    REQUIRE(loaded.ok());
    CHECK(loaded->verify_key() == key.verify_key());
    const auto msg = bytes_of("hello");
    CHECK(loaded->sign(msg) == key.sign(msg));  // Ed25519 signing is deterministic
  }

  SECTION("a read-only 0400 secret key file is accepted") {
    const auto path = dir.path() / "ro.key";
    REQUIRE(save_signing_key(SigningKey::generate(), path).ok());
    REQUIRE(::chmod(path.c_str(), 0400) == 0);
    CHECK(load_signing_key(path).ok());
  }

  SECTION("verify key") {
    const auto path = dir.path() / "broker.pub";
    const VerifyKey vk = SigningKey::generate().verify_key();
    REQUIRE(save_verify_key(vk, path).ok());
    CHECK(read_file(path).rfind("mash-ed25519-public-key-v1 ", 0) == 0);
    REQUIRE(::chmod(path.c_str(), 0644) == 0);  // public keys may be world-readable
    auto loaded = load_verify_key(path);
    REQUIRE(loaded.ok());
    CHECK(*loaded == vk);
  }

  SECTION("hash key") {
    const auto path = dir.path() / "pseudonym.key";
    const HashKey key = HashKey::generate();
    REQUIRE(save_hash_key(key, path).ok());
    CHECK(file_mode(path) == 0600);
    CHECK(read_file(path).rfind("mash-hash-key-v1 ", 0) == 0);
    auto loaded = load_hash_key(path);
    REQUIRE(loaded.ok());
    CHECK(loaded->hash(bytes_of("x")) == key.hash(bytes_of("x")));
  }
}

TEST_CASE("secret key files readable or writable by others are refused", "[crypto]") {
  TempDir dir;
  const auto path = dir.path() / "loose.key";
  REQUIRE(save_signing_key(SigningKey::generate(), path).ok());
  REQUIRE(::chmod(path.c_str(), 0644) == 0);

  auto r = load_signing_key(path);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::kPermissionDenied);
  const std::string& msg = r.error().message;
  CHECK(msg == "key file " + path.string() + " has mode 0644; it must be 0600 (chmod 600 " +
                   path.string() + ")");

  for (mode_t mode : {0640, 0604, 0620, 0602, 0660}) {
    REQUIRE(::chmod(path.c_str(), mode) == 0);
    auto r2 = load_signing_key(path);
    REQUIRE_FALSE(r2.ok());
    CHECK(r2.error().code == ErrorCode::kPermissionDenied);
  }

  const auto hpath = dir.path() / "loose-hash.key";
  REQUIRE(save_hash_key(HashKey::generate(), hpath).ok());
  REQUIRE(::chmod(hpath.c_str(), 0640) == 0);
  auto h = load_hash_key(hpath);
  REQUIRE_FALSE(h.ok());
  CHECK(h.error().code == ErrorCode::kPermissionDenied);
  CHECK(contains(h.error().message, "0640"));
}

TEST_CASE("saving never overwrites an existing file", "[crypto]") {
  TempDir dir;
  const auto path = dir.path() / "k.key";
  const SigningKey first = SigningKey::generate();
  REQUIRE(save_signing_key(first, path).ok());
  const std::string before = read_file(path);

  auto again = save_signing_key(SigningKey::generate(), path);
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code == ErrorCode::kAlreadyExists);
  CHECK(contains(again.error().message, path.string()));
  CHECK(read_file(path) == before);

  auto pub = save_verify_key(first.verify_key(), path);
  REQUIRE_FALSE(pub.ok());
  CHECK(pub.error().code == ErrorCode::kAlreadyExists);

  // Nor through a symlink to somewhere else.
  const auto target = dir.path() / "target";
  const auto link = dir.path() / "link.key";
  std::filesystem::create_symlink(target, link);
  auto via_link = save_hash_key(HashKey::generate(), link);
  REQUIRE_FALSE(via_link.ok());
  CHECK(via_link.error().code == ErrorCode::kAlreadyExists);
  CHECK_FALSE(std::filesystem::exists(target));
}

TEST_CASE("malformed and missing key files are refused", "[crypto]") {
  TempDir dir;
  const auto path = dir.path() / "bad.key";
  const std::string good_b64 = to_base64(std::vector<uint8_t>(32, 7));

  auto expect_invalid = [&](const std::string& content) {
    INFO("content (" << content.size() << " bytes): " << content.substr(0, 80));
    write_file(path, content, 0600);
    auto r = load_signing_key(path);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::kInvalidArgument);
    CHECK(contains(r.error().message, path.string()));
    CHECK(contains(r.error().message, "mash-ed25519-secret-key-v1"));
    std::filesystem::remove(path);
  };

  expect_invalid("");
  expect_invalid("\n");
  expect_invalid("mash-ed25519-secret-key-v1\n");
  expect_invalid("mash-ed25519-secret-key-v1 \n");
  expect_invalid("mash-ed25519-secret-key-v2 " + good_b64 + "\n");
  expect_invalid("mash-ed25519-secret-key-v1 " + good_b64 + "\n\n");
  expect_invalid("mash-ed25519-secret-key-v1 " + good_b64 + " \n");
  expect_invalid("mash-ed25519-secret-key-v1  " + good_b64 + "\n");
  expect_invalid("mash-ed25519-secret-key-v1 " + good_b64 + "\r\n");
  expect_invalid("mash-ed25519-secret-key-v1 not*base64\n");
  expect_invalid("mash-ed25519-secret-key-v1 " + to_base64(std::vector<uint8_t>(16, 1)) + "\n");
  expect_invalid("mash-ed25519-secret-key-v1 " + to_base64(std::vector<uint8_t>(33, 1)) + "\n");
  expect_invalid("mash-ed25519-secret-key-v1 " + good_b64 + std::string(5000, 'A') + "\n");
  expect_invalid(std::string(100000, 'x'));

  SECTION("a public key file given as a secret key says what it holds") {
    write_file(path, "mash-ed25519-public-key-v1 " + good_b64 + "\n", 0600);
    auto r = load_signing_key(path);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::kInvalidArgument);
    CHECK(contains(r.error().message, "holds a 'mash-ed25519-public-key-v1'"));
  }
  SECTION("the final newline may be missing") {
    write_file(path, "mash-ed25519-secret-key-v1 " + good_b64, 0600);
    CHECK(load_signing_key(path).ok());
  }
  SECTION("a malformed public key file") {
    write_file(path, "mash-ed25519-public-key-v1 AAAA\n", 0644);
    auto r = load_verify_key(path);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::kInvalidArgument);
  }
  SECTION("a missing file") {
    auto r = load_signing_key(dir.path() / "nope.key");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::kNotFound);
    CHECK(contains(r.error().message, "nope.key"));
  }
  SECTION("a directory") {
    std::filesystem::create_directory(dir.path() / "d");
    REQUIRE(::chmod((dir.path() / "d").c_str(), 0700) == 0);
    auto r = load_signing_key(dir.path() / "d");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::kInvalidArgument);
  }
  SECTION("a missing directory when saving") {
    auto r = save_signing_key(SigningKey::generate(), dir.path() / "no" / "such.key");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::kNotFound);
  }
}

TEST_CASE("hex round trips and refuses bad input", "[crypto]") {
  const std::vector<uint8_t> data = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
  CHECK(to_hex(data) == "00017f80abff");
  CHECK(*from_hex("00017f80abff") == data);
  CHECK(*from_hex("00017F80ABFF") == data);
  CHECK(to_hex({}).empty());
  CHECK(from_hex("")->empty());

  std::vector<uint8_t> rnd(257);
  random_bytes(rnd);
  CHECK(*from_hex(to_hex(rnd)) == rnd);

  for (std::string_view bad : {"0", "abc", "zz", "0g", " 00", "00 ", "0x00", "00\n", "-1"}) {
    INFO("input: " << bad);
    auto r = from_hex(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::kInvalidArgument);
  }
  const char with_nul[] = {'0', '0', '\0', '0'};
  CHECK_FALSE(from_hex(std::string_view(with_nul, sizeof with_nul)).ok());
}

TEST_CASE("base64 round trips and refuses bad input", "[crypto]") {
  CHECK(to_base64(bytes_of("abc")) == "YWJj");
  CHECK(to_base64(bytes_of("ab")) == "YWI=");
  CHECK(to_base64(bytes_of("a")) == "YQ==");
  CHECK(to_base64({}).empty());
  CHECK(*from_base64("YWJj") == bytes_of("abc"));
  CHECK(*from_base64("YWI=") == bytes_of("ab"));
  CHECK(*from_base64("YQ==") == bytes_of("a"));
  CHECK(from_base64("")->empty());
  CHECK(*from_base64("+/+/") == std::vector<uint8_t>{0xfb, 0xff, 0xbf});

  for (size_t n = 0; n < 70; ++n) {
    std::vector<uint8_t> rnd(n);
    random_bytes(rnd);
    auto back = from_base64(to_base64(rnd));
    REQUIRE(back.ok());
    CHECK(*back == rnd);
  }

  for (std::string_view bad : {"YWI", "YQ", "YQ=", "Y", "YR==", "YWJ=", "YW Jj", "YWJj\n", " YWJj",
                               "-_-_", "YWJj====", "YQ==YQ==", "****"}) {
    INFO("input: " << bad);
    auto r = from_base64(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::kInvalidArgument);
  }
}

TEST_CASE("constant_time_equal and random_bytes", "[crypto]") {
  const auto a = bytes_of("secret-token");
  auto b = a;
  CHECK(constant_time_equal(a, b));
  b.back() ^= 1;
  CHECK_FALSE(constant_time_equal(a, b));
  CHECK_FALSE(constant_time_equal(a, std::span(a).first(a.size() - 1)));
  CHECK(constant_time_equal({}, {}));

  std::array<uint8_t, 32> r1{};
  std::array<uint8_t, 32> r2{};
  random_bytes(r1);
  random_bytes(r2);
  CHECK(r1 != r2);
  CHECK(r1 != std::array<uint8_t, 32>{});
  random_bytes({});  // an empty span is fine
}

}  // namespace mash

TEST_CASE("sha256 matches the FIPS 180-2 test vector", "[crypto]") {
  std::string abc = "abc";
  auto h = mash::sha256(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(abc.data()), abc.size()));
  CHECK(mash::to_hex(h) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

#include "envelope.h"

TEST_CASE("envelope signatures are bound to their domain and to every byte", "[crypto]") {
  auto key = mash::SigningKey::generate();
  std::vector<uint8_t> body = {1, 2, 3, 4};
  auto sig = mash::sign_envelope(key, mash::kEnquiryDomain, body);
  CHECK(mash::verify_envelope(key.verify_key(), mash::kEnquiryDomain, body, sig));
  // The same signature does not pass as an answer, nor over changed bytes, nor by another key.
  CHECK_FALSE(mash::verify_envelope(key.verify_key(), mash::kAnswerDomain, body, sig));
  body[3] ^= 1;
  CHECK_FALSE(mash::verify_envelope(key.verify_key(), mash::kEnquiryDomain, body, sig));
  body[3] ^= 1;
  auto other = mash::SigningKey::generate();
  CHECK_FALSE(mash::verify_envelope(other.verify_key(), mash::kEnquiryDomain, body, sig));
  // A plain signature over the body (no domain) is refused.
  CHECK_FALSE(mash::verify_envelope(key.verify_key(), mash::kEnquiryDomain, body, key.sign(body)));
}
