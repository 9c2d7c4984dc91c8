#include "backup_cli.h"

#include <iostream>
#include <string>
#include <vector>

#include "audit_log.h"
#include "backup.h"
#include "broker_config.h"
#include "crypto.h"
#include "signed_note.h"

namespace mash::broker {

int run_backup_command(int argc, char** argv) {
  const std::string command = argv[1];
  const char* dir_flag = command == "backup" ? "--out" : "--from";
  std::string config_path, dir;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--config") config_path = argv[i + 1];
    else if (k == dir_flag) dir = argv[i + 1];
  }
  if (config_path.empty() || dir.empty() || argc != 6) {
    std::cerr << "mash-broker: usage: mash-broker " << command << " --config FILE " << dir_flag << " DIR\n";
    return 2;
  }
  auto config = load_broker_config(config_path);
  if (!config.ok()) {
    std::cerr << "mash-broker: configuration error: " << config.error().message << "\n";
    return 2;
  }
  using K = BackupPart::Kind;
  std::vector<BackupPart> parts = {
      {"store", config->store_dir, K::kLmdb, false},
      {"audit", config->audit_dir, K::kLmdb, false},
      {"witness", config->listener.witness_dir, K::kFolder, true},
      {"vault.key", config->vault_key, K::kFile, false},
      {"pseudonym.key", config->pseudonym_key, K::kFile, false},
      {"audit.key", config->audit_key, K::kFile, false},
  };
  if (config->listener.witness_dir.empty()) parts.erase(parts.begin() + 2);
  if (command == "restore") {
    if (auto st = restore_backup(parts, dir, std::cout); !st.ok()) {
      std::cerr << "mash-broker: restore: " << st.error().message << " (nothing was changed)\n";
      return 1;
    }
    std::cout << "mash-broker: restored from " << dir << "; start the broker, then check /readyz and run "
              << "mash-audit verify on " << config->audit_dir.string() << "\n";
    return 0;
  }
  std::cout << "mash-broker: backing up to " << dir << " (the broker may keep running)\n";
  if (auto st = take_backup(parts, dir, "mash-broker", std::cout); !st.ok()) {
    std::cerr << "mash-broker: backup: " << st.error().message << "\n";
    return 1;
  }
  // The audit log's copy must verify: a backup of a damaged log is no backup.
  auto key = load_signing_key(config->audit_key);
  if (!key.ok()) {
    std::cerr << "mash-broker: audit.signing_key: " << key.error().message << "\n";
    return 1;
  }
  auto report = verify_audit_store(std::filesystem::path(dir) / "audit",
                                   NoteVerifier(config->audit_origin, key->verify_key()), config->audit_origin);
  // A log whose records are all newer than its first checkpoint (one is signed within seconds)
  // is whole, only not vouched for yet.
  bool unsigned_only = false;
  if (report.ok() && report->problems.size() == 1 && report->problems[0].rfind("no signed checkpoint", 0) == 0) {
    report->problems.clear();
    unsigned_only = true;
  }
  if (!report.ok() || !report->ok()) {
    std::cerr << "mash-broker: the backup's audit log does not verify: "
              << (report.ok() ? report->problems.front() : report.error().message)
              << " (the live log may be damaged: run mash-audit verify on it)\n";
    return 1;
  }
  if (unsigned_only) std::cout << "   (its " << report->records << " records are newer than any checkpoint: none signed yet)\n";
  std::cout << "mash-broker: backup complete; its audit log verified (" << report->records << " records, "
            << report->checkpoints << " checkpoints). It holds the keys that decrypt case content: keep it "
            << "as safe as the hub itself, encrypted and off this machine.\n";
  return 0;
}

}  // namespace mash::broker
