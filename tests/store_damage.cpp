// A test helper process: changes one byte of one stored value, as damage on disk would, in a
// store a running broker holds open (LMDB is safe across processes).
//   store-damage DIR TABLE KEY [OFFSET]   KEY is text, or be64:N for the audit log's record N
#include <cstdio>
#include <cstdlib>
#include <string>

#include "audit_log.h"
#include "lmdb_store.h"

int main(int argc, char** argv) {
  if (argc < 4 || argc > 5) {
    std::fprintf(stderr, "usage: store-damage DIR TABLE KEY [OFFSET]\n");
    return 2;
  }
  std::string key = argv[3];
  if (key.rfind("be64:", 0) == 0) key = mash::be64(std::strtoull(key.c_str() + 5, nullptr, 10));
  const size_t offset = argc == 5 ? std::strtoul(argv[4], nullptr, 10) : 5;
  mash::EnvOptions o;
  o.max_dbs = 32;
  auto env = mash::Env::open(argv[1], o);
  if (!env.ok()) {
    std::fprintf(stderr, "open: %s\n", env.error().message.c_str());
    return 1;
  }
  auto txn = env->begin_write();
  if (!txn.ok()) return 1;
  auto db = txn->open_db(argv[2], false);
  if (!db.ok()) {
    std::fprintf(stderr, "table %s: %s\n", argv[2], db.error().message.c_str());
    return 1;
  }
  auto v = txn->get(*db, key);
  if (!v.ok() || !*v) {
    std::fprintf(stderr, "no such key\n");
    return 1;
  }
  std::string bytes(**v);
  if (offset >= bytes.size()) return 1;
  bytes[offset] = static_cast<char>(bytes[offset] ^ 0x5a);
  if (!txn->put(*db, key, bytes).ok() || !txn->commit().ok()) return 1;
  return 0;
}
