#include "test_support.h"

#include <openssl/ssl.h>
#include <sys/wait.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <capnp/message.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "link.capnp.h"

namespace mash::testing {

namespace asio = boost::asio;

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "mash-test-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

int run(const std::string& command, std::string* output) {
  std::string cmd = command + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return -1;
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  int status = pclose(pipe);
  if (output) *output = out;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

TestPki::TestPki() {
  std::string out;
  int rc = run(shell_quote(MASH_PKI) + " dev-setup --dir " + shell_quote(dir().string()) +
                   " --broker-name broker.test --agency police --agency health"
                   " --agency education --agency probation --agency housing",
               &out);
  if (rc != 0) throw std::runtime_error("mash-pki dev-setup failed: " + out);
}

TlsFiles TestPki::broker() const {
  return {dir() / "ca/ca.crt", dir() / "broker.crt", dir() / "broker.key", dir() / "ca/crl.pem"};
}

TlsFiles TestPki::agent(const std::string& agency) const {
  return {dir() / "ca/ca.crt", dir() / ("agent-" + agency + ".crt"),
          dir() / ("agent-" + agency + ".key"), dir() / "ca/crl.pem"};
}

TlsFiles TestPki::issue_agent(const std::string& name, const std::string& agency,
                              const std::string& extra) const {
  auto key = dir() / (name + ".key"), csr = dir() / (name + ".csr"), crt = dir() / (name + ".crt");
  std::string out;
  std::string pki = shell_quote(MASH_PKI);
  if (run(pki + " request --key " + shell_quote(key) + " --csr " + shell_quote(csr), &out) != 0 ||
      run(pki + " sign --dir " + shell_quote(ca_dir()) + " --csr " + shell_quote(csr) + " --out " +
              shell_quote(crt) + " --profile agent --agency " + agency + " " + extra,
          &out) != 0) {
    throw std::runtime_error("issuing test certificate failed: " + out);
  }
  return {dir() / "ca/ca.crt", crt, key, dir() / "ca/crl.pem"};
}

TlsFiles TestPki::issue_server(const std::string& name, const std::string& dns) const {
  auto key = dir() / (name + ".key"), csr = dir() / (name + ".csr"), crt = dir() / (name + ".crt");
  std::string out;
  std::string pki = shell_quote(MASH_PKI);
  if (run(pki + " request --key " + shell_quote(key) + " --csr " + shell_quote(csr), &out) != 0 ||
      run(pki + " sign --dir " + shell_quote(ca_dir()) + " --csr " + shell_quote(csr) + " --out " +
              shell_quote(crt) + " --profile server --dns " + dns,
          &out) != 0) {
    throw std::runtime_error("issuing test certificate failed: " + out);
  }
  return {dir() / "ca/ca.crt", crt, key, dir() / "ca/crl.pem"};
}

void TestPki::revoke(const std::filesystem::path& cert) const {
  std::string out;
  if (run(shell_quote(MASH_PKI) + " revoke --dir " + shell_quote(ca_dir()) + " --cert " +
              shell_quote(cert),
          &out) != 0) {
    throw std::runtime_error("revoke failed: " + out);
  }
}

RawClient::RawClient(const RawClientOptions& o)
    : ctx_(asio::ssl::context::tls_client), server_name_(o.server_name) {
  SSL_CTX* native = ctx_.native_handle();
  if (o.tls12_only) {
    SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(native, TLS1_2_VERSION);
  }
  ctx_.load_verify_file(o.ca.string());
  ctx_.set_verify_mode(asio::ssl::verify_peer);
  if (o.cert) ctx_.use_certificate_chain_file(o.cert->string());
  if (o.key) ctx_.use_private_key_file(o.key->string(), asio::ssl::context::pem);
}

RawClient::~RawClient() = default;

std::string RawClient::connect(uint16_t port) {
  stream_ = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket>>(io_, ctx_);
  boost::system::error_code ec;
  stream_->lowest_layer().connect({asio::ip::make_address("127.0.0.1"), port}, ec);
  if (ec) return "connect: " + ec.message();
  SSL_set_tlsext_host_name(stream_->native_handle(), server_name_.c_str());
  stream_->handshake(asio::ssl::stream_base::client, ec);
  if (ec) return "handshake: " + ec.message();
  return "";
}

bool RawClient::write(const std::vector<uint8_t>& bytes) {
  boost::system::error_code ec;
  asio::write(*stream_, asio::buffer(bytes), ec);
  return !ec;
}

std::unique_ptr<Frame> RawClient::read_frame(std::chrono::milliseconds timeout, std::string* error) {
  std::array<uint8_t, kFrameHeaderBytes> header{};
  std::vector<uint8_t> body;
  std::unique_ptr<Frame> result;
  std::string err = "timeout";
  io_.restart();
  asio::async_read(*stream_, asio::buffer(header), [&](auto ec, size_t) {
    if (ec) {
      err = ec.message();
      return;
    }
    auto len = parse_frame_header(header, limits_);
    if (!len.ok()) {
      err = len.error().message;
      return;
    }
    body.resize(*len);
    asio::async_read(*stream_, asio::buffer(body), [&](auto ec2, size_t) {
      if (ec2) {
        err = ec2.message();
        return;
      }
      auto f = decode_frame(body, limits_);
      if (f.ok()) result = std::move(f).value();
      else err = f.error().message;
    });
  });
  io_.run_for(timeout);
  if (!io_.stopped()) {
    // Timed out: cancel the pending read and let it finish.
    boost::system::error_code ignored;
    stream_->lowest_layer().cancel(ignored);
    io_.restart();
    io_.run_for(std::chrono::milliseconds(200));
  }
  if (error) *error = result ? "" : err;
  return result;
}

bool RawClient::closed_without_data(std::chrono::milliseconds timeout) {
  std::string err;
  auto frame = read_frame(timeout, &err);
  if (frame) return false;
  return err != "timeout";
}

std::vector<uint8_t> make_hello_frame(const std::string& software) {
  capnp::MallocMessageBuilder builder;
  auto hello = builder.initRoot<wire::Message>().initHello();
  hello.setProtocolVersion(wire::PROTOCOL_VERSION);
  hello.setSoftware(software);
  return encode_frame(builder, FrameLimits{});
}

}  // namespace mash::testing
