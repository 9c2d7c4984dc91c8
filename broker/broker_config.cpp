#include "broker_config.h"

#include "signing.h"

#include "config.h"
#include "crypto.h"

namespace mash::broker {

using std::chrono::milliseconds;

Result<boost::asio::ip::tcp::endpoint> parse_listen_address(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    return make_error(ErrorCode::kInvalidArgument, "expected address:port, got \"" + text + "\"");
  }
  std::string host = text.substr(0, colon);
  std::string port_text = text.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = 0;
  for (char c : port_text) {
    if (c < '0' || c > '9' || port > 65535) {
      return make_error(ErrorCode::kInvalidArgument, "invalid port \"" + port_text + "\"");
    }
    port = port * 10 + (c - '0');
  }
  if (port > 65535) return make_error(ErrorCode::kInvalidArgument, "port out of range");
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(host, ec);
  if (ec) {
    return make_error(ErrorCode::kInvalidArgument,
                      "\"" + host + "\" is not a numeric IP address");
  }
  return boost::asio::ip::tcp::endpoint(address, static_cast<uint16_t>(port));
}

Result<BrokerConfig> load_broker_config(const std::filesystem::path& path) {
  auto loaded = ConfigFile::load(path);
  if (!loaded.ok()) return loaded.error();
  ConfigFile& cfg = *loaded;
  BrokerConfig out;

#define MASH_TRY(var, expr)            \
  auto var = (expr);                   \
  if (!var.ok()) return var.error();

  MASH_TRY(level, cfg.string_or("log.level", "info"));
  if (!parse_log_level(*level, &out.log_level)) {
    return cfg.error("log.level", "must be one of debug, info, warn, error");
  }
  MASH_TRY(log_format, cfg.string_or("log.format", "text"));
  if (!parse_log_format(*log_format, &out.log_format)) return cfg.error("log.format", "must be text or json");
  MASH_TRY(threads, cfg.integer_or("broker.threads", 32, 1, 256));
  out.threads = static_cast<unsigned>(*threads);
  MASH_TRY(io_threads, cfg.integer_or("broker.io_threads", 2, 1, 64));
  out.io_threads = static_cast<unsigned>(*io_threads);

  MASH_TRY(listen, cfg.string_or("link.listen", "0.0.0.0:7443"));
  auto endpoint = parse_listen_address(*listen);
  if (!endpoint.ok()) return cfg.error("link.listen", endpoint.error().message);
  out.agent_listen = *endpoint;

  MASH_TRY(ca, cfg.path("tls.ca", true));
  MASH_TRY(cert, cfg.path("tls.cert", true));
  MASH_TRY(key, cfg.path("tls.key", true));
  MASH_TRY(crl, cfg.path("tls.crl", true));
  out.tls = TlsFiles{*ca, *cert, *key, *crl};
  MASH_TRY(reload, cfg.millis_or("tls.reload_interval_ms", milliseconds(30'000), milliseconds(100),
                                 milliseconds(3'600'000)));
  out.tls_reload_interval = *reload;
  if (auto st = check_private_key_mode(*key); !st.ok()) return cfg.error("tls.key", st.error().message);

  MASH_TRY(http_listen, cfg.string_or("http.listen", "0.0.0.0:8443"));
  auto http_endpoint = parse_listen_address(*http_listen);
  if (!http_endpoint.ok()) return cfg.error("http.listen", http_endpoint.error().message);
  out.http_listen = *http_endpoint;
  MASH_TRY(http_cert, cfg.optional_path("http.cert", true));
  MASH_TRY(http_key, cfg.optional_path("http.key", true));
  out.http_cert = http_cert->empty() ? *cert : *http_cert;
  out.http_key = http_key->empty() ? *key : *http_key;
  if (auto st = check_private_key_mode(out.http_key); !st.ok()) return cfg.error("http.key", st.error().message);
  MASH_TRY(max_body, cfg.integer_or("http.max_body_bytes", 1 << 20, 1024, 64 << 20));
  out.http_max_body = static_cast<size_t>(*max_body);
  MASH_TRY(http_conns, cfg.integer_or("http.max_connections", 1024, 1, 100000));
  out.http_max_connections = static_cast<size_t>(*http_conns);
  MASH_TRY(web_dir, cfg.optional_path("http.web_dir", true));
  out.web_dir = *web_dir;
  MASH_TRY(store_dir, cfg.path_or("store.dir", "store"));
  out.store_dir = *store_dir;
  MASH_TRY(store_gb, cfg.integer_or("store.max_size_gb", 16, 1, 4096));
  out.store_max_bytes = static_cast<size_t>(*store_gb) << 30;
  MASH_TRY(min_free, cfg.integer_or("store.min_free_mb", 256, 0, 1'000'000));
  out.store_min_free_mb = static_cast<uint64_t>(*min_free);
  MASH_TRY(vault_key, cfg.path_or("store.vault_key", "vault.key"));
  out.vault_key = *vault_key;
  MASH_TRY(pseudonym_key, cfg.path_or("audit.pseudonym_key", "pseudonym.key"));
  out.pseudonym_key = *pseudonym_key;
  MASH_TRY(max_failed, cfg.integer_or("users.max_failed_logins", 5, 1, 100));
  out.max_failed_logins = static_cast<int>(*max_failed);
  MASH_TRY(lockout, cfg.integer_or("users.lockout_seconds", 900, 1, 86400 * 7));
  out.lockout = std::chrono::seconds(*lockout);
  MASH_TRY(session_idle, cfg.integer_or("users.session_idle_seconds", 1800, 30, 86400));
  out.session_idle = std::chrono::seconds(*session_idle);
  MASH_TRY(smax, cfg.integer_or("users.session_max_seconds", 43200, 60, 86400 * 7));
  out.session_max = std::chrono::seconds(*smax);

  MASH_TRY(audit_dir, cfg.path("audit.dir", false));
  out.audit_dir = *audit_dir;
  MASH_TRY(audit_gb, cfg.integer_or("audit.max_size_gb", 64, 1, 4096));
  out.audit_max_bytes = static_cast<size_t>(*audit_gb) << 30;
  MASH_TRY(audit_key, cfg.path("audit.signing_key", true));
  out.audit_key = *audit_key;
  if (auto st = check_private_key_mode(*audit_key); !st.ok()) return cfg.error("audit.signing_key", st.error().message);
  MASH_TRY(origin, cfg.string_or("audit.origin", "mash-broker"));
  if (origin->find_first_of(" \n\t") != std::string::npos || origin->size() > 128) {
    return cfg.error("audit.origin", "must be one word (e.g. mash-broker/tri-borough)");
  }
  out.audit_origin = *origin;
  MASH_TRY(cp_interval, cfg.millis_or("audit.checkpoint_interval_ms", milliseconds(2000), milliseconds(50),
                                      milliseconds(60'000)));
  out.audit_checkpoint_interval = *cp_interval;
  out.listener.checkpoint_broadcast_interval = std::min(*cp_interval, milliseconds(1000));

  // [witness]: the agencies' disclosure logs this broker witnesses.
  MASH_TRY(witness_dir, cfg.path_or("witness.dir", "witness"));
  out.listener.witness_dir = *witness_dir;
  MASH_TRY(agencies, cfg.keys("witness.agencies"));
  for (const auto& agency : *agencies) {
    std::string key = "witness.agencies." + agency;
    MASH_TRY(pub, cfg.path(key, true));
    auto vk = load_verify_key(*pub);
    if (!vk.ok()) return cfg.error(key, vk.error().message);
    out.listener.agency_keys[agency] = *vk;
  }

  // [policy]: the signed agreement this hub works under; sent to agents on the link.
  MASH_TRY(agreement, cfg.optional_path("policy.agreement", true));
  if (!agreement->empty()) {
    MASH_TRY(sig_path, cfg.optional_path("policy.signature", true));
    std::filesystem::path sig = sig_path->empty() ? std::filesystem::path(agreement->string() + ".sig") : *sig_path;
    MASH_TRY(signer_path, cfg.path("policy.signer", true));
    auto signer = load_verify_key(*signer_path);
    if (!signer.ok()) return cfg.error("policy.signer", signer.error().message);
    out.policy_signer = *signer_path;
    auto toml = policy::read_text_file(*agreement);
    if (!toml.ok()) return cfg.error("policy.agreement", toml.error().message);
    auto sig_text = policy::read_text_file(sig, 64 * 1024);
    if (!sig_text.ok()) return cfg.error("policy.signature", sig_text.error().message);
    auto verified = policy::verify_agreement(*toml, agreement->string(), *sig_text, *signer);
    if (!verified.ok()) return cfg.error("policy.agreement", verified.error().message);
    AgentListenerOptions::PolicyBundle bundle;
    bundle.agreement_id = verified->id;
    bundle.version = static_cast<uint64_t>(verified->version);
    bundle.document = *toml;
    bundle.signature = *sig_text;
    out.listener.policy_bundle = std::move(bundle);
  }

  auto& link = out.listener.link;
  MASH_TRY(hb, cfg.millis_or("link.heartbeat_interval_ms", milliseconds(10'000), milliseconds(50),
                             milliseconds(300'000)));
  MASH_TRY(idle, cfg.millis_or("link.idle_timeout_ms", milliseconds(30'000), milliseconds(150),
                               milliseconds(900'000)));
  if (*idle < 2 * *hb) {
    return cfg.error("link.idle_timeout_ms", "must be at least twice link.heartbeat_interval_ms");
  }
  link.heartbeat_interval = *hb;
  link.idle_timeout = *idle;
  MASH_TRY(handshake, cfg.millis_or("link.handshake_timeout_ms", milliseconds(10'000),
                                    milliseconds(100), milliseconds(120'000)));
  out.listener.handshake_timeout = *handshake;
  MASH_TRY(frame, cfg.integer_or("link.max_frame_bytes", 4 << 20, 4096, 64 << 20));
  if (*frame % 8 != 0) return cfg.error("link.max_frame_bytes", "must be a multiple of 8");
  link.limits = FrameLimits::for_frame_size(static_cast<uint32_t>(*frame));
  MASH_TRY(maxconn, cfg.integer_or("link.max_connections", 512, 1, 65536));
  out.listener.max_connections = static_cast<size_t>(*maxconn);
#undef MASH_TRY

  if (auto st = cfg.check_no_unknown_keys(); !st.ok()) return st.error();
  return out;
}

}  // namespace mash::broker
