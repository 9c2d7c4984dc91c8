// mash-agent: one per agency. Dials out to the hub's broker over mutually authenticated TLS 1.3,
// answers enquiries from the agency's extract under the Information Sharing Agreement, and keeps
// its own disclosure log. The subcommands are the agency's tools around it.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <iostream>
#include <set>

#include "agent_config.h"
#include "agent_tools.h"
#include "backup_tool.h"
#include "audit_log.h"
#include "broker_link.h"
#include "crypto.h"
#include "enquiry_service.h"
#include "extract.h"
#include "log.h"
#include "stop_signals.h"
#include "policy_holder.h"
#include "signed_note.h"
#include "tls.h"
#include "version.h"
#include "witness.h"

namespace {

constexpr const char* kUsage = R"(usage: mash-agent --config FILE [--check-config]
       mash-agent import --config FILE --persons FILE --facts FILE [--mapping FILE]
                         [--dry-run] [--strict]
       mash-agent match --config FILE --subject FILE.json [--json]
       mash-agent match --config FILE --subjects FILE.jsonl
       mash-agent review list|show ID|approve ID|decline ID --config FILE
       mash-agent review resolve ID SUBJECT --candidate LOCAL_ID|none --config FILE
                         [--withhold FIELD,...] [--note TEXT] [--reviewer NAME]
       mash-agent doctor --config FILE
       mash-agent backup --config FILE --out DIR
       mash-agent restore --config FILE --from DIR
       mash-agent witness-reset --config FILE
       mash-agent keygen --out FILE
       mash-agent --help | --version

Runs the MASH Exchange agent for one agency. It dials out to the hub's broker
(the agency opens no inbound port), proves its agency with its certificate,
answers enquiries from the agency's extract under the Information Sharing
Agreement, and reconnects by itself when the link drops.

Commands:
  import          load the agency's extract (persons.csv and facts.csv, described
                  in agent/DATA.md); bad rows are reported FILE:LINE and skipped
                  (--strict: any bad row refuses the import); --dry-run checks and
                  changes nothing. The new extract replaces the old one atomically,
                  also while the agent runs.
  match           match one person (JSON: ref, forenames, surname, other_names,
                  date_of_birth, gender, address, postcode, uprn, identifiers
                  {nhs, upn, pnc, probation, housing, or the agency's own
                  schemes}) and print the outcome with its evidence (--json:
                  as JSON); --subjects FILE.jsonl: one person a line, one JSON
                  result a line (outcome, score, matched ids, evidence)
  review          answers waiting for a person at the agency: list, show one,
                  resolve a possible subject (the candidate the reviewer
                  confirmed, or none), approve (optionally withholding more
                  fields) or decline; the running agent sends the result
                  within a second
  doctor          check certificates, keys, clock, the agreement, the extract, the
                  audit witness, the disclosure log, answers waiting, disk space and
                  the connection to the hub; one line per check with OK or the fix
  backup          copy the extract, the state, the agreement, the disclosure log (the
                  copy verified), the witness state and the signing key into a new
                  folder DIR, while the agent runs; keep it as safe as this server
  restore         put a backup back, with the agent stopped; refuses to overwrite
                  anything (move the old stores aside first)
  keygen --out FILE  make this agency's signing key (FILE, 0600) and FILE.pub; it
                  signs answers and the disclosure log; give the .pub to the hub
  witness-reset   clear an audit witness alarm (after finding out why the hub's audit
                  history changed; run it with the agent stopped)

Options:
  --config FILE   the agent's TOML configuration (see deploy/examples/agent.toml)
  --check-config  validate the configuration and exit
  --help          show this help
  --version       print the version

Exit status: 0 on success or a clean stop (SIGINT/SIGTERM), 2 for usage or
configuration errors, 1 for runtime failures (and for doctor, a failed check).
)";

int run_agent(const mash::agent::AgentConfig& config, bool check_only, const std::string& config_path) {
  // A SIGTERM during start-up waits for the handler below instead of killing a half-open agent.
  if (!check_only) mash::hold_stop_signals();
  auto audit_key = mash::load_verify_key(config.broker_audit_key);
  auto witness = mash::Witness::open(
      config.witness_state, mash::NoteVerifier(config.broker_audit_origin, *audit_key),
      config.broker_audit_origin);
  if (!witness.ok()) {
    std::cerr << "mash-agent: witness state: " << witness.error().message << "\n";
    return 1;
  }
  auto tls = mash::ReloadingTlsContext::create(config.tls, mash::ReloadingTlsContext::Side::kClient);
  if (!tls.ok()) {
    std::cerr << "mash-agent: configuration error: tls: " << tls.error().message << "\n";
    return 2;
  }
  auto disclosure_key = mash::load_signing_key(config.disclosure_key);
  if (!disclosure_key.ok()) {
    std::cerr << "mash-agent: configuration error: disclosure.signing_key: " << disclosure_key.error().message << "\n";
    return 2;
  }
  mash::agent::PolicyHolder policy(config.store_dir / "policy", *mash::load_verify_key(config.isa_signer),
                                   config.local_policy, config.agency);
  if (auto st = policy.load(config.agreement, config.agreement_sig); !st.ok()) {
    std::cerr << "mash-agent: agreement: " << st.error().message << "\n";
    return 2;
  }
  if (check_only) {
    std::cout << "mash-agent: configuration " << config_path << " is valid (agency " << config.agency
              << ", agreement version " << policy.version() << ")\n";
    return 0;
  }
  auto extract = mash::agent::ExtractStore::open(config.store_dir / "extract", config.extract_map_size);
  if (!extract.ok()) {
    std::cerr << "mash-agent: extract store: " << extract.error().message << "\n";
    return 1;
  }
  auto state = mash::agent::AgentState::open(config.store_dir / "state");
  if (!state.ok()) {
    std::cerr << "mash-agent: state store: " << state.error().message << "\n";
    return 1;
  }
  mash::Logger log(std::cerr, config.log_level, "agent", config.log_format);
  log.info("starting", {{"version", MASH_VERSION}, {"agency", config.agency}});
  mash::AuditLogOptions disclosure_options;
  disclosure_options.origin = config.disclosure_origin;
  disclosure_options.checkpoint_interval = config.disclosure_checkpoint_interval;
  disclosure_options.on_verify = [&log](const std::string& event, uint64_t done, uint64_t total,
                                        const std::string& detail) {
    if (event == "damaged") {
      log.error("disclosure-log-damaged", {{"checked", done}, {"records", total}, {"problem", detail},
                                           {"action", "enquiries are refused; run mash-audit verify and restore the store from backup"}});
    } else if (event == "verified") {
      log.info("disclosure-log-verified", {{"records", total}});
    } else {
      log.info("disclosure-log-verifying", {{"checked", done}, {"records", total}});
    }
  };
  // The same key signs answers (with its own domain prefix, common/envelope.h).
  auto answer_key = mash::load_signing_key(config.disclosure_key);
  if (!answer_key.ok()) {
    std::cerr << "mash-agent: disclosure.signing_key: " << answer_key.error().message << "\n";
    return 2;
  }
  auto disclosure = mash::AuditLog::open(config.disclosure_dir, disclosure_options,
                                         std::move(disclosure_key).value());
  if (!disclosure.ok()) {
    std::cerr << "mash-agent: disclosure log " << config.disclosure_dir.string() << ": "
              << disclosure.error().message << "\n";
    return 1;
  }
  mash::agent::EnquiryServiceOptions service_options;
  service_options.agency = config.agency;
  service_options.hub_key = *audit_key;
  service_options.limits = config.link.link.limits;
  service_options.thresholds = config.thresholds;
  service_options.identifier_schemes = config.identifier_schemes;
  mash::agent::EnquiryService service(service_options, std::move(answer_key).value(), policy, **extract, **state,
                                      **disclosure, log.child("enquiry"));
  service.start();

  boost::asio::io_context io;
  auto link_options = config.link;
  link_options.software = std::string("mash-agent ") + MASH_VERSION;
  auto link = std::make_shared<mash::agent::BrokerLink>(io, (*tls)->current(), link_options,
                                                        log.child("link"), &*witness, disclosure->get());
  link->attach(&service, &policy);
  if (witness->alarmed()) {
    log.error("audit-witness-alarm-active",
              {{"reason", witness->alarm_reason()},
               {"action", "enquiries are refused until an operator runs mash-agent witness-reset"}});
  }
  if (policy.version() == 0) {
    log.warn("no-agreement", {{"action", "enquiries are declined until the hub sends a signed agreement"}});
  }
  mash::watch_tls_files(io, *tls, config.tls_reload_interval, log.child("tls"),
                        [link](mash::TlsContext c) { link->update_tls(std::move(c)); });
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    log.info("stopping", {{"signal", sig}});
    link->stop();
    auto grace = std::make_shared<boost::asio::steady_timer>(io, std::chrono::milliseconds(200));
    grace->async_wait([&io, grace](const boost::system::error_code&) { io.stop(); });
  });
  log.info("started", {{"version", MASH_VERSION},
                       {"agency", config.agency},
                       {"agreement_version", policy.version()},
                       {"broker", config.link.host + ":" + std::to_string(config.link.port)}});
  link->start();
  mash::release_stop_signals();
  io.run();
  service.stop();
  log.info("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "keygen") {
    if (argc != 4 || std::string(argv[2]) != "--out") {
      std::cerr << "mash-agent: usage: mash-agent keygen --out FILE\n";
      return 2;
    }
    if (auto st = mash::generate_key_pair(argv[3]); !st.ok()) {
      std::cerr << "mash-agent: " << st.error().message << "\n";
      return 1;
    }
    std::cout << "wrote " << argv[3] << " (secret, mode 0600) and " << argv[3]
              << ".pub (give the .pub to the hub: it verifies this agency's answers and witnesses its disclosure log)\n";
    return 0;
  }
  std::string command;
  int first = 1;
  if (argc > 1 && argv[1][0] != '-') {
    command = argv[1];
    first = 2;
  }
  static const std::set<std::string> kCommands = {"",      "witness-reset", "import", "match",
                                                  "review", "doctor",       "backup", "restore"};
  if (!kCommands.count(command)) {
    std::cerr << "mash-agent: unknown command '" << command << "' (try --help)\n";
    return 2;
  }
  // --help anywhere shows the help, whatever else the command line holds.
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") {
      std::cout << kUsage;
      return 0;
    }
  }
  mash::agent::ToolArgs args;
  args.command = command;
  bool check_only = false;
  if (command == "review") {
    if (argc < 3) {
      std::cerr << "mash-agent: usage: mash-agent review list|show ID|approve ID|decline ID --config FILE\n";
      return 2;
    }
    args.review_action = argv[2];
    first = 3;
    if (args.review_action != "list") {
      if (argc < 4 || argv[3][0] == '-') {
        std::cerr << "mash-agent: review " << args.review_action << " needs the enquiry ID (see review list)\n";
        return 2;
      }
      args.review_id = argv[3];
      first = 4;
      if (args.review_action == "resolve") {
        if (argc < 5 || argv[4][0] == '-') {
          std::cerr << "mash-agent: review resolve needs the enquiry ID and the subject (e.g. s1)\n";
          return 2;
        }
        args.review_subject = argv[4];
        first = 5;
      }
    }
  }
  std::string config_path, backup_dir;
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= argc) return false;
      out = argv[++i];
      return true;
    };
    bool ok = true;
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (arg == "--version") {
      std::cout << "mash-agent " << MASH_VERSION << "\n";
      return 0;
    } else if (arg == "--config") {
      ok = value(config_path);
    } else if (arg == "--check-config" && command.empty()) {
      check_only = true;
    } else if (arg == "--out" && command == "backup") {
      ok = value(backup_dir);
    } else if (arg == "--from" && command == "restore") {
      ok = value(backup_dir);
    } else if (arg == "--persons" && command == "import") {
      ok = value(args.persons);
    } else if (arg == "--facts" && command == "import") {
      ok = value(args.facts);
    } else if (arg == "--mapping" && command == "import") {
      ok = value(args.mapping);
    } else if (arg == "--dry-run" && command == "import") {
      args.dry_run = true;
    } else if (arg == "--strict" && command == "import") {
      args.strict = true;
    } else if (arg == "--subject" && command == "match") {
      ok = value(args.subject);
    } else if (arg == "--subjects" && command == "match") {
      ok = value(args.subjects);
    } else if (arg == "--json" && command == "match") {
      args.json = true;
    } else if (arg == "--withhold" && command == "review") {
      ok = value(args.withhold);
    } else if (arg == "--note" && command == "review") {
      ok = value(args.note);
    } else if (arg == "--candidate" && command == "review") {
      ok = value(args.candidate);
    } else if (arg == "--reviewer" && command == "review") {
      ok = value(args.reviewer);
    } else {
      std::cerr << "mash-agent: unknown argument '" << arg << "'" << (command.empty() ? "" : " for " + command)
                << " (try --help)\n";
      return 2;
    }
    if (!ok) {
      std::cerr << "mash-agent: " << arg << " needs a value\n";
      return 2;
    }
  }
  if (config_path.empty()) {
    std::cerr << "mash-agent: --config FILE is required (try --help)\n";
    return 2;
  }
  auto config = mash::agent::load_agent_config(config_path);
  if (!config.ok()) {
    std::cerr << "mash-agent: configuration error: " << config.error().message << "\n";
    return 2;
  }
  if (command == "witness-reset") {
    auto audit_key = mash::load_verify_key(config->broker_audit_key);
    auto witness = mash::Witness::open(config->witness_state,
                                       mash::NoteVerifier(config->broker_audit_origin, *audit_key),
                                       config->broker_audit_origin);
    if (!witness.ok()) {
      std::cerr << "mash-agent: witness state: " << witness.error().message << "\n";
      return 1;
    }
    std::string was = witness->alarm_reason();
    if (auto st = witness->reset(); !st.ok()) {
      std::cerr << "mash-agent: " << st.error().message << "\n";
      return 1;
    }
    std::cout << "mash-agent: witness reset" << (was.empty() ? " (there was no alarm)" : "; cleared alarm: " + was)
              << "\n";
    return 0;
  }
  if (command == "backup" || command == "restore") {
    if (backup_dir.empty()) {
      std::cerr << "mash-agent: usage: mash-agent " << command << " --config FILE "
                << (command == "backup" ? "--out" : "--from") << " DIR\n";
      return 2;
    }
    return mash::agent::run_backup_tool(*config, command, backup_dir, std::cout, std::cerr);
  }
  if (!command.empty()) return mash::agent::run_tool(*config, args, std::cout, std::cerr);
  return run_agent(*config, check_only, config_path);
}
