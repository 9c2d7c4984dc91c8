// The agent's side of the agent link: dials out to the broker (agencies open no inbound port),
// verifies the broker's certificate and name, says Hello, and keeps the connection alive with
// heartbeats. When the connection fails or closes, it reconnects with capped exponential backoff
// and jitter, until stop().
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "audit_log.h"
#include "backoff.h"
#include "enquiry_service.h"
#include "policy_holder.h"
#include "link.h"
#include "log.h"
#include "tls.h"
#include "witness.h"

namespace mash::agent {

struct BrokerLinkOptions {
  std::string host;         // broker host name or address to connect to
  uint16_t port = 7443;
  std::string server_name;  // the name the broker's certificate must carry
  LinkOptions link;
  std::chrono::milliseconds connect_timeout{10'000};  // TCP connect + TLS handshake + Hello
  std::chrono::milliseconds reconnect_initial{500};
  std::chrono::milliseconds reconnect_max{60'000};
  std::string software = "mash-agent";
  std::string agency;       // from this agent's certificate, for its own records
  // How often to look for a new disclosure-log checkpoint to send to the broker.
  std::chrono::milliseconds checkpoint_broadcast_interval{1000};
};

struct BrokerLinkCounters {
  std::atomic<uint64_t> attempts{0};
  std::atomic<uint64_t> connected{0};        // times the broker answered our Hello
  std::atomic<uint64_t> handshake_failures{0};
  std::atomic<uint64_t> disconnects{0};
  std::atomic<uint64_t> checkpoints_witnessed{0};
  std::atomic<uint64_t> witness_alarms{0};
};

class BrokerLink : public std::enable_shared_from_this<BrokerLink> {
 public:
  // `witness` checks the broker's audit checkpoints; `disclosure` is this agency's own log,
  // whose checkpoints the broker witnesses (both null only in tests of the link itself).
  BrokerLink(boost::asio::io_context& io, TlsContext tls, BrokerLinkOptions options, Logger log,
             Witness* witness = nullptr, AuditLog* disclosure = nullptr);
  // Enquiries go to `service`; policy bundles from the hub to `policy` (null in link tests).
  void attach(EnquiryService* service, PolicyHolder* policy) {
    service_ = service;
    policy_ = policy;
  }
  void start();
  void stop();
  // Later connection attempts use `tls` (after a CRL or certificate reload).
  void update_tls(TlsContext tls);

  bool connected() const { return connected_.load(); }
  const BrokerLinkCounters& counters() const { return counters_; }

 private:
  void connect();
  void on_resolved(const boost::system::error_code& ec,
                   boost::asio::ip::tcp::resolver::results_type results);
  void on_connected(const boost::system::error_code& ec);
  void on_handshake(const boost::system::error_code& ec);
  void on_message(LinkSession& session, Frame& frame);
  void on_closed(const std::string& reason);
  void on_witness_step(LinkSession& session, const Witness::Step& step);
  void broadcast_checkpoint();
  void fail_attempt(const std::string& stage, const std::string& reason);
  void schedule_reconnect();

  boost::asio::io_context& io_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  TlsContext tls_;
  BrokerLinkOptions options_;
  Logger log_;
  Backoff backoff_;
  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::steady_timer timer_;           // reconnect delay
  boost::asio::steady_timer attempt_timer_;   // deadline for one attempt
  std::unique_ptr<TlsStream> stream_;
  std::shared_ptr<LinkSession> session_;
  uint64_t attempt_id_ = 0;
  std::atomic<bool> connected_{false};
  std::atomic<bool> stopped_{false};
  BrokerLinkCounters counters_;
  Witness* witness_;
  AuditLog* disclosure_;
  EnquiryService* service_ = nullptr;
  PolicyHolder* policy_ = nullptr;
  boost::asio::steady_timer checkpoint_timer_;
  std::string last_sent_checkpoint_;
};

}  // namespace mash::agent
