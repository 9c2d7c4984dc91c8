#include "http_server.h"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <optional>

namespace mash::broker {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

std::string HttpRequest::header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

HttpResponse json_error(int status, const std::string& code, const std::string& message,
                        const std::map<std::string, std::string>& fields) {
  nlohmann::json j = {{"error", {{"code", code}, {"message", message}}}};
  if (!fields.empty()) j["error"]["fields"] = fields;
  HttpResponse r;
  r.status = status;
  r.body = j.dump();
  return r;
}

namespace {

std::map<std::string, std::string> parse_cookies(const std::string& header) {
  std::map<std::string, std::string> out;
  size_t i = 0;
  while (i < header.size() && out.size() < 32) {
    size_t end = header.find(';', i);
    if (end == std::string::npos) end = header.size();
    std::string part = header.substr(i, end - i);
    auto eq = part.find('=');
    if (eq != std::string::npos) {
      std::string k = part.substr(0, eq), v = part.substr(eq + 1);
      auto trim = [](std::string& s) {
        while (!s.empty() && s.front() == ' ') s.erase(s.begin());
        while (!s.empty() && s.back() == ' ') s.pop_back();
      };
      trim(k);
      trim(v);
      if (!k.empty()) out.emplace(k, v);
    }
    i = end + 1;
  }
  return out;
}

template <class Body>
void add_security_headers(http::response<Body>& res, bool cacheable, const std::string& cache_control = "") {
  res.set("Strict-Transport-Security", "max-age=31536000");
  res.set("X-Content-Type-Options", "nosniff");
  res.set("X-Frame-Options", "DENY");
  res.set("Referrer-Policy", "no-referrer");
  res.set("Content-Security-Policy",
          "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
          "font-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'");
  res.set(http::field::cache_control,
          !cache_control.empty() ? cache_control : cacheable ? "public, max-age=3600" : "no-store");
  res.set(http::field::server, "mash-broker");
}

}  // namespace

bool EventStream::push(std::string_view event, std::string_view data) {
  std::string text;
  text.reserve(event.size() + data.size() + 16);
  text.append("event: ").append(event).append("\ndata: ");
  for (char c : data) text.push_back(c == '\n' || c == '\r' ? ' ' : c);
  text.append("\n\n");
  return push_raw(std::move(text));
}

bool EventStream::push_raw(std::string text) {
  std::function<void()> wake;
  {
    std::lock_guard lock(mu_);
    if (closed_) return false;
    if (queue_.size() >= max_queued_) {
      closed_ = true;  // too slow: cut off rather than grow
    } else {
      queue_.push_back(std::move(text));
    }
    // One wake-up per flush: events pushed before the writer has taken the queue go with it.
    if (!wake_pending_) {
      wake = wake_;
      wake_pending_ = static_cast<bool>(wake);
    }
  }
  if (wake) wake();
  return true;
}

void EventStream::close() {
  std::function<void()> wake;
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    closed_ = true;
    wake = wake_;
  }
  if (wake) wake();
}

size_t EventStream::pending() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

bool EventStream::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

std::vector<std::string> EventStream::take() {
  std::lock_guard lock(mu_);
  wake_pending_ = false;
  std::vector<std::string> out(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
  queue_.clear();
  return out;
}

void EventStream::set_wake(std::function<void()> wake) {
  std::lock_guard lock(mu_);
  wake_ = std::move(wake);
  wake_pending_ = false;
}

class HttpServer::Session : public std::enable_shared_from_this<HttpServer::Session> {
 public:
  Session(std::shared_ptr<HttpServer> server, asio::ip::tcp::socket socket)
      : server_(std::move(server)), stream_(std::move(socket), *server_->tls_) {
    boost::system::error_code ec;
    auto ep = beast::get_lowest_layer(stream_).socket().remote_endpoint(ec);
    peer_ = ec ? "unknown" : ep.address().to_string() + ":" + std::to_string(ep.port());
  }
  ~Session() { server_->open_.fetch_sub(1); }

  void start() {
    beast::get_lowest_layer(stream_).expires_after(server_->options_.handshake_timeout);
    stream_.async_handshake(asio::ssl::stream_base::server,
                            [self = shared_from_this()](beast::error_code ec) { self->on_handshake(ec); });
  }

 private:
  void on_handshake(beast::error_code ec) {
    if (ec) {
      server_->log_.debug("https-handshake-failed", {{"peer", peer_}, {"reason", ec.message()}});
      return;
    }
    read();
  }

  void read() {
    parser_.emplace();
    parser_->body_limit(server_->options_.max_body_bytes);
    parser_->header_limit(static_cast<std::uint32_t>(server_->options_.max_header_bytes));
    beast::get_lowest_layer(stream_).expires_after(first_ ? server_->options_.request_timeout
                                                          : server_->options_.idle_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) {
      return shutdown();
    }
    if (ec) {
      int status = 400;
      std::string code = "bad-request", message = "the request could not be read: " + ec.message();
      if (ec == http::error::body_limit) {
        status = 413;
        code = "body-too-large";
        message = "the request body is larger than " + std::to_string(server_->options_.max_body_bytes) + " bytes";
      } else if (ec == http::error::header_limit) {
        status = 431;
        code = "headers-too-large";
        message = "the request headers are larger than " + std::to_string(server_->options_.max_header_bytes) + " bytes";
      } else if (ec == beast::error::timeout) {
        if (!parser_->got_some()) return shutdown();  // an idle keep-alive connection
        status = 408;
        code = "request-timeout";
        message = "the request did not arrive in time";
      }
      server_->log_.info("https-request-refused", {{"peer", peer_}, {"status", status}, {"reason", code}});
      HttpResponse r = json_error(status, code, message);
      return write(std::move(r), false, 11);
    }
    first_ = false;
    auto& req = parser_->get();
    HttpRequest in;
    in.method = std::string(req.method_string());
    std::string target(req.target());
    auto q = target.find('?');
    in.path = target.substr(0, q);
    if (q != std::string::npos) in.query = target.substr(q + 1);
    for (const auto& field : req) {
      std::string name(field.name_string());
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
      in.headers[name] = std::string(field.value());
    }
    in.cookies = parse_cookies(in.header("cookie"));
    in.body = std::move(req.body());
    in.peer = peer_;
    const bool keep_alive = req.keep_alive();
    const unsigned version = req.version();
    if (!server_->handler_pool_) {
      HttpResponse out = server_->call_handler(in);
      return write(std::move(out), keep_alive, version);
    }
    // The handler may wait on durable writes: it runs on the handler pool, and the response is
    // written back on this session's strand.
    asio::post(*server_->handler_pool_, [self = shared_from_this(), in = std::move(in), keep_alive, version]() mutable {
      HttpResponse out = self->server_->call_handler(in);
      asio::post(self->stream_.get_executor(), [self, out = std::move(out), keep_alive, version]() mutable {
        self->write(std::move(out), keep_alive, version);
      });
    });
  }

  void write(HttpResponse r, bool keep_alive, unsigned version) {
    if (r.events) return start_events(std::move(r), version);
    auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(r.status), version);
    add_security_headers(*res, r.cacheable, r.cache_control);
    if (!r.content_type.empty()) res->set(http::field::content_type, r.content_type);
    for (const auto& [k, v] : r.headers) res->insert(k, v);
    res->keep_alive(keep_alive);
    res->body() = std::move(r.body);
    res->prepare_payload();
    beast::get_lowest_layer(stream_).expires_after(server_->options_.request_timeout);
    http::async_write(stream_, *res, [self = shared_from_this(), res, keep_alive](beast::error_code ec, size_t) {
      if (ec) return;
      if (keep_alive && !self->server_->stopped_) {
        self->read();
      } else {
        self->shutdown();
      }
    });
  }

  // An event stream: the headers, then events as they are pushed, on this session's strand.
  void start_events(HttpResponse r, unsigned version) {
    events_ = r.events;
    auto res = std::make_shared<http::response<http::empty_body>>(http::status::ok, version);
    add_security_headers(*res, false);
    res->set(http::field::content_type, "text/event-stream; charset=utf-8");
    res->set("X-Accel-Buffering", "no");
    for (const auto& [k, v] : r.headers) res->insert(k, v);
    res->keep_alive(false);  // the body ends when the connection does
    auto sr = std::make_shared<http::response_serializer<http::empty_body>>(*res);
    beast::get_lowest_layer(stream_).expires_after(server_->options_.request_timeout);
    http::async_write_header(stream_, *sr, [self = shared_from_this(), res, sr](beast::error_code ec, size_t) {
      if (ec) {
        self->events_->close();
        return;
      }
      beast::get_lowest_layer(self->stream_).expires_never();
      std::weak_ptr<Session> weak = self;
      auto ex = self->stream_.get_executor();
      self->events_->set_wake([weak, ex] {
        asio::post(ex, [weak] {
          if (auto s = weak.lock()) s->flush_events();
        });
      });
      self->stream_ends_ = std::chrono::steady_clock::now() + self->server_->options_.stream_max;
      self->heartbeat();
      self->flush_events();
    });
  }

  void heartbeat() {
    if (!heartbeat_) heartbeat_.emplace(stream_.get_executor());
    heartbeat_->expires_after(server_->options_.stream_heartbeat);
    heartbeat_->async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->events_->closed()) return;
      if (std::chrono::steady_clock::now() >= self->stream_ends_ || self->server_->stopped_) {
        self->events_->close();
        return;
      }
      self->events_->push_raw(": keep-alive\n\n");
      self->heartbeat();
    });
  }

  void flush_events() {
    if (writing_ || done_) return;
    auto items = events_->take();
    if (items.empty()) {
      if (events_->closed()) {
        done_ = true;
        if (heartbeat_) heartbeat_->cancel();
        events_->set_wake(nullptr);
        shutdown();
      }
      return;
    }
    auto buf = std::make_shared<std::string>();
    for (auto& i : items) buf->append(i);
    writing_ = true;
    beast::get_lowest_layer(stream_).expires_after(server_->options_.request_timeout);
    asio::async_write(stream_, asio::buffer(*buf), [self = shared_from_this(), buf](beast::error_code ec, size_t) {
      self->writing_ = false;
      beast::get_lowest_layer(self->stream_).expires_never();
      if (ec) {
        self->events_->close();
        self->done_ = true;
        if (self->heartbeat_) self->heartbeat_->cancel();
        self->events_->set_wake(nullptr);
        beast::error_code ignored;
        beast::get_lowest_layer(self->stream_).socket().close(ignored);
        return;
      }
      self->flush_events();
    });
  }

  void shutdown() {
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(2));
    stream_.async_shutdown([self = shared_from_this()](beast::error_code) {
      beast::error_code ignored;
      beast::get_lowest_layer(self->stream_).socket().close(ignored);
    });
  }

  std::shared_ptr<HttpServer> server_;
  beast::ssl_stream<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string peer_;
  bool first_ = true;
  std::shared_ptr<EventStream> events_;
  std::optional<asio::steady_timer> heartbeat_;
  std::chrono::steady_clock::time_point stream_ends_;
  bool writing_ = false, done_ = false;
};

HttpServer::HttpServer(asio::io_context& io, TlsContext tls, HttpServerOptions options, Logger log,
                       HttpHandler handler)
    : io_(io),
      tls_(std::move(tls)),
      options_(options),
      log_(std::move(log)),
      handler_(std::move(handler)),
      acceptor_(asio::make_strand(io)) {}

HttpResponse HttpServer::call_handler(const HttpRequest& in) {
  try {
    return handler_(in);
  } catch (const std::exception& e) {
    log_.error("https-handler-failed", {{"path", in.path.substr(0, 100)}, {"error", std::string(e.what()).substr(0, 200)}});
    return json_error(500, "internal-error", "the broker could not handle this request");
  }
}

Status HttpServer::listen(const asio::ip::tcp::endpoint& endpoint) {
  boost::system::error_code ec;
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return make_error(ErrorCode::kUnavailable,
                      "cannot listen on " + endpoint.address().to_string() + ":" +
                          std::to_string(endpoint.port()) + ": " + ec.message());
  }
  port_ = acceptor_.local_endpoint().port();
  do_accept();
  return {};
}

void HttpServer::do_accept() {
  acceptor_.async_accept(asio::make_strand(io_), [self = shared_from_this()](boost::system::error_code ec,
                                                                             asio::ip::tcp::socket socket) {
    if (self->stopped_) return;
    if (!ec) {
      if (self->open_.load() >= self->options_.max_connections) {
        boost::system::error_code ignored;
        socket.close(ignored);
        self->log_.warn("https-over-capacity", {{"max_connections", self->options_.max_connections}});
      } else {
        self->open_.fetch_add(1);
        boost::system::error_code nd;
        socket.set_option(asio::ip::tcp::no_delay(true), nd);  // responses and events go out at once
        std::make_shared<Session>(self, std::move(socket))->start();
      }
    }
    self->do_accept();
  });
}

void HttpServer::stop() {
  if (stopped_.exchange(true)) return;
  asio::dispatch(acceptor_.get_executor(), [self = shared_from_this()] {
    boost::system::error_code ignored;
    self->acceptor_.close(ignored);
  });
}

}  // namespace mash::broker
