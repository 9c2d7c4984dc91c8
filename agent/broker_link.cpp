#include "broker_link.h"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/dispatch.hpp>
#include <capnp/message.h>
#include <openssl/x509.h>

#include <random>

#include "audit_event.h"
#include "link.capnp.h"

namespace mash::agent {

namespace asio = boost::asio;

BrokerLink::BrokerLink(asio::io_context& io, TlsContext tls, BrokerLinkOptions options, Logger log,
                       Witness* witness, AuditLog* disclosure)
    : io_(io),
      strand_(asio::make_strand(io)),
      tls_(std::move(tls)),
      options_(std::move(options)),
      log_(std::move(log)),
      backoff_(options_.reconnect_initial, options_.reconnect_max, std::random_device{}()),
      resolver_(strand_),
      timer_(strand_),
      attempt_timer_(strand_),
      witness_(witness),
      disclosure_(disclosure),
      checkpoint_timer_(strand_) {}

void BrokerLink::start() {
  asio::dispatch(strand_, [self = shared_from_this()] {
    self->connect();
    if (self->disclosure_) self->broadcast_checkpoint();
  });
}

void BrokerLink::broadcast_checkpoint() {
  if (stopped_) return;
  if (connected_ && session_) {
    auto note = disclosure_->latest_checkpoint();
    if (note.ok() && *note != last_sent_checkpoint_) {
      last_sent_checkpoint_ = *note;
      session_->send(make_checkpoint_frame(*note, options_.link.limits));
    }
  }
  checkpoint_timer_.expires_after(options_.checkpoint_broadcast_interval);
  checkpoint_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec) self->broadcast_checkpoint();
  });
}

void BrokerLink::update_tls(TlsContext tls) {
  asio::dispatch(strand_, [self = shared_from_this(), t = std::move(tls)]() mutable {
    self->tls_ = std::move(t);
    // A broker certificate revoked since we connected loses the connection now.
    if (self->session_ && !self->session_->closed()) {
      auto st = reverify_peer(self->tls_, self->session_->ssl());
      if (!st.ok()) {
        self->log_.warn("broker-certificate-no-longer-valid", {{"reason", st.error().message}});
        self->session_->close("broker certificate no longer valid: " + st.error().message);
      }
    }
  });
}

void BrokerLink::stop() {
  asio::dispatch(strand_, [self = shared_from_this()] {
    self->stopped_ = true;
    self->timer_.cancel();
    self->checkpoint_timer_.cancel();
    self->attempt_timer_.cancel();
    self->resolver_.cancel();
    if (self->stream_) {
      boost::system::error_code ignored;
      self->stream_->lowest_layer().close(ignored);
    }
    if (self->session_) self->session_->close("agent stopping");
  });
}

void BrokerLink::connect() {
  if (stopped_) return;
  const uint64_t id = ++attempt_id_;
  counters_.attempts.fetch_add(1);
  attempt_timer_.expires_after(options_.connect_timeout);
  attempt_timer_.async_wait([self = shared_from_this(), id](const boost::system::error_code& ec) {
    if (ec || self->attempt_id_ != id || self->connected_) return;
    // Abort whichever step is pending; its handler reports the failure and reschedules.
    self->resolver_.cancel();
    if (self->stream_) {
      boost::system::error_code ignored;
      self->stream_->lowest_layer().close(ignored);
    }
    if (self->session_) self->session_->close("broker did not answer hello in time");
  });
  resolver_.async_resolve(options_.host, std::to_string(options_.port),
                          [self = shared_from_this()](auto ec, auto results) {
                            self->on_resolved(ec, std::move(results));
                          });
}

void BrokerLink::on_resolved(const boost::system::error_code& ec,
                             asio::ip::tcp::resolver::results_type results) {
  if (stopped_) return;
  if (ec) return fail_attempt("resolve", ec.message());
  stream_ = std::make_unique<TlsStream>(strand_, *tls_);
  if (auto st = set_expected_server_name(stream_->native_handle(), options_.server_name); !st.ok()) {
    return fail_attempt("tls", st.error().message);
  }
  asio::async_connect(stream_->lowest_layer(), results,
                      [self = shared_from_this()](auto ec, const auto&) { self->on_connected(ec); });
}

void BrokerLink::on_connected(const boost::system::error_code& ec) {
  if (stopped_) return;
  if (ec) return fail_attempt("connect", ec.message());
  boost::system::error_code nd;
  stream_->lowest_layer().set_option(asio::ip::tcp::no_delay(true), nd);  // small frames go out at once
  stream_->async_handshake(asio::ssl::stream_base::client,
                           [self = shared_from_this()](auto ec) { self->on_handshake(ec); });
}

void BrokerLink::on_handshake(const boost::system::error_code& ec) {
  if (stopped_) return;
  if (ec) {
    counters_.handshake_failures.fetch_add(1);
    std::string reason = ec.message();
    if (SSL_get_verify_result(stream_->native_handle()) != X509_V_OK) {
      reason = "broker certificate refused: " + verify_result_text(stream_->native_handle());
    }
    return fail_attempt("tls-handshake", reason);
  }
  std::string label = options_.host + ":" + std::to_string(options_.port);
  session_ = std::make_shared<LinkSession>(std::move(*stream_), options_.link, log_, label);
  stream_.reset();
  std::weak_ptr<BrokerLink> weak = shared_from_this();
  LinkSession::Handler handler;
  handler.on_message = [weak](LinkSession& s, Frame& f) {
    if (auto self = weak.lock()) self->on_message(s, f);
  };
  handler.on_closed = [weak](LinkSession&, const std::string& reason) {
    if (auto self = weak.lock()) self->on_closed(reason);
  };
  session_->start(std::move(handler));

  capnp::MallocMessageBuilder builder;
  auto hello = builder.initRoot<wire::Message>().initHello();
  hello.setProtocolVersion(wire::PROTOCOL_VERSION);
  hello.setSoftware(options_.software);
  hello.setHeartbeatIntervalMs(static_cast<uint32_t>(options_.link.heartbeat_interval.count()));
  if (policy_) hello.setPolicyVersion(static_cast<uint64_t>(policy_->version()));
  if (disclosure_) {
    auto key = disclosure_->verify_key();
    hello.setSigningKey(capnp::Data::Reader(key.bytes.data(), key.bytes.size()));
  }
  session_->send(encode_frame(builder, options_.link.limits));
}

void BrokerLink::on_message(LinkSession& session, Frame& frame) {
  auto msg = frame.message();
  if (!connected_) {
    if (msg.which() == wire::Message::ERROR) {
      log_.warn("broker-refused", {{"code", static_cast<int>(msg.getError().getCode())},
                                   {"message", std::string(msg.getError().getMessage().cStr()).substr(0, 200)}});
      session.close("broker refused the connection");
      return;
    }
    if (msg.which() != wire::Message::HELLO) {
      session.send_error_and_close(static_cast<int>(wire::Error::Code::PROTOCOL),
                                   "expected hello as the first message");
      return;
    }
    if (msg.getHello().getProtocolVersion() != wire::PROTOCOL_VERSION) {
      session.send_error_and_close(static_cast<int>(wire::Error::Code::UNSUPPORTED_VERSION),
                                   "agent speaks protocol version " +
                                       std::to_string(wire::PROTOCOL_VERSION));
      return;
    }
    connected_ = true;
    attempt_timer_.cancel();
    backoff_.reset();
    counters_.connected.fetch_add(1);
    log_.info("connected", {{"broker", session.peer_label()},
                            {"software", std::string(msg.getHello().getSoftware().cStr()).substr(0, 128)}});
    if (disclosure_) {
      AuditEvent e;
      e.type = "broker.connected";
      e.time_ms = unix_millis_now();
      e.actor = "agent:" + options_.agency;
      e.role = "agent";
      e.agency = options_.agency;
      e.outcome = "ok";
      if (auto record = event_to_record(e); record.ok()) {
        disclosure_->append_async(*record, event_index_keys(e), [](Result<uint64_t>) {});
      }
      // The broker witnesses this agency's log: it gets the latest checkpoint on every connection.
      last_sent_checkpoint_.clear();
      if (auto note = disclosure_->latest_checkpoint(); note.ok()) {
        last_sent_checkpoint_ = *note;
        session.send(make_checkpoint_frame(*note, options_.link.limits));
      }
    }
    if (service_) {
      std::weak_ptr<LinkSession> weak = session.shared_from_this();
      service_->connected([weak](std::vector<uint8_t> frame) {
        auto s = weak.lock();
        if (!s || s->closed()) return false;
        s->send(std::move(frame));
        return true;
      });
    }
    return;
  }
  switch (msg.which()) {
    case wire::Message::ERROR:
      log_.warn("broker-error", {{"code", static_cast<int>(msg.getError().getCode())},
                                 {"message", std::string(msg.getError().getMessage().cStr()).substr(0, 200)}});
      return;
    case wire::Message::AUDIT_CHECKPOINT:
      if (witness_) {
        on_witness_step(session, witness_->on_checkpoint(std::string_view(msg.getAuditCheckpoint().getNote().cStr())));
      }
      return;
    case wire::Message::CONSISTENCY_PROOF: {
      if (!witness_) return;
      auto p = msg.getConsistencyProof();
      auto proof = read_consistency_proof(p);
      if (!proof.ok()) {
        session.send_error_and_close(static_cast<int>(wire::Error::Code::PROTOCOL), proof.error().message);
        return;
      }
      on_witness_step(session, witness_->on_proof(p.getOldSize(), p.getNewSize(), *proof));
      return;
    }
    case wire::Message::CONSISTENCY_REQUEST: {
      auto req = msg.getConsistencyRequest();
      auto proof = disclosure_ ? disclosure_->consistency_proof(req.getOldSize(), req.getNewSize())
                               : Result<std::vector<merkle::Hash>>(make_error(ErrorCode::kUnavailable, "no disclosure log"));
      if (!proof.ok()) {
        session.send_error_and_close(static_cast<int>(wire::Error::Code::PROTOCOL),
                                     "no consistency proof: " + proof.error().message);
        return;
      }
      session.send(make_consistency_proof_frame(req.getOldSize(), req.getNewSize(), *proof, options_.link.limits));
      return;
    }
    case wire::Message::ENQUIRY:
      if (witness_ && witness_->alarmed()) {
        // Refused until an operator has looked at the alarm (see witness.h).
        log_.error("enquiry-refused", {{"reason", "audit witness alarm"}});
        auto refused = msg.getEnquiry().getId();
        session.send(make_error_frame(static_cast<int>(wire::Error::Code::WITNESS_ALARM),
                                      "refusing enquiries: the hub's audit history is inconsistent with what this agency witnessed",
                                      options_.link.limits, std::span<const uint8_t>(refused.begin(), refused.size())));
        return;
      }
      if (service_) {
        auto e = msg.getEnquiry();
        std::weak_ptr<LinkSession> weak = session.shared_from_this();
        service_->submit(std::vector<uint8_t>(e.getId().begin(), e.getId().end()),
                         std::vector<uint8_t>(e.getBody().begin(), e.getBody().end()),
                         std::vector<uint8_t>(e.getSignature().begin(), e.getSignature().end()),
                         [weak](std::vector<uint8_t> frame) {
                           auto s = weak.lock();
                           if (!s || s->closed()) return false;
                           s->send(std::move(frame));
                           return true;
                         });
      }
      return;
    case wire::Message::ACKNOWLEDGEMENT:
      if (service_) {
        auto ack = msg.getAcknowledgement();
        auto id = ack.getEnquiryId();
        auto digest = ack.getAnswerDigest();
        service_->acknowledged(std::vector<uint8_t>(id.begin(), id.end()),
                               std::vector<uint8_t>(digest.begin(), digest.end()));
      }
      return;
    case wire::Message::POLICY_BUNDLE: {
      if (!policy_) return;
      auto b = msg.getPolicyBundle();
      std::string_view doc(reinterpret_cast<const char*>(b.getDocument().begin()), b.getDocument().size());
      std::string_view sig(reinterpret_cast<const char*>(b.getSignature().begin()), b.getSignature().size());
      const int64_t before = policy_->version();
      if (auto st = policy_->offer(doc, sig, "policy bundle from the hub"); !st.ok()) {
        // Refused (unsigned, wrong signer, older than held, ...): keep answering with the agreement held.
        log_.error("policy-bundle-refused", {{"version", b.getVersion()}, {"error", st.error().message.substr(0, 300)}});
        session.send(make_error_frame(static_cast<int>(wire::Error::Code::POLICY_REJECTED),
                                      "policy bundle refused: " + st.error().message.substr(0, 300),
                                      options_.link.limits));
        return;
      }
      if (policy_->version() != before) log_.info("policy-accepted", {{"version", policy_->version()}});
      return;
    }
    default:
      session.send_error_and_close(static_cast<int>(wire::Error::Code::PROTOCOL),
                                   "unexpected message from the broker");
  }
}

void BrokerLink::on_witness_step(LinkSession& session, const Witness::Step& step) {
  handle_witness_step(session, step, log_, "audit-witness", LogField("broker", session.peer_label()),
                      {&counters_.checkpoints_witnessed, &counters_.witness_alarms}, options_.link.limits);
}

void BrokerLink::on_closed(const std::string& reason) {
  bool was_connected = connected_.exchange(false);
  if (service_) service_->disconnected();
  session_.reset();
  if (was_connected) {
    counters_.disconnects.fetch_add(1);
    log_.warn("disconnected", {{"reason", reason}});
  } else {
    log_.warn("connect-failed", {{"stage", "hello"}, {"reason", reason}});
  }
  schedule_reconnect();
}

void BrokerLink::fail_attempt(const std::string& stage, const std::string& reason) {
  if (stream_) {
    boost::system::error_code ignored;
    stream_->lowest_layer().close(ignored);
    stream_.reset();
  }
  log_.warn("connect-failed", {{"stage", stage}, {"reason", reason}});
  schedule_reconnect();
}

void BrokerLink::schedule_reconnect() {
  attempt_timer_.cancel();
  if (stopped_) return;
  auto delay = backoff_.next();
  log_.info("reconnect-scheduled", {{"delay_ms", delay.count()}, {"attempt", backoff_.attempt()}});
  timer_.expires_after(delay);
  timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec) self->connect();
  });
}

}  // namespace mash::agent
