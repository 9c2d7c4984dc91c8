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
  unsigned threads = 2;                          // [broker] threads
  // [audit]: the access audit log (required: the broker records every step before acting).
  std::filesystem::path audit_dir;               // dir
  std::filesystem::path audit_key;               // signing_key (Ed25519, mode 0600)
  std::string audit_origin = "mash-broker";      // origin: names this hub's log in checkpoints
  std::chrono::milliseconds audit_checkpoint_interval{2000};  // checkpoint_interval_ms
  LogLevel log_level = LogLevel::kInfo;          // [log] level
};

Result<BrokerConfig> load_broker_config(const std::filesystem::path& path);

// "host:port" with a numeric IPv4/IPv6 address ("[::1]:7443" for IPv6).
Result<boost::asio::ip::tcp::endpoint> parse_listen_address(const std::string& text);

}  // namespace mash::broker
