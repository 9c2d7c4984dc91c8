#include "link.h"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <capnp/message.h>

namespace mash {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

std::vector<uint8_t> make_heartbeat_frame(uint64_t seq, const FrameLimits& limits) {
  capnp::MallocMessageBuilder builder;
  auto hb = builder.initRoot<wire::Message>().initHeartbeat();
  hb.setSeq(seq);
  hb.setSentAtMs(unix_millis_now());
  return encode_frame(builder, limits);
}

std::vector<uint8_t> make_error_frame(int code, const std::string& message,
                                      const FrameLimits& limits, std::span<const uint8_t> enquiry_id) {
  capnp::MallocMessageBuilder builder;
  auto err = builder.initRoot<wire::Message>().initError();
  err.setCode(static_cast<wire::Error::Code>(code));
  err.setMessage(message.substr(0, 512));
  if (!enquiry_id.empty()) err.setEnquiryId(capnp::Data::Reader(enquiry_id.data(), enquiry_id.size()));
  return encode_frame(builder, limits);
}

std::vector<uint8_t> make_checkpoint_frame(const std::string& note, const FrameLimits& limits) {
  capnp::MallocMessageBuilder builder;
  builder.initRoot<wire::Message>().initAuditCheckpoint().setNote(note);
  return encode_frame(builder, limits);
}

namespace {
capnp::Data::Reader data(std::span<const uint8_t> b) { return capnp::Data::Reader(b.data(), b.size()); }
capnp::Data::Reader data(std::string_view s) {
  return capnp::Data::Reader(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}
}  // namespace

std::vector<uint8_t> make_enquiry_frame(std::span<const uint8_t> id, std::span<const uint8_t> body,
                                        std::span<const uint8_t> signature, const FrameLimits& limits) {
  capnp::MallocMessageBuilder builder;
  auto e = builder.initRoot<wire::Message>().initEnquiry();
  e.setId(data(id));
  e.setBody(data(body));
  e.setSignature(data(signature));
  return encode_frame(builder, limits);
}

std::vector<uint8_t> make_answer_frame(std::span<const uint8_t> enquiry_id, std::span<const uint8_t> body,
                                       std::span<const uint8_t> signature, const FrameLimits& limits) {
  capnp::MallocMessageBuilder builder;
  auto a = builder.initRoot<wire::Message>().initAnswer();
  a.setEnquiryId(data(enquiry_id));
  a.setBody(data(body));
  a.setSignature(data(signature));
  return encode_frame(builder, limits);
}

std::vector<uint8_t> make_ack_frame(std::span<const uint8_t> enquiry_id, const FrameLimits& limits,
                                    std::span<const uint8_t> answer_digest) {
  capnp::MallocMessageBuilder builder;
  auto ack = builder.initRoot<wire::Message>().initAcknowledgement();
  ack.setEnquiryId(data(enquiry_id));
  if (!answer_digest.empty()) ack.setAnswerDigest(data(answer_digest));
  return encode_frame(builder, limits);
}

std::vector<uint8_t> make_policy_bundle_frame(const std::string& agreement_id, uint64_t version,
                                              std::string_view document, std::string_view signature,
                                              const FrameLimits& limits) {
  capnp::MallocMessageBuilder builder;
  auto b = builder.initRoot<wire::Message>().initPolicyBundle();
  b.setAgreementId(agreement_id);
  b.setVersion(version);
  b.setDocument(data(document));
  b.setSignature(data(signature));
  return encode_frame(builder, limits);
}

std::vector<uint8_t> make_consistency_request_frame(uint64_t old_size, uint64_t new_size,
                                                    const FrameLimits& limits) {
  capnp::MallocMessageBuilder builder;
  auto req = builder.initRoot<wire::Message>().initConsistencyRequest();
  req.setOldSize(old_size);
  req.setNewSize(new_size);
  return encode_frame(builder, limits);
}

std::vector<uint8_t> make_consistency_proof_frame(uint64_t old_size, uint64_t new_size,
                                                  const std::vector<merkle::Hash>& proof,
                                                  const FrameLimits& limits) {
  capnp::MallocMessageBuilder builder;
  auto out = builder.initRoot<wire::Message>().initConsistencyProof();
  out.setOldSize(old_size);
  out.setNewSize(new_size);
  auto hashes = out.initHashes(static_cast<unsigned>(proof.size()));
  for (unsigned i = 0; i < proof.size(); ++i) hashes.set(i, kj::arrayPtr(proof[i].data(), proof[i].size()));
  return encode_frame(builder, limits);
}

Result<std::vector<merkle::Hash>> read_consistency_proof(wire::ConsistencyProof::Reader proof) {
  std::vector<merkle::Hash> out;
  if (proof.getHashes().size() > 64) return make_error(ErrorCode::kInvalidArgument, "consistency proof too long");
  for (auto h : proof.getHashes()) {
    if (h.size() != 32) return make_error(ErrorCode::kInvalidArgument, "malformed consistency proof");
    merkle::Hash hash;
    std::copy(h.begin(), h.end(), hash.begin());
    out.push_back(hash);
  }
  return out;
}

LinkSession::LinkSession(TlsStream stream, LinkOptions options, Logger log, std::string peer_label)
    : stream_(std::move(stream)),
      options_(options),
      log_(std::move(log)),
      peer_label_(std::move(peer_label)),
      tick_timer_(stream_.get_executor()) {}

LinkSession::~LinkSession() = default;

void LinkSession::start(Handler handler) {
  asio::dispatch(stream_.get_executor(), [self = shared_from_this(), h = std::move(handler)]() mutable {
    self->handler_ = std::move(h);
    self->last_rx_ = self->last_tx_ = Clock::now();
    self->do_read_header();
    self->schedule_tick();
  });
}

void LinkSession::send(std::vector<uint8_t> frame) {
  asio::dispatch(stream_.get_executor(), [self = shared_from_this(), f = std::move(frame)]() mutable {
    if (self->closed_ || self->close_after_flush_) return;
    if (self->out_queue_.size() >= self->options_.max_queued_frames) {
      self->close_now("send queue full: peer is not reading");
      return;
    }
    self->out_queue_.push_back(std::move(f));
    if (!self->writing_) self->do_write();
  });
}

void LinkSession::send_error_and_close(int code, std::string message) {
  asio::dispatch(stream_.get_executor(), [self = shared_from_this(), code, m = std::move(message)] {
    if (self->closed_ || self->close_after_flush_) return;
    // Drop what has not started to be written, queue the error, close once it is out (or when
    // the stall check gives up on it).
    while (self->out_queue_.size() > (self->writing_ ? self->writing_frames_ : 0u)) self->out_queue_.pop_back();
    self->out_queue_.push_back(make_error_frame(code, m, self->options_.limits));
    self->close_after_flush_ = true;
    self->close_reason_ = m;
    if (!self->writing_) self->do_write();
  });
}

void LinkSession::close(std::string reason) {
  asio::dispatch(stream_.get_executor(),
                 [self = shared_from_this(), r = std::move(reason)] { self->close_now(r); });
}

void LinkSession::post(std::function<void(LinkSession&)> fn) {
  asio::post(stream_.get_executor(), [self = shared_from_this(), f = std::move(fn)] {
    if (!self->closed_) f(*self);
  });
}

void LinkSession::close_now(const std::string& reason) {
  if (closed_.exchange(true)) return;
  tick_timer_.cancel();
  boost::system::error_code ignored;
  // No TLS close_notify exchange: a dead or hostile peer must not hold the connection open.
  stream_.lowest_layer().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  stream_.lowest_layer().close(ignored);
  // Frames in a write under way stay until it completes (with an error): it may still read them.
  const size_t in_flight = writing_ ? std::min(writing_frames_, out_queue_.size()) : 0;
  out_queue_.erase(out_queue_.begin() + static_cast<std::ptrdiff_t>(in_flight), out_queue_.end());
  if (handler_.on_closed) handler_.on_closed(*this, reason);
  // Drop the handler's captures later: we may be running inside one of its functions.
  asio::post(stream_.get_executor(), [self = shared_from_this()] { self->handler_ = {}; });
}

void LinkSession::do_read_header() {
  asio::async_read(stream_, asio::buffer(header_),
                   asio::bind_executor(stream_.get_executor(),
                                       [self = shared_from_this()](auto ec, size_t n) {
                                         self->on_read_header(ec, n);
                                       }));
}

void LinkSession::on_read_header(const boost::system::error_code& ec, size_t) {
  if (closed_) return;
  if (ec) {
    close_now(ec == asio::error::eof ? "peer closed the connection" : "read failed: " + ec.message());
    return;
  }
  auto length = parse_frame_header(header_, options_.limits);
  if (!length.ok()) {
    log_.warn("frame-refused", {{"peer", peer_label_}, {"reason", length.error().message}});
    close_now("bad frame: " + length.error().message);
    return;
  }
  body_.resize(*length);
  asio::async_read(stream_, asio::buffer(body_),
                   asio::bind_executor(stream_.get_executor(),
                                       [self = shared_from_this()](auto ec, size_t n) {
                                         self->on_read_body(ec, n);
                                       }));
}

void LinkSession::on_read_body(const boost::system::error_code& ec, size_t) {
  if (closed_) return;
  if (ec) {
    close_now("read failed: " + ec.message());
    return;
  }
  auto frame = decode_frame(body_, options_.limits);
  if (!frame.ok()) {
    log_.warn("frame-refused", {{"peer", peer_label_}, {"reason", frame.error().message}});
    close_now("bad frame: " + frame.error().message);
    return;
  }
  last_rx_ = Clock::now();
  frames_received_.fetch_add(1);
  body_.clear();
  body_.shrink_to_fit();
  auto& f = **frame;
  try {
    auto msg = f.message();
    if (msg.which() == wire::Message::HEARTBEAT) {
      // Liveness only: receiving it has already refreshed last_rx_.
    } else if (handler_.on_message) {
      handler_.on_message(*this, f);
    }
  } catch (const kj::Exception& e) {
    close_now(std::string("malformed message: ") + e.getDescription().cStr());
    return;
  }
  if (!closed_) do_read_header();
}

void LinkSession::do_write() {
  if (out_queue_.empty() || closed_) {
    writing_ = false;
    if (close_after_flush_) close_now(close_reason_);
    return;
  }
  writing_ = true;
  write_started_ = Clock::now();
  // Frames waiting together go out in one write (one TLS record, one system call) up to
  // kCoalesceBytes; a larger frame goes on its own, without a copy.
  asio::const_buffer out = asio::buffer(out_queue_.front());
  writing_frames_ = 1;
  if (out_queue_.size() > 1 && out_queue_.front().size() < kCoalesceBytes) {
    write_buffer_.clear();
    writing_frames_ = 0;
    for (const auto& f : out_queue_) {
      if (writing_frames_ > 0 && write_buffer_.size() + f.size() > kCoalesceBytes) break;
      write_buffer_.insert(write_buffer_.end(), f.begin(), f.end());
      ++writing_frames_;
    }
    out = asio::buffer(write_buffer_);
  }
  asio::async_write(stream_, out,
                    asio::bind_executor(stream_.get_executor(),
                                        [self = shared_from_this()](auto ec, size_t n) {
                                          self->on_write(ec, n);
                                        }));
}

void LinkSession::on_write(const boost::system::error_code& ec, size_t) {
  if (closed_) {
    out_queue_.clear();
    writing_ = false;
    return;
  }
  if (ec) {
    close_now("write failed: " + ec.message());
    return;
  }
  last_tx_ = Clock::now();
  for (size_t i = 0; i < writing_frames_ && !out_queue_.empty(); ++i) out_queue_.pop_front();
  writing_frames_ = 0;
  do_write();
}

void LinkSession::send_heartbeat() {
  if (close_after_flush_) return;
  if (out_queue_.size() >= options_.max_queued_frames) return;  // the stall check will act
  out_queue_.push_back(make_heartbeat_frame(++heartbeat_seq_, options_.limits));
  last_tx_ = Clock::now();
  if (!writing_) do_write();
}

void LinkSession::schedule_tick() {
  // Check often enough that a dead peer is noticed within idle_timeout plus a quarter of it.
  auto period = std::min(options_.heartbeat_interval, options_.idle_timeout / 4);
  if (period < std::chrono::milliseconds(10)) period = std::chrono::milliseconds(10);
  tick_timer_.expires_after(period);
  tick_timer_.async_wait(asio::bind_executor(
      stream_.get_executor(), [self = shared_from_this()](auto ec) { self->on_tick(ec); }));
}

void LinkSession::on_tick(const boost::system::error_code& ec) {
  if (ec || closed_) return;
  auto now = Clock::now();
  if (now - last_rx_ > options_.idle_timeout) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - last_rx_).count();
    close_now("peer silent for " + std::to_string(ms) + " ms");
    return;
  }
  if (writing_ && now - write_started_ > options_.idle_timeout) {
    close_now("write stalled: peer is not reading");
    return;
  }
  if (now - last_tx_ >= options_.heartbeat_interval) send_heartbeat();
  schedule_tick();
}

}  // namespace mash

namespace mash {

void handle_witness_step(LinkSession& session, const Witness::Step& step, const Logger& log,
                         const std::string& prefix, const LogField& who, WitnessCounters counters,
                         const FrameLimits& limits) {
  using Kind = Witness::Step::Kind;
  switch (step.kind) {
    case Kind::kAccepted:
      counters.accepted->fetch_add(1);
      log.info(prefix + "-accepted", {who, {"size", step.new_size}, {"previous", step.old_size}});
      return;
    case Kind::kUnchanged:
      return;
    case Kind::kNeedProof:
      session.send(make_consistency_request_frame(step.old_size, step.new_size, limits));
      return;
    case Kind::kRefused:
      log.warn(prefix + "-refused-checkpoint", {who, {"reason", step.reason}});
      return;
    case Kind::kAlarm:
      counters.alarms->fetch_add(1);
      log.error(prefix + "-alarm", {who, {"reason", step.reason}});
      session.send(make_error_frame(static_cast<int>(wire::Error::Code::WITNESS_ALARM),
                                    "witness alarm: " + step.reason, limits));
      return;
  }
}

namespace {

class TlsWatcher : public std::enable_shared_from_this<TlsWatcher> {
 public:
  TlsWatcher(asio::io_context& io, std::shared_ptr<ReloadingTlsContext> source,
             std::chrono::milliseconds interval, Logger log, std::function<void(TlsContext)> apply)
      : timer_(io), source_(std::move(source)), interval_(interval), log_(std::move(log)),
        apply_(std::move(apply)) {}

  void arm() {
    timer_.expires_after(interval_);
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec) return;
      auto reloaded = self->source_->reload_if_changed();
      if (!reloaded.ok()) {
        self->log_.error("tls-reload-failed", {{"reason", reloaded.error().message}});
      } else if (*reloaded) {
        self->apply_(self->source_->current());
        self->log_.info("tls-reloaded");
      }
      self->arm();
    });
  }

 private:
  asio::steady_timer timer_;
  std::shared_ptr<ReloadingTlsContext> source_;
  std::chrono::milliseconds interval_;
  Logger log_;
  std::function<void(TlsContext)> apply_;
};

}  // namespace

void watch_tls_files(boost::asio::io_context& io, std::shared_ptr<ReloadingTlsContext> source,
                     std::chrono::milliseconds interval, Logger log,
                     std::function<void(TlsContext)> apply) {
  std::make_shared<TlsWatcher>(io, std::move(source), interval, std::move(log), std::move(apply))
      ->arm();
}

}  // namespace mash
