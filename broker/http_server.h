// The broker's HTTPS server (Boost.Beast): the JSON API and, later, the web interface.
//
// TLS 1.3 only with the hub's server certificate. Everything from outside is bounded: header
// size, body size, time to send a request, connections at once. A request that breaks a limit
// gets the matching status (400, 408, 413, 431) and the connection is closed. Every response
// carries security headers (HSTS, no-sniff, frame denial, a strict Content-Security-Policy, no
// referrer) and is not cached unless the handler says otherwise.
//
// Handlers are plain functions from request to response. They run on a handler pool when one is
// given (they may wait on durable writes, and the network threads should not), else on the
// connection's strand.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "log.h"
#include "result.h"
#include "tls.h"

namespace mash::broker {

struct HttpRequest {
  std::string method;                          // GET, POST, ...
  std::string path;                            // without the query, percent-decoding not applied
  std::string query;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::map<std::string, std::string> cookies;
  std::string body;
  std::string peer;                            // address:port
  std::string header(const std::string& name) const;
};

// A stream of server-sent events (text/event-stream). A handler returns it in a response; the
// server sends the headers and then whatever producers push, from any thread, until the client
// goes away, the stream is closed, or it has lasted `HttpServerOptions::stream_max` (a browser's
// EventSource then reconnects, so the session is checked again). A comment line goes out every
// `stream_heartbeat` so that a dead client is noticed. A client that falls more than `max_queued`
// events behind is cut off rather than let the queue grow.
class EventStream {
 public:
  explicit EventStream(size_t max_queued = 1024) : max_queued_(max_queued) {}
  // Queues "event: NAME\ndata: DATA\n\n" (DATA must be one line). False once the stream is closed.
  bool push(std::string_view event, std::string_view data);
  void close();
  bool closed() const;
  size_t pending() const;  // events queued and not yet written

 private:
  friend class HttpServer;
  bool push_raw(std::string text);
  std::vector<std::string> take();
  void set_wake(std::function<void()> wake);

  mutable std::mutex mu_;
  std::deque<std::string> queue_;
  std::function<void()> wake_;
  bool wake_pending_ = false;  // woken, and the writer has not taken the queue yet
  size_t max_queued_;
  bool closed_ = false;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers (Set-Cookie, ...)
  bool cacheable = false;                                    // false: Cache-Control: no-store
  std::string cache_control;                                 // set: this Cache-Control instead
  std::shared_ptr<EventStream> events;                       // set: status 200 and an event stream
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpServerOptions {
  size_t max_body_bytes = 1 << 20;
  size_t max_header_bytes = 16 * 1024;
  std::chrono::milliseconds handshake_timeout{10'000};
  std::chrono::milliseconds request_timeout{30'000};  // to receive a whole request
  std::chrono::milliseconds idle_timeout{60'000};     // keep-alive between requests
  size_t max_connections = 1024;
  std::chrono::milliseconds stream_heartbeat{15'000};  // a comment line on an idle event stream
  std::chrono::milliseconds stream_max{300'000};       // an event stream is closed after this
};

class HttpServer : public std::enable_shared_from_this<HttpServer> {
 public:
  HttpServer(boost::asio::io_context& io, TlsContext tls, HttpServerOptions options, Logger log,
             HttpHandler handler);
  // Handlers run on `pool` (which must outlive the server's connections) instead of the
  // connection's strand. Call before listen().
  void set_handler_pool(boost::asio::thread_pool& pool) { handler_pool_ = &pool; }
  Status listen(const boost::asio::ip::tcp::endpoint& endpoint);
  uint16_t port() const { return port_; }
  void stop();
  size_t open_connections() const { return open_.load(); }

 private:
  class Session;
  void do_accept();
  HttpResponse call_handler(const HttpRequest& in);  // the handler; an exception becomes a 500

  boost::asio::io_context& io_;
  TlsContext tls_;
  HttpServerOptions options_;
  Logger log_;
  HttpHandler handler_;
  boost::asio::thread_pool* handler_pool_ = nullptr;
  boost::asio::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::atomic<size_t> open_{0};
  std::atomic<bool> stopped_{false};
};

// A JSON error body: {"error": {"code": CODE, "message": MESSAGE, "fields": {...}}}.
HttpResponse json_error(int status, const std::string& code, const std::string& message,
                        const std::map<std::string, std::string>& fields = {});

}  // namespace mash::broker
