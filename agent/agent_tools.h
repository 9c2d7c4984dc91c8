// The agency's command-line tools around the running agent: import, match, review, doctor.
// Each opens the agent's stores itself (LMDB allows it while the agent runs).
#pragma once

#include <ostream>
#include <string>

#include "agent_config.h"

namespace mash::agent {

struct ToolArgs {
  std::string command;                        // import | match | review | doctor
  std::string persons, facts, mapping;        // import
  bool dry_run = false, strict = false;
  std::string subject;                        // match: a JSON file
  std::string review_action, review_id;       // review list|show|approve|decline ID
  std::string withhold, note, reviewer;
};

// Returns the process exit status (0 ok, 1 failure, 2 usage).
int run_tool(const AgentConfig& config, const ToolArgs& args, std::ostream& out, std::ostream& err);

// The subject of `match`, from JSON (agent/README.md); unknown keys and bad values are errors.
// `local_schemes`: the agency's own identifier schemes ([matching] identifier_schemes).
Result<PersonFeatures> subject_from_json(std::string_view json, const std::vector<std::string>& local_schemes = {});

}  // namespace mash::agent
