// mash-agent: one per agency. Dials out to the hub's broker over mutually authenticated TLS 1.3
// and keeps the link alive; matching and answering enquiries build on this.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <iostream>

#include "agent_config.h"
#include "audit_log.h"
#include "broker_link.h"
#include "log.h"
#include "crypto.h"
#include "signed_note.h"
#include "tls.h"
#include "witness.h"
#include "version.h"

namespace {

constexpr const char* kUsage = R"(usage: mash-agent --config FILE
       mash-agent witness-reset --config FILE
       mash-agent keygen --out FILE
       mash-agent --help | --version

Runs the MASH Exchange agent for one agency. It dials out to the hub's broker
(the agency opens no inbound port), proves its agency with its certificate,
and reconnects by itself when the link drops.

Commands:
  keygen --out FILE  make this agency's disclosure-log signing key (FILE, 0600) and FILE.pub
  witness-reset   clear an audit witness alarm (after finding out why the hub's audit
                  history changed; run it with the agent stopped); the next hub
                  checkpoint is trusted afresh

Options:
  --config FILE   the agent's TOML configuration (see deploy/examples/agent.toml)
  --check-config  validate the configuration and exit
  --help          show this help
  --version       print the version

Exit status: 0 on a clean stop (SIGINT/SIGTERM), 2 for usage or configuration
errors, 1 for runtime failures.
)";

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "keygen") {
    if (argc != 4 || std::string(argv[2]) != "--out") {
      std::cerr << "mash-agent: usage: mash-agent keygen --out FILE\n";
      return 2;
    }
    if (auto st = mash::generate_key_pair(argv[3]); !st.ok()) {
      std::cerr << "mash-agent: " << st.error().message << "\n";
      return 1;
    }
    std::cout << "wrote " << argv[3] << " (secret, mode 0600) and " << argv[3]
              << ".pub (give the .pub to the hub: it witnesses this agency's disclosure log)\n";
    return 0;
  }
  std::string config_path;
  bool check_only = false;
  bool witness_reset = false;
  int first = 1;
  if (argc > 1 && std::string(argv[1]) == "witness-reset") {
    witness_reset = true;
    first = 2;
  }
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (arg == "--version") {
      std::cout << "mash-agent " << MASH_VERSION << "\n";
      return 0;
    } else if (arg == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (arg == "--check-config") {
      check_only = true;
    } else {
      std::cerr << "mash-agent: unknown argument '" << arg << "' (try --help)\n";
      return 2;
    }
  }
  if (config_path.empty()) {
    std::cerr << "mash-agent: --config FILE is required (try --help)\n";
    return 2;
  }
  auto config = mash::agent::load_agent_config(config_path);
  if (!config.ok()) {
    std::cerr << "mash-agent: configuration error: " << config.error().message << "\n";
    return 2;
  }
  auto audit_key = mash::load_verify_key(config->broker_audit_key);
  auto witness = mash::Witness::open(
      config->witness_state, mash::NoteVerifier(config->broker_audit_origin, *audit_key),
      config->broker_audit_origin);
  if (!witness.ok()) {
    std::cerr << "mash-agent: witness state: " << witness.error().message << "\n";
    return 1;
  }
  if (witness_reset) {
    std::string was = witness->alarm_reason();
    if (auto st = witness->reset(); !st.ok()) {
      std::cerr << "mash-agent: " << st.error().message << "\n";
      return 1;
    }
    std::cout << "mash-agent: witness reset" << (was.empty() ? " (there was no alarm)" : "; cleared alarm: " + was)
              << "\n";
    return 0;
  }
  auto tls = mash::ReloadingTlsContext::create(config->tls, mash::ReloadingTlsContext::Side::kClient);
  if (!tls.ok()) {
    std::cerr << "mash-agent: configuration error: tls: " << tls.error().message << "\n";
    return 2;
  }
  auto disclosure_key = mash::load_signing_key(config->disclosure_key);
  if (!disclosure_key.ok()) {
    std::cerr << "mash-agent: configuration error: disclosure.signing_key: " << disclosure_key.error().message << "\n";
    return 2;
  }
  if (check_only) {
    std::cout << "mash-agent: configuration " << config_path << " is valid (agency "
              << config->agency << ")\n";
    return 0;
  }
  mash::AuditLogOptions disclosure_options;
  disclosure_options.origin = config->disclosure_origin;
  disclosure_options.checkpoint_interval = config->disclosure_checkpoint_interval;
  auto disclosure = mash::AuditLog::open(config->disclosure_dir, disclosure_options,
                                         std::move(disclosure_key).value());
  if (!disclosure.ok()) {
    std::cerr << "mash-agent: disclosure log " << config->disclosure_dir.string() << ": "
              << disclosure.error().message << "\n";
    return 1;
  }
  mash::Logger log(std::cerr, config->log_level, "agent");
  boost::asio::io_context io;
  config->link.software = std::string("mash-agent ") + MASH_VERSION;
  auto link = std::make_shared<mash::agent::BrokerLink>(io, (*tls)->current(), config->link,
                                                        log.child("link"), &*witness, disclosure->get());
  if (witness->alarmed()) {
    log.error("audit-witness-alarm-active",
              {{"reason", witness->alarm_reason()},
               {"action", "enquiries are refused until an operator runs mash-agent witness-reset"}});
  }
  mash::watch_tls_files(io, *tls, config->tls_reload_interval, log.child("tls"),
                        [link](mash::TlsContext c) { link->update_tls(std::move(c)); });
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    log.info("stopping", {{"signal", sig}});
    link->stop();
    // Give the goodbye messages a moment to leave, then stop whatever is left.
    auto grace = std::make_shared<boost::asio::steady_timer>(io, std::chrono::milliseconds(200));
    grace->async_wait([&io, grace](const boost::system::error_code&) { io.stop(); });
  });
  log.info("started", {{"version", MASH_VERSION},
                       {"agency", config->agency},
                       {"broker", config->link.host + ":" + std::to_string(config->link.port)}});
  link->start();
  io.run();
  log.info("stopped");
  return 0;
}
