// The audit store's layout in LMDB, shared by the log's writer (audit_log.cpp) and its integrity
// checks (audit_integrity.cpp). Internal to common/.
#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include "audit_log.h"
#include "lmdb_store.h"
#include "merkle.h"

namespace mash::audit_layout {

inline std::string node_key(unsigned level, uint64_t index) { return std::string(1, static_cast<char>(level)) + be64(index); }

inline std::string_view as_view(const merkle::Hash& h) { return {reinterpret_cast<const char*>(h.data()), h.size()}; }

inline std::span<const uint8_t> bytes_of(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

// Perfect subtree hashes read from the nodes database within one transaction.
class DbNodes : public merkle::NodeSource {
 public:
  DbNodes(const Txn& txn, Dbi nodes) : txn_(txn), nodes_(nodes) {}
  merkle::Hash node(unsigned level, uint64_t index) const override {
    auto v = txn_.get(nodes_, node_key(level, index));
    if (!v.ok() || !*v || (*v)->size() != 32) {
      throw std::runtime_error("node " + std::to_string(level) + "/" + std::to_string(index) + " missing");
    }
    merkle::Hash h;
    std::copy((*v)->begin(), (*v)->end(), reinterpret_cast<char*>(h.data()));
    return h;
  }

 private:
  const Txn& txn_;
  Dbi nodes_;
};

}  // namespace mash::audit_layout
