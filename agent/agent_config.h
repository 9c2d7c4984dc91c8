// The agent's configuration file (TOML). Example: deploy/examples/agent.toml.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>

#include "broker_link.h"
#include "log.h"
#include "matcher.h"
#include "result.h"
#include "tls.h"

namespace mash::agent {

struct AgentConfig {
  BrokerLinkOptions link;   // [broker] address, name; [link] ...
  TlsFiles tls;             // [tls] ca, cert, key, crl
  std::chrono::milliseconds tls_reload_interval{30'000};  // [tls] reload_interval_ms
  std::string agency;       // read from tls.cert, never configured
  LogLevel log_level = LogLevel::kInfo;
  LogFormat log_format = LogFormat::kText;  // [log] format: "text" or "json"
  // [witness]: checking the hub's audit log (required).
  std::filesystem::path broker_audit_key;   // broker_audit_key: the hub's audit .pub file
  std::string broker_audit_origin = "mash-broker";  // broker_audit_origin
  std::filesystem::path witness_state;      // state: where the witnessed checkpoint is kept
  // [disclosure]: this agency's own disclosure log (required), witnessed by the hub.
  std::filesystem::path disclosure_dir;     // dir
  std::filesystem::path disclosure_key;     // signing_key (Ed25519, mode 0600; give the .pub to the hub)
  std::string disclosure_origin;            // origin (default mash-agent/<agency>)
  std::chrono::milliseconds disclosure_checkpoint_interval{2000};  // checkpoint_interval_ms
  // [store] dir (required): the extract (dir/extract), answers and review queue (dir/state) and
  // the agreement in force (dir/policy).
  std::filesystem::path store_dir;
  size_t extract_map_size = size_t{64} << 30;             // [store] extract_max_gb
  // [policy]: the Information Sharing Agreement.
  std::filesystem::path isa_signer;     // signer: the public key ISA signatures must verify with (required)
  std::filesystem::path agreement;      // agreement: the signed agreement the agency installed (optional:
                                        // otherwise the hub sends it on the link)
  std::filesystem::path agreement_sig;  // signature (default: agreement + ".sig")
  std::filesystem::path local_policy;   // local: this agency's narrowing (optional)
  MatchThresholds thresholds;           // [matching] automatic, review, margin (bits)
  // [matching] identifier_schemes: the agency's own identifier schemes that its extract carries
  // (the `identifiers` column) and that enquiries may name; each must be one the agreement
  // declares for this agency to be received from the hub.
  std::vector<std::string> identifier_schemes;
  int extract_max_age_days = 8;         // [store] extract_max_age_days: doctor warns after this
};

Result<AgentConfig> load_agent_config(const std::filesystem::path& path);

}  // namespace mash::agent
