#include "engine.h"

#include <toml++/toml.h>

#include <algorithm>
#include <set>

namespace mash::policy {

namespace {

template <typename T>
int index_of(const std::vector<T>& items, std::string_view id) {
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].id == id) return static_cast<int>(i);
  }
  return -1;
}

bool listed_or_any(const std::vector<std::string>& list, const std::string& id) {
  return list.empty() || std::find(list.begin(), list.end(), id) != list.end();
}

bool listed(const std::vector<std::string>& list, const std::string& id) {
  return std::find(list.begin(), list.end(), id) != list.end();
}

int line_of(const toml::node& n) { return static_cast<int>(n.source().begin.line); }

}  // namespace

const char* reason_code(Reason reason) {
  switch (reason) {
    case Reason::kReleased: return "released";
    case Reason::kNoGrant: return "no-grant";
    case Reason::kForbidden: return "forbidden";
    case Reason::kConsentRequired: return "consent-required";
    case Reason::kBelowMinBrag: return "below-min-brag";
    case Reason::kOutsideLookback: return "outside-lookback";
    case Reason::kNarrowedLocal: return "narrowed-local";
  }
  return "unknown";
}

Result<Policy> Policy::compile(Agreement agreement) {
  Policy p;
  p.agreement_ = std::move(agreement);
  const Agreement& a = p.agreement_;
  if (a.fields.size() > 60000 || a.grants.size() + a.forbids.size() > 60000) {
    return make_error(ErrorCode::kInvalidArgument, a.source + ": too many fields or clauses");
  }
  p.purposes_ = a.purposes.size();
  p.bases_ = a.legal_bases.size();
  p.consents_ = a.consent_states.size();
  p.brags_ = a.brag.size();
  p.agency_fields_.resize(a.agencies.size());
  p.local_restricted_.resize(a.agencies.size());
  for (size_t i = 0; i < a.fields.size(); ++i) {
    int ag = index_of(a.agencies, a.fields[i].agency);
    if (ag < 0) return make_error(ErrorCode::kInvalidArgument, "field of an unknown agency");
    p.field_ids_.push_back(a.fields[i].id);
    p.field_pos_[a.fields[i].id] = {static_cast<uint16_t>(ag),
                                    static_cast<uint16_t>(p.agency_fields_[ag].size())};
    p.agency_fields_[ag].push_back(static_cast<uint16_t>(i));
  }
  auto add_clause = [&](const std::string& id, const std::string& text) {
    p.clause_index_[id] = static_cast<uint16_t>(p.clause_ids_.size());
    p.clause_ids_.push_back(id);
    p.clause_texts_.push_back(text);
  };
  for (const auto& g : a.grants) {
    add_clause(g.id, "grant for " + g.agency + " from BRAG " + g.min_brag + " up, look-back " +
                         std::to_string(g.lookback_months) + " months" +
                         (g.review ? ", agency review required" : ""));
  }
  for (const auto& f : a.forbids) add_clause(f.id, f.reason);
  for (const auto& b : a.legal_bases) {
    if (b.requires_consent) add_clause("basis:" + b.id, b.name + " can be used only with consent given");
  }

  size_t combos = p.purposes_ * p.bases_ * p.consents_ * p.brags_;
  size_t offset = 0;
  for (const auto& fields : p.agency_fields_) {
    p.agency_base_.push_back(offset);
    offset += combos * fields.size();
  }
  if (offset > (64u << 20)) {
    return make_error(ErrorCode::kInvalidArgument, a.source + ": the agreement is too large to compile");
  }
  p.table_.resize(offset);
  for (size_t ag = 0; ag < a.agencies.size(); ++ag) {
    const auto& fields = p.agency_fields_[ag];
    for (size_t pu = 0; pu < p.purposes_; ++pu)
      for (size_t b = 0; b < p.bases_; ++b)
        for (size_t c = 0; c < p.consents_; ++c)
          for (size_t r = 0; r < p.brags_; ++r) {
            Query q{static_cast<uint16_t>(ag), static_cast<uint16_t>(pu), static_cast<uint16_t>(b),
                    static_cast<uint16_t>(c), static_cast<uint16_t>(r)};
            size_t base = p.block(q);
            for (size_t i = 0; i < fields.size(); ++i) {
              p.table_[base + i] = p.evaluate(ag, pu, b, c, r, fields[i]);
            }
          }
  }
  return p;
}

Decision Policy::evaluate(size_t agency, size_t purpose, size_t basis, size_t consent, size_t brag,
                          uint16_t field) const {
  const Agreement& a = agreement_;
  const std::string& ag = a.agencies[agency].id;
  const std::string& pu = a.purposes[purpose].id;
  const LegalBasis& lb = a.legal_bases[basis];
  const ConsentState& cs = a.consent_states[consent];
  const BragLevel& br = a.brag[brag];
  const std::string& f = field_ids_[field];
  Decision d;
  d.field = field;

  if (lb.requires_consent && !cs.is_given) {
    d.reason = Reason::kConsentRequired;
    d.clause = clause_index_.at("basis:" + lb.id);
    return d;
  }
  for (const auto& fb : a.forbids) {
    if (fb.agency == ag && listed(fb.fields, f) && listed_or_any(fb.purposes, pu) &&
        listed_or_any(fb.legal_bases, lb.id) && listed_or_any(fb.consent, cs.id)) {
      d.reason = Reason::kForbidden;
      d.clause = clause_index_.at(fb.id);
      return d;
    }
  }
  const Grant* consent_miss = nullptr;
  const Grant* brag_miss = nullptr;
  for (const auto& g : a.grants) {
    if (g.agency != ag || !listed(g.fields, f) || !listed(g.purposes, pu) ||
        !listed(g.legal_bases, lb.id)) {
      continue;
    }
    const BragLevel* min = a.brag_level(g.min_brag);
    bool brag_ok = min && br.rank >= min->rank;
    bool consent_ok = listed(g.consent, cs.id);
    if (brag_ok && consent_ok) {
      d.reason = Reason::kReleased;
      d.clause = clause_index_.at(g.id);
      d.review = g.review;
      d.lookback_months = static_cast<uint16_t>(g.lookback_months);
      return d;
    }
    if (!consent_ok && brag_ok && !consent_miss) consent_miss = &g;
    if (consent_ok && !brag_ok && !brag_miss) brag_miss = &g;
  }
  if (consent_miss) {
    d.reason = Reason::kConsentRequired;
    d.clause = clause_index_.at(consent_miss->id);
  } else if (brag_miss) {
    d.reason = Reason::kBelowMinBrag;
    d.clause = clause_index_.at(brag_miss->id);
  } else {
    d.reason = Reason::kNoGrant;
  }
  return d;
}

size_t Policy::block(const Query& q) const {
  return agency_base_[q.agency] +
         ((((static_cast<size_t>(q.purpose) * bases_ + q.basis) * consents_ + q.consent) * brags_ +
           q.brag) *
          agency_fields_[q.agency].size());
}

Result<Query> Policy::query(std::string_view agency, std::string_view purpose,
                            std::string_view basis, std::string_view consent,
                            std::string_view brag) const {
  const Agreement& a = agreement_;
  int ag = index_of(a.agencies, agency), pu = index_of(a.purposes, purpose),
      b = index_of(a.legal_bases, basis), c = index_of(a.consent_states, consent),
      r = index_of(a.brag, brag);
  auto unknown = [&](const char* what, std::string_view id) {
    return make_error(ErrorCode::kInvalidArgument,
                      std::string("unknown ") + what + " '" + std::string(id) + "' in agreement " +
                          a.id + " version " + std::to_string(a.version));
  };
  if (ag < 0) return unknown("agency", agency);
  if (pu < 0) return unknown("purpose", purpose);
  if (b < 0) return unknown("legal basis", basis);
  if (c < 0) return unknown("consent state", consent);
  if (r < 0) return unknown("BRAG level", brag);
  return Query{static_cast<uint16_t>(ag), static_cast<uint16_t>(pu), static_cast<uint16_t>(b),
               static_cast<uint16_t>(c), static_cast<uint16_t>(r)};
}

std::span<const Decision> Policy::decide(const Query& q) const {
  return std::span<const Decision>(table_.data() + block(q), agency_fields_[q.agency].size());
}

Result<Decision> Policy::decide_field(const Query& q, std::string_view field_id) const {
  auto it = field_pos_.find(std::string(field_id));
  if (it == field_pos_.end()) {
    return make_error(ErrorCode::kInvalidArgument, "unknown field '" + std::string(field_id) + "'");
  }
  if (it->second.first != q.agency) {
    return make_error(ErrorCode::kInvalidArgument,
                      "field '" + std::string(field_id) + "' belongs to agency '" +
                          agreement_.agencies[it->second.first].id + "', not '" +
                          agreement_.agencies[q.agency].id + "'");
  }
  return table_[block(q) + it->second.second];
}

Reason Policy::decide_fact(const Decision& d, const Date& fact, const Date& today) {
  if (!d.released()) return d.reason;
  if (fact < today.minus_months(d.lookback_months)) return Reason::kOutsideLookback;
  return Reason::kReleased;
}

std::vector<std::string> Policy::restricted_record_types(std::string_view agency) const {
  std::vector<std::string> out;
  int ag = index_of(agreement_.agencies, agency);
  if (ag < 0) return out;
  for (const auto& r : agreement_.restricted) {
    if (r.agency == agency) out.insert(out.end(), r.record_types.begin(), r.record_types.end());
  }
  const auto& local = local_restricted_[ag];
  out.insert(out.end(), local.begin(), local.end());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Status Policy::apply_local(const LocalPolicy& local) {
  int ag = index_of(agreement_.agencies, local.agency);
  if (ag < 0 || local.agreement != agreement_.id) {
    return make_error(ErrorCode::kInvalidArgument,
                      local.source + ": local policy is for another agency or agreement");
  }
  const Agreement& a = agreement_;
  for (const auto& rule : local.rules) {
    if (clause_index_.count(rule.id)) {
      return make_error(ErrorCode::kAlreadyExists, local.source + ": clause id '" + rule.id +
                                                       "' is already used by the agreement");
    }
    uint16_t clause = static_cast<uint16_t>(clause_ids_.size());
    clause_index_[rule.id] = clause;
    clause_ids_.push_back(rule.id);
    clause_texts_.push_back(rule.reason.empty() ? "local policy of " + local.agency : rule.reason);
    if (rule.kind == LocalRule::Kind::kRestricted) {
      auto& list = local_restricted_[ag];
      list.insert(list.end(), rule.record_types.begin(), rule.record_types.end());
      continue;
    }
    const auto& fields = agency_fields_[ag];
    for (size_t pu = 0; pu < purposes_; ++pu) {
      if (!listed_or_any(rule.purposes, a.purposes[pu].id)) continue;
      for (size_t b = 0; b < bases_; ++b) {
        if (!listed_or_any(rule.legal_bases, a.legal_bases[b].id)) continue;
        for (size_t c = 0; c < consents_; ++c) {
          if (!listed_or_any(rule.consent, a.consent_states[c].id)) continue;
          for (size_t r = 0; r < brags_; ++r) {
            size_t base = block(Query{static_cast<uint16_t>(ag), static_cast<uint16_t>(pu),
                                      static_cast<uint16_t>(b), static_cast<uint16_t>(c),
                                      static_cast<uint16_t>(r)});
            for (size_t i = 0; i < fields.size(); ++i) {
              Decision& d = table_[base + i];
              if (!d.released() || !listed(rule.fields, field_ids_[d.field])) continue;
              switch (rule.kind) {
                case LocalRule::Kind::kWithhold:
                  d.reason = Reason::kNarrowedLocal;
                  d.clause = clause;
                  d.review = false;
                  d.lookback_months = 0;
                  break;
                case LocalRule::Kind::kReview:
                  d.review = true;
                  break;
                case LocalRule::Kind::kLookback:
                  d.lookback_months = static_cast<uint16_t>(
                      std::min<int>(d.lookback_months, rule.months));
                  break;
                case LocalRule::Kind::kRestricted:
                  break;
              }
            }
          }
        }
      }
    }
  }
  return {};
}

std::vector<Policy::TestFailure> Policy::run_tests() const {
  std::vector<TestFailure> failures;
  for (const auto& t : agreement_.tests) {
    auto fail = [&](const std::string& m) { failures.push_back({t.name, t.line, m}); };
    auto q = query(t.agency, t.purpose, t.basis, t.consent, t.brag);
    if (!q.ok()) {
      fail(q.error().message);
      continue;
    }
    std::vector<std::string> requested = t.fields;
    if (requested.empty()) {
      for (uint16_t f : agency_fields_[q->agency]) requested.push_back(field_ids_[f]);
    }
    for (const auto& f : requested) {
      auto d = decide_field(*q, f);
      if (!d.ok()) {
        fail(d.error().message);
        continue;
      }
      bool expect_release = listed(t.released, f);
      std::string got = std::string(reason_code(d->reason)) +
                        (d->clause ? " (" + clause_ids_[d->clause] + ")" : "");
      if (expect_release && !d->released()) {
        fail(f + ": expected released, got withheld: " + got);
      } else if (!expect_release && d->released()) {
        fail(f + ": expected withheld, got released by " + clause_ids_[d->clause]);
      } else if (auto it = t.withheld.find(f); it != t.withheld.end() && it->second != reason_code(d->reason)) {
        fail(f + ": expected withheld as " + it->second + ", got " + got);
      }
    }
  }
  return failures;
}

Result<LocalPolicy> parse_local_policy(std::string_view text, const std::string& source,
                                       const Agreement& a) {
  if (text.size() > (1u << 20)) return make_error(ErrorCode::kInvalidArgument, source + ": larger than 1 MiB");
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    return make_error(ErrorCode::kInvalidArgument, source + ":" + std::to_string(e.source().begin.line) +
                                                       ": " + std::string(e.description()));
  }
  std::vector<std::string> problems;
  auto problem = [&](int line, const std::string& m) {
    problems.push_back(source + ":" + std::to_string(line) + ": " + m);
  };
  LocalPolicy local;
  local.source = source;
  for (const auto& [k, v] : root) {
    static const std::set<std::string> kAllowed = {"local", "withhold", "review", "lookback", "restricted"};
    if (!kAllowed.count(std::string(k.str()))) {
      problem(line_of(v), "a local policy can only narrow the agreement: '" + std::string(k.str()) +
                              "' is not allowed here (allowed: [local], [[withhold]], [[review]], "
                              "[[lookback]], [[restricted]])");
    }
  }
  auto get_string = [&](const toml::table& t, const char* key, int line, bool required) {
    const toml::node* n = t.get(key);
    if (!n || !n->is_string()) {
      if (required || n) problem(n ? line_of(*n) : line, std::string("'") + key + "' must be a string");
      return std::string();
    }
    return *n->value<std::string>();
  };
  auto get_list = [&](const toml::table& t, const char* key, int line, bool required) {
    std::vector<std::string> out;
    const toml::node* n = t.get(key);
    if (!n) {
      if (required) problem(line, std::string("missing '") + key + "'");
      return out;
    }
    const toml::array* arr = n->as_array();
    if (!arr) {
      problem(line_of(*n), std::string("'") + key + "' must be a list of strings");
      return out;
    }
    for (const auto& e : *arr) {
      if (auto s = e.value_exact<std::string>()) out.push_back(*s);
      else problem(line_of(e), std::string("'") + key + "' must contain only strings");
    }
    if (required && out.empty()) problem(line_of(*n), std::string("'") + key + "' is empty");
    return out;
  };

  int agency_index = -1;
  if (const toml::table* t = root["local"].as_table()) {
    for (const auto& [k, v] : *t) {
      if (k.str() != "agency" && k.str() != "agreement") {
        problem(line_of(v), "unknown key '" + std::string(k.str()) + "' in [local]");
      }
    }
    local.agency = get_string(*t, "agency", line_of(*t), true);
    local.agreement = get_string(*t, "agreement", line_of(*t), true);
    agency_index = index_of(a.agencies, local.agency);
    if (!local.agency.empty() && agency_index < 0) {
      problem(line_of(*t), "unknown agency '" + local.agency + "'");
    }
    if (!local.agreement.empty() && local.agreement != a.id) {
      problem(line_of(*t), "this local policy is for agreement '" + local.agreement + "', not '" + a.id + "'");
    }
  } else {
    problem(1, "missing [local] table (agency, agreement)");
  }

  std::set<std::string> ids;
  auto read_rules = [&](const char* key, LocalRule::Kind kind,
                        std::initializer_list<const char*> allowed) {
    const toml::node* n = root.get(key);
    if (!n) return;
    const toml::array* arr = n->as_array();
    if (!arr) {
      problem(line_of(*n), std::string("'") + key + "' must be written as [[" + key + "]] tables");
      return;
    }
    for (const auto& e : *arr) {
      const toml::table* t = e.as_table();
      if (!t) {
        problem(line_of(e), std::string("[[") + key + "]] entries must be tables");
        continue;
      }
      int line = line_of(e);
      for (const auto& [k, v] : *t) {
        bool ok = false;
        for (const char* al : allowed) ok = ok || k.str() == al;
        if (!ok) {
          problem(line_of(v), "'" + std::string(k.str()) + "' is not allowed in [[" + key +
                                  "]] (a local policy can only narrow the agreement)");
        }
      }
      LocalRule rule;
      rule.kind = kind;
      rule.line = line;
      rule.id = get_string(*t, "id", line, true);
      if (!rule.id.empty() && !ids.insert(rule.id).second) problem(line, "id '" + rule.id + "' is used twice");
      bool clash = index_of(a.grants, rule.id) >= 0 || index_of(a.forbids, rule.id) >= 0 ||
                   index_of(a.restricted, rule.id) >= 0;
      if (clash) problem(line, "id '" + rule.id + "' is already a clause of the agreement");
      if (kind == LocalRule::Kind::kRestricted) {
        rule.record_types = get_list(*t, "record_types", line, true);
      } else {
        rule.fields = get_list(*t, "fields", line, true);
        for (const auto& f : rule.fields) {
          const FieldDef* def = a.field(f);
          if (!def) {
            problem(line, "unknown field '" + f + "'");
          } else if (def->agency != local.agency) {
            problem(line, "field '" + f + "' belongs to agency '" + def->agency +
                              "': a local policy can only narrow its own agency's fields");
          }
        }
      }
      if (kind == LocalRule::Kind::kWithhold) {
        rule.purposes = get_list(*t, "purposes", line, false);
        rule.legal_bases = get_list(*t, "legal_bases", line, false);
        rule.consent = get_list(*t, "consent", line, false);
        rule.reason = get_string(*t, "reason", line, true);
        for (const auto& p : rule.purposes) {
          if (index_of(a.purposes, p) < 0) problem(line, "unknown purpose '" + p + "'");
        }
        for (const auto& b : rule.legal_bases) {
          if (index_of(a.legal_bases, b) < 0) problem(line, "unknown legal basis '" + b + "'");
        }
        for (const auto& c : rule.consent) {
          if (index_of(a.consent_states, c) < 0) problem(line, "unknown consent state '" + c + "'");
        }
      }
      if (kind != LocalRule::Kind::kWithhold && t->get("reason")) {
        rule.reason = get_string(*t, "reason", line, false);
      }
      if (kind == LocalRule::Kind::kLookback) {
        const toml::node* m = t->get("months");
        if (!m || !m->is_integer()) {
          problem(line, "'months' must be an integer");
        } else {
          rule.months = static_cast<int>(std::clamp<int64_t>(*m->value<int64_t>(), -1, 100000));
          if (rule.months < 1) problem(line_of(*m), "'months' must be at least 1");
          // The engine applies the shorter of the grant's and the local window, so a local
          // window only has to be no longer than the longest grant window to narrow something.
          for (const auto& f : rule.fields) {
            int longest = 0;
            for (const auto& g : a.grants) {
              if (g.agency == local.agency && listed(g.fields, f)) longest = std::max(longest, g.lookback_months);
            }
            if (rule.months > longest) {
              problem(line_of(*m), "look-back of " + std::to_string(rule.months) + " months for '" + f +
                                       "' is longer than any the agreement grants (at most " +
                                       std::to_string(longest) +
                                       " months): a local policy can only shorten it");
            }
          }
        }
      }
      local.rules.push_back(rule);
    }
  };
  read_rules("withhold", LocalRule::Kind::kWithhold,
             {"id", "fields", "purposes", "legal_bases", "consent", "reason"});
  read_rules("review", LocalRule::Kind::kReview, {"id", "fields", "reason"});
  read_rules("lookback", LocalRule::Kind::kLookback, {"id", "fields", "months", "reason"});
  read_rules("restricted", LocalRule::Kind::kRestricted, {"id", "record_types", "reason"});

  if (!problems.empty()) {
    std::string all;
    for (const auto& p : problems) all += (all.empty() ? "" : "\n") + p;
    return make_error(ErrorCode::kInvalidArgument, all);
  }
  return local;
}

}  // namespace mash::policy
