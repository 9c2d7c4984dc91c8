#include "backup.h"

#include <sys/stat.h>

#include <fstream>
#include <iterator>
#include <system_error>

#include "clock.h"
#include "lmdb_store.h"

namespace mash {

namespace fs = std::filesystem;

namespace {

const char* kind_name(BackupPart::Kind k) {
  switch (k) {
    case BackupPart::Kind::kLmdb: return "lmdb";
    case BackupPart::Kind::kFile: return "file";
    case BackupPart::Kind::kFolder: return "folder";
  }
  return "file";
}

bool present(const BackupPart& p) {
  std::error_code ec;
  if (p.kind == BackupPart::Kind::kLmdb) return fs::exists(p.path / "data.mdb", ec);
  return fs::exists(p.path, ec);
}

Status make_private_dir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return make_error(ErrorCode::kUnavailable, "cannot make " + dir.string() + ": " + ec.message());
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  return {};
}

Status copy_private(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::copy_file(from, to, fs::copy_options::none, ec);
  if (ec) return make_error(ErrorCode::kUnavailable, "cannot copy " + from.string() + " to " + to.string() + ": " + ec.message());
  fs::permissions(to, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace, ec);
  return {};
}

Status copy_folder(const fs::path& from, const fs::path& to) {
  if (auto st = make_private_dir(to); !st.ok()) return st;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(from, ec)) {
    if (entry.is_directory()) {
      if (auto st = copy_folder(entry.path(), to / entry.path().filename()); !st.ok()) return st;
    } else if (entry.is_regular_file()) {
      if (auto st = copy_private(entry.path(), to / entry.path().filename()); !st.ok()) return st;
    }
  }
  if (ec) return make_error(ErrorCode::kUnavailable, "cannot read " + from.string() + ": " + ec.message());
  return {};
}

bool same_file_bytes(const fs::path& a, const fs::path& b) {
  std::ifstream fa(a, std::ios::binary), fb(b, std::ios::binary);
  if (!fa || !fb) return false;
  return std::string(std::istreambuf_iterator<char>(fa), {}) == std::string(std::istreambuf_iterator<char>(fb), {});
}

uintmax_t size_of(const fs::path& p) {
  std::error_code ec;
  if (fs::is_regular_file(p, ec)) return fs::file_size(p, ec);
  uintmax_t total = 0;
  for (const auto& e : fs::recursive_directory_iterator(p, ec)) {
    if (e.is_regular_file(ec)) total += e.file_size(ec);
  }
  return total;
}

}  // namespace

Status take_backup(const std::vector<BackupPart>& parts, const fs::path& out, const std::string& program,
                   std::ostream& log) {
  std::error_code ec;
  if (fs::exists(out, ec) && !fs::is_empty(out, ec)) {
    return make_error(ErrorCode::kAlreadyExists, out.string() + " is not empty: give a new folder for the backup");
  }
  for (const auto& p : parts) {
    if (!present(p) && !p.optional) {
      return make_error(ErrorCode::kNotFound, p.name + ": " + p.path.string() + " not found (check the configuration)");
    }
  }
  if (auto st = make_private_dir(out); !st.ok()) return st;
  std::string manifest = "# " + program + " backup, " + iso_time(unix_millis_now()) +
                         ": name kind bytes original-path\n";
  for (const auto& p : parts) {
    if (!present(p)) {
      log << "   " << p.name << ": none yet (" << p.path.string() << ")\n";
      continue;
    }
    const fs::path to = out / p.name;
    Status st;
    switch (p.kind) {
      case BackupPart::Kind::kLmdb: {
        EnvOptions o;
        o.max_dbs = 64;
        o.map_size = size_t{64} << 30;  // address space only: at least what the program maps
        auto env = Env::open(p.path, o);
        if (!env.ok()) return env.error();
        if (st = make_private_dir(to); !st.ok()) return st;
        st = env->copy_to(to);
        if (st.ok()) fs::permissions(to / "data.mdb", fs::perms::owner_read | fs::perms::owner_write,
                                     fs::perm_options::replace, ec);
        break;
      }
      case BackupPart::Kind::kFile: st = copy_private(p.path, to); break;
      case BackupPart::Kind::kFolder: st = copy_folder(p.path, to); break;
    }
    if (!st.ok()) return st;
    const uintmax_t bytes = size_of(to);
    manifest += p.name + " " + kind_name(p.kind) + " " + std::to_string(bytes) + " " + p.path.string() + "\n";
    log << "   " << p.name << ": " << bytes << " bytes from " << p.path.string() << "\n";
  }
  std::ofstream m(out / "MANIFEST");
  m << manifest;
  if (!m) return make_error(ErrorCode::kUnavailable, "cannot write " + (out / "MANIFEST").string());
  return {};
}

Status restore_backup(const std::vector<BackupPart>& parts, const fs::path& from, std::ostream& log) {
  std::error_code ec;
  if (!fs::exists(from / "MANIFEST", ec)) {
    return make_error(ErrorCode::kNotFound, from.string() + " is not a backup (no MANIFEST)");
  }
  // Everything is checked before anything is written.
  for (const auto& p : parts) {
    const bool in_backup = fs::exists(from / p.name, ec);
    if (!in_backup && !p.optional) return make_error(ErrorCode::kNotFound, "the backup has no " + p.name);
    // A key still in place with the very bytes the backup holds is left as it is.
    if (in_backup && present(p) && !(p.kind == BackupPart::Kind::kFile && same_file_bytes(from / p.name, p.path))) {
      return make_error(ErrorCode::kAlreadyExists,
                        p.name + ": " + p.path.string() + " exists: stop the program and move it aside first");
    }
  }
  for (const auto& p : parts) {
    const fs::path src = from / p.name;
    if (!fs::exists(src, ec)) continue;
    if (p.kind == BackupPart::Kind::kFile && present(p)) {
      log << "   " << p.name << ": already in place (" << p.path.string() << ")\n";
      continue;
    }
    Status st;
    switch (p.kind) {
      case BackupPart::Kind::kLmdb:
        if (st = make_private_dir(p.path); !st.ok()) return st;
        st = copy_private(src / "data.mdb", p.path / "data.mdb");
        break;
      case BackupPart::Kind::kFile:
        if (p.path.has_parent_path()) fs::create_directories(p.path.parent_path(), ec);
        st = copy_private(src, p.path);
        break;
      case BackupPart::Kind::kFolder: st = copy_folder(src, p.path); break;
    }
    if (!st.ok()) return st;
    log << "   " << p.name << ": restored to " << p.path.string() << "\n";
  }
  return {};
}

}  // namespace mash
