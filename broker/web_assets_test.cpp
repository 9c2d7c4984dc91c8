// WebAssets: what is loaded and served, and what is refused.
#include "web_assets.h"

#include <catch2/catch.hpp>

#include <fstream>

#include "test_support.h"

using namespace mash::broker;

namespace {
void write(const std::filesystem::path& p, const std::string& text) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}
}  // namespace

TEST_CASE("web assets: files are served by exact path with their type", "[web]") {
  mash::testing::TempDir dir;
  write(dir.path() / "index.html", "<main id=\"main-content\"></main>");
  write(dir.path() / "assets" / "app.js", "export {}");
  write(dir.path() / "assets" / "app.css", "body{}");
  write(dir.path() / "assets" / "notes.md", "not served");
  write(dir.path() / "package.json.bak", "not served");
  auto web = WebAssets::load(dir.path());
  REQUIRE(web.ok());
  CHECK(web->size() == 3);
  REQUIRE(web->file("/assets/app.js") != nullptr);
  CHECK(web->file("/assets/app.js")->content_type == "text/javascript; charset=utf-8");
  CHECK(web->file("/assets/app.css")->body == "body{}");
  CHECK(web->index().content_type == "text/html; charset=utf-8");
  // Each file's ETag comes from its content: equal contents, equal tags; different, different.
  write(dir.path() / "assets" / "same.js", "export {}");
  auto again = WebAssets::load(dir.path());
  REQUIRE(again.ok());
  const std::string tag = again->file("/assets/app.js")->etag;
  CHECK(tag.size() == 34);
  CHECK(tag.front() == '"');
  CHECK(tag.back() == '"');
  CHECK(again->file("/assets/same.js")->etag == tag);
  CHECK(again->file("/assets/app.css")->etag != tag);
  CHECK(web->file("/assets/app.js")->etag == tag);
  // Unknown types are not loaded; nothing outside the folder can be named.
  CHECK(web->file("/assets/notes.md") == nullptr);
  CHECK(web->file("/assets/../index.html") == nullptr);
  CHECK(web->file("assets/app.js") == nullptr);
}

TEST_CASE("web assets: a folder without index.html, or too big, is refused", "[web]") {
  mash::testing::TempDir dir;
  write(dir.path() / "app.js", "x");
  auto none = WebAssets::load(dir.path());
  REQUIRE_FALSE(none.ok());
  CHECK_THAT(none.error().message, Catch::Matchers::Contains("no index.html"));
  CHECK_FALSE(WebAssets::load(dir.path() / "missing").ok());
  write(dir.path() / "index.html", "x");
  write(dir.path() / "big.js", std::string(WebAssets::kMaxTotalBytes + 1, 'x'));
  auto big = WebAssets::load(dir.path());
  REQUIRE_FALSE(big.ok());
  CHECK_THAT(big.error().message, Catch::Matchers::Contains("MiB"));
}

TEST_CASE("web assets: which paths are pages of the interface", "[web]") {
  CHECK(WebAssets::is_page_route("/"));
  CHECK(WebAssets::is_page_route("/cases"));
  CHECK(WebAssets::is_page_route("/enquiries/0a1b2c/export"));
  CHECK(WebAssets::is_page_route("/audit/cases/MASH-2026-0042"));
  CHECK(WebAssets::is_page_route("/audit/cases/LA/2026.7"));  // case references may hold / and .
  CHECK(WebAssets::is_page_route("/sign-in"));
  CHECK_FALSE(WebAssets::is_page_route("/api/v1/me"));
  CHECK_FALSE(WebAssets::is_page_route("/nope"));
  CHECK_FALSE(WebAssets::is_page_route("/casesx"));
  CHECK_FALSE(WebAssets::is_page_route("/favicon.ico"));
  CHECK_FALSE(WebAssets::is_page_route("/a/../b"));
  CHECK_FALSE(WebAssets::is_page_route("/a%2fb"));
  CHECK_FALSE(WebAssets::is_page_route(""));
  CHECK_FALSE(WebAssets::is_page_route("/" + std::string(300, 'a')));
}
