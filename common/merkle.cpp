#include "merkle.h"

#include <openssl/evp.h>

#include <bit>
#include <stdexcept>

namespace mash::merkle {

namespace {

// Largest power of two strictly less than n (n >= 2).
uint64_t split_point(uint64_t n) { return std::bit_floor(n - 1); }

Hash subtree(const NodeSource& nodes, uint64_t begin, uint64_t end) {
  uint64_t n = end - begin;
  if (std::has_single_bit(n) && begin % n == 0) {
    return nodes.node(static_cast<unsigned>(std::countr_zero(n)), begin >> std::countr_zero(n));
  }
  uint64_t k = split_point(n);
  return node_hash(subtree(nodes, begin, begin + k), subtree(nodes, begin + k, end));
}

void path(const NodeSource& nodes, uint64_t m, uint64_t begin, uint64_t end, std::vector<Hash>& out) {
  uint64_t n = end - begin;
  if (n <= 1) return;
  uint64_t k = split_point(n);
  if (m < k) {
    path(nodes, m, begin, begin + k, out);
    out.push_back(subtree(nodes, begin + k, end));
  } else {
    path(nodes, m - k, begin + k, end, out);
    out.push_back(subtree(nodes, begin, begin + k));
  }
}

void subproof(const NodeSource& nodes, uint64_t m, uint64_t begin, uint64_t end, bool b,
              std::vector<Hash>& out) {
  uint64_t n = end - begin;
  if (m == n) {
    if (!b) out.push_back(subtree(nodes, begin, end));
    return;
  }
  uint64_t k = split_point(n);
  if (m <= k) {
    subproof(nodes, m, begin, begin + k, b, out);
    out.push_back(subtree(nodes, begin + k, end));
  } else {
    subproof(nodes, m - k, begin + k, end, false, out);
    out.push_back(subtree(nodes, begin, begin + k));
  }
}

constexpr uint8_t kLeafPrefix[1] = {0x00};
constexpr uint8_t kNodePrefix[1] = {0x01};

}  // namespace

// One hasher per thread for the free functions: no allocation or algorithm lookup per hash.
Hasher& thread_hasher() {
  thread_local Hasher hasher;
  return hasher;
}

Hash leaf_hash(std::span<const uint8_t> data) { return thread_hasher().leaf(data); }

Hash node_hash(const Hash& left, const Hash& right) { return thread_hasher().node(left, right); }

Hash empty_root() {
  static const Hash root = [] {
    Hash out{};
    unsigned len = 0;
    EVP_Digest(nullptr, 0, out.data(), &len, EVP_sha256(), nullptr);
    return out;
  }();
  return root;
}

Hash root(const NodeSource& nodes, uint64_t size) {
  if (size == 0) return empty_root();
  return subtree(nodes, 0, size);
}

std::vector<Hash> inclusion_proof(const NodeSource& nodes, uint64_t index, uint64_t size) {
  std::vector<Hash> out;
  if (index < size) path(nodes, index, 0, size, out);
  return out;
}

std::vector<Hash> consistency_proof(const NodeSource& nodes, uint64_t old_size, uint64_t new_size) {
  std::vector<Hash> out;
  if (old_size > 0 && old_size < new_size) subproof(nodes, old_size, 0, new_size, true, out);
  return out;
}

bool verify_inclusion(const Hash& leaf, uint64_t index, uint64_t size,
                      const std::vector<Hash>& proof, const Hash& root_hash) {
  if (index >= size) return false;
  uint64_t fn = index, sn = size - 1;
  Hash r = leaf;
  for (const Hash& p : proof) {
    if (sn == 0) return false;
    if ((fn & 1) || fn == sn) {
      r = node_hash(p, r);
      while (!(fn & 1) && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      r = node_hash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && r == root_hash;
}

bool verify_consistency(uint64_t old_size, uint64_t new_size, const Hash& old_root,
                        const Hash& new_root, const std::vector<Hash>& proof) {
  if (old_size > new_size) return false;
  if (old_size == new_size) return proof.empty() && old_root == new_root;
  if (old_size == 0) return proof.empty();
  std::vector<Hash> path = proof;
  if (std::has_single_bit(old_size)) path.insert(path.begin(), old_root);
  if (path.empty()) return false;
  uint64_t fn = old_size - 1, sn = new_size - 1;
  while (fn & 1) {
    fn >>= 1;
    sn >>= 1;
  }
  Hash fr = path[0], sr = path[0];
  for (size_t i = 1; i < path.size(); ++i) {
    const Hash& c = path[i];
    if (sn == 0) return false;
    if ((fn & 1) || fn == sn) {
      fr = node_hash(c, fr);
      sr = node_hash(c, sr);
      while (!(fn & 1) && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      sr = node_hash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return fr == old_root && sr == new_root && sn == 0;
}

void MemoryTree::append(const Hash& leaf) {
  if (levels_.empty()) levels_.emplace_back();
  levels_[0].push_back(leaf);
  uint64_t index = levels_[0].size() - 1;
  for (unsigned level = 0; index & 1; ++level, index >>= 1) {
    if (levels_.size() <= level + 1) levels_.emplace_back();
    levels_[level + 1].push_back(node_hash(levels_[level][index - 1], levels_[level][index]));
  }
}

Hasher::Hasher() : ctx_(EVP_MD_CTX_new()), md_(EVP_MD_fetch(nullptr, "SHA256", nullptr)) {
  if (!ctx_ || !md_) throw std::runtime_error("SHA-256 is not available");
}

Hasher::~Hasher() {
  EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_));
  EVP_MD_free(static_cast<EVP_MD*>(md_));
}

Hash Hasher::digest(uint8_t prefix, std::span<const uint8_t> a, std::span<const uint8_t> b) {
  auto* ctx = static_cast<EVP_MD_CTX*>(ctx_);
  Hash out{};
  unsigned len = 0;
  if (EVP_DigestInit_ex2(ctx, static_cast<EVP_MD*>(md_), nullptr) != 1 ||
      EVP_DigestUpdate(ctx, &prefix, 1) != 1 || EVP_DigestUpdate(ctx, a.data(), a.size()) != 1 ||
      (!b.empty() && EVP_DigestUpdate(ctx, b.data(), b.size()) != 1) ||
      EVP_DigestFinal_ex(ctx, out.data(), &len) != 1) {
    throw std::runtime_error("SHA-256 failed");
  }
  return out;
}

Hash Hasher::leaf(std::span<const uint8_t> data) { return digest(kLeafPrefix[0], data, {}); }

Hash Hasher::node(const Hash& left, const Hash& right) { return digest(kNodePrefix[0], left, right); }

}  // namespace mash::merkle
