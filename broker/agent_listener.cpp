#include "agent_listener.h"

#include "envelope.h"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <capnp/message.h>

#include "audit_event.h"
#include "link.capnp.h"

namespace mash::broker {

namespace asio = boost::asio;

namespace {

std::string endpoint_text(const asio::ip::tcp::socket& socket) {
  boost::system::error_code ec;
  auto ep = socket.remote_endpoint(ec);
  if (ec) return "unknown";
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

const char* message_name(wire::Message::Which which) {
  switch (which) {
    case wire::Message::HELLO: return "hello";
    case wire::Message::POLICY_BUNDLE: return "policy-bundle";
    case wire::Message::ENQUIRY: return "enquiry";
    case wire::Message::ACKNOWLEDGEMENT: return "acknowledgement";
    case wire::Message::ANSWER: return "answer";
    case wire::Message::HEARTBEAT: return "heartbeat";
    case wire::Message::ERROR: return "error";
    case wire::Message::AUDIT_CHECKPOINT: return "audit-checkpoint";
    case wire::Message::CONSISTENCY_REQUEST: return "consistency-request";
    case wire::Message::CONSISTENCY_PROOF: return "consistency-proof";
  }
  return "unknown";
}

}  // namespace

// A connection between accept and the end of the TLS handshake.
class AgentListener::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<AgentListener> owner, asio::ip::tcp::socket socket)
      : owner_(std::move(owner)),
        peer_(endpoint_text(socket)),
        tls_(owner_->current_tls()),
        stream_(std::move(socket), *tls_),
        timer_(stream_.get_executor()) {}

  void start() {
    timer_.expires_after(owner_->options_.handshake_timeout);
    timer_.async_wait(asio::bind_executor(stream_.get_executor(), [self = shared_from_this()](auto ec) {
      if (ec || self->done_) return;
      self->done_ = true;
      boost::system::error_code ignored;
      self->stream_.lowest_layer().close(ignored);
      self->fail("handshake timed out");
    }));
    stream_.async_handshake(asio::ssl::stream_base::server,
                            asio::bind_executor(stream_.get_executor(),
                                                [self = shared_from_this()](auto ec) {
                                                  self->on_handshake(ec);
                                                }));
  }

 private:
  void on_handshake(const boost::system::error_code& ec) {
    if (done_) return;
    done_ = true;
    timer_.cancel();
    if (ec) {
      std::string reason = ec.message();
      long verify = SSL_get_verify_result(stream_.native_handle());
      if (verify != X509_V_OK) reason = verify_result_text(stream_.native_handle());
      boost::system::error_code ignored;
      stream_.lowest_layer().close(ignored);
      fail(reason);
      return;
    }
    auto agency = peer_agency_id(stream_.native_handle());
    if (!agency.ok()) {  // the verify callback should have refused it already
      boost::system::error_code ignored;
      stream_.lowest_layer().close(ignored);
      fail(agency.error().message);
      return;
    }
    const auto expires = peer_certificate_not_after(stream_.native_handle());
    auto session = std::make_shared<LinkSession>(std::move(stream_), owner_->options_.link,
                                                 owner_->log_, peer_);
    owner_->on_established(std::move(session), *agency, expires);
  }

  void fail(const std::string& reason) {
    owner_->counters_.handshakes_refused.fetch_add(1);
    owner_->open_.fetch_sub(1);
    owner_->log_.warn("handshake-refused", {{"peer", peer_}, {"reason", reason}});
  }

  std::shared_ptr<AgentListener> owner_;
  std::string peer_;
  TlsContext tls_;  // the SSL object also holds a reference to the OpenSSL context
  TlsStream stream_;
  asio::steady_timer timer_;
  bool done_ = false;
};

AgentListener::AgentListener(asio::io_context& io, TlsContext tls, AgentListenerOptions options,
                             Logger log, AgentRegistry& registry, AuditLog* audit)
    : io_(io),
      tls_(std::move(tls)),
      options_(std::move(options)),
      log_(std::move(log)),
      registry_(registry),
      acceptor_(asio::make_strand(io)),
      audit_(audit),
      checkpoint_timer_(acceptor_.get_executor()) {}

AgentListener::~AgentListener() = default;

Status AgentListener::listen(const asio::ip::tcp::endpoint& endpoint) {
  boost::system::error_code ec;
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return make_error(ErrorCode::kUnavailable, "cannot listen on " + endpoint.address().to_string() +
                                                   ":" + std::to_string(endpoint.port()) + ": " +
                                                   ec.message());
  }
  port_ = acceptor_.local_endpoint().port();
  log_.info("listening", {{"address", endpoint.address().to_string()}, {"port", port_}});
  asio::dispatch(acceptor_.get_executor(), [self = shared_from_this()] {
    self->do_accept();
    if (self->audit_) self->broadcast_checkpoints();
  });
  return {};
}

void AgentListener::record(const std::string& type, const std::string& agency,
                           const std::string& outcome, std::function<void(Status)> done) {
  if (!audit_) {
    done(Status());
    return;
  }
  AuditEvent e;
  e.type = type;
  e.time_ms = unix_millis_now();
  e.actor = "agent:" + agency;
  e.role = "agent";
  e.agency = agency;
  e.outcome = outcome;
  auto record = event_to_record(e);
  if (!record.ok()) {
    done(record.error());
    return;
  }
  audit_->append_async(*record, event_index_keys(e), [done = std::move(done)](Result<uint64_t> r) {
    done(r.ok() ? Status() : Status(r.error()));
  });
}

void AgentListener::send_checkpoint(LinkSession& session, const std::string& note) {
  session.send(make_checkpoint_frame(note, options_.link.limits));
}

void AgentListener::broadcast_checkpoints() {
  if (stopped_) return;
  auto note = audit_->latest_checkpoint();
  if (note.ok() && *note != last_broadcast_) {
    last_broadcast_ = *note;
    for (const auto& agent : registry_.snapshot()) {
      if (auto s = registry_.session(agent.agency)) {
        s->post([self = shared_from_this(), n = *note](LinkSession& session) { self->send_checkpoint(session, n); });
      }
    }
  }
  checkpoint_timer_.expires_after(options_.checkpoint_broadcast_interval);
  checkpoint_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec) self->broadcast_checkpoints();
  });
}

void AgentListener::do_accept() {
  acceptor_.async_accept(asio::make_strand(io_), [self = shared_from_this()](
                                                     boost::system::error_code ec,
                                                     asio::ip::tcp::socket socket) {
    if (ec == asio::error::operation_aborted || self->stopped_) return;
    if (ec) {
      self->log_.warn("accept-failed", {{"error", ec.message()}});
    } else if (self->open_.load() >= self->options_.max_connections) {
      self->counters_.over_capacity.fetch_add(1);
      self->log_.warn("connection-refused", {{"peer", endpoint_text(socket)},
                                             {"reason", "too many connections"}});
      boost::system::error_code ignored;
      socket.close(ignored);
    } else {
      self->counters_.accepted.fetch_add(1);
      self->open_.fetch_add(1);
      boost::system::error_code nd;
      socket.set_option(asio::ip::tcp::no_delay(true), nd);  // small frames go out at once
      std::make_shared<Connection>(self, std::move(socket))->start();
    }
    self->do_accept();
  });
}

TlsContext AgentListener::current_tls() {
  std::lock_guard lock(tls_mutex_);
  return tls_;
}

void AgentListener::update_tls(TlsContext tls) {
  {
    std::lock_guard lock(tls_mutex_);
    tls_ = tls;
  }
  // A certificate revoked (or expired) since its connection was made loses the connection now.
  std::set<std::shared_ptr<LinkSession>> sessions;
  {
    std::lock_guard lock(sessions_mutex_);
    sessions = sessions_;
  }
  for (const auto& s : sessions) {
    s->post([tls, self = shared_from_this()](LinkSession& session) {
      auto st = reverify_peer(tls, session.ssl());
      if (st.ok()) return;
      self->log_.warn("certificate-no-longer-valid",
                      {{"peer", session.peer_label()}, {"reason", st.error().message}});
      session.send_error_and_close(static_cast<int>(wire::Error::Code::PROTOCOL),
                                   "certificate no longer valid: " + st.error().message);
    });
  }
}

void AgentListener::track(const std::shared_ptr<LinkSession>& s) {
  std::lock_guard lock(sessions_mutex_);
  sessions_.insert(s);
}

void AgentListener::untrack(const LinkSession* s) {
  std::lock_guard lock(sessions_mutex_);
  for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
    if (it->get() == s) {
      sessions_.erase(it);
      return;
    }
  }
}

void AgentListener::on_established(std::shared_ptr<LinkSession> session, std::string agency,
                                   std::chrono::system_clock::time_point certificate_expires) {
  track(session);
  if (stopped_) {
    session->close("broker stopping");
  }
  log_.debug("handshake-ok", {{"agency", agency}, {"peer", session->peer_label()}});
  auto greeted = std::make_shared<bool>(false);
  std::weak_ptr<AgentListener> weak = shared_from_this();
  LinkSession::Handler handler;
  handler.on_message = [weak, agency, greeted, certificate_expires](LinkSession& s, Frame& f) {
    if (auto self = weak.lock()) self->on_message(s, f, agency, *greeted, certificate_expires);
  };
  handler.on_closed = [weak, agency, greeted](LinkSession& s, const std::string& reason) {
    auto self = weak.lock();
    if (!self) return;
    self->open_.fetch_sub(1);
    if (*greeted) {
      self->registry_.remove(agency, &s);
      self->record("agent.disconnected", agency, "closed", [](Status) {});
      self->log_.info("agent-disconnected",
                      {{"agency", agency}, {"peer", s.peer_label()}, {"reason", reason}});
    } else {
      self->log_.info("connection-closed",
                      {{"agency", agency}, {"peer", s.peer_label()}, {"reason", reason}});
    }
    self->untrack(&s);
  };
  session->start(std::move(handler));
}

void AgentListener::on_message(LinkSession& session, Frame& frame, const std::string& agency,
                               bool& greeted, std::chrono::system_clock::time_point certificate_expires) {
  auto msg = frame.message();
  auto which = msg.which();
  if (!greeted) {
    if (which != wire::Message::HELLO) {
      counters_.protocol_errors.fetch_add(1);
      session.send_error_and_close(static_cast<int>(wire::Error::Code::PROTOCOL),
                                   "expected hello as the first message");
      return;
    }
    auto hello = msg.getHello();
    if (hello.getProtocolVersion() != wire::PROTOCOL_VERSION) {
      counters_.protocol_errors.fetch_add(1);
      session.send_error_and_close(static_cast<int>(wire::Error::Code::UNSUPPORTED_VERSION),
                                   "broker speaks protocol version " +
                                       std::to_string(wire::PROTOCOL_VERSION));
      return;
    }
    greeted = true;
    ConnectedAgent info;
    info.agency = agency;
    info.peer = session.peer_label();
    info.software = std::string(hello.getSoftware().cStr()).substr(0, 128);
    info.since = std::chrono::system_clock::now();
    info.certificate_expires = certificate_expires;
    const uint64_t agent_policy = hello.getPolicyVersion();
    auto self_ptr = find_session(&session);
    if (!self_ptr) return;
    // Fail closed: the connection is recorded durably before the agent is answered.
    record("agent.connected", agency, "ok", [self = shared_from_this(), self_ptr, info, agent_policy](Status st) {
      self_ptr->post([self, self_ptr, info, st, agent_policy](LinkSession& s) {
        if (!st.ok()) {
          self->log_.error("audit-unavailable", {{"agency", info.agency}, {"reason", st.error().message}});
          s.send_error_and_close(static_cast<int>(wire::Error::Code::AUDIT_UNAVAILABLE),
                                 "the broker cannot record this connection; try again later");
          return;
        }
        self->complete_hello(self_ptr, info, agent_policy);
      });
    });
    return;
  }
  switch (which) {
    case wire::Message::ERROR: {
      auto err = msg.getError();
      std::string message = std::string(err.getMessage().cStr()).substr(0, 200);
      log_.warn("agent-error", {{"agency", agency}, {"code", static_cast<int>(err.getCode())}, {"message", message}});
      auto id = err.getEnquiryId();
      if (id.size() == 16 && handlers_.on_refused) {
        handlers_.on_refused(agency, std::vector<uint8_t>(id.begin(), id.end()), static_cast<int>(err.getCode()),
                             std::move(message));
      }
      return;
    }
    case wire::Message::AUDIT_CHECKPOINT: {
      Witness* w = witness_for(agency);
      if (!w) {
        log_.warn("agency-not-witnessed", {{"agency", agency}, {"reason", "no disclosure-log key configured"}});
        return;
      }
      std::lock_guard lock(witness_mutex_);
      on_agency_witness_step(session, agency, w->on_checkpoint(std::string_view(msg.getAuditCheckpoint().getNote().cStr())));
      return;
    }
    case wire::Message::CONSISTENCY_PROOF: {
      Witness* w = witness_for(agency);
      if (!w) return;
      auto p = msg.getConsistencyProof();
      auto proof = read_consistency_proof(p);
      if (!proof.ok()) {
        counters_.protocol_errors.fetch_add(1);
        session.send_error_and_close(static_cast<int>(wire::Error::Code::PROTOCOL), proof.error().message);
        return;
      }
      std::lock_guard lock(witness_mutex_);
      on_agency_witness_step(session, agency, w->on_proof(p.getOldSize(), p.getNewSize(), *proof));
      return;
    }
    case wire::Message::CONSISTENCY_REQUEST: {
      auto req = msg.getConsistencyRequest();
      uint64_t old_size = req.getOldSize(), new_size = req.getNewSize();
      auto proof = audit_ ? audit_->consistency_proof(old_size, new_size)
                          : Result<std::vector<merkle::Hash>>(make_error(ErrorCode::kUnavailable, "no audit log"));
      if (!proof.ok()) {
        counters_.protocol_errors.fetch_add(1);
        session.send_error_and_close(static_cast<int>(wire::Error::Code::PROTOCOL),
                                     "no consistency proof: " + proof.error().message);
        return;
      }
      session.send(make_consistency_proof_frame(old_size, new_size, *proof, options_.link.limits));
      return;
    }
    case wire::Message::ACKNOWLEDGEMENT: {
      auto id = msg.getAcknowledgement().getEnquiryId();
      if (handlers_.on_acknowledged) handlers_.on_acknowledged(agency, std::vector<uint8_t>(id.begin(), id.end()));
      return;
    }
    case wire::Message::ANSWER:
      on_answer(session, agency, msg.getAnswer());
      return;
    default:
      counters_.protocol_errors.fetch_add(1);
      session.send_error_and_close(static_cast<int>(wire::Error::Code::PROTOCOL),
                                   std::string("unexpected message from an agent: ") +
                                       message_name(which));
  }
}

std::shared_ptr<LinkSession> AgentListener::find_session(const LinkSession* session) {
  std::lock_guard lock(sessions_mutex_);
  for (const auto& s : sessions_) {
    if (s.get() == session) return s;
  }
  return nullptr;
}

void AgentListener::on_answer(LinkSession& session, const std::string& agency, wire::Answer::Reader a) {
  AgentAnswer answer;
  answer.agency = agency;
  answer.enquiry_id.assign(a.getEnquiryId().begin(), a.getEnquiryId().end());
  answer.body.assign(a.getBody().begin(), a.getBody().end());
  answer.signature.assign(a.getSignature().begin(), a.getSignature().end());
  auto key = options_.agency_keys.find(agency);
  if (key == options_.agency_keys.end()) {
    // Without the agency's key the answer cannot be evidence of anything: refuse it.
    log_.error("answer-refused", {{"agency", agency}, {"reason", "no key configured for this agency"}});
    return;
  }
  if (answer.enquiry_id.size() != 16 ||
      !verify_envelope(key->second, kAnswerDomain, answer.body, answer.signature)) {
    counters_.protocol_errors.fetch_add(1);
    log_.error("answer-refused", {{"agency", agency}, {"reason", "signature does not verify"}});
    session.send(make_error_frame(static_cast<int>(wire::Error::Code::BAD_SIGNATURE),
                                  "answer signature does not verify with this agency's key", options_.link.limits));
    return;
  }
  if (!handlers_.on_answer) return;
  std::weak_ptr<LinkSession> weak = find_session(&session);
  auto id = answer.enquiry_id;
  auto limits = options_.link.limits;
  auto digest = sha256(answer.body);  // names the answer acknowledged, not only its enquiry
  handlers_.on_answer(std::move(answer), [weak, id, limits, digest](bool stored) {
    if (!stored) return;
    if (auto s = weak.lock()) s->send(make_ack_frame(id, limits, digest));
  });
}

bool AgentListener::send_to(const std::string& agency, std::vector<uint8_t> frame) {
  auto s = registry_.session(agency);
  if (!s || s->closed()) return false;
  s->send(std::move(frame));
  return true;
}

void AgentListener::complete_hello(std::shared_ptr<LinkSession> session_ptr, ConnectedAgent info,
                                   uint64_t agent_policy_version) {
  LinkSession& session = *session_ptr;
  const std::string& agency = info.agency;
  log_.info("agent-connected",
            {{"agency", agency}, {"peer", session.peer_label()}, {"software", info.software}});
  auto previous = registry_.add(info, session_ptr);
  if (previous && previous.get() != &session) {
    counters_.replaced.fetch_add(1);
    log_.warn("agent-replaced", {{"agency", agency},
                                 {"old_peer", previous->peer_label()},
                                 {"new_peer", session.peer_label()}});
    previous->send_error_and_close(static_cast<int>(wire::Error::Code::REPLACED),
                                   "a newer connection for this agency took over");
  }
  // Logged and registered first, then answered: an agent holding our hello is registered.
  capnp::MallocMessageBuilder builder;
  auto reply = builder.initRoot<wire::Message>().initHello();
  reply.setProtocolVersion(wire::PROTOCOL_VERSION);
  reply.setSoftware(options_.software);
  reply.setHeartbeatIntervalMs(static_cast<uint32_t>(options_.link.heartbeat_interval.count()));
  session.send(encode_frame(builder, options_.link.limits));
  if (audit_) {
    if (auto note = audit_->latest_checkpoint(); note.ok()) send_checkpoint(session, *note);
  }
  if (options_.policy_bundle && options_.policy_bundle->version > agent_policy_version) {
    const auto& b = *options_.policy_bundle;
    session.send(make_policy_bundle_frame(b.agreement_id, b.version, b.document, b.signature, options_.link.limits));
    log_.info("policy-bundle-sent", {{"agency", agency}, {"version", b.version}, {"agent_version", agent_policy_version}});
  }
  if (handlers_.on_connected) handlers_.on_connected(agency);
}

Witness* AgentListener::witness_for(const std::string& agency) {
  std::lock_guard lock(witness_mutex_);
  auto it = witnesses_.find(agency);
  if (it != witnesses_.end()) return it->second.get();
  auto key = options_.agency_keys.find(agency);
  if (key == options_.agency_keys.end() || options_.witness_dir.empty()) return nullptr;
  std::string origin = "mash-agent/" + agency;
  auto w = Witness::open(options_.witness_dir / (agency + ".state"), NoteVerifier(origin, key->second), origin);
  if (!w.ok()) {
    log_.error("witness-state-unreadable", {{"agency", agency}, {"reason", w.error().message}});
    return nullptr;
  }
  auto owned = std::make_unique<Witness>(std::move(w).value());
  Witness* raw = owned.get();
  witnesses_[agency] = std::move(owned);
  if (raw->alarmed()) {
    log_.error("agency-witness-alarm-active",
               {{"agency", agency}, {"reason", raw->alarm_reason()},
                {"action", "run mash-broker witness-reset after finding out why"}});
  }
  return raw;
}

std::map<std::string, AgentListener::WitnessState> AgentListener::witness_states() {
  std::map<std::string, WitnessState> out;
  for (const auto& [agency, key] : options_.agency_keys) {
    Witness* w = witness_for(agency);  // loads the state file of an agency not seen since start
    WitnessState& st = out[agency];
    if (!w) {
      st.alarmed = true;
      st.reason = "the witness state cannot be read (see the broker's log)";
      continue;
    }
    std::lock_guard lock(witness_mutex_);
    st.alarmed = w->alarmed();
    st.reason = w->alarm_reason();
    st.witnessed_size = w->witnessed_size();
  }
  return out;
}

void AgentListener::on_agency_witness_step(LinkSession& session, const std::string& agency,
                                           const Witness::Step& step) {
  handle_witness_step(session, step, log_, "agency-witness", LogField("agency", agency),
                      {&counters_.checkpoints_witnessed, &counters_.witness_alarms}, options_.link.limits);
}

void AgentListener::stop() {
  if (stopped_.exchange(true)) return;
  asio::dispatch(acceptor_.get_executor(), [self = shared_from_this()] {
    boost::system::error_code ignored;
    self->acceptor_.close(ignored);
  });
  asio::dispatch(checkpoint_timer_.get_executor(), [self = shared_from_this()] { self->checkpoint_timer_.cancel(); });
  std::set<std::shared_ptr<LinkSession>> sessions;
  {
    std::lock_guard lock(sessions_mutex_);
    sessions = sessions_;
  }
  for (const auto& s : sessions) s->send_error_and_close(
      static_cast<int>(wire::Error::Code::SHUTTING_DOWN), "broker shutting down");
}

}  // namespace mash::broker
