// The broker's configuration file (TOML). Example: deploy/examples/broker.toml.
#pragma once

#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <filesystem>
#include <string>

#include "agent_listener.h"
#include "log.h"
#include "result.h"
#include "tls.h"

namespace mash::broker {

struct BrokerConfig {
  boost::asio::ip::tcp::endpoint agent_listen;  // [link] listen, default 0.0.0.0:7443
  TlsFiles tls;                                  // [tls] ca, cert, key, crl
  std::chrono::milliseconds tls_reload_interval{30'000};  // [tls] reload_interval_ms
  AgentListenerOptions listener;                 // [link] ...
  unsigned threads = 32;                         // [broker] threads: API requests (they wait on durable writes)
  unsigned io_threads = 2;                       // [broker] io_threads: TLS and the network
  // [audit]: the access audit log (required: the broker records every step before acting).
  std::filesystem::path audit_dir;               // dir
  size_t audit_max_bytes = size_t{64} << 30;     // max_size_gb: the audit log's size limit (a sparse map)
  std::filesystem::path audit_key;               // signing_key (Ed25519, mode 0600)
  std::string audit_origin = "mash-broker";      // origin: names this hub's log in checkpoints
  std::chrono::milliseconds audit_checkpoint_interval{2000};  // checkpoint_interval_ms
  LogLevel log_level = LogLevel::kInfo;          // [log] level
  LogFormat log_format = LogFormat::kText;  // [log] format: "text" or "json"
  // [http]: the JSON API (and web interface) for people, over HTTPS.
  boost::asio::ip::tcp::endpoint http_listen;    // listen, default 0.0.0.0:8443
  std::filesystem::path http_cert, http_key;     // cert, key: default [tls] cert and key
  size_t http_max_body = 1 << 20;                // max_body_bytes
  size_t http_max_connections = 1024;            // max_connections
  // web_dir: the web interface's files; default ../share/mash-exchange/web next to the binary
  // (where the build and the install put them); empty when not given.
  std::filesystem::path web_dir;
  // [store]: the broker's own data (users and sessions; enquiries later), LMDB.
  std::filesystem::path store_dir;               // dir, default "store"
  size_t store_max_bytes = size_t{16} << 30;     // max_size_gb: the store's size limit (a sparse map)
  uint64_t store_min_free_mb = 256;              // min_free_mb: below this free on the store's or the audit
                                                 // log's disk, /readyz says not ready and enquiries are refused
  std::filesystem::path policy_signer;           // [policy] signer: the ISA signer's public key
  std::filesystem::path vault_key;               // vault_key: case content's master key (made if absent)
  std::filesystem::path pseudonym_key;           // [audit] pseudonym_key: the DPO's search key (made if absent)
  // [users]: sign-in rules.
  int max_failed_logins = 5;                     // max_failed_logins
  std::chrono::seconds lockout{900};             // lockout_seconds
  std::chrono::seconds session_idle{1800};       // session_idle_seconds
  std::chrono::seconds session_max{43200};       // session_max_seconds
};

Result<BrokerConfig> load_broker_config(const std::filesystem::path& path);

// "host:port" with a numeric IPv4/IPv6 address ("[::1]:7443" for IPv6).
Result<boost::asio::ip::tcp::endpoint> parse_listen_address(const std::string& text);

}  // namespace mash::broker
