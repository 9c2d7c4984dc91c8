#include "review_tool.h"

#include <algorithm>
#include <cstdlib>
#include <iomanip>
#include <map>
#include <sstream>

#include "agent_state.h"
#include "answerer.h"
#include "clock.h"
#include "extract.h"
#include "framing.h"
#include "link.capnp.h"
#include "matcher.h"
#include "policy_holder.h"

namespace mash::agent {

namespace {

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::string reviewer_name(const ToolArgs& args) {
  if (!args.reviewer.empty()) return args.reviewer;
  const char* user = std::getenv("USER");
  return user ? user : "operator";
}

// review resolve ID SUBJECT --candidate LOCAL_ID|none: the reviewer settles a possible subject;
// the whole answer is recomputed from the enquiry as received, under the agreement and the
// extract as they are now, and waits for approval as before.
int resolve_possible(const AgentConfig& config, const ToolArgs& args, AgentState& state, const ReviewItem& item,
                     std::ostream& out, std::ostream& err) {
  if (args.review_subject.empty() || args.candidate.empty()) {
    err << "mash-agent: usage: mash-agent review resolve ID SUBJECT --candidate LOCAL_ID|none --config FILE\n";
    return 2;
  }
  if (item.state != "pending") {
    err << "mash-agent: enquiry " << item.enquiry_id << " was already " << item.state << " by " << item.reviewer << "\n";
    return 1;
  }
  auto body_bytes = state.enquiry_body(item.enquiry_id);
  if (!body_bytes.ok() || !*body_bytes) {
    err << "mash-agent: the enquiry as received is not in the agent's store"
        << (body_bytes.ok() ? "" : ": " + body_bytes.error().message) << "\n";
    return 1;
  }
  auto holder = load_policy(config, err);
  if (!holder) return 2;
  auto policy = holder->current();
  if (!policy || static_cast<uint64_t>(policy->agreement().version) != item.policy_version) {
    err << "mash-agent: the agreement in force is not the version this enquiry was answered under ("
        << item.policy_version << "); decline it and let the hub ask again\n";
    return 1;
  }
  auto store = ExtractStore::open(config.store_dir / "extract", config.extract_map_size);
  if (!store.ok()) {
    err << "mash-agent: extract store: " << store.error().message << "\n";
    return 1;
  }
  Matcher matcher(**store, config.thresholds);
  auto nested = NestedMessage::decode(**body_bytes, FrameLimits{});
  if (!nested.ok()) {
    err << "mash-agent: the stored enquiry cannot be read: " << nested.error().message << "\n";
    return 1;
  }
  std::map<std::string, std::string> settled = item.settled;
  settled[args.review_subject] = args.candidate;
  Result<AnswerDraft> draft = make_error(ErrorCode::kInternal, "not drafted");
  try {
    auto body = (*nested)->root<wire::EnquiryBody>();
    AnswerContext ctx{policy.get(), config.agency, store->get(), &matcher, today_utc(), &config.identifier_schemes,
                      &settled};
    draft = draft_answer(ctx, body);
  } catch (const kj::Exception& e) {
    err << "mash-agent: the stored enquiry cannot be read: " << e.getDescription().cStr() << "\n";
    return 1;
  }
  if (!draft.ok()) {
    err << "mash-agent: " << draft.error().message << "\n";
    return draft.error().code == ErrorCode::kInvalidArgument ? 2 : 1;
  }
  bool found = std::any_of(draft->subjects.begin(), draft->subjects.end(),
                           [&](const SubjectDraft& s) { return s.ref == args.review_subject; });
  if (!found) {
    err << "mash-agent: enquiry " << item.enquiry_id << " has no subject " << args.review_subject << "\n";
    return 2;
  }
  draft->review = true;  // it was held for review, and stays so until approved
  // Fields the reviewer withholds on approval are applied then, as before.
  const std::string reviewer = reviewer_name(args);
  if (auto st = state.settle(item.enquiry_id, args.review_subject, args.candidate, reviewer, *draft, item.settled);
      !st.ok()) {
    err << "mash-agent: " << st.error().message << "\n";
    return 1;
  }
  for (const auto& s : draft->subjects) {
    if (s.ref != args.review_subject) continue;
    out << "subject " << s.ref << " settled by " << reviewer << ": " << outcome_name(s.outcome)
        << (args.candidate == "none" ? " (none of the candidates)" : " to " + args.candidate) << ", "
        << s.released.size() << " values to release" << (s.restricted ? ", restricted: flag only" : "") << "\n";
  }
  out << "enquiry " << item.enquiry_id << " still waits for approval (review show, then approve or decline)\n";
  return 0;
}

}  // namespace

int run_review_tool(const AgentConfig& config, const ToolArgs& args, std::ostream& out, std::ostream& err) {
  auto state = AgentState::open(config.store_dir / "state");
  if (!state.ok()) {
    err << "mash-agent: state store: " << state.error().message << "\n";
    return 1;
  }
  const std::string& action = args.review_action;
  if (action == "list") {
    auto items = (*state)->review_items();
    if (!items.ok()) {
      err << "mash-agent: " << items.error().message << "\n";
      return 1;
    }
    if (items->empty()) out << "the review queue is empty\n";
    for (const auto& i : *items) {
      size_t matched = 0, values = 0;
      for (const auto& s : i.draft.subjects) {
        matched += s.outcome == MatchOutcome::kMatched ? 1 : 0;
        values += s.released.size();
      }
      out << i.enquiry_id << "  " << iso_time(i.received_ms) << "  " << i.state << "  case " << i.draft.case_ref
          << "  " << i.draft.purpose << "/" << i.draft.legal_basis << "  " << i.draft.subjects.size()
          << " subjects, " << matched << " matched, " << values << " values to release\n";
    }
    return 0;
  }
  auto item = (*state)->review_item(args.review_id);
  if (!item.ok()) {
    err << "mash-agent: " << item.error().message << "\n";
    return 1;
  }
  if (!*item) {
    err << "mash-agent: no enquiry " << args.review_id << " in the review queue (see review list)\n";
    return 1;
  }
  if (action == "show") {
    const auto& d = (*item)->draft;
    out << "enquiry " << (*item)->enquiry_id << " (" << (*item)->state << ")\n"
        << "case " << d.case_ref << ", purpose " << d.purpose << ", basis " << d.legal_basis << ", consent "
        << d.consent << ", BRAG " << d.brag << "\n"
        << "fields needing review: ";
    for (const auto& f : d.review_fields) out << f << " ";
    out << "\n";
    for (const auto& s : d.subjects) {
      out << "subject " << s.ref << ": " << outcome_name(s.outcome) << (s.restricted ? " (restricted: flag only)" : "")
          << (s.basis == "settled-on-review" ? " (settled on review)" : "") << "\n";
      for (const auto& c : s.candidates) {
        out << "  candidate " << c.person_id << " (score " << std::fixed << std::setprecision(1) << c.score
            << "): review resolve " << (*item)->enquiry_id << " " << s.ref << " --candidate " << c.person_id << "\n";
      }
      if (!s.candidates.empty()) {
        out << "  or none of them: review resolve " << (*item)->enquiry_id << " " << s.ref << " --candidate none\n";
      }
      for (const auto& r : s.released) {
        out << "  release " << r.field << " = " << r.value << (r.date.empty() ? "" : " (" + r.date + ")") << "\n";
      }
      for (const auto& w : s.withheld) out << "  withheld " << w.field << ": " << w.reason << "\n";
    }
    return 0;
  }
  if (action == "resolve") return resolve_possible(config, args, **state, **item, out, err);
  if (action != "approve" && action != "decline") {
    err << "mash-agent: review " << action << ": expected list, show, resolve, approve or decline\n";
    return 2;
  }
  if (action == "decline" && args.note.empty()) {
    err << "mash-agent: review decline needs --note TEXT (why; it stays at the agency)\n";
    return 2;
  }
  if (action == "decline" && !args.withhold.empty()) {
    err << "mash-agent: --withhold applies to approve only\n";
    return 2;
  }
  const std::string reviewer = reviewer_name(args);
  auto st = (*state)->decide(args.review_id, action == "approve", reviewer, args.note, split_commas(args.withhold));
  if (!st.ok()) {
    err << "mash-agent: " << st.error().message << "\n";
    return 1;
  }
  out << "enquiry " << args.review_id << " " << (action == "approve" ? "approved" : "declined")
      << "; the running agent sends the answer to the hub within a second\n";
  return 0;
}

}  // namespace mash::agent
