// The broker's JSON API over HTTPS (see broker/api/openapi.yaml and broker/README.md).
//
// Who is asking: a session from POST /api/v1/session, carried by the HttpOnly, Secure,
// SameSite=Strict cookie `mash_session` (browsers) or by `Authorization: Bearer` (scripts, which
// ask for a token with {"bearer": true}). A state-changing request that relies on the cookie
// must carry the session's CSRF token in `X-CSRF-Token`.
//
// Fail closed: sign-ins (both outcomes), sign-outs and changes to users are written to the audit
// log durably before the answer; if the log cannot be written the request is refused (503) and,
// for a sign-in, the new session is revoked again.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <filesystem>
#include <string>
#include <variant>

#include "agent_registry.h"
#include "audit_event.h"
#include "audit_log.h"
#include "enquiries.h"
#include "http_server.h"
#include "log.h"
#include "pseudonym.h"
#include "users.h"
#include "web_assets.h"

namespace mash::policy {
struct Agreement;
}

namespace mash::broker {

struct ApiOptions {
  bool secure_cookie = true;        // the Secure attribute (always on in production)
  std::string agreement_id;         // the ISA in force, for /readyz (empty: none loaded)
  int64_t agreement_version = 0;
  int64_t session_idle_s = 1800;    // told to the web interface, which signs out after that idle
  // Disks that must keep free space ([store] min_free_mb): the store's and the audit log's.
  std::vector<std::filesystem::path> data_dirs;
  uint64_t min_free_mb = 256;
};

class Api {
 public:
  Api(ApiOptions options, UserStore& users, AuditLog& audit, AgentRegistry& registry, Logger log);

  HttpResponse handle(const HttpRequest& request);
  // Enquiries need the agreement; without one these endpoints answer 503.
  void set_desk(EnquiryDesk* desk) { desk_ = desk; }
  // The agent link, for each agency's disclosure-log witness state (admin and /metrics).
  void set_listener(AgentListener* listener) { listener_ = listener; }
  // The DPO's person searches turn details into pseudonyms with the hub's key.
  void set_pseudonymizer(Pseudonymizer p) { pseudonymizer_.emplace(std::move(p)); }
  // The agreement in force, for the form's choices (GET /api/v1/agreement) and the admin's view
  // of agencies; must outlive the Api.
  void set_agreement(const policy::Agreement* agreement) { agreement_ = agreement; }
  // The web interface's files; without them only the API is served.
  void set_web(const WebAssets* web) { web_ = web; }

 private:
  struct Caller {
    Session session;
    bool by_cookie = false;
  };

  HttpResponse route(const HttpRequest& r);
  HttpResponse healthz();
  HttpResponse readyz();
  // Why a data disk is too full to take work ([store] min_free_mb), if one is.
  std::optional<std::string> low_disk() const;
  HttpResponse metrics();
  HttpResponse login(const HttpRequest& r);
  HttpResponse logout(const HttpRequest& r, const Caller& c);
  HttpResponse me(const Caller& c);
  HttpResponse list_users(const Caller& c);
  HttpResponse add_user(const HttpRequest& r, const Caller& c);
  HttpResponse change_user(const HttpRequest& r, const Caller& c, const std::string& id, const std::string& what);

  // The caller's session, or the error response to send.
  std::variant<Caller, HttpResponse> authenticate(const HttpRequest& r);
  HttpResponse enquiries(const HttpRequest& r, const Caller& c);
  HttpResponse events(const HttpRequest& r, const Caller& c);
  HttpResponse audit(const HttpRequest& r, const Caller& c);
  HttpResponse agreement(const Caller& c);
  HttpResponse agencies(const Caller& c);
  // A file or page of the web interface, or nullopt when `r` is not for one.
  std::optional<HttpResponse> web(const HttpRequest& r);
  Status record(AuditEvent e);

  ApiOptions options_;
  UserStore& users_;
  AuditLog& audit_;
  AgentRegistry& registry_;
  EnquiryDesk* desk_ = nullptr;
  AgentListener* listener_ = nullptr;
  std::optional<Pseudonymizer> pseudonymizer_;
  const policy::Agreement* agreement_ = nullptr;
  const WebAssets* web_ = nullptr;
  Logger log_;
  std::mutex metrics_mu_;
  std::map<std::string, uint64_t> requests_by_status_;
  std::map<std::string, uint64_t> logins_by_outcome_;
};

}  // namespace mash::broker
