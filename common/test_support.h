// Helpers for tests only (linked into test binaries, never into a program): temporary folders,
// running commands, a hub PKI made with our own `mash-pki`, and a blocking TLS client that can be
// configured in ways our real contexts refuse to be (no certificate, TLS 1.2 only) so that tests
// can show the server refusing them.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "framing.h"
#include "tls.h"

namespace mash::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// Runs a shell command; returns its exit status and fills `output` with stdout+stderr.
int run(const std::string& command, std::string* output = nullptr);
std::string shell_quote(const std::string& s);
std::string read_file(const std::filesystem::path& p);
void write_file(const std::filesystem::path& p, const std::string& text);

// Polls `pred` every 10 ms until it is true or `timeout` passes.
bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

// A hub PKI in a temporary folder, made by `certs/mash-pki dev-setup` with the broker name
// "broker.test" and agencies police, health, education, probation, housing.
class TestPki {
 public:
  TestPki();
  const std::filesystem::path& dir() const { return dir_.path(); }
  TlsFiles broker() const;
  TlsFiles agent(const std::string& agency) const;
  // Issues an extra agent certificate (any mash-pki sign options, e.g. "--start ... --end ...").
  TlsFiles issue_agent(const std::string& name, const std::string& agency,
                       const std::string& extra_sign_args = "") const;
  // Issues a server certificate with the given DNS name.
  TlsFiles issue_server(const std::string& name, const std::string& dns) const;
  // Revokes a certificate and refreshes the CRL in place.
  void revoke(const std::filesystem::path& cert) const;
  std::filesystem::path ca_dir() const { return dir() / "ca"; }

 private:
  TempDir dir_;
};

// A blocking TLS client for tests. Options let a test build clients our library would refuse
// to build. The context trusts the given CA and sends the given certificate, if any.
struct RawClientOptions {
  std::filesystem::path ca;
  std::optional<std::filesystem::path> cert;
  std::optional<std::filesystem::path> key;
  bool tls12_only = false;
  std::string server_name = "broker.test";
};

class RawClient {
 public:
  explicit RawClient(const RawClientOptions& options);
  ~RawClient();
  // Connects and handshakes; returns an error text or empty on success.
  std::string connect(uint16_t port);
  // Writes raw bytes.
  bool write(const std::vector<uint8_t>& bytes);
  // Reads one frame (with limits) within the timeout; nullopt on timeout, EOF or error.
  std::unique_ptr<Frame> read_frame(std::chrono::milliseconds timeout, std::string* error = nullptr);
  // True when the peer closed the connection (EOF or TLS alert) within the timeout, having sent
  // no application data in the meantime.
  bool closed_without_data(std::chrono::milliseconds timeout);

 private:
  boost::asio::io_context io_;
  boost::asio::ssl::context ctx_;
  std::unique_ptr<boost::asio::ssl::stream<boost::asio::ip::tcp::socket>> stream_;
  std::string server_name_;
  FrameLimits limits_;
};

std::vector<uint8_t> make_hello_frame(const std::string& software);

}  // namespace mash::testing
