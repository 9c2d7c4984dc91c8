#include "merkle.h"

#include <catch2/catch.hpp>

#include "crypto.h"

using namespace mash;
using namespace mash::merkle;

namespace {

// The eight leaves used by the Certificate Transparency test suites.
std::vector<std::vector<uint8_t>> ct_leaves() {
  return {{}, {0x00}, {0x10}, {0x20, 0x21}, {0x30, 0x31}, {0x40, 0x41, 0x42, 0x43},
          {0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57},
          {0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f}};
}

// RFC 6962's definition, written out naively, to check the optimised code against.
Hash naive_root(const std::vector<Hash>& leaves, size_t begin, size_t end) {
  size_t n = end - begin;
  if (n == 0) return empty_root();
  if (n == 1) return leaves[begin];
  size_t k = 1;
  while (k * 2 < n) k *= 2;
  return node_hash(naive_root(leaves, begin, begin + k), naive_root(leaves, begin + k, end));
}

MemoryTree tree_of(size_t n, std::vector<Hash>* leaves = nullptr) {
  MemoryTree t;
  for (size_t i = 0; i < n; ++i) {
    std::string s = "record " + std::to_string(i);
    Hash h = leaf_hash(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
    t.append(h);
    if (leaves) leaves->push_back(h);
  }
  return t;
}

}  // namespace

TEST_CASE("roots match the published RFC 6962 test vectors", "[merkle]") {
  const char* expected[] = {
      "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
      "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
      "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
      "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
      "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
      "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};
  MemoryTree t;
  CHECK(to_hex(t.root()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  auto leaves = ct_leaves();
  Hasher hasher;
  for (size_t i = 0; i < leaves.size(); ++i) {
    CHECK(hasher.leaf(leaves[i]) == leaf_hash(leaves[i]));
    t.append(leaf_hash(leaves[i]));
    CHECK(to_hex(t.root()) == expected[i]);
  }
}

TEST_CASE("roots of every size agree with the naive definition", "[merkle]") {
  std::vector<Hash> leaves;
  MemoryTree t = tree_of(70, &leaves);
  for (size_t n = 0; n <= 70; ++n) CHECK(root(t, n) == naive_root(leaves, 0, n));
}

TEST_CASE("inclusion proofs verify for every leaf of every size, and nothing else does", "[merkle]") {
  std::vector<Hash> leaves;
  MemoryTree t = tree_of(40, &leaves);
  for (uint64_t n = 1; n <= 40; ++n) {
    Hash r = root(t, n);
    for (uint64_t i = 0; i < n; ++i) {
      auto proof = inclusion_proof(t, i, n);
      REQUIRE(verify_inclusion(leaves[i], i, n, proof, r));
      if (n > 1) {
        CHECK_FALSE(verify_inclusion(leaves[(i + 1) % n], i, n, proof, r));
        CHECK_FALSE(verify_inclusion(leaves[i], (i + 1) % n, n, proof, r));
        auto bad = proof;
        bad[bad.size() / 2][0] ^= 1;
        CHECK_FALSE(verify_inclusion(leaves[i], i, n, bad, r));
        auto shorter = proof;
        shorter.pop_back();
        CHECK_FALSE(verify_inclusion(leaves[i], i, n, shorter, r));
      }
      auto longer = proof;
      longer.push_back(r);
      CHECK_FALSE(verify_inclusion(leaves[i], i, n, longer, r));
    }
  }
  CHECK_FALSE(verify_inclusion(leaves[0], 5, 5, {}, root(t, 5)));
}

TEST_CASE("consistency proofs verify for every pair of sizes, and tampering fails", "[merkle]") {
  MemoryTree t = tree_of(40);
  for (uint64_t n = 1; n <= 40; ++n) {
    for (uint64_t m = 1; m <= n; ++m) {
      auto proof = consistency_proof(t, m, n);
      Hash old_root = root(t, m), new_root = root(t, n);
      REQUIRE(verify_consistency(m, n, old_root, new_root, proof));
      if (m < n) {
        Hash wrong = old_root;
        wrong[0] ^= 1;
        CHECK_FALSE(verify_consistency(m, n, wrong, new_root, proof));
        CHECK_FALSE(verify_consistency(m, n, old_root, wrong, proof));
        if (!proof.empty()) {
          auto bad = proof;
          bad.back()[5] ^= 1;
          CHECK_FALSE(verify_consistency(m, n, old_root, new_root, bad));
        }
        // (The proof's shape alone does not pin the new size: RFC 9162's algorithm accepts some
        // proofs for a neighbouring size. Sizes are bound by the signed checkpoint instead.)
      }
    }
  }
  // A tree whose history was rewritten is not consistent with its old self.
  MemoryTree other = tree_of(10);
  MemoryTree changed;
  for (uint64_t i = 0; i < 10; ++i) changed.append(i == 3 ? Hash{} : other.node(0, i));
  for (uint64_t i = 10; i < 20; ++i) changed.append(t.node(0, i));
  CHECK_FALSE(verify_consistency(10, 20, root(other, 10), root(changed, 20), consistency_proof(changed, 10, 20)));
  CHECK_FALSE(verify_consistency(5, 3, root(t, 5), root(t, 3), {}));
}
