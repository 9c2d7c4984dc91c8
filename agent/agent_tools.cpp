#include "agent_tools.h"
#include "match_tool.h"
#include "review_tool.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <iomanip>
#include <set>
#include <sstream>

#include <sys/statvfs.h>

#include "agent_state.h"
#include "audit_log.h"
#include "clock.h"
#include "crypto.h"
#include "extract.h"
#include "matcher.h"
#include "policy_holder.h"
#include "pseudonym.h"
#include "tls.h"
#include "witness.h"

namespace mash::agent {

std::unique_ptr<PolicyHolder> load_policy(const AgentConfig& config, std::ostream& err) {
  auto signer = load_verify_key(config.isa_signer);
  if (!signer.ok()) {
    err << "mash-agent: policy.signer: " << signer.error().message << "\n";
    return nullptr;
  }
  auto holder = std::make_unique<PolicyHolder>(config.store_dir / "policy", *signer, config.local_policy,
                                               config.agency);
  if (auto st = holder->load(config.agreement, config.agreement_sig); !st.ok()) {
    err << "mash-agent: agreement: " << st.error().message << "\n";
    return nullptr;
  }
  return holder;
}

namespace {

int do_import(const AgentConfig& config, const ToolArgs& args, std::ostream& out, std::ostream& err) {
  if (args.persons.empty() || args.facts.empty()) {
    err << "mash-agent: import needs --persons FILE and --facts FILE\n";
    return 2;
  }
  auto policy = load_policy(config, err);
  if (!policy) return 2;
  auto current = policy->current();
  if (!current) {
    err << "mash-agent: no agreement is held yet, so the field ids in the facts cannot be checked: "
           "set [policy] agreement in the configuration, or start the agent once so the hub sends it\n";
    return 1;
  }
  auto store = ExtractStore::open(config.store_dir / "extract", config.extract_map_size);
  if (!store.ok()) {
    err << "mash-agent: extract store: " << store.error().message << "\n";
    return 1;
  }
  ImportOptions opts;
  opts.persons = args.persons;
  opts.facts = args.facts;
  opts.mapping = args.mapping;
  opts.dry_run = args.dry_run;
  opts.strict = args.strict;
  opts.agency = config.agency;
  opts.identifier_schemes = config.identifier_schemes;
  opts.agreement = &current->agreement();
  auto report = import_extract(**store, opts);
  if (!report.ok()) {
    err << "mash-agent: import refused, nothing changed:\n" << report.error().message << "\n";
    return 1;
  }
  for (const auto& n : report->notes) out << "note: " << n << "\n";
  for (const auto& p : report->problems) out << p << "\n";
  if (report->problem_count > report->problems.size()) {
    out << "... and " << (report->problem_count - report->problems.size()) << " more problems\n";
  }
  out << (args.dry_run ? "dry run (nothing changed): " : "imported: ") << report->persons_imported << " of "
      << report->persons_read << " persons, " << report->facts_imported << " of " << report->facts_read
      << " facts; " << report->problem_count << " problems; " << std::fixed << std::setprecision(2)
      << report->seconds << " s\n";
  return 0;
}

// --- doctor ---

struct Check {
  std::ostream& out;
  int failures = 0;
  void ok(const std::string& what, const std::string& detail) { out << "OK    " << what << ": " << detail << "\n"; }
  void warn(const std::string& what, const std::string& fix) { out << "WARN  " << what << ": " << fix << "\n"; }
  void fail(const std::string& what, const std::string& fix) {
    out << "FAIL  " << what << ": " << fix << "\n";
    ++failures;
  }
};

std::string days_left(std::chrono::system_clock::time_point t) {
  auto d = std::chrono::duration_cast<std::chrono::hours>(t - std::chrono::system_clock::now()).count() / 24;
  return std::to_string(d) + " days";
}

Status tls_handshake(const AgentConfig& config, std::chrono::milliseconds timeout) {
  auto ctx = make_link_client_context(config.tls);
  if (!ctx.ok()) return ctx.error();
  namespace asio = boost::asio;
  asio::io_context io;
  asio::ssl::stream<asio::ip::tcp::socket> stream(io, **ctx);
  if (auto st = set_expected_server_name(stream.native_handle(), config.link.server_name); !st.ok()) return st;
  boost::system::error_code result = asio::error::timed_out;
  std::string stage = "connect";
  asio::ip::tcp::resolver resolver(io);
  asio::steady_timer timer(io, timeout);
  timer.async_wait([&](const boost::system::error_code& ec) {
    if (!ec) stream.lowest_layer().close();
  });
  resolver.async_resolve(config.link.host, std::to_string(config.link.port), [&](auto ec, auto results) {
    if (ec) {
      result = ec;
      timer.cancel();
      return;
    }
    asio::async_connect(stream.lowest_layer(), results, [&](auto ec2, auto) {
      if (ec2) {
        result = ec2;
        timer.cancel();
        return;
      }
      stage = "TLS handshake";
      stream.async_handshake(asio::ssl::stream_base::client, [&](auto ec3) {
        result = ec3;
        timer.cancel();
      });
    });
  });
  io.run();
  if (result) return make_error(ErrorCode::kUnavailable, stage + ": " + result.message());
  return {};
}

int do_doctor(const AgentConfig& config, std::ostream& out) {
  Check c{out};
  // Certificates.
  auto cert = read_certificate_info(config.tls.cert);
  auto now = std::chrono::system_clock::now();
  if (!cert.ok()) {
    c.fail("certificate", cert.error().message);
  } else if (now > cert->not_after) {
    c.fail("certificate", "expired; request a new one from the hub (certs/README.md)");
  } else if (now < cert->not_before) {
    c.fail("certificate", "not valid yet: check the clock");
  } else if (cert->not_after - now < std::chrono::hours(24 * 30)) {
    c.warn("certificate", "expires in " + days_left(cert->not_after) + ": renew it soon");
  } else {
    c.ok("certificate", "agency " + config.agency + ", valid for " + days_left(cert->not_after));
  }
  auto ca = read_certificate_info(config.tls.ca);
  if (!ca.ok() || now > ca->not_after) {
    c.fail("hub CA certificate", ca.ok() ? "expired: get the current one from the hub" : ca.error().message);
  } else {
    c.ok("hub CA certificate", "valid for " + days_left(ca->not_after));
  }
  // Keys.
  for (auto [name, path] : {std::pair<const char*, std::filesystem::path>{"tls.key", config.tls.key},
                            {"disclosure.signing_key", config.disclosure_key}}) {
    if (auto st = check_private_key_mode(path); !st.ok()) {
      c.fail(name, st.error().message + " (chmod 600 " + path.string() + ")");
    } else {
      c.ok(name, path.string() + " is private (0600)");
    }
  }
  // Clock: certificates and deadlines depend on it.
  if (cert.ok() && ca.ok() && now >= ca->not_before && now >= cert->not_before) {
    c.ok("clock", iso_time(unix_millis_now()) + " is inside the certificates' validity (keep NTP running)");
  } else {
    c.fail("clock", "the system time " + iso_time(unix_millis_now()) + " is before the certificates' start: set the clock (NTP)");
  }
  // The agreement.
  std::ostringstream policy_err;
  auto policy = load_policy(config, policy_err);
  if (!policy) {
    std::string e = policy_err.str();
    if (!e.empty() && e.back() == '\n') e.pop_back();
    c.fail("agreement", e);
  } else if (auto p = policy->current(); !p) {
    c.warn("agreement", "none held yet: the hub sends it when the agent connects, or set [policy] agreement");
  } else {
    const auto& a = p->agreement();
    c.ok("agreement", a.id + " version " + std::to_string(a.version) + ", signature verified, review due " +
                          a.review.to_string() + (config.local_policy.empty() ? "" : ", local policy applied"));
  }
  // The extract.
  auto store = ExtractStore::open(config.store_dir / "extract", config.extract_map_size);
  if (!store.ok()) {
    c.fail("extract", store.error().message);
  } else {
    auto txn = (*store)->begin_read();
    auto info = txn.ok() ? (*store)->info(*txn) : Result<ExtractInfo>(txn.error());
    if (!info.ok()) {
      c.fail("extract", info.error().message);
    } else if (info->imported_at_ms == 0) {
      c.fail("extract", "nothing imported: run mash-agent import --config FILE --persons ... --facts ...");
    } else {
      int64_t age_days = (unix_millis_now() - info->imported_at_ms) / 86'400'000;
      std::string detail = std::to_string(info->persons) + " persons, " + std::to_string(info->facts) +
                           " facts, imported " + iso_time(info->imported_at_ms);
      if (age_days > config.extract_max_age_days) {
        c.warn("extract", detail + ": older than " + std::to_string(config.extract_max_age_days) +
                              " days; import a fresh extract");
      } else {
        c.ok("extract", detail);
      }
    }
  }
  // The hub's audit log as this agent witnessed it: an alarm stops enquiries until reset.
  if (auto key = load_verify_key(config.broker_audit_key); !key.ok()) {
    c.fail("hub audit witness", "witness.broker_audit_key: " + key.error().message);
  } else if (auto w = Witness::open(config.witness_state, NoteVerifier(config.broker_audit_origin, *key),
                                    config.broker_audit_origin);
             !w.ok()) {
    c.fail("hub audit witness", w.error().message);
  } else if (w->alarmed()) {
    c.fail("hub audit witness", "ALARM: " + w->alarm_reason() +
                                    "; enquiries are refused. Ask the hub why its log changed, then run mash-agent "
                                    "witness-reset --config FILE");
  } else {
    c.ok("hub audit witness", w->witnessed_size() ? "the hub's log witnessed up to " +
                                                        std::to_string(w->witnessed_size()) + " records, consistent"
                                                  : "no checkpoint witnessed yet (the first is trusted when the agent connects)");
  }
  // The agency's own disclosure log, every record checked (read only: safe while the agent runs).
  if (!std::filesystem::exists(config.disclosure_dir / "data.mdb")) {
    c.warn("disclosure log", config.disclosure_dir.string() + " not created yet: the agent makes it when it first runs");
  } else if (auto key = load_signing_key(config.disclosure_key); key.ok()) {
    auto report = verify_audit_store(config.disclosure_dir, NoteVerifier(config.disclosure_origin, key->verify_key()),
                                     config.disclosure_origin);
    if (!report.ok()) {
      c.fail("disclosure log", report.error().message);
    } else if (!report->ok()) {
      c.fail("disclosure log", report->problems.front() + (report->problems.size() > 1 ? " (and " +
                               std::to_string(report->problems.size() - 1) + " more)" : "") +
                               ": restore it from backup; mash-audit verify --store " + config.disclosure_dir.string() +
                               " lists every problem");
    } else {
      c.ok("disclosure log", std::to_string(report->records) + " records, " + std::to_string(report->checkpoints) +
                                 " checkpoints, verified");
    }
  }
  // What waits: answers the hub has not confirmed, answers not yet on the record, reviews.
  if (auto state = AgentState::open(config.store_dir / "state"); !state.ok()) {
    c.fail("answers waiting", state.error().message);
  } else {
    size_t outbox = 0, journal = 0, review = 0;
    if (auto txn = (*state)->env().begin_read(); txn.ok()) {
      auto count = [&](Dbi db, size_t& n) {
        (void)txn->for_each_prefix(db, "", [&](std::string_view, std::string_view) { return ++n < 1'000'000; });
      };
      count((*state)->outbox(), outbox);
      count((*state)->journal(), journal);
    }
    if (auto items = (*state)->review_items(); items.ok()) {
      for (const auto& it : *items) review += it.state == "pending" ? 1 : 0;
    }
    const std::string detail = std::to_string(outbox) + " answers waiting for the hub's acknowledgement, " +
                               std::to_string(review) + " waiting for review";
    if (journal > 0) {
      c.warn("answers waiting", std::to_string(journal) + " answers made but not yet on the disclosure record (the agent "
                                "finishes them when it runs); " + detail);
    } else if (outbox > 10'000) {
      c.warn("answers waiting", detail + ": the hub is not acknowledging; check the hub connection below");
    } else {
      c.ok("answers waiting", detail);
    }
  }
  // Disk space for the stores.
  for (auto [name, dir] : {std::pair<const char*, std::filesystem::path>{"disk (store)", config.store_dir},
                           {"disk (disclosure log)", config.disclosure_dir}}) {
    struct statvfs fs {};
    std::error_code ec;
    while (!dir.empty() && !std::filesystem::exists(dir, ec) && dir.has_parent_path() && dir.parent_path() != dir) {
      dir = dir.parent_path();  // not made yet: the disk it will be made on
    }
    if (::statvfs(dir.c_str(), &fs) != 0) {
      c.fail(name, dir.string() + ": cannot be read");
      continue;
    }
    const uint64_t free_mb = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize / (1024 * 1024);
    const std::string detail = std::to_string(free_mb) + " MB free on the disk of " + dir.string();
    if (free_mb < 256) {
      c.fail(name, detail + ": free some space, or the agent cannot record its answers");
    } else if (free_mb < 1024) {
      c.warn(name, detail + ": less than 1 GB");
    } else {
      c.ok(name, detail);
    }
  }
  // The hub.
  if (auto st = tls_handshake(config, std::chrono::milliseconds(5000)); !st.ok()) {
    c.fail("hub connection", config.link.host + ":" + std::to_string(config.link.port) + ": " + st.error().message +
                                 " (check the address, the firewall, and that the certificates are current)");
  } else {
    c.ok("hub connection", config.link.host + ":" + std::to_string(config.link.port) +
                               ": TLS 1.3 handshake verified (" + config.link.server_name + ")");
  }
  out << (c.failures == 0 ? "all checks passed\n" : std::to_string(c.failures) + " checks failed\n");
  return c.failures == 0 ? 0 : 1;
}

}  // namespace

int run_tool(const AgentConfig& config, const ToolArgs& args, std::ostream& out, std::ostream& err) {
  if (args.command == "import") return do_import(config, args, out, err);
  if (args.command == "match") return run_match_tool(config, args, out, err);
  if (args.command == "review") return run_review_tool(config, args, out, err);
  if (args.command == "doctor") return do_doctor(config, out);
  err << "mash-agent: unknown command " << args.command << "\n";
  return 2;
}

}  // namespace mash::agent
