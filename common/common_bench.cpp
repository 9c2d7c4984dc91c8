// Benchmarks for common/: framing, signatures, keyed hashing, LMDB and the TLS handshake.
// Run through deploy/bench.sh; results are recorded in BENCHMARKS.md.
#include <benchmark/benchmark.h>

#include "bench_support.h"
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <capnp/message.h>

#include <algorithm>
#include <string>
#include <vector>

#include "crypto.h"
#include "framing.h"
#include "link.capnp.h"
#include "lmdb_store.h"
#include "test_support.h"
#include "enquiry_body.h"
#include "tls.h"

using namespace mash;

namespace {

// An enquiry of typical size: four subjects, twelve fields.
std::vector<uint8_t> typical_enquiry_frame() {
  EnquiryBodyFields f;
  f.case_ref = "MASH-2026-001234";
  f.purpose = "child-protection-enquiry";
  f.legal_basis = "ca1989-s47";
  f.consent = "not-sought-risk";
  f.brag = "red";
  f.justification = std::string(400, 'j');
  for (unsigned i = 0; i < 12; ++i) {
    std::string name = "police.field-";  // built in two steps: GCC 12 -O3 warns on "lit" + string
    name += std::to_string(i);
    f.fields.push_back(name);
  }
  for (unsigned i = 0; i < 4; ++i) {
    EnquirySubject s;
    s.ref = "s";
    s.ref += std::to_string(i);
    s.role = i == 0 ? "child" : "adult";
    s.forenames = "Forename";
    s.surname = "Surname";
    s.date_of_birth = "2015-03-04";
    s.postcode = "SW1A 1AA";
    s.identifiers.emplace_back("nhs", "9434765919");
    f.subjects.push_back(std::move(s));
  }
  auto body_bytes = encode_enquiry_body(f);
  capnp::MallocMessageBuilder builder;
  auto enquiry = builder.initRoot<wire::Message>().initEnquiry();
  std::vector<uint8_t> id(16, 7), sig(64, 9);
  enquiry.setId(kj::arrayPtr(id.data(), id.size()));
  enquiry.setBody(kj::arrayPtr(body_bytes.data(), body_bytes.size()));
  enquiry.setSignature(kj::arrayPtr(sig.data(), sig.size()));
  return encode_frame(builder, FrameLimits{});
}

void BM_FrameEncode(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(typical_enquiry_frame());
}
BENCHMARK(BM_FrameEncode)->Apply(mash::percentile_stats);

void BM_FrameDecodeValidate(benchmark::State& state) {
  auto frame = typical_enquiry_frame();
  std::span<const uint8_t> body(frame.data() + kFrameHeaderBytes, frame.size() - kFrameHeaderBytes);
  FrameLimits limits;
  for (auto _ : state) {
    auto f = decode_frame(body, limits);
    auto nested = NestedMessage::decode(
        std::span<const uint8_t>((*f)->message().getEnquiry().getBody().begin(),
                                 (*f)->message().getEnquiry().getBody().size()),
        limits);
    benchmark::DoNotOptimize(nested);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * frame.size()));
}
BENCHMARK(BM_FrameDecodeValidate)->Apply(mash::percentile_stats);

void BM_Ed25519Sign(benchmark::State& state) {
  auto key = SigningKey::generate();
  std::vector<uint8_t> msg(1024, 1);
  for (auto _ : state) benchmark::DoNotOptimize(key.sign(msg));
}
BENCHMARK(BM_Ed25519Sign)->Apply(mash::percentile_stats);

void BM_Ed25519Verify(benchmark::State& state) {
  auto key = SigningKey::generate();
  std::vector<uint8_t> msg(1024, 1);
  auto sig = key.sign(msg);
  auto vk = key.verify_key();
  for (auto _ : state) benchmark::DoNotOptimize(verify(vk, msg, sig));
}
BENCHMARK(BM_Ed25519Verify)->Apply(mash::percentile_stats);

void BM_KeyedHash(benchmark::State& state) {
  auto key = HashKey::generate();
  std::string id = "nhs:9434765919|dob:2015-03-04|name:forename surname";
  std::span<const uint8_t> msg(reinterpret_cast<const uint8_t*>(id.data()), id.size());
  for (auto _ : state) benchmark::DoNotOptimize(key.hash(msg));
}
BENCHMARK(BM_KeyedHash)->Apply(mash::percentile_stats);

void BM_LmdbPutBatch(benchmark::State& state) {
  mash::testing::TempDir dir;
  EnvOptions options;
  options.sync = false;  // measures the B-tree, not the disk; durability is measured separately
  auto env = Env::open(dir.path(), options);
  std::string value(200, 'v');
  uint64_t n = 0;
  for (auto _ : state) {
    auto txn = env->begin_write();
    auto dbi = txn->open_db("bench", true);
    for (int i = 0; i < 1000; ++i) {
      char key[24];
      std::snprintf(key, sizeof key, "%020llu", static_cast<unsigned long long>(n++));
      (void)txn->put(*dbi, key, value);
    }
    (void)txn->commit();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * 1000));
}
BENCHMARK(BM_LmdbPutBatch)->Apply(mash::percentile_stats);

void BM_LmdbGet(benchmark::State& state) {
  mash::testing::TempDir dir;
  EnvOptions options;
  options.sync = false;
  auto env = Env::open(dir.path(), options);
  {
    auto txn = env->begin_write();
    auto dbi = txn->open_db("bench", true);
    for (int i = 0; i < 100000; ++i) (void)txn->put(*dbi, std::to_string(i), std::string(200, 'v'));
    (void)txn->commit();
  }
  int i = 0;
  for (auto _ : state) {
    auto txn = env->begin_read();
    auto dbi = txn->open_db("bench", false);
    benchmark::DoNotOptimize(txn->get(*dbi, std::to_string(i++ % 100000)));
  }
}
BENCHMARK(BM_LmdbGet)->Apply(mash::percentile_stats);

// A full mutual TLS 1.3 handshake on loopback between our link contexts (both ends in this
// process, so the figure is the CPU cost of both sides).
void BM_LinkHandshake(benchmark::State& state) {
  mash::testing::TestPki pki;
  auto server_ctx = make_link_server_context(pki.broker());
  auto client_ctx = make_link_client_context(pki.agent("police"));
  namespace asio = boost::asio;
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  for (auto _ : state) {
    asio::ssl::stream<asio::ip::tcp::socket> server(io, **server_ctx), client(io, **client_ctx);
    (void)set_expected_server_name(client.native_handle(), "broker.test");
    bool ok_server = false, ok_client = false;
    acceptor.async_accept(server.lowest_layer(), [&](auto ec) {
      if (!ec) server.async_handshake(asio::ssl::stream_base::server, [&](auto e) { ok_server = !e; });
    });
    client.lowest_layer().async_connect(acceptor.local_endpoint(), [&](auto ec) {
      if (!ec) client.async_handshake(asio::ssl::stream_base::client, [&](auto e) { ok_client = !e; });
    });
    io.restart();
    io.run();
    if (!ok_server || !ok_client) state.SkipWithError("handshake failed");
  }
}
BENCHMARK(BM_LinkHandshake)->Unit(benchmark::kMicrosecond)->Apply(mash::percentile_stats);

}  // namespace

BENCHMARK_MAIN();
