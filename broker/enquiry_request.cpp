#include "enquiry_request.h"

#include <algorithm>
#include <set>

#include "clock.h"
#include "enquiry_body.h"
#include "pseudonym.h"

namespace mash::broker {

using nlohmann::json;

namespace {

const std::set<std::string> kRoles = {"child", "mother", "father", "carer", "sibling", "other-adult"};
const std::set<std::string> kGenders = {"", "female", "male", "other", "unknown"};
const char* kSchemes[] = {"nhs", "upn", "pnc", "probation", "housing"};

}  // namespace

bool national_scheme(const std::string& scheme) {
  return std::any_of(std::begin(kSchemes), std::end(kSchemes), [&](const char* x) { return scheme == x; });
}

bool is_code(std::string_view s, size_t max, bool upper_ok) {
  if (s.empty() || s.size() > max) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '/' ||
              (upper_ok && c >= 'A' && c <= 'Z');
    if (!ok) return false;
  }
  return true;
}

bool printable(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 && c != '\n' && c != '\t') return false;
    if (c == 0x7f) return false;
  }
  return true;
}

bool read_string(const json& j, const std::string& path, const char* key, std::string& out,
                 std::map<std::string, std::string>& errors, size_t max, bool required) {
  const std::string where = path.empty() ? key : path + "." + key;
  if (!j.contains(key) || j.at(key).is_null()) {
    if (required) errors[where] = "is required";
    return false;
  }
  if (!j.at(key).is_string()) {
    errors[where] = "must be a string";
    return false;
  }
  out = j.at(key).get<std::string>();
  if (out.size() > max) {
    errors[where] = "is longer than " + std::to_string(max) + " characters";
    return false;
  }
  if (!printable(out)) {
    errors[where] = "holds control characters";
    return false;
  }
  if (required && out.empty()) {
    errors[where] = "is required";
    return false;
  }
  return true;
}

json EnquiryRequest::to_json() const {
  json n = {{"case_ref", case_ref}, {"local_authority", local_authority}, {"brag", brag}, {"concerns", concerns},
            {"purpose", purpose}, {"legal_basis", legal_basis}, {"consent", consent}, {"consent_reason", consent_reason}};
  if (!follows.empty()) n["follows"] = follows;
  json subs = json::array();
  for (const auto& s : subjects) {
    json ids = json::object();
    for (const auto& [k, v] : s.identifiers) ids[k] = v;
    subs.push_back({{"ref", s.ref}, {"role", s.role}, {"forenames", s.forenames}, {"surname", s.surname},
                    {"date_of_birth", s.date_of_birth}, {"gender", s.gender}, {"postcode", s.postcode},
                    {"address", s.address}, {"uprn", s.uprn}, {"other_names", s.other_names}, {"identifiers", ids}});
  }
  n["subjects"] = subs;
  json ags = json::array();
  for (const auto& a : agencies) ags.push_back({{"agency", a.id}, {"justification", a.justification}, {"fields", a.wanted}});
  n["agencies"] = ags;
  return n;
}

std::variant<EnquiryRequest, EnquiryError> check_enquiry(const json& in, const policy::Policy& policy) {
  std::map<std::string, std::string> errors;
  EnquiryRequest out;
  if (!in.is_object()) return EnquiryError{400, "invalid", "the enquiry must be a JSON object", {}};
  static const std::set<std::string> kKeys = {"case_ref", "local_authority", "brag", "concerns", "purpose",
                                              "legal_basis", "consent", "consent_reason", "subjects", "agencies",
                                              "follows"};
  for (auto it = in.begin(); it != in.end(); ++it) {
    if (!kKeys.count(it.key())) errors[it.key().substr(0, 64)] = "is not a field of an enquiry";
  }
  std::string case_ref, la, brag, concerns, purpose, basis, consent, consent_reason;
  if (read_string(in, "", "case_ref", case_ref, errors, 64, true) && !is_code(case_ref, 64)) {
    errors["case_ref"] = "may hold only letters, digits and - . _ /";
  }
  if (read_string(in, "", "local_authority", la, errors, 64, true) && !is_code(la, 64, false)) {
    errors["local_authority"] = "must be a lower-case code, e.g. hammersmith-fulham";
  }
  read_string(in, "", "concerns", concerns, errors, 4000, true);
  // A follow-up: the same case asked again (of agencies asked before), with more details.
  std::string follows;
  if (read_string(in, "", "follows", follows, errors, 32, false) && !follows.empty() && !is_code(follows, 32, false)) {
    errors["follows"] = "must be the id of an earlier enquiry";
  }
  const auto& agreement = policy.agreement();
  if (read_string(in, "", "brag", brag, errors, 32, true)) {
    const auto* level = agreement.brag_level(brag);
    if (!level) errors["brag"] = "is not a BRAG rating of the agreement";
    else {
      out.deadline_hours = level->deadline_hours;
      out.deadline_minutes = level->deadline_minutes;
    }
  }
  if (read_string(in, "", "purpose", purpose, errors, 64, true) &&
      std::none_of(agreement.purposes.begin(), agreement.purposes.end(), [&](const auto& p) { return p.id == purpose; })) {
    errors["purpose"] = "is not a purpose of the agreement";
  }
  if (read_string(in, "", "legal_basis", basis, errors, 64, true) &&
      std::none_of(agreement.legal_bases.begin(), agreement.legal_bases.end(), [&](const auto& b) { return b.id == basis; })) {
    errors["legal_basis"] = "is not a legal basis of the agreement";
  }
  if (read_string(in, "", "consent", consent, errors, 64, true)) {
    auto it = std::find_if(agreement.consent_states.begin(), agreement.consent_states.end(),
                           [&](const auto& c) { return c.id == consent; });
    if (it == agreement.consent_states.end()) {
      errors["consent"] = "is not a consent state of the agreement";
    } else {
      bool has_reason = read_string(in, "", "consent_reason", consent_reason, errors, 2000, false) && !consent_reason.empty();
      if (it->requires_reason && !has_reason) {
        errors["consent_reason"] = "is required when consent is " + consent + " (why it was not sought)";
      }
    }
  }
  out.case_ref = case_ref;
  out.local_authority = la;
  out.brag = brag;
  out.concerns = concerns;
  out.purpose = purpose;
  out.legal_basis = basis;
  out.consent = consent;
  out.consent_reason = consent_reason;
  out.follows = follows;

  // Subjects.
  if (!in.contains("subjects") || !in.at("subjects").is_array() || in.at("subjects").empty()) {
    errors["subjects"] = "at least one subject is required";
  } else if (in.at("subjects").size() > kMaxSubjects) {
    errors["subjects"] = "at most " + std::to_string(kMaxSubjects) + " subjects";
  } else {
    std::set<std::string> refs;
    for (size_t i = 0; i < in.at("subjects").size(); ++i) {
      const json& s = in.at("subjects")[i];
      const std::string p = "subjects[" + std::to_string(i) + "]";
      if (!s.is_object()) {
        errors[p] = "must be an object";
        continue;
      }
      static const std::set<std::string> kSubjectKeys = {"ref",    "role",     "forenames", "surname",
                                                         "other_names", "date_of_birth", "gender", "postcode",
                                                         "address", "uprn", "identifiers"};
      for (auto it = s.begin(); it != s.end(); ++it) {
        if (!kSubjectKeys.count(it.key())) errors[p + "." + it.key().substr(0, 32)] = "is not a field of a person";
      }
      std::string ref, role, fore, sur, dob, gender, postcode, address;
      if (read_string(s, p, "ref", ref, errors, 16, true) && (!is_code(ref, 16, false) || !refs.insert(ref).second)) {
        errors[p + ".ref"] = "must be a short unique code, e.g. s1";
      }
      if (read_string(s, p, "role", role, errors, 32, true) && !kRoles.count(role)) {
        errors[p + ".role"] = "must be one of child, mother, father, carer, sibling, other-adult";
      }
      read_string(s, p, "forenames", fore, errors, 128, false);
      read_string(s, p, "surname", sur, errors, 128, false);
      if (fore.empty() && sur.empty()) errors[p + ".surname"] = "a name is required";
      if (read_string(s, p, "date_of_birth", dob, errors, 10, false) && !dob.empty() && !valid_iso_date(dob)) {
        errors[p + ".date_of_birth"] = "must be a date written YYYY-MM-DD";
      }
      if (read_string(s, p, "gender", gender, errors, 16, false) && !kGenders.count(gender)) {
        errors[p + ".gender"] = "must be female, male, other or unknown";
      }
      read_string(s, p, "postcode", postcode, errors, 10, false);
      read_string(s, p, "address", address, errors, 256, false);
      // The Unique Property Reference Number of the address: 1 to 12 digits.
      std::string uprn;
      if (read_string(s, p, "uprn", uprn, errors, 16, false) && !uprn.empty() &&
          (uprn.size() > 12 || !std::all_of(uprn.begin(), uprn.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))) {
        errors[p + ".uprn"] = "must be a UPRN: 1 to 12 digits";
      }
      std::vector<std::string> other;
      if (s.contains("other_names")) {
        if (!s.at("other_names").is_array() || s.at("other_names").size() > 10) {
          errors[p + ".other_names"] = "must be a list of at most 10 names";
        } else {
          for (const auto& o : s.at("other_names")) {
            if (!o.is_string() || o.get<std::string>().size() > 128) errors[p + ".other_names"] = "each must be a name";
            else other.push_back(o.get<std::string>());
          }
        }
      }
      std::map<std::string, std::string> ids;
      // A national identifier, checked; or one of a scheme an agency of the agreement declares
      // (sent only to the agencies that declare it).
      auto add_identifier = [&](const std::string& k, const json& value, const std::string& where) {
        bool national = national_scheme(k);
        bool declared = false;
        for (const auto& ag : agreement.agencies) declared = declared || ag.identifier_scheme(k) != nullptr;
        if (!national && !declared) {
          errors[where] = "unknown scheme: use nhs, upn, pnc, probation, housing or a scheme an agency of the agreement declares";
          return;
        }
        if (!value.is_string() || value.get<std::string>().empty() || value.get<std::string>().size() > 32 ||
            !printable(value.get<std::string>())) {
          errors[where] = "must be a value of 1 to 32 characters";
          return;
        }
        std::string v = value.get<std::string>();
        if (k == "nhs") {
          std::string digits;
          for (char c : v) {
            if (c != ' ') digits.push_back(c);
          }
          if (!valid_nhs_number(digits)) {
            errors[where] = "is not a valid NHS number (check digit)";
            return;
          }
          v = digits;
        }
        if (ids.count(k)) {
          errors[where] = "the scheme '" + k.substr(0, 32) + "' is given twice";
          return;
        }
        ids[k] = v;
      };
      if (s.contains("identifiers")) {
        const json& given = s.at("identifiers");
        if (given.is_object() && given.size() <= 16) {
          for (auto it = given.begin(); it != given.end(); ++it) {
            add_identifier(it.key(), *it, p + ".identifiers." + it.key().substr(0, 32));
          }
        } else if (given.is_array() && given.size() <= 16) {
          for (size_t k = 0; k < given.size(); ++k) {
            const json& e = given[k];
            const std::string where = p + ".identifiers[" + std::to_string(k) + "]";
            if (!e.is_object() || e.size() != 2 || !e.contains("scheme") || !e.contains("value") ||
                !e.at("scheme").is_string() || e.at("scheme").get<std::string>().size() > 32) {
              errors[where] = "must be {\"scheme\": ..., \"value\": ...}";
              continue;
            }
            add_identifier(e.at("scheme").get<std::string>(), e.at("value"), where);
          }
        } else {
          errors[p + ".identifiers"] =
              "must be an object like {\"nhs\": \"...\"} or a list like [{\"scheme\": \"nhs\", \"value\": \"...\"}], at most 16";
        }
      }
      out.subjects.push_back(SubjectRequest{ref, role, fore, sur, dob, gender, postcode, address, uprn, std::move(other),
                                            std::move(ids)});
    }
  }

  // Agencies, each with a justification and the fields wanted.
  if (!in.contains("agencies") || !in.at("agencies").is_array() || in.at("agencies").empty()) {
    errors["agencies"] = "choose at least one agency, each with a justification";
  } else {
    std::set<std::string> seen;
    for (size_t i = 0; i < in.at("agencies").size() && i < 16; ++i) {
      const json& a = in.at("agencies")[i];
      const std::string p = "agencies[" + std::to_string(i) + "]";
      if (!a.is_object()) {
        errors[p] = "must be an object";
        continue;
      }
      AgencyRequest ag;
      if (read_string(a, p, "agency", ag.id, errors, 64, true)) {
        if (!agreement.agency(ag.id)) errors[p + ".agency"] = "is not an agency of the agreement";
        else if (!seen.insert(ag.id).second) errors[p + ".agency"] = "is chosen twice";
      }
      if (read_string(a, p, "justification", ag.justification, errors, 2000, true) && ag.justification.size() < 10) {
        errors[p + ".justification"] = "say why this agency is relevant (at least 10 characters)";
      }
      std::vector<std::string>& wanted = ag.wanted;
      if (a.contains("fields")) {
        if (!a.at("fields").is_array() || a.at("fields").size() > 64) {
          errors[p + ".fields"] = "must be a list of field ids";
        } else {
          for (size_t k = 0; k < a.at("fields").size(); ++k) {
            const auto& f = a.at("fields")[k];
            const auto* def = f.is_string() ? agreement.field(f.get<std::string>()) : nullptr;
            if (!def || def->agency != ag.id) {
              errors[p + ".fields[" + std::to_string(k) + "]"] = "is not in this agency's catalogue";
            } else if (std::find(wanted.begin(), wanted.end(), def->id) == wanted.end()) {
              wanted.push_back(def->id);
            }
          }
        }
      } else {
        for (const auto& f : agreement.fields) {
          if (f.agency == ag.id) wanted.push_back(f.id);
        }
      }
      if (errors.empty()) {
        auto q = policy.query(ag.id, purpose, basis, consent, brag);
        if (!q.ok()) {
          errors[p] = q.error().message;
        } else {
          for (const auto& f : wanted) {
            auto d = policy.decide_field(*q, f);
            if (!d.ok()) continue;
            if (d->released()) {
              ag.asked.push_back(f);
            } else {
              ag.not_permitted.push_back({{"field", f},
                                          {"reason", policy::reason_code(d->reason)},
                                          {"clause", policy.clause(d->clause)},
                                          {"explanation", policy.clause_text(d->clause)}});
            }
          }
        }
      }
      out.agencies.push_back(std::move(ag));
    }
  }
  // An identifier of an agency's own scheme is for that agency: it must be one of those asked.
  if (errors.empty()) {
    for (size_t i = 0; i < out.subjects.size(); ++i) {
      for (const auto& [k, value] : out.subjects[i].identifiers) {
        if (national_scheme(k)) continue;
        bool asked = std::any_of(out.agencies.begin(), out.agencies.end(), [&](const AgencyRequest& a) {
          const auto* ag = agreement.agency(a.id);
          return ag && ag->identifier_scheme(k);
        });
        if (!asked) {
          errors["subjects[" + std::to_string(i) + "].identifiers." + k.substr(0, 32)] =
              "is for an agency that is not asked in this enquiry";
        }
      }
    }
  }
  if (!errors.empty()) return EnquiryError{400, "invalid", "the enquiry has errors; nothing was stored or sent", errors};
  return out;
}


std::vector<uint8_t> build_enquiry_body(const EnquiryRequest& r, const AgencyRequest& a, const policy::Agreement& agreement,
                                        std::span<const uint8_t> delivery, int64_t issued_ms, int64_t deadline_ms) {
  EnquiryBodyFields f;
  f.id.assign(delivery.begin(), delivery.end());
  f.agency = a.id;
  f.agreement_id = agreement.id;
  f.policy_version = static_cast<uint64_t>(agreement.version);
  f.issued_ms = issued_ms;
  f.deadline_ms = deadline_ms;
  f.case_ref = r.case_ref;
  f.purpose = r.purpose;
  f.legal_basis = r.legal_basis;
  f.consent = r.consent;
  f.brag = r.brag;
  f.justification = a.justification;
  f.fields = a.asked;
  const policy::Agency* agency = agreement.agency(a.id);
  for (const SubjectRequest& s : r.subjects) {
    EnquirySubject o{s.ref, s.role, s.forenames, s.surname, s.date_of_birth, s.gender, s.postcode, s.address, s.uprn,
                     s.other_names, {}};
    // National identifiers go to every agency asked; an agency's own scheme only to it.
    for (const auto& [scheme, value] : s.identifiers) {
      if (national_scheme(scheme) || (agency && agency->identifier_scheme(scheme))) o.identifiers.emplace_back(scheme, value);
    }
    f.subjects.push_back(std::move(o));
  }
  return encode_enquiry_body(f);
}

}  // namespace mash::broker
