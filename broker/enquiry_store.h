// The hub's enquiry tables in LMDB, and typed access to them.
//
//   enquiries   id -> EnquiryRecord (JSON: ids and codes only; case content is in the vault)
//   deliveries  delivery id -> "<enquiry>/<agency>"
//   due         "<deadline ms>/<id>"       (the overdue sweep)
//   retention   "<purge at ms>/<id>"       (the retention sweep)
//   by_owner    "<user>/<created ms>/<id>" (the rate limit's window after a restart)
//   listing     "o/<owner>/<newest-first ms>/<id>" and "t/<team>/..." -> the row the list shows,
//               kept with every write of the record, so a page of the list is one short scan
//               that decodes no enquiry
//   idempotency "<user>/<key>" -> {"hash", "enquiry", "at_ms"} (POST /api/v1/enquiries retries)
//   markers     name -> a number (how far the audit log has been reconciled with the store)
//
// Times are fixed-width hex keys, so byte order is time order. A record that does not decode is
// reported as damaged (kDataLoss) and isolated: the list still answers, from its rows.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "enquiry_record.h"
#include "lmdb_store.h"
#include "result.h"

namespace mash::broker {

// "<16 hex digits>" of a time in ms: byte order is time order.
std::string ms_key(int64_t ms);

// What the list asks for: one page, newest first.
struct ListQuery {
  size_t limit = 50;     // 1 to 200
  std::string cursor;    // from the previous page; empty for the first
  std::string status;    // an agency status (as shown): only enquiries with a copy in it
  std::string brag;      // only this BRAG rating
  bool overdue = false;  // only enquiries with an overdue copy
};
struct ListPage {
  std::vector<nlohmann::json> rows;
  std::string next_cursor;  // empty: no more
};

class EnquiryStore {
 public:
  explicit EnquiryStore(Env& env) : env_(env) {}
  // Opens the tables in the caller's start-up write; builds the listing for a store written
  // before it existed.
  Status open(Txn& txn);

  Result<std::optional<EnquiryRecord>> get(const Txn& txn, const std::string& id) const;
  Result<std::optional<EnquiryRecord>> read(const std::string& id) const;  // in a read of its own
  // Writes the record and its listing rows.
  Status put(Txn& txn, const EnquiryRecord& record);
  // Read, change, write back, inside the caller's write. kNotFound if absent; nothing is
  // written if `change` fails.
  Status update(Txn& txn, const std::string& id, const std::function<Status(EnquiryRecord&)>& change);

  // The enquiry and agency a delivery id belongs to, if it is one of ours.
  Result<std::optional<std::pair<std::string, std::string>>> delivery(const Txn& txn, const std::string& delivery) const;
  Status add_delivery(Txn& txn, const std::string& delivery, const std::string& enquiry, const std::string& agency);

  Status add_due(Txn& txn, int64_t deadline_ms, const std::string& id);
  Status set_retention(Txn& txn, EnquiryRecord& record, std::optional<int64_t> purge_at_ms);
  Status add_owner_entry(Txn& txn, const std::string& user, int64_t created_ms, const std::string& id);
  // Times of the user's enquiries from `from_ms`, oldest first (at most `max`).
  std::vector<int64_t> owner_times(const std::string& user, int64_t from_ms, size_t max) const;
  // Entries of the due or retention table due at `now_ms`: (key, enquiry id), oldest first.
  std::vector<std::pair<std::string, std::string>> due(int64_t now_ms, size_t max) const;
  std::vector<std::pair<std::string, std::string>> retention_due(int64_t now_ms, size_t max) const;
  Status drop_due(Txn& txn, const std::string& key);
  Status drop_retention(Txn& txn, const std::string& key);

  // A page of the enquiries `actor` may see (researcher: theirs; manager: their team's).
  Result<ListPage> list(const EnquiryActor& actor, const ListQuery& query, int64_t now_ms) const;
  // Every record (for the gauges at start): `fn(id, record or error)`.
  void for_each(const std::function<void(const std::string&, const Result<EnquiryRecord>&)>& fn) const;

  // Idempotency keys: the enquiry first made with (user, key), and the hash of its request.
  struct Idempotent {
    std::string hash, enquiry;
    int64_t at_ms = 0;
  };
  Result<std::optional<Idempotent>> idempotent(const Txn& txn, const std::string& user, const std::string& key) const;
  Status put_idempotent(Txn& txn, const std::string& user, const std::string& key, const Idempotent& value);

  Dbi lookups() const { return lookups_; }
  // A named number kept with the store (0 if never set).
  Result<uint64_t> marker(const Txn& txn, const std::string& name) const;
  Status set_marker(Txn& txn, const std::string& name, uint64_t value);

 private:
  Status put_rows(Txn& txn, const EnquiryRecord& record);
  Status drop_rows(Txn& txn, const EnquiryRecord& record);
  std::vector<std::pair<std::string, std::string>> due_in(Dbi db, int64_t now_ms, size_t max) const;

  Env& env_;
  Dbi enquiries_, deliveries_, due_, by_owner_, lookups_, retention_, listing_, idempotency_, markers_;
};

}  // namespace mash::broker
