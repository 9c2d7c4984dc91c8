// `mash-broker audit ...`: option parsing, the person file, and tables or JSON over
// audit_tools.h. See audit_cli.h for the person file format and the exit status.
#include "audit_cli.h"
#include "audit_json.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "audit_log.h"
#include "audit_tools.h"
#include "clock.h"
#include "crypto.h"
#include "pseudonym.h"

namespace mash::broker {

namespace {

constexpr const char* kPrefix = "mash-broker audit: ";
constexpr size_t kMaxPersonFileBytes = 64 * 1024;

constexpr const char* kUsage = R"(usage: mash-broker audit COMMAND [OPTIONS]

The data protection officer's tools over the broker's audit store (a copy will do).

Commands:
  search   --store DIR [--person-file FILE --hash-key FILE] [--user U] [--agency A]
           [--case C] [--enquiry E] [--type T] [--from TIME] [--to TIME] [--json]
        events matching every condition given, oldest first
  timeline --store DIR --case C [--json]
        everything recorded about a case and its enquiries
  sar      --store DIR --person-file FILE --hash-key FILE [--json]
        subject access report: every access to the person's data, who asked, when,
        which agency, under which purpose, legal basis and consent, which fields were
        requested and released, the outcome, and who viewed or exported the results
  stats    --store DIR --from TIME --to TIME [--json]
        counts per user and per agency, by event type
  flags    --store DIR --from TIME --to TIME [--json]
        unusual patterns: a user creating more than 40 enquiries in a day; a person
        asked about in more than 3 cases or 5 enquiries within 30 days; an enquiry
        whose case has no decision within 7 days (judged at --to)

TIME is UTC, YYYY-MM-DD[THH:MM[:SS[.mmm]]][Z]; ranges include both ends, and --to
covers the whole of what it names (--to 2026-11-30 is up to the end of that day).

The person is given in a JSON file, never on the command line, and is turned into
pseudonyms in memory with the hub's hash key (--hash-key, mode 0600); the details are
never stored or printed. Delete the file when done. Format:
  {"forenames": "Mary Jane", "surname": "O'Brien", "date_of_birth": "2012-02-29",
   "identifiers": {"nhs": "9434765919", "upn": "A123456789012"}}
Every key is optional but at least one identity is needed: forenames, surname and
date_of_birth together, or an identifier (nhs, upn, pnc, probation, housing; a value or
a list of values). Matching is exact after normalisation, not fuzzy.

Lists stop at 10,000 events and say so. Tables by default, JSON with --json.
Every command also takes --pubkey FILE (the hub's audit .pub): the store's integrity is
checked first (as mash-audit verify does) and nothing is reported from a store that fails.

Exit status: 0 done (nothing found is not an error); 1 a problem with the store;
2 usage or malformed input; 3 a file or the store could not be read.
)";

struct Spec {
  std::set<std::string> valued;
  std::set<std::string> flags;
  std::vector<std::string> required;
};

const std::map<std::string, Spec>& specs() {
  static const std::map<std::string, Spec> s = {
      {"search",
       {{"--store", "--person-file", "--hash-key", "--user", "--agency", "--case", "--enquiry",
         "--type", "--from", "--to", "--pubkey"},
        {"--json"},
        {"--store"}}},
      {"timeline", {{"--store", "--case", "--pubkey"}, {"--json"}, {"--store", "--case"}}},
      {"sar",
       {{"--store", "--person-file", "--hash-key", "--pubkey"},
        {"--json"},
        {"--store", "--person-file", "--hash-key"}}},
      {"stats", {{"--store", "--from", "--to", "--pubkey"}, {"--json"}, {"--store", "--from", "--to"}}},
      {"flags", {{"--store", "--from", "--to", "--pubkey"}, {"--json"}, {"--store", "--from", "--to"}}},
  };
  return s;
}

struct Args {
  std::map<std::string, std::string> values;
  std::set<std::string> flags;
  std::string get(const std::string& k) const {
    auto it = values.find(k);
    return it == values.end() ? "" : it->second;
  }
  bool has(const std::string& k) const { return values.count(k) > 0; }
  bool json() const { return flags.count("--json") > 0; }
};

int usage_error(const std::string& message) {
  std::cerr << kPrefix << message << " (try mash-broker audit --help)\n";
  return 2;
}

// 2 for bad input, 1 for anything wrong with the store.
int tool_error(const Error& e) {
  std::cerr << kPrefix << e.message << "\n";
  return e.code == ErrorCode::kInvalidArgument ? 2 : 1;
}

// ---------------------------------------------------------------------------------------------
// The person file

// Reads the person file into pseudonyms. Messages name the file and the problem, never any value
// from it. Returns an exit status (0 when `out` is filled).
int person_file_pseudonyms(const std::string& path, const std::string& key_path,
                      std::vector<std::string>& out) {
  std::error_code ec;
  auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) {
    std::cerr << kPrefix << "cannot read person file " << path << ": "
              << (ec ? ec.message() : "no such file") << "\n";
    return 3;
  }
  if (!std::filesystem::is_regular_file(status)) {
    std::cerr << kPrefix << "cannot read person file " << path << ": not a regular file\n";
    return 3;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << kPrefix << "cannot read person file " << path << ": " << std::strerror(errno)
              << "\n";
    return 3;
  }
  std::string text(kMaxPersonFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) {
    std::cerr << kPrefix << "cannot read person file " << path << "\n";
    return 3;
  }
  text.resize(static_cast<size_t>(in.gcount()));
  auto bad = [&](const std::string& why) {
    std::cerr << kPrefix << "person file " << path << ": " << why << "\n";
    return 2;
  };
  if (text.size() > kMaxPersonFileBytes) return bad("too large for a person file (64 KiB at most)");

  nlohmann::json j;
  try {
    // Parse errors are reported by position only: nlohmann's message quotes the input.
    j = nlohmann::json::parse(text, nullptr, true, /*ignore_comments=*/true);
  } catch (const nlohmann::json::parse_error& e) {
    return bad("not valid JSON (at byte " + std::to_string(e.byte) + ")");
  }
  if (!j.is_object()) return bad("must hold one JSON object");
  auto person = person_from_json(j);
  if (!person.ok()) return bad(person.error().message);
  auto key = load_hash_key(key_path);
  if (!key.ok()) {
    std::cerr << kPrefix << "cannot use the hash key: " << key.error().message << "\n";
    return 3;
  }
  Pseudonymizer pseudonymizer(std::move(key).value());
  std::string warning;
  auto pseudonyms = person_pseudonyms(*person, pseudonymizer, &warning);
  if (!pseudonyms.ok()) return bad(pseudonyms.error().message);
  if (!warning.empty()) std::cerr << kPrefix << "warning: person file " << path << ": " << warning << "\n";
  out = std::move(pseudonyms).value();
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Output

std::string or_dash(const std::string& s) { return s.empty() ? "-" : s; }

std::string join(const std::vector<std::string>& v, const char* sep = ",") {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

std::string evidence_text(const std::vector<uint64_t>& ev) {
  std::string out;
  for (size_t i = 0; i < ev.size() && i < 10; ++i) out += (i ? "," : "") + std::to_string(ev[i]);
  if (ev.size() > 10) out += ",... (" + std::to_string(ev.size()) + " records)";
  return out;
}

void print_table(std::ostream& out, const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  for (size_t c = 0; c < header.size(); ++c) width[c] = header[c].size();
  for (const auto& r : rows) {
    for (size_t c = 0; c < r.size() && c < width.size(); ++c)
      width[c] = std::max(width[c], r[c].size());
  }
  auto line = [&](const std::vector<std::string>& r) {
    std::string s;
    for (size_t c = 0; c < r.size(); ++c) {
      s += r[c];
      if (c + 1 < r.size()) s += std::string(width[c] - r[c].size() + 2, ' ');
    }
    s.erase(s.find_last_not_of(' ') + 1);
    out << s << "\n";
  };
  line(header);
  for (const auto& r : rows) line(r);
}

std::string event_detail(const AuditEvent& e) {
  std::vector<std::string> parts;
  for (auto [k, v] : {std::pair<const char*, const std::string*>{"purpose", &e.purpose},
                      {"legal_basis", &e.legal_basis},
                      {"consent", &e.consent},
                      {"brag", &e.brag}}) {
    if (!v->empty()) parts.push_back(std::string(k) + "=" + *v);
  }
  if (e.restricted) parts.push_back("restricted");
  for (const auto& [k, v] : e.extra) parts.push_back(k + "=" + v);
  return join(parts, " ");
}

// Subjects are shown as a count only: printed next to a person's search they would tie that
// person to their pseudonyms.
void print_events(std::ostream& out, const std::vector<IndexedEvent>& events) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& [i, e] : events) {
    rows.push_back({std::to_string(i), iso_time(e.time_ms), e.type, or_dash(e.actor),
                    or_dash(e.role), or_dash(e.agency), or_dash(e.case_ref), or_dash(e.enquiry),
                    or_dash(e.outcome), std::to_string(e.subjects.size()), or_dash(join(e.fields)),
                    event_detail(e)});
  }
  print_table(out,
              {"INDEX", "TIME", "TYPE", "ACTOR", "ROLE", "AGENCY", "CASE", "ENQUIRY", "OUTCOME",
               "SUBJECTS", "FIELDS", "DETAIL"},
              rows);
}

void print_event_list(const EventList& list, bool json, const std::string& what) {
  if (json) {
    std::cout << events_json(list).dump(2) << "\n";
    return;
  }
  if (list.events.empty()) {
    std::cout << "No events found" << what << ".\n";
    return;
  }
  print_events(std::cout, list.events);
  std::cout << list.events.size() << (list.events.size() == 1 ? " event" : " events") << what
            << ".\n";
  if (list.truncated) std::cout << "TRUNCATED: there are more; narrow the search.\n";
}

// ---------------------------------------------------------------------------------------------
// Commands

Result<AuditReader> open_store(const Args& a, int* exit_code) {
  auto reader = AuditReader::open(a.get("--store"));
  if (!reader.ok()) {
    std::cerr << kPrefix << "cannot open audit store " << a.get("--store") << ": "
              << reader.error().message << "\n";
    auto c = reader.error().code;
    *exit_code = (c == ErrorCode::kNotFound || c == ErrorCode::kPermissionDenied) ? 3 : 1;
    return reader;
  }
  // With --pubkey, nothing is reported from a store that fails its integrity check.
  if (a.has("--pubkey")) {
    auto key = load_verify_key(a.get("--pubkey"));
    if (!key.ok()) {
      std::cerr << kPrefix << key.error().message << "\n";
      *exit_code = 3;
      return key.error();
    }
    auto report = verify_audit_store(a.get("--store"), NoteVerifier(reader->origin(), *key), reader->origin());
    if (!report.ok() || !report->ok()) {
      std::cerr << kPrefix << "integrity check FAILED for " << a.get("--store") << "; nothing reported\n";
      if (report.ok()) {
        for (const auto& p : report->problems) std::cerr << "  " << p << "\n";
      } else {
        std::cerr << "  " << report.error().message << "\n";
      }
      *exit_code = 1;
      return make_error(ErrorCode::kDataLoss, "integrity check failed");
    }
    std::cerr << kPrefix << "integrity check passed: " << report->records << " records, "
              << report->checkpoints << " signed checkpoints\n";
  }
  return reader;
}

int cmd_search(const Args& a) {
  AuditQuery q;
  if (a.has("--person-file") != a.has("--hash-key")) {
    return usage_error("search: --person-file and --hash-key go together");
  }
  q.user = a.get("--user");
  q.agency = a.get("--agency");
  q.case_ref = a.get("--case");
  q.enquiry = a.get("--enquiry");
  q.type = a.get("--type");
  q.from = a.get("--from");
  q.to = a.get("--to");
  if (a.has("--person-file")) {
    std::vector<std::string> pseudonyms;
    if (int rc = person_file_pseudonyms(a.get("--person-file"), a.get("--hash-key"), pseudonyms);
        rc != 0)
      return rc;
    q.persons = std::move(pseudonyms);
  }
  int rc = 0;
  auto reader = open_store(a, &rc);
  if (!reader.ok()) return rc;
  auto result = search(*reader, q);
  if (!result.ok()) return tool_error(result.error());
  print_event_list(*result, a.json(), "");
  return 0;
}

int cmd_timeline(const Args& a) {
  int rc = 0;
  auto reader = open_store(a, &rc);
  if (!reader.ok()) return rc;
  auto result = case_timeline(*reader, a.get("--case"));
  if (!result.ok()) return tool_error(result.error());
  print_event_list(*result, a.json(), " for case " + a.get("--case"));
  return 0;
}

int cmd_sar(const Args& a) {
  std::vector<std::string> pseudonyms;
  if (int rc = person_file_pseudonyms(a.get("--person-file"), a.get("--hash-key"), pseudonyms); rc != 0)
    return rc;
  int rc = 0;
  auto reader = open_store(a, &rc);
  if (!reader.ok()) return rc;
  auto report = subject_access_report(*reader, pseudonyms);
  if (!report.ok()) return tool_error(report.error());
  const auto& r = *report;

  if (a.json()) {
    std::cout << sar_json(r).dump(2) << "\n";
    return 0;
  }

  if (r.accesses.empty() && r.views.empty() && r.other.empty()) {
    std::cout << "No access to this person's data was found in the audit trail.\n";
    return 0;
  }
  std::set<std::string> agencies;
  for (const auto& x : r.accesses) agencies.insert(x.agency);
  std::cout << "Subject access report\n"
            << r.accesses.size() << " request(s) about this person to " << agencies.size()
            << " agency(ies); " << r.views.size() << " view(s) or export(s) of the results.\n"
            << "The audit trail holds no case content: this lists accesses, not what the records "
               "say.\n\n";
  bool restricted = false;
  if (!r.accesses.empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& x : r.accesses) {
      std::vector<std::string> request = {iso_time(x.time_ms),
                                          or_dash(x.actor),
                                          or_dash(x.role),
                                          or_dash(x.agency),
                                          or_dash(x.case_ref),
                                          or_dash(x.enquiry),
                                          or_dash(x.purpose),
                                          or_dash(x.legal_basis),
                                          or_dash(x.consent),
                                          or_dash(x.decision),
                                          or_dash(join(x.fields_requested)),
                                          x.delivered_ms ? iso_time(*x.delivered_ms) : "-"};
      if (x.answers.empty()) {
        auto row = request;
        row.insert(row.end(), {"-", "no answer", "-", "-"});
        rows.push_back(std::move(row));
      }
      for (const auto& ans : x.answers) {
        restricted = restricted || ans.restricted;
        auto row = request;
        row.insert(row.end(), {iso_time(ans.time_ms), or_dash(ans.outcome) + (ans.person_outcome.empty() ? "" : " (" + ans.person_outcome + ")"),
                               or_dash(join(ans.fields_released)), ans.restricted ? "yes" : "no"});
        rows.push_back(std::move(row));
      }
    }
    std::cout << "Requests and answers:\n";
    print_table(
        std::cout,
        {"ASKED", "BY", "ROLE", "AGENCY", "CASE", "ENQUIRY", "PURPOSE", "LEGAL BASIS", "CONSENT",
         "DECISION", "REQUESTED", "DELIVERED", "ANSWERED", "OUTCOME", "RELEASED", "RESTRICTED"},
        rows);
    std::cout << "\n";
  }
  if (!r.views.empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& v : r.views) {
      rows.push_back({iso_time(v.time_ms), v.type == "results.exported" ? "exported" : "viewed",
                      or_dash(v.actor), or_dash(v.role), or_dash(v.case_ref), or_dash(v.enquiry)});
    }
    std::cout << "Results viewed or exported:\n";
    print_table(std::cout, {"TIME", "ACTION", "BY", "ROLE", "CASE", "ENQUIRY"}, rows);
    std::cout << "\n";
  }
  if (!r.other.empty()) {
    std::cout << "Other events naming this person:\n";
    print_events(std::cout, r.other);
    std::cout << "\n";
  }
  if (restricted) {
    std::cout << "Note: an agency flagged restricted information (RESTRICTED yes). Consult that "
                 "agency about\n"
                 "the exemptions in the Data Protection Act 2018 before disclosing this report.\n";
  }
  if (r.truncated) std::cout << "TRUNCATED: the report reached its limit of events.\n";
  return 0;
}

int cmd_stats(const Args& a) {
  int rc = 0;
  auto reader = open_store(a, &rc);
  if (!reader.ok()) return rc;
  auto stats = access_statistics(*reader, a.get("--from"), a.get("--to"));
  if (!stats.ok()) return tool_error(stats.error());
  const auto& s = *stats;
  if (a.json()) {
    std::cout << statistics_json(s).dump(2) << "\n";
    return 0;
  }
  std::cout << "Events from " << iso_time(s.from_ms) << " to " << iso_time(s.to_ms) << ": "
            << s.events << "\n";
  if (s.events == 0) return 0;
  std::vector<std::vector<std::string>> rows;
  for (const auto& [t, n] : s.by_type) rows.push_back({t, std::to_string(n)});
  std::cout << "\nBy type:\n";
  print_table(std::cout, {"TYPE", "COUNT"}, rows);
  for (auto [title, heading, table] : {std::tuple{"By user", "USER", &s.by_user},
                                       std::tuple{"By agency", "AGENCY", &s.by_agency}}) {
    rows.clear();
    for (const auto& [who, counts] : *table) {
      for (const auto& [t, n] : counts) rows.push_back({who, t, std::to_string(n)});
    }
    std::cout << "\n" << title << ":\n";
    print_table(std::cout, {heading, "TYPE", "COUNT"}, rows);
  }
  if (s.truncated) std::cout << "TRUNCATED: the range holds more events than were counted.\n";
  return 0;
}

int cmd_flags(const Args& a) {
  int rc = 0;
  auto reader = open_store(a, &rc);
  if (!reader.ok()) return rc;
  auto report = unusual_patterns(*reader, a.get("--from"), a.get("--to"));
  if (!report.ok()) return tool_error(report.error());
  const auto& r = *report;
  if (a.json()) {
    std::cout << flags_json(r).dump(2) << "\n";
    return 0;
  }
  if (r.flags.empty()) {
    std::cout << "No unusual patterns found.\n";
  } else {
    std::vector<std::vector<std::string>> rows;
    for (const auto& f : r.flags) {
      std::string who = f.code == kFlagNoDecision
                            ? "case " + or_dash(f.case_ref) + " enquiry " + or_dash(f.enquiry)
                        : !f.persons.empty() ? join(f.persons)
                                             : f.user;
      std::string when =
          !f.day.empty() ? f.day : iso_time(f.window_from_ms) + ".." + iso_time(f.window_to_ms);
      std::string unit = f.code == kFlagNoDecision ? " days" : "";  // days since the enquiry
      rows.push_back({f.code, who, when, std::to_string(f.count) + unit,
                      std::to_string(f.threshold) + unit, evidence_text(f.evidence)});
    }
    print_table(std::cout, {"FLAG", "WHO", "WHEN", "COUNT", "LIMIT", "EVIDENCE (record indexes)"},
                rows);
    std::cout << r.flags.size() << (r.flags.size() == 1 ? " flag.\n" : " flags.\n");
  }
  if (r.truncated) std::cout << "TRUNCATED: the range holds more enquiries than were examined.\n";
  return 0;
}

}  // namespace

int run_audit_command(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::cout << kUsage;
    return 0;
  }
  auto spec = specs().find(cmd);
  if (spec == specs().end()) return usage_error("unknown command '" + cmd + "'");

  Args args;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (spec->second.flags.count(arg)) {
      args.flags.insert(arg);
    } else if (spec->second.valued.count(arg)) {
      if (i + 1 >= argc || std::string_view(argv[i + 1]).empty() ||
          std::string_view(argv[i + 1]).substr(0, 2) == "--") {
        return usage_error(cmd + ": " + arg + " needs a value");
      }
      if (!args.values.emplace(arg, argv[++i]).second)
        return usage_error(cmd + ": " + arg + " given twice");
    } else {
      return usage_error(cmd + ": unknown option '" + arg + "'");
    }
  }
  for (const auto& k : spec->second.required) {
    if (!args.has(k)) return usage_error(cmd + " needs " + k);
  }
  for (auto [k, bound] :
       {std::pair{"--from", TimeBound::kFrom}, std::pair{"--to", TimeBound::kTo}}) {
    if (!args.has(k)) continue;
    if (auto t = parse_audit_time(args.get(k), bound); !t.ok()) {
      return usage_error(cmd + ": " + k + " " + t.error().message);
    }
  }

  if (cmd == "search") return cmd_search(args);
  if (cmd == "timeline") return cmd_timeline(args);
  if (cmd == "sar") return cmd_sar(args);
  if (cmd == "stats") return cmd_stats(args);
  return cmd_flags(args);
}

}  // namespace mash::broker
