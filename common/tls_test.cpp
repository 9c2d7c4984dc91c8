#include "tls.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <catch2/catch.hpp>
#include <openssl/ssl.h>
#include <sys/stat.h>

#include <filesystem>

#include "test_support.h"

using namespace mash;
using namespace mash::testing;
namespace asio = boost::asio;

namespace {

struct HandshakeOutcome {
  boost::system::error_code server_ec, client_ec;
  std::string agency;  // as seen by the server
};

// Runs one handshake between a server and a client context on loopback.
HandshakeOutcome handshake(const TlsContext& server_ctx, const TlsContext& client_ctx,
                           const std::string& expected_name) {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  asio::ssl::stream<asio::ip::tcp::socket> server(io, *server_ctx), client(io, *client_ctx);
  HandshakeOutcome out;
  REQUIRE(set_expected_server_name(client.native_handle(), expected_name).ok());
  acceptor.async_accept(server.lowest_layer(), [&](auto ec) {
    REQUIRE_FALSE(ec);
    server.async_handshake(asio::ssl::stream_base::server, [&](auto hec) {
      out.server_ec = hec;
      if (!hec) {
        auto a = peer_agency_id(server.native_handle());
        if (a.ok()) out.agency = *a;
      }
    });
  });
  client.lowest_layer().async_connect(acceptor.local_endpoint(), [&](auto ec) {
    REQUIRE_FALSE(ec);
    client.async_handshake(asio::ssl::stream_base::client, [&](auto hec) {
      out.client_ec = hec;
      if (hec) {  // the server must not wait for a client that gave up
        boost::system::error_code ignored;
        client.lowest_layer().close(ignored);
      }
    });
  });
  io.run_for(std::chrono::seconds(10));
  return out;
}

}  // namespace

TEST_CASE("link contexts complete a handshake and the server reads the agency", "[tls]") {
  TestPki pki;
  auto server = make_link_server_context(pki.broker());
  auto client = make_link_client_context(pki.agent("police"));
  REQUIRE(server.ok());
  REQUIRE(client.ok());
  auto out = handshake(*server, *client, "broker.test");
  CHECK_FALSE(out.server_ec);
  CHECK_FALSE(out.client_ec);
  CHECK(out.agency == "police");
}

TEST_CASE("the agent refuses a broker certificate with another name", "[tls]") {
  TestPki pki;
  auto server = make_link_server_context(pki.broker());
  auto client = make_link_client_context(pki.agent("police"));
  REQUIRE(server.ok());
  REQUIRE(client.ok());
  auto out = handshake(*server, *client, "not-the-broker.test");
  CHECK(out.client_ec);
  CHECK(out.agency.empty());
}

TEST_CASE("a broker cannot use an agent certificate as its server certificate", "[tls]") {
  TestPki pki;
  // The agent profile carries clientAuth only; an agent refuses it as a server certificate.
  auto server = make_link_server_context(pki.agent("health"));
  auto client = make_link_client_context(pki.agent("police"));
  REQUIRE(server.ok());
  REQUIRE(client.ok());
  auto out = handshake(*server, *client, "broker.test");
  CHECK(out.client_ec);
}

TEST_CASE("context building refuses unsafe or inconsistent files", "[tls]") {
  TestPki pki;
  auto files = pki.broker();

  SECTION("a private key readable by others") {
    REQUIRE(::chmod(files.key.c_str(), 0644) == 0);
    auto r = make_link_server_context(files);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::kPermissionDenied);
    CHECK(r.error().message.find("0644") != std::string::npos);
  }
  SECTION("a key that does not match the certificate") {
    files.key = pki.agent("police").key;
    auto r = make_link_server_context(files);
    REQUIRE_FALSE(r.ok());
    INFO(r.error().message);
    CHECK(r.error().message.find("mismatch") != std::string::npos);
  }
  SECTION("a CRL from another CA") {
    TempDir other;
    std::string out;
    REQUIRE(run(shell_quote(MASH_PKI) + " init-ca --dir " + shell_quote((other / "ca").string()), &out) == 0);
    files.crl = other / "ca/crl.pem";
    auto r = make_link_server_context(files);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find("not signed by the hub CA") != std::string::npos);
  }
  SECTION("a missing CRL") {
    files.crl = pki.dir() / "nope.pem";
    CHECK_FALSE(make_link_server_context(files).ok());
  }
  SECTION("an empty expected broker name") {
    auto client = make_link_client_context(pki.agent("police"));
    REQUIRE(client.ok());
    SSL* ssl = SSL_new((*client)->native_handle());
    CHECK_FALSE(set_expected_server_name(ssl, "").ok());
    SSL_free(ssl);
  }
}

TEST_CASE("certificate info reports the agency", "[tls]") {
  TestPki pki;
  auto info = read_certificate_info(pki.agent("housing").cert);
  REQUIRE(info.ok());
  REQUIRE(info->agency);
  CHECK(*info->agency == "housing");
  CHECK(info->not_after > std::chrono::system_clock::now());
  auto broker = read_certificate_info(pki.broker().cert);
  REQUIRE(broker.ok());
  CHECK_FALSE(broker->agency);
}

TEST_CASE("a reloading context follows its files and keeps the old context on a bad file",
          "[tls]") {
  TestPki pki;
  auto r = ReloadingTlsContext::create(pki.broker(), ReloadingTlsContext::Side::kServer);
  REQUIRE(r.ok());
  auto first = (*r)->current();
  auto unchanged = (*r)->reload_if_changed();
  REQUIRE(unchanged.ok());
  CHECK_FALSE(*unchanged);
  CHECK((*r)->current() == first);

  // A new CRL (after a revocation) is picked up.
  auto extra = pki.issue_agent("extra", "police");
  pki.revoke(extra.cert);
  auto reloaded = (*r)->reload_if_changed();
  REQUIRE(reloaded.ok());
  CHECK(*reloaded);
  auto second = (*r)->current();
  CHECK(second != first);

  // A half-written CRL is refused; the previous context stays in force.
  auto crl = pki.broker().crl;
  auto good = read_file(crl);
  write_file(crl, good.substr(0, good.size() / 2));
  auto broken = (*r)->reload_if_changed();
  CHECK_FALSE(broken.ok());
  CHECK((*r)->current() == second);
  write_file(crl, good);
}

TEST_CASE("re-verifying an established peer sees a revocation made after the handshake", "[tls]") {
  TestPki pki;
  auto server = make_link_server_context(pki.broker());
  auto client = make_link_client_context(pki.agent("police"));
  REQUIRE(server.ok());
  REQUIRE(client.ok());
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  asio::ssl::stream<asio::ip::tcp::socket> s(io, **server), c(io, **client);
  REQUIRE(set_expected_server_name(c.native_handle(), "broker.test").ok());
  bool server_ok = false;
  acceptor.async_accept(s.lowest_layer(), [&](auto ec) {
    if (!ec) s.async_handshake(asio::ssl::stream_base::server, [&](auto e) { server_ok = !e; });
  });
  c.lowest_layer().async_connect(acceptor.local_endpoint(), [&](auto ec) {
    if (!ec) c.async_handshake(asio::ssl::stream_base::client, [](auto) {});
  });
  io.run_for(std::chrono::seconds(10));
  REQUIRE(server_ok);
  CHECK(reverify_peer(*server, s.native_handle()).ok());
  CHECK(reverify_peer(*client, c.native_handle()).ok());
  pki.revoke(pki.agent("police").cert);
  auto fresh = make_link_server_context(pki.broker());
  REQUIRE(fresh.ok());
  auto st = reverify_peer(*fresh, s.native_handle());
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().message == "certificate revoked");
  // The broker's certificate is not revoked: the agent's side still verifies.
  auto fresh_client = make_link_client_context(pki.agent("police"));
  REQUIRE(fresh_client.ok());
  CHECK(reverify_peer(*fresh_client, c.native_handle()).ok());
}
