#include "tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>
#include <ctime>
#include <memory>
#include <vector>

namespace mash {
namespace {

constexpr std::string_view kAgencyUriPrefix = "urn:mash:agency:";

struct BioDeleter { void operator()(BIO* b) const { BIO_free(b); } };
struct X509Deleter { void operator()(X509* x) const { X509_free(x); } };
struct CrlDeleter { void operator()(X509_CRL* c) const { X509_CRL_free(c); } };
struct NamesDeleter { void operator()(GENERAL_NAMES* n) const { GENERAL_NAMES_free(n); } };
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using CrlPtr = std::unique_ptr<X509_CRL, CrlDeleter>;

// Drains OpenSSL's error queue into one readable string.
std::string openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

Error tls_error(const std::string& what) {
  return make_error(ErrorCode::kInvalidArgument, what + ": " + openssl_errors());
}

bool valid_agency_id(std::string_view id) {
  if (id.empty() || id.size() > 63) return false;
  if (!((id[0] >= 'a' && id[0] <= 'z') || (id[0] >= '0' && id[0] <= '9'))) return false;
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

// Agency ids named in a certificate's subjectAltName URIs. Malformed ids are returned as empty
// strings so that the caller refuses the certificate rather than ignoring them.
std::vector<std::string> agency_ids(X509* cert) {
  std::vector<std::string> ids;
  std::unique_ptr<GENERAL_NAMES, NamesDeleter> names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (!names) return ids;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type != GEN_URI) continue;
    const ASN1_STRING* s = name->d.uniformResourceIdentifier;
    std::string_view uri(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                         static_cast<size_t>(ASN1_STRING_length(s)));
    if (uri.substr(0, kAgencyUriPrefix.size()) != kAgencyUriPrefix) continue;
    std::string_view id = uri.substr(kAgencyUriPrefix.size());
    ids.push_back(valid_agency_id(id) ? std::string(id) : std::string());
  }
  return ids;
}

// The broker's verify callback: on top of OpenSSL's chain, CRL and purpose checks, the agent's
// certificate must name exactly one well-formed agency. Failing here fails the handshake itself.
int server_verify_callback(int preverify_ok, X509_STORE_CTX* store) {
  if (!preverify_ok) return 0;
  if (X509_STORE_CTX_get_error_depth(store) != 0) return 1;
  X509* cert = X509_STORE_CTX_get_current_cert(store);
  auto ids = agency_ids(cert);
  if (ids.size() != 1 || ids[0].empty()) {
    X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
    return 0;
  }
  return 1;
}

Result<CrlPtr> load_crl(const std::filesystem::path& path, X509* ca) {
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) return tls_error("cannot open CRL " + path.string());
  CrlPtr crl(PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr));
  if (!crl) return tls_error("cannot read CRL " + path.string());
  EVP_PKEY* ca_key = X509_get0_pubkey(ca);
  if (!ca_key || X509_CRL_verify(crl.get(), ca_key) != 1) {
    ERR_clear_error();
    return make_error(ErrorCode::kInvalidArgument,
                      "CRL " + path.string() + " is not signed by the hub CA");
  }
  const ASN1_TIME* next = X509_CRL_get0_nextUpdate(crl.get());
  if (next && X509_cmp_current_time(next) <= 0) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "CRL " + path.string() +
                          " has expired (nextUpdate passed); issue a fresh one with `mash-pki crl`");
  }
  return crl;
}

Result<X509Ptr> load_cert(const std::filesystem::path& path) {
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) return tls_error("cannot open certificate " + path.string());
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return tls_error("cannot read certificate " + path.string());
  return cert;
}

// Settings shared by both sides of the link.
Result<TlsContext> make_context(const TlsFiles& files, bool server) {
  ERR_clear_error();
  if (auto st = check_private_key_mode(files.key); !st.ok()) return st.error();
  auto ca = load_cert(files.ca);
  if (!ca.ok()) return ca.error();

  auto ctx = std::make_shared<boost::asio::ssl::context>(
      server ? boost::asio::ssl::context::tls_server : boost::asio::ssl::context::tls_client);
  SSL_CTX* native = ctx->native_handle();

  if (SSL_CTX_set_min_proto_version(native, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(native, TLS1_3_VERSION) != 1) {
    return tls_error("cannot restrict the context to TLS 1.3");
  }
  SSL_CTX_set_options(native, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION |
                                  SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(native, 0);

  if (SSL_CTX_use_certificate_chain_file(native, files.cert.c_str()) != 1) {
    return tls_error("cannot load certificate " + files.cert.string());
  }
  if (SSL_CTX_use_PrivateKey_file(native, files.key.c_str(), SSL_FILETYPE_PEM) != 1) {
    return tls_error("cannot load private key " + files.key.string() + " for certificate " +
                     files.cert.string());
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    return tls_error("private key " + files.key.string() + " does not match certificate " +
                     files.cert.string());
  }

  // Trust exactly the hub CA: a fresh store with one anchor, never the system's defaults.
  X509_STORE* store = X509_STORE_new();
  if (!store || X509_STORE_add_cert(store, ca->get()) != 1) {
    X509_STORE_free(store);
    return tls_error("cannot add hub CA " + files.ca.string());
  }
  SSL_CTX_set_cert_store(native, store);  // the context now owns the store
  auto crl = load_crl(files.crl, ca->get());
  if (!crl.ok()) return crl.error();
  if (X509_STORE_add_crl(store, crl->get()) != 1) return tls_error("cannot add CRL");
  X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_X509_STRICT);
  X509_STORE_set_purpose(store, server ? X509_PURPOSE_SSL_CLIENT : X509_PURPOSE_SSL_SERVER);
  SSL_CTX_set_purpose(native, server ? X509_PURPOSE_SSL_CLIENT : X509_PURPOSE_SSL_SERVER);

  SSL_CTX_set_verify(native, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                     server ? server_verify_callback : nullptr);
  SSL_CTX_set_verify_depth(native, 2);

  if (server) {
    // Tell clients which CA we accept, so an agent with the wrong certificate fails fast.
    STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
    if (names) {
      X509_NAME* dup = X509_NAME_dup(X509_get_subject_name(ca->get()));
      if (dup) sk_X509_NAME_push(names, dup);
      SSL_CTX_set_client_CA_list(native, names);
    }
  }
  return ctx;
}

std::chrono::system_clock::time_point to_time_point(const ASN1_TIME* t) {
  std::tm tm{};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return {};
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

}  // namespace

Result<std::shared_ptr<ReloadingTlsContext>> ReloadingTlsContext::create(TlsFiles files, Side side) {
  std::shared_ptr<ReloadingTlsContext> r(new ReloadingTlsContext(std::move(files), side));
  r->fingerprint_ = r->fingerprint();
  auto ctx = side == Side::kServer ? make_link_server_context(r->files_)
                                   : make_link_client_context(r->files_);
  if (!ctx.ok()) return ctx.error();
  r->context_ = *ctx;
  return r;
}

TlsContext ReloadingTlsContext::current() const {
  std::lock_guard lock(mutex_);
  return context_;
}

std::string ReloadingTlsContext::fingerprint() const {
  // Modification time and size of each file; a replaced file (new inode) shows up too.
  std::string out;
  for (const auto* p : {&files_.ca, &files_.cert, &files_.key, &files_.crl}) {
    struct stat st {};
    if (::stat(p->c_str(), &st) == 0) {
      out += std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + ":" +
             std::to_string(st.st_size) + ":" + std::to_string(st.st_ino) + ";";
    } else {
      out += "missing;";
    }
  }
  return out;
}

Result<bool> ReloadingTlsContext::reload_if_changed() {
  std::string now = fingerprint();
  {
    std::lock_guard lock(mutex_);
    if (now == fingerprint_) return false;
  }
  auto ctx = side_ == Side::kServer ? make_link_server_context(files_)
                                    : make_link_client_context(files_);
  if (!ctx.ok()) return ctx.error();
  std::lock_guard lock(mutex_);
  context_ = *ctx;
  fingerprint_ = now;
  return true;
}

Status check_private_key_mode(const std::filesystem::path& key) {
  struct stat st {};
  if (::stat(key.c_str(), &st) != 0) {
    return make_error(ErrorCode::kNotFound, "private key " + key.string() + " not found");
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return make_error(ErrorCode::kPermissionDenied,
                      "private key " + key.string() + " has mode " + mode +
                          "; it must be 0600 (chmod 600 " + key.string() + ")");
  }
  return {};
}

Result<TlsContext> make_https_server_context(const std::filesystem::path& cert,
                                             const std::filesystem::path& key) {
  ERR_clear_error();
  if (auto st = check_private_key_mode(key); !st.ok()) return st.error();
  auto ctx = std::make_shared<boost::asio::ssl::context>(boost::asio::ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  if (SSL_CTX_set_min_proto_version(native, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(native, TLS1_3_VERSION) != 1) {
    return tls_error("cannot restrict the context to TLS 1.3");
  }
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_use_certificate_chain_file(native, cert.c_str()) != 1) {
    return tls_error("cannot load certificate " + cert.string());
  }
  if (SSL_CTX_use_PrivateKey_file(native, key.c_str(), SSL_FILETYPE_PEM) != 1) {
    return tls_error("cannot load private key " + key.string() + " for certificate " + cert.string());
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    return tls_error("private key " + key.string() + " does not match certificate " + cert.string());
  }
  SSL_CTX_set_verify(native, SSL_VERIFY_NONE, nullptr);
  return ctx;
}

Result<TlsContext> make_link_server_context(const TlsFiles& files) {
  return make_context(files, true);
}

Result<TlsContext> make_link_client_context(const TlsFiles& files) {
  return make_context(files, false);
}

Status set_expected_server_name(SSL* ssl, const std::string& name) {
  if (name.empty()) return make_error(ErrorCode::kInvalidArgument, "broker name is empty");
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  unsigned char ip[16];
  bool is_ip = inet_pton(AF_INET, name.c_str(), ip) == 1 || inet_pton(AF_INET6, name.c_str(), ip) == 1;
  if (is_ip) {
    if (X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) != 1) {
      return tls_error("cannot set expected broker address " + name);
    }
  } else {
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set_tlsext_host_name(ssl, name.c_str()) != 1 || SSL_set1_host(ssl, name.c_str()) != 1) {
      return tls_error("cannot set expected broker name " + name);
    }
  }
  return {};
}

Result<std::string> peer_agency_id(SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (!cert || SSL_get_verify_result(ssl) != X509_V_OK) {
    return make_error(ErrorCode::kUnauthenticated, "no verified peer certificate");
  }
  auto ids = agency_ids(cert);
  if (ids.size() != 1 || ids[0].empty()) {
    return make_error(ErrorCode::kUnauthenticated,
                      "peer certificate does not name exactly one valid agency");
  }
  return ids[0];
}

std::chrono::system_clock::time_point peer_certificate_not_after(SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  return cert ? to_time_point(X509_get0_notAfter(cert)) : std::chrono::system_clock::time_point{};
}

Status reverify_peer(const TlsContext& ctx, SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (!cert) return make_error(ErrorCode::kUnauthenticated, "no peer certificate");
  SSL_CTX* native = ctx->native_handle();
  X509_STORE* store = SSL_CTX_get_cert_store(native);
  X509_STORE_CTX* verify = X509_STORE_CTX_new();
  if (!verify) return make_error(ErrorCode::kInternal, "out of memory");
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl);
  int ok = X509_STORE_CTX_init(verify, store, cert, chain) == 1 &&
           X509_STORE_CTX_set_purpose(verify, SSL_is_server(ssl) ? X509_PURPOSE_SSL_CLIENT
                                                                  : X509_PURPOSE_SSL_SERVER) == 1 &&
           X509_verify_cert(verify) == 1;
  int err = X509_STORE_CTX_get_error(verify);
  X509_STORE_CTX_free(verify);
  ERR_clear_error();
  if (!ok) return make_error(ErrorCode::kUnauthenticated, X509_verify_cert_error_string(err));
  return {};
}

std::string verify_result_text(SSL* ssl) {
  long rc = SSL_get_verify_result(ssl);
  if (rc == X509_V_ERR_APPLICATION_VERIFICATION) {
    return "certificate names no agency (urn:mash:agency:<id>)";
  }
  return X509_verify_cert_error_string(rc);
}

Result<CertificateInfo> read_certificate_info(const std::filesystem::path& path) {
  auto cert = load_cert(path);
  if (!cert.ok()) return cert.error();
  CertificateInfo info;
  char buf[512];
  X509_NAME_oneline(X509_get_subject_name(cert->get()), buf, sizeof buf);
  info.subject = buf;
  auto ids = agency_ids(cert->get());
  if (ids.size() == 1 && !ids[0].empty()) info.agency = ids[0];
  info.not_before = to_time_point(X509_get0_notBefore(cert->get()));
  info.not_after = to_time_point(X509_get0_notAfter(cert->get()));
  return info;
}

}  // namespace mash
