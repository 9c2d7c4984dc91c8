#include "answerer.h"

#include <capnp/message.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <set>

#include "framing.h"

namespace mash::agent {

namespace {

AnswerDraft declined(AnswerDraft d, std::string reason) {
  d.status = "declined";
  d.decline_reason = std::move(reason);
  d.subjects.clear();
  d.review = false;
  return d;
}

std::string str_of(capnp::Text::Reader t) { return std::string(t.cStr(), t.size()); }

bool too_long(capnp::Text::Reader t) { return t.size() > kMaxSubjectText; }

const char* outcome_code(MatchOutcome o) { return outcome_name(o); }

Result<MatchOutcome> outcome_from(const std::string& s) {
  if (s == "matched") return MatchOutcome::kMatched;
  if (s == "possible") return MatchOutcome::kPossible;
  if (s == "no-record") return MatchOutcome::kNoRecord;
  return make_error(ErrorCode::kDataLoss, "review item: unknown outcome '" + s + "'");
}

}  // namespace

policy::Date today_utc() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return policy::Date{tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday};
}

std::vector<std::string> AnswerDraft::released_fields() const {
  std::set<std::string> out;
  for (const auto& s : subjects) {
    for (const auto& r : s.released) out.insert(r.field);
  }
  return {out.begin(), out.end()};
}

nlohmann::json AnswerDraft::to_json() const {
  nlohmann::json j;
  j["status"] = status;
  j["decline_reason"] = decline_reason;
  j["review"] = review;
  j["review_fields"] = review_fields;
  j["restricted_contact"] = restricted_contact;
  j["case_ref"] = case_ref;
  j["purpose"] = purpose;
  j["legal_basis"] = legal_basis;
  j["consent"] = consent;
  j["brag"] = brag;
  j["fields"] = fields;
  j["subjects"] = nlohmann::json::array();
  for (const auto& s : subjects) {
    nlohmann::json sj;
    sj["ref"] = s.ref;
    sj["outcome"] = outcome_code(s.outcome);
    sj["score"] = s.score;
    sj["candidate_count"] = s.candidate_count;
    sj["basis"] = s.basis;
    sj["records"] = s.records;
    if (!s.candidates.empty()) {
      sj["candidates"] = nlohmann::json::array();
      for (const auto& c : s.candidates) sj["candidates"].push_back({{"person_id", c.person_id}, {"score", c.score}});
    }
    sj["restricted"] = s.restricted;
    sj["released"] = nlohmann::json::array();
    for (const auto& r : s.released) {
      sj["released"].push_back({{"field", r.field}, {"value", r.value}, {"date", r.date}, {"source", r.source}});
    }
    sj["withheld"] = nlohmann::json::array();
    for (const auto& w : s.withheld) {
      sj["withheld"].push_back({{"field", w.field}, {"reason", w.reason}, {"clause", w.clause}});
    }
    j["subjects"].push_back(std::move(sj));
  }
  return j;
}

Result<AnswerDraft> AnswerDraft::from_json(const nlohmann::json& j) {
  try {
    AnswerDraft d;
    d.status = j.at("status").get<std::string>();
    d.decline_reason = j.at("decline_reason").get<std::string>();
    d.review = j.at("review").get<bool>();
    d.review_fields = j.at("review_fields").get<std::vector<std::string>>();
    d.restricted_contact = j.at("restricted_contact").get<std::string>();
    d.case_ref = j.at("case_ref").get<std::string>();
    d.purpose = j.at("purpose").get<std::string>();
    d.legal_basis = j.at("legal_basis").get<std::string>();
    d.consent = j.at("consent").get<std::string>();
    d.brag = j.at("brag").get<std::string>();
    d.fields = j.at("fields").get<std::vector<std::string>>();
    for (const auto& sj : j.at("subjects")) {
      SubjectDraft s;
      s.ref = sj.at("ref").get<std::string>();
      auto o = outcome_from(sj.at("outcome").get<std::string>());
      if (!o.ok()) return o.error();
      s.outcome = *o;
      s.score = sj.at("score").get<double>();
      s.candidate_count = sj.at("candidate_count").get<uint32_t>();
      s.basis = sj.at("basis").get<std::string>();
      s.records = sj.at("records").get<std::vector<std::string>>();
      if (sj.contains("candidates")) {
        for (const auto& c : sj.at("candidates")) {
          s.candidates.push_back({c.at("person_id").get<std::string>(), c.at("score").get<double>()});
        }
      }
      s.restricted = sj.at("restricted").get<bool>();
      for (const auto& r : sj.at("released")) {
        s.released.push_back({r.at("field").get<std::string>(), r.at("value").get<std::string>(),
                              r.at("date").get<std::string>(), r.at("source").get<std::string>()});
      }
      for (const auto& w : sj.at("withheld")) {
        s.withheld.push_back({w.at("field").get<std::string>(), w.at("reason").get<std::string>(),
                              w.at("clause").get<std::string>()});
      }
      d.subjects.push_back(std::move(s));
    }
    return d;
  } catch (const nlohmann::json::exception& e) {
    return make_error(ErrorCode::kDataLoss, std::string("review item: damaged: ") + e.what());
  }
}

Result<AnswerDraft> draft_answer(const AnswerContext& ctx, wire::EnquiryBody::Reader body) {
  const policy::Policy& policy = *ctx.policy;
  AnswerDraft d;
  d.case_ref = str_of(body.getCaseRef()).substr(0, 128);
  d.purpose = str_of(body.getPurpose()).substr(0, 128);
  d.legal_basis = str_of(body.getLegalBasis()).substr(0, 128);
  d.consent = str_of(body.getConsent()).substr(0, 128);
  d.brag = str_of(body.getBrag()).substr(0, 128);

  // The request itself, checked afresh.
  if (str_of(body.getAgency()) != ctx.agency) return declined(std::move(d), "wrong-agency");
  const auto& agreement = policy.agreement();
  if (str_of(body.getAgreementId()) != agreement.id) return declined(std::move(d), "agreement-not-held");
  if (body.getPolicyVersion() < static_cast<uint64_t>(agreement.version)) {
    return declined(std::move(d), "agreement-superseded");
  }
  if (body.getPolicyVersion() > static_cast<uint64_t>(agreement.version)) {
    return declined(std::move(d), "agreement-not-held");
  }
  auto fields = body.getFields();
  auto subjects = body.getSubjects();
  if (subjects.size() == 0 || subjects.size() > kMaxSubjects || fields.size() == 0 ||
      fields.size() > kMaxFieldsRequested) {
    return declined(std::move(d), "malformed-enquiry");
  }
  for (auto f : fields) d.fields.push_back(str_of(f).substr(0, 128));
  auto q = policy.query(ctx.agency, d.purpose, d.legal_basis, d.consent, d.brag);
  if (!q.ok()) return declined(std::move(d), "outside-agreement");
  std::vector<policy::Decision> decisions;
  std::set<std::string> unique_fields;
  for (const auto& f : d.fields) {
    if (!unique_fields.insert(f).second) return declined(std::move(d), "malformed-enquiry");
    auto dec = policy.decide_field(*q, f);
    // A field outside this agency's catalogue: the hub should never have asked, so the agent
    // refuses the whole request rather than guess what was meant.
    if (!dec.ok()) return declined(std::move(d), "field-outside-agreement");
    decisions.push_back(*dec);
  }
  for (auto s : subjects) {
    if (too_long(s.getRef()) || too_long(s.getForenames()) || too_long(s.getSurname()) ||
        too_long(s.getPostcode()) || too_long(s.getDateOfBirth()) || too_long(s.getGender()) ||
        too_long(s.getAddress()) || too_long(s.getUprn()) || s.getOtherNames().size() > 10 ||
        s.getIdentifiers().size() > kMaxSubjectIdentifiers || s.getRef().size() == 0) {
      return declined(std::move(d), "malformed-enquiry");
    }
    for (auto n : s.getOtherNames()) {
      if (too_long(n)) return declined(std::move(d), "malformed-enquiry");
    }
  }

  std::vector<std::string> restricted_types = policy.restricted_record_types(ctx.agency);
  if (const auto* a = agreement.agency(ctx.agency)) d.restricted_contact = a->restricted_contact;
  auto txn = ctx.store->begin_read();
  if (!txn.ok()) return txn.error();

  std::set<std::string> refs;
  for (auto s : subjects) {
    SubjectDraft sd;
    sd.ref = str_of(s.getRef());
    if (!refs.insert(sd.ref).second) return declined(std::move(d), "malformed-enquiry");
    std::vector<std::string> other;
    for (auto n : s.getOtherNames()) other.push_back(str_of(n));
    std::vector<std::pair<std::string, std::string>> ids;
    for (auto i : s.getIdentifiers()) {
      if (i.getScheme().size() > 32 || i.getValue().size() > 64) return declined(std::move(d), "malformed-enquiry");
      std::string scheme = str_of(i.getScheme());
      const bool declared = ctx.identifier_schemes &&
                            std::find(ctx.identifier_schemes->begin(), ctx.identifier_schemes->end(), scheme) !=
                                ctx.identifier_schemes->end();
      if (!is_national_scheme(scheme) && !declared) continue;
      ids.emplace_back(std::move(scheme), str_of(i.getValue()));
    }
    // An address the agent cannot read is left out, not guessed at; the rest still counts.
    PersonDetails details;
    details.forenames = str_of(s.getForenames());
    details.surname = str_of(s.getSurname());
    details.other_names = std::move(other);
    details.date_of_birth = str_of(s.getDateOfBirth());
    details.gender = str_of(s.getGender());
    details.address = str_of(s.getAddress());
    details.postcode = str_of(s.getPostcode());
    details.uprn = str_of(s.getUprn());
    details.identifiers = std::move(ids);
    auto features = make_features(sd.ref, details);
    auto m = ctx.matcher->match(*txn, features);
    if (!m.ok()) return m.error();
    sd.outcome = m->outcome;
    sd.score = m->score;
    sd.basis = m->basis;
    std::vector<std::string> matched_ids = m->person_ids;
    if (m->outcome == MatchOutcome::kPossible) {
      sd.candidate_count = m->candidate_count;
      for (const auto& c : m->top) {
        if (c.score >= ctx.matcher->thresholds().review) sd.candidates.push_back({c.person_id, c.score});
      }
    }
    if (ctx.settled) {
      if (auto it = ctx.settled->find(sd.ref); it != ctx.settled->end()) {
        if (m->outcome != MatchOutcome::kPossible) {
          return make_error(ErrorCode::kInvalidArgument,
                            "subject " + sd.ref + " is " + outcome_name(m->outcome) + ", not possible: nothing to settle");
        }
        if (it->second == "none") {
          sd.outcome = MatchOutcome::kNoRecord;
          sd.candidate_count = 0;
        } else {
          auto c = std::find_if(sd.candidates.begin(), sd.candidates.end(),
                                [&](const CandidateNote& n) { return n.person_id == it->second; });
          if (c == sd.candidates.end()) {
            return make_error(ErrorCode::kInvalidArgument, "person " + it->second + " is not one of subject " + sd.ref +
                                                               "'s candidates (see review show)");
          }
          sd.outcome = MatchOutcome::kMatched;
          sd.score = c->score;
          sd.candidate_count = 0;
          matched_ids = {c->person_id};
        }
        sd.basis = "settled-on-review";
        sd.candidates.clear();
      }
    }
    if (sd.outcome == MatchOutcome::kPossible && std::any_of(decisions.begin(), decisions.end(),
                                                             [](const policy::Decision& x) { return x.review; })) {
      d.review = true;  // the agency reviews its answers: its reviewer may settle this subject
    }

    // What the policy withholds whatever the records hold.
    for (size_t i = 0; i < d.fields.size(); ++i) {
      if (!decisions[i].released()) {
        sd.withheld.push_back({d.fields[i], policy::reason_code(decisions[i].reason),
                               policy.clause(decisions[i].clause)});
      }
    }
    if (sd.outcome == MatchOutcome::kMatched) {
      sd.records = matched_ids;
      std::set<std::string> outside;  // fields with a fact outside the look-back window
      for (const auto& pid : matched_ids) {
        auto facts = ctx.store->facts(*txn, pid);
        if (!facts.ok()) return facts.error();
        for (const auto& f : *facts) {
          bool restricted = f.restricted || std::binary_search(restricted_types.begin(),
                                                               restricted_types.end(), f.record_type);
          if (restricted) {
            sd.restricted = true;  // the flag only: nothing of the fact leaves
            continue;
          }
          auto it = std::find(d.fields.begin(), d.fields.end(), f.field);
          if (it == d.fields.end()) continue;
          const auto& dec = decisions[static_cast<size_t>(it - d.fields.begin())];
          if (!dec.released()) continue;
          auto date = policy::Date::parse(f.date);
          // An undated fact cannot be shown to be inside the window, so it stays.
          if (!date || policy::Policy::decide_fact(dec, *date, ctx.today) != policy::Reason::kReleased) {
            outside.insert(f.field);
            continue;
          }
          sd.released.push_back({f.field, f.value, f.date, f.source});
          if (dec.review) {
            d.review = true;
            d.review_fields.push_back(f.field);
          }
        }
      }
      for (const auto& f : outside) {
        bool any_released = std::any_of(sd.released.begin(), sd.released.end(),
                                         [&](const ReleasedValue& r) { return r.field == f; });
        if (!any_released) sd.withheld.push_back({f, "outside-lookback", ""});
      }
      std::stable_sort(sd.released.begin(), sd.released.end(),
                       [](const ReleasedValue& a, const ReleasedValue& b) {
                         return a.field != b.field ? a.field < b.field : a.date > b.date;
                       });
    }
    d.subjects.push_back(std::move(sd));
  }
  std::sort(d.review_fields.begin(), d.review_fields.end());
  d.review_fields.erase(std::unique(d.review_fields.begin(), d.review_fields.end()), d.review_fields.end());
  return d;
}

void withhold_on_review(AnswerDraft& draft, const std::vector<std::string>& fields) {
  for (auto& s : draft.subjects) {
    std::set<std::string> removed;
    std::erase_if(s.released, [&](const ReleasedValue& r) {
      bool drop = std::find(fields.begin(), fields.end(), r.field) != fields.end();
      if (drop) removed.insert(r.field);
      return drop;
    });
    for (const auto& f : removed) s.withheld.push_back({f, "withheld-on-review", ""});
  }
}

std::vector<uint8_t> encode_answer_body(const AnswerDraft& draft, std::span<const uint8_t> enquiry_id,
                                        const std::string& agency, uint64_t policy_version,
                                        int64_t answered_at_ms, bool awaiting_review) {
  capnp::MallocMessageBuilder builder;
  auto b = builder.initRoot<wire::AnswerBody>();
  b.setEnquiryId(capnp::Data::Reader(enquiry_id.data(), enquiry_id.size()));
  b.setAgency(agency);
  b.setPolicyVersion(policy_version);
  b.setAnsweredAtMs(answered_at_ms);
  if (awaiting_review) {
    b.setStatus(wire::AnswerBody::Status::AWAITING_REVIEW);
    return serialize_message(builder);
  }
  if (draft.status == "declined") {
    b.setStatus(wire::AnswerBody::Status::DECLINED);
    b.setDeclineReason(draft.decline_reason);
    return serialize_message(builder);
  }
  b.setStatus(wire::AnswerBody::Status::ANSWERED);
  auto subjects = b.initSubjects(static_cast<unsigned>(draft.subjects.size()));
  for (unsigned i = 0; i < draft.subjects.size(); ++i) {
    const auto& s = draft.subjects[i];
    auto o = subjects[i];
    o.setRef(s.ref);
    o.setOutcome(s.outcome == MatchOutcome::kMatched    ? wire::SubjectAnswer::Outcome::MATCHED
                 : s.outcome == MatchOutcome::kPossible ? wire::SubjectAnswer::Outcome::POSSIBLE
                                                        : wire::SubjectAnswer::Outcome::NO_RECORD);
    o.setMatchBasis(s.basis);
    if (s.outcome == MatchOutcome::kMatched) o.setScore(s.score);
    if (s.outcome == MatchOutcome::kPossible) o.setCandidateCount(s.candidate_count);
    auto released = o.initReleased(static_cast<unsigned>(s.released.size()));
    for (unsigned k = 0; k < s.released.size(); ++k) {
      released[k].setField(s.released[k].field);
      released[k].setValue(s.released[k].value);
      released[k].setDate(s.released[k].date);
      released[k].setSource(s.released[k].source);
    }
    auto withheld = o.initWithheld(static_cast<unsigned>(s.withheld.size()));
    for (unsigned k = 0; k < s.withheld.size(); ++k) {
      withheld[k].setField(s.withheld[k].field);
      withheld[k].setReason(s.withheld[k].reason);
      withheld[k].setClause(s.withheld[k].clause);
    }
    o.setRestricted(s.restricted);
    if (s.restricted) o.setRestrictedContact(draft.restricted_contact);
  }
  return serialize_message(builder);
}

}  // namespace mash::agent
