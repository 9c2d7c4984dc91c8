// mash-policy: the DPO's and administrator's tool for Information Sharing Agreements.
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "agreement.h"
#include "crypto.h"
#include "engine.h"
#include "signing.h"

using namespace mash;
using namespace mash::policy;

namespace {

constexpr const char* kUsageText = R"(usage: mash-policy COMMAND [ARGS]

Commands:
  validate FILE [--local LOCAL]      check an agreement (and an agency's local policy)
  test FILE [--local LOCAL]          run the agreement's own [[tests]]
  explain FILE --agency A --purpose P --basis B --consent C --brag R
          [--field F]... [--local LOCAL]
                                     every field's decision and the clause that decided it
  diff OLD NEW                       permissions added (+) and removed (-), and review changes (~)
  keygen --out KEY                   make a signer key pair: KEY (secret, 0600) and KEY.pub
  sign --key KEY FILE [--out SIG]    sign FILE (writes FILE.sig unless --out)
  verify --pubkey PUB FILE [--sig SIG]
                                     check FILE against FILE.sig and the signer's public key

Exit status: 0 success (and for diff: no differences); 1 the check failed (invalid
document, failing test, bad signature, differences found); 2 usage error; 3 a file
could not be read or written. Errors name the file and, where possible, the line.
)";

enum Exit { kOk = 0, kFailed = 1, kUsage = 2, kIo = 3 };

struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::vector<std::string>> options;
  bool has(const std::string& k) const { return options.count(k) != 0; }
  std::string get(const std::string& k) const { return has(k) ? options.at(k).back() : ""; }
};

bool parse_args(int argc, char** argv, int start, const std::set<std::string>& known, Args* out) {
  for (int i = start; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) == 0) {
      if (!known.count(a)) {
        std::cerr << "mash-policy: unknown option " << a << " (try --help)\n";
        return false;
      }
      if (i + 1 >= argc) {
        std::cerr << "mash-policy: " << a << " needs a value\n";
        return false;
      }
      out->options[a].push_back(argv[++i]);
    } else {
      out->positional.push_back(a);
    }
  }
  return true;
}

int report(const Error& e) {
  std::cerr << e.message << "\n";
  return e.code == ErrorCode::kNotFound || e.code == ErrorCode::kUnavailable ? kIo : kFailed;
}

// Loads, validates and compiles FILE, applying --local if given.
Result<Policy> load_policy(const std::string& file, const std::string& local_file) {
  auto agreement = load_agreement(file);
  if (!agreement.ok()) return agreement.error();
  std::optional<LocalPolicy> local;
  if (!local_file.empty()) {
    auto text = read_text_file(local_file, 1u << 20);
    if (!text.ok()) return text.error();
    auto parsed = parse_local_policy(*text, local_file, *agreement);
    if (!parsed.ok()) return parsed.error();
    local = std::move(parsed).value();
  }
  auto policy = Policy::compile(std::move(agreement).value());
  if (!policy.ok()) return policy.error();
  if (local) {
    if (auto st = policy->apply_local(*local); !st.ok()) return st.error();
  }
  return policy;
}

int cmd_validate(const Args& args) {
  if (args.positional.size() != 1) {
    std::cerr << "mash-policy: validate needs one FILE\n";
    return kUsage;
  }
  auto policy = load_policy(args.positional[0], args.get("--local"));
  if (!policy.ok()) return report(policy.error());
  const Agreement& a = policy->agreement();
  std::cout << args.positional[0] << ": valid: agreement " << a.id << " version " << a.version << ", "
            << a.agencies.size() << " agencies, " << a.fields.size() << " fields, " << a.grants.size()
            << " grants, " << a.forbids.size() << " forbids, " << a.restricted.size()
            << " restricted rules, " << a.tests.size() << " tests";
  if (args.has("--local")) std::cout << "; local policy " << args.get("--local") << " only narrows it";
  std::cout << "\n";
  return kOk;
}

int cmd_test(const Args& args) {
  if (args.positional.size() != 1) {
    std::cerr << "mash-policy: test needs one FILE\n";
    return kUsage;
  }
  auto policy = load_policy(args.positional[0], args.get("--local"));
  if (!policy.ok()) return report(policy.error());
  auto failures = policy->run_tests();
  std::set<std::string> failed_tests;
  for (const auto& f : failures) {
    std::cout << args.positional[0] << ":" << f.line << ": FAIL " << f.test << ": " << f.message << "\n";
    failed_tests.insert(f.test);
  }
  size_t total = policy->agreement().tests.size();
  std::cout << (total - failed_tests.size()) << " passed, " << failed_tests.size() << " failed\n";
  return failures.empty() ? kOk : kFailed;
}

int cmd_explain(const Args& args) {
  if (args.positional.size() != 1) {
    std::cerr << "mash-policy: explain needs one FILE\n";
    return kUsage;
  }
  for (const char* k : {"--agency", "--purpose", "--basis", "--consent", "--brag"}) {
    if (!args.has(k)) {
      std::cerr << "mash-policy: explain needs " << k << "\n";
      return kUsage;
    }
  }
  auto policy = load_policy(args.positional[0], args.get("--local"));
  if (!policy.ok()) return report(policy.error());
  auto q = policy->query(args.get("--agency"), args.get("--purpose"), args.get("--basis"),
                         args.get("--consent"), args.get("--brag"));
  if (!q.ok()) return report(q.error());
  std::vector<Decision> decisions;
  if (args.has("--field")) {
    for (const auto& f : args.options.at("--field")) {
      auto d = policy->decide_field(*q, f);
      if (!d.ok()) return report(d.error());
      decisions.push_back(*d);
    }
  } else {
    auto all = policy->decide(*q);
    decisions.assign(all.begin(), all.end());
  }
  const Agreement& a = policy->agreement();
  std::cout << "agreement " << a.id << " version " << a.version << "\n"
            << "agency " << args.get("--agency") << ", purpose " << args.get("--purpose")
            << ", basis " << args.get("--basis") << ", consent " << args.get("--consent")
            << ", BRAG " << args.get("--brag") << "\n";
  for (const auto& d : decisions) {
    std::cout << "  " << policy->field(d.field) << ": ";
    if (d.released()) {
      std::cout << "released by " << policy->clause(d.clause) << " (facts from the last "
                << d.lookback_months << " months"
                << (d.review ? "; the agency reviews before release" : "") << ")\n";
    } else {
      std::cout << "withheld: " << reason_code(d.reason);
      if (d.clause) std::cout << " by " << policy->clause(d.clause) << " (" << policy->clause_text(d.clause) << ")";
      std::cout << "\n";
    }
  }
  auto restricted = policy->restricted_record_types(args.get("--agency"));
  if (!restricted.empty()) {
    std::cout << "  restricted record types (flag and contact only):";
    for (const auto& r : restricted) std::cout << " " << r;
    std::cout << "\n";
  }
  return kOk;
}

// For diff: released (and review) per agency/purpose/basis/consent/brag/field, by id.
std::map<std::string, bool> permissions(const Policy& p) {
  std::map<std::string, bool> out;  // key -> review
  const Agreement& a = p.agreement();
  for (const auto& ag : a.agencies)
    for (const auto& pu : a.purposes)
      for (const auto& b : a.legal_bases)
        for (const auto& c : a.consent_states)
          for (const auto& r : a.brag) {
            auto q = p.query(ag.id, pu.id, b.id, c.id, r.id);
            if (!q.ok()) continue;
            for (const auto& d : p.decide(*q)) {
              if (!d.released()) continue;
              out[p.field(d.field) + "\t" + pu.id + "\t" + b.id + "\t" + c.id + "@" + r.id] = d.review;
            }
          }
  return out;
}

int cmd_diff(const Args& args) {
  if (args.positional.size() != 2) {
    std::cerr << "mash-policy: diff needs OLD and NEW\n";
    return kUsage;
  }
  auto old_policy = load_policy(args.positional[0], "");
  if (!old_policy.ok()) return report(old_policy.error());
  auto new_policy = load_policy(args.positional[1], "");
  if (!new_policy.ok()) return report(new_policy.error());
  auto before = permissions(*old_policy), after = permissions(*new_policy);
  // Group by sign, field, purpose, basis: list the consent@brag combinations.
  std::map<std::string, std::vector<std::string>> groups;
  auto split = [](const std::string& key) {
    auto last = key.rfind('\t');
    return std::make_pair(key.substr(0, last), key.substr(last + 1));
  };
  for (const auto& [k, review] : after) {
    auto [head, combo] = split(k);
    auto it = before.find(k);
    if (it == before.end()) groups["+ " + head].push_back(combo);
    else if (it->second != review) groups[std::string(review ? "~ review now required: " : "~ review no longer required: ") + head].push_back(combo);
  }
  for (const auto& [k, review] : before) {
    if (!after.count(k)) {
      auto [head, combo] = split(k);
      groups["- " + head].push_back(combo);
    }
  }
  const auto& oa = old_policy->agreement();
  const auto& na = new_policy->agreement();
  std::cout << "from " << oa.id << " version " << oa.version << " to " << na.id << " version "
            << na.version << "\n";
  for (const auto& [head, combos] : groups) {
    std::string line = head;
    for (auto& ch : line) {
      if (ch == '\t') ch = ' ';
    }
    std::cout << line << " [consent@brag:";
    for (const auto& c : combos) std::cout << " " << c;
    std::cout << "]\n";
  }
  if (groups.empty()) std::cout << "no permission changes\n";
  return groups.empty() ? kOk : kFailed;
}

int cmd_keygen(const Args& args) {
  if (!args.has("--out") || !args.positional.empty()) {
    std::cerr << "mash-policy: keygen needs --out KEY\n";
    return kUsage;
  }
  auto key = SigningKey::generate();
  std::string path = args.get("--out");
  if (auto st = save_signing_key(key, path); !st.ok()) return (std::cerr << st.error().message << "\n", kIo);
  if (auto st = save_verify_key(key.verify_key(), path + ".pub"); !st.ok()) {
    return (std::cerr << st.error().message << "\n", kIo);
  }
  std::cout << "wrote " << path << " (secret, mode 0600) and " << path << ".pub (public: "
            << to_base64(key.verify_key().bytes) << ")\n";
  return kOk;
}

int cmd_sign(const Args& args) {
  if (!args.has("--key") || args.positional.size() != 1) {
    std::cerr << "mash-policy: sign needs --key KEY and FILE\n";
    return kUsage;
  }
  auto key = load_signing_key(args.get("--key"));
  if (!key.ok()) return (std::cerr << key.error().message << "\n", kIo);
  const std::string& file = args.positional[0];
  auto text = read_text_file(file);
  if (!text.ok()) return report(text.error());
  auto sig = sign_agreement(*text, file, *key);
  if (!sig.ok()) return report(sig.error());
  std::string out = args.has("--out") ? args.get("--out") : file + ".sig";
  std::ofstream o(out, std::ios::trunc);
  o << format_signature(*sig);
  if (!o.flush()) return (std::cerr << out << ": cannot write\n", kIo);
  std::cout << "signed " << sig->agreement_id << " version " << sig->version << " -> " << out << "\n";
  return kOk;
}

int cmd_verify(const Args& args) {
  if (!args.has("--pubkey") || args.positional.size() != 1) {
    std::cerr << "mash-policy: verify needs --pubkey PUB and FILE\n";
    return kUsage;
  }
  auto pub = load_verify_key(args.get("--pubkey"));
  if (!pub.ok()) return (std::cerr << pub.error().message << "\n", kIo);
  const std::string& file = args.positional[0];
  auto text = read_text_file(file);
  if (!text.ok()) return report(text.error());
  std::string sig_file = args.has("--sig") ? args.get("--sig") : file + ".sig";
  auto sig = read_text_file(sig_file, 4096);
  if (!sig.ok()) {
    std::cerr << file << ": no signature (" << sig.error().message << ")\n";
    return kFailed;
  }
  auto agreement = verify_agreement(*text, file, *sig, *pub);
  if (!agreement.ok()) return report(agreement.error());
  std::cout << file << ": signature good: " << agreement->id << " version " << agreement->version << "\n";
  return kOk;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::cout << kUsageText;
    return argc < 2 ? kUsage : kOk;
  }
  std::string cmd = argv[1];
  Args args;
  std::set<std::string> known;
  if (cmd == "validate" || cmd == "test") known = {"--local"};
  else if (cmd == "explain") known = {"--agency", "--purpose", "--basis", "--consent", "--brag", "--field", "--local"};
  else if (cmd == "diff") known = {};
  else if (cmd == "keygen") known = {"--out"};
  else if (cmd == "sign") known = {"--key", "--out"};
  else if (cmd == "verify") known = {"--pubkey", "--sig"};
  else {
    std::cerr << "mash-policy: unknown command '" << cmd << "' (try --help)\n";
    return kUsage;
  }
  if (!parse_args(argc, argv, 2, known, &args)) return kUsage;
  if (cmd == "validate") return cmd_validate(args);
  if (cmd == "test") return cmd_test(args);
  if (cmd == "explain") return cmd_explain(args);
  if (cmd == "diff") return cmd_diff(args);
  if (cmd == "keygen") return cmd_keygen(args);
  if (cmd == "sign") return cmd_sign(args);
  return cmd_verify(args);
}
