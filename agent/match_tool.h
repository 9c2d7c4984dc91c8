// `mash-agent match`: what the agent would decide for people the agency's IT team gives it, with
// each field's evidence, for the agency's own testing. One subject (--subject FILE.json), or a
// batch (--subjects FILE.jsonl, one JSON object a line, one JSON result a line); --json prints
// the single result as JSON. Nothing is sent anywhere and nothing is logged.
#pragma once

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "agent_config.h"
#include "agent_tools.h"
#include "extract.h"
#include "matcher.h"
#include "result.h"

namespace mash::agent {

// The subject of `match`, from JSON (agent/README.md); unknown keys and bad values are errors.
// `local_schemes`: the agency's own identifier schemes ([matching] identifier_schemes).
Result<PersonFeatures> subject_from_json(std::string_view json, const std::vector<std::string>& local_schemes = {});

// Limits of a batch file.
inline constexpr size_t kMaxBatchBytes = size_t{64} << 20;
inline constexpr size_t kMaxBatchLines = 100'000;

int run_match_tool(const AgentConfig& config, const ToolArgs& args, std::ostream& out, std::ostream& err);

}  // namespace mash::agent
