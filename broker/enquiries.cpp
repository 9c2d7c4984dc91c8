#include "enquiries.h"

#include <capnp/message.h>

#include <algorithm>
#include <condition_variable>
#include <limits>
#include <cstdio>
#include <set>
#include <sstream>

#include "audit_event.h"
#include "clock.h"
#include "envelope.h"
#include "framing.h"
#include "link.capnp.h"
#include "link.h"

namespace mash::broker {

using nlohmann::json;

namespace {

constexpr size_t kMaxSubjects = 20;
const std::set<std::string> kRoles = {"child", "mother", "father", "carer", "sibling", "other-adult"};
const std::set<std::string> kGenders = {"", "female", "male", "other", "unknown"};
const char* kSchemes[] = {"nhs", "upn", "pnc", "probation", "housing"};

bool is_code(std::string_view s, size_t max, bool upper_ok = true) {
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

std::string hash_hex(std::string_view s) {
  auto h = sha256(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
  return to_hex(h).substr(0, 32);
}

// A new id: 6 bytes of the time (milliseconds, big-endian) and 10 random bytes. Ids made one
// after another sort together, so every table keyed by them (here and at the agents) takes new
// entries at its end: a commit then writes a few pages instead of one page per table per id.
// The 80 random bits keep ids unguessable.
std::string new_id_hex(std::vector<uint8_t>* raw = nullptr) {
  std::vector<uint8_t> b(16);
  random_bytes(b);
  const auto ms = static_cast<uint64_t>(std::max<int64_t>(unix_millis_now(), 0));
  for (int i = 0; i < 6; ++i) b[static_cast<size_t>(i)] = static_cast<uint8_t>(ms >> (8 * (5 - i)));
  if (raw) *raw = b;
  return to_hex(b);
}

// Reads a string member into `out`; records a field error when it is the wrong type or too long.
bool str(const json& j, const std::string& path, const char* key, std::string& out,
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

const char* answer_status(wire::AnswerBody::Status s) {
  switch (s) {
    case wire::AnswerBody::Status::ANSWERED: return "answered";
    case wire::AnswerBody::Status::DECLINED: return "declined";
    case wire::AnswerBody::Status::AWAITING_REVIEW: return "awaiting-review";
  }
  return "answered";
}

const char* outcome_code(wire::SubjectAnswer::Outcome o) {
  switch (o) {
    case wire::SubjectAnswer::Outcome::MATCHED: return "matched";
    case wire::SubjectAnswer::Outcome::POSSIBLE: return "possible";
    case wire::SubjectAnswer::Outcome::NO_RECORD: return "no-record";
  }
  return "no-record";
}

// Times as fixed-width keys, so that byte order is time order.
std::string ms_key(int64_t ms) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(std::max<int64_t>(ms, 0)));
  return buf;
}

bool pending(const std::string& status) {
  return status == "queued" || status == "delivered" || status == "awaiting-review";
}

// Answer latency buckets (seconds) for /metrics.
constexpr double kLatencyBounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 10, 60, 600, 3600, 14400, 86400};
// A user asking about the same person more than this many times in the window is flagged.
constexpr int kRepeatLookups = 3;
constexpr int64_t kRepeatWindowMs = 30LL * 86'400'000;

bool may_see(const json& meta, const EnquiryActor& actor) {
  if (actor.role == "researcher") return meta["owner"] == actor.user_id;
  if (actor.role == "manager") return meta["team"] == actor.team;
  return false;  // DPOs and admins never see case content
}

json status_view(json meta) {
  const int64_t now = unix_millis_now();
  for (auto it = meta["agencies"].begin(); it != meta["agencies"].end(); ++it) {
    auto& a = it.value();
    std::string s = a["status"];
    if ((s == "queued" || s == "delivered" || s == "awaiting-review") && now > meta["deadline_ms"].get<int64_t>()) {
      a["status"] = "overdue";
      a["was"] = s;
    }
  }
  return meta;
}


}  // namespace

struct EnquiryDesk::Checked {
  json request;  // normalised
  struct Agency {
    std::string id, justification;
    std::vector<std::string> asked;
    json not_permitted = json::array();
  };
  std::vector<Agency> agencies;
  int64_t deadline_hours = 0, deadline_minutes = 0;
};

EnquiryDesk::EnquiryDesk(Env& env, CaseVault& vault, const policy::Policy& policy, AuditLog& audit,
                         SigningKey signing_key, Pseudonymizer pseudonyms, Logger log)
    : env_(env),
      vault_(vault),
      policy_(policy),
      audit_(audit),
      key_(std::move(signing_key)),
      pseudonyms_(std::move(pseudonyms)),
      log_(std::move(log)),
      delivery_(env, vault, log_.child("delivery")),
      writer_(env),
      latency_buckets_(std::size(kLatencyBounds), 0) {}

Status EnquiryDesk::open() {
  auto txn = env_.begin_write();
  if (!txn.ok()) return txn.error();
  if (auto st = delivery_.open(*txn); !st.ok()) return st;
  for (auto [name, dbi] : {std::pair<const char*, Dbi*>{"enquiries", &enquiries_}, {"deliveries", &deliveries_}, {"due", &due_}, {"by_owner", &by_owner_},
                           {"lookups", &lookups_}, {"retention", &retention_}}) {
    auto d = txn->open_db(name, true);
    if (!d.ok()) return d.error();
    *dbi = *d;
  }
  // The status gauges start from what is stored.
  (void)txn->for_each_prefix(enquiries_, "", [&](std::string_view, std::string_view v) {
    auto meta = json::parse(v, nullptr, false);
    if (meta.is_discarded() || !meta.contains("agencies")) return true;
    for (auto it = meta["agencies"].begin(); it != meta["agencies"].end(); ++it) {
      ++status_counts_[it.value().value("status", "queued")];
    }
    return true;
  });
  return txn->commit();
}

Status EnquiryDesk::record(AuditEvent e) {
  e.time_ms = unix_millis_now();
  auto rec = event_to_record(e);
  if (!rec.ok()) return rec.error();
  auto r = audit_.append(*rec, event_index_keys(e));
  if (!r.ok()) return r.error();
  return {};
}

std::variant<EnquiryDesk::Checked, EnquiryError> EnquiryDesk::check(const json& in) {
  std::map<std::string, std::string> errors;
  Checked out;
  json& n = out.request;
  if (!in.is_object()) return EnquiryError{400, "invalid", "the enquiry must be a JSON object", {}};
  static const std::set<std::string> kKeys = {"case_ref", "local_authority", "brag", "concerns", "purpose",
                                              "legal_basis", "consent", "consent_reason", "subjects", "agencies",
                                              "follows"};
  for (auto it = in.begin(); it != in.end(); ++it) {
    if (!kKeys.count(it.key())) errors[it.key().substr(0, 64)] = "is not a field of an enquiry";
  }
  std::string case_ref, la, brag, concerns, purpose, basis, consent, consent_reason;
  if (str(in, "", "case_ref", case_ref, errors, 64, true) && !is_code(case_ref, 64)) {
    errors["case_ref"] = "may hold only letters, digits and - . _ /";
  }
  if (str(in, "", "local_authority", la, errors, 64, true) && !is_code(la, 64, false)) {
    errors["local_authority"] = "must be a lower-case code, e.g. hammersmith-fulham";
  }
  str(in, "", "concerns", concerns, errors, 4000, true);
  // A follow-up: the same case asked again (of agencies asked before), with more details.
  std::string follows;
  if (str(in, "", "follows", follows, errors, 32, false) && !follows.empty() && !is_code(follows, 32, false)) {
    errors["follows"] = "must be the id of an earlier enquiry";
  }
  const auto& agreement = policy_.agreement();
  if (str(in, "", "brag", brag, errors, 32, true)) {
    const auto* level = agreement.brag_level(brag);
    if (!level) errors["brag"] = "is not a BRAG rating of the agreement";
    else {
      out.deadline_hours = level->deadline_hours;
      out.deadline_minutes = level->deadline_minutes;
    }
  }
  if (str(in, "", "purpose", purpose, errors, 64, true) &&
      std::none_of(agreement.purposes.begin(), agreement.purposes.end(), [&](const auto& p) { return p.id == purpose; })) {
    errors["purpose"] = "is not a purpose of the agreement";
  }
  if (str(in, "", "legal_basis", basis, errors, 64, true) &&
      std::none_of(agreement.legal_bases.begin(), agreement.legal_bases.end(), [&](const auto& b) { return b.id == basis; })) {
    errors["legal_basis"] = "is not a legal basis of the agreement";
  }
  if (str(in, "", "consent", consent, errors, 64, true)) {
    auto it = std::find_if(agreement.consent_states.begin(), agreement.consent_states.end(),
                           [&](const auto& c) { return c.id == consent; });
    if (it == agreement.consent_states.end()) {
      errors["consent"] = "is not a consent state of the agreement";
    } else {
      bool has_reason = str(in, "", "consent_reason", consent_reason, errors, 2000, false) && !consent_reason.empty();
      if (it->requires_reason && !has_reason) {
        errors["consent_reason"] = "is required when consent is " + consent + " (why it was not sought)";
      }
    }
  }
  n = {{"case_ref", case_ref}, {"local_authority", la}, {"brag", brag}, {"concerns", concerns}, {"purpose", purpose},
       {"legal_basis", basis}, {"consent", consent}, {"consent_reason", consent_reason}};
  if (!follows.empty()) n["follows"] = follows;

  // Subjects.
  json subjects = json::array();
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
      if (str(s, p, "ref", ref, errors, 16, true) && (!is_code(ref, 16, false) || !refs.insert(ref).second)) {
        errors[p + ".ref"] = "must be a short unique code, e.g. s1";
      }
      if (str(s, p, "role", role, errors, 32, true) && !kRoles.count(role)) {
        errors[p + ".role"] = "must be one of child, mother, father, carer, sibling, other-adult";
      }
      str(s, p, "forenames", fore, errors, 128, false);
      str(s, p, "surname", sur, errors, 128, false);
      if (fore.empty() && sur.empty()) errors[p + ".surname"] = "a name is required";
      if (str(s, p, "date_of_birth", dob, errors, 10, false) && !dob.empty() && !valid_iso_date(dob)) {
        errors[p + ".date_of_birth"] = "must be a date written YYYY-MM-DD";
      }
      if (str(s, p, "gender", gender, errors, 16, false) && !kGenders.count(gender)) {
        errors[p + ".gender"] = "must be female, male, other or unknown";
      }
      str(s, p, "postcode", postcode, errors, 10, false);
      str(s, p, "address", address, errors, 256, false);
      // The Unique Property Reference Number of the address: 1 to 12 digits.
      std::string uprn;
      if (str(s, p, "uprn", uprn, errors, 16, false) && !uprn.empty() &&
          (uprn.size() > 12 || !std::all_of(uprn.begin(), uprn.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))) {
        errors[p + ".uprn"] = "must be a UPRN: 1 to 12 digits";
      }
      json other = json::array();
      if (s.contains("other_names")) {
        if (!s.at("other_names").is_array() || s.at("other_names").size() > 10) {
          errors[p + ".other_names"] = "must be a list of at most 10 names";
        } else {
          for (const auto& o : s.at("other_names")) {
            if (!o.is_string() || o.get<std::string>().size() > 128) errors[p + ".other_names"] = "each must be a name";
            else other.push_back(o);
          }
        }
      }
      json ids = json::object();
      // A national identifier, checked; or one of a scheme an agency of the agreement declares
      // (sent only to the agencies that declare it).
      auto add_identifier = [&](const std::string& k, const json& value, const std::string& where) {
        bool national = std::any_of(std::begin(kSchemes), std::end(kSchemes), [&](const char* x) { return k == x; });
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
        if (ids.contains(k)) {
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
      subjects.push_back({{"ref", ref}, {"role", role}, {"forenames", fore}, {"surname", sur}, {"date_of_birth", dob},
                          {"gender", gender}, {"postcode", postcode}, {"address", address}, {"uprn", uprn},
                          {"other_names", other},
                          {"identifiers", ids}});
    }
  }
  n["subjects"] = subjects;

  // Agencies, each with a justification and the fields wanted.
  json agencies = json::array();
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
      Checked::Agency ag;
      if (str(a, p, "agency", ag.id, errors, 64, true)) {
        if (!agreement.agency(ag.id)) errors[p + ".agency"] = "is not an agency of the agreement";
        else if (!seen.insert(ag.id).second) errors[p + ".agency"] = "is chosen twice";
      }
      if (str(a, p, "justification", ag.justification, errors, 2000, true) && ag.justification.size() < 10) {
        errors[p + ".justification"] = "say why this agency is relevant (at least 10 characters)";
      }
      std::vector<std::string> wanted;
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
        auto q = policy_.query(ag.id, purpose, basis, consent, brag);
        if (!q.ok()) {
          errors[p] = q.error().message;
        } else {
          for (const auto& f : wanted) {
            auto d = policy_.decide_field(*q, f);
            if (!d.ok()) continue;
            if (d->released()) {
              ag.asked.push_back(f);
            } else {
              ag.not_permitted.push_back({{"field", f},
                                          {"reason", policy::reason_code(d->reason)},
                                          {"clause", policy_.clause(d->clause)},
                                          {"explanation", policy_.clause_text(d->clause)}});
            }
          }
        }
      }
      agencies.push_back({{"agency", ag.id}, {"justification", ag.justification}, {"fields", wanted}});
      out.agencies.push_back(std::move(ag));
    }
  }
  n["agencies"] = agencies;
  // An identifier of an agency's own scheme is for that agency: it must be one of those asked.
  if (n.contains("subjects") && errors.empty()) {
    for (size_t i = 0; i < n["subjects"].size(); ++i) {
      for (auto it = n["subjects"][i]["identifiers"].begin(); it != n["subjects"][i]["identifiers"].end(); ++it) {
        const std::string& k = it.key();
        if (std::any_of(std::begin(kSchemes), std::end(kSchemes), [&](const char* x) { return k == x; })) continue;
        bool asked = std::any_of(out.agencies.begin(), out.agencies.end(), [&](const Checked::Agency& a) {
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

std::variant<json, EnquiryError> EnquiryDesk::preview(const json& request) {
  auto checked = check(request);
  if (auto* e = std::get_if<EnquiryError>(&checked)) return *e;
  auto& c = std::get<Checked>(checked);
  json agencies = json::array();
  for (const auto& a : c.agencies) {
    agencies.push_back({{"agency", a.id}, {"asked", a.asked}, {"not_permitted", a.not_permitted}});
  }
  return json{{"agencies", agencies}, {"deadline_hours", c.deadline_hours}, {"deadline_minutes", c.deadline_minutes}};
}

std::optional<EnquiryError> EnquiryDesk::check_follow_up(const std::string& follows, const Checked& c,
                                                         const EnquiryActor& actor) {
  json earlier;
  {
    auto txn = env_.begin_read();
    if (!txn.ok()) return EnquiryError{503, "unavailable", txn.error().message, {}};
    auto m = txn->get(enquiries_, follows);
    if (!m.ok()) return EnquiryError{503, "unavailable", m.error().message, {}};
    // One the user may not see looks the same as one that does not exist.
    if (*m) earlier = json::parse(**m);
  }
  if (earlier.is_null() || !may_see(earlier, actor) || earlier.contains("purged_ms")) {
    return EnquiryError{400, "invalid", "the enquiry has errors; nothing was stored or sent",
                        {{"follows", "is not an enquiry of yours that is still held"}}};
  }
  std::map<std::string, std::string> errors;
  if (earlier["case_ref"] != c.request["case_ref"]) {
    errors["case_ref"] = "a follow-up keeps the case reference of the enquiry it follows (" +
                         earlier["case_ref"].get<std::string>() + ")";
  }
  for (size_t i = 0; i < c.agencies.size(); ++i) {
    if (!earlier["agencies"].contains(c.agencies[i].id)) {
      errors["agencies[" + std::to_string(i) + "]"] =
          "was not asked in the enquiry this follows: a follow-up asks the same agencies again (start a new enquiry to ask another)";
    }
  }
  if (earlier.contains("follow_ups") && earlier["follow_ups"].size() >= kMaxFollowUps) {
    errors["follows"] = "already has " + std::to_string(kMaxFollowUps) + " follow-ups";
  }
  if (!errors.empty()) return EnquiryError{400, "invalid", "the enquiry has errors; nothing was stored or sent", errors};
  return std::nullopt;
}

std::variant<json, EnquiryError> EnquiryDesk::submit(const json& request, const EnquiryActor& actor) {
  if (actor.role != "researcher" && actor.role != "manager") {
    return EnquiryError{403, "forbidden", "only researchers and managers make enquiries", {}};
  }
  auto checked = check(request);
  if (auto* e = std::get_if<EnquiryError>(&checked)) return *e;
  auto& c = std::get<Checked>(checked);
  std::map<std::string, std::string> empty_agency;
  for (size_t i = 0; i < c.agencies.size(); ++i) {
    if (c.agencies[i].asked.empty()) {
      empty_agency["agencies[" + std::to_string(i) + "]"] =
          "nothing may be asked of " + c.agencies[i].id + " for this purpose, basis, consent and BRAG (see the preview)";
    }
  }
  if (!empty_agency.empty()) return EnquiryError{400, "invalid", "an agency would be asked nothing", empty_agency};
  const std::string follows = c.request.value("follows", "");
  if (!follows.empty()) {
    if (auto refused = check_follow_up(follows, c, actor)) return *refused;
  }

  // The agreement's rate limits: this enquiry takes a place in the user's window now, so that
  // concurrent submissions cannot both take the last one; it gives the place back if it is not
  // stored.
  const int64_t now = unix_millis_now();
  if (!take_rate_slot(actor.user_id, now)) {
    const auto& a = policy_.agreement();
    AuditEvent refused;
    refused.type = "enquiry.refused";
    refused.actor = actor.user_id;
    refused.role = actor.role;
    refused.outcome = "rate-limited";
    (void)record(refused);
    return EnquiryError{429, "rate-limited",
                        "the agreement allows " + std::to_string(a.enquiries_per_user_per_hour) + " enquiries an hour and " +
                            std::to_string(a.enquiries_per_user_per_day) + " a day per user; ask your manager if this is urgent",
                        {}};
  }
  struct SlotGuard {
    EnquiryDesk* desk;
    const std::string& user;
    int64_t at;
    bool keep = false;
    ~SlotGuard() {
      if (!keep) desk->give_back_rate_slot(user, at);
    }
  } slot{this, actor.user_id, now};

  const json& r = c.request;
  const std::string id = new_id_hex();
  const int64_t deadline = now + c.deadline_minutes * 60'000LL;
  const uint64_t version = static_cast<uint64_t>(policy_.agreement().version);

  // 1. The audit record first: who asked what of whom, under which basis, about whom.
  AuditEvent e;
  e.type = "enquiry.created";
  e.actor = actor.user_id;
  e.role = actor.role;
  e.case_ref = r["case_ref"];
  e.enquiry = id;
  e.purpose = r["purpose"];
  e.legal_basis = r["legal_basis"];
  e.consent = r["consent"];
  e.brag = r["brag"];
  e.outcome = "permitted";
  e.digest = hash_hex(r["concerns"].get<std::string>());
  std::set<std::string> pseudos;
  std::map<std::string, std::string> ref_keys;  // "ref.<subject ref>" -> its pseudonyms' first 16 hex digits
  for (const auto& s : r["subjects"]) {
    PersonDetails pd;
    pd.forenames = s["forenames"];
    pd.surname = s["surname"];
    pd.date_of_birth = s["date_of_birth"];
    for (auto it = s["identifiers"].begin(); it != s["identifiers"].end(); ++it) pd.identifiers.emplace_back(it.key(), it.value());
    std::string prefixes;
    size_t n = 0;
    for (auto& p : pseudonyms_.pseudonyms(pd)) {
      // Which subject each pseudonym belongs to, so that a subject access report can give the
      // outcome for that person (answers give outcomes per subject ref).
      auto colon = p.find(':');
      if (colon != std::string::npos && n < 7) {
        prefixes += (n++ ? "+" : "") + p.substr(colon + 1, 16);
      }
      pseudos.insert(p);
    }
    if (!prefixes.empty()) ref_keys["ref." + s["ref"].get<std::string>()] = prefixes;
  }
  e.subjects.assign(pseudos.begin(), pseudos.end());
  if (e.subjects.size() > 64) e.subjects.resize(64);
  std::string agency_list;
  for (const auto& a : c.agencies) {
    agency_list += (agency_list.empty() ? "" : "+") + a.id;
    e.extra["justification." + a.id] = hash_hex(a.justification);
    for (const auto& f : a.asked) e.fields.push_back(f);
    if (!a.not_permitted.empty()) e.extra["not_permitted." + a.id] = std::to_string(a.not_permitted.size());
  }
  e.extra["agencies"] = agency_list;
  if (!follows.empty()) e.extra["follows"] = follows;
  e.extra["local_authority"] = r["local_authority"];
  for (auto& [k, v] : ref_keys) {
    if (e.extra.size() >= 64) break;  // the audit record's limit; the report then gives answer statuses
    e.extra[k] = v;
  }
  if (auto st = record(e); !st.ok()) {
    log_.error("audit-unavailable", {{"event", "enquiry.created"}, {"reason", st.error().message}});
    return EnquiryError{503, "audit-unavailable", "the enquiry cannot be recorded, so it was not stored or sent", {}};
  }

  // 2. Case content (encrypted under the enquiry's key), one signed copy per agency for the
  //    outbox, and the index records, all in one operation of the store's group commit.
  std::string content = r.dump();
  json meta = {{"id", id}, {"case_ref", r["case_ref"]}, {"local_authority", r["local_authority"]},
               {"owner", actor.user_id}, {"team", actor.team}, {"brag", r["brag"]}, {"purpose", r["purpose"]},
               {"legal_basis", r["legal_basis"]}, {"consent", r["consent"]}, {"created_ms", now},
               {"deadline_ms", deadline}, {"policy_version", version}, {"agencies", json::object()}};
  if (!follows.empty()) meta["follows"] = follows;
  struct Copy {
    std::string agency, delivery_hex;
    std::vector<uint8_t> frame;
  };
  std::vector<Copy> copies;
  for (const auto& a : c.agencies) {
    std::vector<uint8_t> delivery;
    std::string delivery_hex = new_id_hex(&delivery);
    capnp::MallocMessageBuilder b;
    auto body = b.initRoot<wire::EnquiryBody>();
    body.setId(capnp::Data::Reader(delivery.data(), delivery.size()));
    body.setAgency(a.id);
    body.setAgreementId(policy_.agreement().id);
    body.setPolicyVersion(version);
    body.setIssuedAtMs(now);
    body.setDeadlineMs(deadline);
    body.setCaseRef(r["case_ref"].get<std::string>());
    body.setPurpose(r["purpose"].get<std::string>());
    body.setLegalBasis(r["legal_basis"].get<std::string>());
    body.setConsent(r["consent"].get<std::string>());
    body.setBrag(r["brag"].get<std::string>());
    body.setJustification(a.justification);
    auto fields = body.initFields(static_cast<unsigned>(a.asked.size()));
    for (unsigned i = 0; i < a.asked.size(); ++i) fields.set(i, a.asked[i]);
    auto subjects = body.initSubjects(static_cast<unsigned>(r["subjects"].size()));
    for (unsigned i = 0; i < r["subjects"].size(); ++i) {
      const json& s = r["subjects"][i];
      auto o = subjects[i];
      o.setRef(s["ref"].get<std::string>());
      o.setRole(s["role"].get<std::string>());
      o.setForenames(s["forenames"].get<std::string>());
      o.setSurname(s["surname"].get<std::string>());
      o.setDateOfBirth(s["date_of_birth"].get<std::string>());
      o.setGender(s["gender"].get<std::string>());
      o.setPostcode(s["postcode"].get<std::string>());
      o.setAddress(s["address"].get<std::string>());
      o.setUprn(s.value("uprn", ""));
      auto other = o.initOtherNames(static_cast<unsigned>(s["other_names"].size()));
      for (unsigned k = 0; k < s["other_names"].size(); ++k) other.set(k, s["other_names"][k].get<std::string>());
      // National identifiers go to every agency asked; an agency's own scheme only to it.
      const policy::Agency* agency = policy_.agreement().agency(a.id);
      std::vector<std::pair<std::string, std::string>> sent;
      for (auto it = s["identifiers"].begin(); it != s["identifiers"].end(); ++it) {
        bool national = std::any_of(std::begin(kSchemes), std::end(kSchemes), [&](const char* x) { return it.key() == x; });
        if (national || (agency && agency->identifier_scheme(it.key()))) {
          sent.emplace_back(it.key(), it.value().get<std::string>());
        }
      }
      auto ids = o.initIdentifiers(static_cast<unsigned>(sent.size()));
      for (unsigned k = 0; k < sent.size(); ++k) {
        ids[k].setScheme(sent[k].first);
        ids[k].setValue(sent[k].second);
      }
    }
    auto bytes = serialize_message(b);
    auto sig = sign_envelope(key_, kEnquiryDomain, bytes);
    auto frame = make_enquiry_frame(delivery, bytes, sig, FrameLimits{});
    meta["agencies"][a.id] = {{"delivery", delivery_hex}, {"status", "queued"}, {"fields", a.asked},
                              {"not_permitted", a.not_permitted}, {"updated_ms", now}};
    copies.push_back({a.id, delivery_hex, std::move(frame)});
  }
  std::vector<std::string> crossed;
  Status stored = writer_.run([&](Txn& txn) -> Status {
    if (auto st = vault_.put(txn, id, "request",
                             std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(content.data()), content.size()));
        !st.ok()) {
      return st;
    }
    for (const auto& cp : copies) {
      if (auto st = delivery_.put(txn, id, cp.agency, cp.delivery_hex, cp.frame); !st.ok()) return st;
      if (auto st = txn.put(deliveries_, cp.delivery_hex, id + "/" + cp.agency); !st.ok()) return st;
    }
    if (auto st = txn.put(enquiries_, id, meta.dump()); !st.ok()) return st;
    if (!follows.empty()) {
      // The earlier enquiry lists its follow-ups (read here, inside the write, so that a status
      // change stored meanwhile is kept).
      auto earlier = txn.get(enquiries_, follows);
      if (!earlier.ok()) return earlier.error();
      if (!*earlier) return make_error(ErrorCode::kFailedPrecondition, "the enquiry this follows is gone");
      json em = json::parse(**earlier);
      // Checked again here, where nothing can change under it.
      if (em.contains("purged_ms")) return make_error(ErrorCode::kFailedPrecondition, "the enquiry this follows was purged");
      if (em.contains("follow_ups") && em["follow_ups"].size() >= kMaxFollowUps) {
        return make_error(ErrorCode::kFailedPrecondition, "the enquiry this follows has too many follow-ups");
      }
      em["follow_ups"].push_back(id);
      if (auto st = txn.put(enquiries_, follows, em.dump()); !st.ok()) return st;
    }
    if (auto st = txn.put(due_, ms_key(deadline) + "/" + id, ""); !st.ok()) return st;
    if (auto st = txn.put(by_owner_, actor.user_id + "/" + ms_key(now) + "/" + id, ""); !st.ok()) return st;
    auto lookups = count_lookups(txn, actor.user_id, id, e.subjects, now);
    if (!lookups.ok()) return lookups.error();
    crossed = std::move(lookups).value();
    return {};
  });
  if (!stored.ok()) {
    log_.error("enquiry-not-stored", {{"enquiry", id}, {"reason", stored.error().message}});
    return EnquiryError{503, "unavailable", "the enquiry could not be stored: " + stored.error().message, {}};
  }
  for (const auto& a : c.agencies) {
    count_status("", "queued");
    notify(meta, a.id);
  }
  if (!crossed.empty()) raise_repeated_lookup_flag(actor, id, r["case_ref"], crossed);
  // 4. Sent to the agents that are connected, as their windows allow; the others get it when
  //    they connect.
  for (const auto& cp : copies) delivery_.queued(cp.agency);
  slot.keep = true;
  log_.info("enquiry-created", {{"enquiry", id}, {"agencies", agency_list}});
  return json{{"id", id}, {"deadline_ms", deadline}, {"agencies", meta["agencies"]}};
}

bool EnquiryDesk::take_rate_slot(const std::string& user_id, int64_t now_ms) {
  const auto& a = policy_.agreement();
  const int64_t hour_cap = a.enquiries_per_user_per_hour, day_cap = a.enquiries_per_user_per_day;
  if (hour_cap <= 0 && day_cap <= 0) return true;
  std::lock_guard lock(rate_mu_);
  auto [found, fresh] = rate_windows_.try_emplace(user_id);
  std::deque<int64_t>& times = found->second;  // the user's enquiries in the last day, oldest first
  // At most this many are kept: enough to decide both limits.
  const size_t keep = static_cast<size_t>(day_cap > 0 ? day_cap : hour_cap * 24) + 1;
  if (fresh) {
    // First enquiry since the hub started: the last day's, from the store (bounded by `keep`).
    auto txn = env_.begin_read();
    if (txn.ok()) {
      if (auto cur = txn->cursor(by_owner_); cur.ok()) {
        const std::string prefix = user_id + "/";
        if (cur->seek(prefix + ms_key(now_ms - 86'400'000)).ok()) {
          for (; cur->valid() && cur->key().starts_with(prefix); (void)cur->next()) {
            std::string_view k = cur->key().substr(prefix.size(), 16);
            times.push_back(static_cast<int64_t>(std::stoull(std::string(k), nullptr, 16)));
            if (times.size() > keep) times.pop_front();
          }
        }
      }
    }
  }
  while (!times.empty() && times.front() < now_ms - 86'400'000) times.pop_front();
  const int64_t day = static_cast<int64_t>(times.size());
  const int64_t hour = static_cast<int64_t>(times.end() - std::lower_bound(times.begin(), times.end(), now_ms - 3'600'000));
  if ((hour_cap > 0 && hour >= hour_cap) || (day_cap > 0 && day >= day_cap)) return false;
  times.insert(std::upper_bound(times.begin(), times.end(), now_ms), now_ms);
  if (times.size() > keep) times.pop_front();
  return true;
}

void EnquiryDesk::give_back_rate_slot(const std::string& user_id, int64_t at_ms) {
  std::lock_guard lock(rate_mu_);
  auto found = rate_windows_.find(user_id);
  if (found == rate_windows_.end()) return;
  auto& times = found->second;
  auto it = std::lower_bound(times.begin(), times.end(), at_ms);
  if (it != times.end() && *it == at_ms) times.erase(it);
}

void EnquiryDesk::attach(AgentListener* listener) {
  listener_ = listener;
  delivery_.set_sender([listener](const std::string& agency, std::vector<uint8_t> frame) {
    return listener && listener->send_to(agency, std::move(frame));
  });
}

void EnquiryDesk::on_connected(const std::string& agency) { delivery_.connected(agency); }

// An acknowledgement or an answer from the link, on its way through one batch.
struct EnquiryDesk::LinkItem {
  bool is_answer = false;
  std::string agency;
  std::vector<uint8_t> delivery;  // acknowledgement: the delivery id
  AgentAnswer answer;             // answer
  std::function<void(bool)> done;
  std::function<void()> task;  // other work for the worker (a refusal), not part of the batch
  // Worked out in the batch.
  std::string d, enquiry;  // delivery id (hex), the enquiry it belongs to
  bool usable = false;     // resolved to one of our deliveries to this agency
  std::string status, digest;
  AuditEvent event;        // the record to append (type empty: none)
  bool recorded = false;   // the answer was on the record already (or comes again in this batch)
  LinkItem* first = nullptr;  // a repeat within the batch: the item it repeats
  bool late = false;
  bool stored = false, changed = false;
  std::string before;
  json status_event;       // what watchers are told, as it was when this item changed it
};

void EnquiryDesk::on_acknowledged(const std::string& agency, const std::vector<uint8_t>& delivery_id) {
  std::vector<LinkItem> batch(1);
  batch[0].agency = agency;
  batch[0].delivery = delivery_id;
  process_link(batch);
}

bool EnquiryDesk::on_answer(const AgentAnswer& answer) {
  std::vector<LinkItem> batch(1);
  batch[0].is_answer = true;
  batch[0].agency = answer.agency;
  batch[0].answer = answer;
  process_link(batch);
  return batch[0].stored;
}

void EnquiryDesk::post_acknowledged(std::string agency, std::vector<uint8_t> delivery_id) {
  LinkItem item;
  item.agency = std::move(agency);
  item.delivery = std::move(delivery_id);
  post_link(std::move(item));
}

void EnquiryDesk::post_answer(AgentAnswer answer, std::function<void(bool)> done) {
  LinkItem item;
  item.is_answer = true;
  item.agency = answer.agency;
  item.answer = std::move(answer);
  item.done = std::move(done);
  post_link(std::move(item));
}

void EnquiryDesk::post_refused(std::string agency, std::vector<uint8_t> delivery_id, int code) {
  LinkItem item;
  item.agency = agency;
  item.task = [this, agency, d = std::move(delivery_id), code] { on_refused(agency, d, code); };
  post_link(std::move(item));
}

void EnquiryDesk::on_refused(const std::string& agency, const std::vector<uint8_t>& delivery_id, int code) {
  using C = wire::Error::Code;
  const auto c = static_cast<C>(code);
  const std::string d = to_hex(delivery_id);
  std::string enquiry;
  {
    auto txn = env_.begin_read();
    if (!txn.ok()) return;
    auto link = txn->get(deliveries_, d);
    if (!link.ok() || !*link) return;
    std::string target(**link);
    auto slash = target.find('/');
    if (slash == std::string::npos || target.substr(slash + 1) != agency) return;  // another agency's id
    enquiry = target.substr(0, slash);
  }
  if (c == C::OVERLOADED || c == C::AUDIT_UNAVAILABLE || c == C::UNSPECIFIED || c == C::SHUTTING_DOWN) {
    // For now: the copy stays in the outbox and goes again after its back-off (see Delivery).
    delivery_.refused_for_now(agency, d);
    log_.info("enquiry-retry", {{"enquiry", enquiry}, {"agency", agency}, {"code", code}});
    return;
  }
  // For good (a bad signature, a malformed enquiry, a refused policy): the agency's copy failed.
  const char* reason = c == C::BAD_SIGNATURE     ? "bad-signature"
                       : c == C::PROTOCOL        ? "protocol"
                       : c == C::POLICY_REJECTED ? "policy-rejected"
                       : c == C::WITNESS_ALARM   ? "witness-alarm"
                                                 : "refused";
  json meta = read_meta(enquiry);
  if (!meta.is_object()) return;
  const std::string status = meta["agencies"][agency].value("status", "");
  if (status == "answered" || status == "declined" || status == "failed") return;
  // On the record already (a store failure after the record, then the refusal again): once.
  const bool on_record = on_record_for(enquiry).failed.count(agency) > 0;
  AuditEvent e;
  e.type = "enquiry.failed";
  e.actor = "agent:" + agency;
  e.role = "agent";
  e.agency = agency;
  e.case_ref = meta.value("case_ref", "");
  e.enquiry = enquiry;
  e.outcome = reason;
  if (auto st = on_record ? Status() : record(e); !st.ok()) {
    log_.error("audit-unavailable", {{"event", "enquiry.failed"}, {"reason", st.error().message}});
    return;  // the copy stays in the outbox and goes again on reconnection
  }
  std::string before;
  Status st = writer_.run([&](Txn& txn) -> Status {
    before.clear();
    if (auto r = delivery_.drop(txn, enquiry, agency, d); !r.ok()) return r;
    auto m = txn.get(enquiries_, enquiry);
    if (!m.ok()) return m.error();
    if (!*m) return {};
    meta = json::parse(**m);
    auto& a = meta["agencies"][agency];
    const std::string now_status = a.value("status", "queued");
    if (now_status == "answered" || now_status == "declined" || now_status == "failed") return {};
    before = now_status;
    a["status"] = "failed";
    a["failure"] = reason;
    a["updated_ms"] = unix_millis_now();
    return txn.put(enquiries_, enquiry, meta.dump());
  });
  if (!st.ok()) {
    log_.error("failure-not-stored", {{"enquiry", enquiry}, {"reason", st.error().message}});
    return;
  }
  delivery_.settled(agency, {d});
  if (!before.empty()) {
    count_status(before, "failed");
    notify(meta, agency);
  }
  log_.warn("enquiry-failed", {{"enquiry", enquiry}, {"agency", agency}, {"reason", reason}});
}

std::optional<int64_t> EnquiryDesk::retry_due(const std::string& delivery_hex) const {
  return delivery_.retry_due(delivery_hex);
}

EnquiryDesk::OnRecord EnquiryDesk::on_record_for(const std::string& enquiry) const {
  OnRecord out;
  auto ids = audit_.find("enquiry", enquiry, 100000);
  if (!ids.ok()) return out;
  for (uint64_t idx : *ids) {
    auto rec = audit_.record(idx);
    if (!rec.ok()) continue;
    auto j = json::parse(*rec, nullptr, false);
    if (!j.is_object()) continue;
    const std::string type = j.value("type", ""), agency = j.value("agency", "");
    if (type == "answer.received") out.answers.insert(agency + "/" + j.value("digest", ""));
    if (type == "enquiry.delivered") out.delivered.insert(agency);
    if (type == "enquiry.failed") out.failed.insert(agency);
  }
  return out;
}

size_t EnquiryDesk::sweep_delivery(int64_t now_ms) { return delivery_.sweep(now_ms); }

void EnquiryDesk::post_link(LinkItem item) {
  const size_t bytes = item.answer.body.size() + item.answer.signature.size() + 256;
  {
    std::lock_guard lock(link_queue_mu_);
    if (link_queue_.size() < kMaxLinkQueue && link_queue_bytes_ + bytes <= kMaxLinkQueueBytes && !link_stopping_) {
      link_queue_bytes_ += bytes;
      link_queue_.push_back(std::move(item));
      link_wake_.notify_one();
      return;
    }
  }
  // Full (or stopping): not acknowledged, so the agent sends it again later.
  log_.warn("link-queue-full", {{"agency", item.agency}});
  if (item.done) item.done(false);
}

void EnquiryDesk::start_link_worker() {
  link_thread_ = std::thread([this] {
    for (;;) {
      std::vector<LinkItem> batch;
      {
        std::unique_lock lock(link_queue_mu_);
        link_wake_.wait(lock, [&] { return link_stopping_ || !link_queue_.empty(); });
        if (link_queue_.empty()) return;  // stopping, and nothing left in hand
        batch.swap(link_queue_);
        link_queue_bytes_ = 0;
      }
      std::vector<std::function<void()>> tasks;
      std::erase_if(batch, [&](LinkItem& it) {
        if (!it.task) return false;
        tasks.push_back(std::move(it.task));
        return true;
      });
      // Nothing may end this thread: what failed is not acknowledged, so agents send it again.
      try {
        if (!batch.empty()) process_link(batch);
      } catch (const std::exception& e) {
        log_.error("link-batch-failed", {{"items", batch.size()}, {"error", std::string(e.what()).substr(0, 200)}});
      }
      for (auto& t : tasks) {
        try {
          t();
        } catch (const std::exception& e) {
          log_.error("link-task-failed", {{"error", std::string(e.what()).substr(0, 200)}});
        }
      }
    }
  });
}

void EnquiryDesk::stop_link_worker() {
  {
    std::lock_guard lock(link_queue_mu_);
    link_stopping_ = true;
  }
  link_wake_.notify_all();
  if (link_thread_.joinable()) link_thread_.join();
}

EnquiryDesk::~EnquiryDesk() { stop_link_worker(); }

namespace {

// What watchers of the enquiry are told about one agency.
json status_event_of(const json& meta, const std::string& agency) {
  const auto& a = meta["agencies"][agency];
  return {{"enquiry", meta["id"]}, {"case_ref", meta["case_ref"]}, {"agency", agency},
          {"status", a.value("status", "queued")}, {"late", a.value("late", false)},
          {"updated_ms", a.value("updated_ms", int64_t{0})}, {"deadline_ms", meta["deadline_ms"]}};
}

}  // namespace

void EnquiryDesk::process_link(std::vector<LinkItem>& batch) {
  // One batch at a time: a repeated acknowledgement or answer is then seen as repeated, whether
  // it comes in this batch or a later one.
  std::lock_guard serial(link_mu_);
  const int64_t now = unix_millis_now();

  // 1. Which enquiry each item is about, and what is already held (one read transaction).
  std::map<std::string, json> metas;  // enquiry -> its index record as stored
  {
    auto rtxn = env_.begin_read();
    if (!rtxn.ok()) {
      for (auto& it : batch) {
        if (it.done) it.done(false);
      }
      return;
    }
    for (auto& it : batch) {
      try {
        if (it.is_answer) {
          it.d = to_hex(it.answer.enquiry_id);
          auto n = NestedMessage::decode(it.answer.body, FrameLimits{});
          if (!n.ok()) continue;
          // The typed getters throw on a body that is well framed but of the wrong shape.
          auto body = (*n)->root<wire::AnswerBody>();
          if (std::string(body.getAgency().cStr()) != it.agency) continue;
          it.status = answer_status(body.getStatus());
          it.digest = to_hex(sha256(it.answer.body));
          std::set<std::string> released;
          for (auto s : body.getSubjects()) {
            it.event.restricted = it.event.restricted || s.getRestricted();
            for (auto f : s.getReleased()) released.insert(f.getField().cStr());
            std::string ref = s.getRef().cStr();
            if (ref.size() <= 16 && is_code(ref, 16, false)) it.event.extra["subject." + ref] = outcome_code(s.getOutcome());
          }
          it.event.fields.assign(released.begin(), released.end());
        } else {
          it.d = to_hex(it.delivery);
        }
      } catch (const std::exception& e) {  // kj::Exception is one too
        log_.warn("answer-unreadable", {{"agency", it.agency}, {"error", std::string(e.what()).substr(0, 200)}});
        continue;
      }
      auto link = rtxn->get(deliveries_, it.d);
      if (!link.ok() || !*link) continue;
      std::string target(**link);
      auto slash = target.find('/');
      if (slash == std::string::npos || target.substr(slash + 1) != it.agency) continue;  // another agency's id
      it.enquiry = target.substr(0, slash);
      if (!metas.contains(it.enquiry)) {
        auto m = rtxn->get(enquiries_, it.enquiry);
        if (!m.ok() || !*m) continue;
        auto j = json::parse(**m, nullptr, false);
        if (!j.is_object()) continue;
        metas.emplace(it.enquiry, std::move(j));
      }
      it.usable = true;
    }
  }

  // 2. The audit records first, each once: an agent sends an answer again until it is
  //    acknowledged (after a restart on either side), and the same answer is recorded once; so
  //    is a delivery. What is already on the record is read from the audit log itself (the
  //    store may lag behind it after a failure), once per enquiry.
  std::map<std::string, OnRecord> on_record;
  auto recorded_for = [&](const std::string& enquiry) -> const OnRecord& {
    auto [found, fresh] = on_record.try_emplace(enquiry);
    if (fresh) found->second = on_record_for(enquiry);
    return found->second;
  };
  std::map<std::string, LinkItem*> first_in_batch;  // "a/<delivery>" or "d/<delivery>" (+ digest) -> first item
  std::vector<LinkItem*> to_record;
  for (auto& it : batch) {
    if (!it.usable) continue;
    const json& meta = metas.at(it.enquiry);
    if (!it.is_answer) {
      auto [first, fresh] = first_in_batch.try_emplace("d/" + it.d, &it);
      if (!fresh) {
        it.first = first->second;  // follows the first: stored only if that one is on the record
        continue;
      }
      const auto agencies = meta.find("agencies");
      const bool delivered = agencies != meta.end() && agencies->is_object() && agencies->contains(it.agency) &&
                             (*agencies)[it.agency].is_object() && (*agencies)[it.agency].contains("delivered_ms");
      if (delivered || recorded_for(it.enquiry).delivered.count(it.agency)) continue;
      it.event.type = "enquiry.delivered";
      it.event.actor = "agent:" + it.agency;
      it.event.role = "agent";
      it.event.agency = it.agency;
      it.event.enquiry = it.enquiry;
      it.event.outcome = "ok";
      to_record.push_back(&it);
      continue;
    }
    it.late = now > meta.value("deadline_ms", std::numeric_limits<int64_t>::max());
    auto [first, fresh] = first_in_batch.try_emplace("a/" + it.d + "/" + it.digest, &it);
    if (!fresh) {
      it.recorded = true;
      it.first = first->second;
      continue;
    }
    if (recorded_for(it.enquiry).answers.count(it.agency + "/" + it.digest)) {
      it.recorded = true;
      continue;
    }
    it.event.type = "answer.received";
    it.event.actor = "agent:" + it.agency;
    it.event.role = "agent";
    it.event.agency = it.agency;
    it.event.case_ref = meta.value("case_ref", "");
    it.event.enquiry = it.enquiry;
    it.event.outcome = it.status;
    it.event.digest = it.digest;
    if (it.late) it.event.extra["late"] = "true";
    to_record.push_back(&it);
  }
  if (!to_record.empty()) {
    std::mutex m;
    std::condition_variable cv;
    size_t pending = 0;
    std::vector<char> failed(to_record.size(), 0);
    for (size_t k = 0; k < to_record.size(); ++k) {
      AuditEvent& e = to_record[k]->event;
      e.time_ms = now;
      auto rec = event_to_record(e);
      if (!rec.ok()) {
        failed[k] = 1;
        continue;
      }
      {
        std::lock_guard lock(m);
        ++pending;
      }
      audit_.append_async(*rec, event_index_keys(e), [&, k](Result<uint64_t> r) {
        std::lock_guard lock(m);
        if (!r.ok()) failed[k] = 1;
        if (--pending == 0) cv.notify_one();
      });
    }
    {
      std::unique_lock lock(m);
      cv.wait(lock, [&] { return pending == 0; });
    }
    for (size_t k = 0; k < to_record.size(); ++k) {
      if (!failed[k]) continue;
      LinkItem& it = *to_record[k];
      log_.error("audit-unavailable", {{"event", it.event.type}});
      // Not on the record: the state is not changed, and the agent sends it again (an
      // acknowledgement's copy stays in the outbox; an answer is not acknowledged).
      it.usable = false;
    }
  }
  // A repeat within the batch goes with its first: not on the record, not stored.
  for (auto& it : batch) {
    if (it.first && !it.first->usable) it.usable = false;
  }

  // 3. The state: every item's change in one operation of the store's group commit. An item
  //    whose change fails is left out and the operation run again without it (rare; nested
  //    transactions per item would cost LMDB a 2 MiB allocation each), so it fails alone and
  //    its agent sends it again. A final answer already held is kept; an overdue agency that
  //    puts its answer up for review stays overdue until it answers.
  Status st;
  for (int attempt = 0; attempt < 8; ++attempt) {
    LinkItem* culprit = nullptr;
    Status culprit_error;
    st = writer_.run([&](Txn& txn) -> Status {
      std::map<std::string, json> current;  // enquiry -> index record, read in this transaction
      std::set<std::string> dirty;
      for (auto& it : batch) {
        it.changed = false;
        it.stored = false;
      }
      for (auto& it : batch) {
        if (!it.usable) continue;
        auto found = current.find(it.enquiry);
        if (found == current.end()) {
          auto m = txn.get(enquiries_, it.enquiry);
          if (!m.ok()) return m.error();
          if (!*m) continue;  // gone: an answer is not acknowledged
          auto j = json::parse(**m, nullptr, false);
          if (!j.is_object()) continue;
          found = current.emplace(it.enquiry, std::move(j)).first;
        }
        json& meta = found->second;
        if (Status applied = apply_link_item(txn, it, meta); !applied.ok()) {
          culprit = &it;
          culprit_error = applied;
          return applied;
        }
        if (it.stored) dirty.insert(it.enquiry);
        if (it.changed) it.status_event = status_event_of(meta, it.agency);
      }
      for (const auto& id : dirty) {
        if (auto r = txn.put(enquiries_, id, current.at(id).dump()); !r.ok()) return r;
      }
      return {};
    });
    if (st.ok() || culprit == nullptr) break;
    log_.warn("answer-not-stored", {{"enquiry", culprit->enquiry}, {"agency", culprit->agency},
                                    {"reason", culprit_error.error().message.substr(0, 200)}});
    culprit->usable = false;  // left out; the others are tried again
  }
  if (!st.ok()) {
    log_.error("answer-not-stored", {{"items", batch.size()}, {"reason", st.error().message}});
    for (auto& it : batch) it.stored = it.changed = false;  // acknowledgements and answers come again
  }

  // 4. The copies that left the outbox leave their agency's window; watchers, metrics, and the
  //    agents' acknowledgements.
  std::map<std::string, std::vector<std::string>> settled;
  for (const auto& it : batch) {
    if (it.stored) settled[it.agency].push_back(it.d);
  }
  for (const auto& [agency, deliveries] : settled) delivery_.settled(agency, deliveries);
  for (auto& it : batch) {
    if (it.changed) {
      const json& meta = metas.at(it.enquiry);
      if (!it.is_answer) {
        count_status("queued", "delivered");
      } else {
        count_status(it.before, it.status);
        if (it.status != "awaiting-review") observe_latency(unix_millis_now() - meta.value("created_ms", int64_t{0}));
      }
      hub_.publish(it.enquiry, meta.value("owner", ""), meta.value("team", ""), "status", it.status_event);
    }
    if (it.is_answer) {
      if (it.stored && it.recorded && !it.changed) {
        log_.info("answer-repeated", {{"enquiry", it.enquiry}, {"agency", it.agency}});
      } else if (it.stored) {
        log_.info("answer-received", {{"enquiry", it.enquiry}, {"agency", it.agency}, {"status", it.status}});
      }
      if (it.done) it.done(it.stored);
    }
  }
}

Status EnquiryDesk::apply_link_item(Txn& txn, LinkItem& it, json& meta) {
  auto& a = meta["agencies"][it.agency];
  const int64_t t = unix_millis_now();
  if (!it.is_answer) {
    if (auto r = delivery_.drop(txn, it.enquiry, it.agency, it.d); !r.ok()) return r;
    if (a["status"] == "queued") {
      a["status"] = "delivered";
      a["updated_ms"] = t;
      it.changed = true;
    } else if (a["status"] == "overdue" && a.value("was", "") == "queued") {
      a["was"] = "delivered";  // delivered late: still overdue
    }
    if (!a.contains("delivered_ms")) a["delivered_ms"] = t;
    it.stored = true;
    return {};
  }
  it.before = a.value("status", "queued");
  if (it.before == "answered" || it.before == "declined") {
    it.stored = true;  // a final answer already held is kept
    return delivery_.drop(txn, it.enquiry, it.agency, it.d);
  }
  auto discard = [&]() -> Status {
    // The case's content was destroyed: the answer is on the record (above), its content is
    // not kept, and it is acknowledged so that the agent stops sending it.
    a["status"] = it.status;
    a["updated_ms"] = t;
    a["content_discarded"] = true;
    if (auto r = delivery_.forget(txn, it.agency, it.d); !r.ok()) return r;  // the copy went with the case key
    it.stored = true;
    return {};
  };
  if (meta.contains("purged_ms")) return discard();
  if (it.before == "overdue" && it.status == "awaiting-review") {
    a["was"] = "awaiting-review";
    it.stored = true;
    return delivery_.drop(txn, it.enquiry, it.agency, it.d);  // the agent holds it
  }
  if (it.status != "awaiting-review") {
    auto s = vault_.put(txn, it.enquiry, "answer." + it.agency,
                        std::span<const uint8_t>(it.answer.body.data(), it.answer.body.size()));
    // Purged between the case's tombstone and its record being marked (purge_case): as above.
    if (!s.ok() && s.error().code == ErrorCode::kFailedPrecondition && vault_.purged(it.enquiry)) return discard();
    if (!s.ok()) return s;
  }
  a["status"] = it.status;
  a["updated_ms"] = t;
  if (it.late) a["late"] = true;
  if (auto r = delivery_.drop(txn, it.enquiry, it.agency, it.d); !r.ok()) return r;
  it.changed = it.before != it.status;
  it.stored = true;
  return {};
}


std::variant<json, EnquiryError> EnquiryDesk::list(const EnquiryActor& actor) {
  if (actor.role != "researcher" && actor.role != "manager") {
    return EnquiryError{403, "forbidden", "case content is for researchers and managers", {}};
  }
  auto txn = env_.begin_read();
  if (!txn.ok()) return EnquiryError{503, "unavailable", txn.error().message, {}};
  json out = json::array();
  (void)txn->for_each_prefix(enquiries_, "", [&](std::string_view, std::string_view v) {
    auto meta = json::parse(v);
    if (may_see(meta, actor)) {
      auto view = status_view(meta);
      json statuses = json::object();
      for (auto it = view["agencies"].begin(); it != view["agencies"].end(); ++it) statuses[it.key()] = it.value()["status"];
      out.push_back({{"id", meta["id"]}, {"case_ref", meta["case_ref"]}, {"brag", meta["brag"]},
                     {"created_ms", meta["created_ms"]}, {"deadline_ms", meta["deadline_ms"]}, {"agencies", statuses},
                     {"decision", meta.value("decision", "")}, {"purged", meta.contains("purged_ms")}});
    }
    return true;
  });
  return json{{"enquiries", out}};
}

std::variant<json, EnquiryError> EnquiryDesk::get(const std::string& id, const EnquiryActor& actor) {
  if (actor.role != "researcher" && actor.role != "manager") {
    return EnquiryError{403, "forbidden", "case content is for researchers and managers", {}};
  }
  if (!is_code(id, 32, false)) return EnquiryError{404, "not-found", "no such enquiry", {}};
  json meta;
  {
    auto txn = env_.begin_read();
    if (!txn.ok()) return EnquiryError{503, "unavailable", txn.error().message, {}};
    auto m = txn->get(enquiries_, id);
    if (!m.ok()) return EnquiryError{503, "unavailable", m.error().message, {}};
    if (!*m) return EnquiryError{404, "not-found", "no such enquiry", {}};
    meta = json::parse(**m);
  }
  // Someone else's enquiry looks the same as one that does not exist.
  if (!may_see(meta, actor)) return EnquiryError{404, "not-found", "no such enquiry", {}};
  if (meta.contains("purged_ms")) {
    return EnquiryError{410, "purged",
                        "this enquiry's content was destroyed on " + iso_time(meta["purged_ms"].get<int64_t>()) + " (" +
                            meta.value("purge_reason", "purged") + "); the audit trail keeps the record of it",
                        {}};
  }
  auto request = vault_.get(id, "request");
  if (!request.ok()) return EnquiryError{410, "purged", "this enquiry's content is no longer held", {}};
  json req = json::parse(std::string(request->begin(), request->end()));
  json view = status_view(meta);
  // The consolidated picture: per subject, per agency.
  json picture = json::object();
  for (const auto& s : req["subjects"]) {
    picture[s["ref"].get<std::string>()] = {{"role", s["role"]}, {"forenames", s["forenames"]}, {"surname", s["surname"]},
                                            {"date_of_birth", s["date_of_birth"]}, {"agencies", json::object()}};
  }
  for (auto it = meta["agencies"].begin(); it != meta["agencies"].end(); ++it) {
    const std::string agency = it.key();
    auto bytes = vault_.get(id, "answer." + agency);
    if (!bytes.ok()) continue;
    auto nested = NestedMessage::decode(*bytes, FrameLimits{});
    if (!nested.ok()) continue;
    auto body = (*nested)->root<wire::AnswerBody>();
    if (body.getStatus() == wire::AnswerBody::Status::DECLINED) {
      view["agencies"][agency]["decline_reason"] = body.getDeclineReason().cStr();
      continue;
    }
    for (auto s : body.getSubjects()) {
      std::string ref = s.getRef().cStr();
      if (!picture.contains(ref)) continue;
      json a = {{"outcome", outcome_code(s.getOutcome())}, {"match_basis", s.getMatchBasis().cStr()}};
      if (s.getOutcome() == wire::SubjectAnswer::Outcome::MATCHED) a["score"] = s.getScore();
      if (s.getOutcome() == wire::SubjectAnswer::Outcome::POSSIBLE) a["candidates"] = s.getCandidateCount();
      json rel = json::array();
      for (auto f : s.getReleased()) {
        rel.push_back({{"field", f.getField().cStr()}, {"value", f.getValue().cStr()}, {"date", f.getDate().cStr()},
                       {"source", f.getSource().cStr()}});
      }
      json wh = json::array();
      for (auto w : s.getWithheld()) {
        wh.push_back({{"field", w.getField().cStr()}, {"reason", w.getReason().cStr()}, {"clause", w.getClause().cStr()}});
      }
      a["released"] = rel;
      a["withheld"] = wh;
      a["restricted"] = s.getRestricted();
      if (s.getRestricted()) a["restricted_contact"] = s.getRestrictedContact().cStr();
      picture[ref]["agencies"][agency] = a;
    }
  }
  AuditEvent e;
  e.type = "results.viewed";
  e.actor = actor.user_id;
  e.role = actor.role;
  e.case_ref = meta["case_ref"];
  e.enquiry = id;
  e.outcome = "ok";
  if (auto st = record(e); !st.ok()) {
    return EnquiryError{503, "audit-unavailable", "the view cannot be recorded, so nothing is shown", {}};
  }
  view["request"] = req;
  view["subjects"] = picture;
  return view;
}

namespace {
const std::set<std::string> kDecisions = {"no-further-action", "signpost", "early-help", "s17-assessment",
                                          "s47-strategy-discussion"};
}  // namespace

std::variant<json, EnquiryError> EnquiryDesk::decide(const std::string& id, const json& request, const EnquiryActor& actor) {
  if (actor.role != "manager") return EnquiryError{403, "forbidden", "only a manager records the decision", {}};
  std::map<std::string, std::string> errors;
  std::string decision, rationale;
  if (!request.is_object()) return EnquiryError{400, "invalid", "the body must be a JSON object", {}};
  if (str(request, "", "decision", decision, errors, 64, true) && !kDecisions.count(decision)) {
    errors["decision"] = "must be one of no-further-action, signpost, early-help, s17-assessment, s47-strategy-discussion";
  }
  if (str(request, "", "rationale", rationale, errors, 4000, true) && rationale.size() < 10) {
    errors["rationale"] = "say why (at least 10 characters)";
  }
  if (!errors.empty()) return EnquiryError{400, "invalid", "the decision has errors; nothing was recorded", errors};
  json meta;
  {
    auto txn = env_.begin_read();
    if (!txn.ok()) return EnquiryError{503, "unavailable", txn.error().message, {}};
    auto m = txn->get(enquiries_, is_code(id, 32, false) ? id : std::string("-"));
    if (!m.ok() || !*m) return EnquiryError{404, "not-found", "no such enquiry", {}};
    meta = json::parse(**m);
  }
  if (!may_see(meta, actor)) return EnquiryError{404, "not-found", "no such enquiry", {}};
  if (meta.contains("purged_ms")) return EnquiryError{410, "purged", "this enquiry's content was destroyed", {}};
  AuditEvent e;
  e.type = "decision.recorded";
  e.actor = actor.user_id;
  e.role = actor.role;
  e.case_ref = meta["case_ref"];
  e.enquiry = id;
  e.outcome = decision;
  e.digest = hash_hex(rationale);
  if (auto st = record(e); !st.ok()) {
    return EnquiryError{503, "audit-unavailable", "the decision cannot be recorded, so it was not stored", {}};
  }
  json d = {{"decision", decision}, {"rationale", rationale}, {"by", actor.user_id}, {"at_ms", unix_millis_now()}};
  std::string bytes = d.dump();
  Status st = writer_.run([&](Txn& txn) -> Status {
    if (auto s = vault_.put(txn, id, "decision",
                            std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
        !s.ok()) {
      return s;
    }
    auto m = txn.get(enquiries_, id);
    if (!m.ok()) return m.error();
    if (!*m) return make_error(ErrorCode::kNotFound, "the enquiry is gone");
    json current = json::parse(**m);
    current["decision"] = decision;
    // The case is closed by its decision; its content is kept for the agreement's retention
    // period from the latest decision.
    if (current.contains("purge_at_ms")) {
      if (auto r = txn.del(retention_, ms_key(current["purge_at_ms"].get<int64_t>()) + "/" + id); !r.ok()) return r.error();
    }
    const int64_t purge_at = unix_millis_now() + int64_t{policy_.agreement().case_content_days} * 86'400'000;
    current["purge_at_ms"] = purge_at;
    if (auto st = txn.put(retention_, ms_key(purge_at) + "/" + id, ""); !st.ok()) return st;
    return txn.put(enquiries_, id, current.dump());
  });
  if (!st.ok()) return EnquiryError{503, "unavailable", st.error().message, {}};
  return json{{"id", id}, {"decision", decision}};
}

std::variant<json, EnquiryError> EnquiryDesk::export_for_front_door(const std::string& id, const EnquiryActor& actor) {
  if (actor.role != "manager") return EnquiryError{403, "forbidden", "only a manager exports to the front door", {}};
  auto view = get(id, actor);  // audited as a view
  if (auto* e = std::get_if<EnquiryError>(&view)) return *e;
  const json& v = std::get<json>(view);
  auto decision = vault_.get(id, "decision");
  if (!decision.ok()) return EnquiryError{409, "no-decision", "record the decision before exporting", {}};
  json out = {{"case_ref", v["case_ref"]}, {"local_authority", v["local_authority"]}, {"brag", v["brag"]},
              {"decision", json::parse(std::string(decision->begin(), decision->end()))}, {"subjects", json::object()}};
  out["decision"].erase("by");
  for (auto it = v["subjects"].begin(); it != v["subjects"].end(); ++it) {
    json s = {{"role", it.value()["role"]}, {"forenames", it.value()["forenames"]}, {"surname", it.value()["surname"]},
              {"date_of_birth", it.value()["date_of_birth"]}, {"agencies", json::object()}};
    for (auto a = it.value()["agencies"].begin(); a != it.value()["agencies"].end(); ++a) {
      // Released information only: no restricted flag, no contact route, no withheld list.
      s["agencies"][a.key()] = {{"outcome", a.value()["outcome"]}, {"released", a.value().value("released", json::array())}};
    }
    out["subjects"][it.key()] = s;
  }
  AuditEvent e;
  e.type = "results.exported";
  e.actor = actor.user_id;
  e.role = actor.role;
  e.case_ref = v["case_ref"];
  e.enquiry = id;
  e.outcome = "front-door";
  if (auto st = record(e); !st.ok()) {
    return EnquiryError{503, "audit-unavailable", "the export cannot be recorded, so nothing is exported", {}};
  }
  return out;
}

}  // namespace mash::broker

namespace mash::broker {

void EnquiryDesk::notify(const json& meta, const std::string& agency) {
  hub_.publish(meta["id"].get<std::string>(), meta.value("owner", ""), meta.value("team", ""), "status",
               status_event_of(meta, agency));
}

void EnquiryDesk::count_status(const std::string& from, const std::string& to) {
  std::lock_guard lock(metrics_mu_);
  if (!from.empty()) --status_counts_[from];
  ++status_counts_[to];
}

void EnquiryDesk::observe_latency(int64_t ms) {
  std::lock_guard lock(metrics_mu_);
  const double s = static_cast<double>(ms) / 1000.0;
  for (size_t i = 0; i < std::size(kLatencyBounds); ++i) {
    if (s <= kLatencyBounds[i]) ++latency_buckets_[i];
  }
  ++latency_count_;
  latency_sum_s_ += s;
}

std::string EnquiryDesk::metrics_text() const {
  std::ostringstream m;
  std::lock_guard lock(metrics_mu_);
  m << "# HELP mash_enquiry_agencies Agency copies of enquiries by status (overdue once the sweep marks them).\n"
       "# TYPE mash_enquiry_agencies gauge\n";
  for (const char* s : {"queued", "delivered", "awaiting-review", "answered", "declined", "overdue", "failed"}) {
    auto it = status_counts_.find(s);
    m << "mash_enquiry_agencies{status=\"" << s << "\"} " << (it == status_counts_.end() ? 0 : it->second) << "\n";
  }
  m << "# HELP mash_answer_latency_seconds From submission to an agency's final answer.\n"
       "# TYPE mash_answer_latency_seconds histogram\n";
  for (size_t i = 0; i < std::size(kLatencyBounds); ++i) {
    m << "mash_answer_latency_seconds_bucket{le=\"" << kLatencyBounds[i] << "\"} " << latency_buckets_[i] << "\n";
  }
  m << "mash_answer_latency_seconds_bucket{le=\"+Inf\"} " << latency_count_ << "\n"
    << "mash_answer_latency_seconds_sum " << latency_sum_s_ << "\n"
    << "mash_answer_latency_seconds_count " << latency_count_ << "\n"
    << "# HELP mash_flags_raised_total Flags raised for the DPO (repeated lookups of one person by one user).\n"
       "# TYPE mash_flags_raised_total counter\n"
    << "mash_flags_raised_total " << flags_raised_ << "\n"
    << "# HELP mash_status_watchers Open status event streams.\n# TYPE mash_status_watchers gauge\n"
    << "mash_status_watchers " << hub_.watchers() << "\n"
    << delivery_.metrics_text();
  return m.str();
}

std::variant<json, EnquiryError> EnquiryDesk::watch(std::shared_ptr<EventStream> stream, const EnquiryActor& actor,
                                                    const std::string& enquiry) {
  if (actor.role != "researcher" && actor.role != "manager") {
    return EnquiryError{403, "forbidden", "status of enquiries is for researchers and managers", {}};
  }
  auto read_meta = [&]() -> std::optional<json> {
    auto txn = env_.begin_read();
    if (!txn.ok()) return std::nullopt;
    auto m = txn->get(enquiries_, enquiry);
    if (!m.ok() || !*m) return std::nullopt;
    return json::parse(**m);
  };
  if (!enquiry.empty()) {
    auto meta = is_code(enquiry, 32, false) ? read_meta() : std::nullopt;
    if (!meta || !may_see(*meta, actor)) return EnquiryError{404, "not-found", "no such enquiry", {}};
  }
  if (!hub_.watch(stream, Watcher{actor.user_id, actor.role, actor.team, enquiry})) {
    return EnquiryError{429, "too-many-streams",
                        "too many status streams are open (8 per user); close one, or watch every enquiry with one stream",
                        {}};
  }
  stream->push("ready", json{{"enquiry", enquiry}}.dump());
  if (!enquiry.empty()) {
    // The current state after the watch is in place: a change may come twice, never not at all.
    if (auto meta = read_meta()) {
      json view = status_view(*meta);
      for (auto it = view["agencies"].begin(); it != view["agencies"].end(); ++it) {
        const auto& a = it.value();
        stream->push("status", json{{"enquiry", enquiry}, {"case_ref", view["case_ref"]}, {"agency", it.key()},
                                    {"status", a.value("status", "queued")}, {"late", a.value("late", false)},
                                    {"updated_ms", a.value("updated_ms", int64_t{0})}, {"deadline_ms", view["deadline_ms"]}}
                                   .dump());
      }
    }
  }
  return json::object();
}

std::vector<std::pair<std::string, std::string>> EnquiryDesk::due_entries(Dbi db, int64_t now_ms, size_t max) {
  std::vector<std::pair<std::string, std::string>> due;  // key ("<time>/<enquiry>"), enquiry
  auto txn = env_.begin_read();
  if (!txn.ok()) return due;
  auto cur = txn->cursor(db);
  if (!cur.ok() || !cur->first().ok()) return due;
  const std::string until = ms_key(now_ms);
  for (; cur->valid() && due.size() < max; (void)cur->next()) {
    std::string key(cur->key());
    if (key.size() < 18 || key.substr(0, 16) > until) break;
    due.emplace_back(key, key.substr(17));
  }
  return due;
}

json EnquiryDesk::read_meta(const std::string& id) {
  auto txn = env_.begin_read();
  if (!txn.ok()) return json();
  auto m = txn->get(enquiries_, id);
  if (!m.ok() || !*m) return json();
  auto j = json::parse(**m, nullptr, false);
  return j.is_discarded() ? json() : j;
}

size_t EnquiryDesk::sweep_overdue(int64_t now_ms) {
  auto due = due_entries(due_, now_ms, 256);
  size_t marked = 0;
  for (const auto& [key, id] : due) {
    json meta = read_meta(id);
    std::vector<std::string> late;
    if (meta.is_object()) {
      for (auto it = meta["agencies"].begin(); it != meta["agencies"].end(); ++it) {
        if (pending(it.value().value("status", ""))) late.push_back(it.key());
      }
    }
    if (!late.empty()) {
      AuditEvent e;
      e.type = "enquiry.overdue";
      e.actor = "hub";
      e.role = "system";
      e.case_ref = meta["case_ref"];
      e.enquiry = id;
      e.outcome = "overdue";
      std::string list;
      for (const auto& a : late) list += (list.empty() ? "" : "+") + a;
      e.extra["agencies"] = list;
      if (auto st = record(e); !st.ok()) {
        log_.error("audit-unavailable", {{"event", "enquiry.overdue"}, {"reason", st.error().message}});
        continue;  // tried again at the next sweep
      }
    }
    // The marks, on the record as it is now (an answer may have come in meanwhile).
    std::vector<std::pair<std::string, std::string>> changes;
    Status st = writer_.run([&](Txn& txn) -> Status {
      changes.clear();
      auto m = txn.get(enquiries_, id);
      if (!m.ok()) return m.error();
      if (*m) {
        meta = json::parse(**m);
        for (const auto& agency : late) {
          auto& a = meta["agencies"][agency];
          if (!pending(a.value("status", ""))) continue;
          changes.emplace_back(a.value("status", ""), agency);
          a["was"] = a["status"];
          a["status"] = "overdue";
          a["updated_ms"] = now_ms;
        }
        if (!changes.empty()) {
          if (auto s = txn.put(enquiries_, id, meta.dump()); !s.ok()) return s;
        }
      }
      if (auto r = txn.del(due_, key); !r.ok()) return r.error();
      return {};
    });
    if (!st.ok()) {
      log_.error("overdue-not-stored", {{"enquiry", id}, {"reason", st.error().message}});
      continue;
    }
    for (const auto& [before, agency] : changes) {
      count_status(before, "overdue");
      notify(meta, agency);
    }
    if (!late.empty()) {
      ++marked;
      log_.info("enquiry-overdue", {{"enquiry", id}, {"agencies", late.size()}});
    }
  }
  return marked;
}

Result<std::vector<std::string>> EnquiryDesk::count_lookups(Txn& txn, const std::string& user_id,
                                                            const std::string& enquiry,
                                                            const std::vector<std::string>& pseudonyms, int64_t now_ms) {
  std::vector<std::string> crossed;
  for (const auto& p : pseudonyms) {
    const std::string prefix = user_id + "/" + p + "/";
    std::vector<std::string> old;
    int in_window = 0;
    {
      // Entries older than the window are forgotten (a few at a time), and the count stops just
      // past the limit: the cost does not grow with how often the person was looked up.
      auto cur = txn.cursor(lookups_);
      if (!cur.ok()) return cur.error();
      if (auto st = cur->seek(prefix); !st.ok()) return st.error();
      const std::string from = prefix + ms_key(now_ms - kRepeatWindowMs);
      for (; cur->valid() && cur->key().starts_with(prefix) && cur->key() < from && old.size() < 256; (void)cur->next()) {
        old.emplace_back(cur->key());
      }
      if (auto st = cur->seek(from); !st.ok()) return st.error();
      for (; cur->valid() && cur->key().starts_with(prefix) && in_window <= kRepeatLookups; (void)cur->next()) ++in_window;
    }
    for (const auto& k : old) {
      if (auto st = txn.del(lookups_, k); !st.ok()) return st.error();  // outside the window: forgotten
    }
    if (auto st = txn.put(lookups_, prefix + ms_key(now_ms) + "/" + enquiry, ""); !st.ok()) return st.error();
    if (in_window == kRepeatLookups) crossed.push_back(p);  // this lookup takes it over the limit
  }
  return crossed;
}

void EnquiryDesk::raise_repeated_lookup_flag(const EnquiryActor& actor, const std::string& enquiry,
                                             const std::string& case_ref, const std::vector<std::string>& crossed) {
  AuditEvent e;
  e.type = "flag.raised";
  e.actor = "hub";
  e.role = "system";
  e.case_ref = case_ref;
  e.enquiry = enquiry;
  e.outcome = "repeated-lookup";
  e.subjects = crossed;
  e.extra["user"] = actor.user_id;
  e.extra["lookups"] = std::to_string(kRepeatLookups + 1);
  e.extra["window_days"] = std::to_string(kRepeatWindowMs / 86'400'000);
  if (auto st = record(e); !st.ok()) {
    log_.error("audit-unavailable", {{"event", "flag.raised"}, {"reason", st.error().message}});
    return;
  }
  {
    std::lock_guard lock(metrics_mu_);
    ++flags_raised_;
  }
  log_.warn("flag-raised", {{"flag", "repeated-lookup"}, {"enquiry", enquiry}});
}

namespace {
const std::set<std::string> kErasureReasons = {"entered-in-error", "data-subject-request", "court-order",
                                                "agreement-ended"};
}  // namespace

Status EnquiryDesk::purge_case(const std::string& id, AuditEvent e, const std::string& reason_text) {
  e.time_ms = 0;
  if (auto st = record(std::move(e)); !st.ok()) return st;  // the record of why comes first
  if (auto st = vault_.purge(id, reason_text); !st.ok()) return st;
  const int64_t now = unix_millis_now();
  return writer_.run([&](Txn& txn) -> Status {
    auto m = txn.get(enquiries_, id);
    if (!m.ok()) return m.error();
    if (!*m) return {};
    json meta = json::parse(**m);
    if (meta.contains("purge_at_ms")) {
      if (auto r = txn.del(retention_, ms_key(meta["purge_at_ms"].get<int64_t>()) + "/" + id); !r.ok()) return r.error();
    }
    // Copies not yet delivered hold the subjects' details: they go too.
    for (auto it = meta["agencies"].begin(); it != meta["agencies"].end(); ++it) {
      const std::string delivery = it.value().value("delivery", "");
      if (!delivery.empty()) {
        if (auto r = delivery_.forget(txn, it.key(), delivery); !r.ok()) return r;
      }
    }
    meta["purged_ms"] = now;
    meta["purge_reason"] = reason_text;
    return txn.put(enquiries_, id, meta.dump());
  });
}

size_t EnquiryDesk::sweep_retention(int64_t now_ms) {
  auto due = due_entries(retention_, now_ms, 64);
  size_t purged = 0;
  for (const auto& [key, id] : due) {
    json meta = read_meta(id);
    if (!meta.is_object() || meta.contains("purged_ms")) {
      (void)writer_.run([&](Txn& txn) -> Status {
        auto r = txn.del(retention_, key);
        if (!r.ok()) return r.error();
        return {};
      });
      continue;
    }
    AuditEvent e;
    e.type = "case.purged";
    e.actor = "hub";
    e.role = "system";
    e.case_ref = meta.value("case_ref", "");
    e.enquiry = id;
    e.outcome = "retention-period-ended";
    e.extra["retention_days"] = std::to_string(policy_.agreement().case_content_days);
    if (auto st = purge_case(id, e, "retention period ended"); !st.ok()) {
      log_.error("purge-failed", {{"enquiry", id}, {"reason", st.error().message}});
      continue;  // tried again at the next sweep
    }
    ++purged;
    log_.info("case-purged", {{"enquiry", id}, {"reason", "retention-period-ended"}});
  }
  return purged;
}

std::variant<json, EnquiryError> EnquiryDesk::erase(const json& request, const EnquiryActor& actor) {
  if (actor.role != "dpo") return EnquiryError{403, "forbidden", "only the data protection officer authorises an erasure", {}};
  std::map<std::string, std::string> errors;
  std::string id, reason, note;
  if (!request.is_object()) return EnquiryError{400, "invalid", "the body must be a JSON object", {}};
  for (auto it = request.begin(); it != request.end(); ++it) {
    if (it.key() != "enquiry" && it.key() != "reason" && it.key() != "note") {
      errors[it.key().substr(0, 64)] = "is not a field of an erasure";
    }
  }
  if (str(request, "", "enquiry", id, errors, 32, true) && !is_code(id, 32, false)) errors["enquiry"] = "is not an enquiry id";
  if (str(request, "", "reason", reason, errors, 64, true) && !kErasureReasons.count(reason)) {
    errors["reason"] = "must be one of entered-in-error, data-subject-request, court-order, agreement-ended";
  }
  if (str(request, "", "note", note, errors, 2000, true) && note.size() < 10) {
    errors["note"] = "say why the erasure is lawful (at least 10 characters)";
  }
  if (!errors.empty()) return EnquiryError{400, "invalid", "the erasure has errors; nothing was erased", errors};
  json meta;
  {
    auto txn = env_.begin_read();
    if (!txn.ok()) return EnquiryError{503, "unavailable", txn.error().message, {}};
    auto m = txn->get(enquiries_, id);
    if (!m.ok()) return EnquiryError{503, "unavailable", m.error().message, {}};
    if (!*m) return EnquiryError{404, "not-found", "no such enquiry", {}};
    meta = json::parse(**m);
  }
  if (meta.contains("purged_ms")) return EnquiryError{409, "already-purged", "this enquiry's content is already destroyed", {}};
  AuditEvent e;
  e.type = "case.erased";
  e.actor = actor.user_id;
  e.role = actor.role;
  e.case_ref = meta.value("case_ref", "");
  e.enquiry = id;
  e.outcome = reason;
  e.digest = hash_hex(note);  // the note is the DPO's free text: kept out of the log, its hash in it
  if (auto st = purge_case(id, e, "erased: " + reason); !st.ok()) {
    return EnquiryError{503, "unavailable", "the erasure could not be completed: " + st.error().message, {}};
  }
  log_.info("case-erased", {{"enquiry", id}, {"reason", reason}});
  return json{{"enquiry", id}, {"erased", true}, {"reason", reason}};
}

}  // namespace mash::broker

