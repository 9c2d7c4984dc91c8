// The agent's dialer against a small TLS server built from common/ (the agent never depends on
// the broker), with certificates made by mash-pki.
#include "broker_link.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <capnp/message.h>
#include <catch2/catch.hpp>

#include <sstream>
#include <thread>

#include "link.capnp.h"
#include "test_support.h"

using namespace mash;
using namespace mash::agent;
using namespace mash::testing;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

enum class Mode { kNormal, kSilentAfterHello, kCloseAfterHello };

// Accepts TLS connections, answers the agent's hello, then behaves according to `mode`.
class MiniBroker {
 public:
  MiniBroker(const TlsFiles& files, Mode mode)
      : mode_(mode), acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    auto ctx = make_link_server_context(files);
    REQUIRE(ctx.ok());
    ctx_ = *ctx;
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~MiniBroker() {
    for (auto& s : sessions_) s->close("test over");
    io_.stop();
    thread_.join();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::atomic<int> hellos{0};
  std::atomic<int> handshakes_failed{0};

 private:
  struct Conn {
    explicit Conn(asio::io_context& io, asio::ssl::context& ctx) : stream(io, ctx) {}
    TlsStream stream;
    std::array<uint8_t, 4> header{};
    std::vector<uint8_t> body;
    std::vector<uint8_t> reply;
  };
  void accept() {
    auto conn = std::make_shared<Conn>(io_, *ctx_);
    acceptor_.async_accept(conn->stream.lowest_layer(), [this, conn](auto ec) {
      if (ec) return;
      accept();
      conn->stream.async_handshake(asio::ssl::stream_base::server, [this, conn](auto hec) {
        if (hec) {
          handshakes_failed++;
          return;
        }
        read_hello(conn);
      });
    });
  }
  void read_hello(std::shared_ptr<Conn> conn) {
    asio::async_read(conn->stream, asio::buffer(conn->header), [this, conn](auto ec, size_t) {
      if (ec) return;
      auto len = parse_frame_header(conn->header, FrameLimits{});
      if (!len.ok()) return;
      conn->body.resize(*len);
      asio::async_read(conn->stream, asio::buffer(conn->body), [this, conn](auto ec2, size_t) {
        if (ec2) return;
        auto f = decode_frame(conn->body, FrameLimits{});
        if (!f.ok() || (*f)->message().which() != wire::Message::HELLO) return read_hello(conn);
        hellos++;
        capnp::MallocMessageBuilder b;
        auto h = b.initRoot<wire::Message>().initHello();
        h.setProtocolVersion(wire::PROTOCOL_VERSION);
        h.setSoftware("mini-broker");
        conn->reply = encode_frame(b, FrameLimits{});
        asio::async_write(conn->stream, asio::buffer(conn->reply), [this, conn](auto, size_t) {
          if (mode_ == Mode::kCloseAfterHello) {
            boost::system::error_code ignored;
            conn->stream.lowest_layer().close(ignored);
          } else if (mode_ == Mode::kNormal) {
            // From here on a real link session: reads, heartbeats, idle timeout.
            LinkOptions options;
            options.heartbeat_interval = 100ms;
            options.idle_timeout = 1000ms;
            auto session = std::make_shared<LinkSession>(std::move(conn->stream), options,
                                                         log_, "agent");
            session->start({});
            sessions_.push_back(session);
          } else {
            keep_.push_back(conn);  // silent: hold the connection, never read or write again
          }
        });
      });
    });
  }

  Mode mode_;
  asio::io_context io_;
  TlsContext ctx_;
  asio::ip::tcp::acceptor acceptor_;
  std::vector<std::shared_ptr<Conn>> keep_;
  std::ostringstream log_text_;
  Logger log_{log_text_, LogLevel::kDebug, "mini-broker"};
  std::vector<std::shared_ptr<LinkSession>> sessions_;
  std::thread thread_;
};

struct AgentFixture {
  AgentFixture(const TestPki& pki, uint16_t port, const std::string& server_name)
      : log(out, LogLevel::kDebug, "agent") {
    auto tls = make_link_client_context(pki.agent("education"));
    REQUIRE(tls.ok());
    BrokerLinkOptions o;
    o.host = "127.0.0.1";
    o.port = port;
    o.server_name = server_name;
    o.link.heartbeat_interval = 100ms;
    o.link.idle_timeout = 1000ms;
    o.connect_timeout = 2000ms;
    o.reconnect_initial = 20ms;
    o.reconnect_max = 200ms;
    link = std::make_shared<BrokerLink>(io, *tls, o, log);
    link->start();
    thread = std::thread([this] { io.run(); });
  }
  ~AgentFixture() {
    link->stop();
    std::this_thread::sleep_for(50ms);
    io.stop();
    thread.join();
  }
  std::string text() {
    std::lock_guard lock(m);
    return out.str();
  }
  std::mutex m;
  std::ostringstream out;
  Logger log;
  asio::io_context io;
  std::shared_ptr<BrokerLink> link;
  std::thread thread;
};

}  // namespace

TEST_CASE("the agent connects, and reconnects by itself when the broker drops it", "[link]") {
  TestPki pki;
  MiniBroker broker(pki.broker(), Mode::kCloseAfterHello);
  AgentFixture agent(pki, broker.port(), "broker.test");
  REQUIRE(wait_until([&] { return agent.link->counters().connected.load() >= 3; }, 5000ms));
  CHECK(broker.hellos.load() >= 3);
  CHECK(agent.link->counters().disconnects.load() >= 2);
  CHECK(agent.text().find("reconnect-scheduled") != std::string::npos);
}

TEST_CASE("the agent stays connected to a live broker", "[link]") {
  TestPki pki;
  MiniBroker broker(pki.broker(), Mode::kNormal);
  AgentFixture agent(pki, broker.port(), "broker.test");
  REQUIRE(wait_until([&] { return agent.link->connected(); }, 3000ms));
  std::this_thread::sleep_for(1500ms);  // longer than the idle timeout: heartbeats keep it up
  CHECK(agent.link->connected());
  CHECK(agent.link->counters().connected.load() == 1);
}

TEST_CASE("the agent refuses a broker whose certificate has another name", "[link]") {
  TestPki pki;
  auto impostor = pki.issue_server("impostor", "impostor.test");
  MiniBroker broker(impostor, Mode::kNormal);
  AgentFixture agent(pki, broker.port(), "broker.test");
  REQUIRE(wait_until([&] { return agent.link->counters().handshake_failures.load() >= 2; }, 5000ms));
  CHECK(agent.link->counters().connected.load() == 0);
  CHECK(broker.hellos.load() == 0);
  CHECK(agent.text().find("broker certificate refused") != std::string::npos);
}

TEST_CASE("a silent broker is noticed within the idle timeout", "[link]") {
  TestPki pki;
  MiniBroker broker(pki.broker(), Mode::kSilentAfterHello);
  AgentFixture agent(pki, broker.port(), "broker.test");
  REQUIRE(wait_until([&] { return agent.link->counters().connected.load() >= 1; }, 3000ms));
  REQUIRE(wait_until([&] { return agent.link->counters().disconnects.load() >= 1; }, 6000ms));
  CHECK(agent.text().find("peer silent") != std::string::npos);
}
