#include "delivery.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <sstream>

#include "clock.h"
#include "crypto.h"

namespace mash::broker {

Delivery::Delivery(Env& env, CaseVault& vault, Logger log, DeliveryOptions options)
    : env_(env), vault_(vault), log_(std::move(log)), options_(options) {
  options_.window = std::max<size_t>(options_.window, 1);
}

Status Delivery::open(Txn& txn) {
  auto d = txn.open_db("outbox", true);
  if (!d.ok()) return d.error();
  outbox_ = *d;
  return {};
}

void Delivery::set_sender(Send send) {
  std::lock_guard lock(mu_);
  send_ = std::move(send);
}

Status Delivery::put(Txn& txn, const std::string& enquiry, const std::string& agency, const std::string& delivery,
                     std::span<const uint8_t> frame) {
  // The signed copy holds the subjects' details: it waits encrypted under the case key, and the
  // outbox entry names only the enquiry.
  if (auto st = vault_.put(txn, enquiry, copy_item(agency), frame); !st.ok()) return st;
  return txn.put(outbox_, agency + "/" + delivery, enquiry);
}

Status Delivery::drop(Txn& txn, const std::string& enquiry, const std::string& agency, const std::string& delivery) {
  if (auto st = forget(txn, agency, delivery); !st.ok()) return st;
  return vault_.erase(txn, enquiry, copy_item(agency));  // nothing to erase once the case is purged
}

Status Delivery::forget(Txn& txn, const std::string& agency, const std::string& delivery) {
  if (auto r = txn.del(outbox_, agency + "/" + delivery); !r.ok()) return r.error();
  return {};
}

void Delivery::queued(const std::string& agency) { fill(agency, unix_millis_now()); }

void Delivery::settled(const std::string& agency, const std::vector<std::string>& deliveries) {
  {
    std::lock_guard lock(mu_);
    auto& a = agencies_[agency];
    for (const auto& d : deliveries) {
      a.in_flight.erase(d);
      a.retrying.erase(d);
    }
  }
  fill(agency, unix_millis_now());
}

void Delivery::back_off(Agency& a, const std::string& delivery, int64_t now_ms) {
  a.in_flight.erase(delivery);
  auto found = a.retrying.find(delivery);
  if (found == a.retrying.end()) {
    if (a.retrying.size() >= options_.max_retrying) return;  // the sweep's resend picks it up
    found = a.retrying.emplace(delivery, Retry{}).first;
  }
  Retry& r = found->second;
  r.attempts = std::min(r.attempts + 1, 20);
  r.waiting = true;
  int64_t wait = options_.retry_first_ms;
  for (int i = 1; i < r.attempts && wait < options_.retry_max_ms; ++i) wait *= 2;
  r.due_ms = now_ms + std::min(wait, options_.retry_max_ms);
}

void Delivery::refused_for_now(const std::string& agency, const std::string& delivery) {
  std::lock_guard lock(mu_);
  back_off(agencies_[agency], delivery, unix_millis_now());
}

void Delivery::connected(const std::string& agency) {
  {
    std::lock_guard lock(mu_);
    auto& a = agencies_[agency];
    a.connected = true;
    a.in_flight.clear();  // what was sent on the old connection may never have arrived
    for (auto& [d, r] : a.retrying) r.waiting = false;  // due at once
  }
  fill(agency, unix_millis_now());
}

std::optional<std::vector<uint8_t>> Delivery::frame_of(const std::string& agency, const std::string& entry) {
  if (!entry.empty() && entry.front() == '{') {
    // Written before copies moved into the vault: {"frame": base64}.
    auto j = nlohmann::json::parse(entry, nullptr, false);
    if (!j.is_object() || !j.contains("frame") || !j["frame"].is_string()) return std::nullopt;
    auto f = from_base64(j["frame"].get<std::string>());
    if (!f.ok()) return std::nullopt;
    return std::move(f).value();
  }
  auto f = vault_.get(entry, copy_item(agency));
  if (!f.ok()) {
    log_.warn("outbox-copy-unreadable", {{"enquiry", entry.substr(0, 64)}, {"agency", agency},
                                         {"reason", f.error().message.substr(0, 200)}});
    return std::nullopt;
  }
  return std::move(f).value();
}

size_t Delivery::send_entries(const std::string& agency,
                              const std::vector<std::pair<std::string, std::string>>& entries, int64_t now_ms) {
  Send send;
  {
    std::lock_guard lock(mu_);
    send = send_;
  }
  size_t sent = 0;
  for (const auto& [d, entry] : entries) {
    auto frame = frame_of(agency, entry);
    if (!frame) {
      std::lock_guard lock(mu_);
      ++unreadable_;
      back_off(agencies_[agency], d, now_ms);
      continue;
    }
    if (!send || !send(agency, std::move(*frame))) {
      // Not connected: nothing is in flight; all goes when the agent connects.
      std::lock_guard lock(mu_);
      auto& a = agencies_[agency];
      a.connected = false;
      a.in_flight.clear();
      break;
    }
    ++sent;
  }
  return sent;
}

size_t Delivery::fill(const std::string& agency, int64_t now_ms) {
  std::mutex* fill_mu;
  {
    std::lock_guard lock(mu_);
    auto& a = agencies_[agency];
    if (!a.connected) return 0;
    fill_mu = a.fill_mu.get();
  }
  std::lock_guard one_fill(*fill_mu);
  size_t sent = 0;
  // A copy that cannot be read leaves its place to the next (a few rounds at most per fill).
  for (int round = 0; round < 8; ++round) {
    std::vector<std::pair<std::string, std::string>> entries;  // delivery, outbox value
    {
      auto txn = env_.begin_read();
      if (!txn.ok()) return sent;  // the sweep tries again
      auto cur = txn->cursor(outbox_);
      const std::string prefix = agency + "/";
      if (!cur.ok() || !cur->seek(prefix).ok()) return sent;
      std::lock_guard lock(mu_);
      auto& a = agencies_[agency];
      if (!a.connected) return sent;
      const size_t room = options_.window > a.in_flight.size() ? options_.window - a.in_flight.size() : 0;
      // Oldest first (delivery ids begin with their time); the scan passes the copies in flight
      // or waiting, then takes what fits.
      for (; cur->valid() && entries.size() < room && cur->key().starts_with(prefix); (void)cur->next()) {
        std::string d(cur->key().substr(prefix.size()));
        if (a.in_flight.count(d)) continue;
        if (auto r = a.retrying.find(d); r != a.retrying.end() && r->second.waiting) continue;
        a.in_flight[d] = now_ms;
        entries.emplace_back(std::move(d), std::string(cur->value()));
      }
    }
    if (entries.empty()) break;
    const size_t n = send_entries(agency, entries, now_ms);
    sent += n;
    std::lock_guard lock(mu_);
    if (n == entries.size() || !agencies_[agency].connected) break;
  }
  return sent;
}

size_t Delivery::sweep(int64_t now_ms) {
  std::vector<std::string> names;
  std::map<std::string, std::vector<std::string>> again;  // agency -> deliveries to send again
  {
    std::lock_guard lock(mu_);
    for (auto& [name, a] : agencies_) {
      // Copies refused for now whose time has come go with the refill below (or on connection).
      for (auto& [d, r] : a.retrying) {
        if (r.waiting && r.due_ms <= now_ms) r.waiting = false;
      }
      if (!a.connected) continue;
      names.push_back(name);
      auto& list = again[name];
      for (auto& [d, sent_ms] : a.in_flight) {
        if (sent_ms + options_.resend_after_ms <= now_ms) list.push_back(d);
      }
    }
  }
  size_t sent = 0;
  for (const auto& name : names) {
    auto& list = again[name];
    if (!list.empty()) {
      std::vector<std::pair<std::string, std::string>> entries;
      std::vector<std::string> gone;
      {
        auto txn = env_.begin_read();
        if (txn.ok()) {
          for (const auto& d : list) {
            auto v = txn->get(outbox_, name + "/" + d);
            if (!v.ok()) continue;
            if (*v) {
              entries.emplace_back(d, std::string(**v));
            } else {
              gone.push_back(d);  // answered or failed meanwhile
            }
          }
        }
      }
      {
        std::lock_guard lock(mu_);
        auto& a = agencies_[name];
        for (const auto& d : gone) a.in_flight.erase(d);
        for (const auto& [d, entry] : entries) a.in_flight[d] = now_ms;
        resent_ += entries.size();
      }
      const size_t n = send_entries(name, entries, now_ms);
      if (n > 0) log_.info("outbox-resent", {{"agency", name}, {"copies", n}});
      sent += n;
    }
    sent += fill(name, now_ms);
  }
  return sent;
}

std::optional<int64_t> Delivery::retry_due(const std::string& delivery) const {
  std::lock_guard lock(mu_);
  for (const auto& [name, a] : agencies_) {
    auto found = a.retrying.find(delivery);
    if (found != a.retrying.end() && found->second.waiting) return found->second.due_ms;
  }
  return std::nullopt;
}

size_t Delivery::in_flight(const std::string& agency) const {
  std::lock_guard lock(mu_);
  auto found = agencies_.find(agency);
  return found == agencies_.end() ? 0 : found->second.in_flight.size();
}

std::string Delivery::metrics_text() const {
  std::ostringstream m;
  std::lock_guard lock(mu_);
  m << "# HELP mash_delivery_in_flight Copies sent to an agency's agent and not yet acknowledged.\n"
       "# TYPE mash_delivery_in_flight gauge\n";
  for (const auto& [name, a] : agencies_) m << "mash_delivery_in_flight{agency=\"" << name << "\"} " << a.in_flight.size() << "\n";
  m << "# HELP mash_delivery_retrying Copies an agent refused for now, waiting to go again.\n"
       "# TYPE mash_delivery_retrying gauge\n";
  for (const auto& [name, a] : agencies_) {
    size_t waiting = 0;
    for (const auto& [d, r] : a.retrying) waiting += r.waiting ? 1 : 0;
    m << "mash_delivery_retrying{agency=\"" << name << "\"} " << waiting << "\n";
  }
  m << "# HELP mash_delivery_resent_total Copies sent again because they waited too long or were refused for now.\n"
       "# TYPE mash_delivery_resent_total counter\nmash_delivery_resent_total "
    << resent_ << "\n"
    << "# HELP mash_delivery_unreadable_total Queued copies whose signed frame could not be read from the vault.\n"
       "# TYPE mash_delivery_unreadable_total counter\nmash_delivery_unreadable_total "
    << unreadable_ << "\n";
  return m.str();
}

}  // namespace mash::broker
