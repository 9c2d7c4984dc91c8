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
