#include "answer_journal.h"

#include <nlohmann/json.hpp>

#include <condition_variable>
#include <mutex>

#include "crypto.h"

namespace mash::agent {

using nlohmann::json;

std::string JournalEntry::encode() const {
  json recs = json::array();
  for (const auto& r : records) {
    json keys = json::array();
    for (const auto& [k, v] : r.keys) keys.push_back({k, v});
    recs.push_back({{"record", to_base64(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(r.record.data()),
                                                                   r.record.size()))},
                    {"keys", keys}});
  }
  return json{{"records", recs}, {"to_outbox", to_outbox}, {"leaves_review", leaves_review}}.dump();
}

Result<JournalEntry> JournalEntry::decode(std::string id_hex, std::string_view bytes) {
  const std::string name = id_hex.substr(0, 32);
  try {
    auto j = json::parse(bytes);
    JournalEntry e;
    e.id_hex = std::move(id_hex);
    e.to_outbox = j.at("to_outbox").get<bool>();
    e.leaves_review = j.at("leaves_review").get<bool>();
    for (const auto& r : j.at("records")) {
      auto rec = from_base64(r.at("record").get<std::string>());
      if (!rec.ok()) return make_error(ErrorCode::kDataLoss, "journal entry " + e.id_hex + " damaged: bad record");
      JournalRecord jr;
      jr.record.assign(rec->begin(), rec->end());
      for (const auto& k : r.at("keys")) jr.keys.emplace_back(k.at(0).get<std::string>(), k.at(1).get<std::string>());
      e.records.push_back(std::move(jr));
    }
    return e;
  } catch (const json::exception& ex) {
    return make_error(ErrorCode::kDataLoss, "journal entry " + name + " damaged: " + ex.what());
  }
}

Result<std::vector<JournalRecord>> AnswerJournal::records_of(const std::vector<AuditEvent>& events) {
  std::vector<JournalRecord> out;
  for (const auto& e : events) {
    auto rec = event_to_record(e);
    if (!rec.ok()) return rec.error();
    out.push_back({std::move(rec).value(), event_index_keys(e)});
  }
  return out;
}

Status AnswerJournal::write(Txn& txn, const JournalEntry& entry) {
  return txn.put(state_.journal(), entry.id_hex, entry.encode());
}

Result<bool> AnswerJournal::on_log(const std::string& id_hex, const std::string& record) const {
  auto found = disclosure_.find("enquiry", id_hex);
  if (!found.ok()) return found.error();
  for (uint64_t index : *found) {
    auto r = disclosure_.record(index);
    if (!r.ok()) return r.error();
    if (*r == record) return true;
  }
  return false;
}

Status AnswerJournal::record(const std::vector<JournalEntry>& entries) {
  // All records go to the group-committing writer at once; each is confirmed only when durable.
  std::mutex m;
  std::condition_variable cv;
  size_t pending = 0;
  Status first_error;
  for (const auto& entry : entries) {
    for (const auto& r : entry.records) {
      if (entry.recovered) {
        auto there = on_log(entry.id_hex, r.record);
        if (!there.ok()) {
          first_error = there.error();
          break;
        }
        if (*there) continue;
      }
      {
        std::lock_guard lock(m);
        ++pending;
      }
      disclosure_.append_async(r.record, r.keys, [&](Result<uint64_t> done) {
        std::lock_guard lock(m);
        if (!done.ok() && first_error.ok()) first_error = done.error();
        if (--pending == 0) cv.notify_one();
      });
    }
  }
  std::unique_lock lock(m);
  cv.wait(lock, [&] { return pending == 0; });
  return first_error;
}

Status AnswerJournal::complete(Txn& txn, const JournalEntry& entry) {
  if (auto r = txn.del(state_.journal(), entry.id_hex); !r.ok()) return r.error();
  // The outbox names the answer; its bytes are in answers (once, not twice).
  if (entry.to_outbox) {
    if (auto st = txn.put(state_.outbox(), entry.id_hex, ""); !st.ok()) return st;
  }
  if (entry.leaves_review) {
    if (auto r = txn.del(state_.review(), entry.id_hex); !r.ok()) return r.error();
  }
  return {};
}

Result<std::optional<JournalEntry>> AnswerJournal::find(const Txn& txn, const std::string& id_hex) const {
  auto v = txn.get(state_.journal(), id_hex);
  if (!v.ok()) return v.error();
  if (!*v) return std::optional<JournalEntry>();
  auto e = JournalEntry::decode(id_hex, **v);
  if (!e.ok()) return e.error();
  e->recovered = true;
  return std::optional<JournalEntry>(std::move(e).value());
}

Result<std::vector<JournalEntry>> AnswerJournal::unfinished(size_t max) const {
  auto txn = state_.env().begin_read();
  if (!txn.ok()) return txn.error();
  std::vector<JournalEntry> out;
  Status bad;
  auto st = txn->for_each_prefix(state_.journal(), "", [&](std::string_view k, std::string_view v) {
    auto e = JournalEntry::decode(std::string(k), v);
    if (!e.ok()) {
      bad = e.error();
      return false;
    }
    e->recovered = true;
    out.push_back(std::move(e).value());
    return out.size() < max;
  });
  if (!st.ok()) return st.error();
  if (!bad.ok()) return bad.error();
  return out;
}

}  // namespace mash::agent
