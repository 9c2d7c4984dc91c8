// mash-broker: the hub's broker. For now it accepts the agents' connections (agent link) and
// reports which agencies are connected; enquiries and the web interface build on this.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/post.hpp>

#include <atomic>
#include <cstring>
#include <functional>
#include <iostream>
#include <thread>
#include <vector>

#include "agent_listener.h"
#include "agent_registry.h"
#include "api.h"
#include "audit_event.h"
#include "clock.h"
#include "http_server.h"
#include "lmdb_store.h"
#include "users.h"
#include "case_vault.h"
#include "enquiries.h"
#include "engine.h"
#include "signing.h"
#include "pseudonym.h"
#include "audit_cli.h"
#include "audit_log.h"
#include "crypto.h"
#include "backup_cli.h"
#include "broker_config.h"
#include "log.h"
#include "stop_signals.h"
#include "signed_note.h"
#include "tls.h"
#include "witness.h"
#include "version.h"

namespace {

constexpr const char* kUsage = R"(usage: mash-broker --config FILE
       mash-broker keygen --out FILE
       mash-broker witness-reset --config FILE --agency A
       mash-broker backup --config FILE --out DIR
       mash-broker restore --config FILE --from DIR
       mash-broker user add|passwd|disable|enable|list --config FILE [--id ID] [--name NAME]
                   [--role ROLE] [--team TEAM]   (passwords are read from standard input)
       mash-broker audit search|timeline|sar|stats|flags ... (see mash-broker audit --help)
       mash-broker --help | --version

Runs the MASH Exchange broker for one hub. Agents dial in to the agent link
(default port 7443) over mutually authenticated TLS 1.3; people use the JSON API
over HTTPS (default port 8443).

Commands:
  keygen --out FILE   make the audit log's signing key (FILE, mode 0600) and FILE.pub,
                      which agencies configure to witness the hub's audit log

  user                local accounts: add (the first admin, and scripts), passwd, disable,
                      enable, list; roles are researcher, manager, dpo and admin
  witness-reset       clear an alarm about an agency's disclosure log (after finding out why
                      its history changed; run it with the broker stopped); its next
                      checkpoint is trusted afresh
  backup              copy the stores, the audit log (the copy verified), the agencies'
                      witness states and the keys into a new folder DIR, while the broker
                      runs; the folder holds the keys, so keep it as safe as the hub
  restore             put a backup back where the configuration says, with the broker
                      stopped; refuses to overwrite anything (move the old stores aside)
  audit ...           the data protection officer's tools over the audit store: search
                      by person, user, agency, case, type and dates; a case timeline;
                      a subject access report; access statistics; unusual patterns

Options:
  --config FILE   the broker's TOML configuration (see deploy/examples/broker.toml)
  --check-config  validate the configuration and exit
  --help          show this help
  --version       print the version

Exit status: 0 on a clean stop (SIGINT/SIGTERM), 2 for usage or configuration
errors, 1 for runtime failures.
)";

}  // namespace

int keygen(int argc, char** argv) {
  if (argc != 4 || std::string(argv[2]) != "--out") {
    std::cerr << "mash-broker: usage: mash-broker keygen --out FILE\n";
    return 2;
  }
  if (auto st = mash::generate_key_pair(argv[3]); !st.ok()) {
    std::cerr << "mash-broker: " << st.error().message << "\n";
    return 1;
  }
  std::cout << "wrote " << argv[3] << " (secret, mode 0600) and " << argv[3] << ".pub\n";
  return 0;
}

// mash-broker witness-reset --config FILE --agency A: clears an alarm about an agency's
// disclosure log, once someone has found out why its history changed.
int witness_reset(int argc, char** argv) {
  std::string config_path, agency;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--config") config_path = argv[i + 1];
    else if (k == "--agency") agency = argv[i + 1];
  }
  if (config_path.empty() || agency.empty() || argc != 6) {
    std::cerr << "mash-broker: usage: mash-broker witness-reset --config FILE --agency A\n";
    return 2;
  }
  auto config = mash::broker::load_broker_config(config_path);
  if (!config.ok()) {
    std::cerr << "mash-broker: configuration error: " << config.error().message << "\n";
    return 2;
  }
  auto key = config->listener.agency_keys.find(agency);
  if (key == config->listener.agency_keys.end()) {
    std::cerr << "mash-broker: agency '" << agency << "' has no witness.agencies key in " << config_path << "\n";
    return 2;
  }
  std::string origin = "mash-agent/" + agency;
  auto w = mash::Witness::open(config->listener.witness_dir / (agency + ".state"),
                               mash::NoteVerifier(origin, key->second), origin);
  if (!w.ok()) {
    std::cerr << "mash-broker: " << w.error().message << "\n";
    return 1;
  }
  std::string was = w->alarm_reason();
  if (auto st = w->reset(); !st.ok()) {
    std::cerr << "mash-broker: " << st.error().message << "\n";
    return 1;
  }
  std::cout << "mash-broker: witness of " << agency << " reset"
            << (was.empty() ? " (there was no alarm)" : "; cleared alarm: " + was) << "\n";
  return 0;
}

// A hash key file (vault master, pseudonym key): loaded, or made (0600) on first start.
mash::Result<mash::HashKey> ensure_hash_key(const std::filesystem::path& path, const mash::Logger& log) {
  if (!std::filesystem::exists(path)) {
    auto key = mash::HashKey::generate();
    if (auto st = mash::save_hash_key(key, path); !st.ok()) return st.error();
    log.warn("key-created", {{"file", path.string()}, {"action", "back it up: without it, stored content cannot be read"}});
  }
  return mash::load_hash_key(path);
}

mash::broker::UserStoreOptions user_options(const mash::broker::BrokerConfig& c) {
  mash::broker::UserStoreOptions o;
  o.max_failed_logins = c.max_failed_logins;
  o.lockout = c.lockout;
  o.session_idle = c.session_idle;
  o.session_max = c.session_max;
  return o;
}

// mash-broker user add|passwd|disable|enable|list --config FILE ...
int user_command(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "mash-broker: usage: mash-broker user add|passwd|disable|enable|list --config FILE ...\n";
    return 2;
  }
  std::string action = argv[2], config_path, id, name, role, team;
  for (int i = 3; i < argc; ++i) {
    std::string k = argv[i];
    if (i + 1 >= argc) {
      std::cerr << "mash-broker: " << k << " needs a value\n";
      return 2;
    }
    std::string v = argv[++i];
    if (k == "--config") config_path = v;
    else if (k == "--id") id = v;
    else if (k == "--name") name = v;
    else if (k == "--role") role = v;
    else if (k == "--team") team = v;
    else {
      std::cerr << "mash-broker: unknown argument '" << k << "' for user\n";
      return 2;
    }
  }
  if (config_path.empty() || (action != "list" && id.empty())) {
    std::cerr << "mash-broker: user " << action << " needs --config FILE" << (action == "list" ? "" : " and --id ID") << "\n";
    return 2;
  }
  auto config = mash::broker::load_broker_config(config_path);
  if (!config.ok()) {
    std::cerr << "mash-broker: configuration error: " << config.error().message << "\n";
    return 2;
  }
  auto env = mash::Env::open(config->store_dir);
  if (!env.ok()) {
    std::cerr << "mash-broker: store " << config->store_dir.string() << ": " << env.error().message << "\n";
    return 1;
  }
  auto users = mash::broker::UserStore::open(*env, user_options(*config));
  if (!users.ok()) {
    std::cerr << "mash-broker: " << users.error().message << "\n";
    return 1;
  }
  auto read_password = [](std::string& out) {
    if (!std::getline(std::cin, out)) return false;
    if (!out.empty() && out.back() == '\r') out.pop_back();
    return true;
  };
  mash::Status st;
  if (action == "list") {
    auto all = (*users)->list();
    if (!all.ok()) {
      std::cerr << "mash-broker: " << all.error().message << "\n";
      return 1;
    }
    for (const auto& u : *all) {
      std::cout << u.id << "\t" << u.role << "\t" << u.team << "\t" << (u.disabled ? "disabled" : "active") << "\t" << u.display_name << "\n";
    }
    return 0;
  } else if (action == "add") {
    mash::broker::NewUser nu;
    nu.id = id;
    nu.display_name = name.empty() ? id : name;
    nu.role = role;
    nu.team = team.empty() ? "hub" : team;
    if (!read_password(nu.password)) {
      std::cerr << "mash-broker: user add reads the password from standard input (one line)\n";
      return 2;
    }
    auto added = (*users)->add(nu);
    if (!added.ok()) st = added.error();
  } else if (action == "passwd") {
    std::string pw;
    if (!read_password(pw)) {
      std::cerr << "mash-broker: user passwd reads the new password from standard input (one line)\n";
      return 2;
    }
    st = (*users)->set_password(id, pw);
  } else if (action == "disable") {
    st = (*users)->disable(id);
  } else if (action == "enable") {
    st = (*users)->enable(id);
  } else {
    std::cerr << "mash-broker: user " << action << ": expected add, passwd, disable, enable or list\n";
    return 2;
  }
  if (!st.ok()) {
    std::cerr << "mash-broker: " << st.error().message << "\n";
    return st.error().code == mash::ErrorCode::kInvalidArgument ? 2 : 1;
  }
  // Changes made here are recorded in the audit log like changes through the API.
  auto audit_key = mash::load_signing_key(config->audit_key);
  if (audit_key.ok()) {
    mash::AuditLogOptions ao;
    ao.origin = config->audit_origin;
    auto audit = mash::AuditLog::open(config->audit_dir, ao, std::move(audit_key).value());
    if (audit.ok()) {
      mash::AuditEvent e;
      e.type = "user.changed";
      e.time_ms = mash::unix_millis_now();
      e.actor = "system";
      e.role = "admin";
      e.outcome = action;
      e.extra = {{"user", id}, {"via", "command-line"}};
      if (!role.empty()) e.extra["new_role"] = role;
      if (auto rec = mash::event_to_record(e); rec.ok()) (void)(*audit)->append(*rec, mash::event_index_keys(e));
    } else {
      std::cerr << "mash-broker: warning: the change is made but the audit log could not be opened (is the broker running? "
                   "run user commands with the broker stopped, or use the API): "
                << audit.error().message << "\n";
    }
  }
  std::cout << "mash-broker: user " << id << ": " << action << " done\n";
  return 0;
}

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "keygen") return keygen(argc, argv);
  if (argc > 1 && std::string(argv[1]) == "user") return user_command(argc, argv);
  if (argc > 1 && std::string(argv[1]) == "audit") return mash::broker::run_audit_command(argc - 1, argv + 1);
  if (argc > 1 && std::string(argv[1]) == "witness-reset") return witness_reset(argc, argv);
  if (argc > 1 && (std::string(argv[1]) == "backup" || std::string(argv[1]) == "restore")) {
    return mash::broker::run_backup_command(argc, argv);
  }
  std::string config_path;
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (arg == "--version") {
      std::cout << "mash-broker " << MASH_VERSION << "\n";
      return 0;
    } else if (arg == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (arg == "--check-config") {
      check_only = true;
    } else {
      std::cerr << "mash-broker: unknown argument '" << arg << "' (try --help)\n";
      return 2;
    }
  }
  if (config_path.empty()) {
    std::cerr << "mash-broker: --config FILE is required (try --help)\n";
    return 2;
  }
  auto config = mash::broker::load_broker_config(config_path);
  if (!config.ok()) {
    std::cerr << "mash-broker: configuration error: " << config.error().message << "\n";
    return 2;
  }
  auto tls = mash::ReloadingTlsContext::create(config->tls, mash::ReloadingTlsContext::Side::kServer);
  if (!tls.ok()) {
    std::cerr << "mash-broker: configuration error: tls: " << tls.error().message << "\n";
    return 2;
  }
  if (check_only) {
    std::cout << "mash-broker: configuration " << config_path << " is valid\n";
    return 0;
  }
  // From here a SIGTERM waits for the handler below instead of killing a half-open hub.
  mash::hold_stop_signals();

  mash::Logger log(std::cerr, config->log_level, "broker", config->log_format);
  auto audit_key = mash::load_signing_key(config->audit_key);
  if (!audit_key.ok()) {
    std::cerr << "mash-broker: configuration error: audit.signing_key: " << audit_key.error().message << "\n";
    return 2;
  }
  mash::AuditLogOptions audit_options;
  audit_options.origin = config->audit_origin;
  audit_options.checkpoint_interval = config->audit_checkpoint_interval;
  // Every io thread and every pool thread may read at once (DPO searches, answer checks).
  audit_options.max_readers = 2 * (config->threads + config->io_threads) + 32;
  audit_options.map_size = config->audit_max_bytes;
  audit_options.on_verify = [&log](const std::string& event, uint64_t done, uint64_t total, const std::string& detail) {
    if (event == "damaged") {
      log.error("audit-log-damaged", {{"checked", done}, {"records", total}, {"problem", detail},
                                      {"action", "the hub refuses new work; run mash-audit verify and restore the audit store from backup"}});
    } else if (event == "verified") {
      log.info("audit-log-verified", {{"records", total}});
    } else {
      log.info("audit-log-verifying", {{"checked", done}, {"records", total}});
    }
  };
  auto audit = mash::AuditLog::open(config->audit_dir, audit_options, std::move(audit_key).value());
  if (!audit.ok()) {
    std::cerr << "mash-broker: audit log " << config->audit_dir.string() << ": " << audit.error().message << "\n";
    return 1;
  }
  log.info("audit-log-open", {{"dir", config->audit_dir.string()}, {"records", (*audit)->size()}});
  boost::asio::io_context io;
  mash::broker::AgentRegistry registry;
  // People: the JSON API over HTTPS.
  mash::EnvOptions store_options;
  store_options.max_readers = 2 * (config->threads + config->io_threads) + 32;  // as above: every thread may read at once
  store_options.map_size = config->store_max_bytes;
  store_options.max_dbs = 32;  // users, the case vault, the enquiry tables and the outbox
  auto store_env = mash::Env::open(config->store_dir, store_options);
  if (!store_env.ok()) {
    std::cerr << "mash-broker: store " << config->store_dir.string() << ": " << store_env.error().message << "\n";
    return 1;
  }
  auto users = mash::broker::UserStore::open(*store_env, user_options(*config));
  if (!users.ok()) {
    std::cerr << "mash-broker: " << users.error().message << "\n";
    return 1;
  }
  auto https_tls = mash::make_https_server_context(config->http_cert, config->http_key);
  if (!https_tls.ok()) {
    std::cerr << "mash-broker: configuration error: http: " << https_tls.error().message << "\n";
    return 2;
  }
  mash::broker::ApiOptions api_options;
  if (config->listener.policy_bundle) {
    api_options.agreement_id = config->listener.policy_bundle->agreement_id;
    api_options.agreement_version = static_cast<int64_t>(config->listener.policy_bundle->version);
  }
  api_options.session_idle_s = config->session_idle.count();
  api_options.data_dirs = {config->store_dir, config->audit_dir};
  api_options.min_free_mb = config->store_min_free_mb;
  mash::broker::Api api(api_options, **users, **audit, registry, log.child("api"));
  // The web interface: from [http] web_dir, or else where the build and the install put it.
  std::optional<mash::broker::WebAssets> web;
  {
    std::filesystem::path dir = config->web_dir;
    const bool configured = !dir.empty();
    if (!configured) {
      std::error_code ec;
      auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
      if (!ec) dir = exe.parent_path().parent_path() / "share" / "mash-exchange" / "web";
    }
    auto loaded = mash::broker::WebAssets::load(dir);
    if (loaded.ok()) {
      web.emplace(std::move(loaded).value());
      api.set_web(&*web);
      log.info("web-interface", {{"dir", dir.string()}, {"files", web->size()}, {"bytes", web->total_bytes()}});
    } else if (configured) {
      std::cerr << "mash-broker: configuration error: http.web_dir: " << loaded.error().message << "\n";
      return 2;
    } else {
      log.warn("no-web-interface", {{"reason", loaded.error().message}, {"action", "only the JSON API is served"}});
    }
  }

  // The agreement in force: through the acceptance gate (no rollback to an older version, no
  // other document under the same version), and a change recorded in the audit log before the
  // hub works under it.
  if (config->listener.policy_bundle) {
    const auto& b = *config->listener.policy_bundle;
    auto signer = mash::load_verify_key(config->policy_signer);
    if (!signer.ok()) {
      std::cerr << "mash-broker: policy.signer: " << signer.error().message << "\n";
      return 2;
    }
    mash::policy::PolicyGate gate(*signer, config->store_dir / "agreement.state");
    auto accepted = gate.accept(b.document, b.signature, "policy.agreement");
    if (!accepted.ok()) {
      std::cerr << "mash-broker: policy.agreement: " << accepted.error().message << "\n";
      return 2;
    }
    auto now = gate.accepted();
    if (!now.ok() || !*now) {
      std::cerr << "mash-broker: agreement state: cannot be read back\n";
      return 1;
    }
    // Compared with the last agreement.changed in the audit log (not with the gate's state), so
    // a change whose record did not make it (a crash, a full disk) is recorded at the next start.
    const std::string digest = (*now)->digest.substr(0, 32);
    std::string previous_version = "none";
    bool recorded = false;
    if (auto found = (*audit)->find("type", "agreement.changed"); found.ok() && !found->empty()) {
      auto rec = (*audit)->record(found->back());
      auto last = rec.ok() ? mash::event_from_record(*rec) : mash::Result<mash::AuditEvent>(rec.error());
      if (last.ok()) {
        auto v = last->extra.find("version");
        previous_version = v == last->extra.end() ? "unknown" : v->second;
        recorded = last->digest == digest && previous_version == std::to_string((*now)->version);
      }
    }
    if (!recorded) {
      mash::AuditEvent e;
      e.type = "agreement.changed";
      e.actor = "hub";
      e.role = "system";
      e.outcome = "in-force";
      e.digest = digest;
      e.extra["agreement"] = (*now)->agreement_id;
      e.extra["version"] = std::to_string((*now)->version);
      e.extra["previous_version"] = previous_version;
      e.time_ms = mash::unix_millis_now();
      auto rec = mash::event_to_record(e);
      auto appended = rec.ok() ? (*audit)->append(*rec, mash::event_index_keys(e)) : mash::Result<uint64_t>(rec.error());
      if (!appended.ok()) {
        std::cerr << "mash-broker: the agreement change cannot be recorded: " << appended.error().message << "\n";
        return 1;
      }
      log.info("agreement-in-force", {{"agreement", (*now)->agreement_id}, {"version", (*now)->version},
                                      {"previous_version", previous_version}});
    }
  }

  // Enquiries: only with an agreement in force.
  std::unique_ptr<mash::policy::Policy> policy;
  std::unique_ptr<mash::CaseVault> vault;
  std::unique_ptr<mash::broker::EnquiryDesk> desk;
  if (config->listener.policy_bundle) {
    auto parsed = mash::policy::parse_agreement(config->listener.policy_bundle->document, "policy.agreement");
    auto compiled = parsed.ok() ? mash::policy::Policy::compile(std::move(parsed).value())
                                : mash::Result<mash::policy::Policy>(parsed.error());
    if (!compiled.ok()) {
      std::cerr << "mash-broker: policy.agreement: " << compiled.error().message << "\n";
      return 2;
    }
    policy = std::make_unique<mash::policy::Policy>(std::move(compiled).value());
    auto vault_key = ensure_hash_key(config->vault_key, log);
    auto pseudo_key = ensure_hash_key(config->pseudonym_key, log);
    auto signing = mash::load_signing_key(config->audit_key);
    if (!vault_key.ok() || !pseudo_key.ok() || !signing.ok()) {
      std::cerr << "mash-broker: keys: "
                << (!vault_key.ok() ? vault_key.error().message
                                    : !pseudo_key.ok() ? pseudo_key.error().message : signing.error().message)
                << "\n";
      return 1;
    }
    auto v = mash::CaseVault::open(*store_env, *vault_key);
    if (!v.ok()) {
      std::cerr << "mash-broker: case vault: " << v.error().message << "\n";
      return 1;
    }
    vault = std::make_unique<mash::CaseVault>(std::move(v).value());
    desk = std::make_unique<mash::broker::EnquiryDesk>(*store_env, *vault, *policy, **audit, std::move(signing).value(),
                                                       mash::Pseudonymizer(std::move(pseudo_key).value()),
                                                       log.child("enquiries"));
    if (auto st = desk->open(); !st.ok()) {
      std::cerr << "mash-broker: enquiry store: " << st.error().message << "\n";
      return 1;
    }
    api.set_desk(desk.get());
    api.set_agreement(&policy->agreement());
    // The DPO's person searches use the same key (a second copy: keys are not copyable).
    if (auto k = ensure_hash_key(config->pseudonym_key, log); k.ok()) {
      api.set_pseudonymizer(mash::Pseudonymizer(std::move(k).value()));
    }
  } else {
    log.warn("no-agreement", {{"action", "enquiries are refused until [policy] agreement is configured"}});
  }
  mash::broker::HttpServerOptions http_options;
  http_options.max_body_bytes = config->http_max_body;
  http_options.max_connections = config->http_max_connections;
  auto https = std::make_shared<mash::broker::HttpServer>(io, *https_tls, http_options, log.child("https"),
                                                          [&api](const mash::broker::HttpRequest& r) { return api.handle(r); });
  // API requests wait on durable writes: they run on their own threads, so that the few network
  // threads only move bytes (many threads on one io_context wake each other for every event).
  boost::asio::thread_pool api_work(config->threads);
  https->set_handler_pool(api_work);

  config->listener.software = std::string("mash-broker ") + MASH_VERSION;
  auto listener = std::make_shared<mash::broker::AgentListener>(
      io, (*tls)->current(), config->listener, log.child("link"), registry, audit->get());
  api.set_listener(listener.get());
  if (desk) {
    desk->attach(listener.get());
    mash::broker::AgentListenerHandlers handlers;
    auto* d = desk.get();
    handlers.on_connected = [d](const std::string& agency) { d->on_connected(agency); };
    // Acknowledgements and answers wait on durable writes: they go off the link's strand to
    // the desk's worker, which takes them in batches (one audit commit and one store commit
    // for all that arrived meanwhile). An answer is acknowledged to the agent only once
    // stored; one not stored comes again.
    d->start_link_worker();
    handlers.on_acknowledged = [d](const std::string& agency, std::vector<uint8_t> id) {
      d->post_acknowledged(agency, std::move(id));
    };
    handlers.on_answer = [d](mash::broker::AgentAnswer a, std::function<void(bool)> stored) {
      d->post_answer(std::move(a), std::move(stored));
    };
    handlers.on_refused = [d](const std::string& agency, std::vector<uint8_t> id, int code, std::string) {
      d->post_refused(agency, std::move(id), code);
    };
    listener->set_handlers(std::move(handlers));
  }
  if (auto st = listener->listen(config->agent_listen); !st.ok()) {
    std::cerr << "mash-broker: " << st.error().message << "\n";
    return 1;
  }

  if (auto st = https->listen(config->http_listen); !st.ok()) {
    std::cerr << "mash-broker: " << st.error().message << "\n";
    return 1;
  }
  log.info("https-listening", {{"address", config->http_listen.address().to_string()}, {"port", https->port()}});

  // Agencies that have not answered by the deadline are marked overdue within a second of it;
  // closed cases past their retention period are purged.
  // The timer lives on its own strand, and the stop is posted to it, so stopping never races a
  // sweep that is re-arming the timer.
  auto sweep = std::make_shared<boost::asio::steady_timer>(boost::asio::make_strand(io));
  std::atomic<bool> sweep_stopped{false};
  std::function<void()> sweep_next;
  if (desk) {
    sweep_next = [&sweep_next, &sweep_stopped, &api_work, sweep, d = desk.get()] {
      if (sweep_stopped) return;
      sweep->expires_after(std::chrono::seconds(1));
      sweep->async_wait([&sweep_next, &sweep_stopped, &api_work, sweep, d](const boost::system::error_code& ec) {
        if (ec || sweep_stopped) return;
        // The sweeps wait on durable writes: on the request pool, not the network threads. The
        // next one is armed from the timer's strand once this one is done (never two at once).
        boost::asio::post(api_work, [&sweep_next, sweep, d] {
          d->sweep_overdue(mash::unix_millis_now());
          d->sweep_delivery(mash::unix_millis_now());
          d->sweep_retention(mash::unix_millis_now());
          boost::asio::post(sweep->get_executor(), [&sweep_next] { sweep_next(); });
        });
      });
    };
    boost::asio::post(sweep->get_executor(), [&sweep_next] { sweep_next(); });
  }

  mash::watch_tls_files(io, *tls, config->tls_reload_interval, log.child("tls"),
                        [listener](mash::TlsContext c) { listener->update_tls(std::move(c)); });

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    log.info("stopping", {{"signal", sig}});
    listener->stop();
    https->stop();
    sweep_stopped = true;
    boost::asio::post(sweep->get_executor(), [sweep] { sweep->cancel(); });
    // Give the goodbye messages a moment to leave, then stop whatever is left.
    auto grace = std::make_shared<boost::asio::steady_timer>(io, std::chrono::milliseconds(200));
    grace->async_wait([&io, grace](const boost::system::error_code&) { io.stop(); });
  });
  log.info("started", {{"version", MASH_VERSION}, {"threads", config->threads}, {"io_threads", config->io_threads}});
  mash::release_stop_signals();

  std::vector<std::thread> threads;
  for (unsigned i = 1; i < config->io_threads; ++i) threads.emplace_back([&io] { io.run(); });
  io.run();
  for (auto& t : threads) t.join();
  api_work.join();  // requests in hand finish (their responses are not sent)
  if (desk) desk->stop_link_worker();  // answers in hand are stored (or, unacknowledged, come again)
  log.info("stopped");
  return 0;
}
