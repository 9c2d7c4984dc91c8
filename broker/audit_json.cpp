#include "audit_json.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "clock.h"
#include "pseudonym.h"

namespace mash::broker {

using nlohmann::json;

namespace {
constexpr size_t kMaxIdentifiers = 64;
}  // namespace

json event_json(uint64_t index, const AuditEvent& e) {
  return {{"index", index},
          {"time", iso_time(e.time_ms)},
          {"time_ms", e.time_ms},
          {"type", e.type},
          {"actor", e.actor},
          {"role", e.role},
          {"agency", e.agency},
          {"case", e.case_ref},
          {"enquiry", e.enquiry},
          {"purpose", e.purpose},
          {"legal_basis", e.legal_basis},
          {"consent", e.consent},
          {"brag", e.brag},
          {"fields", e.fields},
          {"outcome", e.outcome},
          {"restricted", e.restricted},
          {"digest", e.digest},
          {"extra", e.extra},
          {"subject_count", e.subjects.size()}};
}

json events_json(const EventList& list) {
  json events = json::array();
  for (const auto& [i, e] : list.events) events.push_back(event_json(i, e));
  return {{"events", events}, {"count", list.events.size()}, {"truncated", list.truncated}};
}

json sar_json(const SubjectAccessReport& r) {
  json accesses = json::array();
  for (const auto& x : r.accesses) {
    json answers = json::array();
    for (const auto& ans : x.answers) {
      answers.push_back({{"index", ans.index},
                         {"time", iso_time(ans.time_ms)},
                         {"outcome", ans.outcome},
                         {"person_outcome", ans.person_outcome},
                         {"fields_released", ans.fields_released},
                         {"restricted", ans.restricted}});
    }
    accesses.push_back({{"enquiry", x.enquiry},
                        {"case", x.case_ref},
                        {"agency", x.agency},
                        {"request_index", x.request_index ? json(*x.request_index) : json()},
                        {"asked", iso_time(x.time_ms)},
                        {"actor", x.actor},
                        {"role", x.role},
                        {"purpose", x.purpose},
                        {"legal_basis", x.legal_basis},
                        {"consent", x.consent},
                        {"brag", x.brag},
                        {"decision", x.decision},
                        {"fields_requested", x.fields_requested},
                        {"delivered", x.delivered_ms ? json(iso_time(*x.delivered_ms)) : json()},
                        {"answers", answers}});
  }
  json views = json::array();
  for (const auto& v : r.views) {
    views.push_back({{"index", v.index},
                     {"time", iso_time(v.time_ms)},
                     {"type", v.type},
                     {"actor", v.actor},
                     {"role", v.role},
                     {"case", v.case_ref},
                     {"enquiry", v.enquiry}});
  }
  json other = json::array();
  for (const auto& [i, e] : r.other) other.push_back(event_json(i, e));
  return {{"accesses", accesses}, {"views", views}, {"other", other}, {"truncated", r.truncated}};
}

json statistics_json(const AccessStatistics& s) {
  return {{"from", iso_time(s.from_ms)}, {"to", iso_time(s.to_ms)}, {"events", s.events},
          {"by_type", s.by_type},        {"by_user", s.by_user},    {"by_agency", s.by_agency},
          {"truncated", s.truncated}};
}

json flags_json(const PatternReport& r) {
  json flags = json::array();
  for (const auto& f : r.flags) {
    flags.push_back({{"code", f.code},
                     {"user", f.user},
                     {"day", f.day},
                     {"persons", f.persons},
                     {"case", f.case_ref},
                     {"enquiry", f.enquiry},
                     {"count", f.count},
                     {"threshold", f.threshold},
                     {"window_from", iso_time(f.window_from_ms)},
                     {"window_to", iso_time(f.window_to_ms)},
                     {"evidence", f.evidence}});
  }
  return {{"flags", flags}, {"truncated", r.truncated}};
}

Result<PersonDetails> person_from_json(const json& j) {
  auto bad = [](const std::string& why) { return make_error(ErrorCode::kInvalidArgument, why); };
  if (!j.is_object()) return bad("the person must be a JSON object");
  PersonDetails person;
  for (const auto& [k, v] : j.items()) {
    if (k == "forenames" || k == "surname" || k == "date_of_birth") {
      if (!v.is_string()) return bad(k + " must be a string");
      if (v.get<std::string>().size() > 256) return bad(k + " is too long");
    } else if (k == "identifiers") {
      if (!v.is_object()) return bad("identifiers must be an object of scheme: value");
    } else {
      return bad("unexpected key (allowed: forenames, surname, date_of_birth, identifiers)");
    }
  }
  person.forenames = j.value("forenames", "");
  person.surname = j.value("surname", "");
  person.date_of_birth = j.value("date_of_birth", "");
  if (j.contains("identifiers")) {
    static const std::set<std::string> kSchemes = {"nhs", "upn", "pnc", "probation", "housing"};
    for (const auto& [scheme, v] : j.at("identifiers").items()) {
      std::string s = scheme;
      std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
      if (!kSchemes.count(s)) return bad("identifiers: unknown scheme (use nhs, upn, pnc, probation, housing)");
      std::vector<std::string> values;
      if (v.is_string()) {
        values.push_back(v.get<std::string>());
      } else if (v.is_array()) {
        for (const auto& x : v) {
          if (!x.is_string()) return bad("identifiers: " + s + " values must be strings");
          values.push_back(x.get<std::string>());
        }
      } else {
        return bad("identifiers: " + s + " must be a string or a list of strings");
      }
      for (auto& value : values) {
        if (value.size() > 64) return bad("identifiers: a " + s + " value is too long");
        person.identifiers.emplace_back(s, std::move(value));
      }
      if (person.identifiers.size() > kMaxIdentifiers) return bad("too many identifiers");
    }
  }
  if (!person.date_of_birth.empty() && !valid_iso_date(person.date_of_birth)) {
    return bad("date_of_birth must be a real date written YYYY-MM-DD");
  }
  return person;
}

Result<std::vector<std::string>> person_pseudonyms(const PersonDetails& person, const Pseudonymizer& pseudonymizer,
                                                   std::string* warning) {
  std::map<std::string, int> nth;
  for (const auto& [scheme, value] : person.identifiers) {
    int n = ++nth[scheme];
    PersonDetails one;
    one.identifiers = {{scheme, value}};
    if (pseudonymizer.pseudonyms(one).empty()) {
      std::string hint = scheme == "nhs" ? " (10 digits with a valid check digit)" : "";
      return make_error(ErrorCode::kInvalidArgument,
                        "identifier " + scheme + " #" + std::to_string(n) + " is not usable" + hint);
    }
  }
  PersonDetails name_only = person;
  name_only.identifiers.clear();
  int named = !person.forenames.empty() + !person.surname.empty() + !person.date_of_birth.empty();
  if (warning) {
    if (named == 3 && pseudonymizer.pseudonyms(name_only).empty()) {
      *warning = "the names give no letters to match on; searching by identifiers only";
    } else if (named > 0 && named < 3) {
      *warning = "forenames, surname and date_of_birth are only used together; searching by identifiers only";
    }
  }
  auto out = pseudonymizer.pseudonyms(person);
  if (out.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "gives no usable identity: give forenames, surname and date_of_birth, or an identifier");
  }
  return out;
}

}  // namespace mash::broker
