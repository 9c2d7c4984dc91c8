// What researchers and managers see: the list, the consolidated picture, the front-door export
// and the status stream. Every read that shows case content is audited first.
#include "clock.h"
#include "enquiries.h"
#include "framing.h"
#include "link.capnp.h"

namespace mash::broker {

using nlohmann::json;

namespace {

const char* outcome_code(wire::SubjectAnswer::Outcome o) {
  switch (o) {
    case wire::SubjectAnswer::Outcome::MATCHED: return "matched";
    case wire::SubjectAnswer::Outcome::POSSIBLE: return "possible";
    case wire::SubjectAnswer::Outcome::NO_RECORD: return "no-record";
  }
  return "no-record";
}

EnquiryError damaged_error() {
  return EnquiryError{500, "damaged",
                      "this enquiry's record in the case store is damaged and cannot be shown; the hub's administrator "
                      "has been told (see the hub's log and metrics)",
                      {}};
}

}  // namespace

std::variant<json, EnquiryError> EnquiryDesk::list(const EnquiryActor& actor, const ListQuery& query) {
  if (actor.role != "researcher" && actor.role != "manager") {
    return EnquiryError{403, "forbidden", "case content is for researchers and managers", {}};
  }
  auto page = store_.list(actor, query, unix_millis_now());
  if (!page.ok() && page.error().code == ErrorCode::kInvalidArgument) {
    return EnquiryError{400, "invalid", page.error().message, {{"cursor", page.error().message}}};
  }
  if (!page.ok()) return EnquiryError{503, "unavailable", page.error().message, {}};
  json rows = json::array();
  for (auto& row : page->rows) rows.push_back(std::move(row));
  json out = {{"enquiries", rows}};
  out["next_cursor"] = page->next_cursor.empty() ? json() : json(page->next_cursor);
  return out;
}

std::variant<json, EnquiryError> EnquiryDesk::get(const std::string& id, const EnquiryActor& actor) {
  if (actor.role != "researcher" && actor.role != "manager") {
    return EnquiryError{403, "forbidden", "case content is for researchers and managers", {}};
  }
  if (!is_code(id, 32, false)) return EnquiryError{404, "not-found", "no such enquiry", {}};
  auto found = store_.read(id);
  if (!found.ok() && found.error().code == ErrorCode::kDataLoss) {
    {
      std::lock_guard lock(metrics_mu_);
      ++damaged_records_;
    }
    log_.error("enquiry-record-damaged", {{"enquiry", id}, {"reason", found.error().message.substr(0, 200)}});
    return damaged_error();
  }
  if (!found.ok()) return EnquiryError{503, "unavailable", found.error().message, {}};
  if (!*found) return EnquiryError{404, "not-found", "no such enquiry", {}};
  const EnquiryRecord& r = **found;
  // Someone else's enquiry looks the same as one that does not exist.
  if (!may_see(r.owner, r.team, actor)) return EnquiryError{404, "not-found", "no such enquiry", {}};
  if (r.purged()) {
    return EnquiryError{410, "purged",
                        "this enquiry's content was destroyed on " + iso_time(*r.purged_ms) + " (" +
                            (r.purge_reason.empty() ? std::string("purged") : r.purge_reason) +
                            "); the audit trail keeps the record of it",
                        {}};
  }
  auto request = vault_.get(id, "request");
  if (!request.ok()) return EnquiryError{410, "purged", "this enquiry's content is no longer held", {}};
  json req = json::parse(std::string(request->begin(), request->end()), nullptr, false);
  if (!req.is_object()) return damaged_error();
  json view = r.view(unix_millis_now());
  // The consolidated picture: per subject, per agency.
  json picture = json::object();
  for (const auto& s : req["subjects"]) {
    picture[s["ref"].get<std::string>()] = {{"role", s["role"]}, {"forenames", s["forenames"]}, {"surname", s["surname"]},
                                            {"date_of_birth", s["date_of_birth"]}, {"agencies", json::object()}};
  }
  for (const auto& [agency, copy] : r.agencies) {
    auto bytes = vault_.get(id, "answer." + agency);
    if (!bytes.ok()) {
      if (bytes.error().code == ErrorCode::kNotFound || copy.content_discarded) continue;  // none held yet
      // Held, but it does not authenticate or decode: said so, never silently left out.
      {
        std::lock_guard lock(metrics_mu_);
        ++unreadable_answers_;
      }
      log_.error("answer-unreadable", {{"enquiry", id}, {"agency", agency}, {"reason", bytes.error().message.substr(0, 200)}});
      view["agencies"][agency]["unreadable"] = true;
      view["agencies"][agency]["problem"] =
          "the answer from " + agency + " could not be read: ask the agency again (a follow-up asks the same agencies)";
      continue;
    }
    auto nested = NestedMessage::decode(*bytes, FrameLimits{});
    if (!nested.ok()) {
      view["agencies"][agency]["unreadable"] = true;
      view["agencies"][agency]["problem"] = "the answer from " + agency + " could not be read: ask the agency again";
      continue;
    }
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
  e.case_ref = r.case_ref;
  e.enquiry = id;
  e.outcome = "ok";
  if (auto st = record(e); !st.ok()) {
    return EnquiryError{503, "audit-unavailable", "the view cannot be recorded, so nothing is shown", {}};
  }
  view["request"] = req;
  view["subjects"] = picture;
  return view;
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

std::variant<json, EnquiryError> EnquiryDesk::watch(std::shared_ptr<EventStream> stream, const EnquiryActor& actor,
                                                    const std::string& enquiry) {
  if (actor.role != "researcher" && actor.role != "manager") {
    return EnquiryError{403, "forbidden", "status of enquiries is for researchers and managers", {}};
  }
  auto read = [&]() -> std::optional<EnquiryRecord> {
    auto r = store_.read(enquiry);
    if (!r.ok() || !*r) return std::nullopt;
    return std::move(**r);
  };
  if (!enquiry.empty()) {
    auto r = is_code(enquiry, 32, false) ? read() : std::nullopt;
    if (!r || !may_see(r->owner, r->team, actor)) return EnquiryError{404, "not-found", "no such enquiry", {}};
  }
  if (!hub_.watch(stream, Watcher{actor, enquiry})) {
    return EnquiryError{429, "too-many-streams",
                        "too many status streams are open (8 per user); close one, or watch every enquiry with one stream",
                        {}};
  }
  stream->push("ready", json{{"enquiry", enquiry}}.dump());
  if (!enquiry.empty()) {
    // The current state after the watch is in place: a change may come twice, never not at all.
    if (auto r = read()) {
      for (const auto& [agency, copy] : r->agencies) stream->push("status", r->status_event(agency).dump());
    }
  }
  return json::object();
}

}  // namespace mash::broker
