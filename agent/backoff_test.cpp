#include "backoff.h"

#include <catch2/catch.hpp>

using namespace mash::agent;
using std::chrono::milliseconds;

TEST_CASE("backoff doubles with jitter up to the cap", "[backoff]") {
  Backoff b(milliseconds(100), milliseconds(1000), 42);
  int64_t base = 100;
  for (int i = 0; i < 10; ++i) {
    auto d = b.next().count();
    INFO("attempt " << i << " delay " << d);
    CHECK(d >= base / 2);
    CHECK(d <= base);
    base = std::min<int64_t>(base * 2, 1000);
  }
  // Far past the cap: still bounded, never overflowing.
  for (int i = 0; i < 200; ++i) {
    auto d = b.next().count();
    CHECK(d >= 500);
    CHECK(d <= 1000);
  }
  b.reset();
  CHECK(b.next().count() <= 100);
}

TEST_CASE("backoff jitter spreads agents apart", "[backoff]") {
  Backoff a(milliseconds(1000), milliseconds(60000), 1), b(milliseconds(1000), milliseconds(60000), 2);
  int differing = 0;
  for (int i = 0; i < 6; ++i) differing += a.next() != b.next();
  CHECK(differing >= 5);
}
