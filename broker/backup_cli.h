// mash-broker backup --config FILE --out DIR: the hub's stores (accounts, enquiries, the case
// vault, the outbox), its audit log (the copy verified), the witness states of the agencies'
// logs and the keys, taken while the broker runs.
// mash-broker restore --config FILE --from DIR: puts a backup back where the configuration
// says, with the broker stopped; refuses to overwrite anything.
#pragma once

namespace mash::broker {

// argv[1] is "backup" or "restore". Returns the exit status (0, 1 failure, 2 usage).
int run_backup_command(int argc, char** argv);

}  // namespace mash::broker
