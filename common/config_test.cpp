#include "config.h"

#include <catch2/catch.hpp>

using namespace mash;
using std::chrono::milliseconds;

TEST_CASE("config getters read values and defaults", "[config]") {
  auto cfg = ConfigFile::parse("[a]\nname = \"x\"\nn = 5\nflag = true\n", "t.toml");
  REQUIRE(cfg.ok());
  CHECK(*cfg->string("a.name") == "x");
  CHECK(*cfg->integer_or("a.n", 1, 0, 10) == 5);
  CHECK(*cfg->integer_or("a.missing", 7, 0, 10) == 7);
  CHECK(*cfg->boolean_or("a.flag", false) == true);
  CHECK(cfg->check_no_unknown_keys().ok());
}

TEST_CASE("config errors name the file, the key and the problem", "[config]") {
  auto cfg = ConfigFile::parse("[a]\nname = 3\nn = 50\nms = \"soon\"\n", "t.toml");
  REQUIRE(cfg.ok());
  auto s = cfg->string("a.name");
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().message == "t.toml: a.name: must be a string");
  auto n = cfg->integer_or("a.n", 1, 0, 10);
  REQUIRE_FALSE(n.ok());
  CHECK(n.error().message == "t.toml: a.n: must be between 0 and 10 (got 50)");
  auto missing = cfg->string("b.required");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message == "t.toml: b.required: missing (required)");
  CHECK_FALSE(cfg->millis_or("a.ms", milliseconds(1), milliseconds(0), milliseconds(9)).ok());
  auto p = cfg->path("a.nofile", true);
  REQUIRE_FALSE(p.ok());
}

TEST_CASE("unknown keys and syntax errors are refused", "[config]") {
  auto cfg = ConfigFile::parse("[link]\nheartbeat_intervall_ms = 5\n", "t.toml");
  REQUIRE(cfg.ok());
  (void)cfg->integer_or("link.heartbeat_interval_ms", 1, 0, 10);
  auto st = cfg->check_no_unknown_keys();
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().message.find("link.heartbeat_intervall_ms: unknown key") != std::string::npos);

  auto bad = ConfigFile::parse("[link\nx = 1\n", "bad.toml");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.rfind("bad.toml:1:", 0) == 0);
  CHECK_FALSE(ConfigFile::load("/nonexistent/mash.toml").ok());
}
