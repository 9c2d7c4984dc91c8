#include "api.h"

#include <sys/statvfs.h>

#include "agreement.h"
#include "audit_json.h"
#include "audit_tools.h"
#include "signed_note.h"

#include <nlohmann/json.hpp>

#include <sstream>

#include "audit_event.h"
#include "clock.h"
#include "crypto.h"

namespace mash::broker {

namespace {

using nlohmann::json;

constexpr const char* kCookie = "mash_session";

bool code_safe(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// A login name as typed may be anything; the audit log gets it only if it is a possible user id,
// otherwise its hash.
std::string login_name_for_audit(const std::string& s) {
  if (code_safe(s)) return s;
  auto h = sha256(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
  return "sha256:" + to_hex(h).substr(0, 32);
}

HttpResponse ok_json(const json& j, int status = 200) {
  HttpResponse r;
  r.status = status;
  r.body = j.dump();
  return r;
}

std::optional<json> parse_body(const HttpRequest& r, HttpResponse& error) {
  if (r.header("content-type").rfind("application/json", 0) != 0) {
    error = json_error(415, "unsupported-media-type", "send the body as application/json");
    return std::nullopt;
  }
  try {
    auto j = json::parse(r.body);
    if (!j.is_object()) {
      error = json_error(400, "bad-json", "the body must be a JSON object");
      return std::nullopt;
    }
    return j;
  } catch (const json::exception&) {
    error = json_error(400, "bad-json", "the body is not valid JSON");
    return std::nullopt;
  }
}

// The query string as name -> value, percent-decoded; nullopt if malformed or too big.
std::optional<std::map<std::string, std::string>> query_params(const std::string& q) {
  std::map<std::string, std::string> out;
  if (q.empty()) return out;
  if (q.size() > 2048) return std::nullopt;
  auto decode = [](std::string_view in) -> std::optional<std::string> {
    std::string r;
    for (size_t i = 0; i < in.size(); ++i) {
      char c = in[i];
      if (c == '+') {
        r.push_back(' ');
      } else if (c == '%') {
        if (i + 2 >= in.size()) return std::nullopt;
        auto hex = [](char h) -> int {
          if (h >= '0' && h <= '9') return h - '0';
          if (h >= 'a' && h <= 'f') return h - 'a' + 10;
          if (h >= 'A' && h <= 'F') return h - 'A' + 10;
          return -1;
        };
        int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
        if (hi < 0 || lo < 0) return std::nullopt;
        r.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
      } else {
        r.push_back(c);
      }
    }
    return r;
  };
  size_t start = 0;
  while (start <= q.size()) {
    size_t end = q.find('&', start);
    if (end == std::string::npos) end = q.size();
    std::string_view part(q.data() + start, end - start);
    auto eq = part.find('=');
    if (eq == std::string_view::npos || out.size() >= 16) return std::nullopt;
    auto k = decode(part.substr(0, eq)), v = decode(part.substr(eq + 1));
    if (!k || !v || k->empty() || out.count(*k)) return std::nullopt;
    out[*k] = *v;
    start = end + 1;
  }
  return out;
}

// A string member, or an error naming the field.
bool get_string(const json& j, const char* key, std::string& out, std::map<std::string, std::string>& errors,
                bool required = true) {
  if (!j.contains(key)) {
    if (required) errors[key] = "is required";
    return false;
  }
  if (!j.at(key).is_string()) {
    errors[key] = "must be a string";
    return false;
  }
  out = j.at(key).get<std::string>();
  return true;
}

json user_json(const User& u) {
  return {{"id", u.id}, {"name", u.display_name}, {"role", u.role}, {"team", u.team}, {"disabled", u.disabled}};
}

std::string cookie(const std::string& value, bool secure, int64_t max_age_s) {
  std::string c = std::string(kCookie) + "=" + value + "; Path=/; HttpOnly; SameSite=Strict";
  if (secure) c += "; Secure";
  c += "; Max-Age=" + std::to_string(max_age_s);
  return c;
}

}  // namespace

Api::Api(ApiOptions options, UserStore& users, AuditLog& audit, AgentRegistry& registry, Logger log)
    : options_(std::move(options)), users_(users), audit_(audit), registry_(registry), log_(std::move(log)) {}

HttpResponse Api::handle(const HttpRequest& request) {
  HttpResponse r = route(request);
  {
    std::lock_guard lock(metrics_mu_);
    ++requests_by_status_[std::to_string(r.status)];
  }
  // No personal data in log lines: method, path shape and status only.
  log_.debug("http-request", {{"method", request.method}, {"path", request.path.substr(0, 64)}, {"status", r.status}});
  return r;
}

Status Api::record(AuditEvent e) {
  e.time_ms = unix_millis_now();
  auto rec = event_to_record(e);
  if (!rec.ok()) return rec.error();
  auto appended = audit_.append(*rec, event_index_keys(e));
  if (!appended.ok()) return appended.error();
  return {};
}

std::variant<Api::Caller, HttpResponse> Api::authenticate(const HttpRequest& r) {
  std::string token;
  bool by_cookie = false;
  auto auth = r.header("authorization");
  if (auth.rfind("Bearer ", 0) == 0) {
    token = auth.substr(7);
  } else if (auto it = r.cookies.find(kCookie); it != r.cookies.end()) {
    token = it->second;
    by_cookie = true;
  }
  if (token.empty() || token.size() > 128) {
    return json_error(401, "unauthenticated", "sign in first (POST /api/v1/session)");
  }
  auto s = users_.check_session(token, unix_millis_now());
  if (!s.ok()) return json_error(503, "unavailable", "the user store cannot be read: try again later");
  if (!*s) return json_error(401, "unauthenticated", "the session has expired or was ended: sign in again");
  if (by_cookie && r.method != "GET" && r.method != "HEAD") {
    // A browser sends the cookie by itself; only our own pages know the CSRF token.
    if (!csrf_matches(**s, r.header("x-csrf-token"))) {
      return json_error(403, "csrf", "missing or wrong X-CSRF-Token header");
    }
  }
  return Caller{std::move(**s), by_cookie};
}

HttpResponse Api::route(const HttpRequest& r) {
  if (r.path == "/healthz" && r.method == "GET") return healthz();
  if (r.path == "/readyz" && r.method == "GET") return readyz();
  if (r.path == "/metrics" && r.method == "GET") return metrics();
  if (r.path == "/api/v1/session" && r.method == "POST") return login(r);
  if (auto page = web(r)) return *page;
  if (r.path.rfind("/api/v1/", 0) != 0) return json_error(404, "not-found", "no such page");

  auto auth = authenticate(r);
  if (auto* err = std::get_if<HttpResponse>(&auth)) return *err;
  const Caller& c = std::get<Caller>(auth);

  if (r.path == "/api/v1/session" && r.method == "DELETE") return logout(r, c);
  if (r.path == "/api/v1/me" && r.method == "GET") return me(c);
  if (r.path.rfind("/api/v1/enquiries", 0) == 0) return enquiries(r, c);
  if (r.path == "/api/v1/events" && r.method == "GET") return events(r, c);
  if (r.path.rfind("/api/v1/audit/", 0) == 0) return audit(r, c);
  if (r.path == "/api/v1/agreement" && r.method == "GET") return agreement(c);
  if (r.path == "/api/v1/agencies" && r.method == "GET") return agencies(c);
  if (r.path == "/api/v1/users" && r.method == "GET") return list_users(c);
  if (r.path == "/api/v1/users" && r.method == "POST") return add_user(r, c);
  const std::string prefix = "/api/v1/users/";
  if (r.path.rfind(prefix, 0) == 0 && r.method == "POST") {
    std::string rest = r.path.substr(prefix.size());
    auto slash = rest.find('/');
    if (slash != std::string::npos) {
      std::string id = rest.substr(0, slash), what = rest.substr(slash + 1);
      if (what == "disable" || what == "enable" || what == "role" || what == "password" || what == "team") {
        return change_user(r, c, id, what);
      }
    }
  }
  return json_error(404, "not-found", "no such endpoint (see broker/api/openapi.yaml)");
}

HttpResponse Api::enquiries(const HttpRequest& r, const Caller& c) {
  if (!desk_) return json_error(503, "no-agreement", "the hub has no agreement loaded, so it takes no enquiries");
  EnquiryActor actor{c.session.user_id, c.session.role, c.session.team};
  std::variant<json, EnquiryError> result;
  if (r.path == "/api/v1/enquiries/preview" && r.method == "POST") {
    HttpResponse error;
    auto body = parse_body(r, error);
    if (!body) return error;
    result = desk_->preview(*body);
  } else if (r.path == "/api/v1/enquiries" && r.method == "POST") {
    // Refused while a disk is nearly full: an enquiry half-stored helps nobody. It takes new
    // ones again by itself once space is freed.
    if (auto low = low_disk()) return json_error(503, "disk-full", *low + "; the enquiry was not stored or sent");
    HttpResponse error;
    auto body = parse_body(r, error);
    if (!body) return error;
    result = desk_->submit(*body, actor, r.header("idempotency-key"));
    if (auto* j = std::get_if<json>(&result)) {
      auto response = ok_json(*j, 201);
      if (j->value("replayed", false)) response.headers.emplace_back("Idempotent-Replayed", "true");
      return response;
    }
  } else if (r.path == "/api/v1/enquiries" && r.method == "GET") {
    ListQuery q;
    std::map<std::string, std::string> errors;
    auto params = query_params(r.query);
    if (!params) return json_error(400, "invalid", "the query string is malformed or too long");
    for (const auto& [k, v] : *params) {
      if (k == "limit") {
        char* end = nullptr;
        long n = std::strtol(v.c_str(), &end, 10);
        if (v.empty() || *end != '\0' || n < 1 || n > 200) errors["limit"] = "must be a number from 1 to 200";
        else q.limit = static_cast<size_t>(n);
      } else if (k == "cursor") {
        q.cursor = v;
      } else if (k == "status") {
        if (!parse_status(v)) errors["status"] = "must be an agency status: queued, delivered, awaiting-review, answered, declined, overdue or failed";
        q.status = v;
      } else if (k == "brag") {
        q.brag = v.substr(0, 32);
      } else if (k == "overdue") {
        if (v != "true" && v != "false") errors["overdue"] = "must be true or false";
        q.overdue = v == "true";
      } else {
        errors[k.substr(0, 32)] = "is not a filter of the list (limit, cursor, status, brag, overdue)";
      }
    }
    if (!errors.empty()) return json_error(400, "invalid", "the list's query has errors", errors);
    result = desk_->list(actor, q);
  } else if (r.path.rfind("/api/v1/enquiries/", 0) == 0) {
    std::string rest = r.path.substr(std::string("/api/v1/enquiries/").size());
    auto slash = rest.find('/');
    std::string id = rest.substr(0, slash), what = slash == std::string::npos ? "" : rest.substr(slash + 1);
    if (what.empty() && r.method == "GET") {
      result = desk_->get(id, actor);
    } else if (what == "decision" && r.method == "POST") {
      HttpResponse error;
      auto body = parse_body(r, error);
      if (!body) return error;
      result = desk_->decide(id, *body, actor);
    } else if (what == "export" && r.method == "GET") {
      result = desk_->export_for_front_door(id, actor);
    } else {
      return json_error(404, "not-found", "no such endpoint (see broker/api/openapi.yaml)");
    }
  } else {
    return json_error(404, "not-found", "no such endpoint (see broker/api/openapi.yaml)");
  }
  if (auto* e = std::get_if<EnquiryError>(&result)) return json_error(e->status, e->code, e->message, e->fields);
  return ok_json(std::get<json>(result));
}

HttpResponse Api::events(const HttpRequest& r, const Caller& c) {
  if (!desk_) return json_error(503, "no-agreement", "the hub has no agreement loaded, so it takes no enquiries");
  std::string enquiry;
  if (!r.query.empty()) {
    if (r.query.rfind("enquiry=", 0) != 0 || r.query.size() > 8 + 32 || r.query.find('&') != std::string::npos) {
      return json_error(400, "invalid", "the only query parameter is enquiry=ID");
    }
    enquiry = r.query.substr(8);
  }
  auto stream = std::make_shared<EventStream>();
  auto result = desk_->watch(stream, EnquiryActor{c.session.user_id, c.session.role, c.session.team}, enquiry);
  if (auto* e = std::get_if<EnquiryError>(&result)) return json_error(e->status, e->code, e->message, e->fields);
  HttpResponse out;
  out.events = stream;
  return out;
}

HttpResponse Api::audit(const HttpRequest& r, const Caller& c) {
  // The audit trail is the DPO's: never case content, and every use of it is itself recorded.
  if (c.session.role != "dpo") return json_error(403, "forbidden", "the audit trail is for the data protection officer");
  auto reader = audit_.reader();
  if (!reader.ok()) return json_error(503, "unavailable", "the audit log cannot be read: " + reader.error().message);
  auto params = query_params(r.query);
  if (!params) return json_error(400, "invalid", "the query string is malformed or too long");
  auto param = [&](const char* k) { auto it = params->find(k); return it == params->end() ? std::string() : it->second; };
  auto refuse = [](const Error& e) {
    return json_error(e.code == ErrorCode::kInvalidArgument ? 400 : 503,
                      e.code == ErrorCode::kInvalidArgument ? "invalid" : "unavailable", e.message);
  };
  if (r.path == "/api/v1/audit/erasures") {
    if (r.method != "POST") return json_error(404, "not-found", "no such endpoint (see broker/api/openapi.yaml)");
    if (!desk_) return json_error(503, "no-agreement", "the hub has no agreement loaded");
    HttpResponse error;
    auto body = parse_body(r, error);
    if (!body) return error;
    auto result = desk_->erase(*body, EnquiryActor{c.session.user_id, c.session.role, c.session.team});
    if (auto* e = std::get_if<EnquiryError>(&result)) return json_error(e->status, e->code, e->message, e->fields);
    return ok_json(std::get<json>(result));
  }
  AuditEvent used;
  used.type = "audit.searched";
  used.actor = c.session.user_id;
  used.role = c.session.role;
  json out;
  std::string person_warning;
  const std::string tool = r.path.substr(std::string("/api/v1/audit/").size());
  auto person_of = [&](const json& body, std::vector<std::string>& pseudonyms) -> std::optional<HttpResponse> {
    if (!pseudonymizer_) return json_error(503, "unavailable", "the hub's pseudonym key is not loaded");
    if (!body.contains("person")) return json_error(400, "invalid", "give the person", {{"person", "is required"}});
    auto person = person_from_json(body.at("person"));
    if (!person.ok()) return json_error(400, "invalid", "the person cannot be used", {{"person", person.error().message}});
    std::string warning;
    auto p = person_pseudonyms(*person, *pseudonymizer_, &warning);
    if (!p.ok()) return json_error(400, "invalid", "the person cannot be used", {{"person", p.error().message}});
    pseudonyms = std::move(p).value();
    person_warning = warning;
    return std::nullopt;
  };
  if (tool == "events" && r.method == "GET") {
    static const std::set<std::string> kKeys = {"user", "agency", "case", "enquiry", "type", "from", "to", "limit"};
    for (const auto& [k, v] : *params) {
      if (!kKeys.count(k)) return json_error(400, "invalid", "unknown parameter (use user, agency, case, enquiry, type, from, to, limit)");
    }
    AuditQuery q;
    q.user = param("user");
    q.agency = param("agency");
    q.case_ref = param("case");
    q.enquiry = param("enquiry");
    q.type = param("type");
    q.from = param("from");
    q.to = param("to");
    if (!param("limit").empty()) {
      try {
        q.limit = std::clamp<size_t>(std::stoul(param("limit")), 1, kDefaultAuditLimit);
      } catch (...) {
        return json_error(400, "invalid", "limit must be a number");
      }
    }
    auto list = search(*reader, q);
    if (!list.ok()) return refuse(list.error());
    out = events_json(*list);
    used.outcome = "events";
    used.case_ref = code_safe(q.case_ref) ? q.case_ref : "";
  } else if ((tool == "person" || tool == "subject-access-report") && r.method == "POST") {
    HttpResponse error;
    auto body = parse_body(r, error);
    if (!body) return error;
    std::vector<std::string> pseudonyms;
    if (auto e = person_of(*body, pseudonyms)) return *e;
    if (tool == "person") {
      AuditQuery q;
      q.persons = pseudonyms;
      q.from = body->value("from", "");
      q.to = body->value("to", "");
      auto list = search(*reader, q);
      if (!list.ok()) return refuse(list.error());
      out = events_json(*list);
      if (!person_warning.empty()) out["warning"] = person_warning;
      used.outcome = "person";
    } else {
      auto report = subject_access_report(*reader, pseudonyms);
      if (!report.ok()) return refuse(report.error());
      out = sar_json(*report);
      if (!person_warning.empty()) out["warning"] = person_warning;
      used.outcome = "subject-access-report";
    }
    used.subjects = pseudonyms;
    if (used.subjects.size() > 64) used.subjects.resize(64);
  } else if (tool.rfind("cases/", 0) == 0 && tool.size() > 15 && tool.substr(tool.size() - 9) == "/timeline" &&
             r.method == "GET") {
    std::string case_ref = tool.substr(6, tool.size() - 15);
    if (case_ref.empty() || case_ref.size() > 64) return json_error(400, "invalid", "no such case reference");
    auto list = case_timeline(*reader, case_ref);
    if (!list.ok()) return refuse(list.error());
    out = events_json(*list);
    used.outcome = "timeline";
    used.case_ref = code_safe(case_ref) ? case_ref : "";
  } else if ((tool == "statistics" || tool == "flags") && r.method == "GET") {
    if (param("from").empty() || param("to").empty()) {
      return json_error(400, "invalid", "from and to are required", {{"from", "e.g. 2026-12-01"}, {"to", "e.g. 2026-12-31"}});
    }
    if (tool == "statistics") {
      auto st = access_statistics(*reader, param("from"), param("to"));
      if (!st.ok()) return refuse(st.error());
      out = statistics_json(*st);
    } else {
      auto flags = unusual_patterns(*reader, param("from"), param("to"));
      if (!flags.ok()) return refuse(flags.error());
      out = flags_json(*flags);
    }
    used.outcome = tool;
  } else if (tool == "checkpoint" && r.method == "GET") {
    // The latest signed checkpoint, its signature checked with the hub's key and its root
    // recomputed from the stored tree. (`mash-audit verify` checks every record offline.)
    auto note = audit_.latest_checkpoint();
    if (!note.ok()) return json_error(503, "unavailable", "no checkpoint yet: " + note.error().message);
    NoteVerifier verifier(audit_.origin(), audit_.verify_key());
    auto cp = verifier.verify(*note, audit_.origin());
    bool signature_ok = cp.ok();
    bool root_ok = false;
    if (cp.ok()) {
      auto root = audit_.root(cp->size);
      root_ok = root.ok() && *root == cp->root;
    }
    out = {{"checkpoint", *note}, {"origin", audit_.origin()}, {"size", cp.ok() ? cp->size : 0},
           {"records", audit_.size()}, {"signature_valid", signature_ok}, {"root_matches", root_ok},
           {"verified", signature_ok && root_ok}};
    used.outcome = "checkpoint";
  } else {
    return json_error(404, "not-found", "no such endpoint (see broker/api/openapi.yaml)");
  }
  if (auto st = record(used); !st.ok()) {
    return json_error(503, "audit-unavailable", "this search cannot be recorded, so nothing is shown");
  }
  return ok_json(out);
}

HttpResponse Api::healthz() { return ok_json({{"status", "ok"}}); }

std::optional<std::string> Api::low_disk() const {
  for (const auto& dir : options_.data_dirs) {
    struct statvfs fs {};
    if (::statvfs(dir.c_str(), &fs) != 0) continue;  // the store's own checks report a missing directory
    const uint64_t free_mb = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize / (1024 * 1024);
    if (free_mb < options_.min_free_mb) {
      return "only " + std::to_string(free_mb) + " MB free on the disk of " + dir.string() + " (at least " +
             std::to_string(options_.min_free_mb) + " MB is kept free: [store] min_free_mb)";
    }
  }
  return std::nullopt;
}

HttpResponse Api::readyz() {
  json checks;
  bool ready = true;
  auto audit = audit_.healthy();
  checks["audit_log"] = audit.ok() ? "ok" : audit.error().message;
  ready = ready && audit.ok();
  auto store = users_.list();
  checks["store"] = store.ok() ? "ok" : store.error().message;
  ready = ready && store.ok();
  if (auto low = low_disk()) {
    checks["disk"] = *low;
    ready = false;
  } else {
    checks["disk"] = "ok";
  }
  if (options_.agreement_id.empty()) {
    checks["agreement"] = "no agreement loaded ([policy] agreement in the configuration)";
    ready = false;
  } else {
    checks["agreement"] = options_.agreement_id + " version " + std::to_string(options_.agreement_version);
  }
  return ok_json({{"ready", ready}, {"checks", checks}}, ready ? 200 : 503);
}

HttpResponse Api::metrics() {
  std::ostringstream m;
  m << "# HELP mash_agents_connected Agencies connected to the agent link.\n"
       "# TYPE mash_agents_connected gauge\n"
    << "mash_agents_connected " << registry_.size() << "\n"
    << "# HELP mash_audit_log_records Records in the access audit log.\n"
       "# TYPE mash_audit_log_records gauge\n"
    << "mash_audit_log_records " << audit_.size() << "\n"
    << "# HELP mash_audit_log_intact 1 unless damage was found in the stored audit records (the log then refuses appends).\n"
       "# TYPE mash_audit_log_intact gauge\n"
    << "mash_audit_log_intact " << (audit_.integrity().ok() ? 1 : 0) << "\n"
    << "# HELP mash_audit_log_verified_records Records checked by the verification at start-up so far.\n"
       "# TYPE mash_audit_log_verified_records gauge\n"
    << "mash_audit_log_verified_records " << audit_.verified() << "\n";
  std::lock_guard lock(metrics_mu_);
  m << "# HELP mash_http_requests_total HTTP requests by status.\n# TYPE mash_http_requests_total counter\n";
  for (const auto& [status, n] : requests_by_status_) m << "mash_http_requests_total{status=\"" << status << "\"} " << n << "\n";
  m << "# HELP mash_logins_total Sign-in attempts by outcome.\n# TYPE mash_logins_total counter\n";
  for (const auto& [outcome, n] : logins_by_outcome_) m << "mash_logins_total{outcome=\"" << outcome << "\"} " << n << "\n";
  if (listener_) {
    m << "# HELP mash_agency_witness_alarm 1 when the hub's witness of an agency's disclosure log is in alarm.\n"
         "# TYPE mash_agency_witness_alarm gauge\n";
    for (const auto& [agency, w] : listener_->witness_states()) {
      m << "mash_agency_witness_alarm{agency=\"" << agency << "\"} " << (w.alarmed ? 1 : 0) << "\n";
    }
  }
  if (desk_) m << desk_->metrics_text();
  HttpResponse r;
  r.content_type = "text/plain; version=0.0.4";
  r.body = m.str();
  return r;
}

HttpResponse Api::login(const HttpRequest& r) {
  HttpResponse error;
  auto body = parse_body(r, error);
  if (!body) return error;
  std::map<std::string, std::string> errors;
  std::string id, password;
  get_string(*body, "user", id, errors);
  get_string(*body, "password", password, errors);
  bool bearer = body->contains("bearer") && body->at("bearer").is_boolean() && body->at("bearer").get<bool>();
  if (!errors.empty()) return json_error(400, "invalid", "the sign-in request is incomplete", errors);
  if (id.size() > 256 || password.size() > 1024) return json_error(400, "invalid", "user or password too long");

  auto result = users_.login(id, password, unix_millis_now());
  if (!result.ok()) return json_error(503, "unavailable", "the user store cannot be written: try again later");
  const char* outcome = "ok";
  switch (result->outcome) {
    case LoginResult::Outcome::kOk: outcome = "ok"; break;
    case LoginResult::Outcome::kBadCredentials: outcome = "bad-credentials"; break;
    case LoginResult::Outcome::kLocked: outcome = "locked"; break;
    case LoginResult::Outcome::kDisabled: outcome = "disabled"; break;
  }
  {
    std::lock_guard lock(metrics_mu_);
    ++logins_by_outcome_[outcome];
  }
  AuditEvent e;
  e.type = result->outcome == LoginResult::Outcome::kOk ? "login.succeeded" : "login.failed";
  e.actor = login_name_for_audit(id);
  e.outcome = outcome;
  if (result->session) e.role = result->session->role;
  if (auto st = record(e); !st.ok()) {
    log_.error("audit-unavailable", {{"event", e.type}, {"reason", st.error().message}});
    if (result->session) (void)users_.logout(result->session->token);
    return json_error(503, "audit-unavailable", "the sign-in cannot be recorded, so it is refused; try again later");
  }
  if (result->outcome == LoginResult::Outcome::kLocked) {
    return json_error(429, "locked", "too many failed sign-ins: the account is locked for a while");
  }
  if (result->outcome != LoginResult::Outcome::kOk) {
    // One answer for an unknown user, a wrong password and a disabled account.
    return json_error(401, "bad-credentials", "the user name or password is wrong, or the account is disabled");
  }
  const Session& s = *result->session;
  json j = {{"user", s.user_id}, {"role", s.role}, {"team", s.team}, {"csrf", s.csrf}, {"expires_ms", s.expires_ms}};
  HttpResponse out;
  if (bearer) {
    j["token"] = s.token;
  } else {
    out.headers.emplace_back("Set-Cookie", cookie(s.token, options_.secure_cookie,
                                                  (s.expires_ms - unix_millis_now()) / 1000));
  }
  out.body = j.dump();
  return out;
}

HttpResponse Api::logout(const HttpRequest& r, const Caller& c) {
  std::string token;
  auto auth = r.header("authorization");
  if (auth.rfind("Bearer ", 0) == 0) {
    token = auth.substr(7);
  } else if (auto it = r.cookies.find(kCookie); it != r.cookies.end()) {
    token = it->second;
  }
  if (auto st = users_.logout(token); !st.ok()) return json_error(503, "unavailable", "try again later");
  AuditEvent e;
  e.type = "logout";
  e.actor = c.session.user_id;
  e.role = c.session.role;
  e.outcome = "ok";
  if (auto st = record(e); !st.ok()) log_.error("audit-unavailable", {{"event", "logout"}});
  HttpResponse out = ok_json({{"signed_out", true}});
  out.headers.emplace_back("Set-Cookie", cookie("", options_.secure_cookie, 0));
  return out;
}

HttpResponse Api::me(const Caller& c) {
  auto u = users_.get(c.session.user_id);
  if (!u.ok() || !*u) return json_error(401, "unauthenticated", "sign in again");
  json j = user_json(**u);
  j["csrf"] = c.session.csrf;
  j["expires_ms"] = c.session.expires_ms;
  j["idle_timeout_s"] = options_.session_idle_s;
  return ok_json(j);
}

std::optional<HttpResponse> Api::web(const HttpRequest& r) {
  if (!web_ || r.method != "GET" || r.path.rfind("/api/", 0) == 0) return std::nullopt;
  HttpResponse out;
  if (const WebFile* f = web_->file(r.path); f && r.path != "/index.html") {
    // Scripts, styles, fonts and images (no case content). The browser keeps them but asks
    // each time whether they changed (304 when not), so an upgraded hub's scripts are used at
    // once, never a mix of old and new modules.
    out.cache_control = "no-cache";
    out.headers.emplace_back("ETag", f->etag);
    if (r.header("if-none-match") == f->etag) {
      out.status = 304;
      out.content_type.clear();
      return out;
    }
    out.content_type = f->content_type;
    out.body = f->body;
    return out;
  }
  if (r.path == "/index.html" || WebAssets::is_page_route(r.path)) {
    // The one page, filled in by its script from the API; never cached.
    out.content_type = web_->index().content_type;
    out.body = web_->index().body;
    return out;
  }
  return std::nullopt;
}

// What the enquiry form offers, from the agreement in force. No case content: any signed-in user.
HttpResponse Api::agreement(const Caller&) {
  if (!agreement_) return json_error(503, "no-agreement", "the hub has no agreement loaded");
  const policy::Agreement& a = *agreement_;
  json j = {{"id", a.id}, {"title", a.title}, {"version", a.version}, {"effective", a.effective.to_string()},
            {"review", a.review.to_string()}, {"case_content_days", a.case_content_days},
            {"enquiries_per_user_per_hour", a.enquiries_per_user_per_hour},
            {"enquiries_per_user_per_day", a.enquiries_per_user_per_day}};
  json brag = json::array();
  for (const auto& b : a.brag) {
    brag.push_back({{"id", b.id}, {"name", b.name}, {"rank", b.rank}, {"deadline_minutes", b.deadline_minutes}});
  }
  json purposes = json::array();
  for (const auto& p : a.purposes) purposes.push_back({{"id", p.id}, {"name", p.name}, {"description", p.description}});
  json bases = json::array();
  for (const auto& b : a.legal_bases) bases.push_back({{"id", b.id}, {"name", b.name}, {"requires_consent", b.requires_consent}});
  json consent = json::array();
  for (const auto& c : a.consent_states) {
    consent.push_back({{"id", c.id}, {"name", c.name}, {"requires_reason", c.requires_reason}, {"is_given", c.is_given}});
  }
  json agencies = json::array();
  for (const auto& ag : a.agencies) {
    json fields = json::array();
    for (const auto& f : a.fields) {
      if (f.agency == ag.id) {
        fields.push_back({{"id", f.id}, {"description", f.description}, {"special_category", f.special_category}});
      }
    }
    json schemes = json::array();
    for (const auto& s : ag.identifier_schemes) schemes.push_back({{"id", s.id}, {"name", s.name}});
    agencies.push_back({{"id", ag.id}, {"name", ag.name}, {"fields", fields}, {"identifier_schemes", schemes}});
  }
  json signatories = json::array();
  for (const auto& s : a.signatories) {
    signatories.push_back({{"organisation", s.organisation}, {"name", s.name}, {"role", s.role},
                           {"signed_on", s.signed_on.to_string()}});
  }
  j["brag"] = brag;
  j["purposes"] = purposes;
  j["legal_bases"] = bases;
  j["consent_states"] = consent;
  j["agencies"] = agencies;
  j["signatories"] = signatories;
  j["subject_roles"] = {"child", "mother", "father", "carer", "sibling", "other-adult"};
  return ok_json(j);
}

// The agencies of the agreement with their link state (admin).
HttpResponse Api::agencies(const Caller& c) {
  if (c.session.role != "admin") return json_error(403, "forbidden", "only an admin sees the agencies' connections");
  auto ms = [](std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  };
  std::map<std::string, ConnectedAgent> connected;
  for (auto& a : registry_.snapshot()) connected.emplace(a.agency, a);
  std::map<std::string, AgentListener::WitnessState> witness;
  if (listener_) witness = listener_->witness_states();
  json out = json::array();
  auto add = [&](const std::string& id, const std::string& name, bool in_agreement) {
    json j = {{"id", id}, {"name", name}, {"in_agreement", in_agreement}, {"connected", false}};
    // The hub's witness of the agency's disclosure log: "ok", "alarm" (with why: the agency's
    // log no longer extends what the hub witnessed; see mash-broker witness-reset), or
    // "not-witnessed" (no disclosure-log key configured for it).
    if (auto w = witness.find(id); w != witness.end()) {
      j["witness"] = {{"state", w->second.alarmed ? "alarm" : "ok"}, {"witnessed_size", w->second.witnessed_size}};
      if (w->second.alarmed) j["witness"]["reason"] = w->second.reason;
    } else {
      j["witness"] = {{"state", "not-witnessed"}};
    }
    if (auto it = connected.find(id); it != connected.end()) {
      j["connected"] = true;
      j["peer"] = it->second.peer;
      j["software"] = it->second.software;
      j["since_ms"] = ms(it->second.since);
      j["certificate_expires_ms"] = ms(it->second.certificate_expires);
      connected.erase(it);
    }
    out.push_back(j);
  };
  if (agreement_) {
    for (const auto& a : agreement_->agencies) add(a.id, a.name, true);
  }
  while (!connected.empty()) add(connected.begin()->first, "", false);
  return ok_json({{"agencies", out}, {"now_ms", unix_millis_now()}});
}

HttpResponse Api::list_users(const Caller& c) {
  if (c.session.role != "admin") return json_error(403, "forbidden", "only an admin manages users");
  auto users = users_.list();
  if (!users.ok()) return json_error(503, "unavailable", "the user store cannot be read");
  json arr = json::array();
  for (const auto& u : *users) arr.push_back(user_json(u));
  return ok_json({{"users", arr}});
}

HttpResponse Api::add_user(const HttpRequest& r, const Caller& c) {
  if (c.session.role != "admin") return json_error(403, "forbidden", "only an admin manages users");
  HttpResponse error;
  auto body = parse_body(r, error);
  if (!body) return error;
  std::map<std::string, std::string> errors;
  NewUser nu;
  get_string(*body, "id", nu.id, errors);
  get_string(*body, "name", nu.display_name, errors);
  get_string(*body, "role", nu.role, errors);
  get_string(*body, "team", nu.team, errors);
  get_string(*body, "password", nu.password, errors);
  if (!errors.empty()) return json_error(400, "invalid", "the new user is incomplete", errors);
  auto added = users_.add(nu);
  if (!added.ok()) {
    int status = added.error().code == ErrorCode::kAlreadyExists ? 409 : 400;
    return json_error(status, status == 409 ? "exists" : "invalid", added.error().message);
  }
  AuditEvent e;
  e.type = "user.changed";
  e.actor = c.session.user_id;
  e.role = c.session.role;
  e.outcome = "added";
  e.extra = {{"user", added->id}, {"new_role", added->role}, {"team", added->team}};
  if (auto st = record(e); !st.ok()) {
    // The change is made but not recorded: undo it rather than leave an unrecorded account.
    (void)users_.disable(added->id);
    return json_error(503, "audit-unavailable", "the change cannot be recorded, so the account was disabled again");
  }
  return ok_json({{"user", user_json(*added)}}, 201);
}

HttpResponse Api::change_user(const HttpRequest& r, const Caller& c, const std::string& id, const std::string& what) {
  bool self_password = what == "password" && id == c.session.user_id;
  if (c.session.role != "admin" && !self_password) {
    return json_error(403, "forbidden", "only an admin manages users (anyone may change their own password)");
  }
  HttpResponse error;
  std::optional<json> body;
  if (what == "role" || what == "password" || what == "team") {
    body = parse_body(r, error);
    if (!body) return error;
  }
  std::map<std::string, std::string> errors;
  std::string value;
  Status st;
  if (what == "disable") {
    if (id == c.session.user_id) return json_error(400, "invalid", "an admin cannot disable their own account");
    st = users_.disable(id);
  } else if (what == "enable") {
    st = users_.enable(id);
  } else if (what == "role") {
    if (!get_string(*body, "role", value, errors)) return json_error(400, "invalid", "role is required", errors);
    st = users_.set_role(id, value);
  } else if (what == "team") {
    if (!get_string(*body, "team", value, errors)) return json_error(400, "invalid", "team is required", errors);
    st = users_.set_team(id, value);
  } else {
    if (!get_string(*body, "password", value, errors)) return json_error(400, "invalid", "password is required", errors);
    st = users_.set_password(id, value);
  }
  if (!st.ok()) {
    int status = st.error().code == ErrorCode::kNotFound ? 404 : 400;
    return json_error(status, status == 404 ? "not-found" : "invalid", st.error().message);
  }
  AuditEvent e;
  e.type = "user.changed";
  e.actor = c.session.user_id;
  e.role = c.session.role;
  e.outcome = what;
  e.extra = {{"user", login_name_for_audit(id)}};
  if (what == "role") e.extra["new_role"] = login_name_for_audit(value);
  if (auto rec = record(e); !rec.ok()) {
    log_.error("audit-unavailable", {{"event", "user.changed"}, {"reason", rec.error().message}});
    return json_error(503, "audit-unavailable", "the change was made but could not be recorded; tell the DPO");
  }
  return ok_json({{"user", id}, {"changed", what}});
}

}  // namespace mash::broker
