#include "backup_tool.h"

#include <vector>

#include "audit_log.h"
#include "backup.h"
#include "crypto.h"
#include "signed_note.h"

namespace mash::agent {

int run_backup_tool(const AgentConfig& config, const std::string& command, const std::string& dir, std::ostream& out,
                    std::ostream& err) {
  using K = BackupPart::Kind;
  const std::vector<BackupPart> parts = {
      {"extract", config.store_dir / "extract", K::kLmdb, true},
      {"state", config.store_dir / "state", K::kLmdb, true},
      {"policy", config.store_dir / "policy", K::kFolder, true},
      {"disclosure", config.disclosure_dir, K::kLmdb, false},
      {"witness.state", config.witness_state, K::kFile, true},
      {"disclosure.key", config.disclosure_key, K::kFile, false},
  };
  if (command == "restore") {
    if (auto st = restore_backup(parts, dir, out); !st.ok()) {
      err << "mash-agent: restore: " << st.error().message << " (nothing was changed)\n";
      return 1;
    }
    out << "mash-agent: restored from " << dir << "; run mash-agent doctor, then start the agent\n";
    return 0;
  }
  out << "mash-agent: backing up to " << dir << " (the agent may keep running)\n";
  if (auto st = take_backup(parts, dir, "mash-agent", out); !st.ok()) {
    err << "mash-agent: backup: " << st.error().message << "\n";
    return 1;
  }
  auto key = load_signing_key(config.disclosure_key);
  if (!key.ok()) {
    err << "mash-agent: disclosure.signing_key: " << key.error().message << "\n";
    return 1;
  }
  auto report = verify_audit_store(std::filesystem::path(dir) / "disclosure",
                                   NoteVerifier(config.disclosure_origin, key->verify_key()), config.disclosure_origin);
  // A log whose records are all newer than its first checkpoint (one is signed within seconds)
  // is whole, only not vouched for yet.
  bool unsigned_only = false;
  if (report.ok() && report->problems.size() == 1 && report->problems[0].rfind("no signed checkpoint", 0) == 0) {
    report->problems.clear();
    unsigned_only = true;
  }
  if (!report.ok() || !report->ok()) {
    err << "mash-agent: the backup's disclosure log does not verify: "
        << (report.ok() ? report->problems.front() : report.error().message)
        << " (the live log may be damaged: run mash-agent doctor)\n";
    return 1;
  }
  if (unsigned_only) out << "   (its " << report->records << " records are newer than any checkpoint: none signed yet)\n";
  out << "mash-agent: backup complete; its disclosure log verified (" << report->records << " records). It holds "
      << "the agency's extract and its signing key: keep it as safe as this server, encrypted and elsewhere.\n";
  return 0;
}

}  // namespace mash::agent
