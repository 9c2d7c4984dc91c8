// mash-agent backup --config FILE --out DIR: the agent's extract, state (answers, outbox, review
// queue, journal), agreement, disclosure log (the copy verified), its witness of the hub's log
// and the disclosure key, taken while the agent runs.
// mash-agent restore --config FILE --from DIR: puts a backup back, with the agent stopped;
// refuses to overwrite anything.
#pragma once

#include <ostream>
#include <string>

#include "agent_config.h"

namespace mash::agent {

// `command` is "backup" or "restore"; `dir` the backup folder. Returns the exit status.
int run_backup_tool(const AgentConfig& config, const std::string& command, const std::string& dir, std::ostream& out,
                    std::ostream& err);

}  // namespace mash::agent
