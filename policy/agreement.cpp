#include "agreement.h"

#include <toml++/toml.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

namespace mash::policy {

namespace {

const std::regex kIdPattern("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$");
const std::regex kSchemePattern("^[a-z0-9][a-z0-9-]{1,31}$");
const std::regex kAgencyIdPattern("^[a-z0-9][a-z0-9-]{0,62}$");
const std::set<std::string> kFieldTypes = {"boolean", "text", "date", "count", "enum", "list"};

int line_of(const toml::node& n) { return static_cast<int>(n.source().begin.line); }

// Collects problems while reading one document.
class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}

  void problem(int line, const std::string& message) {
    problems_.push_back(source_ + ":" + std::to_string(line) + ": " + message);
  }
  const std::vector<std::string>& problems() const { return problems_; }

  // Refuses keys outside `allowed` (a misspelt key must not be silently ignored).
  void check_keys(const toml::table& t, const std::string& where,
                  std::initializer_list<const char*> allowed) {
    for (const auto& [k, v] : t) {
      bool ok = false;
      for (const char* a : allowed) ok = ok || k.str() == a;
      if (!ok) problem(line_of(v), "unknown key '" + std::string(k.str()) + "' in " + where);
    }
  }

  std::string str(const toml::table& t, const char* key, const std::string& where, int line,
                  bool required = true) {
    const toml::node* n = t.get(key);
    if (!n) {
      if (required) problem(line, where + ": missing '" + key + "'");
      return {};
    }
    if (!n->is_string()) {
      problem(line_of(*n), where + ": '" + key + "' must be a string");
      return {};
    }
    std::string v = *n->value<std::string>();
    if (required && v.empty()) problem(line_of(*n), where + ": '" + key + "' must not be empty");
    return v;
  }

  std::string id(const toml::table& t, const std::string& where, int line) {
    std::string v = str(t, "id", where, line);
    if (!v.empty() && !std::regex_match(v, kIdPattern)) {
      problem(line, where + ": id '" + v + "' must be letters, digits, '.', '_' or '-' (at most 64)");
    }
    return v;
  }

  int64_t integer(const toml::table& t, const char* key, const std::string& where, int line,
                  int64_t min, int64_t max, std::optional<int64_t> fallback = std::nullopt) {
    const toml::node* n = t.get(key);
    if (!n) {
      if (fallback) return *fallback;
      problem(line, where + ": missing '" + key + "'");
      return 0;
    }
    if (!n->is_integer()) {
      problem(line_of(*n), where + ": '" + key + "' must be an integer");
      return 0;
    }
    int64_t v = *n->value<int64_t>();
    if (v < min || v > max) {
      problem(line_of(*n), where + ": '" + key + "' must be between " + std::to_string(min) +
                               " and " + std::to_string(max) + " (got " + std::to_string(v) + ")");
    }
    return v;
  }

  bool boolean(const toml::table& t, const char* key, const std::string& where, bool fallback) {
    const toml::node* n = t.get(key);
    if (!n) return fallback;
    if (!n->is_boolean()) {
      problem(line_of(*n), where + ": '" + key + "' must be true or false");
      return fallback;
    }
    return *n->value<bool>();
  }

  Date date(const toml::table& t, const char* key, const std::string& where, int line) {
    const toml::node* n = t.get(key);
    if (!n) {
      problem(line, where + ": missing '" + key + "'");
      return {};
    }
    if (auto d = n->as_date()) {
      const toml::date& v = d->get();
      return Date{v.year, v.month, v.day};
    }
    problem(line_of(*n), where + ": '" + key + "' must be a date (YYYY-MM-DD, unquoted)");
    return {};
  }

  std::vector<std::string> strings(const toml::table& t, const char* key, const std::string& where,
                                   int line, bool required) {
    std::vector<std::string> out;
    const toml::node* n = t.get(key);
    if (!n) {
      if (required) problem(line, where + ": missing '" + key + "'");
      return out;
    }
    const toml::array* a = n->as_array();
    if (!a) {
      problem(line_of(*n), where + ": '" + key + "' must be a list of strings");
      return out;
    }
    if (a->size() > 10000) {
      problem(line_of(*n), where + ": '" + key + "' has too many entries");
      return out;
    }
    std::set<std::string> seen;
    for (const auto& e : *a) {
      if (!e.is_string()) {
        problem(line_of(e), where + ": '" + key + "' must contain only strings");
        continue;
      }
      std::string v = *e.value<std::string>();
      if (!seen.insert(v).second) problem(line_of(e), where + ": '" + key + "' lists '" + v + "' twice");
      out.push_back(v);
    }
    if (required && out.empty() && a->empty()) problem(line_of(*n), where + ": '" + key + "' is empty");
    return out;
  }

  // Calls fn(table, line, index) for each table in the array-of-tables `key`.
  template <typename Fn>
  void each_table(const toml::table& root, const char* key, Fn fn, bool required = true) {
    const toml::node* n = root.get(key);
    if (!n) {
      if (required) problem(1, std::string("missing [[") + key + "] entries");
      return;
    }
    const toml::array* a = n->as_array();
    if (!a) {
      problem(line_of(*n), std::string("'") + key + "' must be written as [[" + key + "]] tables");
      return;
    }
    if (a->size() > 100000) {
      problem(line_of(*n), std::string("too many [[") + key + "] entries");
      return;
    }
    size_t i = 0;
    for (const auto& e : *a) {
      const toml::table* t = e.as_table();
      if (!t) {
        problem(line_of(e), std::string("'") + key + "' entries must be tables");
        continue;
      }
      fn(*t, line_of(e), i++);
    }
  }

 private:
  std::string source_;
  std::vector<std::string> problems_;
};

template <typename T>
void check_unique(Reader& r, const std::vector<T>& items, const std::string& what) {
  std::map<std::string, int> seen;
  for (const auto& item : items) {
    if (item.id.empty()) continue;
    auto [it, inserted] = seen.emplace(item.id, item.line);
    if (!inserted) {
      r.problem(item.line, what + " '" + item.id + "' is defined twice (first at line " +
                               std::to_string(it->second) + ")");
    }
  }
}

template <typename T>
bool has_id(const std::vector<T>& items, std::string_view id) {
  return std::any_of(items.begin(), items.end(), [&](const T& t) { return t.id == id; });
}

void read_document(Reader& r, const toml::table& root, Agreement& a) {
  r.check_keys(root, "the agreement",
               {"agreement", "retention", "rate_limits", "brag", "purposes", "legal_bases",
                "consent_states", "agencies", "fields", "grants", "forbids", "restricted", "tests"});

  if (const toml::table* t = root["agreement"].as_table()) {
    int line = line_of(*t);
    r.check_keys(*t, "[agreement]", {"id", "version", "title", "effective", "review", "signatories"});
    a.id = r.id(*t, "[agreement]", line);
    a.version = r.integer(*t, "version", "[agreement]", line, 1, 1'000'000'000);
    a.title = r.str(*t, "title", "[agreement]", line);
    a.effective = r.date(*t, "effective", "[agreement]", line);
    a.review = r.date(*t, "review", "[agreement]", line);
    r.each_table(*t, "signatories", [&](const toml::table& s, int l, size_t) {
      r.check_keys(s, "[[agreement.signatories]]", {"organisation", "name", "role", "signed"});
      Signatory sig;
      sig.organisation = r.str(s, "organisation", "signatory", l);
      sig.name = r.str(s, "name", "signatory", l);
      sig.role = r.str(s, "role", "signatory", l);
      sig.signed_on = r.date(s, "signed", "signatory", l);
      a.signatories.push_back(sig);
    });
  } else {
    r.problem(1, "missing [agreement] table");
  }

  if (const toml::table* t = root["retention"].as_table()) {
    r.check_keys(*t, "[retention]", {"case_content_days", "audit_metadata_days"});
    a.case_content_days = static_cast<int>(r.integer(*t, "case_content_days", "[retention]", line_of(*t), 1, 36500));
    a.audit_metadata_days = static_cast<int>(r.integer(*t, "audit_metadata_days", "[retention]", line_of(*t), 1, 36500));
  } else {
    r.problem(1, "missing [retention] table");
  }
  if (const toml::table* t = root["rate_limits"].as_table()) {
    r.check_keys(*t, "[rate_limits]", {"enquiries_per_user_per_hour", "enquiries_per_user_per_day"});
    a.enquiries_per_user_per_hour = static_cast<int>(
        r.integer(*t, "enquiries_per_user_per_hour", "[rate_limits]", line_of(*t), 1, 100000));
    a.enquiries_per_user_per_day = static_cast<int>(
        r.integer(*t, "enquiries_per_user_per_day", "[rate_limits]", line_of(*t), 1, 1000000));
  } else {
    r.problem(1, "missing [rate_limits] table");
  }

  r.each_table(root, "brag", [&](const toml::table& t, int line, size_t) {
    r.check_keys(t, "[[brag]]", {"id", "name", "rank", "deadline_hours", "deadline_minutes", "description"});
    BragLevel b;
    b.line = line;
    b.id = r.id(t, "[[brag]]", line);
    b.name = r.str(t, "name", "brag '" + b.id + "'", line);
    b.rank = static_cast<int>(r.integer(t, "rank", "brag '" + b.id + "'", line, 1, 100));
    const bool hours = t.get("deadline_hours") != nullptr, minutes = t.get("deadline_minutes") != nullptr;
    if (!hours && !minutes) {
      r.problem(line, "brag '" + b.id + "': missing 'deadline_hours' (every BRAG level needs a response deadline)");
    } else if (hours && minutes) {
      r.problem(line, "brag '" + b.id + "': give 'deadline_hours' or 'deadline_minutes', not both");
    } else if (hours) {
      b.deadline_hours = static_cast<int>(r.integer(t, "deadline_hours", "brag '" + b.id + "'", line, 1, 24 * 90));
      b.deadline_minutes = b.deadline_hours * 60;
    } else {
      b.deadline_minutes = static_cast<int>(r.integer(t, "deadline_minutes", "brag '" + b.id + "'", line, 1, 24 * 60 * 90));
      b.deadline_hours = (b.deadline_minutes + 59) / 60;
    }
    r.str(t, "description", "brag", line, false);
    a.brag.push_back(b);
  });
  r.each_table(root, "purposes", [&](const toml::table& t, int line, size_t) {
    r.check_keys(t, "[[purposes]]", {"id", "name", "description"});
    Purpose p;
    p.line = line;
    p.id = r.id(t, "[[purposes]]", line);
    p.name = r.str(t, "name", "purpose '" + p.id + "'", line);
    p.description = r.str(t, "description", "purpose", line, false);
    a.purposes.push_back(p);
  });
  r.each_table(root, "legal_bases", [&](const toml::table& t, int line, size_t) {
    r.check_keys(t, "[[legal_bases]]", {"id", "name", "requires_consent", "description"});
    LegalBasis b;
    b.line = line;
    b.id = r.id(t, "[[legal_bases]]", line);
    b.name = r.str(t, "name", "legal basis '" + b.id + "'", line);
    b.requires_consent = r.boolean(t, "requires_consent", "legal basis", false);
    r.str(t, "description", "legal basis", line, false);
    a.legal_bases.push_back(b);
  });
  r.each_table(root, "consent_states", [&](const toml::table& t, int line, size_t) {
    r.check_keys(t, "[[consent_states]]", {"id", "name", "given", "requires_reason", "description"});
    ConsentState c;
    c.line = line;
    c.id = r.id(t, "[[consent_states]]", line);
    c.name = r.str(t, "name", "consent state '" + c.id + "'", line);
    c.is_given = r.boolean(t, "given", "consent state", false);
    c.requires_reason = r.boolean(t, "requires_reason", "consent state", false);
    r.str(t, "description", "consent state", line, false);
    a.consent_states.push_back(c);
  });
  r.each_table(root, "agencies", [&](const toml::table& t, int line, size_t) {
    r.check_keys(t, "[[agencies]]",
                 {"id", "name", "certificate", "restricted_contact", "description", "identifier_schemes"});
    Agency ag;
    ag.line = line;
    ag.id = r.id(t, "[[agencies]]", line);
    ag.name = r.str(t, "name", "agency '" + ag.id + "'", line);
    ag.certificate = r.str(t, "certificate", "agency '" + ag.id + "'", line);
    ag.restricted_contact = r.str(t, "restricted_contact", "agency '" + ag.id + "'", line);
    r.str(t, "description", "agency", line, false);
    std::set<std::string> schemes;
    r.each_table(t, "identifier_schemes", [&](const toml::table& s, int l, size_t) {
      const std::string where = "agency '" + ag.id + "' identifier scheme";
      r.check_keys(s, where, {"id", "name"});
      IdentifierScheme scheme;
      scheme.line = l;
      scheme.id = r.str(s, "id", where, l);
      scheme.name = r.str(s, "name", where + " '" + scheme.id + "'", l);
      if (scheme.id.empty()) return;
      if (!std::regex_match(scheme.id, kSchemePattern)) {
        r.problem(l, where + ": id '" + scheme.id + "' must be 2 to 32 lower-case letters, digits or '-'");
      }
      for (const char* national : kNationalIdentifierSchemes) {
        if (scheme.id == national) r.problem(l, where + ": '" + scheme.id + "' is a national scheme every agreement knows");
      }
      if (!schemes.insert(scheme.id).second) r.problem(l, where + ": '" + scheme.id + "' is declared twice");
      ag.identifier_schemes.push_back(std::move(scheme));
    }, false);
    if (ag.identifier_schemes.size() > 16) r.problem(line, "agency '" + ag.id + "': at most 16 identifier schemes");
    a.agencies.push_back(ag);
  });
  // An agency's own scheme belongs to that agency alone: the hub sends its identifiers to it and
  // to no other.
  {
    std::map<std::string, std::string> owner;
    for (const auto& ag : a.agencies) {
      for (const auto& sc : ag.identifier_schemes) {
        auto [it, fresh] = owner.emplace(sc.id, ag.id);
        if (!fresh) {
          r.problem(sc.line, "agency '" + ag.id + "' identifier scheme: '" + sc.id + "' is already agency '" +
                                 it->second + "''s (a scheme belongs to one agency)");
        }
      }
    }
  }
  r.each_table(root, "fields", [&](const toml::table& t, int line, size_t) {
    r.check_keys(t, "[[fields]]", {"id", "agency", "type", "special_category", "description"});
    FieldDef f;
    f.line = line;
    f.id = r.id(t, "[[fields]]", line);
    f.agency = r.str(t, "agency", "field '" + f.id + "'", line);
    f.type = r.str(t, "type", "field '" + f.id + "'", line);
    f.special_category = r.boolean(t, "special_category", "field", false);
    f.description = r.str(t, "description", "field '" + f.id + "'", line);
    a.fields.push_back(f);
  });
  r.each_table(root, "grants", [&](const toml::table& t, int line, size_t) {
    r.check_keys(t, "[[grants]]", {"id", "agency", "purposes", "legal_bases", "consent", "min_brag",
                                   "fields", "lookback_months", "review", "description"});
    Grant g;
    g.line = line;
    g.id = r.id(t, "[[grants]]", line);
    std::string w = "grant '" + g.id + "'";
    g.agency = r.str(t, "agency", w, line);
    g.purposes = r.strings(t, "purposes", w, line, true);
    g.legal_bases = r.strings(t, "legal_bases", w, line, true);
    g.consent = r.strings(t, "consent", w, line, true);
    g.min_brag = r.str(t, "min_brag", w, line);
    g.fields = r.strings(t, "fields", w, line, true);
    g.lookback_months = static_cast<int>(r.integer(t, "lookback_months", w, line, 1, 1200));
    g.review = r.boolean(t, "review", w, false);
    r.str(t, "description", w, line, false);
    a.grants.push_back(g);
  });
  r.each_table(root, "forbids", [&](const toml::table& t, int line, size_t) {
    r.check_keys(t, "[[forbids]]", {"id", "agency", "fields", "purposes", "legal_bases", "consent", "reason"});
    Forbid f;
    f.line = line;
    f.id = r.id(t, "[[forbids]]", line);
    std::string w = "forbid '" + f.id + "'";
    f.agency = r.str(t, "agency", w, line);
    f.fields = r.strings(t, "fields", w, line, true);
    f.purposes = r.strings(t, "purposes", w, line, false);
    f.legal_bases = r.strings(t, "legal_bases", w, line, false);
    f.consent = r.strings(t, "consent", w, line, false);
    f.reason = r.str(t, "reason", w, line);
    a.forbids.push_back(f);
  }, false);
  r.each_table(root, "restricted", [&](const toml::table& t, int line, size_t) {
    r.check_keys(t, "[[restricted]]", {"id", "agency", "record_types", "handling", "description"});
    RestrictedRule rr;
    rr.line = line;
    rr.id = r.id(t, "[[restricted]]", line);
    std::string w = "restricted rule '" + rr.id + "'";
    rr.agency = r.str(t, "agency", w, line);
    rr.record_types = r.strings(t, "record_types", w, line, true);
    rr.handling = r.str(t, "handling", w, line);
    rr.description = r.str(t, "description", w, line, false);
    a.restricted.push_back(rr);
  }, false);
  r.each_table(root, "tests", [&](const toml::table& t, int line, size_t) {
    r.check_keys(t, "[[tests]]", {"name", "agency", "purpose", "basis", "consent", "brag", "fields",
                                  "released", "withheld"});
    TestCase tc;
    tc.line = line;
    tc.name = r.str(t, "name", "test", line);
    std::string w = "test '" + tc.name + "'";
    tc.agency = r.str(t, "agency", w, line);
    tc.purpose = r.str(t, "purpose", w, line);
    tc.basis = r.str(t, "basis", w, line);
    tc.consent = r.str(t, "consent", w, line);
    tc.brag = r.str(t, "brag", w, line);
    tc.fields = r.strings(t, "fields", w, line, false);
    tc.released = r.strings(t, "released", w, line, false);
    if (const toml::node* n = t.get("withheld")) {
      if (const toml::table* wt = n->as_table()) {
        for (const auto& [k, v] : *wt) {
          if (!v.is_string()) {
            r.problem(line_of(v), w + ": withheld reasons must be strings");
            continue;
          }
          tc.withheld[std::string(k.str())] = *v.value<std::string>();
        }
      } else {
        r.problem(line_of(*n), w + ": 'withheld' must be a table of field = \"reason\"");
      }
    }
    a.tests.push_back(tc);
  }, false);
}

bool in(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

void validate(Reader& r, const Agreement& a) {
  if (a.review <= a.effective && a.review.year != 0) {
    r.problem(1, "[agreement]: review date " + a.review.to_string() + " is not after the effective date " +
                     a.effective.to_string());
  }
  if (a.signatories.empty()) r.problem(1, "[agreement]: no signatories");

  check_unique(r, a.brag, "BRAG level");
  check_unique(r, a.purposes, "purpose");
  check_unique(r, a.legal_bases, "legal basis");
  check_unique(r, a.consent_states, "consent state");
  check_unique(r, a.agencies, "agency");
  check_unique(r, a.fields, "field");
  // Clause ids share one namespace: a decision names its clause by id alone.
  struct Clause { std::string id; int line; };
  std::vector<Clause> clauses;
  for (const auto& g : a.grants) clauses.push_back({g.id, g.line});
  for (const auto& f : a.forbids) clauses.push_back({f.id, f.line});
  for (const auto& x : a.restricted) clauses.push_back({x.id, x.line});
  check_unique(r, clauses, "clause");

  std::set<int> ranks;
  for (const auto& b : a.brag) {
    if (b.rank && !ranks.insert(b.rank).second) {
      r.problem(b.line, "brag '" + b.id + "': rank " + std::to_string(b.rank) + " is used twice");
    }
  }
  int given = 0;
  for (const auto& c : a.consent_states) given += c.is_given;
  if (given != 1 && !a.consent_states.empty()) {
    r.problem(a.consent_states.front().line,
              "exactly one consent state must be marked given = true (found " + std::to_string(given) + ")");
  }
  for (const auto& ag : a.agencies) {
    if (!ag.id.empty() && !std::regex_match(ag.id, kAgencyIdPattern)) {
      r.problem(ag.line, "agency '" + ag.id + "': agency ids are lower-case letters, digits and '-'");
    }
    if (!ag.id.empty() && ag.certificate != "urn:mash:agency:" + ag.id) {
      r.problem(ag.line, "agency '" + ag.id + "': certificate must be 'urn:mash:agency:" + ag.id +
                             "' (got '" + ag.certificate + "')");
    }
  }
  for (const auto& f : a.fields) {
    if (!f.agency.empty() && !has_id(a.agencies, f.agency)) {
      r.problem(f.line, "field '" + f.id + "': unknown agency '" + f.agency + "'");
    } else if (!f.id.empty() && f.id.rfind(f.agency + ".", 0) != 0) {
      r.problem(f.line, "field '" + f.id + "': field ids must start with their agency, '" + f.agency + ".'");
    }
    if (!f.type.empty() && !kFieldTypes.count(f.type)) {
      r.problem(f.line, "field '" + f.id + "': unknown type '" + f.type +
                            "' (boolean, text, date, count, enum, list)");
    }
  }

  auto check_refs = [&](int line, const std::string& who, const std::string& agency,
                        const std::vector<std::string>& fields, const std::vector<std::string>& purposes,
                        const std::vector<std::string>& bases, const std::vector<std::string>& consent) {
    bool agency_ok = has_id(a.agencies, agency);
    if (!agency.empty() && !agency_ok) r.problem(line, who + ": unknown agency '" + agency + "'");
    for (const auto& f : fields) {
      const FieldDef* def = a.field(f);
      if (!def) {
        r.problem(line, who + ": unknown field '" + f + "'");
      } else if (agency_ok && def->agency != agency) {
        r.problem(line, who + ": field '" + f + "' belongs to agency '" + def->agency + "', not '" +
                            agency + "'");
      }
    }
    for (const auto& p : purposes) {
      if (!has_id(a.purposes, p)) r.problem(line, who + ": unknown purpose '" + p + "'");
    }
    for (const auto& b : bases) {
      if (!has_id(a.legal_bases, b)) r.problem(line, who + ": unknown legal basis '" + b + "'");
    }
    for (const auto& c : consent) {
      if (!has_id(a.consent_states, c)) r.problem(line, who + ": unknown consent state '" + c + "'");
    }
  };

  for (const auto& f : a.forbids) {
    check_refs(f.line, "forbid '" + f.id + "'", f.agency, f.fields, f.purposes, f.legal_bases, f.consent);
  }
  for (const auto& g : a.grants) {
    std::string who = "grant '" + g.id + "'";
    check_refs(g.line, who, g.agency, g.fields, g.purposes, g.legal_bases, g.consent);
    if (!g.min_brag.empty() && !a.brag_level(g.min_brag)) {
      r.problem(g.line, who + ": unknown BRAG level '" + g.min_brag + "'");
    }
    // Grants that can never apply.
    bool any_usable_basis = false;
    for (const auto& b : g.legal_bases) {
      auto it = std::find_if(a.legal_bases.begin(), a.legal_bases.end(),
                             [&](const LegalBasis& l) { return l.id == b; });
      if (it == a.legal_bases.end()) continue;
      bool given_listed = std::any_of(g.consent.begin(), g.consent.end(), [&](const std::string& c) {
        auto cs = std::find_if(a.consent_states.begin(), a.consent_states.end(),
                               [&](const ConsentState& s) { return s.id == c; });
        return cs != a.consent_states.end() && cs->is_given;
      });
      if (!it->requires_consent || given_listed) any_usable_basis = true;
    }
    if (!any_usable_basis && !g.legal_bases.empty() && !g.consent.empty()) {
      r.problem(g.line, who + " can never apply: its legal bases all require consent, but it does "
                              "not list the consent state meaning consent was given");
    }
    if (!g.fields.empty()) {
      bool all_forbidden = std::all_of(g.fields.begin(), g.fields.end(), [&](const std::string& f) {
        return std::any_of(a.forbids.begin(), a.forbids.end(), [&](const Forbid& fb) {
          return fb.agency == g.agency && in(fb.fields, f) && fb.purposes.empty() &&
                 fb.legal_bases.empty() && fb.consent.empty();
        });
      });
      if (all_forbidden) {
        r.problem(g.line, who + " can never apply: every field it grants is forbidden without condition");
      }
    }
  }
  for (const auto& x : a.restricted) {
    if (!x.agency.empty() && !has_id(a.agencies, x.agency)) {
      r.problem(x.line, "restricted rule '" + x.id + "': unknown agency '" + x.agency + "'");
    }
    if (!x.handling.empty() && x.handling != "flag-only") {
      r.problem(x.line, "restricted rule '" + x.id + "': handling must be 'flag-only' (the hub learns "
                        "that restricted information exists and whom to ask, never its content)");
    }
  }
  static const std::set<std::string> kReasons = {"no-grant", "forbidden", "consent-required",
                                                 "below-min-brag", "outside-lookback", "narrowed-local"};
  for (const auto& t : a.tests) {
    std::string who = "test '" + t.name + "'";
    std::vector<std::string> all = t.fields;
    all.insert(all.end(), t.released.begin(), t.released.end());
    for (const auto& [f, reason] : t.withheld) {
      all.push_back(f);
      if (!kReasons.count(reason)) r.problem(t.line, who + ": unknown reason code '" + reason + "' for '" + f + "'");
    }
    check_refs(t.line, who, t.agency, all, {t.purpose}, {t.basis}, {t.consent});
    if (!a.brag_level(t.brag)) r.problem(t.line, who + ": unknown BRAG level '" + t.brag + "'");
    if (!t.fields.empty()) {
      for (const auto& f : t.released) {
        if (!in(t.fields, f)) r.problem(t.line, who + ": '" + f + "' is expected released but not requested");
      }
      for (const auto& [f, _] : t.withheld) {
        if (!in(t.fields, f)) r.problem(t.line, who + ": '" + f + "' is expected withheld but not requested");
      }
    }
    for (const auto& f : t.released) {
      if (t.withheld.count(f)) r.problem(t.line, who + ": '" + f + "' is expected both released and withheld");
    }
  }
  for (const auto& ag : a.agencies) {
    bool has_field = std::any_of(a.fields.begin(), a.fields.end(),
                                 [&](const FieldDef& f) { return f.agency == ag.id; });
    if (!has_field) r.problem(ag.line, "agency '" + ag.id + "' has no fields in the catalogue");
  }
}

nlohmann::json to_json(const toml::node& node) {
  if (const auto* t = node.as_table()) {
    nlohmann::json obj = nlohmann::json::object();
    for (const auto& [k, v] : *t) obj[std::string(k.str())] = to_json(v);
    return obj;
  }
  if (const auto* arr = node.as_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& v : *arr) out.push_back(to_json(v));
    return out;
  }
  if (auto s = node.value_exact<std::string>()) return *s;
  if (auto i = node.value_exact<int64_t>()) return *i;
  if (auto b = node.value_exact<bool>()) return *b;
  if (auto d = node.value_exact<double>()) return *d;
  std::ostringstream o;  // dates and times, in TOML's own notation
  if (auto d = node.as_date()) o << d->get();
  else if (auto tm = node.as_time()) o << tm->get();
  else if (auto dt = node.as_date_time()) o << dt->get();
  return o.str();
}

Result<toml::table> parse_toml(std::string_view text, const std::string& source) {
  try {
    return toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    return make_error(ErrorCode::kInvalidArgument,
                      source + ":" + std::to_string(e.source().begin.line) + ": " +
                          std::string(e.description()));
  }
}

}  // namespace

std::string Date::to_string() const {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", year, month, day);
  return buf;
}

Date Date::minus_months(int months) const {
  int total = year * 12 + (month - 1) - months;
  Date d{total / 12, total % 12 + 1, day};
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int max = kDays[d.month - 1];
  if (d.month == 2 && ((d.year % 4 == 0 && d.year % 100 != 0) || d.year % 400 == 0)) max = 29;
  d.day = std::min(d.day, max);
  return d;
}

std::optional<Date> Date::parse(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
  }
  Date d{std::stoi(std::string(s.substr(0, 4))), std::stoi(std::string(s.substr(5, 2))),
         std::stoi(std::string(s.substr(8, 2)))};
  if (d.month < 1 || d.month > 12 || d.day < 1 || d.day > 31) return std::nullopt;
  return d;
}

const IdentifierScheme* Agency::identifier_scheme(std::string_view scheme) const {
  for (const auto& s : identifier_schemes) {
    if (s.id == scheme) return &s;
  }
  return nullptr;
}

const Agency* Agreement::agency(std::string_view id) const {
  for (const auto& a : agencies) {
    if (a.id == id) return &a;
  }
  return nullptr;
}

const FieldDef* Agreement::field(std::string_view id) const {
  for (const auto& f : fields) {
    if (f.id == id) return &f;
  }
  return nullptr;
}

const BragLevel* Agreement::brag_level(std::string_view id) const {
  for (const auto& b : brag) {
    if (b.id == id) return &b;
  }
  return nullptr;
}

Result<Agreement> parse_agreement(std::string_view text, const std::string& source) {
  if (text.size() > (4u << 20)) {
    return make_error(ErrorCode::kInvalidArgument, source + ": larger than 4 MiB");
  }
  auto table = parse_toml(text, source);
  if (!table.ok()) return table.error();
  Reader r(source);
  Agreement a;
  a.source = source;
  read_document(r, *table, a);
  validate(r, a);
  if (!r.problems().empty()) {
    std::string all;
    for (const auto& p : r.problems()) all += (all.empty() ? "" : "\n") + p;
    return make_error(ErrorCode::kInvalidArgument, all);
  }
  return a;
}

Result<std::string> read_text_file(const std::filesystem::path& path, size_t limit) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorCode::kNotFound, path.string() + ": cannot open");
  std::string text;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (text.size() > limit) {
      return make_error(ErrorCode::kInvalidArgument,
                        path.string() + ": larger than " + std::to_string(limit) + " bytes");
    }
  }
  return text;
}

Result<Agreement> load_agreement(const std::filesystem::path& path) {
  auto text = read_text_file(path);
  if (!text.ok()) return text.error();
  return parse_agreement(*text, path.string());
}

Result<std::string> canonical_bytes(std::string_view toml_text, const std::string& source) {
  auto table = parse_toml(toml_text, source);
  if (!table.ok()) return table.error();
  return "mash-isa-v1\n" + to_json(*table).dump();
}

}  // namespace mash::policy
