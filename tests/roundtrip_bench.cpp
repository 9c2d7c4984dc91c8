// The enquiry round trip, measured from outside as a researcher's script sees it: POST an
// enquiry to the hub's HTTPS API and wait until every agency's final answer is in, learnt from
// the hub's own status stream (GET /api/v1/events). Real TLS 1.3, real broker and agents.
//
//   roundtrip-bench --address 127.0.0.1:8443 --name localhost --ca ca.crt --user U --password-file F
//                   --enquiry enquiry.json --agencies 5 --concurrency 32 --count 2000 [--warmup 50]
//
// Prints the latency percentiles of the round trip and the sustained rate.
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string host = "127.0.0.1", port = "8443", name = "localhost", ca, user, password_file, enquiry_file;
  int agencies = 5, concurrency = 32, count = 1000, warmup = 50;
};

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

asio::ssl::context make_tls(const Options& o) {
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_3_VERSION);
  ctx.load_verify_file(o.ca);
  ctx.set_verify_mode(asio::ssl::verify_peer);
  return ctx;
}

// One keep-alive HTTPS connection.
class Client {
 public:
  Client(asio::io_context& io, asio::ssl::context& tls, const Options& o) : stream_(io, tls) {
    SSL_set_tlsext_host_name(stream_.native_handle(), o.name.c_str());
    stream_.set_verify_callback(asio::ssl::host_name_verification(o.name));
    asio::ip::tcp::resolver resolver(io);
    beast::get_lowest_layer(stream_).connect(resolver.resolve(o.host, o.port));
    beast::get_lowest_layer(stream_).socket().set_option(asio::ip::tcp::no_delay(true));
    stream_.handshake(asio::ssl::stream_base::client);
    host_ = o.name;
  }
  http::response<http::string_body> call(http::verb method, const std::string& target, const std::string& body,
                                         const std::string& token) {
    http::request<http::string_body> req(method, target, 11);
    req.set(http::field::host, host_);
    req.set(http::field::content_type, "application/json");
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    req.body() = body;
    req.prepare_payload();
    http::write(stream_, req);
    http::response<http::string_body> res;
    http::read(stream_, buffer_, res);
    return res;
  }
  // Sends a GET and then calls `on_event(name, data)` for every event until it returns false.
  template <class F>
  void stream_events(const std::string& target, const std::string& token, F on_event) {
    http::request<http::empty_body> req(http::verb::get, target, 11);
    req.set(http::field::host, host_);
    req.set(http::field::authorization, "Bearer " + token);
    http::write(stream_, req);
    std::string pending;
    bool headers = false;
    char chunk[16384];
    for (;;) {
      boost::system::error_code ec;
      size_t n = stream_.read_some(asio::buffer(chunk), ec);
      if (ec) return;
      pending.append(chunk, n);
      if (!headers) {
        auto end = pending.find("\r\n\r\n");
        if (end == std::string::npos) continue;
        if (pending.compare(0, 12, "HTTP/1.1 200") != 0) throw std::runtime_error("events refused: " + pending.substr(0, 200));
        pending.erase(0, end + 4);
        headers = true;
      }
      size_t pos;
      while ((pos = pending.find("\n\n")) != std::string::npos) {
        std::string block = pending.substr(0, pos);
        pending.erase(0, pos + 2);
        std::string name, data;
        std::istringstream lines(block);
        std::string line;
        while (std::getline(lines, line)) {
          if (line.rfind("event: ", 0) == 0) name = line.substr(7);
          if (line.rfind("data: ", 0) == 0) data = line.substr(6);
        }
        if (!name.empty() && !on_event(name, data)) return;
      }
    }
  }

 private:
  beast::ssl_stream<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
  std::string host_;
};

// What the event stream has told so far. Each waiting worker has its own condition variable and
// is woken only when its enquiry is complete (waking every worker for each of the fifteen events
// of an enquiry made the client itself a load on the machine).
struct Tracker {
  std::mutex mu;
  std::condition_variable ready_cv;
  std::map<std::string, std::map<std::string, std::string>> final_status;  // enquiry -> agency -> status
  std::map<std::string, std::condition_variable*> waiting;                 // enquiry -> its worker
  bool ready = false, ended = false;
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

int run(const Options& o) {
  asio::io_context io;
  auto tls = make_tls(o);
  const std::string enquiry = read_all(o.enquiry_file);
  std::string password = read_all(o.password_file);
  while (!password.empty() && (password.back() == '\n' || password.back() == '\r')) password.pop_back();
  std::string token;
  {
    Client c(io, tls, o);
    auto r = c.call(http::verb::post, "/api/v1/session", json{{"user", o.user}, {"password", password}, {"bearer", true}}.dump(), "");
    if (r.result_int() != 200) {
      std::cerr << "roundtrip-bench: sign-in refused: " << r.body() << "\n";
      return 1;
    }
    token = json::parse(r.body())["token"];
  }
  Tracker t;
  std::atomic<bool> stop{false};
  std::thread watcher([&] {
    try {
      Client c(io, tls, o);
      c.stream_events("/api/v1/events", token, [&](const std::string& name, const std::string& data) {
        std::lock_guard lock(t.mu);
        if (name == "ready") {
          t.ready = true;
          t.ready_cv.notify_all();
        }
        if (name == "status") {
          auto j = json::parse(data);
          std::string s = j["status"];
          if (s == "answered" || s == "declined" || s == "overdue") {
            const std::string id = j["enquiry"];
            auto& statuses = t.final_status[id];
            statuses[j["agency"]] = s;
            auto w = t.waiting.find(id);
            if (static_cast<int>(statuses.size()) >= o.agencies && w != t.waiting.end()) w->second->notify_one();
          }
        }
        return !stop.load();
      });
    } catch (const std::exception& e) {
      std::cerr << "roundtrip-bench: event stream: " << e.what() << "\n";
    }
    std::lock_guard lock(t.mu);
    t.ready = t.ended = true;
    t.ready_cv.notify_all();
    for (auto& [id, cv] : t.waiting) cv->notify_one();
  });
  {
    std::unique_lock lock(t.mu);
    t.ready_cv.wait(lock, [&] { return t.ready; });
  }

  auto one_round = [&](Client& c, std::vector<double>* out) {
    auto t0 = Clock::now();
    auto r = c.call(http::verb::post, "/api/v1/enquiries", enquiry, token);
    if (r.result_int() != 201) throw std::runtime_error("enquiry refused (" + std::to_string(r.result_int()) + "): " + r.body());
    std::string id = json::parse(r.body())["id"];
    std::condition_variable mine;
    std::unique_lock lock(t.mu);
    t.waiting[id] = &mine;
    bool done = mine.wait_for(lock, std::chrono::seconds(30),
                              [&] { return t.ended || static_cast<int>(t.final_status[id].size()) >= o.agencies; });
    t.waiting.erase(id);
    if (!done || static_cast<int>(t.final_status[id].size()) < o.agencies) {
      throw std::runtime_error("no complete answer within 30 s for " + id);
    }
    for (const auto& [agency, s] : t.final_status[id]) {
      if (s != "answered") throw std::runtime_error(agency + " " + s + " for " + id + " (answers must be released automatically)");
    }
    t.final_status.erase(id);
    lock.unlock();
    if (out) out->push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  };

  int failures = 0;
  auto report = [](const char* what, const std::vector<double>& v, double seconds) {
    std::printf("%s: %zu round trips in %.2f s = %.0f/s; latency ms p50 %.2f p90 %.2f p99 %.2f max %.2f\n", what, v.size(),
                seconds, static_cast<double>(v.size()) / seconds, percentile(v, 0.5), percentile(v, 0.9),
                percentile(v, 0.99), percentile(v, 1.0));
  };
  try {
    // One at a time.
    Client c(io, tls, o);
    for (int i = 0; i < o.warmup; ++i) one_round(c, nullptr);
    std::vector<double> serial;
    auto t0 = Clock::now();
    for (int i = 0; i < std::max(o.count / 4, 50); ++i) one_round(c, &serial);
    report("one at a time", serial, std::chrono::duration<double>(Clock::now() - t0).count());
  } catch (const std::exception& e) {
    std::cerr << "roundtrip-bench: " << e.what() << "\n";
    ++failures;
  }
  // `concurrency` researchers' scripts at once.
  std::vector<std::vector<double>> per(o.concurrency);
  std::atomic<int> next{0};
  std::atomic<int> errors{0};
  auto t0 = Clock::now();
  std::vector<std::thread> workers;
  for (int w = 0; w < o.concurrency; ++w) {
    workers.emplace_back([&, w] {
      try {
        Client c(io, tls, o);
        while (next.fetch_add(1) < o.count) one_round(c, &per[w]);
      } catch (const std::exception& e) {
        if (errors.fetch_add(1) == 0) std::cerr << "roundtrip-bench: " << e.what() << "\n";
      }
    });
  }
  for (auto& w : workers) w.join();
  double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  std::vector<double> all;
  for (auto& v : per) all.insert(all.end(), v.begin(), v.end());
  std::string label = std::to_string(o.concurrency) + " concurrent";
  report(label.c_str(), all, seconds);
  stop = true;
  // The stream ends at its next event or keep-alive; don't wait for it.
  watcher.detach();
  if (errors.load() > 0) std::cerr << "roundtrip-bench: " << errors.load() << " workers failed\n";
  std::fflush(stdout);
  std::_Exit(failures + errors.load() > 0 ? 1 : 0);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::vector<std::string> args(argv + 1, argv + argc);
  auto need = [&](size_t& i) -> std::string {
    if (i + 1 >= args.size()) throw std::runtime_error(args[i] + " needs a value");
    return args[++i];
  };
  try {
    for (size_t i = 0; i < args.size(); ++i) {
      const std::string& a = args[i];
      if (a == "--address") {
        std::string v = need(i);
        auto colon = v.rfind(':');
        if (colon == std::string::npos) throw std::runtime_error("--address HOST:PORT");
        o.host = v.substr(0, colon);
        o.port = v.substr(colon + 1);
      } else if (a == "--name") o.name = need(i);
      else if (a == "--ca") o.ca = need(i);
      else if (a == "--user") o.user = need(i);
      else if (a == "--password-file") o.password_file = need(i);
      else if (a == "--enquiry") o.enquiry_file = need(i);
      else if (a == "--agencies") o.agencies = std::stoi(need(i));
      else if (a == "--concurrency") o.concurrency = std::stoi(need(i));
      else if (a == "--count") o.count = std::stoi(need(i));
      else if (a == "--warmup") o.warmup = std::stoi(need(i));
      else throw std::runtime_error("unknown option " + a + " (see the comment at the top of roundtrip_bench.cpp)");
    }
    if (o.ca.empty() || o.user.empty() || o.password_file.empty() || o.enquiry_file.empty()) {
      throw std::runtime_error("--ca, --user, --password-file and --enquiry are required");
    }
    return run(o);
  } catch (const std::exception& e) {
    std::cerr << "roundtrip-bench: " << e.what() << "\n";
    return 2;
  }
}
