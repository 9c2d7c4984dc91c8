#include "agent_state.h"

#include "clock.h"
#include "crypto.h"

namespace mash::agent {

nlohmann::json ReviewItem::to_json() const {
  return {{"enquiry_id", enquiry_id}, {"received_ms", received_ms}, {"policy_version", policy_version},
          {"state", state},           {"reviewer", reviewer},       {"note", note},
          {"withhold", withhold},     {"decided_ms", decided_ms},   {"draft", draft.to_json()},
          {"settled", settled},       {"settlements", [&] {
             nlohmann::json a = nlohmann::json::array();
             for (const auto& s : settlements) {
               a.push_back({{"ref", s.ref}, {"candidate", s.candidate}, {"reviewer", s.reviewer}, {"at_ms", s.at_ms}});
             }
             return a;
           }()}};
}

Result<ReviewItem> ReviewItem::from_json(std::string_view text) {
  try {
    auto j = nlohmann::json::parse(text);
    ReviewItem r;
    r.enquiry_id = j.at("enquiry_id").get<std::string>();
    r.received_ms = j.at("received_ms").get<int64_t>();
    r.policy_version = j.at("policy_version").get<uint64_t>();
    r.state = j.at("state").get<std::string>();
    r.reviewer = j.at("reviewer").get<std::string>();
    r.note = j.at("note").get<std::string>();
    r.withhold = j.at("withhold").get<std::vector<std::string>>();
    r.decided_ms = j.at("decided_ms").get<int64_t>();
    if (j.contains("settled")) r.settled = j.at("settled").get<std::map<std::string, std::string>>();
    if (j.contains("settlements")) {
      for (const auto& s : j.at("settlements")) {
        r.settlements.push_back({s.at("ref").get<std::string>(), s.at("candidate").get<std::string>(),
                                 s.at("reviewer").get<std::string>(), s.at("at_ms").get<int64_t>()});
      }
    }
    auto d = AnswerDraft::from_json(j.at("draft"));
    if (!d.ok()) return d.error();
    r.draft = std::move(d).value();
    return r;
  } catch (const nlohmann::json::exception& e) {
    return make_error(ErrorCode::kDataLoss, std::string("review item damaged: ") + e.what());
  }
}

Result<std::unique_ptr<AgentState>> AgentState::open(const std::filesystem::path& dir) {
  EnvOptions opts;
  opts.map_size = size_t{4} << 30;
  opts.max_dbs = 8;
  auto env = Env::open(dir, opts);
  if (!env.ok()) return env.error();
  std::unique_ptr<AgentState> s(new AgentState(std::move(env).value()));
  auto txn = s->env_.begin_write();
  if (!txn.ok()) return txn.error();
  const std::pair<const char*, Dbi*> dbs[] = {
      {"enquiries", &s->enquiries_}, {"answers", &s->answers_}, {"outbox", &s->outbox_}, {"review", &s->review_},
      {"journal", &s->journal_}};
  for (auto [name, dbi] : dbs) {
    auto d = txn->open_db(name, true);
    if (!d.ok()) return d.error();
    *dbi = *d;
  }
  if (auto st = txn->commit(); !st.ok()) return st.error();
  return s;
}

std::string AgentState::encode(const StoredAnswer& a) {
  nlohmann::json j = {{"body", to_base64(a.body)}, {"signature", to_base64(a.signature)}, {"final", a.final}};
  return j.dump();
}

Result<StoredAnswer> AgentState::decode(std::string_view bytes) {
  try {
    auto j = nlohmann::json::parse(bytes);
    StoredAnswer a;
    auto body = from_base64(j.at("body").get<std::string>());
    auto sig = from_base64(j.at("signature").get<std::string>());
    if (!body.ok() || !sig.ok()) return make_error(ErrorCode::kDataLoss, "stored answer damaged");
    a.body = std::move(body).value();
    a.signature = std::move(sig).value();
    a.final = j.at("final").get<bool>();
    return a;
  } catch (const nlohmann::json::exception& e) {
    return make_error(ErrorCode::kDataLoss, std::string("stored answer damaged: ") + e.what());
  }
}

Result<std::optional<StoredAnswer>> AgentState::answer(const Txn& txn, std::string_view id_hex) const {
  auto v = txn.get(answers_, id_hex);
  if (!v.ok()) return v.error();
  if (!*v) return std::optional<StoredAnswer>();
  auto a = decode(**v);
  if (!a.ok()) return a.error();
  return std::optional<StoredAnswer>(std::move(a).value());
}

Result<std::vector<ReviewItem>> AgentState::review_items() const {
  auto txn = env_.begin_read();
  if (!txn.ok()) return txn.error();
  std::vector<ReviewItem> out;
  Status inner;
  auto st = txn->for_each_prefix(review_, "", [&](std::string_view, std::string_view v) {
    auto item = ReviewItem::from_json(v);
    if (!item.ok()) {
      inner = item.error();
      return false;
    }
    out.push_back(std::move(item).value());
    return true;
  });
  if (!st.ok()) return st.error();
  if (!inner.ok()) return inner.error();
  return out;
}

Result<std::optional<ReviewItem>> AgentState::review_item(std::string_view id_hex) const {
  auto txn = env_.begin_read();
  if (!txn.ok()) return txn.error();
  auto v = txn->get(review_, id_hex);
  if (!v.ok()) return v.error();
  if (!*v) return std::optional<ReviewItem>();
  auto item = ReviewItem::from_json(**v);
  if (!item.ok()) return item.error();
  return std::optional<ReviewItem>(std::move(item).value());
}

Result<ReviewItem> AgentState::pending_item(Txn& txn, std::string_view id_hex) const {
  auto v = txn.get(review_, id_hex);
  if (!v.ok()) return v.error();
  if (!*v) {
    return make_error(ErrorCode::kNotFound,
                      "no enquiry " + std::string(id_hex) + " in the review queue (see `review list`)");
  }
  auto item = ReviewItem::from_json(**v);
  if (!item.ok()) return item.error();
  if (item->state != "pending") {
    return make_error(ErrorCode::kFailedPrecondition,
                      "enquiry " + std::string(id_hex) + " was already " + item->state + " by " + item->reviewer);
  }
  return item;
}

Status AgentState::decide(std::string_view id_hex, bool approve, const std::string& reviewer,
                          const std::string& note, const std::vector<std::string>& withhold) {
  auto txn = env_.begin_write();
  if (!txn.ok()) return txn.error();
  auto item = pending_item(*txn, id_hex);
  if (!item.ok()) return item.error();
  if (approve) {
    for (const auto& f : withhold) {
      if (std::find(item->draft.fields.begin(), item->draft.fields.end(), f) == item->draft.fields.end()) {
        return make_error(ErrorCode::kInvalidArgument,
                          "--withhold " + f + ": that field was not asked for in this enquiry");
      }
    }
  }
  item->state = approve ? "approved" : "declined";
  item->reviewer = reviewer;
  item->note = note;
  item->withhold = withhold;
  item->decided_ms = unix_millis_now();
  if (auto st = txn->put(review_, id_hex, item->to_json().dump()); !st.ok()) return st;
  return txn->commit();
}

Status AgentState::settle(std::string_view id_hex, const std::string& ref, const std::string& candidate,
                          const std::string& reviewer, const AnswerDraft& recomputed,
                          const std::map<std::string, std::string>& based_on) {
  auto txn = env_.begin_write();
  if (!txn.ok()) return txn.error();
  auto item = pending_item(*txn, id_hex);
  if (!item.ok()) return item.error();
  if (item->settled != based_on) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "enquiry " + std::string(id_hex) + " was settled by someone else meanwhile: run review show and try again");
  }
  item->settled[ref] = candidate;
  item->settlements.push_back({ref, candidate, reviewer, unix_millis_now()});
  item->draft = recomputed;
  if (auto st = txn->put(review_, id_hex, item->to_json().dump()); !st.ok()) return st;
  return txn->commit();
}

Result<std::optional<std::vector<uint8_t>>> AgentState::enquiry_body(std::string_view id_hex) const {
  auto txn = env_.begin_read();
  if (!txn.ok()) return txn.error();
  auto v = txn->get(enquiries_, id_hex);
  if (!v.ok()) return v.error();
  if (!*v) return std::optional<std::vector<uint8_t>>();
  try {
    auto j = nlohmann::json::parse(**v);
    auto body = from_base64(j.at("body").get<std::string>());
    if (!body.ok()) return make_error(ErrorCode::kDataLoss, "enquiry record damaged: " + body.error().message);
    return std::optional<std::vector<uint8_t>>(std::move(body).value());
  } catch (const nlohmann::json::exception& e) {
    return make_error(ErrorCode::kDataLoss, std::string("enquiry record damaged: ") + e.what());
  }
}

}  // namespace mash::agent
