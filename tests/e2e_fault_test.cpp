// Faults end to end, with real processes: a backlog far larger than one agency's delivery window
// drains by itself. Each test asserts that every acknowledged enquiry is present and final, that
// no answer is recorded twice, and that the audit log verifies, without restarting anything.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "api_hub.h"
#include "audit_export.h"

using namespace mash::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// The example agreement with the per-user rate limits raised, for load.
std::string agreement_for_load() {
  std::string text = ApiHub::example_agreement();
  auto set = [&](const std::string& key, const std::string& value) {
    auto at = text.find(key + " = ");
    REQUIRE(at != std::string::npos);
    text.replace(at, text.find('\n', at) - at, key + " = " + value);
  };
  set("enquiries_per_user_per_hour", "100000");
  set("enquiries_per_user_per_day", "1000000");
  return text;
}

// POSTs `n` enquiries with one curl process (16 at a time); returns the ids of those the hub
// acknowledged (201).
std::vector<std::string> submit_many(ApiHub& hub, const std::string& bearer_args, int n) {
  const auto& d = hub.pki.dir();
  std::filesystem::create_directories(d / "replies");
  write_file(d / "enquiry.json", enquiry_request().dump());
  std::ostringstream cfg;
  for (int i = 0; i < n; ++i) {
    cfg << "url = \"https://broker.test:" << hub.port << "/api/v1/enquiries\"\n"
        << "output = \"" << (d / "replies" / (std::to_string(i) + ".json")).string() << "\"\n";
  }
  write_file(d / "curl.cfg", cfg.str());
  std::string out;
  run("curl -sS -Z --parallel-max 16 --max-time 60 --cacert " + shell_quote(hub.pki.broker().ca.string()) +
          " --resolve broker.test:" + std::to_string(hub.port) + ":127.0.0.1 " + bearer_args +
          " -H 'Content-Type: application/json' --data-binary @" + shell_quote((d / "enquiry.json").string()) +
          " -K " + shell_quote((d / "curl.cfg").string()),
      &out);
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) {
    auto j = json::parse(read_file(d / "replies" / (std::to_string(i) + ".json")), nullptr, false);
    if (j.is_object() && j.contains("id")) ids.push_back(j["id"]);
  }
  return ids;
}

// The value of one line of Prometheus text ("name{labels} value"), or -1.
long metric(const std::string& text, const std::string& series) {
  auto at = ("\n" + text).find("\n" + series + " ");  // a sample line, not its # HELP
  if (at == std::string::npos) return -1;
  return std::stol(text.substr(at + series.size() + 1));
}

std::map<std::string, int> count_by_enquiry(const std::string& jsonl, const std::string& type) {
  std::map<std::string, int> out;
  std::istringstream lines(jsonl);
  std::string line;
  while (std::getline(lines, line)) {
    auto j = json::parse(line, nullptr, false);
    if (j.is_object() && j.value("type", "") == type) ++out[j.value("enquiry", "")];
  }
  return out;
}

// Every enquiry the user sees -> police's status, read page by page (200 a page).
std::map<std::string, std::string> police_statuses(ApiHub& hub, const std::string& auth) {
  std::map<std::string, std::string> status;
  std::string cursor;
  for (int pages = 0; pages < 1000; ++pages) {
    auto page = hub.call("GET", "/api/v1/enquiries?limit=200" + (cursor.empty() ? "" : "&cursor=" + cursor), "", auth).j();
    if (!page.is_object()) break;
    for (const auto& e : page["enquiries"]) status[e["id"]] = e["agencies"].value("police", "");
    if (!page["next_cursor"].is_string()) break;
    cursor = page["next_cursor"];
  }
  return status;
}

}  // namespace

TEST_CASE("faults: a backlog far larger than the delivery window reaches the agent and is answered, without a restart",
          "[e2e][fault][slow]") {
#ifdef MASH_SANITIZED
  constexpr int kBacklog = 1'500;  // the same path, at the sanitizers' pace
#else
  constexpr int kBacklog = 5'000;
#endif
  ApiHub hub;
  const auto& d = hub.pki.dir();
  std::string out;
  hub.setup_police(agreement_for_load());
  REQUIRE(hub.user("add --id rita.r --role researcher --team west", "rita's long passphrase", &out) == 0);
  hub.start();
  const std::string rita = hub.bearer("rita.r", "rita's long passphrase");
  // The agency's agent is down while the enquiries come in.
  const auto ids = submit_many(hub, rita, kBacklog);
  INFO(hub.broker->log());
  REQUIRE(ids.size() == static_cast<size_t>(kBacklog));
  auto metrics = [&] { return hub.call("GET", "/metrics").body; };
  CHECK(metric(metrics(), "mash_enquiry_agencies{status=\"queued\"}") == kBacklog);

  // The agent comes up: everything reaches it and is answered, through a window of 256.
  auto agent = hub.start_police();
  const auto started = std::chrono::steady_clock::now();
  long answered = 0, in_flight_max = 0;
  bool all = wait_until([&] {
    std::string m = metrics();
    answered = metric(m, "mash_enquiry_agencies{status=\"answered\"}");
    in_flight_max = std::max(in_flight_max, metric(m, "mash_delivery_in_flight{agency=\"police\"}"));
    return answered == kBacklog;
  }, 120'000ms);
  const auto took = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started);
  INFO("answered " << answered << " of " << kBacklog << " in " << took.count() << " s");
  INFO(agent->log());
  REQUIRE(all);
  CHECK(took <= 60s);
  CHECK(in_flight_max <= 256);
  CHECK(hub.broker->log().find("send queue full") == std::string::npos);

  // Every acknowledged enquiry is there, answered; each answer is on the record once.
  auto status = police_statuses(hub, rita);
  for (const auto& id : ids) REQUIRE(status[id] == "answered");
  agent->signal(SIGTERM);
  REQUIRE(agent->wait(10'000ms) == 0);
  hub.broker->signal(SIGTERM);
  REQUIRE(hub.broker->wait(10'000ms) == 0);
  const std::string records = exported_records(d / "audit", d / "audit.jsonl");
  auto answers = count_by_enquiry(records, "answer.received");
  auto delivered = count_by_enquiry(records, "enquiry.delivered");
  for (const auto& id : ids) {
    INFO(id);
    REQUIRE(answers[id] == 1);
    REQUIRE(delivered[id] == 1);
  }
  REQUIRE(run(kBin + "/mash-audit verify --store " + shell_quote((d / "audit").string()) + " --pubkey " +
                  shell_quote((d / "audit.key.pub").string()), &out) == 0);
  CHECK(out.find("verified") != std::string::npos);
}

TEST_CASE("faults: an agent killed at random moments under load gives one answer per delivery, and all are answered",
          "[e2e][fault][slow]") {
#ifdef MASH_SANITIZED
  constexpr int kEnquiries = 400;
#else
  constexpr int kEnquiries = 1'500;
#endif
  ApiHub hub;
  const auto& d = hub.pki.dir();
  std::string out;
  hub.setup_police(agreement_for_load());
  REQUIRE(hub.user("add --id rita.r --role researcher --team west", "rita's long passphrase", &out) == 0);
  hub.start();
  const std::string rita = hub.bearer("rita.r", "rita's long passphrase");
  auto agent = hub.start_police();
  REQUIRE(hub.broker->wait_for_log("agent-connected", 10'000ms));

  // The enquiries flow in while the agent is killed (SIGKILL) and started again, five times.
  std::vector<std::string> ids;
  std::thread submitter([&] { ids = submit_many(hub, rita, kEnquiries); });
  const unsigned seed = static_cast<unsigned>(std::random_device{}());
  INFO("seed " << seed);
  std::mt19937 random(seed);
  for (int k = 0; k < 5; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(50, 700)(random)));
    agent->signal(SIGKILL);
    REQUIRE(agent->wait(5'000ms) != -1);
    agent = hub.start_police();
  }
  submitter.join();
  INFO(hub.broker->log());
  REQUIRE(ids.size() == static_cast<size_t>(kEnquiries));

  // Everything acknowledged is answered, by itself, within 60 s.
  long answered = 0;
  auto metrics = [&] { return hub.call("GET", "/metrics").body; };
  bool all = wait_until([&] {
    answered = metric(metrics(), "mash_enquiry_agencies{status=\"answered\"}");
    return answered == kEnquiries;
  }, 60'000ms);
  INFO("answered " << answered << " of " << kEnquiries);
  INFO(agent->log());
  REQUIRE(all);
  agent->signal(SIGTERM);
  REQUIRE(agent->wait(10'000ms) == 0);
  hub.broker->signal(SIGTERM);
  REQUIRE(hub.broker->wait(10'000ms) == 0);

  // The hub recorded each answer once; the agency's disclosure log holds one answer per delivery
  // (however often it was made known), and both logs verify.
  const std::string records = exported_records(d / "audit", d / "audit.jsonl");
  auto answers = count_by_enquiry(records, "answer.received");
  for (const auto& id : ids) REQUIRE(answers[id] == 1);
  const std::string disclosed = exported_records(d / "disclosure", d / "disclosure.jsonl");
  std::map<std::string, std::set<std::string>> digests;  // delivery -> digests of answers sent
  std::istringstream lines(disclosed);
  std::string line;
  while (std::getline(lines, line)) {
    auto j = json::parse(line, nullptr, false);
    if (j.is_object() && j.value("type", "") == "answer.sent") digests[j.value("enquiry", "")].insert(j.value("digest", ""));
  }
  CHECK(digests.size() == static_cast<size_t>(kEnquiries));
  for (const auto& [delivery, set] : digests) {
    INFO(delivery);
    CHECK(set.size() == 1);
  }
  REQUIRE(run(kBin + "/mash-audit verify --store " + shell_quote((d / "audit").string()) + " --pubkey " +
                  shell_quote((d / "audit.key.pub").string()), &out) == 0);
  REQUIRE(run(kBin + "/mash-audit verify --store " + shell_quote((d / "disclosure").string()) + " --pubkey " +
                  shell_quote((d / "police.key.pub").string()), &out) == 0);
}

TEST_CASE("faults: a stop asked for during start-up is held until the hub and the agent can stop cleanly",
          "[e2e][fault]") {
  ApiHub hub;
  hub.setup_police();
  // Signalled as soon as each has begun opening its stores: exit 0 (stopped), not 143 (killed).
  auto broker = std::make_unique<Process>(
      std::vector<std::string>{kBin + "/mash-broker", "--config", (hub.pki.dir() / "broker.toml").string()},
      hub.pki.dir() / "broker-early.log");
  REQUIRE(broker->wait_for_log("audit-log-open", 10'000ms));
  broker->signal(SIGTERM);
  INFO(broker->log());
  CHECK(broker->wait(10'000ms) == 0);
  CHECK(broker->log().find("stopping") != std::string::npos);
  auto agent = hub.start_police();
  REQUIRE(agent->wait_for_log("starting", 10'000ms));
  agent->signal(SIGTERM);
  INFO(agent->log());
  CHECK(agent->wait(10'000ms) == 0);
}

TEST_CASE("faults: a hub killed at random moments under load loses no acknowledged enquiry, and all are answered",
          "[e2e][fault][slow]") {
#ifdef MASH_SANITIZED
  constexpr int kEnquiries = 400;
#else
  constexpr int kEnquiries = 1'500;
#endif
  ApiHub hub;
  const auto& d = hub.pki.dir();
  std::string out;
  hub.setup_police(agreement_for_load());
  REQUIRE(hub.user("add --id rita.r --role researcher --team west", "rita's long passphrase", &out) == 0);
  hub.start();
  const std::string rita = hub.bearer("rita.r", "rita's long passphrase");  // a bearer token outlives restarts
  auto agent = hub.start_police();
  REQUIRE(hub.broker->wait_for_log("agent-connected", 10'000ms));

  // Enquiries flow in while the hub is killed (SIGKILL) and started again, three times; those it
  // refused or never answered do not count, every one it acknowledged (201) must be there.
  std::vector<std::string> ids;
  std::thread submitter([&] { ids = submit_many(hub, rita, kEnquiries); });
  const unsigned seed = static_cast<unsigned>(std::random_device{}());
  INFO("seed " << seed);
  std::mt19937 random(seed);
  for (int k = 0; k < 3; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(100, 900)(random)));
    hub.broker->signal(SIGKILL);
    REQUIRE(hub.broker->wait(5'000ms) != -1);
    hub.broker.reset();
    hub.start();
  }
  submitter.join();
  INFO(hub.broker->log());
  INFO("acknowledged " << ids.size() << " of " << kEnquiries);
  REQUIRE(ids.size() > 0);

  // Everything acknowledged is answered, by itself, within 60 s of the last restart.
  std::map<std::string, std::string> status;
  bool all = wait_until([&] {
    status = police_statuses(hub, rita);
    for (const auto& id : ids) {
      if (status[id] != "answered") return false;
    }
    return true;
  }, 60'000ms);
  INFO(agent->log());
  REQUIRE(all);
  agent->signal(SIGTERM);
  REQUIRE(agent->wait(10'000ms) == 0);
  hub.broker->signal(SIGTERM);
  REQUIRE(hub.broker->wait(10'000ms) == 0);
  const std::string records = exported_records(d / "audit", d / "audit.jsonl");
  auto answers = count_by_enquiry(records, "answer.received");
  auto created = count_by_enquiry(records, "enquiry.created");
  for (const auto& id : ids) {
    INFO(id);
    REQUIRE(created[id] == 1);
    REQUIRE(answers[id] == 1);
  }
  for (const auto& [id, n] : answers) REQUIRE(n == 1);  // acknowledged or not, none twice
  REQUIRE(run(kBin + "/mash-audit verify --store " + shell_quote((d / "audit").string()) + " --pubkey " +
                  shell_quote((d / "audit.key.pub").string()), &out) == 0);
}

TEST_CASE("faults: one byte changed in an audit record or a case record is reported while the hub runs",
          "[e2e][fault]") {
  ApiHub hub;
  const auto& d = hub.pki.dir();
  std::string out;
  hub.use_agreement();
  // Checkpoints every 10 s: time to damage a record before the next one is signed.
  std::string cfg = read_file(d / "broker.toml");
  const std::string origin = "origin = \"mash-broker/test\"";
  cfg.replace(cfg.find(origin), origin.size(), origin + "\ncheckpoint_interval_ms = 10000");
  write_file(d / "broker.toml", cfg);
  REQUIRE(hub.user("add --id rita.r --role researcher --team west", "rita's long passphrase", &out) == 0);
  hub.start();
  const std::string rita = hub.bearer("rita.r", "rita's long passphrase");
  auto first = hub.call("POST", "/api/v1/enquiries", enquiry_request().dump(), rita);
  auto second = hub.call("POST", "/api/v1/enquiries", enquiry_request().dump(), rita);
  REQUIRE(first.status == 201);
  REQUIRE(second.status == 201);
  const std::string id1 = first.j()["id"], id2 = second.j()["id"];

  // The case store: the first enquiry's record is damaged. It is reported as such; the list and
  // the other enquiry still answer.
  REQUIRE(run(kBin + "/store-damage " + shell_quote((d / "store").string()) + " enquiries " + id1 + " 3", &out) == 0);
  auto broken = hub.call("GET", "/api/v1/enquiries/" + id1, "", rita);
  CHECK(broken.status == 500);
  CHECK(broken.j()["error"]["code"] == "damaged");
  CHECK(hub.call("GET", "/api/v1/enquiries/" + id2, "", rita).status == 200);
  CHECK(hub.call("GET", "/api/v1/enquiries", "", rita).j()["enquiries"].size() == 2);
  CHECK(hub.broker->log().find("enquiry-record-damaged") != std::string::npos);

  // The audit store: the newest record is damaged before the next checkpoint. No checkpoint is
  // signed over it; the hub fails closed and says which record.
  const long size = metric(hub.call("GET", "/metrics").body, "mash_audit_log_records");
  REQUIRE(size > 0);
  REQUIRE(run(kBin + "/store-damage " + shell_quote((d / "audit").string()) + " leaves be64:" + std::to_string(size - 1), &out) == 0);
  bool closed = wait_until([&] { return hub.call("GET", "/readyz").status == 503; }, 30'000ms);
  INFO(hub.broker->log());
  REQUIRE(closed);
  auto ready = hub.call("GET", "/readyz").j();
  CHECK(ready["checks"]["audit_log"].get<std::string>().find("record " + std::to_string(size - 1)) != std::string::npos);
  CHECK(hub.call("POST", "/api/v1/enquiries", enquiry_request().dump(), rita).status == 503);
  CHECK(hub.call("GET", "/metrics").body.find("mash_audit_log_intact 0") != std::string::npos);
  CHECK(hub.broker->log().find("audit-log-damaged") != std::string::npos);

  // Started again on the damaged store, it says so at once.
  hub.broker->signal(SIGTERM);
  REQUIRE(hub.broker->wait(10'000ms) != -1);
  hub.broker.reset();
  hub.start();
  CHECK(wait_until([&] { return hub.call("GET", "/readyz").status == 503; }, 15'000ms));
}

namespace {

// A small tmpfs for the hub's stores, unmounted when the test ends. Mounting needs root and a
// kernel that allows it; where it does not, the test says so and does nothing.
struct SmallDisk {
  std::filesystem::path dir;
  bool mounted = false;
  SmallDisk(std::filesystem::path d, int mb) : dir(std::move(d)) {
    std::filesystem::create_directories(dir);
    std::string out;
    mounted = run("mount -t tmpfs -o size=" + std::to_string(mb) + "m tmpfs " + shell_quote(dir.string()) + " 2>&1", &out) == 0;
  }
  ~SmallDisk() {
    std::string out;
    if (mounted) run("umount -l " + shell_quote(dir.string()), &out);
  }
  // Writes a file until the disk is full.
  void fill() {
    std::ofstream f(dir / "filler", std::ios::binary);
    const std::string block(1 << 20, 'x');
    while (f.write(block.data(), static_cast<std::streamsize>(block.size()))) {
    }
  }
  void free_up() { std::filesystem::remove(dir / "filler"); }
};

}  // namespace

TEST_CASE("faults: with the hub's disk full it refuses new enquiries and says why, and once space is freed all resumes by itself",
          "[e2e][fault][slow]") {
  ApiHub hub;
  const auto& d = hub.pki.dir();
  std::string out;
  SmallDisk disk(d / "data", 64);
  if (!disk.mounted) {
    WARN("tmpfs cannot be mounted here (not root, or not allowed): the full-disk test did not run");
    return;
  }
  hub.setup_police(agreement_for_load());
  std::string cfg = read_file(d / "broker.toml");
  auto move_dir = [&](const std::string& from, const std::string& to) {
    const std::string line = "dir = \"" + (d / from).string() + "\"";
    REQUIRE(cfg.find(line) != std::string::npos);
    cfg.replace(cfg.find(line), line.size(), "dir = \"" + (d / "data" / to).string() + "\"\nmax_size_gb = 1");
  };
  move_dir("store", "store");
  move_dir("audit", "audit");
  cfg.replace(cfg.find("min_free_mb = 16"), 16, "min_free_mb = 4");
  write_file(d / "broker.toml", cfg);
  REQUIRE(hub.user("add --id rita.r --role researcher --team west", "rita's long passphrase", &out) == 0);
  hub.start();
  const std::string rita = hub.bearer("rita.r", "rita's long passphrase");
  REQUIRE(hub.call("GET", "/readyz").status == 200);
  // 100 enquiries wait for the police, whose agent is down.
  const auto ids = submit_many(hub, rita, 100);
  REQUIRE(ids.size() == 100);

  // The disk fills up.
  disk.fill();
  auto ready = hub.call("GET", "/readyz");
  CHECK(ready.status == 503);
  CHECK(ready.j()["checks"]["disk"].get<std::string>().find("MB free on the disk of") != std::string::npos);
  auto refused = hub.call("POST", "/api/v1/enquiries", enquiry_request().dump(), rita);
  CHECK(refused.status == 503);
  CHECK(refused.j()["error"]["code"] == "disk-full");
  // The agent comes up meanwhile: what it acknowledges and answers cannot be stored yet.
  auto agent = hub.start_police();
  std::this_thread::sleep_for(3s);

  // Space is freed: without restarting anything, every queued enquiry is answered and new ones
  // are taken again.
  disk.free_up();
  std::map<std::string, std::string> status;
  bool all = wait_until([&] {
    status = police_statuses(hub, rita);
    for (const auto& id : ids) {
      if (status[id] != "answered") return false;
    }
    return true;
  }, 60'000ms);
  INFO(hub.broker->log());
  INFO(agent->log());
  REQUIRE(all);
  CHECK(hub.call("GET", "/readyz").status == 200);
  CHECK(hub.call("POST", "/api/v1/enquiries", enquiry_request().dump(), rita).status == 201);
  agent->signal(SIGTERM);
  REQUIRE(agent->wait(10'000ms) == 0);
  hub.broker->signal(SIGTERM);
  REQUIRE(hub.broker->wait(10'000ms) == 0);
  const std::string records = exported_records(d / "data" / "audit", d / "audit.jsonl");
  auto answers = count_by_enquiry(records, "answer.received");
  for (const auto& id : ids) REQUIRE(answers[id] == 1);
  REQUIRE(run(kBin + "/mash-audit verify --store " + shell_quote((d / "data" / "audit").string()) + " --pubkey " +
                  shell_quote((d / "audit.key.pub").string()), &out) == 0);
}
