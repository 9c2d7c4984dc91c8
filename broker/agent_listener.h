// The broker's side of the agent link: accepts agents' TLS connections, learns each agent's
// agency from its verified certificate, expects a Hello, registers the connection (replacing an
// older one for the same agency) and keeps it alive with heartbeats.
//
// Refusals happen in the TLS handshake, before any message is read: a missing, foreign, expired,
// revoked or agency-less certificate, or anything but TLS 1.3 (see common/tls.h).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <filesystem>
#include <chrono>
#include <memory>
#include <mutex>
#include <map>
#include <optional>
#include <vector>
#include <set>
#include <string>

#include "agent_registry.h"
#include "audit_log.h"
#include "link.h"
#include "log.h"
#include "result.h"
#include "tls.h"
#include "witness.h"

namespace mash::broker {

struct AgentListenerOptions {
  LinkOptions link;
  // Time allowed for the TLS handshake and for the agent's Hello after it.
  std::chrono::milliseconds handshake_timeout{10'000};
  // Connections (handshaking or established) held at once; more are closed on accept.
  size_t max_connections = 512;
  std::string software = "mash-broker";
  // How often to look for a new audit checkpoint to send to connected agents (witnessing).
  std::chrono::milliseconds checkpoint_broadcast_interval{1000};
  // Witnessing the agencies' disclosure logs: where the witnessed checkpoints are kept, and
  // each agency's disclosure-log public key (an agency without one is not witnessed, and the
  // broker says so when it connects).
  std::filesystem::path witness_dir;
  std::map<std::string, VerifyKey> agency_keys;
  // The signed agreement, sent to each agent whose Hello names an older version (or none).
  struct PolicyBundle {
    std::string agreement_id;
    uint64_t version = 0;
    std::string document, signature;  // the TOML text as signed, and the signature file's text
  };
  std::optional<PolicyBundle> policy_bundle;
};

// An answer from an agent whose signature verified with that agency's key (agency_keys).
struct AgentAnswer {
  std::string agency;
  std::vector<uint8_t> enquiry_id, body, signature;
};

// What the enquiry side of the broker hears from the link. Each runs on the connection's strand.
struct AgentListenerHandlers {
  // An agent (re)connected: a chance to send what is waiting for it.
  std::function<void(const std::string& agency)> on_connected;
  // The agent holds the enquiry durably.
  std::function<void(const std::string& agency, std::vector<uint8_t> enquiry_id)> on_acknowledged;
  // A verified answer. Call `stored(true)` once it is recorded durably: the agent is then told
  // and stops re-sending it.
  std::function<void(AgentAnswer answer, std::function<void(bool stored)> stored)> on_answer;
  // The agent refused one enquiry (an Error with its id; the connection stays open).
  std::function<void(const std::string& agency, std::vector<uint8_t> enquiry_id, int code, std::string message)> on_refused;
};

struct AgentListenerCounters {
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> handshakes_refused{0};
  std::atomic<uint64_t> over_capacity{0};
  std::atomic<uint64_t> protocol_errors{0};
  std::atomic<uint64_t> replaced{0};
  std::atomic<uint64_t> checkpoints_witnessed{0};
  std::atomic<uint64_t> witness_alarms{0};
};

class AgentListener : public std::enable_shared_from_this<AgentListener> {
 public:
  // `audit` records each agent connection before the agent is answered (fail closed), and its
  // checkpoints are sent to agents, which witness them. Null only in tests of the link itself.
  AgentListener(boost::asio::io_context& io, TlsContext tls, AgentListenerOptions options,
                Logger log, AgentRegistry& registry, AuditLog* audit = nullptr);
  ~AgentListener();

  // Set before listen().
  void set_handlers(AgentListenerHandlers handlers) { handlers_ = std::move(handlers); }
  // Sends a frame to the agency's current connection; false if it is not connected.
  bool send_to(const std::string& agency, std::vector<uint8_t> frame);

  // Binds and starts accepting. Port 0 picks a free port (see port()).
  Status listen(const boost::asio::ip::tcp::endpoint& endpoint);
  uint16_t port() const { return port_; }
  // Stops accepting and closes every connection.
  void stop();
  // New connections use `tls` from now on (after a CRL or certificate reload); established
  // connections keep theirs.
  void update_tls(TlsContext tls);

  const AgentListenerCounters& counters() const { return counters_; }

  // How the broker's witness of each agency's disclosure log stands (for the admin and
  // /metrics): every agency with a disclosure-log key configured.
  struct WitnessState {
    bool alarmed = false;
    std::string reason;          // the alarm's, if alarmed
    uint64_t witnessed_size = 0;  // records in the newest checkpoint witnessed (0: none yet)
  };
  std::map<std::string, WitnessState> witness_states();
  size_t open_connections() const { return open_.load(); }

 private:
  class Connection;
  void do_accept();
  void on_established(std::shared_ptr<LinkSession> session, std::string agency,
                      std::chrono::system_clock::time_point certificate_expires);
  void on_message(LinkSession& session, Frame& frame, const std::string& agency, bool& greeted,
                  std::chrono::system_clock::time_point certificate_expires);
  std::shared_ptr<LinkSession> find_session(const LinkSession* session);
  void complete_hello(std::shared_ptr<LinkSession> session, ConnectedAgent info, uint64_t agent_policy_version);
  void on_answer(LinkSession& session, const std::string& agency, wire::Answer::Reader answer);
  void send_checkpoint(LinkSession& session, const std::string& note);
  void broadcast_checkpoints();
  Witness* witness_for(const std::string& agency);
  void on_agency_witness_step(LinkSession& session, const std::string& agency, const Witness::Step& step);
  void record(const std::string& type, const std::string& agency, const std::string& outcome,
              std::function<void(Status)> done);
  void track(const std::shared_ptr<LinkSession>& s);
  void untrack(const LinkSession* s);

  boost::asio::io_context& io_;
  TlsContext current_tls();

  std::mutex tls_mutex_;
  TlsContext tls_;
  AgentListenerOptions options_;
  Logger log_;
  AgentRegistry& registry_;
  boost::asio::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  AgentListenerCounters counters_;
  std::atomic<size_t> open_{0};
  std::mutex sessions_mutex_;
  std::set<std::shared_ptr<LinkSession>> sessions_;
  std::atomic<bool> stopped_{false};
  AuditLog* audit_;
  boost::asio::steady_timer checkpoint_timer_;
  std::string last_broadcast_;  // on the acceptor's strand
  std::mutex witness_mutex_;
  std::map<std::string, std::unique_ptr<Witness>> witnesses_;
  AgentListenerHandlers handlers_;
};

}  // namespace mash::broker
