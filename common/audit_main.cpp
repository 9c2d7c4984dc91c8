// mash-audit: offline tools for an audit store (the broker's access audit or an agent's
// disclosure log), for a data protection officer or an auditor working on a copy.
#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>
#include <map>
#include <string>

#include "audit_log.h"
#include "crypto.h"
#include "merkle.h"
#include "signed_note.h"

using namespace mash;

namespace {

constexpr const char* kUsageText = R"(usage: mash-audit COMMAND [OPTIONS]

Commands:
  verify --store DIR --pubkey FILE [--origin NAME]
        recompute every record's hash and the whole Merkle tree, check every signed
        checkpoint; report any changed, removed or reordered record by index
  export --store DIR --out FILE [--from I] [--to J]
        write records I..J (default: all) with inclusion proofs to the latest checkpoint,
        one JSON object per line, the signed checkpoint first
  verify-export --in FILE --pubkey FILE [--origin NAME]
        check an export: the checkpoint's signature and every record's inclusion proof
  show --store DIR
        the number of records and the latest checkpoint

The public key file is the log signer's (mash-ed25519-public-key-v1 format). --origin
defaults to the origin recorded in the store or export; give it to pin the expected log.
Exit status: 0 verified; 1 problems found; 2 usage error; 3 a file could not be read.
)";

struct Args {
  std::map<std::string, std::string> opts;
  std::string get(const std::string& k) const {
    auto it = opts.find(k);
    return it == opts.end() ? "" : it->second;
  }
};

int fail_io(const Error& e) {
  std::cerr << "mash-audit: " << e.message << "\n";
  return 3;
}

std::span<const uint8_t> bytes_of(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

int cmd_verify(const Args& a) {
  auto pub = load_verify_key(a.get("--pubkey"));
  if (!pub.ok()) return fail_io(pub.error());
  std::string origin = a.get("--origin");
  if (origin.empty()) {
    auto reader = AuditReader::open(a.get("--store"));
    if (!reader.ok()) return fail_io(reader.error());
    origin = reader->origin();
  }
  NoteVerifier verifier(origin, *pub);
  auto report = verify_audit_store(a.get("--store"), verifier, origin);
  if (!report.ok()) return fail_io(report.error());
  for (const auto& p : report->problems) std::cout << "PROBLEM: " << p << "\n";
  std::cout << a.get("--store") << ": " << report->records << " records, " << report->checkpoints
            << " checkpoints: " << (report->ok() ? "verified" : "NOT VERIFIED") << "\n";
  return report->ok() ? 0 : 1;
}

int cmd_show(const Args& a) {
  auto reader = AuditReader::open(a.get("--store"));
  if (!reader.ok()) return fail_io(reader.error());
  std::cout << "origin: " << reader->origin() << "\nrecords: " << reader->size() << "\n";
  auto note = reader->latest_checkpoint();
  std::cout << "latest checkpoint:\n" << (note.ok() ? *note : "(none)\n");
  return 0;
}

int cmd_export(const Args& a) {
  auto reader = AuditReader::open(a.get("--store"));
  if (!reader.ok()) return fail_io(reader.error());
  auto note = reader->latest_checkpoint();
  if (!note.ok()) return fail_io(note.error());
  // The checkpoint's size bounds what can be proven.
  auto split = note->find('\n');
  uint64_t size = std::stoull(note->substr(split + 1, note->find('\n', split + 1) - split - 1));
  uint64_t from = a.get("--from").empty() ? 0 : std::stoull(a.get("--from"));
  uint64_t to = a.get("--to").empty() ? (size ? size - 1 : 0) : std::stoull(a.get("--to"));
  if (size == 0 || from > to || to >= size) {
    std::cerr << "mash-audit: range " << from << ".." << to << " is outside the checkpoint (size " << size << ")\n";
    return 2;
  }
  std::ofstream out(a.get("--out"), std::ios::trunc);
  if (!out) return fail_io(make_error(ErrorCode::kUnavailable, a.get("--out") + ": cannot write"));
  out << nlohmann::json{{"origin", reader->origin()}, {"checkpoint", *note}}.dump() << "\n";
  for (uint64_t i = from; i <= to; ++i) {
    auto rec = reader->record(i);
    auto proof = reader->inclusion_proof(i, size);
    if (!rec.ok() || !proof.ok()) return fail_io(rec.ok() ? proof.error() : rec.error());
    nlohmann::json p = nlohmann::json::array();
    for (const auto& h : *proof) p.push_back(to_hex(h));
    out << nlohmann::json{{"index", i}, {"record", to_base64(bytes_of(*rec))}, {"proof", p}}.dump() << "\n";
  }
  if (!out.flush()) return fail_io(make_error(ErrorCode::kUnavailable, a.get("--out") + ": write failed"));
  std::cout << "exported records " << from << " to " << to << " with proofs to checkpoint size " << size << "\n";
  return 0;
}

int cmd_verify_export(const Args& a) {
  auto pub = load_verify_key(a.get("--pubkey"));
  if (!pub.ok()) return fail_io(pub.error());
  std::ifstream in(a.get("--in"));
  if (!in) return fail_io(make_error(ErrorCode::kNotFound, a.get("--in") + ": cannot open"));
  std::string line;
  if (!std::getline(in, line)) {
    std::cout << "PROBLEM: empty export\n";
    return 1;
  }
  std::vector<std::string> problems;
  uint64_t records = 0;
  try {
    auto head = nlohmann::json::parse(line);
    std::string origin = a.get("--origin").empty() ? head.at("origin").get<std::string>() : a.get("--origin");
    NoteVerifier verifier(origin, *pub);
    auto c = verifier.verify(head.at("checkpoint").get<std::string>(), origin);
    if (!c.ok()) {
      std::cout << "PROBLEM: " << c.error().message << "\n";
      return 1;
    }
    uint64_t line_no = 1;
    while (std::getline(in, line)) {
      ++line_no;
      if (line.size() > (1u << 20)) {
        problems.push_back("line " + std::to_string(line_no) + " is too long");
        continue;
      }
      auto j = nlohmann::json::parse(line);
      uint64_t index = j.at("index").get<uint64_t>();
      ++records;
      auto rec = from_base64(j.at("record").get<std::string>());
      std::vector<merkle::Hash> proof;
      bool ok = rec.ok() && j.at("proof").is_array() && j.at("proof").size() <= 64;
      for (const auto& h : j.at("proof")) {
        auto b = from_hex(h.get<std::string>());
        if (!b.ok() || b->size() != 32) {
          ok = false;
          break;
        }
        merkle::Hash hash;
        std::copy(b->begin(), b->end(), hash.begin());
        proof.push_back(hash);
      }
      if (!ok || !merkle::verify_inclusion(merkle::leaf_hash(*rec), index, c->size, proof, c->root)) {
        problems.push_back("record " + std::to_string(index) + " is not in the signed tree (changed, or proof altered)");
      }
    }
  } catch (const nlohmann::json::exception& e) {
    problems.push_back(std::string("malformed export: ") + e.what());
  }
  for (const auto& p : problems) std::cout << "PROBLEM: " << p << "\n";
  std::cout << a.get("--in") << ": " << records << " records: " << (problems.empty() ? "verified" : "NOT VERIFIED") << "\n";
  return problems.empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::cout << kUsageText;
    return argc < 2 ? 2 : 0;
  }
  std::string cmd = argv[1];
  std::map<std::string, std::vector<std::string>> needs = {
      {"verify", {"--store", "--pubkey"}}, {"export", {"--store", "--out"}},
      {"verify-export", {"--in", "--pubkey"}}, {"show", {"--store"}}};
  std::map<std::string, std::vector<std::string>> allowed = {
      {"verify", {"--store", "--pubkey", "--origin"}}, {"export", {"--store", "--out", "--from", "--to"}},
      {"verify-export", {"--in", "--pubkey", "--origin"}}, {"show", {"--store"}}};
  if (!needs.count(cmd)) {
    std::cerr << "mash-audit: unknown command '" << cmd << "' (try --help)\n";
    return 2;
  }
  Args args;
  for (int i = 2; i < argc; i += 2) {
    std::string k = argv[i];
    const auto& ok = allowed[cmd];
    if (std::find(ok.begin(), ok.end(), k) == ok.end() || i + 1 >= argc) {
      std::cerr << "mash-audit: unexpected '" << k << "' for " << cmd << " (try --help)\n";
      return 2;
    }
    args.opts[k] = argv[i + 1];
  }
  for (const auto& k : needs[cmd]) {
    if (args.get(k).empty()) {
      std::cerr << "mash-audit: " << cmd << " needs " << k << "\n";
      return 2;
    }
  }
  for (const char* k : {"--from", "--to"}) {
    std::string v = args.get(k);
    if (!v.empty() && (v.size() > 19 || v.find_first_not_of("0123456789") != std::string::npos)) {
      std::cerr << "mash-audit: " << k << " must be a record index\n";
      return 2;
    }
  }
  if (cmd == "verify") return cmd_verify(args);
  if (cmd == "export") return cmd_export(args);
  if (cmd == "verify-export") return cmd_verify_export(args);
  return cmd_show(args);
}
