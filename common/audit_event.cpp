#include "audit_event.h"

#include <nlohmann/json.hpp>


namespace mash {

namespace {

bool code_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == ':' || c == '@' || c == '/' || c == '+' || c == '-';
}

Status check_code(std::string_view name, std::string_view v, size_t max = 128) {
  if (v.size() > max) {
    return make_error(ErrorCode::kInvalidArgument, "audit event: " + std::string(name) + " is too long");
  }
  for (char c : v) {
    if (!code_char(c)) {
      return make_error(ErrorCode::kInvalidArgument,
                        "audit event: " + std::string(name) + " must be an id or code, not text");
    }
  }
  return {};
}

bool is_pseudonym(std::string_view s) {
  auto colon = s.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > 16 || s.size() != colon + 1 + 64) return false;
  for (char c : s.substr(0, colon)) {
    if (!((c >= 'a' && c <= 'z') || c == '-')) return false;
  }
  for (char c : s.substr(colon + 1)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

Status validate_event(const AuditEvent& e) {
  if (e.type.empty()) return make_error(ErrorCode::kInvalidArgument, "audit event: type is required");
  if (e.time_ms <= 0) return make_error(ErrorCode::kInvalidArgument, "audit event: time is required");
  for (auto [name, v] : {std::pair<const char*, const std::string*>{"type", &e.type}, {"actor", &e.actor},
                         {"role", &e.role}, {"agency", &e.agency}, {"case", &e.case_ref},
                         {"enquiry", &e.enquiry}, {"purpose", &e.purpose}, {"legal_basis", &e.legal_basis},
                         {"consent", &e.consent}, {"brag", &e.brag}, {"outcome", &e.outcome},
                         {"digest", &e.digest}}) {
    if (auto st = check_code(name, *v); !st.ok()) return st;
  }
  if (e.subjects.size() > 64 || e.fields.size() > 256 || e.extra.size() > 64) {
    return make_error(ErrorCode::kInvalidArgument, "audit event: too many subjects, fields or extras");
  }
  for (const auto& s : e.subjects) {
    if (!is_pseudonym(s)) {
      return make_error(ErrorCode::kInvalidArgument, "audit event: subjects must be pseudonyms (<kind>:<64 hex>)");
    }
  }
  for (const auto& f : e.fields) {
    if (auto st = check_code("field", f); !st.ok()) return st;
  }
  for (const auto& [k, v] : e.extra) {
    if (auto st = check_code("extra key", k, 64); !st.ok()) return st;
    if (auto st = check_code("extra value", v); !st.ok()) return st;
  }
  return {};
}

Result<std::string> event_to_record(const AuditEvent& e) {
  if (auto st = validate_event(e); !st.ok()) return st.error();
  nlohmann::json j = {{"type", e.type}, {"time", iso_time(e.time_ms)}, {"time_ms", e.time_ms}};
  auto put = [&](const char* k, const std::string& v) {
    if (!v.empty()) j[k] = v;
  };
  put("actor", e.actor);
  put("role", e.role);
  put("agency", e.agency);
  put("case", e.case_ref);
  put("enquiry", e.enquiry);
  put("purpose", e.purpose);
  put("legal_basis", e.legal_basis);
  put("consent", e.consent);
  put("brag", e.brag);
  put("outcome", e.outcome);
  put("digest", e.digest);
  if (!e.subjects.empty()) j["subjects"] = e.subjects;
  if (!e.fields.empty()) j["fields"] = e.fields;
  if (e.restricted) j["restricted"] = true;
  if (!e.extra.empty()) j["extra"] = e.extra;
  return j.dump();
}

Result<AuditEvent> event_from_record(std::string_view record) {
  try {
    auto j = nlohmann::json::parse(record);
    AuditEvent e;
    e.type = j.at("type").get<std::string>();
    e.time_ms = j.at("time_ms").get<int64_t>();
    auto get = [&](const char* k, std::string& out) {
      if (j.contains(k)) out = j.at(k).get<std::string>();
    };
    get("actor", e.actor);
    get("role", e.role);
    get("agency", e.agency);
    get("case", e.case_ref);
    get("enquiry", e.enquiry);
    get("purpose", e.purpose);
    get("legal_basis", e.legal_basis);
    get("consent", e.consent);
    get("brag", e.brag);
    get("outcome", e.outcome);
    get("digest", e.digest);
    if (j.contains("subjects")) e.subjects = j.at("subjects").get<std::vector<std::string>>();
    if (j.contains("fields")) e.fields = j.at("fields").get<std::vector<std::string>>();
    if (j.contains("restricted")) e.restricted = j.at("restricted").get<bool>();
    if (j.contains("extra")) e.extra = j.at("extra").get<std::map<std::string, std::string>>();
    if (auto st = validate_event(e); !st.ok()) return st.error();
    return e;
  } catch (const nlohmann::json::exception& ex) {
    return make_error(ErrorCode::kDataLoss, std::string("audit record is not an event: ") + ex.what());
  }
}

std::vector<std::pair<std::string, std::string>> event_index_keys(const AuditEvent& e) {
  std::vector<std::pair<std::string, std::string>> keys = {{"type", e.type}, {"time", iso_time(e.time_ms)}};
  if (!e.actor.empty()) keys.emplace_back("actor", e.actor);
  if (!e.agency.empty()) keys.emplace_back("agency", e.agency);
  if (!e.case_ref.empty()) keys.emplace_back("case", e.case_ref);
  if (!e.enquiry.empty()) keys.emplace_back("enquiry", e.enquiry);
  for (const auto& s : e.subjects) keys.emplace_back("subject", s);
  return keys;
}

}  // namespace mash
