// The web interface's static files (broker/web/ and the GOV.UK Frontend assets copied in at build
// time), loaded into memory once at start-up and served by exact path: nothing from a request
// ever reaches the file system, so there is no path to traverse.
//
// Pages of the interface (/, /cases, /enquiries/ID, ...) are all the one page `index.html`,
// which its script fills in; it is never cached. The other files hold no case content: browsers
// keep them but revalidate each use (Cache-Control: no-cache, ETag from the content, 304 while
// unchanged), so after an upgrade the new scripts are used at once.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "result.h"

namespace mash::broker {

struct WebFile {
  std::string content_type;
  std::string body;
  std::string etag;  // "\"<hash of the body>\"": browsers revalidate with If-None-Match
};

class WebAssets {
 public:
  static constexpr size_t kMaxFiles = 2000;
  static constexpr size_t kMaxTotalBytes = 32u << 20;

  // Reads every regular file under `dir` (which must hold index.html). Refuses more than kMaxFiles
  // files or kMaxTotalBytes in all, and file types it would not know how to serve.
  static Result<WebAssets> load(const std::filesystem::path& dir);

  // The file for a request path ("/assets/app.js"); nullptr when there is none.
  const WebFile* file(const std::string& path) const;
  // The single page that every interface route is answered with.
  const WebFile& index() const { return files_.at("/index.html"); }
  // True for paths that name a page of the interface rather than a file: "/" or under one of
  // its sections (/sign-in, /cases, /enquiries, /audit, /admin), only the characters routes use.
  static bool is_page_route(const std::string& path);

  size_t size() const { return files_.size(); }
  size_t total_bytes() const { return total_; }

 private:
  std::map<std::string, WebFile> files_;
  size_t total_ = 0;
};

// Content type for a file name by its extension, or nullopt for one we do not serve.
std::optional<std::string> web_content_type(const std::filesystem::path& name);

}  // namespace mash::broker
