// TLS for the agent link, intended to be hard to use wrong.
//
// Both contexts are TLS 1.3 only, require a certificate from the peer, trust only the hub CA file
// given (never the system store), check the hub's CRL for the peer's certificate, and disable
// session resumption (so every connection is verified afresh against the CRL). There is no option
// to turn any of this off. The agent additionally checks the broker's name (set per connection
// with set_expected_server_name); the broker accepts only certificates that name an agency as
// `URI:urn:mash:agency:<id>` in subjectAltName and reads the agency from there.
//
// Caveat: the CRL is read when the context is built; an expired CRL makes every handshake fail
// (by design: fail closed), so refresh it with `mash-pki crl` before its nextUpdate.
#pragma once

#include <boost/asio/ssl/context.hpp>

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "result.h"

typedef struct ssl_st SSL;

namespace mash {

struct TlsFiles {
  std::filesystem::path ca;    // the hub CA certificate (PEM), the only trust anchor
  std::filesystem::path cert;  // this side's certificate (PEM)
  std::filesystem::path key;   // this side's private key (PEM); must be mode 0600 or stricter
  std::filesystem::path crl;   // the hub CA's current CRL (PEM)
};

using TlsContext = std::shared_ptr<boost::asio::ssl::context>;

// The broker's side of the agent link: requires a client certificate that chains to the CA, is
// not revoked, carries clientAuth usage and an agency id.
Result<TlsContext> make_link_server_context(const TlsFiles& files);

// The agent's side: requires the broker's certificate to chain to the CA, not be revoked, carry
// serverAuth usage; the name is checked per connection (set_expected_server_name).
Result<TlsContext> make_link_client_context(const TlsFiles& files);

// The broker's HTTPS side (browsers and scripts): TLS 1.3 only, the hub's server certificate and
// key (0600), no client certificate (people sign in with a password; see broker/users.h).
Result<TlsContext> make_https_server_context(const std::filesystem::path& cert,
                                             const std::filesystem::path& key);

// Sets SNI and the name the broker's certificate must carry, on a client connection before its
// handshake. Returns an error if the name is empty or cannot be set.
Status set_expected_server_name(SSL* ssl, const std::string& name);

// The agency id from a verified peer certificate (`urn:mash:agency:<id>`, id of lower-case
// letters, digits and hyphens, at most 63 characters). Fails if there is no verified peer
// certificate or it names no agency, or names more than one.
Result<std::string> peer_agency_id(SSL* ssl);

// When the peer's certificate expires (the epoch if there is no peer certificate).
std::chrono::system_clock::time_point peer_certificate_not_after(SSL* ssl);

// Verifies an established connection's peer certificate again, against `ctx`'s trust store and
// CRL (e.g. after a CRL reload). Fails with the reason when it would no longer be accepted.
Status reverify_peer(const TlsContext& ctx, SSL* ssl);

// Why the last handshake's certificate verification failed, for log lines ("certificate has
// expired", "certificate revoked", ...), or "ok".
std::string verify_result_text(SSL* ssl);

// Facts about a certificate file, for `doctor`-style reports and the demo.
struct CertificateInfo {
  std::string subject;
  std::optional<std::string> agency;
  std::chrono::system_clock::time_point not_before;
  std::chrono::system_clock::time_point not_after;
};
Result<CertificateInfo> read_certificate_info(const std::filesystem::path& cert);

// A link context that follows its files: reload_if_changed() rebuilds it when the CA, certificate,
// key or CRL file has changed on disk (a fresh CRL from the hub, a renewed certificate), so a
// revocation takes effect without a restart. Each connection keeps the context it started with.
// If a rebuild fails (say, a half-written CRL), the previous context stays in force and the
// error is returned for logging; the next check tries again.
class ReloadingTlsContext {
 public:
  enum class Side { kServer, kClient };
  static Result<std::shared_ptr<ReloadingTlsContext>> create(TlsFiles files, Side side);

  TlsContext current() const;
  // true when the context was rebuilt, false when nothing changed.
  Result<bool> reload_if_changed();

 private:
  ReloadingTlsContext(TlsFiles files, Side side) : files_(std::move(files)), side_(side) {}
  std::string fingerprint() const;

  TlsFiles files_;
  Side side_;
  mutable std::mutex mutex_;
  TlsContext context_;
  std::string fingerprint_;
};

// Refuses a private key file that group or others may read or write.
Status check_private_key_mode(const std::filesystem::path& key);

}  // namespace mash
