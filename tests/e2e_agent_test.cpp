// End to end for the agency agent: a real mash-agent process with an extract imported by its own
// `import` command, talking TLS 1.3 on loopback to the broker's agent listener (the real
// broker code, run in the test so the test can send hand-made enquiries, including ones the
// broker itself would never send).
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <capnp/message.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/stat.h>

#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "agent_listener.h"
#include "agent_registry.h"
#include "audit_export.h"
#include "audit_log.h"
#include "crypto.h"
#include "envelope.h"
#include "enquiry_body.h"
#include "framing.h"
#include "link.capnp.h"
#include "link.h"
#include "process.h"
#include "test_support.h"

using namespace mash;
using namespace mash::testing;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

const std::string kBin = MASH_BIN_DIR;

const char* kPersons =
    "person_id,forenames,surname,other_names,date_of_birth,gender,address,postcode,previous_postcodes,nhs,upn,pnc,probation,housing\n"
    "C1,Amelia,Okonkwo,,2016-03-04,female,,W6 9AA,,9434765919,,,,\n"
    "C2,Olivia,Okonkwo,,2016-03-04,female,,W6 9AA,,,,,,\n"
    "M1,Grace,Okonkwo,,1988-07-21,female,,W6 9AA,,,,,,\n";

// Two months ago: inside every look-back window.
std::string recent_date() {
  std::time_t t = std::time(nullptr) - 86400 * 60;
  char recent[16];
  std::strftime(recent, sizeof recent, "%Y-%m-%d", std::gmtime(&t));
  return recent;
}

std::string facts_csv() {
  std::string r = recent_date();
  return "person_id,field,value,date,source,record_type,restricted\n"
         "C1,police.known,Known: 2 incidents," + r + ",CAD/1,,\n"
         "C1,police.domestic-abuse,DA incident at home address," + r + ",CAD/2,,\n"
         "M1,police.known,Known," + r + ",CAD/5,,\n"
         "M1,police.adult-offending,SECRET-OPERATION-NIGHTJAR," + r + ",OP/7,ongoing-investigation,\n";
}

struct Subject {
  std::string ref, fore, sur, dob, postcode, nhs;
};

struct Enquiry {
  std::string purpose = "mash-risk-assessment", basis = "ca1989-s17", consent = "given", brag = "green";
  uint64_t version = 1;
  std::vector<std::string> fields = {"police.known", "police.domestic-abuse", "police.adult-offending"};
  std::vector<Subject> subjects;
};

struct ReceivedAnswer {
  std::vector<uint8_t> body;
  std::string bytes() const { return std::string(body.begin(), body.end()); }
};

// The hub side: keys, the signed agreement, the agent listener, and what it hears.
class TestHub {
 public:
  TestHub() {
    const auto& d = pki.dir();
    std::string out;
    REQUIRE(run(kBin + "/mash-broker keygen --out " + shell_quote((d / "audit.key").string()), &out) == 0);
    REQUIRE(run(kBin + "/mash-agent keygen --out " + shell_quote((d / "police.key").string()), &out) == 0);
    REQUIRE(run(kBin + "/mash-policy keygen --out " + shell_quote((d / "isa.key").string()), &out) == 0);
    write_file(d / "isa.toml", read_file(std::string(MASH_SOURCE_DIR) + "/policy/examples/tri-borough.toml"));
    REQUIRE(run(kBin + "/mash-policy sign --key " + shell_quote((d / "isa.key").string()) + " " +
                    shell_quote((d / "isa.toml").string()),
                &out) == 0);
    hub_key = std::make_unique<SigningKey>(load_signing_key(d / "audit.key").value());

    AuditLogOptions audit_options;
    audit_options.origin = "mash-broker/test";
    audit_options.checkpoint_interval = 100ms;
    auto log = AuditLog::open(d / "audit", audit_options, load_signing_key(d / "audit.key").value());
    REQUIRE(log.ok());
    audit = std::move(log).value();
    write_agent_config();
  }

  // Starts the listener; `bundle_dir` (if set) holds the agreement the hub sends on the link.
  void start(const std::filesystem::path& bundle_toml = {}) {
    const auto& d = pki.dir();
    broker::AgentListenerOptions opts;
    opts.link.heartbeat_interval = 200ms;
    opts.link.idle_timeout = 2000ms;
    opts.agency_keys["police"] = load_verify_key(d / "police.key.pub").value();
    opts.witness_dir = d / "witness";
    if (!bundle_toml.empty()) {
      broker::AgentListenerOptions::PolicyBundle b;
      b.document = read_file(bundle_toml);
      b.signature = read_file(bundle_toml.string() + ".sig");
      b.agreement_id = "tri-borough-mash";
      b.version = 2;
      opts.policy_bundle = b;
    }
    auto tls = make_link_server_context(pki.broker());
    REQUIRE(tls.ok());
    listener = std::make_shared<broker::AgentListener>(io, *tls, opts, Logger(log_stream, LogLevel::kDebug, "hub"),
                                                       registry, audit.get());
    broker::AgentListenerHandlers h;
    h.on_answer = [this](broker::AgentAnswer a, std::function<void(bool)> stored) {
      std::lock_guard lock(mu);
      answers[to_hex(a.enquiry_id)].push_back({a.body});
      cv.notify_all();
      stored(acknowledge_answers);
    };
    h.on_acknowledged = [this](const std::string&, std::vector<uint8_t> id) {
      std::lock_guard lock(mu);
      acks.push_back(to_hex(id));
      cv.notify_all();
    };
    listener->set_handlers(h);
    REQUIRE(listener->listen({asio::ip::make_address("127.0.0.1"), 0}).ok());
    port = listener->port();
    write_agent_config();
    thread = std::thread([this] { io.run(); });
  }

  ~TestHub() {
    agent.reset();
    if (listener) listener->stop();
    work.reset();
    io.stop();
    if (thread.joinable()) thread.join();
  }

  void write_agent_config(const std::string& extra = "") {
    const auto& d = pki.dir();
    auto f = pki.agent("police");
    write_file(d / "police.toml",
               "[broker]\naddress = \"127.0.0.1:" + std::to_string(port) + "\"\nname = \"broker.test\"\n"
               "[link]\nheartbeat_interval_ms = 200\nidle_timeout_ms = 2000\nreconnect_initial_ms = 100\n"
               "reconnect_max_ms = 300\nconnect_timeout_ms = 3000\n" + link_extra +
               "[disclosure]\ndir = \"" + (d / "disclosure").string() + "\"\nsigning_key = \"" +
               (d / "police.key").string() + "\"\ncheckpoint_interval_ms = 100\n"
               "[witness]\nbroker_audit_key = \"" + (d / "audit.key.pub").string() +
               "\"\nbroker_audit_origin = \"mash-broker/test\"\nstate = \"" + (d / "police.witness").string() + "\"\n"
               "[store]\ndir = \"" + (d / "store").string() + "\"\n"
               "[policy]\nsigner = \"" + (d / "isa.key.pub").string() + "\"\nagreement = \"" +
               (d / "isa.toml").string() + "\"\n" + extra +
               "[tls]\nca = \"" + f.ca.string() + "\"\ncert = \"" + f.cert.string() + "\"\nkey = \"" +
               f.key.string() + "\"\ncrl = \"" + f.crl.string() + "\"\n");
  }

  std::string agent_cmd(const std::string& args) const {
    return kBin + "/mash-agent " + args + " --config " + shell_quote((pki.dir() / "police.toml").string());
  }

  void import_extract(const std::string& persons = kPersons, const std::string& facts = facts_csv()) {
    write_file(pki.dir() / "persons.csv", persons);
    write_file(pki.dir() / "facts.csv", facts);
    std::string out;
    int rc = run(agent_cmd("import --persons " + shell_quote((pki.dir() / "persons.csv").string()) + " --facts " +
                           shell_quote((pki.dir() / "facts.csv").string())),
                 &out);
    INFO(out);
    REQUIRE(rc == 0);
  }

  void start_agent() {
    agent = std::make_unique<Process>(
        std::vector<std::string>{kBin + "/mash-agent", "--config", (pki.dir() / "police.toml").string()},
        pki.dir() / ("agent" + std::to_string(++agent_starts) + ".log"));
    INFO(agent->log());
    REQUIRE(agent->wait_for_log("INFO agent.link connected", 10000ms));
  }

  // Signs and sends; returns the id (hex).
  std::string send(const Enquiry& e, std::vector<uint8_t> id = {}, bool bad_signature = false) {
    if (id.empty()) {
      id.resize(16);
      random_bytes(id);
    }
    EnquiryBodyFields f;
    f.id = id;
    f.agency = "police";
    f.agreement_id = "tri-borough-mash";
    f.policy_version = e.version;
    f.issued_ms = unix_millis_now();
    f.case_ref = "MASH-2026-0042";
    f.purpose = e.purpose;
    f.legal_basis = e.basis;
    f.consent = e.consent;
    f.brag = e.brag;
    f.fields = e.fields;
    for (const auto& s : e.subjects) {
      EnquirySubject subject;
      subject.ref = s.ref;
      subject.forenames = s.fore;
      subject.surname = s.sur;
      subject.date_of_birth = s.dob;
      subject.postcode = s.postcode;
      if (!s.nhs.empty()) subject.identifiers.emplace_back("nhs", s.nhs);
      f.subjects.push_back(std::move(subject));
    }
    auto bytes = encode_enquiry_body(f);
    auto sig = sign_envelope(*hub_key, kEnquiryDomain, bytes);
    if (bad_signature) sig[0] ^= 1;
    REQUIRE(listener->send_to("police", make_enquiry_frame(id, bytes, sig, FrameLimits{})));
    return to_hex(id);
  }

  // Waits for the `n`th answer to an enquiry.
  std::optional<ReceivedAnswer> answer(const std::string& id, size_t n = 1, std::chrono::milliseconds timeout = 10000ms) {
    std::unique_lock lock(mu);
    bool ok = cv.wait_for(lock, timeout, [&] { return answers[id].size() >= n; });
    if (!ok) return std::nullopt;
    return answers[id][n - 1];
  }
  size_t answer_count(const std::string& id) {
    std::lock_guard lock(mu);
    return answers[id].size();
  }

  TestPki pki;
  std::unique_ptr<SigningKey> hub_key;
  std::unique_ptr<AuditLog> audit;
  asio::io_context io;
  std::unique_ptr<asio::executor_work_guard<asio::io_context::executor_type>> work =
      std::make_unique<asio::executor_work_guard<asio::io_context::executor_type>>(io.get_executor());
  broker::AgentRegistry registry;
  std::shared_ptr<broker::AgentListener> listener;
  std::ostringstream log_stream;
  std::thread thread;
  uint16_t port = 1;
  std::unique_ptr<Process> agent;
  int agent_starts = 0;
  std::string link_extra;  // more [link] keys for the agent

  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, std::vector<ReceivedAnswer>> answers;
  std::vector<std::string> acks;
  bool acknowledge_answers = true;  // false: answers are not acknowledged (as if not stored)
};

struct Decoded {
  std::unique_ptr<NestedMessage> msg;
  wire::AnswerBody::Reader body() { return msg->root<wire::AnswerBody>(); }
  wire::SubjectAnswer::Reader subject(const std::string& ref) {
    for (auto s : body().getSubjects()) {
      if (std::string(s.getRef().cStr()) == ref) return s;
    }
    FAIL("no subject " << ref);
    return body().getSubjects()[0];
  }
};

Decoded decode(const ReceivedAnswer& a) {
  auto m = NestedMessage::decode(a.body, FrameLimits{});
  REQUIRE(m.ok());
  return Decoded{std::move(m).value()};
}

std::vector<std::string> released(wire::SubjectAnswer::Reader s) {
  std::vector<std::string> out;
  for (auto f : s.getReleased()) out.push_back(f.getField().cStr());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::map<std::string, std::string> withheld(wire::SubjectAnswer::Reader s) {
  std::map<std::string, std::string> out;
  for (auto w : s.getWithheld()) out[w.getField().cStr()] = w.getReason().cStr();
  return out;
}

const std::vector<Subject> kFourSubjects = {
    {"child", "Amelia", "Okonkwo", "2016-03-04", "W6 9AA", ""},
    {"mother", "Grace", "Okonkwo", "1988-07-21", "W6 9AA", ""},
    {"twin", "", "Okonkwo", "2016-03-04", "W6 9AA", ""},
    {"unknown", "Zed", "Quinlan", "1970-01-01", "N1 1AA", ""}};

}  // namespace

TEST_CASE("agent: an enquiry is answered per subject with exactly what the agreement allows", "[e2e][agent]") {
  TestHub hub;
  hub.start();
  hub.import_extract();
  hub.start_agent();

  Enquiry e;
  e.subjects = kFourSubjects;
  auto id = hub.send(e);
  auto a = hub.answer(id);
  INFO(hub.agent->log());
  REQUIRE(a);
  auto d = decode(*a);
  CHECK(d.body().getStatus() == wire::AnswerBody::Status::ANSWERED);
  CHECK(std::string(d.body().getAgency().cStr()) == "police");

  // The child: matched; known and domestic abuse released (G-POL-03), adult offending withheld.
  auto child = d.subject("child");
  CHECK(child.getOutcome() == wire::SubjectAnswer::Outcome::MATCHED);
  CHECK(released(child) == std::vector<std::string>{"police.domestic-abuse", "police.known"});
  CHECK(withheld(child)["police.adult-offending"] == "no-grant");
  CHECK_FALSE(child.getRestricted());
  // The mother: matched, restricted: the flag and the contact route, nothing of the record.
  auto mother = d.subject("mother");
  CHECK(mother.getOutcome() == wire::SubjectAnswer::Outcome::MATCHED);
  CHECK(mother.getRestricted());
  CHECK(std::string(mother.getRestrictedContact().cStr()).find("MASH police desk") != std::string::npos);
  CHECK(a->bytes().find("NIGHTJAR") == std::string::npos);
  CHECK(a->bytes().find("OP/7") == std::string::npos);
  // The twin without a forename: possible, a count and nothing else.
  auto twin = d.subject("twin");
  CHECK(twin.getOutcome() == wire::SubjectAnswer::Outcome::POSSIBLE);
  CHECK(twin.getCandidateCount() == 2);
  CHECK(twin.getReleased().size() == 0);
  // Nobody: no record.
  auto unknown = d.subject("unknown");
  CHECK(unknown.getOutcome() == wire::SubjectAnswer::Outcome::NO_RECORD);
  CHECK(unknown.getReleased().size() == 0);

  // The agent acknowledged the enquiry, and recorded its answer in its disclosure log.
  {
    std::unique_lock lock(hub.mu);
    CHECK(std::find(hub.acks.begin(), hub.acks.end(), id) != hub.acks.end());
  }
  std::string out;
  REQUIRE(hub.agent->wait_for_log("enquiry-answered enquiry=" + id, 5000ms));
  hub.agent->signal(SIGTERM);
  REQUIRE(hub.agent->wait(5000ms) == 0);
  const auto store = shell_quote((hub.pki.dir() / "disclosure").string());
  std::string exported = exported_records(hub.pki.dir() / "disclosure", hub.pki.dir() / "disclosure.jsonl");
  CHECK(exported.find("answer.sent") != std::string::npos);
  CHECK(exported.find("answer.sent.subject") != std::string::npos);
  CHECK(exported.find(id) != std::string::npos);
  CHECK(exported.find("\"record.0\":\"C1\"") != std::string::npos);  // the agency's own record id
  CHECK(exported.find("NIGHTJAR") == std::string::npos);
  CHECK(exported.find("Okonkwo") == std::string::npos);
  CHECK(exported.find("Amelia") == std::string::npos);
  REQUIRE(run(kBin + "/mash-audit verify --store " + store + " --pubkey " +
                  shell_quote((hub.pki.dir() / "police.key.pub").string()), &out) == 0);

  // Idempotent across a restart: the same id gets the same answer, byte for byte.
  hub.start_agent();
  auto id_bytes = from_hex(id).value();
  hub.send(e, id_bytes);
  auto again = hub.answer(id, 2);
  REQUIRE(again);
  CHECK(again->body == a->body);
  CHECK(hub.agent->wait_for_log("enquiry-repeated enquiry=" + id, 5000ms));
}

TEST_CASE("agent: requests outside the agreement and forged enquiries are refused", "[e2e][agent]") {
  TestHub hub;
  hub.start();
  hub.import_extract();
  hub.start_agent();

  // A field the agreement does not have for police: the agent declines the whole request.
  Enquiry outside;
  outside.fields = {"police.known", "health.gp-registered"};
  outside.subjects = {kFourSubjects[0]};
  auto a = hub.answer(hub.send(outside));
  REQUIRE(a);
  auto d = decode(*a);
  CHECK(d.body().getStatus() == wire::AnswerBody::Status::DECLINED);
  CHECK(std::string(d.body().getDeclineReason().cStr()) == "field-outside-agreement");
  CHECK(d.body().getSubjects().size() == 0);
  CHECK(a->bytes().find("Known") == std::string::npos);

  // An agreement version the agent does not hold.
  Enquiry newer;
  newer.version = 7;
  newer.subjects = {kFourSubjects[0]};
  auto n = hub.answer(hub.send(newer));
  REQUIRE(n);
  CHECK(std::string(decode(*n).body().getDeclineReason().cStr()) == "agreement-not-held");

  // A forged signature: no answer at all, and the agent says why.
  Enquiry forged;
  forged.subjects = {kFourSubjects[0]};
  auto fid = hub.send(forged, {}, true);
  CHECK(hub.agent->wait_for_log("enquiry-refused enquiry=" + fid, 5000ms));
  CHECK_FALSE(hub.answer(fid, 1, 500ms));
}

TEST_CASE("agent: answers that need review wait for a person at the agency", "[e2e][agent]") {
  TestHub hub;
  hub.start();
  hub.import_extract();
  hub.start_agent();
  // G-POL-04: s17 with consent refused at red: known and domestic abuse, after review.
  Enquiry e;
  e.consent = "refused";
  e.brag = "red";
  e.fields = {"police.known", "police.domestic-abuse"};
  e.subjects = {kFourSubjects[0]};
  auto id = hub.send(e);
  auto interim = hub.answer(id);
  REQUIRE(interim);
  CHECK(decode(*interim).body().getStatus() == wire::AnswerBody::Status::AWAITING_REVIEW);
  CHECK(interim->bytes().find("DA incident") == std::string::npos);

  std::string out;
  REQUIRE(run(hub.agent_cmd("review list"), &out) == 0);
  CHECK(out.find(id) != std::string::npos);
  CHECK(out.find("pending") != std::string::npos);
  REQUIRE(run(hub.agent_cmd("review show " + id), &out) == 0);
  CHECK(out.find("release police.domestic-abuse = DA incident at home address") != std::string::npos);
  // Bad input changes nothing.
  CHECK(run(hub.agent_cmd("review approve " + id + " --withhold police.shoe-size"), &out) == 1);
  CHECK(out.find("was not asked for") != std::string::npos);
  CHECK(run(hub.agent_cmd("review decline " + id), &out) == 2);
  CHECK(run(hub.agent_cmd("review approve 00ff"), &out) == 1);

  REQUIRE(run(hub.agent_cmd("review approve " + id + " --withhold police.domestic-abuse --reviewer ds.jones --note checked"),
              &out) == 0);
  auto final_answer = hub.answer(id, 2);
  INFO(hub.agent->log());
  REQUIRE(final_answer);
  auto d = decode(*final_answer);
  CHECK(d.body().getStatus() == wire::AnswerBody::Status::ANSWERED);
  auto child = d.subject("child");
  CHECK(released(child) == std::vector<std::string>{"police.known"});
  CHECK(withheld(child)["police.domestic-abuse"] == "withheld-on-review");
  CHECK(final_answer->bytes().find("DA incident") == std::string::npos);
  CHECK(run(hub.agent_cmd("review approve " + id), &out) == 1);  // gone from the queue

  // Declined on review.
  auto id2 = hub.send(e);
  REQUIRE(hub.answer(id2));
  REQUIRE(run(hub.agent_cmd("review decline " + id2 + " --note \"not proportionate\""), &out) == 0);
  auto declined = hub.answer(id2, 2);
  REQUIRE(declined);
  CHECK(decode(*declined).body().getStatus() == wire::AnswerBody::Status::DECLINED);
  CHECK(std::string(decode(*declined).body().getDeclineReason().cStr()) == "declined-on-review");
  CHECK(declined->bytes().find("not proportionate") == std::string::npos);
}

TEST_CASE("agent: a reviewer settles a possible subject, and the answer is recomputed before approval", "[e2e][agent]") {
  TestHub hub;
  hub.start();
  hub.import_extract();
  hub.start_agent();
  // G-POL-04 sends police answers to review. The twin (no forename) is possible: C1 or C2.
  Enquiry e;
  e.consent = "refused";
  e.brag = "red";
  e.fields = {"police.known", "police.domestic-abuse"};
  e.subjects = {kFourSubjects[0], kFourSubjects[2]};
  auto id = hub.send(e);
  auto interim = hub.answer(id);
  REQUIRE(interim);
  CHECK(decode(*interim).body().getStatus() == wire::AnswerBody::Status::AWAITING_REVIEW);
  std::string out;
  REQUIRE(run(hub.agent_cmd("review show " + id), &out) == 0);
  CHECK(out.find("subject twin: possible") != std::string::npos);
  CHECK(out.find("candidate C1") != std::string::npos);
  CHECK(out.find("candidate C2") != std::string::npos);
  CHECK(out.find("--candidate none") != std::string::npos);
  // Bad input: someone who is not a candidate, a subject already matched, no such subject, no
  // --candidate. Nothing changes.
  CHECK(run(hub.agent_cmd("review resolve " + id + " twin --candidate M1"), &out) == 2);
  CHECK(out.find("M1 is not one of subject twin's candidates") != std::string::npos);
  CHECK(run(hub.agent_cmd("review resolve " + id + " child --candidate C1"), &out) == 2);
  CHECK(out.find("subject child is matched, not possible") != std::string::npos);
  CHECK(run(hub.agent_cmd("review resolve " + id + " s9 --candidate C1"), &out) == 2);
  CHECK(run(hub.agent_cmd("review resolve " + id + " twin"), &out) == 2);
  CHECK(run(hub.agent_cmd("review resolve " + id), &out) == 2);
  REQUIRE(run(hub.agent_cmd("review show " + id), &out) == 0);
  CHECK(out.find("subject twin: possible") != std::string::npos);

  REQUIRE(run(hub.agent_cmd("review resolve " + id + " twin --candidate C1 --reviewer ds.jones"), &out) == 0);
  CHECK(out.find("subject twin settled by ds.jones: matched to C1, 2 values to release") != std::string::npos);
  REQUIRE(run(hub.agent_cmd("review show " + id), &out) == 0);
  CHECK(out.find("subject twin: matched (settled on review)") != std::string::npos);
  REQUIRE(run(hub.agent_cmd("review approve " + id + " --reviewer ds.jones"), &out) == 0);
  auto final_answer = hub.answer(id, 2);
  INFO(hub.agent->log());
  REQUIRE(final_answer);
  auto d = decode(*final_answer);
  auto twin = d.subject("twin");
  CHECK(twin.getOutcome() == wire::SubjectAnswer::Outcome::MATCHED);
  CHECK(std::string(twin.getMatchBasis().cStr()) == "settled-on-review");
  CHECK(released(twin) == std::vector<std::string>{"police.domestic-abuse", "police.known"});
  CHECK(d.subject("child").getOutcome() == wire::SubjectAnswer::Outcome::MATCHED);

  // Only a possible subject: the answer still waits for the reviewer, who says it is none of them.
  e.subjects = {kFourSubjects[2]};
  auto id2 = hub.send(e);
  auto interim2 = hub.answer(id2);
  REQUIRE(interim2);
  CHECK(decode(*interim2).body().getStatus() == wire::AnswerBody::Status::AWAITING_REVIEW);
  REQUIRE(run(hub.agent_cmd("review resolve " + id2 + " twin --candidate none"), &out) == 0);
  REQUIRE(run(hub.agent_cmd("review approve " + id2), &out) == 0);
  auto none = hub.answer(id2, 2);
  REQUIRE(none);
  auto decoded_none = decode(*none);  // the reader below points into it: keep it alive
  auto nt = decoded_none.subject("twin");
  CHECK(nt.getOutcome() == wire::SubjectAnswer::Outcome::NO_RECORD);
  CHECK(nt.getCandidateCount() == 0);
  CHECK(nt.getReleased().size() == 0);
  // A decided item cannot be settled again.
  CHECK(run(hub.agent_cmd("review resolve " + id2 + " twin --candidate C1"), &out) == 1);

  // The disclosure log says who settled which subject, and how each subject was matched.
  REQUIRE(hub.agent->wait_for_log("enquiry=" + id2, 5000ms));
  hub.agent->signal(SIGTERM);
  REQUIRE(hub.agent->wait(5000ms) == 0);
  std::string exported = exported_records(hub.pki.dir() / "disclosure", hub.pki.dir() / "disclosure.jsonl");
  CHECK(exported.find("review.settled") != std::string::npos);
  CHECK(exported.find("ds.jones") != std::string::npos);
  CHECK(exported.find("\"basis\":\"settled-on-review\"") != std::string::npos);
}

TEST_CASE("agent: a policy bundle from the hub is accepted only when signed by the ISA signer", "[e2e][agent]") {
  TestHub hub;
  const auto& d = hub.pki.dir();
  // Version 2 of the agreement, signed by someone else.
  std::string text = read_file(d / "isa.toml");
  auto pos = text.find("version = 1");
  REQUIRE(pos != std::string::npos);
  text.replace(pos, 11, "version = 2");
  write_file(d / "isa-v2.toml", text);
  std::string out;
  REQUIRE(run(kBin + "/mash-policy keygen --out " + shell_quote((d / "rogue.key").string()), &out) == 0);
  REQUIRE(run(kBin + "/mash-policy sign --key " + shell_quote((d / "rogue.key").string()) + " " +
                  shell_quote((d / "isa-v2.toml").string()), &out) == 0);
  hub.start(d / "isa-v2.toml");
  hub.import_extract();
  hub.start_agent();
  INFO(hub.agent->log());
  CHECK(hub.agent->wait_for_log("policy-bundle-refused", 5000ms));
  // The agent keeps answering under version 1, and declines version 2 enquiries.
  Enquiry v1;
  v1.subjects = {kFourSubjects[0]};
  auto a = hub.answer(hub.send(v1));
  REQUIRE(a);
  CHECK(decode(*a).body().getStatus() == wire::AnswerBody::Status::ANSWERED);
  Enquiry v2 = v1;
  v2.version = 2;
  auto b = hub.answer(hub.send(v2));
  REQUIRE(b);
  CHECK(std::string(decode(*b).body().getDeclineReason().cStr()) == "agreement-not-held");
}

TEST_CASE("agent: a policy bundle properly signed is taken up on the link", "[e2e][agent]") {
  TestHub hub;
  const auto& d = hub.pki.dir();
  std::string text = read_file(d / "isa.toml");
  auto pos = text.find("version = 1");
  text.replace(pos, 11, "version = 2");
  write_file(d / "isa-v2.toml", text);
  std::string out;
  REQUIRE(run(kBin + "/mash-policy sign --key " + shell_quote((d / "isa.key").string()) + " " +
                  shell_quote((d / "isa-v2.toml").string()), &out) == 0);
  hub.start(d / "isa-v2.toml");
  hub.import_extract();
  hub.start_agent();
  INFO(hub.agent->log());
  REQUIRE(hub.agent->wait_for_log("policy-accepted version=2", 5000ms));
  Enquiry v2;
  v2.version = 2;
  v2.subjects = {kFourSubjects[0]};
  auto a = hub.answer(hub.send(v2));
  REQUIRE(a);
  CHECK(decode(*a).body().getStatus() == wire::AnswerBody::Status::ANSWERED);
  // Version 1 is now superseded at this agent.
  Enquiry v1 = v2;
  v1.version = 1;
  auto b = hub.answer(hub.send(v1));
  REQUIRE(b);
  CHECK(std::string(decode(*b).body().getDeclineReason().cStr()) == "agreement-superseded");
}

TEST_CASE("agent: malformed extracts are reported and change nothing", "[e2e][agent]") {
  TestHub hub;
  hub.import_extract();
  const auto& d = hub.pki.dir();
  write_file(d / "subject.json", R"({"forenames": "Amelia", "surname": "Okonkwo", "date_of_birth": "2016-03-04", "postcode": "W6 9AA"})");
  std::string out;
  REQUIRE(run(hub.agent_cmd("match --subject " + shell_quote((d / "subject.json").string())), &out) == 0);
  CHECK(out.find("outcome: matched (score)") != std::string::npos);
  CHECK(out.find("records: C1") != std::string::npos);
  CHECK(out.find("date_of_birth exact") != std::string::npos);

  auto import = [&](const std::string& persons, const std::string& extra = "") {
    write_file(d / "bad.csv", persons);
    return run(hub.agent_cmd("import --persons " + shell_quote((d / "bad.csv").string()) + " --facts " +
                             shell_quote((d / "facts.csv").string()) + extra),
               &out);
  };
  // A missing column, a huge line, bad encoding with --strict: refused, the extract unchanged.
  CHECK(import("id,forenames,surname\n1,A,B\n") == 1);
  CHECK(out.find("required column 'person_id' is missing") != std::string::npos);
  CHECK(import(std::string(kPersons) + "X1," + std::string(200'000, 'x') + ",Y,,,,,,,,,,,\n") == 1);
  CHECK(out.find("longer than 65536 bytes") != std::string::npos);
  CHECK(import(std::string(kPersons) + "X2,Jos\xE9,Y,,,,,,,,,,,\nX3,A,B,,31/12/2001,,,,,,,,,\n", " --strict") == 1);
  CHECK(out.find("--strict") != std::string::npos);
  // A dry run lists the bad rows by line and changes nothing.
  CHECK(import(std::string(kPersons) + "X2,Jos\xE9,Y,,,,,,,,,,,\nX3,A,B,,31/12/2001,,,,,,,,,\n", " --dry-run") == 0);
  CHECK(out.find("bad.csv:5: not valid UTF-8") != std::string::npos);
  CHECK(out.find("bad.csv:6: date_of_birth '31/12/2001'") != std::string::npos);
  CHECK(out.find("dry run (nothing changed): 3 of 5 persons") != std::string::npos);
  REQUIRE(run(hub.agent_cmd("match --subject " + shell_quote((d / "subject.json").string())), &out) == 0);
  CHECK(out.find("records: C1") != std::string::npos);
  // Bad subjects for match are refused.
  write_file(d / "bad.json", R"({"forenames": "A", "nhs": "123"})");
  CHECK(run(hub.agent_cmd("match --subject " + shell_quote((d / "bad.json").string())), &out) == 2);
  CHECK(out.find("unknown key 'nhs'") != std::string::npos);
  write_file(d / "bad.json", R"({"surname": "A", "identifiers": {"nhs": "9434765918"}})");
  CHECK(run(hub.agent_cmd("match --subject " + shell_quote((d / "bad.json").string())), &out) == 2);
  CHECK(out.find("check digit") != std::string::npos);
  write_file(d / "bad.json", R"({"surname": "A", "address": "14, 2"})");
  CHECK(run(hub.agent_cmd("match --subject " + shell_quote((d / "bad.json").string())), &out) == 2);
  CHECK(out.find("subject: address: address has no street, building or place name") != std::string::npos);
  write_file(d / "bad.json", R"({"surname": "A", "identifiers": {"police-nominal": "PN-1"}})");
  CHECK(run(hub.agent_cmd("match --subject " + shell_quote((d / "bad.json").string())), &out) == 2);
  CHECK(out.find("unknown identifier scheme 'police-nominal'") != std::string::npos);
  CHECK(out.find("[matching] identifier_schemes") != std::string::npos);
  write_file(d / "bad.json", R"({"surname": "A", "uprn": "12ab"})");
  CHECK(run(hub.agent_cmd("match --subject " + shell_quote((d / "bad.json").string())), &out) == 2);
  CHECK(out.find("subject: uprn must be 1 to 12 digits") != std::string::npos);
  // An address is taken and shown in the evidence.
  write_file(d / "addressed.json",
             R"({"forenames": "Amelia", "surname": "Okonkwo", "date_of_birth": "2016-03-04", "address": "1 Test Street"})");
  REQUIRE(run(hub.agent_cmd("match --subject " + shell_quote((d / "addressed.json").string())), &out) == 0);
  CHECK(out.find("records: C1") != std::string::npos);

  // --json, and a batch: one JSON result a line, a bad line reported by number, the rest answered.
  REQUIRE(run(hub.agent_cmd("match --json --subject " + shell_quote((d / "subject.json").string())), &out) == 0);
  auto one = nlohmann::json::parse(out);
  CHECK(one["outcome"] == "matched");
  CHECK(one["records"] == nlohmann::json::array({"C1"}));
  CHECK(one["candidates"][0]["evidence"].is_array());
  write_file(d / "batch.jsonl",
             "{\"ref\": \"a\", \"forenames\": \"Amelia\", \"surname\": \"Okonkwo\", \"date_of_birth\": \"2016-03-04\"}\n"
             "{\"ref\": \"b\", \"surname\": \"Okonkwo\", \"address\": \"14, 2\"}\n"
             "\n"
             "{\"ref\": \"c\", \"forenames\": \"Zed\", \"surname\": \"Quinlan\", \"date_of_birth\": \"1970-01-01\"}\r\n");
  CHECK(run(hub.agent_cmd("match --subjects " + shell_quote((d / "batch.jsonl").string())), &out) == 2);
  std::vector<nlohmann::json> results;
  std::istringstream lines(out);
  for (std::string l; std::getline(lines, l);) {
    if (!l.empty() && l[0] == '{') results.push_back(nlohmann::json::parse(l));
  }
  REQUIRE(results.size() == 3);
  CHECK(results[0]["ref"] == "a");
  CHECK(results[0]["outcome"] == "matched");
  CHECK(results[0]["line"] == 1);
  CHECK(results[1]["line"] == 2);
  CHECK(results[1]["error"].get<std::string>().find("address") != std::string::npos);
  CHECK(results[2]["ref"] == "c");
  CHECK(results[2]["outcome"] == "no-record");
  CHECK(out.find("1 of 4 lines were refused") != std::string::npos);
  // Both --subject and --subjects, or neither: a usage error.
  CHECK(run(hub.agent_cmd("match"), &out) == 2);
  CHECK(out.find("--subject FILE.json or --subjects FILE.jsonl") != std::string::npos);
}

TEST_CASE("agent: doctor checks each part and names the fix", "[e2e][agent]") {
  TestHub hub;
  std::string out;
  // Nothing imported and no hub listening: two failures, each with its fix.
  CHECK(run(hub.agent_cmd("doctor"), &out) == 1);
  CHECK(out.find("OK    certificate: agency police") != std::string::npos);
  CHECK(out.find("OK    agreement: tri-borough-mash version 1, signature verified") != std::string::npos);
  CHECK(out.find("FAIL  extract: nothing imported") != std::string::npos);
  CHECK(out.find("FAIL  hub connection") != std::string::npos);
  hub.start();
  hub.import_extract();
  int rc = run(hub.agent_cmd("doctor"), &out);
  INFO(out);
  CHECK(rc == 0);
  CHECK(out.find("OK    hub connection") != std::string::npos);
  CHECK(out.find("OK    extract: 3 persons, 4 facts") != std::string::npos);
  CHECK(out.find("OK    hub audit witness") != std::string::npos);
  CHECK(out.find("OK    answers waiting: 0 answers waiting for the hub's acknowledgement, 0 waiting for review") !=
        std::string::npos);
  CHECK(out.find("OK    disk (store): ") != std::string::npos);
  CHECK(out.find("all checks passed") != std::string::npos);
  // A private key readable by others is caught.
  ::chmod((hub.pki.dir() / "police.key").c_str(), 0644);
  CHECK(run(hub.agent_cmd("doctor"), &out) != 0);
}

TEST_CASE("agent: an answer too big for one frame is declined, not dropped", "[e2e][agent]") {
  TestHub hub;
  hub.start();
  // Frames of at most 8 KiB at this agent; the child's records hold three 4000-byte values.
  hub.link_extra = "max_frame_bytes = 8192\n";
  hub.write_agent_config();
  std::string facts = facts_csv();
  for (int i = 0; i < 3; ++i) {
    facts += "C1,police.domestic-abuse," + std::string(4000, 'x') + "," + recent_date() + ",CAD/9" + std::to_string(i) + ",,\n";
  }
  hub.import_extract(kPersons, facts);
  hub.start_agent();
  Enquiry e;
  e.subjects = {kFourSubjects[0]};
  auto id = hub.send(e);
  auto a = hub.answer(id);
  INFO(hub.agent->log());
  REQUIRE(a);
  auto d = decode(*a);
  CHECK(d.body().getStatus() == wire::AnswerBody::Status::DECLINED);
  CHECK(std::string(d.body().getDeclineReason().cStr()) == "answer-too-large");
  CHECK(hub.agent->log().find("answer-too-large") != std::string::npos);
}

TEST_CASE("agent: an answer the hub acknowledged leaves the outbox, one it did not is sent again after a restart",
          "[e2e][agent]") {
  TestHub hub;
  hub.import_extract();
  hub.start();
  hub.start_agent();
  Enquiry e;
  e.subjects = {kFourSubjects[0]};
  {
    std::lock_guard lock(hub.mu);
    hub.acknowledge_answers = false;
  }
  const std::string unacknowledged = hub.send(e);
  REQUIRE(hub.answer(unacknowledged));
  {
    std::lock_guard lock(hub.mu);
    hub.acknowledge_answers = true;
  }
  const std::string acknowledged = hub.send(e);
  REQUIRE(hub.answer(acknowledged));
  // The agent writes acknowledgements with its next batch, or on their own within 200 ms.
  std::this_thread::sleep_for(700ms);
  hub.agent.reset();
  hub.start_agent();
  // On the new connection the outbox goes out again: only the answer never acknowledged.
  auto again = hub.answer(unacknowledged, 2);
  REQUIRE(again);
  CHECK(again->body == hub.answer(unacknowledged, 1)->body);  // the same answer, byte for byte
  std::this_thread::sleep_for(500ms);
  CHECK(hub.answer_count(acknowledged) == 1);
  CHECK(hub.answer_count(unacknowledged) == 2);
}

TEST_CASE("agent: an acknowledgement names the answer it is for: a stale one does not clear the answer released from review",
          "[e2e][agent]") {
  TestHub hub;
  hub.start();
  hub.import_extract();
  hub.start_agent();
  Enquiry e;  // held for review, as in the review test above
  e.consent = "refused";
  e.brag = "red";
  e.fields = {"police.known", "police.domestic-abuse"};
  e.subjects = {kFourSubjects[0]};
  const std::string id = hub.send(e);
  auto interim = hub.answer(id);  // acknowledged by the hub, naming this answer
  REQUIRE(interim);
  {
    std::lock_guard lock(hub.mu);
    hub.acknowledge_answers = false;  // the released answer is received but not acknowledged
  }
  std::string out;
  REQUIRE(run(hub.agent_cmd("review approve " + id + " --reviewer ds.jones"), &out) == 0);
  auto released_answer = hub.answer(id, 2);
  REQUIRE(released_answer);
  // A late acknowledgement of the interim answer arrives after the release.
  const auto raw = from_hex(id).value();
  REQUIRE(hub.listener->send_to("police", make_ack_frame(raw, FrameLimits{}, sha256(interim->body))));
  std::this_thread::sleep_for(700ms);
  hub.agent.reset();
  hub.start_agent();
  // The released answer is still in the outbox: it comes again on the new connection.
  auto again = hub.answer(id, 3);
  INFO(hub.agent->log());
  REQUIRE(again);
  CHECK(again->body == released_answer->body);
  // Now acknowledged by its own digest: gone from the outbox.
  REQUIRE(hub.listener->send_to("police", make_ack_frame(raw, FrameLimits{}, sha256(released_answer->body))));
  std::this_thread::sleep_for(700ms);
  hub.agent.reset();
  hub.start_agent();
  std::this_thread::sleep_for(700ms);
  CHECK(hub.answer_count(id) == 3);
}
