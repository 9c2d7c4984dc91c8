#include "agent_config.h"

#include "config.h"
#include "crypto.h"

namespace mash::agent {

using std::chrono::milliseconds;

Result<AgentConfig> load_agent_config(const std::filesystem::path& path) {
  auto loaded = ConfigFile::load(path);
  if (!loaded.ok()) return loaded.error();
  ConfigFile& cfg = *loaded;
  AgentConfig out;

#define MASH_TRY(var, expr)            \
  auto var = (expr);                   \
  if (!var.ok()) return var.error();

  MASH_TRY(level, cfg.string_or("log.level", "info"));
  if (!parse_log_level(*level, &out.log_level)) {
    return cfg.error("log.level", "must be one of debug, info, warn, error");
  }
  MASH_TRY(log_format, cfg.string_or("log.format", "text"));
  if (!parse_log_format(*log_format, &out.log_format)) return cfg.error("log.format", "must be text or json");

  MASH_TRY(address, cfg.string("broker.address"));
  auto colon = address->rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address->size()) {
    return cfg.error("broker.address", "expected host:port, got \"" + *address + "\"");
  }
  std::string host = address->substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  long port = 0;
  for (char c : address->substr(colon + 1)) {
    if (c < '0' || c > '9' || port > 65535) return cfg.error("broker.address", "invalid port");
    port = port * 10 + (c - '0');
  }
  if (port < 1 || port > 65535) return cfg.error("broker.address", "port out of range");
  out.link.host = host;
  out.link.port = static_cast<uint16_t>(port);
  MASH_TRY(name, cfg.string_or("broker.name", host));
  out.link.server_name = *name;

  MASH_TRY(ca, cfg.path("tls.ca", true));
  MASH_TRY(cert, cfg.path("tls.cert", true));
  MASH_TRY(key, cfg.path("tls.key", true));
  MASH_TRY(crl, cfg.path("tls.crl", true));
  out.tls = TlsFiles{*ca, *cert, *key, *crl};
  MASH_TRY(reload, cfg.millis_or("tls.reload_interval_ms", milliseconds(30'000), milliseconds(100),
                                 milliseconds(3'600'000)));
  out.tls_reload_interval = *reload;
  if (auto st = check_private_key_mode(*key); !st.ok()) return cfg.error("tls.key", st.error().message);
  auto info = read_certificate_info(*cert);
  if (!info.ok()) return cfg.error("tls.cert", info.error().message);
  if (!info->agency) {
    return cfg.error("tls.cert", "certificate names no agency (subjectAltName URI:urn:mash:agency:<id>)");
  }
  out.agency = *info->agency;

  MASH_TRY(audit_key, cfg.path("witness.broker_audit_key", true));
  out.broker_audit_key = *audit_key;
  if (auto k = load_verify_key(*audit_key); !k.ok()) return cfg.error("witness.broker_audit_key", k.error().message);
  MASH_TRY(audit_origin, cfg.string_or("witness.broker_audit_origin", "mash-broker"));
  out.broker_audit_origin = *audit_origin;
  MASH_TRY(state, cfg.path("witness.state", false));
  out.witness_state = *state;

  MASH_TRY(disclosure_dir, cfg.path("disclosure.dir", false));
  out.disclosure_dir = *disclosure_dir;
  MASH_TRY(disclosure_key, cfg.path("disclosure.signing_key", true));
  out.disclosure_key = *disclosure_key;
  if (auto st = check_private_key_mode(*disclosure_key); !st.ok()) {
    return cfg.error("disclosure.signing_key", st.error().message);
  }
  MASH_TRY(disclosure_origin, cfg.string_or("disclosure.origin", "mash-agent/" + out.agency));
  if (disclosure_origin->find_first_of(" \n\t") != std::string::npos || disclosure_origin->size() > 128) {
    return cfg.error("disclosure.origin", "must be one word");
  }
  out.disclosure_origin = *disclosure_origin;
  MASH_TRY(disclosure_interval, cfg.millis_or("disclosure.checkpoint_interval_ms", milliseconds(2000),
                                              milliseconds(50), milliseconds(60'000)));
  out.disclosure_checkpoint_interval = *disclosure_interval;
  out.link.checkpoint_broadcast_interval = std::min(*disclosure_interval, milliseconds(1000));
  out.link.agency = out.agency;

  MASH_TRY(store_dir, cfg.path("store.dir", false));
  out.store_dir = *store_dir;
  MASH_TRY(extract_gb, cfg.integer_or("store.extract_max_gb", 64, 1, 4096));
  out.extract_map_size = static_cast<size_t>(*extract_gb) << 30;
  MASH_TRY(max_age, cfg.integer_or("store.extract_max_age_days", 8, 1, 3650));
  out.extract_max_age_days = static_cast<int>(*max_age);

  MASH_TRY(signer, cfg.path("policy.signer", true));
  out.isa_signer = *signer;
  if (auto k = load_verify_key(*signer); !k.ok()) return cfg.error("policy.signer", k.error().message);
  MASH_TRY(agreement, cfg.optional_path("policy.agreement", true));
  out.agreement = *agreement;
  MASH_TRY(sig, cfg.optional_path("policy.signature", true));
  out.agreement_sig = *sig;
  if (!out.agreement.empty() && out.agreement_sig.empty()) {
    out.agreement_sig = out.agreement.string() + ".sig";
    if (!std::filesystem::exists(out.agreement_sig)) {
      return cfg.error("policy.signature", "not given, and there is no " + out.agreement_sig.string());
    }
  }
  MASH_TRY(local, cfg.optional_path("policy.local", true));
  out.local_policy = *local;

  MASH_TRY(automatic, cfg.integer_or("matching.automatic", 20, 5, 60));
  MASH_TRY(review, cfg.integer_or("matching.review", 12, 0, 60));
  MASH_TRY(margin, cfg.integer_or("matching.margin", 6, 1, 40));
  if (*review >= *automatic) return cfg.error("matching.review", "must be below matching.automatic");
  out.thresholds.automatic = static_cast<double>(*automatic);
  out.thresholds.review = static_cast<double>(*review);
  out.thresholds.margin = static_cast<double>(*margin);
  MASH_TRY(schemes, cfg.strings_or_empty("matching.identifier_schemes", 16));
  for (const auto& s : *schemes) {
    if (!valid_local_scheme(s)) {
      return cfg.error("matching.identifier_schemes",
                       "'" + s + "' must be 2 to 32 lower-case letters, digits or '-', and not a national scheme");
    }
  }
  out.identifier_schemes = *schemes;

  auto& link = out.link.link;
  MASH_TRY(hb, cfg.millis_or("link.heartbeat_interval_ms", milliseconds(10'000), milliseconds(50),
                             milliseconds(300'000)));
  MASH_TRY(idle, cfg.millis_or("link.idle_timeout_ms", milliseconds(30'000), milliseconds(150),
                               milliseconds(900'000)));
  if (*idle < 2 * *hb) {
    return cfg.error("link.idle_timeout_ms", "must be at least twice link.heartbeat_interval_ms");
  }
  link.heartbeat_interval = *hb;
  link.idle_timeout = *idle;
  MASH_TRY(frame, cfg.integer_or("link.max_frame_bytes", 4 << 20, 4096, 64 << 20));
  if (*frame % 8 != 0) return cfg.error("link.max_frame_bytes", "must be a multiple of 8");
  link.limits = FrameLimits::for_frame_size(static_cast<uint32_t>(*frame));
  MASH_TRY(connect, cfg.millis_or("link.connect_timeout_ms", milliseconds(10'000), milliseconds(100),
                                  milliseconds(120'000)));
  out.link.connect_timeout = *connect;
  MASH_TRY(rmin, cfg.millis_or("link.reconnect_initial_ms", milliseconds(500), milliseconds(10),
                               milliseconds(60'000)));
  MASH_TRY(rmax, cfg.millis_or("link.reconnect_max_ms", milliseconds(60'000), milliseconds(10),
                               milliseconds(3'600'000)));
  if (*rmax < *rmin) {
    return cfg.error("link.reconnect_max_ms", "must not be less than link.reconnect_initial_ms");
  }
  out.link.reconnect_initial = *rmin;
  out.link.reconnect_max = *rmax;
#undef MASH_TRY

  if (auto st = cfg.check_no_unknown_keys(); !st.ok()) return st.error();
  return out;
}

}  // namespace mash::agent
