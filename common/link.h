// One established agent-link connection (either side), after the TLS handshake.
//
// A LinkSession reads frames (framing.h) and hands each valid message to its handler, keeps a
// bounded queue of outgoing frames, sends heartbeats, and closes the connection when the peer
// has been silent longer than the idle timeout, when a write stalls, when the queue overflows,
// or when a frame breaks a limit. Closing affects this connection only. All work runs on the
// stream's executor (a strand per connection); send() and close() may be called from any thread.
//
// Heartbeat messages are answered here and not passed to the handler.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <string>
#include <vector>

#include "clock.h"
#include "framing.h"
#include "log.h"
#include "merkle.h"
#include "tls.h"
#include "witness.h"

namespace mash {

struct LinkOptions {
  // How often each side sends a heartbeat when otherwise idle.
  std::chrono::milliseconds heartbeat_interval{10'000};
  // A peer silent for this long (no frame of any kind) is treated as dead.
  std::chrono::milliseconds idle_timeout{30'000};
  FrameLimits limits;
  // Frames waiting to be written; more than this closes the connection (a peer that does not
  // read must not make us buffer without bound).
  size_t max_queued_frames = 1024;
};

using TlsStream = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;

class LinkSession : public std::enable_shared_from_this<LinkSession> {
 public:
  struct Handler {
    // A valid message other than a heartbeat. Runs on the session's strand.
    std::function<void(LinkSession&, Frame&)> on_message;
    // Called once when the connection is closed, with the reason. Runs on the session's strand.
    std::function<void(LinkSession&, const std::string& reason)> on_closed;
  };

  LinkSession(TlsStream stream, LinkOptions options, Logger log, std::string peer_label);
  ~LinkSession();

  // Starts reading and the heartbeat timer. Call once, after the handshake.
  void start(Handler handler);
  // Queues a complete frame (from encode_frame) for sending.
  void send(std::vector<uint8_t> frame);
  // Sends an Error message, then closes.
  void send_error_and_close(int code, std::string message);
  // Closes the connection (idempotent); on_closed runs with `reason`.
  void close(std::string reason);
  // Runs `fn` on the session's strand (for work that touches the stream, e.g. its SSL object).
  void post(std::function<void(LinkSession&)> fn);

  const std::string& peer_label() const { return peer_label_; }
  SSL* ssl() { return stream_.native_handle(); }
  bool closed() const { return closed_.load(); }
  uint64_t frames_received() const { return frames_received_.load(); }

 private:
  void do_read_header();
  void on_read_header(const boost::system::error_code& ec, size_t n);
  void on_read_body(const boost::system::error_code& ec, size_t n);
  void do_write();
  void on_write(const boost::system::error_code& ec, size_t n);
  void schedule_tick();
  void on_tick(const boost::system::error_code& ec);
  void close_now(const std::string& reason);
  void send_heartbeat();

  TlsStream stream_;
  LinkOptions options_;
  Logger log_;
  std::string peer_label_;
  Handler handler_;
  boost::asio::steady_timer tick_timer_;
  std::array<uint8_t, kFrameHeaderBytes> header_{};
  std::vector<uint8_t> body_;
  std::deque<std::vector<uint8_t>> out_queue_;
  bool writing_ = false;
  size_t writing_frames_ = 0;          // frames at the front of out_queue_ in the write under way
  std::vector<uint8_t> write_buffer_;  // several small frames, joined for one write
  static constexpr size_t kCoalesceBytes = 64 * 1024;
  bool close_after_flush_ = false;
  std::string close_reason_;
  std::chrono::steady_clock::time_point last_rx_;
  std::chrono::steady_clock::time_point last_tx_;
  std::chrono::steady_clock::time_point write_started_;
  uint64_t heartbeat_seq_ = 0;
  std::atomic<bool> closed_{false};
  std::atomic<uint64_t> frames_received_{0};
};

// Frame builders for the messages every side sends.
std::vector<uint8_t> make_heartbeat_frame(uint64_t seq, const FrameLimits& limits);
std::vector<uint8_t> make_error_frame(int code, const std::string& message,
                                      const FrameLimits& limits,
                                      std::span<const uint8_t> enquiry_id = {});
// Witnessing (see witness.h): checkpoints, proof requests and proofs.
std::vector<uint8_t> make_checkpoint_frame(const std::string& note, const FrameLimits& limits);
std::vector<uint8_t> make_consistency_request_frame(uint64_t old_size, uint64_t new_size,
                                                    const FrameLimits& limits);
std::vector<uint8_t> make_consistency_proof_frame(uint64_t old_size, uint64_t new_size,
                                                  const std::vector<merkle::Hash>& proof,
                                                  const FrameLimits& limits);
// Enquiries and answers (signed envelopes, envelope.h), their acknowledgement, and the ISA.
std::vector<uint8_t> make_enquiry_frame(std::span<const uint8_t> id, std::span<const uint8_t> body,
                                        std::span<const uint8_t> signature, const FrameLimits& limits);
std::vector<uint8_t> make_answer_frame(std::span<const uint8_t> enquiry_id, std::span<const uint8_t> body,
                                       std::span<const uint8_t> signature, const FrameLimits& limits);
std::vector<uint8_t> make_ack_frame(std::span<const uint8_t> enquiry_id, const FrameLimits& limits,
                                    std::span<const uint8_t> answer_digest = {});
std::vector<uint8_t> make_policy_bundle_frame(const std::string& agreement_id, uint64_t version,
                                              std::string_view document, std::string_view signature,
                                              const FrameLimits& limits);
// The hashes of a received proof; refuses malformed ones (wrong length, more than 64).
Result<std::vector<merkle::Hash>> read_consistency_proof(wire::ConsistencyProof::Reader proof);

// What a witnessing side does with a step of its Witness (witness.h): count and log an
// accepted checkpoint, ask the peer for a consistency proof, log a refused checkpoint, or log
// the alarm and tell the peer. Log events are "<prefix>-accepted", "<prefix>-refused-checkpoint"
// and "<prefix>-alarm", each with the field `who` (e.g. {"agency", "police"}) first.
struct WitnessCounters {
  std::atomic<uint64_t>* accepted;
  std::atomic<uint64_t>* alarms;
};
void handle_witness_step(LinkSession& session, const Witness::Step& step, const Logger& log,
                         const std::string& prefix, const LogField& who, WitnessCounters counters,
                         const FrameLimits& limits);

// Every `interval`, rebuilds `source` if its files changed and hands the new context to `apply`
// (logging "tls-reloaded", or "tls-reload-failed" while keeping the old context). Runs until the
// io_context stops.
void watch_tls_files(boost::asio::io_context& io, std::shared_ptr<ReloadingTlsContext> source,
                     std::chrono::milliseconds interval, Logger log,
                     std::function<void(TlsContext)> apply);

}  // namespace mash
