#include "match_tool.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <iomanip>
#include <set>

#include "agreement.h"
#include "pseudonym.h"

namespace mash::agent {

namespace {

std::string str(const nlohmann::json& j, const char* key) {
  if (!j.contains(key)) return "";
  if (!j.at(key).is_string()) throw std::invalid_argument(std::string(key) + " must be a string");
  return j.at(key).get<std::string>();
}

}  // namespace

Result<PersonFeatures> subject_from_json(std::string_view text, const std::vector<std::string>& local_schemes) {
  try {
    auto j = nlohmann::json::parse(text);
    if (!j.is_object()) return make_error(ErrorCode::kInvalidArgument, "subject: expected a JSON object");
    static const std::set<std::string> kKeys = {"forenames", "surname", "other_names", "date_of_birth",
                                                "gender", "address", "postcode", "uprn", "identifiers", "ref"};
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (!kKeys.count(it.key())) {
        return make_error(ErrorCode::kInvalidArgument, "subject: unknown key '" + it.key() + "'");
      }
    }
    std::vector<std::string> other;
    if (j.contains("other_names")) other = j.at("other_names").get<std::vector<std::string>>();
    std::vector<std::pair<std::string, std::string>> ids;
    if (j.contains("identifiers")) {
      for (auto& [k, v] : j.at("identifiers").items()) {
        const bool local = std::find(local_schemes.begin(), local_schemes.end(), k) != local_schemes.end();
        if (!is_national_scheme(k) && !local) {
          return make_error(ErrorCode::kInvalidArgument,
                            "subject: unknown identifier scheme '" + k.substr(0, 32) +
                                "' (national: nhs, upn, pnc, probation, housing; the agency's own are declared in "
                                "[matching] identifier_schemes)");
        }
        ids.emplace_back(k, v.get<std::string>());
        if (local) {
          if (!normalise_local_identifier(v.get<std::string>())) {
            return make_error(ErrorCode::kInvalidArgument, "subject: identifier " + k + " is not a usable value");
          }
        } else if (!normalise_identifier(k, v.get<std::string>())) {
          return make_error(ErrorCode::kInvalidArgument,
                            "subject: identifier " + k + " is not valid" + (k == "nhs" ? " (check digit)" : ""));
        }
      }
    }
    std::string dob = str(j, "date_of_birth");
    if (!dob.empty() && !valid_iso_date(dob)) {
      return make_error(ErrorCode::kInvalidArgument, "subject: date_of_birth must be YYYY-MM-DD");
    }
    std::string address = str(j, "address");
    if (auto a = addr::parse_address(address); !a.ok()) {
      return make_error(ErrorCode::kInvalidArgument, "subject: address: " + a.error().message);
    }
    std::string postcode = str(j, "postcode");
    if (!postcode.empty() && !normalise_postcode(postcode)) {
      return make_error(ErrorCode::kInvalidArgument, "subject: postcode is not a postcode");
    }
    std::string uprn = str(j, "uprn");
    if (!uprn.empty() && !normalise_uprn(uprn)) {
      return make_error(ErrorCode::kInvalidArgument, "subject: uprn must be 1 to 12 digits");
    }
    PersonDetails d;
    d.forenames = str(j, "forenames");
    d.surname = str(j, "surname");
    d.other_names = std::move(other);
    d.date_of_birth = dob;
    d.gender = str(j, "gender");
    d.address = address;
    d.postcode = postcode;
    d.uprn = uprn;
    d.identifiers = std::move(ids);
    return make_features(str(j, "ref").empty() ? "subject" : str(j, "ref"), d);
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kInvalidArgument, std::string("subject: ") + e.what());
  }
}

namespace {

nlohmann::json result_json(const std::string& ref, const MatchResult& r, const MatchThresholds& t) {
  nlohmann::json j = {{"ref", ref},
                      {"outcome", outcome_name(r.outcome)},
                      {"basis", r.basis},
                      {"score", r.score},
                      {"thresholds", {{"automatic", t.automatic}, {"review", t.review}, {"margin", t.margin}}}};
  if (r.outcome == MatchOutcome::kMatched) j["records"] = r.person_ids;
  if (r.outcome == MatchOutcome::kPossible) j["candidate_count"] = r.candidate_count;
  nlohmann::json candidates = nlohmann::json::array();
  for (const auto& c : r.top) {
    nlohmann::json evidence = nlohmann::json::array();
    for (const auto& e : c.evidence) evidence.push_back({{"field", e.field}, {"level", e.level}, {"weight", e.weight}});
    candidates.push_back({{"person_id", c.person_id}, {"score", c.score}, {"by_identifier", c.identifier},
                          {"evidence", evidence}});
  }
  j["candidates"] = candidates;
  return j;
}

void print_text(const MatchResult& r, const MatchThresholds& t, std::ostream& out) {
  out << std::fixed << std::setprecision(1);
  out << "outcome: " << outcome_name(r.outcome) << " (" << r.basis << ")\n";
  out << "score: " << r.score << " bits (automatic >= " << t.automatic << ", review >= " << t.review << ", margin "
      << t.margin << ")\n";
  if (r.outcome == MatchOutcome::kMatched) {
    out << "records:";
    for (const auto& id : r.person_ids) out << " " << id;
    out << "\n";
  }
  if (r.outcome == MatchOutcome::kPossible) out << "candidates in the review band: " << r.candidate_count << "\n";
  for (const auto& c : r.top) {
    out << "candidate " << c.person_id << ": " << c.score << (c.identifier ? " (by identifier)" : "") << "\n";
    for (const auto& e : c.evidence) {
      out << "  " << std::left << std::setw(14) << e.field << std::setw(22) << e.level << std::right << std::showpos
          << e.weight << std::noshowpos << "\n";
    }
  }
}

}  // namespace

int run_match_tool(const AgentConfig& config, const ToolArgs& args, std::ostream& out, std::ostream& err) {
  if (args.subject.empty() == args.subjects.empty()) {
    err << "mash-agent: match needs --subject FILE.json or --subjects FILE.jsonl (one of them)\n";
    return 2;
  }
  auto store = ExtractStore::open(config.store_dir / "extract", config.extract_map_size);
  if (!store.ok()) {
    err << "mash-agent: extract store: " << store.error().message << "\n";
    return 1;
  }
  Matcher matcher(**store, config.thresholds);
  auto txn = (*store)->begin_read();
  if (!txn.ok()) {
    err << "mash-agent: " << txn.error().message << "\n";
    return 1;
  }
  if (!args.subject.empty()) {
    auto text = policy::read_text_file(args.subject, 64 * 1024);
    if (!text.ok()) {
      err << "mash-agent: " << text.error().message << "\n";
      return 1;
    }
    auto subject = subject_from_json(*text, config.identifier_schemes);
    if (!subject.ok()) {
      err << "mash-agent: " << args.subject << ": " << subject.error().message << "\n";
      return 2;
    }
    auto r = matcher.match(*txn, *subject);
    if (!r.ok()) {
      err << "mash-agent: " << r.error().message << "\n";
      return 1;
    }
    if (args.json) out << result_json(subject->id, *r, config.thresholds).dump() << "\n";
    else print_text(*r, config.thresholds, out);
    return 0;
  }
  // A batch: one subject a line; a bad line is reported on its own line and the rest go on.
  std::error_code ec;
  auto size = std::filesystem::file_size(args.subjects, ec);
  if (ec) {
    err << "mash-agent: cannot read " << args.subjects << ": " << ec.message() << "\n";
    return 1;
  }
  if (size > kMaxBatchBytes) {
    err << "mash-agent: " << args.subjects << " is larger than " << (kMaxBatchBytes >> 20) << " MiB\n";
    return 2;
  }
  std::ifstream in(args.subjects, std::ios::binary);
  if (!in) {
    err << "mash-agent: cannot read " << args.subjects << "\n";
    return 1;
  }
  std::string line;
  size_t number = 0, bad = 0;
  while (std::getline(in, line)) {
    ++number;
    if (number > kMaxBatchLines) {
      err << "mash-agent: " << args.subjects << ": more than " << kMaxBatchLines << " lines; the rest is not read\n";
      return 2;
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    auto subject = line.size() > 64 * 1024
                       ? Result<PersonFeatures>(make_error(ErrorCode::kInvalidArgument, "subject: longer than 64 KiB"))
                       : subject_from_json(line, config.identifier_schemes);
    if (!subject.ok()) {
      ++bad;
      out << nlohmann::json({{"line", number}, {"error", subject.error().message}}).dump() << "\n";
      continue;
    }
    auto r = matcher.match(*txn, *subject);
    if (!r.ok()) {
      err << "mash-agent: " << r.error().message << "\n";
      return 1;
    }
    auto j = result_json(subject->id, *r, config.thresholds);
    j["line"] = number;
    out << j.dump() << "\n";
  }
  if (bad > 0) {
    err << "mash-agent: " << bad << " of " << number << " lines were refused (see their \"error\")\n";
    return 2;
  }
  return 0;
}

}  // namespace mash::agent
