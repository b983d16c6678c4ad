// natpunch-bench-load: a bounded UDP load generator for STUN servers (benchmark 4). It keeps a
// window of requests outstanding on each of several sockets, for at most --duration seconds and
// --requests requests, and reports answers per second and round-trip percentiles. The same tool
// drives `natpunch server` and coturn's `turnserver`, so their ratio is fair. Loopback only: the
// target must be a loopback address (the benchmark never sends anywhere else).
// Binding requests are padded (RFC 5780 PADDING) to the size of the server's full answer, as
// natpunch's clients send them: natpunch's server answers no unproven source with more than it got.
//   natpunch-bench-load --target 127.0.0.1:3478 [--kind binding|register] [--sockets 8] [--window 16]
//                       [--duration 5] [--requests 5000000] [--json]
// --kind devices: a device population instead (device_load.h): registrations over many loopback
// source IPs, then connect requests at a steady rate, the server's memory, nothing lost.
//   natpunch-bench-load --target 127.0.0.1:3478 --kind devices [--devices 100000] [--source-ips 500]
//                       [--connect-rate 1000] [--duration 60] [--server-pid PID] [--json]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <unordered_map>
#include <vector>

#include "device_load.h"
#include "wire/address.h"
#include "wire/builder.h"
#include "wire/control_messages.h"
#include "wire/message.h"
#include "device/rendezvous_requests.h"
#include "wire/padding.h"
#include "wire/stun_constants.h"

namespace {

using Clock = std::chrono::steady_clock;
using natpunch::Bytes;
using natpunch::TransactionId;

struct Options {
  std::string target;
  std::string kind = "binding";
  int sockets = 8;
  int window = 16;
  double duration = 5;
  long requests = 5'000'000;
  int timeout_ms = 200;
  bool json = false;
};

// One UDP socket with its outstanding requests (by the transaction ID's first 8 bytes).
class LoadSocket {
 public:
  LoadSocket(const sockaddr_storage& to, socklen_t len) : to_(to), len_(len) {
    fd_ = ::socket(to.ss_family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  }
  ~LoadSocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  LoadSocket(const LoadSocket&) = delete;
  LoadSocket& operator=(const LoadSocket&) = delete;
  int fd() const { return fd_; }
  bool send(const Bytes& b) {
    return ::sendto(fd_, b.data(), b.size(), 0, reinterpret_cast<const sockaddr*>(&to_), len_) ==
           static_cast<ssize_t>(b.size());
  }
  std::unordered_map<std::uint64_t, Clock::time_point> outstanding;

 private:
  int fd_ = -1;
  sockaddr_storage to_{};
  socklen_t len_ = 0;
};

std::uint64_t key_of(const TransactionId& t) {
  std::uint64_t k = 0;
  std::memcpy(&k, t.data(), sizeof k);
  return k;
}

bool is_loopback(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET) return (ntohl(reinterpret_cast<const sockaddr_in&>(a).sin_addr.s_addr) >> 24) == 127;
  if (a.ss_family == AF_INET6) return IN6_IS_ADDR_LOOPBACK(&reinterpret_cast<const sockaddr_in6&>(a).sin6_addr);
  return false;
}

int run(const Options& o) {
  auto parsed = natpunch::parse_socket_address(o.target);
  if (!parsed) {
    std::cerr << "natpunch-bench-load: --target '" << o.target << "' is not IP:PORT\n";
    return 2;
  }
  sockaddr_storage to{};
  socklen_t len = 0;
  if (parsed->family == natpunch::Family::V4) {
    auto& s = reinterpret_cast<sockaddr_in&>(to);
    s.sin_family = AF_INET;
    s.sin_port = htons(parsed->port);
    std::memcpy(&s.sin_addr, parsed->ip.data(), 4);
    len = sizeof s;
  } else {
    auto& s = reinterpret_cast<sockaddr_in6&>(to);
    s.sin6_family = AF_INET6;
    s.sin6_port = htons(parsed->port);
    std::memcpy(&s.sin6_addr, parsed->ip.data(), 16);
    len = sizeof s;
  }
  if (!is_loopback(to)) {
    std::cerr << "natpunch-bench-load: the target must be a loopback address\n";
    return 2;
  }
  if (o.kind != "binding" && o.kind != "register") {
    std::cerr << "natpunch-bench-load: --kind is binding, register or devices\n";
    return 2;
  }
  std::vector<std::unique_ptr<LoadSocket>> socks;
  for (int i = 0; i < o.sockets; ++i) {
    socks.push_back(std::make_unique<LoadSocket>(to, len));
    if (socks.back()->fd() < 0) {
      std::cerr << "natpunch-bench-load: socket: " << std::strerror(errno) << "\n";
      return 1;
    }
  }

  std::mt19937_64 rng(42);
  long sent = 0, received = 0, lost = 0, errors = 0, device = 0;
  std::vector<std::int64_t> rtt_ns;
  rtt_ns.reserve(1 << 20);
  auto request = [&](TransactionId& t) {
    for (std::size_t i = 0; i < t.size(); i += 8) {
      auto r = rng();
      std::memcpy(t.data() + i, &r, std::min<std::size_t>(8, t.size() - i));
    }
    if (o.kind == "binding") return natpunch::padded_binding_request(t, parsed->family);
    auto id = natpunch::make_device_id(natpunch::IdKind::UserName, "bench-" + std::to_string(device++ % 100'000));
    // A first registration, as natpunch's client sends it: padded so the answer (with its nonce) fits.
    return natpunch::registration_request({*id, {}, 60, std::nullopt}, t, parsed->family, nullptr, std::nullopt);
  };
  auto fill = [&](LoadSocket& s, Clock::time_point now) {
    while (static_cast<int>(s.outstanding.size()) < o.window && sent < o.requests) {
      TransactionId t{};
      auto bytes = request(t);
      if (!s.send(bytes)) {
        ++errors;
        break;  // socket buffer full: poll again
      }
      s.outstanding[key_of(t)] = now;
      ++sent;
    }
  };

  auto start = Clock::now();
  auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.duration));
  std::vector<pollfd> fds;
  for (auto& s : socks) fds.push_back({s->fd(), POLLIN, 0});
  for (auto& s : socks) fill(*s, start);
  std::array<std::byte, 2048> buf{};
  auto last_sweep = start;
  while (Clock::now() < end) {
    bool idle =
        sent >= o.requests && std::all_of(socks.begin(), socks.end(), [](auto& s) { return s->outstanding.empty(); });
    if (idle) break;
    if (::poll(fds.data(), fds.size(), 10) < 0) break;
    auto now = Clock::now();
    for (std::size_t i = 0; i < socks.size(); ++i) {
      auto& s = *socks[i];
      for (int burst = 0; burst < 64; ++burst) {
        auto n = ::recv(s.fd(), buf.data(), buf.size(), 0);
        if (n <= 0) break;
        auto m = natpunch::parse_message(natpunch::ByteView(buf.data(), static_cast<std::size_t>(n)));
        if (!m) continue;
        auto it = s.outstanding.find(key_of(m->transaction));
        if (it == s.outstanding.end()) continue;
        rtt_ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(now - it->second).count());
        s.outstanding.erase(it);
        ++received;
      }
      if (now - last_sweep > std::chrono::milliseconds(50)) {
        // Requests unanswered after the timeout are lost: free their window slots.
        std::erase_if(s.outstanding, [&](const auto& kv) {
          bool old = now - kv.second > std::chrono::milliseconds(o.timeout_ms);
          lost += old;
          return old;
        });
      }
      fill(s, now);
    }
    if (now - last_sweep > std::chrono::milliseconds(50)) last_sweep = now;
  }
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  long in_flight = 0;  // sent in the last round trip before the stop: neither answered nor lost
  for (auto& s : socks) in_flight += static_cast<long>(s->outstanding.size());
  std::sort(rtt_ns.begin(), rtt_ns.end());
  auto pct = [&](double q) -> double {
    if (rtt_ns.empty()) return 0;
    auto i = std::min(rtt_ns.size() - 1, static_cast<std::size_t>(q * static_cast<double>(rtt_ns.size())));
    return static_cast<double>(rtt_ns[i]) / 1000.0;
  };
  nlohmann::json j = {{"target", o.target},
                      {"kind", o.kind},
                      {"sockets", o.sockets},
                      {"window", o.window},
                      {"sent", sent},
                      {"received", received},
                      {"lost", lost},
                      {"in_flight_at_end", in_flight},
                      {"send_errors", errors},
                      {"seconds", seconds},
                      {"answers_per_s", seconds > 0 ? static_cast<double>(received) / seconds : 0.0},
                      {"rtt_us_p50", pct(0.50)},
                      {"rtt_us_p99", pct(0.99)}};
  if (o.json) {
    std::cout << j.dump() << std::endl;
  } else {
    std::cout << o.kind << " load on " << o.target << ": " << received << " answers in " << seconds
              << " s = " << j["answers_per_s"].get<double>() << "/s, lost " << lost << ", rtt p50 " << pct(0.5)
              << " us, p99 " << pct(0.99) << " us\n";
  }
  return received > 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  natpunch::bench::DeviceLoadOptions d;
  CLI::App app{"Bounded STUN load over loopback: answers per second and round-trip percentiles"};
  app.add_option("--target", o.target, "Server IP:PORT (loopback only)")->required();
  app.add_option("--kind", o.kind,
                 "binding (RFC 8489 Binding), register (NP-REGISTER), or devices (register a population, then "
                 "connect requests at a steady rate)")
      ->capture_default_str();
  app.add_option("--devices", d.devices, "devices: how many to register")
      ->check(CLI::Range(2L, 1'000'000L))
      ->capture_default_str();
  app.add_option("--source-ips", d.source_ips, "devices: loopback source IPs (127.1.x.y), one socket each")
      ->check(CLI::Range(1, 10'000))
      ->capture_default_str();
  app.add_option("--register-rate-per-ip", d.register_rate_per_ip,
                 "devices: registrations per second per source IP (the server's default limit is 20/s)")
      ->check(CLI::Range(0.1, 1e6))
      ->capture_default_str();
  app.add_option("--connect-rate", d.connect_rate, "devices: NP-CONNECT requests per second")
      ->check(CLI::Range(1.0, 1e6))
      ->capture_default_str();
  app.add_option("--warmup", d.warmup, "devices: seconds of connects before the 'after warm-up' memory sample")
      ->capture_default_str();
  app.add_option("--server-pid", d.server_pid, "devices: the server's PID, to sample its VmRSS");
  app.add_option("--rto-ms", d.rto_ms, "devices: retransmission timeout")->capture_default_str();
  app.add_option("--sockets", o.sockets, "Client sockets")->check(CLI::Range(1, 256))->capture_default_str();
  app.add_option("--window", o.window, "Requests outstanding per socket (1 = one at a time: latency)")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_option("--duration", o.duration, "Stop after this many seconds")
      ->check(CLI::Range(0.1, 600.0))
      ->capture_default_str();
  app.add_option("--requests", o.requests, "Stop after this many requests")
      ->check(CLI::Range(1L, 100'000'000L))
      ->capture_default_str();
  app.add_option("--timeout-ms", o.timeout_ms, "A request unanswered this long is lost")->capture_default_str();
  app.add_flag("--json", o.json,
               "One JSON object: sent, received, lost, seconds, answers_per_s, rtt_us_p50, rtt_us_p99");
  CLI11_PARSE(app, argc, argv);
  if (o.kind == "devices") {
    d.target = o.target;
    d.duration = o.duration;
    d.json = o.json;
    return natpunch::bench::run_device_load(d);
  }
  return run(o);
}
