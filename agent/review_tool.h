// `mash-agent review`: the answers that wait for a person at the agency. list and show them,
// resolve a possible subject (the candidate the reviewer confirmed, or none: the answer is
// recomputed from the enquiry as received), approve (optionally withholding more fields) or
// decline. Decisions go into the agent's state store; the running agent signs and sends them.
#pragma once

#include <ostream>

#include "agent_config.h"
#include "agent_tools.h"

namespace mash::agent {

int run_review_tool(const AgentConfig& config, const ToolArgs& args, std::ostream& out, std::ostream& err);

}  // namespace mash::agent
