#include "enquiry_store.h"

#include <cstdio>
#include <limits>

namespace mash::broker {

using nlohmann::json;

std::string ms_key(int64_t ms) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(std::max<int64_t>(ms, 0)));
  return buf;
}

namespace {

// Newest first: the listing's keys hold the time counted down.
std::string newest_first(int64_t created_ms) { return ms_key(std::numeric_limits<int64_t>::max() - created_ms); }

bool hex_digits(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// The row the list shows: codes and statuses as stored (overdue is derived when read).
json row_of(const EnquiryRecord& r) {
  json statuses = json::object();
  for (const auto& [agency, c] : r.agencies) statuses[agency] = status_name(c.status);
  return {{"id", r.id},
          {"case_ref", r.case_ref},
          {"brag", r.brag},
          {"created_ms", r.created_ms},
          {"deadline_ms", r.deadline_ms},
          {"agencies", statuses},
          {"decision", r.decision},
          {"purged", r.purged()}};
}

}  // namespace

Status EnquiryStore::open(Txn& txn) {
  for (auto [name, dbi] : {std::pair<const char*, Dbi*>{"enquiries", &enquiries_}, {"deliveries", &deliveries_},
                           {"due", &due_}, {"by_owner", &by_owner_}, {"lookups", &lookups_},
                           {"retention", &retention_}, {"listing", &listing_}, {"idempotency", &idempotency_},
                           {"markers", &markers_}}) {
    auto d = txn.open_db(name, true);
    if (!d.ok()) return d.error();
    *dbi = *d;
  }
  // A store from before the listing existed: its rows, once.
  auto cur = txn.cursor(listing_);
  if (!cur.ok()) return cur.error();
  if (auto st = cur->first(); !st.ok()) return st.error();
  if (cur->valid()) return {};
  std::vector<EnquiryRecord> records;
  if (auto st = txn.for_each_prefix(enquiries_, "", [&](std::string_view, std::string_view v) {
        auto r = EnquiryRecord::from_json(v);
        if (r.ok()) records.push_back(std::move(r).value());
        return true;
      });
      !st.ok()) {
    return st;
  }
  for (const auto& r : records) {
    if (auto st = put_rows(txn, r); !st.ok()) return st;
  }
  return {};
}

Result<std::optional<EnquiryRecord>> EnquiryStore::get(const Txn& txn, const std::string& id) const {
  if (id.empty() || id.size() > 64) return std::optional<EnquiryRecord>();
  auto v = txn.get(enquiries_, id);
  if (!v.ok()) return v.error();
  if (!*v) return std::optional<EnquiryRecord>();
  auto r = EnquiryRecord::from_json(**v);
  if (!r.ok()) return r.error();
  return std::optional<EnquiryRecord>(std::move(r).value());
}

Result<std::optional<EnquiryRecord>> EnquiryStore::read(const std::string& id) const {
  auto txn = env_.begin_read();
  if (!txn.ok()) return txn.error();
  return get(*txn, id);
}

Status EnquiryStore::put_rows(Txn& txn, const EnquiryRecord& r) {
  const std::string when = newest_first(r.created_ms) + "/" + r.id, row = row_of(r).dump();
  if (!r.owner.empty()) {
    if (auto st = txn.put(listing_, "o/" + r.owner + "/" + when, row); !st.ok()) return st;
  }
  if (!r.team.empty()) {
    if (auto st = txn.put(listing_, "t/" + r.team + "/" + when, row); !st.ok()) return st;
  }
  return {};
}

Status EnquiryStore::put(Txn& txn, const EnquiryRecord& record) {
  if (auto st = txn.put(enquiries_, record.id, record.to_json()); !st.ok()) return st;
  return put_rows(txn, record);
}

Status EnquiryStore::update(Txn& txn, const std::string& id, const std::function<Status(EnquiryRecord&)>& change) {
  auto r = get(txn, id);
  if (!r.ok()) return r.error();
  if (!*r) return make_error(ErrorCode::kNotFound, "no such enquiry");
  if (auto st = change(**r); !st.ok()) return st;
  return put(txn, **r);
}

Result<std::optional<std::pair<std::string, std::string>>> EnquiryStore::delivery(const Txn& txn,
                                                                                  const std::string& delivery) const {
  using Found = std::optional<std::pair<std::string, std::string>>;
  if (delivery.size() != 32) return Found();
  auto v = txn.get(deliveries_, delivery);
  if (!v.ok()) return v.error();
  if (!*v) return Found();
  std::string target(**v);
  auto slash = target.find('/');
  if (slash == std::string::npos) return Found();
  return Found(std::pair{target.substr(0, slash), target.substr(slash + 1)});
}

Status EnquiryStore::add_delivery(Txn& txn, const std::string& delivery, const std::string& enquiry,
                                  const std::string& agency) {
  return txn.put(deliveries_, delivery, enquiry + "/" + agency);
}

Status EnquiryStore::add_due(Txn& txn, int64_t deadline_ms, const std::string& id) {
  return txn.put(due_, ms_key(deadline_ms) + "/" + id, "");
}

Status EnquiryStore::set_retention(Txn& txn, EnquiryRecord& record, std::optional<int64_t> purge_at_ms) {
  if (record.purge_at_ms) {
    if (auto r = txn.del(retention_, ms_key(*record.purge_at_ms) + "/" + record.id); !r.ok()) return r.error();
  }
  record.purge_at_ms = purge_at_ms;
  if (purge_at_ms) return txn.put(retention_, ms_key(*purge_at_ms) + "/" + record.id, "");
  return {};
}

Status EnquiryStore::add_owner_entry(Txn& txn, const std::string& user, int64_t created_ms, const std::string& id) {
  return txn.put(by_owner_, user + "/" + ms_key(created_ms) + "/" + id, "");
}

std::vector<int64_t> EnquiryStore::owner_times(const std::string& user, int64_t from_ms, size_t max) const {
  std::vector<int64_t> times;
  auto txn = env_.begin_read();
  if (!txn.ok()) return times;
  auto cur = txn->cursor(by_owner_);
  if (!cur.ok()) return times;
  const std::string prefix = user + "/";
  if (!cur->seek(prefix + ms_key(from_ms)).ok()) return times;
  for (; cur->valid() && cur->key().starts_with(prefix); (void)cur->next()) {
    std::string_view k = cur->key().substr(prefix.size(), 16);
    times.push_back(static_cast<int64_t>(std::stoull(std::string(k), nullptr, 16)));
    if (times.size() > max) times.erase(times.begin());
  }
  return times;
}

std::vector<std::pair<std::string, std::string>> EnquiryStore::due_in(Dbi db, int64_t now_ms, size_t max) const {
  std::vector<std::pair<std::string, std::string>> due;  // key ("<time>/<enquiry>"), enquiry
  auto txn = env_.begin_read();
  if (!txn.ok()) return due;
  auto cur = txn->cursor(db);
  if (!cur.ok() || !cur->first().ok()) return due;
  const std::string until = ms_key(now_ms);
  for (; cur->valid() && due.size() < max; (void)cur->next()) {
    std::string key(cur->key());
    if (key.size() < 18 || key.substr(0, 16) > until) break;
    due.emplace_back(key, key.substr(17));
  }
  return due;
}

std::vector<std::pair<std::string, std::string>> EnquiryStore::due(int64_t now_ms, size_t max) const {
  return due_in(due_, now_ms, max);
}

std::vector<std::pair<std::string, std::string>> EnquiryStore::retention_due(int64_t now_ms, size_t max) const {
  return due_in(retention_, now_ms, max);
}

Status EnquiryStore::drop_due(Txn& txn, const std::string& key) {
  if (auto r = txn.del(due_, key); !r.ok()) return r.error();
  return {};
}

Status EnquiryStore::drop_retention(Txn& txn, const std::string& key) {
  if (auto r = txn.del(retention_, key); !r.ok()) return r.error();
  return {};
}

Result<ListPage> EnquiryStore::list(const EnquiryActor& actor, const ListQuery& q, int64_t now_ms) const {
  std::string prefix;
  if (actor.role == "researcher" && !actor.user_id.empty()) prefix = "o/" + actor.user_id + "/";
  if (actor.role == "manager" && !actor.team.empty()) prefix = "t/" + actor.team + "/";
  ListPage page;
  if (prefix.empty()) return page;
  if (!q.cursor.empty() && (q.cursor.size() != 49 || q.cursor[16] != '/' || !hex_digits(q.cursor.substr(0, 16)) ||
                            !hex_digits(q.cursor.substr(17)))) {
    return make_error(ErrorCode::kInvalidArgument, "cursor is not one this list gave");
  }
  auto txn = env_.begin_read();
  if (!txn.ok()) return txn.error();
  auto cur = txn->cursor(listing_);
  if (!cur.ok()) return cur.error();
  if (auto st = cur->seek(prefix + q.cursor); !st.ok()) return st.error();
  if (!q.cursor.empty() && cur->valid() && cur->key() == prefix + q.cursor) (void)cur->next();
  // A filter that matches little must not make one page read the whole table: a page stops
  // after kMaxScanned rows and gives a cursor to go on from. The cursor is the last row read.
  constexpr size_t kMaxScanned = 5'000;
  size_t scanned = 0;
  std::string last;
  for (; cur->valid() && cur->key().starts_with(prefix); (void)cur->next()) {
    if (page.rows.size() >= q.limit || scanned >= kMaxScanned) {
      page.next_cursor = last;
      break;
    }
    ++scanned;
    const std::string key(cur->key());
    last = key.substr(prefix.size());
    json row = json::parse(cur->value(), nullptr, false);
    if (!row.is_object() || !row.contains("agencies") || !row["agencies"].is_object()) {
      // Damaged: shown as such, with its id, rather than failing the page.
      page.rows.push_back({{"id", key.substr(key.size() - 32)}, {"damaged", true}});
      continue;
    }
    const int64_t deadline = row.value("deadline_ms", int64_t{0});
    bool any_overdue = false, status_match = q.status.empty();
    for (auto& [agency, st] : row["agencies"].items()) {
      auto parsed = parse_status(st.is_string() ? st.get<std::string>() : "");
      if (parsed && waiting(*parsed) && now_ms > deadline) st = status_name(AgencyStatus::kOverdue);
      any_overdue = any_overdue || st == "overdue";
      status_match = status_match || st == q.status;
    }
    if ((!q.brag.empty() && row.value("brag", "") != q.brag) || (q.overdue && !any_overdue) || !status_match) continue;
    page.rows.push_back(std::move(row));
  }
  return page;
}

void EnquiryStore::for_each(const std::function<void(const std::string&, const Result<EnquiryRecord>&)>& fn) const {
  auto txn = env_.begin_read();
  if (!txn.ok()) return;
  (void)txn->for_each_prefix(enquiries_, "", [&](std::string_view k, std::string_view v) {
    fn(std::string(k), EnquiryRecord::from_json(v));
    return true;
  });
}

Result<std::optional<EnquiryStore::Idempotent>> EnquiryStore::idempotent(const Txn& txn, const std::string& user,
                                                                          const std::string& key) const {
  auto v = txn.get(idempotency_, user + "/" + key);
  if (!v.ok()) return v.error();
  if (!*v) return std::optional<Idempotent>();
  auto j = json::parse(**v, nullptr, false);
  if (!j.is_object()) return make_error(ErrorCode::kDataLoss, "the idempotency record is damaged");
  return std::optional<Idempotent>(Idempotent{j.value("hash", ""), j.value("enquiry", ""), j.value("at_ms", int64_t{0})});
}

Status EnquiryStore::put_idempotent(Txn& txn, const std::string& user, const std::string& key, const Idempotent& value) {
  return txn.put(idempotency_, user + "/" + key,
                 json{{"hash", value.hash}, {"enquiry", value.enquiry}, {"at_ms", value.at_ms}}.dump());
}

Result<uint64_t> EnquiryStore::marker(const Txn& txn, const std::string& name) const {
  auto v = txn.get(markers_, name);
  if (!v.ok()) return v.error();
  if (!*v) return uint64_t{0};
  try {
    return static_cast<uint64_t>(std::stoull(std::string(**v)));
  } catch (const std::exception&) {
    return make_error(ErrorCode::kDataLoss, "the marker " + name + " is damaged");
  }
}

Status EnquiryStore::set_marker(Txn& txn, const std::string& name, uint64_t value) {
  return txn.put(markers_, name, std::to_string(value));
}

}  // namespace mash::broker
