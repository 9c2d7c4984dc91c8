// The data protection officer's tools over the audit store: see audit_tools.h.
#include "audit_tools.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <iterator>
#include <set>
#include <tuple>
#include <utility>

#include "clock.h"

namespace mash::broker {

namespace {

constexpr int64_t kDayMs = 86'400'000;
// The last millisecond parse_audit_time accepts (9999-12-31T23:59:59.999Z).
constexpr int64_t kMaxTimeMs = 253'402'300'799'999;

bool parse_digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

// A query with its times parsed.
struct Conditions {
  std::optional<std::vector<std::string>> persons;  // sorted
  std::string user, agency, case_ref, enquiry, type;
  std::optional<int64_t> from_ms, to_ms;
};

Result<Conditions> conditions_of(const AuditQuery& q) {
  Conditions c;
  if (q.persons) {
    if (q.persons->empty()) {
      return make_error(ErrorCode::kInvalidArgument,
                        "a person search needs at least one pseudonym (the details gave none)");
    }
    if (q.persons->size() > kMaxQueryPseudonyms) {
      return make_error(ErrorCode::kInvalidArgument, "too many pseudonyms for one person");
    }
    c.persons = *q.persons;
    std::sort(c.persons->begin(), c.persons->end());
    c.persons->erase(std::unique(c.persons->begin(), c.persons->end()), c.persons->end());
  }
  c.user = q.user;
  c.agency = q.agency;
  c.case_ref = q.case_ref;
  c.enquiry = q.enquiry;
  c.type = q.type;
  if (!q.from.empty()) {
    auto t = parse_audit_time(q.from, TimeBound::kFrom);
    if (!t.ok()) return t.error();
    c.from_ms = *t;
  }
  if (!q.to.empty()) {
    auto t = parse_audit_time(q.to, TimeBound::kTo);
    if (!t.ok()) return t.error();
    c.to_ms = *t;
  }
  if (c.from_ms && c.to_ms && *c.from_ms > *c.to_ms) {
    return make_error(ErrorCode::kInvalidArgument, "the time range ends before it starts");
  }
  return c;
}

bool names_any(const AuditEvent& e, const std::vector<std::string>& sorted_pseudonyms) {
  return std::any_of(e.subjects.begin(), e.subjects.end(), [&](const std::string& s) {
    return std::binary_search(sorted_pseudonyms.begin(), sorted_pseudonyms.end(), s);
  });
}

bool matches(const AuditEvent& e, const Conditions& c) {
  if (c.persons && !names_any(e, *c.persons)) return false;
  if (!c.user.empty() && e.actor != c.user) return false;
  if (!c.agency.empty() && e.agency != c.agency) return false;
  if (!c.case_ref.empty() && e.case_ref != c.case_ref) return false;
  if (!c.enquiry.empty() && e.enquiry != c.enquiry) return false;
  if (!c.type.empty() && e.type != c.type) return false;
  if (c.from_ms && e.time_ms < *c.from_ms) return false;
  if (c.to_ms && e.time_ms > *c.to_ms) return false;
  return true;
}

Result<AuditEvent> load_event(const AuditReader& reader, uint64_t index) {
  auto rec = reader.record(index);
  if (!rec.ok()) return rec.error();
  auto e = event_from_record(*rec);
  if (!e.ok()) {
    return make_error(ErrorCode::kDataLoss, "audit record " + std::to_string(index) +
                                                " is not an audit event: " + e.error().message);
  }
  return e;
}

// One index lookup: the ids of records whose key matches, asked for at most `limit` (it may return
// more, which means "more than limit").
using Lookup = std::function<Result<std::vector<uint64_t>>(size_t limit)>;

std::vector<Lookup> lookups_for(const AuditReader& reader, const Conditions& c) {
  std::vector<Lookup> out;
  // Roughly most selective first: a person, a case, an enquiry, a user, an agency, a type.
  if (c.persons) {
    out.push_back([&reader, &c](size_t limit) -> Result<std::vector<uint64_t>> {
      std::vector<uint64_t> all;
      for (const auto& p : *c.persons) {
        auto ids = reader.find("subject", p, limit);
        if (!ids.ok()) return ids.error();
        all.insert(all.end(), ids->begin(), ids->end());
      }
      std::sort(all.begin(), all.end());
      all.erase(std::unique(all.begin(), all.end()), all.end());
      return all;
    });
  }
  for (auto [name, value] : {std::pair<const char*, const std::string*>{"case", &c.case_ref},
                             {"enquiry", &c.enquiry},
                             {"actor", &c.user},
                             {"agency", &c.agency},
                             {"type", &c.type}}) {
    if (value->empty()) continue;
    out.push_back([&reader, name = std::string(name), value](size_t limit) {
      return reader.find(name, *value, limit);
    });
  }
  if (c.from_ms || c.to_ms) {
    std::string from = iso_time(c.from_ms.value_or(0));
    std::string to = iso_time(c.to_ms.value_or(kMaxTimeMs));
    out.push_back([&reader, from, to](size_t limit) -> Result<std::vector<uint64_t>> {
      auto ids = reader.find_range("time", from, to, limit);
      if (!ids.ok()) return ids.error();
      std::sort(ids->begin(), ids->end());  // find_range gives time order
      return ids;
    });
  }
  return out;
}

std::vector<uint64_t> intersect(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  std::vector<uint64_t> out;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

// The records that can match, in log order. Each lookup is asked for at most as many ids as the
// best (smallest complete) candidate set so far: a longer list cannot narrow it, and its
// condition is checked on the parsed event instead. When even the first list is longer than
// scan_limit, its first scan_limit ids are used and the result is incomplete.
struct Candidates {
  bool all = false;  // no index condition: every record
  std::vector<uint64_t> ids;
  bool complete = true;
};

Result<Candidates> candidates_for(const AuditReader& reader, const Conditions& c,
                                  size_t scan_limit) {
  std::optional<std::vector<uint64_t>> best, cut;
  for (const auto& lookup : lookups_for(reader, c)) {
    size_t cap = best ? best->size() : scan_limit;
    auto ids = lookup(cap + 1);
    if (!ids.ok()) return ids.error();
    if (ids->size() <= cap) {
      best = best ? intersect(*best, *ids) : std::move(*ids);
      if (best->empty()) break;
    } else if (!best && !cut) {
      cut = std::move(*ids);
      cut->resize(scan_limit);
    }
  }
  Candidates out;
  if (best) {
    out.ids = std::move(*best);
  } else if (cut) {
    out.ids = std::move(*cut);
    out.complete = false;
  } else {
    out.all = true;
  }
  // Only what the reader's snapshot holds.
  const uint64_t size = reader.size();
  out.ids.erase(
      std::remove_if(out.ids.begin(), out.ids.end(), [size](uint64_t i) { return i >= size; }),
      out.ids.end());
  return out;
}

// Calls fn for every matching event in log order until fn returns false. *incomplete is set when
// an index lookup was cut by scan_limit (matches beyond the cut are not seen).
Status for_each_match(const AuditReader& reader, const Conditions& c, size_t scan_limit,
                      bool* incomplete, const std::function<bool(uint64_t, AuditEvent&&)>& fn) {
  auto cand = candidates_for(reader, c, scan_limit);
  if (!cand.ok()) return cand.error();
  if (!cand->complete) *incomplete = true;
  auto visit = [&](uint64_t i) -> Result<bool> {
    auto e = load_event(reader, i);
    if (!e.ok()) return e.error();
    if (!matches(*e, c)) return true;
    return fn(i, std::move(e).value());
  };
  if (cand->all) {
    for (uint64_t i = 0; i < reader.size(); ++i) {
      auto go = visit(i);
      if (!go.ok()) return go.error();
      if (!*go) break;
    }
  } else {
    for (uint64_t i : cand->ids) {
      auto go = visit(i);
      if (!go.ok()) return go.error();
      if (!*go) break;
    }
  }
  return {};
}

Result<EventList> run_search(const AuditReader& reader, const Conditions& c, size_t limit,
                             size_t scan_limit) {
  if (limit == 0 || scan_limit == 0) {
    return make_error(ErrorCode::kInvalidArgument, "limits must be at least 1");
  }
  EventList out;
  auto st = for_each_match(reader, c, scan_limit, &out.truncated, [&](uint64_t i, AuditEvent&& e) {
    if (out.events.size() == limit) {
      out.truncated = true;
      return false;
    }
    out.events.push_back({i, std::move(e)});
    return true;
  });
  if (!st.ok()) return st.error();
  return out;
}

Status require_range(std::string_view from, std::string_view to) {
  if (from.empty() || to.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "a time range needs both from and to");
  }
  return {};
}

}  // namespace

// ---------------------------------------------------------------------------------------------

Result<int64_t> parse_audit_time(std::string_view text, TimeBound bound) {
  const std::string shown(text.substr(0, 64));
  auto fail = [&](const std::string& why = "") {
    return make_error(ErrorCode::kInvalidArgument,
                      "'" + shown + "' is not a UTC time (YYYY-MM-DD[THH:MM[:SS[.mmm]]][Z])" + why);
  };
  std::string_view s = text;
  if (!s.empty() && s.back() == 'Z') s.remove_suffix(1);
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, frac = 0;
  int64_t span = kDayMs;  // how much the written precision covers
  if (s.size() < 10 || !parse_digits(s, 0, 4, year) || s[4] != '-' ||
      !parse_digits(s, 5, 2, month) || s[7] != '-' || !parse_digits(s, 8, 2, day)) {
    return fail();
  }
  if (s.size() > 10) {
    if (s.size() < 16 || s[10] != 'T' || !parse_digits(s, 11, 2, hour) || s[13] != ':' ||
        !parse_digits(s, 14, 2, minute)) {
      return fail();
    }
    span = 60'000;
    if (s.size() > 16) {
      if (s.size() < 19 || s[16] != ':' || !parse_digits(s, 17, 2, second)) return fail();
      span = 1000;
      if (s.size() > 19) {
        size_t n = s.size() - 20;
        if (s[19] != '.' || n < 1 || n > 3 || !parse_digits(s, 20, n, frac)) return fail();
        span = n == 1 ? 100 : n == 2 ? 10 : 1;
        frac *= static_cast<int>(span);
      }
    }
  }
  if (hour > 23 || minute > 59 || second > 59) return fail();
  if (year < 1970) return fail(": the year must be 1970 or later");
  std::chrono::year_month_day ymd{std::chrono::year{year},
                                  std::chrono::month{static_cast<unsigned>(month)},
                                  std::chrono::day{static_cast<unsigned>(day)}};
  if (!ymd.ok()) return fail(": no such date");
  int64_t days = std::chrono::sys_days(ymd).time_since_epoch().count();
  int64_t t = days * kDayMs + hour * int64_t{3'600'000} + minute * int64_t{60'000} +
              second * int64_t{1000} + frac;
  return bound == TimeBound::kFrom ? t : t + span - 1;
}

Result<EventList> search(const AuditReader& reader, const AuditQuery& query) {
  auto c = conditions_of(query);
  if (!c.ok()) return c.error();
  return run_search(reader, *c, query.limit, query.scan_limit);
}

Result<EventList> case_timeline(const AuditReader& reader, std::string_view case_ref,
                                size_t limit) {
  if (case_ref.empty())
    return make_error(ErrorCode::kInvalidArgument, "a case reference is required");
  Conditions c;
  c.case_ref = std::string(case_ref);
  auto own = run_search(reader, c, limit, kDefaultAuditScanLimit);
  if (!own.ok()) return own.error();
  std::map<uint64_t, AuditEvent> all;
  std::set<std::string> enquiries;
  bool truncated = own->truncated;
  for (auto& ie : own->events) {
    if (!ie.event.enquiry.empty()) enquiries.insert(ie.event.enquiry);
    all.emplace(ie.index, std::move(ie.event));
  }
  for (const auto& id : enquiries) {
    Conditions ec;
    ec.enquiry = id;
    auto more = run_search(reader, ec, limit, kDefaultAuditScanLimit);
    if (!more.ok()) return more.error();
    truncated = truncated || more->truncated;
    for (auto& ie : more->events) {
      // Events of the enquiry that name no case; one naming another case is not this case's.
      if (ie.event.case_ref.empty()) all.emplace(ie.index, std::move(ie.event));
    }
  }
  EventList out;
  out.truncated = truncated;
  for (auto& [i, e] : all) {
    if (out.events.size() == limit) {
      out.truncated = true;
      break;
    }
    out.events.push_back({i, std::move(e)});
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

Result<SubjectAccessReport> subject_access_report(const AuditReader& reader,
                                                  const std::vector<std::string>& pseudonyms,
                                                  size_t limit) {
  AuditQuery q;
  q.persons = pseudonyms;
  q.limit = limit;
  auto c = conditions_of(q);
  if (!c.ok()) return c.error();
  const std::vector<std::string>& person = *c->persons;

  auto hits = run_search(reader, *c, limit, kDefaultAuditScanLimit);
  if (!hits.ok()) return hits.error();
  SubjectAccessReport report;
  report.truncated = hits->truncated;

  std::set<std::string> enquiries, cases;
  for (auto& ie : hits->events) {
    const auto& e = ie.event;
    if ((e.type == "enquiry.created" || e.type == "answer.received") && !e.enquiry.empty()) {
      enquiries.insert(e.enquiry);
      if (!e.case_ref.empty()) cases.insert(e.case_ref);
    } else {
      report.other.push_back(std::move(ie));
    }
  }

  using Key = std::pair<std::string, std::string>;  // (enquiry, agency)
  std::map<Key, SarAccess> accesses;
  std::map<Key, int64_t> delivered;
  std::map<uint64_t, SarView> views;
  auto access_for = [&](const AuditEvent& e) -> SarAccess& {
    auto [it, fresh] = accesses.try_emplace(Key{e.enquiry, e.agency});
    if (fresh) {
      it->second.enquiry = e.enquiry;
      it->second.agency = e.agency;
      it->second.case_ref = e.case_ref;
      it->second.time_ms = e.time_ms;
    }
    return it->second;
  };
  auto add_view = [&](uint64_t index, const AuditEvent& e) {
    views.emplace(index, SarView{index, e.time_ms, e.type, e.actor, e.role, e.case_ref, e.enquiry});
  };

  // The person's pseudonyms as enquiry.created names each subject's ("ref.<ref>": the first 16
  // hex digits of each of its pseudonyms).
  std::set<std::string> person_prefixes;
  for (const auto& p : person) {
    auto colon = p.find(':');
    if (colon != std::string::npos) person_prefixes.insert(p.substr(colon + 1, 16));
  }
  for (const auto& id : enquiries) {
    std::set<std::string> refs;  // this person's subject refs in this enquiry
    Conditions ec;
    ec.enquiry = id;
    auto events = run_search(reader, ec, limit, kDefaultAuditScanLimit);
    if (!events.ok()) return events.error();
    report.truncated = report.truncated || events->truncated;
    for (const auto& [index, e] : events->events) {
      if (e.type == "enquiry.created") {
        if (!names_any(e, person)) continue;  // sent about others only
        for (const auto& [k, v] : e.extra) {
          if (k.rfind("ref.", 0) != 0) continue;
          std::string_view rest = v;
          while (!rest.empty()) {
            auto plus = rest.find('+');
            if (person_prefixes.count(std::string(rest.substr(0, plus)))) refs.insert(k.substr(4));
            rest = plus == std::string_view::npos ? std::string_view() : rest.substr(plus + 1);
          }
        }
        // The hub records one enquiry.created for all its agencies (extra "agencies" =
        // "police+health", fields prefixed by agency); a record may also name one agency.
        std::vector<std::string> agencies;
        auto listed = e.extra.find("agencies");
        if (e.agency.empty() && listed != e.extra.end()) {
          std::string_view rest = listed->second;
          while (!rest.empty()) {
            auto plus = rest.find('+');
            agencies.emplace_back(rest.substr(0, plus));
            rest = plus == std::string_view::npos ? std::string_view() : rest.substr(plus + 1);
          }
        } else {
          agencies.push_back(e.agency);
        }
        for (const auto& agency : agencies) {
          AuditEvent per = e;
          per.agency = agency;
          SarAccess& a = access_for(per);
          if (a.request_index) continue;  // the first request for this agency stands
          a.request_index = index;
          a.time_ms = e.time_ms;
          if (a.case_ref.empty()) a.case_ref = e.case_ref;
          a.actor = e.actor;
          a.role = e.role;
          a.purpose = e.purpose;
          a.legal_basis = e.legal_basis;
          a.consent = e.consent;
          a.brag = e.brag;
          auto d = e.extra.find("decision");
          a.decision = d != e.extra.end() ? d->second : e.outcome;
          a.fields_requested.clear();
          for (const auto& f : e.fields) {
            if (agencies.size() == 1 || f.rfind(agency + ".", 0) == 0) a.fields_requested.push_back(f);
          }
        }
      } else if (e.type == "enquiry.delivered") {
        auto [it, fresh] = delivered.try_emplace(Key{e.enquiry, e.agency}, e.time_ms);
        if (!fresh) it->second = std::min(it->second, e.time_ms);
      } else if (e.type == "answer.received") {
        // An answer about someone else in the same enquiry is not this person's data.
        if (!e.subjects.empty() && !names_any(e, person)) continue;
        SarAccess& a = access_for(e);
        // The outcome for this person: the best of the outcomes for their subject refs (the
        // same person may be named twice in one enquiry).
        std::string mine;
        for (const auto& ref : refs) {
          auto o = e.extra.find("subject." + ref);
          if (o == e.extra.end()) continue;
          if (mine.empty() || (o->second == "matched") || (o->second == "possible" && mine == "no-record")) mine = o->second;
        }
        a.answers.push_back({index, e.time_ms, e.outcome, mine, e.fields, e.restricted});
      } else if (e.type == "results.viewed" || e.type == "results.exported") {
        add_view(index, e);
      }
    }
  }
  // Views of a whole case (no enquiry named) show this person's answers too.
  for (const auto& case_ref : cases) {
    for (const char* type : {"results.viewed", "results.exported"}) {
      Conditions vc;
      vc.case_ref = case_ref;
      vc.type = type;
      auto events = run_search(reader, vc, limit, kDefaultAuditScanLimit);
      if (!events.ok()) return events.error();
      report.truncated = report.truncated || events->truncated;
      for (const auto& [index, e] : events->events) {
        if (e.enquiry.empty()) add_view(index, e);
      }
    }
  }

  for (auto& [key, a] : accesses) {
    auto d = delivered.find(key);
    if (d != delivered.end()) a.delivered_ms = d->second;
    std::sort(a.answers.begin(), a.answers.end(),
              [](const SarAnswer& x, const SarAnswer& y) { return x.index < y.index; });
    if (!a.request_index && !a.answers.empty()) a.time_ms = a.answers.front().time_ms;
    report.accesses.push_back(std::move(a));
  }
  auto first_index = [](const SarAccess& a) {
    return a.request_index ? *a.request_index : a.answers.empty() ? 0 : a.answers.front().index;
  };
  std::sort(report.accesses.begin(), report.accesses.end(),
            [&](const SarAccess& x, const SarAccess& y) {
              return std::tuple(x.time_ms, first_index(x)) < std::tuple(y.time_ms, first_index(y));
            });
  for (auto& [i, v] : views) report.views.push_back(std::move(v));
  return report;
}

// ---------------------------------------------------------------------------------------------

Result<AccessStatistics> access_statistics(const AuditReader& reader, std::string_view from,
                                           std::string_view to, size_t scan_limit) {
  if (auto st = require_range(from, to); !st.ok()) return st.error();
  AuditQuery q;
  q.from = std::string(from);
  q.to = std::string(to);
  auto c = conditions_of(q);
  if (!c.ok()) return c.error();
  if (scan_limit == 0) return make_error(ErrorCode::kInvalidArgument, "limits must be at least 1");
  AccessStatistics stats;
  stats.from_ms = *c->from_ms;
  stats.to_ms = *c->to_ms;
  auto st = for_each_match(reader, *c, scan_limit, &stats.truncated, [&](uint64_t, AuditEvent&& e) {
    if (stats.events == scan_limit) {
      stats.truncated = true;
      return false;
    }
    ++stats.events;
    ++stats.by_type[e.type];
    if (!e.actor.empty()) ++stats.by_user[e.actor][e.type];
    if (!e.agency.empty()) ++stats.by_agency[e.agency][e.type];
    return true;
  });
  if (!st.ok()) return st.error();
  return stats;
}

// ---------------------------------------------------------------------------------------------

namespace {

// One enquiry as its enquiry.created events (one per agency asked) show it.
struct EnquirySeen {
  int64_t time_ms = 0;  // the first event's
  uint64_t first_index = 0;
  std::string actor, case_ref, enquiry;
  std::vector<uint64_t> indexes;
};

// The window of at most `window_ms` (as [t, t + window_ms)) over enquiries sorted by time in
// which `weight` of the included enquiries is greatest; the earliest such window wins.
struct Window {
  size_t first = 0, last = 0;  // inclusive
  uint64_t count = 0;
};

Window busiest_window(const std::vector<const EnquirySeen*>& seq, int64_t window_ms,
                      bool distinct_cases) {
  Window best;
  std::map<std::string, uint64_t> cases;
  size_t i = 0;
  for (size_t j = 0; j < seq.size(); ++j) {
    if (distinct_cases && !seq[j]->case_ref.empty()) ++cases[seq[j]->case_ref];
    while (seq[j]->time_ms - seq[i]->time_ms >= window_ms) {
      if (distinct_cases && !seq[i]->case_ref.empty()) {
        auto it = cases.find(seq[i]->case_ref);
        if (--it->second == 0) cases.erase(it);
      }
      ++i;
    }
    uint64_t count = distinct_cases ? cases.size() : j - i + 1;
    if (count > best.count) best = {i, j, count};
  }
  return best;
}

std::vector<uint64_t> evidence_of(const std::vector<const EnquirySeen*>& seq, size_t first,
                                  size_t last) {
  std::vector<uint64_t> out;
  for (size_t k = first; k <= last; ++k)
    out.insert(out.end(), seq[k]->indexes.begin(), seq[k]->indexes.end());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

Result<PatternReport> unusual_patterns(const AuditReader& reader, std::string_view from,
                                       std::string_view to, const PatternThresholds& thresholds,
                                       size_t scan_limit) {
  if (auto st = require_range(from, to); !st.ok()) return st.error();
  if (thresholds.person_window_days < 1 || thresholds.decision_days < 0) {
    return make_error(ErrorCode::kInvalidArgument, "pattern windows must be positive");
  }
  AuditQuery query;
  query.from = std::string(from);
  query.to = std::string(to);
  query.type = "enquiry.created";
  auto c = conditions_of(query);
  if (!c.ok()) return c.error();
  if (scan_limit == 0) return make_error(ErrorCode::kInvalidArgument, "limits must be at least 1");
  const int64_t to_ms = *c->to_ms;

  PatternReport report;
  std::map<std::string, EnquirySeen> enquiries;  // by enquiry id (or "#index" without one)
  std::map<std::string, std::map<std::string, std::vector<uint64_t>>>
      by_person;  // pseudonym -> enquiry -> indexes
  uint64_t seen = 0;
  auto st =
      for_each_match(reader, *c, scan_limit, &report.truncated, [&](uint64_t i, AuditEvent&& e) {
        if (seen == scan_limit) {
          report.truncated = true;
          return false;
        }
        ++seen;
        std::string key = e.enquiry.empty() ? "#" + std::to_string(i) : e.enquiry;
        auto [it, fresh] = enquiries.try_emplace(key);
        EnquirySeen& q = it->second;
        if (fresh || std::tuple(e.time_ms, i) < std::tuple(q.time_ms, q.first_index)) {
          q.time_ms = e.time_ms;
          q.first_index = i;
          q.actor = e.actor;
          q.case_ref = e.case_ref;
          q.enquiry = e.enquiry;
        }
        q.indexes.push_back(i);
        for (const auto& s : e.subjects) by_person[s][key].push_back(i);
        return true;
      });
  if (!st.ok()) return st.error();

  // A user creating more than N enquiries in a UTC day.
  std::map<std::pair<std::string, std::string>, std::vector<const EnquirySeen*>> per_user_day;
  for (const auto& [key, q] : enquiries) {
    per_user_day[{q.actor, iso_time(q.time_ms).substr(0, 10)}].push_back(&q);
  }
  for (const auto& [user_day, list] : per_user_day) {
    if (list.size() <= thresholds.enquiries_per_user_day) continue;
    PatternFlag f;
    f.code = kFlagUserEnquiriesPerDay;
    f.user = user_day.first;
    f.day = user_day.second;
    f.count = list.size();
    f.threshold = thresholds.enquiries_per_user_day;
    f.window_from_ms = *parse_audit_time(f.day, TimeBound::kFrom);
    f.window_to_ms = *parse_audit_time(f.day, TimeBound::kTo);
    f.evidence = evidence_of(list, 0, list.size() - 1);
    report.flags.push_back(std::move(f));
  }

  // The same pseudonym in more than M cases or K enquiries within the window.
  const int64_t window_ms = thresholds.person_window_days * kDayMs;
  std::map<std::tuple<std::string, std::vector<uint64_t>>, PatternFlag> person_flags;
  for (const auto& [pseudonym, mine] : by_person) {
    std::vector<EnquirySeen> own;  // this person's view: only the events that name them
    own.reserve(mine.size());
    for (const auto& [key, indexes] : mine) {
      EnquirySeen e = enquiries.at(key);
      e.indexes = indexes;
      own.push_back(std::move(e));
    }
    std::vector<const EnquirySeen*> seq;
    for (const auto& e : own) seq.push_back(&e);
    std::sort(seq.begin(), seq.end(), [](const EnquirySeen* x, const EnquirySeen* y) {
      return std::tuple(x->time_ms, x->first_index) < std::tuple(y->time_ms, y->first_index);
    });
    for (bool by_case : {true, false}) {
      uint64_t limit = by_case ? thresholds.cases_per_person : thresholds.enquiries_per_person;
      Window w = busiest_window(seq, window_ms, by_case);
      if (w.count <= limit) continue;
      PatternFlag f;
      f.code = by_case ? kFlagPersonManyCases : kFlagPersonManyEnquiries;
      f.count = w.count;
      f.threshold = limit;
      f.window_from_ms = seq[w.first]->time_ms;
      f.window_to_ms = seq[w.last]->time_ms;
      f.evidence = evidence_of(seq, w.first, w.last);
      auto [it, fresh] = person_flags.try_emplace({f.code, f.evidence}, f);
      it->second.persons.push_back(pseudonym);
    }
  }
  for (auto& [key, f] : person_flags) report.flags.push_back(std::move(f));

  // Enquiries whose case has no decision within D days, judged at `to`.
  const int64_t due_ms = thresholds.decision_days * kDayMs;
  std::map<std::string, std::vector<int64_t>> decisions;  // case -> decision times
  for (const auto& [key, q] : enquiries) {
    int64_t deadline = q.time_ms + due_ms;
    if (deadline > to_ms) continue;  // not due yet
    bool decided = false;
    if (!q.case_ref.empty()) {
      auto it = decisions.find(q.case_ref);
      if (it == decisions.end()) {
        Conditions dc;
        dc.case_ref = q.case_ref;
        dc.type = "decision.recorded";
        dc.to_ms = to_ms;
        std::vector<int64_t> times;
        bool cut = false;
        auto ds = for_each_match(reader, dc, scan_limit, &cut, [&](uint64_t, AuditEvent&& e) {
          times.push_back(e.time_ms);
          return true;
        });
        if (!ds.ok()) return ds.error();
        report.truncated = report.truncated || cut;
        it = decisions.emplace(q.case_ref, std::move(times)).first;
      }
      decided = std::any_of(it->second.begin(), it->second.end(),
                            [&](int64_t t) { return t >= q.time_ms && t <= deadline; });
    }
    if (decided) continue;
    PatternFlag f;
    f.code = kFlagNoDecision;
    f.user = q.actor;
    f.case_ref = q.case_ref;
    f.enquiry = q.enquiry;
    f.count = static_cast<uint64_t>((to_ms - q.time_ms) / kDayMs);
    f.threshold = static_cast<uint64_t>(thresholds.decision_days);
    f.window_from_ms = q.time_ms;
    f.window_to_ms = deadline;
    f.evidence = q.indexes;
    std::sort(f.evidence.begin(), f.evidence.end());
    report.flags.push_back(std::move(f));
  }

  std::sort(report.flags.begin(), report.flags.end(),
            [](const PatternFlag& x, const PatternFlag& y) {
              uint64_t xi = x.evidence.empty() ? 0 : x.evidence.front();
              uint64_t yi = y.evidence.empty() ? 0 : y.evidence.front();
              return std::tuple(x.code, xi) < std::tuple(y.code, yi);
            });
  return report;
}

}  // namespace mash::broker
