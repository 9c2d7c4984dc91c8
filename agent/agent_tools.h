// The agency's command-line tools around the running agent: import, match, review, doctor.
// Each opens the agent's stores itself (LMDB allows it while the agent runs).
#pragma once

#include <memory>
#include <ostream>
#include <string>

#include "agent_config.h"
#include "policy_holder.h"

namespace mash::agent {

struct ToolArgs {
  std::string command;                        // import | match | review | doctor
  std::string persons, facts, mapping;        // import
  bool dry_run = false, strict = false;
  std::string subject;                        // match: a JSON file
  std::string subjects;                       // match: a JSON-lines file (batch)
  bool json = false;                          // match --json
  std::string review_action, review_id;       // review list|show|approve|decline ID
  std::string withhold, note, reviewer;
  std::string review_subject, candidate;      // review resolve ID SUBJECT --candidate LOCAL_ID|none
};

// The agreement in force, as the running agent would load it; nullptr (the reason written to
// `err`) when it cannot be loaded.
std::unique_ptr<PolicyHolder> load_policy(const AgentConfig& config, std::ostream& err);

// Returns the process exit status (0 ok, 1 failure, 2 usage).
int run_tool(const AgentConfig& config, const ToolArgs& args, std::ostream& out, std::ostream& err);

}  // namespace mash::agent
