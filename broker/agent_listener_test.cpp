// The broker's agent link over real TLS on loopback, with certificates made by mash-pki.
#include "agent_listener.h"

#include <boost/asio/io_context.hpp>
#include <capnp/message.h>
#include <catch2/catch.hpp>

#include <cstring>
#include <sstream>
#include <thread>

#include "link.capnp.h"
#include "test_support.h"

using namespace mash;
using namespace mash::broker;
using namespace mash::testing;
using namespace std::chrono_literals;

namespace {

// A broker agent listener on 127.0.0.1:<random port> with fast heartbeats, run on two threads.
class BrokerFixture {
 public:
  explicit BrokerFixture(const TestPki& pki) : log_(out_, LogLevel::kDebug, "broker") {
    auto tls = make_link_server_context(pki.broker());
    REQUIRE(tls.ok());
    AgentListenerOptions options;
    options.link.heartbeat_interval = 100ms;
    options.link.idle_timeout = 1000ms;
    options.link.limits = FrameLimits::for_frame_size(64 * 1024);
    options.handshake_timeout = 2000ms;
    listener_ = std::make_shared<AgentListener>(io_, *tls, options, log_, registry_);
    REQUIRE(listener_->listen({boost::asio::ip::make_address("127.0.0.1"), 0}).ok());
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { io_.run(); });
  }
  ~BrokerFixture() {
    listener_->stop();
    std::this_thread::sleep_for(50ms);
    io_.stop();
    for (auto& t : threads_) t.join();
  }
  uint16_t port() const { return listener_->port(); }
  AgentRegistry& registry() { return registry_; }
  AgentListener& listener() { return *listener_; }
  std::string log_text() {
    std::lock_guard lock(mutex_);
    return out_.str();
  }

 private:
  std::mutex mutex_;
  std::ostringstream out_;
  Logger log_;
  boost::asio::io_context io_;
  AgentRegistry registry_;
  std::shared_ptr<AgentListener> listener_;
  std::vector<std::thread> threads_;
};

RawClientOptions agent_options(const TlsFiles& files) {
  RawClientOptions o;
  o.ca = files.ca;
  o.cert = files.cert;
  o.key = files.key;
  return o;
}

// Connects, says hello and waits for the broker's hello.
std::unique_ptr<RawClient> connect_agent(const TlsFiles& files, uint16_t port) {
  auto client = std::make_unique<RawClient>(agent_options(files));
  REQUIRE(client->connect(port) == "");
  REQUIRE(client->write(make_hello_frame("test-agent")));
  auto reply = client->read_frame(3000ms);
  REQUIRE(reply);
  REQUIRE(reply->message().which() == wire::Message::HELLO);
  return client;
}

// The refusal every bad certificate must get: no application data, the connection closes, and
// the broker registers no agent.
void expect_refused(BrokerFixture& broker, RawClient& client) {
  std::string connect_error = client.connect(broker.port());
  if (connect_error.empty()) {
    // TLS 1.3: the client may finish its side before the server has checked its certificate;
    // the server's alert then arrives on the first read. Say hello anyway: it must be ignored.
    client.write(make_hello_frame("intruder"));
    CHECK(client.closed_without_data(10000ms));
  }
  CHECK(wait_until([&] { return broker.listener().counters().handshakes_refused.load() >= 1; }, 10000ms));
  CHECK(broker.registry().size() == 0);
  CHECK(broker.log_text().find("agent-connected") == std::string::npos);
}

}  // namespace

TEST_CASE("an agent with a good certificate connects and is known by its certificate's agency",
          "[link]") {
  TestPki pki;
  BrokerFixture broker(pki);
  auto client = connect_agent(pki.agent("police"), broker.port());
  REQUIRE(wait_until([&] { return broker.registry().is_connected("police"); }, 2000ms));
  auto agents = broker.registry().snapshot();
  REQUIRE(agents.size() == 1);
  CHECK(agents[0].agency == "police");
  CHECK(agents[0].software == "test-agent");
  CHECK(agents[0].peer.rfind("127.0.0.1:", 0) == 0);
  CHECK(broker.log_text().find("agent-connected agency=police") != std::string::npos);
  // Heartbeats flow from the broker while the connection is idle.
  auto hb = client->read_frame(2000ms);
  REQUIRE(hb);
  CHECK(hb->message().which() == wire::Message::HEARTBEAT);
}

TEST_CASE("bad agent certificates are refused before any message", "[link]") {
  TestPki pki;
  RawClientOptions options = agent_options(pki.agent("police"));

  SECTION("no client certificate") {
    BrokerFixture broker(pki);
    options.cert.reset();
    options.key.reset();
    RawClient client(options);
    expect_refused(broker, client);
  }
  SECTION("a certificate from another CA") {
    BrokerFixture broker(pki);
    TestPki other;
    options.cert = other.agent("police").cert;
    options.key = other.agent("police").key;
    RawClient client(options);
    expect_refused(broker, client);
  }
  SECTION("an expired certificate") {
    BrokerFixture broker(pki);
    auto expired = pki.issue_agent("expired", "police",
                                   "--start 20200101000000Z --end 20200201000000Z");
    options.cert = expired.cert;
    options.key = expired.key;
    RawClient client(options);
    expect_refused(broker, client);
    // The refusal is counted before its log line is written: wait for the line.
    CHECK(wait_until([&] { return broker.log_text().find("certificate has expired") != std::string::npos; }, 10000ms));
  }
  SECTION("a revoked certificate") {
    auto revoked = pki.issue_agent("revoked", "police");
    pki.revoke(revoked.cert);
    BrokerFixture broker(pki);  // reads the refreshed CRL
    options.cert = revoked.cert;
    options.key = revoked.key;
    RawClient client(options);
    expect_refused(broker, client);
    // The refusal is counted before its log line is written: wait for the line.
    CHECK(wait_until([&] { return broker.log_text().find("certificate revoked") != std::string::npos; }, 10000ms));
  }
  SECTION("a TLS 1.2-only client") {
    BrokerFixture broker(pki);
    options.tls12_only = true;
    RawClient client(options);
    CHECK(client.connect(broker.port()) != "");
    CHECK(wait_until([&] { return broker.listener().counters().handshakes_refused.load() >= 1; }, 10000ms));
    CHECK(broker.registry().size() == 0);
  }
  SECTION("an agent certificate without an agency id") {
    BrokerFixture broker(pki);
    auto dir = pki.dir();
    std::string ext = (dir / "noagency.ext").string();
    write_file(ext,
               "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
               "extendedKeyUsage=clientAuth\nsubjectKeyIdentifier=hash\n"
               "authorityKeyIdentifier=keyid\nsubjectAltName=URI:urn:example:not-an-agency\n");
    std::string out;
    std::string q = shell_quote(dir.string());
    REQUIRE(run("cd " + q + " && " + shell_quote(MASH_PKI) +
                    " request --key noagency.key --csr noagency.csr && "
                    "openssl x509 -req -in noagency.csr -CA ca/ca.crt -CAkey ca/ca.key "
                    "-CAcreateserial -days 30 -extfile noagency.ext -out noagency.crt",
                &out) == 0);
    options.cert = dir / "noagency.crt";
    options.key = dir / "noagency.key";
    RawClient client(options);
    expect_refused(broker, client);
    // The refusal is counted before its log line is written: wait for the line.
    CHECK(wait_until([&] { return broker.log_text().find("names no agency") != std::string::npos; }, 10000ms));
  }
}

TEST_CASE("a message before hello is a protocol error that closes the connection", "[link]") {
  TestPki pki;
  BrokerFixture broker(pki);
  RawClient client(agent_options(pki.agent("police")));
  REQUIRE(client.connect(broker.port()) == "");
  REQUIRE(client.write(make_heartbeat_frame(1, FrameLimits{})));  // heartbeats are fine
  capnp::MallocMessageBuilder b;
  b.initRoot<wire::Message>().initAcknowledgement();
  REQUIRE(client.write(encode_frame(b, FrameLimits{})));
  auto reply = client.read_frame(2000ms);
  REQUIRE(reply);
  REQUIRE(reply->message().which() == wire::Message::ERROR);
  CHECK(reply->message().getError().getCode() == wire::Error::Code::PROTOCOL);
  CHECK(client.closed_without_data(2000ms));
  CHECK(broker.registry().size() == 0);
}

TEST_CASE("a bad frame closes only that connection", "[link]") {
  TestPki pki;
  BrokerFixture broker(pki);
  auto police = connect_agent(pki.agent("police"), broker.port());
  auto health = connect_agent(pki.agent("health"), broker.port());
  REQUIRE(wait_until([&] { return broker.registry().size() == 2; }, 2000ms));

  SECTION("malformed body") {
    std::vector<uint8_t> frame = {0, 0, 0, 16};
    frame.insert(frame.end(), 16, 0xff);
    REQUIRE(police->write(frame));
  }
  SECTION("oversized length") {
    REQUIRE(police->write({0x7f, 0xff, 0xff, 0xf8}));
  }
  SECTION("traversal limit exceeded") {
    // 3000 pointers at one 4000-byte text: ~30 KB on the wire, ~1.5 M words traversed.
    capnp::MallocMessageBuilder b(1 << 16);  // one segment: pointers patched below stay in it
    auto hello = b.initRoot<wire::Message>().initHello();
    auto features = hello.initFeatures(3000);
    for (unsigned i = 0; i < 3000; ++i) features.set(i, "x");
    hello.setSoftware(std::string(4000, 'a'));
    auto frame = encode_frame(b, FrameLimits{});
    std::vector<uint64_t> w((frame.size() - 4) / 8);
    std::memcpy(w.data(), frame.data() + 4, w.size() * 8);
    const uint64_t small_upper = (2u << 3) | 2u, big_upper = (4001u << 3) | 2u;
    size_t target = 0;
    for (size_t p = 1; p < w.size(); ++p) {
      if ((w[p] & 3) == 1 && (w[p] >> 32) == big_upper) {
        target = p + 1 + (static_cast<int32_t>(static_cast<uint32_t>(w[p])) >> 2);
      }
    }
    REQUIRE(target != 0);
    for (size_t q = 1; q < w.size(); ++q) {
      if ((w[q] & 3) == 1 && (w[q] >> 32) == small_upper) {
        int64_t offset = static_cast<int64_t>(target) - static_cast<int64_t>(q + 1);
        w[q] = (big_upper << 32) | ((static_cast<uint64_t>(offset) << 2) & 0xffffffffu) | 1u;
      }
    }
    std::memcpy(frame.data() + 4, w.data(), w.size() * 8);
    REQUIRE(police->write(frame));
  }

  CHECK(wait_until([&] { return !broker.registry().is_connected("police"); }, 2000ms));
  CHECK(broker.log_text().find("frame-refused") != std::string::npos);
  // The other agent is untouched: still registered, still receiving heartbeats.
  CHECK(broker.registry().is_connected("health"));
  REQUIRE(health->write(make_heartbeat_frame(7, FrameLimits{})));
  auto hb = health->read_frame(2000ms);
  REQUIRE(hb);
  CHECK(hb->message().which() == wire::Message::HEARTBEAT);
  // And the broker keeps serving: police can come back.
  auto again = connect_agent(pki.agent("police"), broker.port());
  CHECK(wait_until([&] { return broker.registry().is_connected("police"); }, 2000ms));
}

TEST_CASE("a second connection for the same agency replaces the first", "[link]") {
  TestPki pki;
  BrokerFixture broker(pki);
  auto first = connect_agent(pki.agent("police"), broker.port());
  REQUIRE(wait_until([&] { return broker.registry().is_connected("police"); }, 2000ms));
  auto first_peer = broker.registry().snapshot().at(0).peer;
  auto second = connect_agent(pki.agent("police"), broker.port());
  // The first is told why, then closed.
  bool told = false;
  for (int i = 0; i < 20 && !told; ++i) {
    auto f = first->read_frame(500ms);
    if (!f) break;
    if (f->message().which() == wire::Message::ERROR) {
      told = f->message().getError().getCode() == wire::Error::Code::REPLACED;
    }
  }
  CHECK(told);
  CHECK(wait_until([&] { return broker.listener().counters().replaced.load() == 1; }, 2000ms));
  auto agents = broker.registry().snapshot();
  REQUIRE(agents.size() == 1);
  CHECK(agents[0].peer != first_peer);
  CHECK(broker.log_text().find("agent-replaced agency=police") != std::string::npos);
}

TEST_CASE("a silent agent is noticed and dropped within the idle timeout", "[link]") {
  TestPki pki;
  BrokerFixture broker(pki);
  auto client = connect_agent(pki.agent("probation"), broker.port());
  REQUIRE(broker.registry().is_connected("probation"));
  auto start = std::chrono::steady_clock::now();
  // Say nothing more: idle timeout is 1000 ms, checked every 100 ms.
  REQUIRE(wait_until([&] { return !broker.registry().is_connected("probation"); }, 6000ms));
  auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(elapsed >= 900ms);
  CHECK(broker.log_text().find("peer silent") != std::string::npos);
}
