#include "web_assets.h"

#include "crypto.h"

#include <fstream>
#include <sstream>
#include <system_error>

namespace mash::broker {

std::optional<std::string> web_content_type(const std::filesystem::path& name) {
  static const std::map<std::string, std::string> kTypes = {
      {".html", "text/html; charset=utf-8"},  {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
      {".svg", "image/svg+xml"},              {".png", "image/png"},
      {".ico", "image/x-icon"},               {".woff", "font/woff"},
      {".woff2", "font/woff2"},               {".json", "application/json"},
      {".txt", "text/plain; charset=utf-8"}};
  auto it = kTypes.find(name.extension().string());
  if (it == kTypes.end()) return std::nullopt;
  return it->second;
}

Result<WebAssets> WebAssets::load(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(dir / "index.html", ec)) {
    return make_error(ErrorCode::kNotFound, dir.string() + ": no index.html (is the web interface built?)");
  }
  WebAssets out;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    const auto& p = it->path();
    auto type = web_content_type(p);
    if (!type) continue;  // e.g. package.json's neighbours: only known types are served
    if (out.files_.size() >= kMaxFiles) {
      return make_error(ErrorCode::kInvalidArgument, dir.string() + ": more than " + std::to_string(kMaxFiles) + " files");
    }
    std::ifstream in(p, std::ios::binary);
    std::ostringstream body;
    body << in.rdbuf();
    if (!in.good() && !in.eof()) return make_error(ErrorCode::kUnavailable, p.string() + ": cannot be read");
    WebFile f{*type, body.str(), ""};
    auto digest = sha256(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(f.body.data()), f.body.size()));
    f.etag = "\"" + to_hex(digest).substr(0, 32) + "\"";
    out.total_ += f.body.size();
    if (out.total_ > kMaxTotalBytes) {
      return make_error(ErrorCode::kInvalidArgument, dir.string() + ": more than " + std::to_string(kMaxTotalBytes >> 20) + " MiB");
    }
    std::string rel = "/" + std::filesystem::relative(p, dir, ec).generic_string();
    out.files_.emplace(std::move(rel), std::move(f));
  }
  if (ec) return make_error(ErrorCode::kUnavailable, dir.string() + ": " + ec.message());
  return out;
}

const WebFile* WebAssets::file(const std::string& path) const {
  auto it = files_.find(path);
  return it == files_.end() ? nullptr : &it->second;
}

bool WebAssets::is_page_route(const std::string& path) {
  if (path.empty() || path[0] != '/' || path.size() > 256) return false;
  for (char c : path) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '/' || c == '-' ||
              c == '_' || c == '.';
    if (!ok) return false;
  }
  if (path.find("..") != std::string::npos) return false;
  // The interface's sections (broker/web/static/assets/js/app.js); anything else is a 404.
  static const char* const kSections[] = {"sign-in", "cases", "enquiries", "audit", "admin"};
  if (path == "/") return true;
  std::string first = path.substr(1, path.find('/', 1) == std::string::npos ? std::string::npos : path.find('/', 1) - 1);
  for (const char* s : kSections) {
    if (first == s) return true;
  }
  return false;
}

}  // namespace mash::broker
