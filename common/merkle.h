// Merkle trees with RFC 6962 / RFC 9162 hashing: SHA-256, leaf hash H(0x00 || data), interior
// node hash H(0x01 || left || right). Roots, inclusion proofs and consistency proofs for any
// tree size, and verifiers for both kinds of proof.
//
// Proofs are computed from "perfect" subtree hashes: node (level, index) covers leaves
// [index << level, (index + 1) << level). A NodeSource supplies them (the audit log keeps them
// in LMDB; MemoryTree keeps them in memory).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

namespace mash::merkle {

using Hash = std::array<uint8_t, 32>;

Hash leaf_hash(std::span<const uint8_t> data);
Hash node_hash(const Hash& left, const Hash& right);
Hash empty_root();  // SHA-256 of the empty string: the root of a tree with no leaves

class NodeSource {
 public:
  virtual ~NodeSource() = default;
  // The hash of the perfect subtree (level, index); only asked for complete subtrees.
  virtual Hash node(unsigned level, uint64_t index) const = 0;
};

// The root of the tree's first `size` leaves.
Hash root(const NodeSource& nodes, uint64_t size);
// The audit path for leaf `index` in the tree of `size` leaves (RFC 6962 PATH), leaf upwards.
std::vector<Hash> inclusion_proof(const NodeSource& nodes, uint64_t index, uint64_t size);
// The proof that the tree of `old_size` is a prefix of the tree of `new_size` (RFC 6962 PROOF).
std::vector<Hash> consistency_proof(const NodeSource& nodes, uint64_t old_size, uint64_t new_size);

bool verify_inclusion(const Hash& leaf, uint64_t index, uint64_t size,
                      const std::vector<Hash>& proof, const Hash& root);
bool verify_consistency(uint64_t old_size, uint64_t new_size, const Hash& old_root,
                        const Hash& new_root, const std::vector<Hash>& proof);

// Appends leaves and keeps every perfect subtree hash in memory; for verifiers and tests.
class MemoryTree : public NodeSource {
 public:
  void append(const Hash& leaf);
  uint64_t size() const { return levels_.empty() ? 0 : levels_[0].size(); }
  Hash root() const { return merkle::root(*this, size()); }
  Hash node(unsigned level, uint64_t index) const override { return levels_[level][index]; }

 private:
  std::vector<std::vector<Hash>> levels_;
};

// Reuses one digest context for many hashes (OpenSSL's SHA-256, which uses the CPU's SHA
// instructions where present). Not thread-safe: one per thread.
class Hasher {
 public:
  Hasher();
  ~Hasher();
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;
  Hash leaf(std::span<const uint8_t> data);
  Hash node(const Hash& left, const Hash& right);

 private:
  Hash digest(uint8_t prefix, std::span<const uint8_t> a, std::span<const uint8_t> b);
  void* ctx_;
  void* md_;
};

}  // namespace mash::merkle
