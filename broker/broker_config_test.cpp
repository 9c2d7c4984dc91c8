#include "broker_config.h"

#include <catch2/catch.hpp>

#include "crypto.h"
#include "test_support.h"

using namespace mash;
using namespace mash::broker;
using namespace mash::testing;

namespace {

// The [tls] and [audit] sections every broker configuration needs.
std::string tls_section(const TestPki& pki) {
  auto f = pki.broker();
  auto key = pki.dir() / "audit.key";
  if (!std::filesystem::exists(key)) REQUIRE(save_signing_key(SigningKey::generate(), key).ok());
  return "[audit]\ndir = \"" + (pki.dir() / "audit").string() + "\"\nsigning_key = \"" + key.string() +
         "\"\n[tls]\nca = \"" + f.ca.string() + "\"\ncert = \"" + f.cert.string() + "\"\nkey = \"" +
         f.key.string() + "\"\ncrl = \"" + f.crl.string() + "\"\n";
}

}  // namespace

TEST_CASE("a complete broker configuration loads with defaults", "[config]") {
  TestPki pki;
  TempDir dir;
  write_file(dir / "b.toml", tls_section(pki));
  auto cfg = load_broker_config(dir / "b.toml");
  REQUIRE(cfg.ok());
  CHECK(cfg->agent_listen.port() == 7443);
  CHECK(cfg->listener.link.heartbeat_interval == std::chrono::milliseconds(10'000));
  CHECK(cfg->threads == 32);
  CHECK(cfg->io_threads == 2);
  CHECK(cfg->store_max_bytes == size_t{16} << 30);
  CHECK(cfg->audit_max_bytes == size_t{64} << 30);

  write_file(dir / "b.toml", tls_section(pki) + "[broker]\nthreads = 8\nio_threads = 1\n[store]\nmax_size_gb = 2\n");
  auto set = load_broker_config(dir / "b.toml");
  REQUIRE(set.ok());
  CHECK(set->threads == 8);
  CHECK(set->io_threads == 1);
  CHECK(set->store_max_bytes == size_t{2} << 30);
}

TEST_CASE("broker configuration errors name the key", "[config]") {
  TestPki pki;
  TempDir dir;
  auto check = [&](const std::string& extra, const std::string& expected) {
    write_file(dir / "b.toml", tls_section(pki) + extra);
    auto cfg = load_broker_config(dir / "b.toml");
    INFO(extra);
    REQUIRE_FALSE(cfg.ok());
    INFO(cfg.error().message);
    CHECK(cfg.error().message.find(expected) != std::string::npos);
  };
  check("[link]\nlisten = \"localhost:7443\"\n", "link.listen:");
  check("[link]\nlisten = \"127.0.0.1:99999\"\n", "link.listen:");
  check("[link]\nheartbeat_interval_ms = 1000\nidle_timeout_ms = 1500\n", "link.idle_timeout_ms:");
  check("[link]\nmax_frame_bytes = 5001\n", "link.max_frame_bytes:");
  check("[log]\nlevel = \"loud\"\n", "log.level:");
  check("[broker]\nthreds = 2\n", "broker.threds: unknown key");
  check("[broker]\nio_threads = 0\n", "broker.io_threads:");
  check("[store]\nmax_size_gb = 0\n", "store.max_size_gb:");
  check("[store]\nmax_size_gb = \"big\"\n", "store.max_size_gb:");
  check("[store]\nmin_free_mb = -1\n", "store.min_free_mb:");


  std::string without_audit = tls_section(pki).substr(tls_section(pki).find("[tls]"));
  write_file(dir / "b.toml", without_audit);
  auto no_audit = load_broker_config(dir / "b.toml");
  REQUIRE_FALSE(no_audit.ok());
  CHECK(no_audit.error().message.find("audit.dir: missing (required)") != std::string::npos);

  write_file(dir / "b.toml", "[tls]\nca = \"/nonexistent/ca.crt\"\n");
  auto cfg = load_broker_config(dir / "b.toml");
  REQUIRE_FALSE(cfg.ok());
  CHECK(cfg.error().message.find("tls.ca: file not found") != std::string::npos);
}
