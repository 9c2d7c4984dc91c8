// match-quality: precision and recall of the agent's matcher at its automatic threshold, on
// data with ground truth. Builds a real extract (LMDB, in a temporary folder) and asks the real
// matcher about each query record. Figures go in BENCHMARKS.md with the command that made them.
//
//   match-quality febrl FILE [--fields all|names] [--automatic N --review N --margin N] [--min-precision P]
//       --fields all (the default): names, date of birth, the address as one line and the
//       postcode; names: names and date of birth only. --ssn yes: soc_sec_id as the agency's
//       own identifier scheme "ssn" on both sides.
//       FEBRL-style data (rec-N-org / rec-N-dup-K): the originals of even N form the extract;
//       every duplicate is a query. A duplicate of an even N should match its original; one of
//       an odd N has nobody to match, so any match is a false one.
//   match-quality synth DIR [--agencies a,b] [...]
//       mash-synth output: each agency's extract, each referral a query; truth.csv says which
//       agency records are the referral's person.
//
// --min-precision / --min-recall make it exit 1 when the figure falls short (for tests).
#include <algorithm>
#include <chrono>
#include <iterator>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "csv.h"
#include "extract.h"
#include "matcher.h"
#include "test_support.h"

using namespace mash;
using namespace mash::agent;

namespace {

struct Tally {
  uint64_t queries = 0, should_match = 0, true_matches = 0, false_matches = 0, possible = 0,
           possible_with_truth = 0, no_record = 0, missed = 0;
  uint64_t blocked = 0;  // queries whose true record shares a blocking key with them
  std::vector<double> micros;

  void print(const std::string& label, std::ostream& out) const {
    double precision = true_matches + false_matches == 0
                           ? 1.0
                           : static_cast<double>(true_matches) / static_cast<double>(true_matches + false_matches);
    double recall = should_match == 0 ? 1.0 : static_cast<double>(true_matches) / static_cast<double>(should_match);
    std::vector<double> m = micros;
    std::sort(m.begin(), m.end());
    auto pct = [&](double p) { return m.empty() ? 0.0 : m[std::min(m.size() - 1, static_cast<size_t>(p * m.size()))]; };
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "%s: queries %llu, should match %llu; matched right %llu, matched wrong %llu; "
                  "possible %llu (%llu with a true record), no-record %llu\n"
                  "%s: precision %.4f recall %.4f (at the automatic threshold); match time p50 %.0f us p99 %.0f us\n",
                  label.c_str(), (unsigned long long)queries, (unsigned long long)should_match,
                  (unsigned long long)true_matches, (unsigned long long)false_matches, (unsigned long long)possible,
                  (unsigned long long)possible_with_truth, (unsigned long long)no_record, label.c_str(), precision,
                  recall, pct(0.5), pct(0.99));
    out << buf;
    if (blocked > 0) {
      std::snprintf(buf, sizeof buf, "%s: blocking recall %.4f (true record shares a blocking key)\n", label.c_str(),
                    should_match == 0 ? 1.0 : double(blocked) / double(should_match));
      out << buf;
    }
  }
  double precision() const {
    return true_matches + false_matches == 0 ? 1.0 : double(true_matches) / double(true_matches + false_matches);
  }
  double recall() const { return should_match == 0 ? 1.0 : double(true_matches) / double(should_match); }
  void add(const Tally& o) {
    queries += o.queries;
    should_match += o.should_match;
    true_matches += o.true_matches;
    false_matches += o.false_matches;
    possible += o.possible;
    possible_with_truth += o.possible_with_truth;
    no_record += o.no_record;
    blocked += o.blocked;
    micros.insert(micros.end(), o.micros.begin(), o.micros.end());
  }
};

std::string trim(std::string s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.erase(s.begin());
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.pop_back();
  return s;
}

std::vector<std::map<std::string, std::string>> read_csv(const std::filesystem::path& path) {
  auto r = CsvReader::open(path, CsvLimits{});
  if (!r.ok()) throw std::runtime_error(r.error().message);
  std::vector<std::string> header, row;
  auto n = r->next(header);
  if (!n.ok() || *n != CsvReader::Next::kRecord) throw std::runtime_error(path.string() + ": no header");
  for (auto& h : header) h = trim(h);
  std::vector<std::map<std::string, std::string>> rows;
  for (;;) {
    auto k = r->next(row);
    if (!k.ok()) throw std::runtime_error(k.error().message);
    if (*k == CsvReader::Next::kEnd) break;
    if (*k != CsvReader::Next::kRecord) continue;
    std::map<std::string, std::string> m;
    for (size_t i = 0; i < header.size() && i < row.size(); ++i) m[header[i]] = trim(row[i]);
    rows.push_back(std::move(m));
  }
  return rows;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string febrl_date(const std::string& d) {
  if (d.size() != 8) return "";
  std::string iso = d.substr(0, 4) + "-" + d.substr(4, 2) + "-" + d.substr(6, 2);
  return text::parse_ymd(iso) ? iso : "";
}

struct Args {
  MatchThresholds thresholds;
  double min_precision = 0, min_recall = 0;
  std::string febrl_fields = "all";  // --fields names: names and date of birth only
  bool febrl_ssn = false;            // --ssn: soc_sec_id as the agency's own scheme "ssn"
  std::vector<std::string> agencies = {"police", "health", "education", "probation", "housing"};
};

std::unique_ptr<ExtractStore> import(const std::filesystem::path& dir, const std::filesystem::path& persons,
                                     const std::filesystem::path& facts, std::vector<std::string> schemes = {}) {
  auto store = ExtractStore::open(dir, size_t{16} << 30);
  if (!store.ok()) throw std::runtime_error(store.error().message);
  ImportOptions opts;
  opts.persons = persons;
  opts.facts = facts;
  opts.identifier_schemes = std::move(schemes);
  auto t0 = std::chrono::steady_clock::now();
  auto r = import_extract(**store, opts);
  if (!r.ok()) throw std::runtime_error(r.error().message);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (std::getenv("MATCH_QUALITY_DEBUG")) {
    for (size_t i = 0; i < r->problems.size() && i < 20; ++i) std::fprintf(stderr, "problem: %s\n", r->problems[i].c_str());
  }
  std::fprintf(stderr, "imported %llu persons, %llu facts (%llu problems) in %.2f s (read persons %.2f, facts %.2f, write %.2f)\n",
               (unsigned long long)r->persons_imported, (unsigned long long)r->facts_imported,
               (unsigned long long)r->problem_count, s, r->read_persons_seconds, r->read_facts_seconds, r->write_seconds);
  return std::move(store).value();
}

template <typename Fn>
MatchResult timed_match(const Matcher& m, const Txn& txn, const PersonFeatures& f, Tally& t, Fn&&) {
  auto t0 = std::chrono::steady_clock::now();
  auto r = m.match(txn, f);
  t.micros.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  if (!r.ok()) throw std::runtime_error(r.error().message);
  return *r;
}

// A FEBRL address as one line in UK order: the building (address_2), the number and street,
// the suburb as the locality. The state is left out (it is as coarse as a county).
std::string febrl_address(std::map<std::string, std::string>& r) {
  std::string line;
  auto part = [&](const std::string& s) {
    if (s.find_first_not_of(' ') == std::string::npos) return;
    if (!line.empty()) line += ", ";
    line += s;
  };
  part(r["address_2"]);
  std::string number = r["street_number"];
  part((number.find_first_not_of(' ') == std::string::npos ? "" : number + " ") + r["address_1"]);
  part(r["suburb"]);
  return line;
}

PersonDetails febrl_details(std::map<std::string, std::string>& r, const Args& args) {
  PersonDetails d;
  d.forenames = r["given_name"];
  d.surname = r["surname"];
  d.date_of_birth = febrl_date(r["date_of_birth"]);
  if (args.febrl_fields == "all") {
    d.address = febrl_address(r);
    d.postcode = r["postcode"];
  }
  if (args.febrl_ssn && r["soc_sec_id"].find_first_not_of(' ') != std::string::npos) {
    d.identifiers.emplace_back("ssn", r["soc_sec_id"]);
  }
  return d;
}

Tally run_febrl(const std::filesystem::path& file, const Args& args) {
  auto rows = read_csv(file);
  mash::testing::TempDir dir;
  std::string persons = "person_id,forenames,surname,date_of_birth,address,postcode,identifiers\n";
  std::vector<std::map<std::string, std::string>> queries;
  std::set<std::string> present;
  for (auto& r : rows) {
    const std::string& id = r["rec_id"];  // rec-N-org | rec-N-dup-K
    auto dash = id.find('-', 4);
    std::string n = id.substr(4, dash - 4);
    bool org = id.find("-org") != std::string::npos;
    if (org && std::stoi(n) % 2 == 0) {
      PersonDetails d = febrl_details(r, args);
      persons += "rec-" + n + "," + csv_field(d.forenames) + "," + csv_field(d.surname) + "," + d.date_of_birth +
                 "," + csv_field(d.address) + "," + csv_field(d.postcode) + "," +
                 csv_field(d.identifiers.empty() ? "" : "ssn:" + d.identifiers[0].second) + "\n";
      present.insert("rec-" + n);
    } else if (!org) {
      queries.push_back(r);
    }
  }
  mash::testing::write_file(dir.path() / "persons.csv", persons);
  mash::testing::write_file(dir.path() / "facts.csv", "person_id,field,value\n");
  auto store = import(dir.path() / "extract", dir.path() / "persons.csv", dir.path() / "facts.csv",
                      args.febrl_ssn ? std::vector<std::string>{"ssn"} : std::vector<std::string>{});
  Matcher matcher(*store, args.thresholds);
  auto txn = store->begin_read();
  Tally t;
  for (auto& q : queries) {
    const std::string& id = q["rec_id"];
    std::string truth = "rec-" + id.substr(4, id.find('-', 4) - 4);
    bool held = present.count(truth) > 0;
    auto f = make_features("q", febrl_details(q, args));
    auto r = timed_match(matcher, *txn, f, t, 0);
    ++t.queries;
    t.should_match += held ? 1 : 0;
    if (held) {
      auto record = store->person(*txn, truth);
      if (!record.ok() || !*record) throw std::runtime_error("the true record is missing from the extract");
      auto qk = blocking_keys(f), rk = blocking_keys(**record);
      std::vector<std::string> shared;
      std::set_intersection(qk.begin(), qk.end(), rk.begin(), rk.end(), std::back_inserter(shared));
      t.blocked += shared.empty() ? 0 : 1;
      bool right = r.outcome == MatchOutcome::kMatched && r.person_ids.size() == 1 && r.person_ids[0] == truth;
      if (!right && std::getenv("MATCH_QUALITY_DEBUG")) {
        std::vector<Evidence> ev;
        double s = matcher.score(f, **record, 0, 0, 0, &ev);
        std::cerr << "MISS " << id << " " << outcome_name(r.outcome) << "/" << r.basis << " keys " << shared.size()
                  << " true score " << s << ":";
        for (const auto& e : ev) std::cerr << " " << e.field << "=" << e.level << "(" << e.weight << ")";
        std::cerr << "\n   query: " << q["given_name"] << "|" << q["surname"] << "|" << q["date_of_birth"] << "|"
                  << febrl_address(q) << "|" << q["postcode"] << "\n";
      }
    }
    if (r.outcome == MatchOutcome::kMatched) {
      bool right = held && r.person_ids.size() == 1 && r.person_ids[0] == truth;
      (right ? t.true_matches : t.false_matches)++;
    } else if (r.outcome == MatchOutcome::kPossible) {
      ++t.possible;
      t.possible_with_truth += held ? 1 : 0;
    } else {
      ++t.no_record;
    }
  }
  return t;
}

Tally run_synth(const std::filesystem::path& dir, const Args& args) {
  // agency -> person_id -> true_id
  std::map<std::string, std::unordered_map<std::string, std::string>> truth;
  std::map<std::string, std::set<std::string>> held;  // agency -> true ids held
  for (auto& r : read_csv(dir / "truth.csv")) {
    truth[r["agency"]][r["person_id"]] = r["true_id"];
    if (!r["true_id"].empty()) held[r["agency"]].insert(r["true_id"]);
  }
  auto referrals = read_csv(dir / "referrals.csv");
  Tally all;
  for (const auto& agency : args.agencies) {
    if (!std::filesystem::exists(dir / agency / "persons.csv")) continue;
    mash::testing::TempDir tmp;
    auto store = import(tmp.path() / "extract", dir / agency / "persons.csv", dir / agency / "facts.csv");
    Matcher matcher(*store, args.thresholds);
    auto txn = store->begin_read();
    Tally t;
    for (auto& q : referrals) {
      std::vector<std::pair<std::string, std::string>> ids;
      for (const char* s : {"nhs", "upn", "pnc"}) {
        if (!q[s].empty()) ids.emplace_back(s, q[s]);
      }
      PersonDetails d;
      d.forenames = q["forenames"];
      d.surname = q["surname"];
      d.date_of_birth = q["date_of_birth"];
      d.gender = q["gender"];
      d.address = q["address"];
      d.postcode = q["postcode"];
      d.identifiers = std::move(ids);
      auto f = make_features("q", d);
      auto r = timed_match(matcher, *txn, f, t, 0);
      const std::string& true_id = q["true_id"];
      bool is_held = held[agency].count(true_id) > 0;
      ++t.queries;
      t.should_match += is_held ? 1 : 0;
      if (r.outcome == MatchOutcome::kMatched) {
        bool right = !r.person_ids.empty();
        for (const auto& pid : r.person_ids) right = right && truth[agency][pid] == true_id;
        (right ? t.true_matches : t.false_matches)++;
        if (!right && std::getenv("MATCH_QUALITY_DEBUG")) {
          std::cerr << "WRONG " << agency << " query " << q["forenames"] << " " << q["surname"] << " " << q["date_of_birth"]
                    << " " << q["postcode"] << " (" << true_id << ") -> " << r.person_ids[0] << " ("
                    << truth[agency][r.person_ids[0]] << ") score " << r.score << ":";
          for (const auto& e : r.top[0].evidence) std::cerr << " " << e.field << "=" << e.level << "(" << e.weight << ")";
          std::cerr << "\n";
        }
      } else if (r.outcome == MatchOutcome::kPossible) {
        ++t.possible;
        t.possible_with_truth += is_held ? 1 : 0;
      } else {
        ++t.no_record;
      }
    }
    t.print(agency, std::cout);
    all.add(t);
  }
  return all;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: match-quality febrl FILE | synth DIR [--automatic N] [--review N] [--margin N]\n"
                 "       [--agencies a,b,...] [--min-precision P] [--min-recall R]\n";
    return 2;
  }
  std::string mode = argv[1];
  std::filesystem::path input = argv[2];
  Args args;
  for (int i = mode == "import" ? argc : 3; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--automatic") args.thresholds.automatic = std::stod(v);
    else if (k == "--review") args.thresholds.review = std::stod(v);
    else if (k == "--margin") args.thresholds.margin = std::stod(v);
    else if (k == "--fields" && (v == "all" || v == "names")) args.febrl_fields = v;
    else if (k == "--ssn" && (v == "yes" || v == "no")) args.febrl_ssn = v == "yes";
    else if (k == "--max-block") args.thresholds.max_block = std::stoul(v);
    else if (k == "--score-all-below") args.thresholds.score_all_below = std::stoul(v);
    else if (k == "--min-precision") args.min_precision = std::stod(v);
    else if (k == "--min-recall") args.min_recall = std::stod(v);
    else if (k == "--agencies") {
      args.agencies.clear();
      size_t start = 0;
      while (start <= v.size()) {
        size_t end = v.find(',', start);
        if (end == std::string::npos) end = v.size();
        args.agencies.push_back(v.substr(start, end - start));
        start = end + 1;
      }
    } else {
      std::cerr << "match-quality: unknown option " << k << "\n";
      return 2;
    }
  }
  try {
    if (mode == "import") {  // match-quality import PERSONS FACTS: the import alone, for profiling
      mash::testing::TempDir tmp;
      import(tmp.path() / "extract", input, argv[3]);
      return 0;
    }
    Tally t = mode == "febrl" ? run_febrl(input, args) : run_synth(input, args);
    t.print(mode == "febrl" ? "febrl" : "all agencies", std::cout);
    if (t.precision() < args.min_precision || t.recall() < args.min_recall) {
      std::cout << "below the required precision " << args.min_precision << " / recall " << args.min_recall << "\n";
      return 1;
    }
  } catch (const std::exception& e) {
    std::cerr << "match-quality: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
