// Backups of a program's stores and keys, taken while it runs, and putting one back.
//
// - LMDB environments are copied with one read transaction each (consistent, compacted; the
//   program goes on writing meanwhile). Files (keys, state files) and folders of small files are
//   copied as they are. Everything in a backup is mode 0600 in folders of 0700: it holds the
//   keys that decrypt the case content, so it must be kept as safely as the machine itself.
// - A backup folder has a MANIFEST (what each part is and where it came from, sizes, the time).
// - Restore puts each part back where the configuration says, with the program stopped; it
//   refuses to overwrite anything that exists (move it aside first), so a mistyped command
//   cannot destroy a live store; a key file still in place with the backup's very bytes is
//   left as it is.
#pragma once

#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "result.h"

namespace mash {

struct BackupPart {
  enum class Kind { kLmdb, kFile, kFolder };
  std::string name;            // its name in the backup folder
  std::filesystem::path path;  // where the program keeps it
  Kind kind = Kind::kLmdb;
  bool optional = false;       // absent is fine (a witness state before the first connection)
};

// Copies every part into `out`, which must not exist or be empty. `log` gets one line a part.
Status take_backup(const std::vector<BackupPart>& parts, const std::filesystem::path& out, const std::string& program,
                   std::ostream& log);

// Puts the parts found in backup folder `from` back at their paths. Nothing is written unless
// every part's target is free and every required part is in the backup.
Status restore_backup(const std::vector<BackupPart>& parts, const std::filesystem::path& from, std::ostream& log);

}  // namespace mash
