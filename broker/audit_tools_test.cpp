// Tests for audit_tools.h on synthetic audit stores (real LMDB in a temporary folder): search
// conditions and time ranges, case timelines, the subject access report, statistics, and the
// unusual-pattern flags exactly at their thresholds.
#include "audit_tools.h"

#include <catch2/catch.hpp>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "clock.h"
#include "test_support.h"

using namespace mash;
using namespace mash::broker;
using mash::testing::TempDir;

namespace {

constexpr int64_t kMinute = 60'000;
constexpr int64_t kDay = 86'400'000;

// Throws (failing the test) on a malformed time; usable before any test runs.
int64_t at(const char* iso) { return parse_audit_time(iso, TimeBound::kFrom).value(); }

// A synthetic pseudonym: kind and 64 hex digits from n.
std::string pn(const std::string& kind, unsigned n) {
  char hex[65];
  std::snprintf(hex, sizeof hex, "%064x", n);
  return kind + ":" + hex;
}

// An audit store in a temporary folder; reader() closes the writer and opens a reader.
class Store {
 public:
  Store() {
    AuditLogOptions o;
    o.origin = "test.hub/audit";
    o.sync = false;  // tests need no fsync per record
    o.map_size = size_t{1} << 28;
    auto log = AuditLog::open(dir_.path(), o, SigningKey::generate());
    REQUIRE(log.ok());
    log_ = std::move(log).value();
  }
  uint64_t add(const AuditEvent& e) {
    auto rec = event_to_record(e);
    INFO((rec.ok() ? "" : rec.error().message));
    REQUIRE(rec.ok());
    auto i = log_->append(*rec, event_index_keys(e));
    REQUIRE(i.ok());
    return *i;
  }
  uint64_t add_raw(const std::string& record, std::vector<IndexKey> keys) {
    auto i = log_->append(record, std::move(keys));
    REQUIRE(i.ok());
    return *i;
  }
  AuditReader reader() {
    log_.reset();
    auto r = AuditReader::open(dir_.path());
    REQUIRE(r.ok());
    return std::move(r).value();
  }

 private:
  TempDir dir_;
  std::unique_ptr<AuditLog> log_;
};

AuditEvent created(int64_t t, const std::string& actor, const std::string& case_ref,
                   const std::string& enquiry, const std::string& agency,
                   std::vector<std::string> subjects, std::vector<std::string> fields = {}) {
  AuditEvent e;
  e.type = "enquiry.created";
  e.time_ms = t;
  e.actor = actor;
  e.role = "researcher";
  e.case_ref = case_ref;
  e.enquiry = enquiry;
  e.agency = agency;
  e.subjects = std::move(subjects);
  e.fields = std::move(fields);
  e.purpose = "mash-risk-assessment";
  e.legal_basis = "ca1989-s47";
  e.consent = "not-sought-risk";
  e.brag = "red";
  e.digest = std::string(64, 'f');
  e.extra = {{"decision", "permit"}};
  return e;
}

AuditEvent delivered(int64_t t, const std::string& agency, const std::string& enquiry) {
  AuditEvent e;
  e.type = "enquiry.delivered";
  e.time_ms = t;
  e.actor = "agent:" + agency;
  e.role = "agent";
  e.agency = agency;
  e.enquiry = enquiry;
  return e;
}

AuditEvent answered(int64_t t, const std::string& agency, const std::string& enquiry,
                    const std::string& case_ref, std::vector<std::string> subjects,
                    const std::string& outcome, std::vector<std::string> fields = {},
                    bool restricted = false) {
  AuditEvent e;
  e.type = "answer.received";
  e.time_ms = t;
  e.actor = "agent:" + agency;
  e.role = "agent";
  e.agency = agency;
  e.enquiry = enquiry;
  e.case_ref = case_ref;
  e.subjects = std::move(subjects);
  e.outcome = outcome;
  e.fields = std::move(fields);
  e.restricted = restricted;
  e.digest = std::string(64, 'a');
  return e;
}

AuditEvent simple(const std::string& type, int64_t t, const std::string& actor,
                  const std::string& case_ref = "", const std::string& enquiry = "",
                  const std::string& outcome = "") {
  AuditEvent e;
  e.type = type;
  e.time_ms = t;
  e.actor = actor;
  e.role = "manager";
  e.case_ref = case_ref;
  e.enquiry = enquiry;
  e.outcome = outcome;
  return e;
}

std::vector<uint64_t> indexes(const EventList& l) {
  std::vector<uint64_t> out;
  for (const auto& ie : l.events) out.push_back(ie.index);
  return out;
}

// Person A has pseudonyms a_nd and a_nhs; B has b_nd. Enquiry E3 asks about both.
const std::string a_nd = pn("name-dob", 0xa1), a_nhs = pn("nhs", 0xa2), b_nd = pn("name-dob", 0xb1);
const int64_t t0 = at("2026-11-02T09:00:00Z");
int64_t minute(int i) { return t0 + i * kMinute; }

// Record i is at minute(i), except 13 and 14 on the next day.
void fill_sample(Store& s) {
  s.add(simple("login.succeeded", minute(0), "u1"));  // 0
  s.add(created(minute(1), "u1", "C1", "e1", "police", {a_nd, a_nhs},
                {"police.known", "police.warnings"}));                                  // 1
  s.add(created(minute(2), "u1", "C1", "e1", "health", {a_nd, a_nhs}, {"health.gp"}));  // 2
  s.add(delivered(minute(3), "police", "e1"));                                          // 3
  s.add(
      answered(minute(4), "police", "e1", "C1", {a_nd, a_nhs}, "matched", {"police.known"}));  // 4
  s.add(created(minute(5), "u2", "C2", "e2", "police", {b_nd}, {"police.known"}));             // 5
  s.add(answered(minute(6), "police", "e2", "C2", {b_nd}, "no-record"));                       // 6
  s.add(created(minute(7), "u2", "C3", "e3", "education", {a_nhs, b_nd},
                {"education.attendance"}));  // 7
  s.add(answered(minute(8), "education", "e3", "C3", {a_nhs}, "matched", {"education.attendance"},
                 true));  // 8
  s.add(answered(minute(9), "education", "e3", "C3", {b_nd}, "matched",
                 {"education.exclusions"}));                                // 9
  s.add(simple("results.viewed", minute(10), "u3", "C1", "e1"));            // 10
  s.add(simple("results.exported", minute(11), "u3", "C3", "e3"));          // 11
  s.add(simple("decision.recorded", minute(12), "u3", "C1", "", "s47"));    // 12
  s.add(simple("login.failed", at("2026-11-03T00:00:00Z"), "unknown"));     // 13
  s.add(simple("results.viewed", at("2026-11-03T00:01:00Z"), "u4", "C2"));  // 14
}

AuditReader sample_reader() {
  Store s;
  fill_sample(s);
  return s.reader();
}

std::vector<uint64_t> run(const AuditReader& r, AuditQuery q) {
  auto res = search(r, q);
  INFO((res.ok() ? "" : res.error().message));
  REQUIRE(res.ok());
  CHECK_FALSE(res->truncated);
  return indexes(*res);
}

using V = std::vector<uint64_t>;

}  // namespace

TEST_CASE("parse_audit_time reads UTC times, upper bounds cover what they name", "[dpo]") {
  auto iso = [](const char* text, TimeBound b) {
    auto t = parse_audit_time(text, b);
    INFO(text);
    REQUIRE(t.ok());
    return iso_time(*t);
  };
  CHECK(iso("2026-11-22", TimeBound::kFrom) == "2026-11-22T00:00:00.000Z");
  CHECK(iso("2026-11-22", TimeBound::kTo) == "2026-11-22T23:59:59.999Z");
  CHECK(iso("2026-11-22T10:15", TimeBound::kTo) == "2026-11-22T10:15:59.999Z");
  CHECK(iso("2026-11-22T10:15:30Z", TimeBound::kFrom) == "2026-11-22T10:15:30.000Z");
  CHECK(iso("2026-11-22T10:15:30Z", TimeBound::kTo) == "2026-11-22T10:15:30.999Z");
  CHECK(iso("2026-11-22T10:15:30.5Z", TimeBound::kTo) == "2026-11-22T10:15:30.599Z");
  CHECK(iso("2026-11-22T10:15:30.123Z", TimeBound::kFrom) == "2026-11-22T10:15:30.123Z");
  CHECK(iso("2026-11-22T10:15:30.123Z", TimeBound::kTo) == "2026-11-22T10:15:30.123Z");
  CHECK(iso("2024-02-29T23:59:59.999", TimeBound::kFrom) == "2024-02-29T23:59:59.999Z");
  // Every time the log writes reads back as itself.
  CHECK(*parse_audit_time(iso_time(1795000000123), TimeBound::kFrom) == 1795000000123);
  CHECK(*parse_audit_time(iso_time(1795000000123), TimeBound::kTo) == 1795000000123);
  for (const char* bad :
       {"", "2026-13-01", "2026-02-30", "2025-02-29", "2026-11-22T24:00", "22/11/2026",
        "2026-11-22 10:00", "1969-12-31", "2026-11-22T10:15:30.1234", "2026-11-22T10",
        "2026-11-22T10:15:60", "2026-1-22", "2026-11-22ZZ", "yesterday"}) {
    INFO(bad);
    auto t = parse_audit_time(bad, TimeBound::kFrom);
    REQUIRE_FALSE(t.ok());
    CHECK(t.error().code == ErrorCode::kInvalidArgument);
  }
}

TEST_CASE("search combines conditions with AND and lists oldest first", "[dpo]") {
  auto r = sample_reader();
  AuditQuery q;
  q.case_ref = "C1";
  CHECK(run(r, q) == V{1, 2, 4, 10, 12});
  q = {};
  q.user = "u1";
  CHECK(run(r, q) == V{0, 1, 2});
  q.agency = "health";
  CHECK(run(r, q) == V{2});
  q = {};
  q.user = "u2";
  q.type = "enquiry.created";
  CHECK(run(r, q) == V{5, 7});
  q = {};
  q.case_ref = "C1";
  q.type = "answer.received";
  q.agency = "police";
  CHECK(run(r, q) == V{4});
  q = {};
  q.agency = "police";
  CHECK(run(r, q) == V{1, 3, 4, 5, 6});
  q.enquiry = "e1";
  CHECK(run(r, q) == V{1, 3, 4});
  // Each condition matches something, together nothing: an empty result, not an error.
  q = {};
  q.user = "u1";
  q.case_ref = "C2";
  CHECK(run(r, q).empty());
  q = {};
  q.type = "no.such.type";
  CHECK(run(r, q).empty());
  // No condition at all: everything.
  CHECK(run(r, {}).size() == 15);
}

TEST_CASE("a person search finds only that person's events, by any of their pseudonyms", "[dpo]") {
  auto r = sample_reader();
  AuditQuery q;
  q.persons = {a_nd, a_nhs};
  // 7 names A only by NHS number; 5, 6 and 9 are about B alone.
  CHECK(run(r, q) == V{1, 2, 4, 7, 8});
  q.persons = {a_nd};
  CHECK(run(r, q) == V{1, 2, 4});
  q.persons = {b_nd};
  CHECK(run(r, q) == V{5, 6, 7, 9});
  q.persons = {a_nhs, a_nd, a_nhs};  // duplicates and order do not matter
  q.agency = "education";
  CHECK(run(r, q) == V{7, 8});
  q.persons = {pn("nhs", 0xc1)};
  q.agency.clear();
  CHECK(run(r, q).empty());

  q.persons = std::vector<std::string>{};
  auto refused = search(r, q);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == ErrorCode::kInvalidArgument);
}

TEST_CASE("search time ranges include both ends", "[dpo]") {
  auto r = sample_reader();
  AuditQuery q;
  q.from = iso_time(minute(1));
  q.to = iso_time(minute(3));
  CHECK(run(r, q) == V{1, 2, 3});
  q.from = iso_time(minute(1) + 1);
  CHECK(run(r, q) == V{2, 3});
  q.to = iso_time(minute(3) - 1);
  CHECK(run(r, q) == V{2});
  // With other conditions.
  q = {};
  q.case_ref = "C1";
  q.from = iso_time(minute(2));
  q.to = iso_time(minute(10));
  CHECK(run(r, q) == V{2, 4, 10});
  // A date as `to` runs to the end of that day; open ends are unbounded.
  q = {};
  q.to = "2026-11-02";
  CHECK(run(r, q).size() == 13);
  q.to = "2026-11-03";
  CHECK(run(r, q).size() == 15);
  q = {};
  q.from = "2026-11-03";
  CHECK(run(r, q) == V{13, 14});
  q.user = "u4";
  CHECK(run(r, q) == V{14});

  q = {};
  q.from = "2026-11-03";
  q.to = "2026-11-02";
  auto backwards = search(r, q);
  REQUIRE_FALSE(backwards.ok());
  CHECK(backwards.error().code == ErrorCode::kInvalidArgument);
  q.from = "last tuesday";
  CHECK_FALSE(search(r, q).ok());
}

TEST_CASE("search results are bounded and say when they are truncated", "[dpo]") {
  auto r = sample_reader();
  AuditQuery q;
  q.limit = 5;
  auto res = search(r, q);
  REQUIRE(res.ok());
  CHECK(indexes(*res) == V{0, 1, 2, 3, 4});
  CHECK(res->truncated);
  q.limit = 15;
  res = search(r, q);
  REQUIRE(res.ok());
  CHECK(res->events.size() == 15);
  CHECK_FALSE(res->truncated);

  // An index lookup longer than scan_limit is cut, and says so...
  q = {};
  q.agency = "police";
  q.scan_limit = 2;
  res = search(r, q);
  REQUIRE(res.ok());
  CHECK(indexes(*res) == V{1, 3});
  CHECK(res->truncated);
  // ... unless a more selective condition gives the whole candidate set.
  q.user = "u2";
  res = search(r, q);
  REQUIRE(res.ok());
  CHECK(indexes(*res) == V{5});
  CHECK_FALSE(res->truncated);
}

TEST_CASE("a record that is not an audit event is a store problem", "[dpo]") {
  Store s;
  s.add_raw("{\"type\":\"test\",\"n\":1}", {{"type", "test"}});
  auto r = s.reader();
  AuditQuery q;
  q.type = "test";
  auto res = search(r, q);
  REQUIRE_FALSE(res.ok());
  CHECK(res.error().code == ErrorCode::kDataLoss);
  CHECK(res.error().message.find("audit record 0") != std::string::npos);
}

TEST_CASE("a case timeline holds the case's events and its enquiries' deliveries", "[dpo]") {
  auto r = sample_reader();
  auto c1 = case_timeline(r, "C1");
  REQUIRE(c1.ok());
  CHECK(indexes(*c1) == V{1, 2, 3, 4, 10, 12});
  auto c2 = case_timeline(r, "C2");
  REQUIRE(c2.ok());
  CHECK(indexes(*c2) == V{5, 6, 14});
  auto none = case_timeline(r, "C9");
  REQUIRE(none.ok());
  CHECK(none->events.empty());
  auto limited = case_timeline(r, "C1", 2);
  REQUIRE(limited.ok());
  CHECK(indexes(*limited) == V{1, 2});
  CHECK(limited->truncated);
  CHECK_FALSE(case_timeline(r, "").ok());
}

TEST_CASE("the subject access report lists who asked what of whom and what was released", "[dpo]") {
  auto r = sample_reader();
  auto sar = subject_access_report(r, {a_nd, a_nhs});
  REQUIRE(sar.ok());
  CHECK_FALSE(sar->truncated);
  CHECK(sar->other.empty());
  REQUIRE(sar->accesses.size() == 3);

  const auto& police = sar->accesses[0];
  CHECK(police.enquiry == "e1");
  CHECK(police.agency == "police");
  CHECK(police.case_ref == "C1");
  CHECK(police.request_index == std::optional<uint64_t>(1));
  CHECK(police.time_ms == minute(1));
  CHECK(police.actor == "u1");
  CHECK(police.role == "researcher");
  CHECK(police.purpose == "mash-risk-assessment");
  CHECK(police.legal_basis == "ca1989-s47");
  CHECK(police.consent == "not-sought-risk");
  CHECK(police.brag == "red");
  CHECK(police.decision == "permit");
  CHECK(police.fields_requested == std::vector<std::string>{"police.known", "police.warnings"});
  CHECK(police.delivered_ms == std::optional<int64_t>(minute(3)));
  REQUIRE(police.answers.size() == 1);
  CHECK(police.answers[0].index == 4);
  CHECK(police.answers[0].outcome == "matched");
  CHECK(police.answers[0].fields_released == std::vector<std::string>{"police.known"});
  CHECK_FALSE(police.answers[0].restricted);

  const auto& health = sar->accesses[1];
  CHECK(health.agency == "health");
  CHECK(health.fields_requested == std::vector<std::string>{"health.gp"});
  CHECK(health.answers.empty());
  CHECK_FALSE(health.delivered_ms);

  // Enquiry e3 asked about A and B; only A's answer belongs in A's report.
  const auto& education = sar->accesses[2];
  CHECK(education.agency == "education");
  CHECK(education.actor == "u2");
  REQUIRE(education.answers.size() == 1);
  CHECK(education.answers[0].index == 8);
  CHECK(education.answers[0].fields_released == std::vector<std::string>{"education.attendance"});
  CHECK(education.answers[0].restricted);

  REQUIRE(sar->views.size() == 2);
  CHECK(sar->views[0].index == 10);
  CHECK(sar->views[0].actor == "u3");
  CHECK(sar->views[0].type == "results.viewed");
  CHECK(sar->views[1].index == 11);
  CHECK(sar->views[1].type == "results.exported");

  // B: the police no-record answer, B's own education answer, and the view of case C2 as a whole.
  auto b = subject_access_report(r, {b_nd});
  REQUIRE(b.ok());
  REQUIRE(b->accesses.size() == 2);
  CHECK(b->accesses[0].agency == "police");
  REQUIRE(b->accesses[0].answers.size() == 1);
  CHECK(b->accesses[0].answers[0].outcome == "no-record");
  CHECK(b->accesses[0].answers[0].fields_released.empty());
  REQUIRE(b->accesses[1].answers.size() == 1);
  CHECK(b->accesses[1].answers[0].fields_released ==
        std::vector<std::string>{"education.exclusions"});
  REQUIRE(b->views.size() == 2);
  CHECK(b->views[0].index == 11);
  CHECK(b->views[1].index == 14);

  auto nobody = subject_access_report(r, {pn("nhs", 0xc1)});
  REQUIRE(nobody.ok());
  CHECK(nobody->accesses.empty());
  CHECK(nobody->views.empty());
  CHECK_FALSE(subject_access_report(r, {}).ok());
}

TEST_CASE("access statistics count per user and per agency by type, ends included", "[dpo]") {
  auto r = sample_reader();
  auto day = access_statistics(r, "2026-11-02", "2026-11-02");
  REQUIRE(day.ok());
  CHECK(day->events == 13);
  CHECK_FALSE(day->truncated);
  CHECK(day->by_type.at("enquiry.created") == 4);
  CHECK(day->by_type.at("answer.received") == 4);
  CHECK(day->by_type.count("login.failed") == 0);
  CHECK(day->by_user.at("u1") ==
        std::map<std::string, uint64_t>{{"login.succeeded", 1}, {"enquiry.created", 2}});
  CHECK(day->by_user.at("u2") == std::map<std::string, uint64_t>{{"enquiry.created", 2}});
  CHECK(day->by_user.at("u3") == std::map<std::string, uint64_t>{{"results.viewed", 1},
                                                                 {"results.exported", 1},
                                                                 {"decision.recorded", 1}});
  CHECK(day->by_user.at("agent:education") ==
        std::map<std::string, uint64_t>{{"answer.received", 2}});
  CHECK(day->by_agency.at("police") == std::map<std::string, uint64_t>{{"enquiry.created", 2},
                                                                       {"enquiry.delivered", 1},
                                                                       {"answer.received", 2}});
  CHECK(day->by_agency.at("health") == std::map<std::string, uint64_t>{{"enquiry.created", 1}});
  CHECK(day->by_agency.at("education") ==
        std::map<std::string, uint64_t>{{"enquiry.created", 1}, {"answer.received", 2}});

  auto edges = access_statistics(r, iso_time(minute(1)), iso_time(minute(3)));
  REQUIRE(edges.ok());
  CHECK(edges->events == 3);
  auto both_days = access_statistics(r, "2026-11-02", "2026-11-03");
  REQUIRE(both_days.ok());
  CHECK(both_days->events == 15);
  CHECK(both_days->by_user.at("unknown").at("login.failed") == 1);
  auto capped = access_statistics(r, "2026-11-02", "2026-11-03", 10);
  REQUIRE(capped.ok());
  CHECK(capped->events == 10);
  CHECK(capped->truncated);
  auto empty = access_statistics(r, "2027-01-01", "2027-01-31");
  REQUIRE(empty.ok());
  CHECK(empty->events == 0);
  CHECK_FALSE(access_statistics(r, "", "2026-11-02").ok());
}

TEST_CASE("flags: a user creating more than N enquiries in a day", "[dpo]") {
  PatternThresholds defaults;
  CHECK(defaults.enquiries_per_user_day == 40);
  CHECK(defaults.cases_per_person == 3);
  CHECK(defaults.enquiries_per_person == 5);
  CHECK(defaults.person_window_days == 30);
  CHECK(defaults.decision_days == 7);

  Store s;
  unsigned n = 0;
  std::vector<uint64_t> u1_events;
  auto enquiry = [&](const std::string& user, int64_t t, int agencies) {
    ++n;
    std::string id = "q" + std::to_string(n);
    std::vector<uint64_t> idx;
    for (int a = 0; a < agencies; ++a) {
      idx.push_back(s.add(created(t, user, "K" + std::to_string(n), id,
                                  "agency" + std::to_string(a), {pn("name-dob", n)})));
    }
    return idx;
  };
  const int64_t day = at("2026-11-02");
  // u1: 41 enquiries in a day, the first to two agencies: 41 > 40 fires.
  for (int i = 0; i < 41; ++i) {
    auto idx = enquiry("u1", day + i * kMinute, i == 0 ? 2 : 1);
    u1_events.insert(u1_events.end(), idx.begin(), idx.end());
  }
  // u2: 40 enquiries, one to three agencies (42 events): does not fire.
  for (int i = 0; i < 40; ++i) enquiry("u2", day + i * kMinute, i == 0 ? 3 : 1);
  // u3: 41 enquiries either side of midnight (21 + 20): does not fire.
  for (int i = 0; i < 41; ++i) enquiry("u3", day + kDay - 21 * kMinute + i * kMinute, 1);
  auto r = s.reader();

  auto report = unusual_patterns(r, "2026-11-02", "2026-11-03");
  REQUIRE(report.ok());
  CHECK_FALSE(report->truncated);
  REQUIRE(report->flags.size() == 1);
  const auto& f = report->flags[0];
  CHECK(f.code == kFlagUserEnquiriesPerDay);
  CHECK(f.user == "u1");
  CHECK(f.day == "2026-11-02");
  CHECK(f.count == 41);
  CHECK(f.threshold == 40);
  CHECK(f.evidence == u1_events);

  // With N = 39, u2's 40 fires too; u3's days (21, 20) still do not... and with N = 20, u3's 21
  // does.
  PatternThresholds t;
  t.enquiries_per_user_day = 39;
  report = unusual_patterns(r, "2026-11-02", "2026-11-03", t);
  REQUIRE(report.ok());
  CHECK(report->flags.size() == 2);
  t.enquiries_per_user_day = 20;
  report = unusual_patterns(r, "2026-11-02", "2026-11-03", t);
  REQUIRE(report.ok());
  CHECK(report->flags.size() == 3);  // u1, u2, and u3 on its first day only
}

TEST_CASE("flags: the same person in more than M cases or K enquiries within 30 days", "[dpo]") {
  Store s;
  unsigned n = 0;
  const int64_t start = at("2026-11-02T09:00:00Z");
  auto enquiry = [&](std::vector<std::string> subjects, const std::string& case_ref, int64_t t,
                     int agencies = 1) {
    ++n;
    std::vector<uint64_t> idx;
    for (int a = 0; a < agencies; ++a) {
      idx.push_back(s.add(created(t, "u" + std::to_string(n), case_ref, "q" + std::to_string(n),
                                  "agency" + std::to_string(a), subjects)));
    }
    return idx;
  };
  const std::string p_nd = pn("name-dob", 0x100), p_nhs = pn("nhs", 0x101),
                    q_nd = pn("name-dob", 0x200), r_nd = pn("name-dob", 0x300),
                    r2_nd = pn("name-dob", 0x301), s_nd = pn("name-dob", 0x400),
                    s2_nd = pn("name-dob", 0x401);
  // P (two pseudonyms): 4 enquiries in 4 cases within 30 days: cases fire (4 > 3), enquiries not.
  std::vector<uint64_t> p_events;
  for (int i = 0; i < 4; ++i) {
    auto idx = enquiry({p_nd, p_nhs}, "PC" + std::to_string(i), start + i * 5 * kDay);
    p_events.insert(p_events.end(), idx.begin(), idx.end());
  }
  // Q: 3 cases: nothing.
  for (int i = 0; i < 3; ++i) enquiry({q_nd}, "QC" + std::to_string(i), start + i * kDay);
  // R: 6 enquiries in one case: enquiries fire (6 > 5); R2: 5, each to two agencies: nothing.
  std::vector<uint64_t> r_events;
  for (int i = 0; i < 6; ++i) {
    auto idx = enquiry({r_nd}, "RC", start + i * kDay);
    r_events.insert(r_events.end(), idx.begin(), idx.end());
  }
  for (int i = 0; i < 5; ++i) enquiry({r2_nd}, "R2C", start + i * kDay, 2);
  // S: 6 enquiries, the sixth exactly 30 days after the first: never 6 within a window.
  // S2: the sixth 1 ms earlier: fires.
  std::vector<uint64_t> s2_events;
  for (int i = 0; i < 5; ++i) enquiry({s_nd}, "SC", start + i * kDay);
  enquiry({s_nd}, "SC", start + 30 * kDay);
  for (int i = 0; i < 5; ++i) {
    auto idx = enquiry({s2_nd}, "S2C", start + i * kDay);
    s2_events.insert(s2_events.end(), idx.begin(), idx.end());
  }
  auto idx = enquiry({s2_nd}, "S2C", start + 30 * kDay - 1);
  s2_events.insert(s2_events.end(), idx.begin(), idx.end());
  auto r = s.reader();

  PatternThresholds t;
  t.decision_days = 1000;  // keep no-decision out of this test
  auto report = unusual_patterns(r, "2026-11-01", "2026-12-31", t);
  REQUIRE(report.ok());
  REQUIRE(report->flags.size() == 3);
  const auto& cases = report->flags[0];
  CHECK(cases.code == kFlagPersonManyCases);
  CHECK(cases.persons == std::vector<std::string>{p_nd, p_nhs});  // one flag for P's two pseudonyms
  CHECK(cases.count == 4);
  CHECK(cases.threshold == 3);
  CHECK(cases.evidence == p_events);
  CHECK(cases.window_from_ms == start);
  CHECK(cases.window_to_ms == start + 15 * kDay);
  const auto& r_flag = report->flags[1];
  CHECK(r_flag.code == kFlagPersonManyEnquiries);
  CHECK(r_flag.persons == std::vector<std::string>{r_nd});
  CHECK(r_flag.count == 6);
  CHECK(r_flag.threshold == 5);
  CHECK(r_flag.evidence == r_events);
  const auto& s2_flag = report->flags[2];
  CHECK(s2_flag.code == kFlagPersonManyEnquiries);
  CHECK(s2_flag.persons == std::vector<std::string>{s2_nd});
  CHECK(s2_flag.count == 6);
  CHECK(s2_flag.evidence == s2_events);

  // M = 2: Q's 3 cases fire too; K = 4: R2's 5 enquiries and S's 5 fire too.
  t.cases_per_person = 2;
  t.enquiries_per_person = 4;
  report = unusual_patterns(r, "2026-11-01", "2026-12-31", t);
  REQUIRE(report.ok());
  size_t many_cases = 0, many_enquiries = 0;
  for (const auto& f : report->flags) {
    many_cases += f.code == kFlagPersonManyCases;
    many_enquiries += f.code == kFlagPersonManyEnquiries;
  }
  CHECK(many_cases == 2);      // P, Q
  CHECK(many_enquiries == 4);  // R, R2, S, S2
}

TEST_CASE("flags: an enquiry with no decision for its case within D days", "[dpo]") {
  Store s;
  const int64_t to = at("2026-12-01T12:00:00Z");
  const int64_t t = to - 10 * kDay;
  const int64_t d = 7 * kDay;
  unsigned n = 0;
  auto enquiry = [&](const std::string& case_ref, const std::string& id, int64_t when,
                     int agencies = 1) {
    std::vector<uint64_t> idx;
    for (int a = 0; a < agencies; ++a) {
      idx.push_back(
          s.add(created(when, "u1", case_ref, id, "agency" + std::to_string(a), {pn("nhs", ++n)})));
    }
    return idx;
  };
  auto decide = [&](const std::string& case_ref, int64_t when) {
    s.add(simple("decision.recorded", when, "m1", case_ref, "", "nfa"));
  };
  enquiry("K1", "e1", t);  // decided exactly at D days: no flag
  decide("K1", t + d);
  auto e2 = enquiry("K2", "e2", t);  // decided 1 ms too late: flag
  decide("K2", t + d + 1);
  auto e3 = enquiry("K3", "e3", to - d);  // due exactly at `to`, undecided: flag
  enquiry("K4", "e4", to - d + 1);        // not due until 1 ms after `to`: no flag
  auto e5 = enquiry("K5", "e5", t);       // only a decision from before the enquiry: flag
  decide("K5", t - 1);
  auto e6 = enquiry("K6", "e6", t, 2);  // undecided, asked of two agencies: one flag, both records
  enquiry("K1", "e7", t + kDay);        // K1's decision at t + 7 days is within its 7 days
  auto r = s.reader();

  auto report = unusual_patterns(r, iso_time(to - 30 * kDay), iso_time(to));
  REQUIRE(report.ok());
  REQUIRE(report->flags.size() == 4);
  std::vector<std::string> enquiries;
  for (const auto& f : report->flags) {
    CHECK(f.code == kFlagNoDecision);
    CHECK(f.threshold == 7);
    enquiries.push_back(f.enquiry);
  }
  CHECK(enquiries == std::vector<std::string>{"e2", "e3", "e5", "e6"});
  CHECK(report->flags[0].case_ref == "K2");
  CHECK(report->flags[0].evidence == e2);
  CHECK(report->flags[0].window_to_ms == t + d);
  CHECK(report->flags[1].evidence == e3);
  CHECK(report->flags[2].evidence == e5);
  CHECK(report->flags[3].evidence == e6);
  CHECK(report->flags[3].evidence.size() == 2);

  // Judged 1 ms earlier, e3 is not yet due.
  report = unusual_patterns(r, iso_time(to - 30 * kDay), iso_time(to - 1));
  REQUIRE(report.ok());
  CHECK(report->flags.size() == 3);
  CHECK_FALSE(unusual_patterns(r, "2026-11-01", "").ok());
}

TEST_CASE("the subject access report gives the outcome for the person, from the hub's per-subject records", "[dpo]") {
  // As the hub records them: one enquiry.created for all agencies naming which pseudonyms are
  // which subject ("ref.<ref>"), and answers that give outcomes per subject ("subject.<ref>")
  // without naming pseudonyms.
  Store s;
  // Pseudonyms that differ in their first 16 hex digits, as real (keyed-hash) ones do.
  auto real = [](const std::string& kind, unsigned n) {
    char hex[65];
    std::snprintf(hex, sizeof hex, "%016x%048x", n, 0u);
    return kind + ":" + hex;
  };
  const std::string a_nd = real("name-dob", 0xa1), a2 = real("nhs", 0xa3), b_nd = real("name-dob", 0xb1);
  auto prefix = [](const std::string& p) { return p.substr(p.find(':') + 1, 16); };
  AuditEvent c = created(minute(1), "u1", "C9", "e9", "", {a_nd, a2, b_nd}, {"police.known", "health.gp"});
  c.extra["agencies"] = "police+health";
  c.extra["ref.s1"] = prefix(a_nd) + "+" + prefix(a2);
  c.extra["ref.s2"] = prefix(b_nd);
  s.add(c);
  AuditEvent police = answered(minute(2), "police", "e9", "C9", {}, "answered", {"police.known"});
  police.extra = {{"subject.s1", "matched"}, {"subject.s2", "no-record"}};
  s.add(police);
  AuditEvent health = answered(minute(3), "health", "e9", "C9", {}, "answered", {"health.gp"});
  health.extra = {{"subject.s1", "possible"}, {"subject.s2", "matched"}};
  s.add(health);
  auto r = s.reader();

  auto a = subject_access_report(r, {a_nd});
  REQUIRE(a.ok());
  REQUIRE(a->accesses.size() == 2);
  for (const auto& x : a->accesses) {
    REQUIRE(x.answers.size() == 1);
    CHECK(x.answers[0].outcome == "answered");
    CHECK(x.answers[0].person_outcome == (x.agency == "police" ? "matched" : "possible"));
  }
  auto b = subject_access_report(r, {b_nd});
  REQUIRE(b.ok());
  REQUIRE(b->accesses.size() == 2);
  for (const auto& x : b->accesses) {
    REQUIRE(x.answers.size() == 1);
    CHECK(x.answers[0].person_outcome == (x.agency == "police" ? "no-record" : "matched"));
  }
  // Records without the mapping (older ones) give the answer's status only.
  auto old = sample_reader();
  auto o = subject_access_report(old, {::a_nd, a_nhs});
  REQUIRE(o.ok());
  REQUIRE_FALSE(o->accesses.empty());
  CHECK(o->accesses[0].answers[0].person_outcome.empty());
}
