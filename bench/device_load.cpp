#include "device_load.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <unordered_map>
#include <vector>

#include "device/rendezvous_requests.h"
#include "wire/address.h"
#include "wire/builder.h"
#include "wire/control_messages.h"
#include "wire/message.h"
#include "wire/padding.h"

namespace natpunch::bench {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::duration;
using std::chrono::milliseconds;

constexpr int kMaxSends = 5;

// The server's resident memory in kB (VmRSS), 0 when unknown.
long rss_kb(int pid) {
  if (pid <= 0) return 0;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  while (in >> key) {
    if (key == "VmRSS:") {
      long kb = 0;
      in >> kb;
      return kb;
    }
    in.ignore(1 << 12, '\n');
  }
  return 0;
}

struct Socket {
  int fd = -1;
  natpunch::NonceBook nonces;  // the server's nonce for this socket's address
};

enum class Kind : std::uint8_t { Register, Connect, Binding };

struct Pending {
  Kind kind = Kind::Register;
  std::uint32_t device = 0;
  std::uint32_t peer = 0;
  int round = 0;  // the registration's rounds so far (device/rendezvous_requests.h)
  std::optional<std::string> quoted;  // the nonce it quoted
  Bytes bytes;
  Clock::time_point first{}, last{};
  int sends = 0;
};

class DeviceLoad {
 public:
  explicit DeviceLoad(const DeviceLoadOptions& o) : o_(o), rng_(6) {}
  int run();

 private:
  bool open_sockets(const SocketAddress& target);
  std::uint32_t socket_of(std::uint32_t device) const { return device % static_cast<std::uint32_t>(socks_.size()); }
  std::string name_of(std::uint32_t device) const { return "dev-" + std::to_string(device); }
  TransactionId new_txid(std::uint64_t& key);
  void send(std::uint32_t socket, Pending p, const TransactionId& txid, std::uint64_t key);
  void send_register(std::uint32_t device, int round = 0);
  void send_connect(std::uint32_t device, std::uint32_t peer);
  void receive(std::uint32_t socket, ByteView d, Clock::time_point now);
  void poll_once(int timeout_ms);
  void retransmit(Clock::time_point now);

  const DeviceLoadOptions& o_;
  std::mt19937_64 rng_;
  sockaddr_in to_{};
  std::vector<Socket> socks_;
  std::vector<pollfd> fds_;
  std::unordered_map<std::uint64_t, std::pair<std::uint32_t, Pending>> pending_;  // key → (socket, request)
  std::unordered_map<std::string, std::uint32_t> expected_indications_;           // token → the peer's socket
  // Indications read before their connect's answer (sockets are polled in order): token → socket.
  std::unordered_map<std::string, std::uint32_t> early_indications_;
  std::vector<std::uint8_t> registered_;
  // Figures.
  long reg_sent = 0, reg_retransmits = 0, reg_ok = 0, reg_lost = 0, reg_send_errors = 0;
  std::map<int, long> reg_errors;
  long con_sent = 0, con_retransmits = 0, con_ok = 0, con_wrong_peer = 0, con_lost = 0, lost_registrations = 0;
  long con_send_errors = 0;
  std::map<int, long> con_errors;
  long ind_expected = 0, ind_received = 0, ind_unexpected = 0, late_answers = 0;
  std::vector<std::int64_t> rtt_ns_;
  bool binding_answered_ = false;
};

bool DeviceLoad::open_sockets(const SocketAddress& target) {
  to_.sin_family = AF_INET;
  to_.sin_port = htons(target.port);
  std::memcpy(&to_.sin_addr, target.ip.data(), 4);
  for (int i = 0; i < o_.source_ips; ++i) {
    Socket s;
    s.fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (s.fd < 0) return false;
    int buf = 1 << 20;
    ::setsockopt(s.fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    sockaddr_in local{};
    local.sin_family = AF_INET;
    // 127.1.x.y: every address in 127/8 is the loopback interface's.
    local.sin_addr.s_addr =
        htonl((127u << 24) | (1u << 16) | (static_cast<unsigned>(i / 250) << 8) | static_cast<unsigned>(i % 250 + 1));
    if (::bind(s.fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
      ::close(s.fd);
      return false;
    }
    fds_.push_back({s.fd, POLLIN, 0});
    socks_.push_back(std::move(s));
  }
  return true;
}

TransactionId DeviceLoad::new_txid(std::uint64_t& key) {
  TransactionId t{};
  do {
    key = rng_();
  } while (pending_.contains(key));
  std::memcpy(t.data(), &key, sizeof key);
  auto r = static_cast<std::uint32_t>(rng_());
  std::memcpy(t.data() + 8, &r, 4);
  return t;
}

void DeviceLoad::send(std::uint32_t socket, Pending p, const TransactionId&, std::uint64_t key) {
  auto now = Clock::now();
  p.first = p.last = now;
  p.sends = 1;
  auto ok = ::sendto(socks_[socket].fd, p.bytes.data(), p.bytes.size(), 0, reinterpret_cast<const sockaddr*>(&to_),
                     sizeof to_) == static_cast<ssize_t>(p.bytes.size());
  if (!ok) ++(p.kind == Kind::Connect ? con_send_errors : reg_send_errors);  // retransmitted later
  pending_.emplace(key, std::make_pair(socket, std::move(p)));
}

void DeviceLoad::send_register(std::uint32_t device, int round) {
  std::uint64_t key = 0;
  auto txid = new_txid(key);
  auto s = socket_of(device);
  Pending p;
  p.kind = Kind::Register;
  p.device = device;
  p.round = round;
  p.quoted = socks_[s].nonces.current();
  // As natpunch's client: quote the nonce once known, else pad so the answer can carry it.
  p.bytes = registration_request({DeviceId{IdKind::UserName, name_of(device)}, {}, std::nullopt, std::nullopt}, txid,
                                 Family::V4, nullptr, socks_[s].nonces.current());
  ++reg_sent;
  send(s, std::move(p), txid, key);
}

void DeviceLoad::send_connect(std::uint32_t device, std::uint32_t peer) {
  std::uint64_t key = 0;
  auto txid = new_txid(key);
  auto s = socket_of(device);
  Pending p;
  p.kind = Kind::Connect;
  p.device = device;
  p.peer = peer;
  p.bytes = connection_request({DeviceId{IdKind::UserName, name_of(device)}, DeviceId{IdKind::UserName, name_of(peer)}},
                               txid, nullptr, socks_[s].nonces.current());
  ++con_sent;
  send(s, std::move(p), txid, key);
}

void DeviceLoad::receive(std::uint32_t socket, ByteView d, Clock::time_point now) {
  auto m = parse_message(d, answer_limits());
  if (!m) return;
  if (m->cls() == stun::MessageClass::Indication) {
    auto info = decode_peer_info(*m);
    if (!info) return;
    std::string token(reinterpret_cast<const char*>(info->token.data()), info->token.size());
    auto it = expected_indications_.find(token);
    if (it == expected_indications_.end()) {
      early_indications_.emplace(token, socket);
      return;
    }
    if (it->second != socket) {
      ++ind_unexpected;
      return;
    }
    ++ind_received;
    expected_indications_.erase(it);
    return;
  }
  std::uint64_t key = 0;
  std::memcpy(&key, m->transaction.data(), sizeof key);
  auto it = pending_.find(key);
  if (it == pending_.end() || it->second.first != socket) {
    ++late_answers;  // an answer to a retransmission already answered
    return;
  }
  Pending p = std::move(it->second.second);
  pending_.erase(it);
  if (p.kind == Kind::Binding) {
    binding_answered_ = m->cls() == stun::MessageClass::Success;
    return;
  }
  if (p.kind == Kind::Register) {
    if (m->cls() != stun::MessageClass::Success) {
      auto e = decode_error_response(*m);
      ++reg_errors[e ? e->code : 0];
      return;
    }
    // First on this address (or a new nonce): again, quoting it, so the address is proven.
    if (socks_[socket].nonces.after_answer(*m, ClientRequest::Register, false, p.round, p.quoted) ==
        NonceStep::AgainQuotingNonce) {
      send_register(p.device, p.round + 1);
      return;
    }
    if (!registered_[p.device]) ++reg_ok;
    registered_[p.device] = 1;
    return;
  }
  rtt_ns_.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(now - p.last).count());
  if (m->cls() != stun::MessageClass::Success) {
    auto e = decode_error_response(*m);
    int code = e ? e->code : 0;
    ++con_errors[code];
    if (code == stun::error_code::kUnknownPeer || code == stun::error_code::kPeerExpired ||
        code == stun::error_code::kForbidden)
      ++lost_registrations;  // the requester or the peer was registered, and is no longer
    return;
  }
  auto info = decode_peer_info(*m);
  if (!info || info->peer.value != name_of(p.peer)) {
    ++con_wrong_peer;
    return;
  }
  ++con_ok;
  ++ind_expected;
  std::string token(reinterpret_cast<const char*>(info->token.data()), info->token.size());
  if (auto early = early_indications_.find(token); early != early_indications_.end()) {
    ++(early->second == socket_of(p.peer) ? ind_received : ind_unexpected);
    early_indications_.erase(early);
    return;
  }
  expected_indications_.emplace(std::move(token), socket_of(p.peer));
}

void DeviceLoad::poll_once(int timeout_ms) {
  if (::poll(fds_.data(), fds_.size(), timeout_ms) <= 0) return;
  std::array<std::byte, kMaxAnswer> buf{};
  auto now = Clock::now();
  for (std::size_t i = 0; i < fds_.size(); ++i) {
    if (!(fds_[i].revents & POLLIN)) continue;
    for (int burst = 0; burst < 256; ++burst) {
      auto n = ::recv(fds_[i].fd, buf.data(), buf.size(), 0);
      if (n <= 0) break;
      receive(static_cast<std::uint32_t>(i), ByteView(buf.data(), static_cast<std::size_t>(n)), now);
    }
  }
}

void DeviceLoad::retransmit(Clock::time_point now) {
  std::vector<std::uint64_t> gone;
  for (auto& [key, sp] : pending_) {
    auto& [socket, p] = sp;
    if (now - p.last < milliseconds(o_.rto_ms)) continue;
    if (p.sends >= kMaxSends) {
      gone.push_back(key);
      continue;
    }
    ++p.sends;
    p.last = now;
    ++(p.kind == Kind::Connect ? con_retransmits : reg_retransmits);
    ::sendto(socks_[socket].fd, p.bytes.data(), p.bytes.size(), 0, reinterpret_cast<const sockaddr*>(&to_), sizeof to_);
  }
  for (auto key : gone) {
    auto kind = pending_[key].second.kind;
    ++(kind == Kind::Connect ? con_lost : reg_lost);
    pending_.erase(key);
  }
}

int DeviceLoad::run() {
  auto target = parse_socket_address(o_.target);
  if (!target || target->family != Family::V4 || !target->is_loopback()) {
    std::cerr << "natpunch-bench-load: --kind devices needs an IPv4 loopback --target (127.x.y.z:PORT)\n";
    return 2;
  }
  if (!open_sockets(*target)) {
    std::cerr << "natpunch-bench-load: cannot open and bind " << o_.source_ips
              << " sockets on 127.1.x.y: " << std::strerror(errno) << "\n";
    return 1;
  }
  registered_.assign(static_cast<std::size_t>(o_.devices), 0);
  const long rss_start = rss_kb(o_.server_pid);

  // 1. Registration, paced: device d on socket d mod K, so each source IP sends at the per-IP rate.
  const double reg_rate = o_.register_rate_per_ip * static_cast<double>(socks_.size());
  const auto reg_start = Clock::now();
  const auto reg_deadline = reg_start + std::chrono::duration_cast<Clock::duration>(
                                            duration<double>(static_cast<double>(o_.devices) / reg_rate + 60));
  long next = 0;
  auto last_sweep = reg_start;
  while (Clock::now() < reg_deadline && (next < o_.devices || !pending_.empty())) {
    auto now = Clock::now();
    double due = duration<double>(now - reg_start).count() * reg_rate;
    while (next < o_.devices && static_cast<double>(next) <= due) {
      auto s = socket_of(static_cast<std::uint32_t>(next));
      // Devices after the first on a socket wait for its nonce (the first one's answer).
      if (next >= static_cast<long>(socks_.size()) && !socks_[s].nonces.current()) break;
      send_register(static_cast<std::uint32_t>(next++));
    }
    poll_once(1);
    if (now - last_sweep > milliseconds(50)) {
      retransmit(now);
      last_sweep = now;
    }
  }
  const double reg_seconds = duration<double>(Clock::now() - reg_start).count();
  const long rss_registered = rss_kb(o_.server_pid);

  // 2. Connect requests at a steady rate between random registered devices.
  std::vector<std::uint32_t> live;
  for (std::uint32_t d = 0; d < registered_.size(); ++d)
    if (registered_[d]) live.push_back(d);
  std::vector<long> rss_series;
  long rss_warm = 0, rss_max_after_warm = 0;
  const auto con_start = Clock::now();
  const auto con_end = con_start + std::chrono::duration_cast<Clock::duration>(duration<double>(o_.duration));
  auto next_sample = con_start;
  long issued = 0;
  while (live.size() >= 2 && Clock::now() < con_end) {
    auto now = Clock::now();
    double due = duration<double>(now - con_start).count() * o_.connect_rate;
    while (static_cast<double>(issued) < due) {
      auto a = live[rng_() % live.size()], b = live[rng_() % live.size()];
      if (a == b) continue;
      send_connect(a, b);
      ++issued;
    }
    poll_once(1);
    if (now - last_sweep > milliseconds(50)) {
      retransmit(now);
      last_sweep = now;
    }
    if (now >= next_sample) {
      auto kb = rss_kb(o_.server_pid);
      rss_series.push_back(kb);
      double t = duration<double>(now - con_start).count();
      if (t >= o_.warmup) {
        if (rss_warm == 0) rss_warm = kb;
        rss_max_after_warm = std::max(rss_max_after_warm, kb);
      }
      next_sample += std::chrono::seconds(1);
    }
  }
  const double con_seconds = duration<double>(Clock::now() - con_start).count();
  // Drain: the last answers and indications (bounded by the retransmission schedule).
  auto drain_end = Clock::now() + milliseconds(o_.rto_ms * (kMaxSends + 1));
  while ((!pending_.empty() || !expected_indications_.empty()) && Clock::now() < drain_end) {
    poll_once(5);
    retransmit(Clock::now());
  }
  for (auto& [key, sp] : pending_) ++(sp.second.kind == Kind::Connect ? con_lost : reg_lost);
  pending_.clear();
  ind_unexpected += static_cast<long>(early_indications_.size());  // never matched by an answer
  const long rss_end = rss_kb(o_.server_pid);

  // 3. Still alive: a Binding is answered.
  {
    std::uint64_t key = 0;
    auto txid = new_txid(key);
    Pending p;
    p.kind = Kind::Binding;
    p.bytes = padded_binding_request(txid, Family::V4);
    send(0, std::move(p), txid, key);
    auto until = Clock::now() + std::chrono::seconds(3);
    while (!binding_answered_ && Clock::now() < until) {
      poll_once(10);
      retransmit(Clock::now());
    }
  }
  for (auto& s : socks_) ::close(s.fd);

  std::sort(rtt_ns_.begin(), rtt_ns_.end());
  auto pct = [&](double q) -> double {
    if (rtt_ns_.empty()) return 0;
    auto i = std::min(rtt_ns_.size() - 1, static_cast<std::size_t>(q * static_cast<double>(rtt_ns_.size())));
    return static_cast<double>(rtt_ns_[i]) / 1000.0;
  };
  long reg_error_total = 0, con_error_total = 0;
  nlohmann::json reg_err = nlohmann::json::object(), con_err = nlohmann::json::object();
  for (auto& [c, n] : reg_errors) reg_err[std::to_string(c)] = n, reg_error_total += n;
  for (auto& [c, n] : con_errors) con_err[std::to_string(c)] = n, con_error_total += n;
  const long ind_missing = ind_expected - ind_received;
  const bool ok = reg_ok == o_.devices && lost_registrations == 0 && con_lost == 0 && con_wrong_peer == 0 &&
                  con_ok == con_sent && ind_missing == 0 && binding_answered_;
  nlohmann::json j = {
      {"target", o_.target},
      {"devices", o_.devices},
      {"source_ips", socks_.size()},
      {"register",
       {{"seconds", reg_seconds},
        {"per_s", reg_seconds > 0 ? static_cast<double>(reg_ok) / reg_seconds : 0.0},
        {"requests", reg_sent},
        {"retransmissions", reg_retransmits},
        {"registered", reg_ok},
        {"errors", reg_err},
        {"unanswered", reg_lost}}},
      {"connect",
       {{"target_per_s", o_.connect_rate},
        {"seconds", con_seconds},
        {"requests", con_sent},
        {"per_s", con_seconds > 0 ? static_cast<double>(con_sent) / con_seconds : 0.0},
        {"answered_ok", con_ok},
        {"errors", con_err},
        {"wrong_peer", con_wrong_peer},
        {"unanswered", con_lost},
        {"retransmissions", con_retransmits},
        {"lost_registrations", lost_registrations},
        {"rtt_us_p50", pct(0.5)},
        {"rtt_us_p99", pct(0.99)},
        {"indications_expected", ind_expected},
        {"indications_received", ind_received},
        {"indications_unexpected", ind_unexpected}}},
      {"late_answers", late_answers},
      {"server_alive", binding_answered_},
      {"ok", ok},
  };
  if (o_.server_pid > 0) {
    j["memory_kb"] = {{"start", rss_start},       {"after_registration", rss_registered},
                      {"after_warmup", rss_warm}, {"max_after_warmup", rss_max_after_warm},
                      {"end", rss_end},           {"growth_after_warmup", rss_end - rss_warm},
                      {"warmup_s", o_.warmup},    {"series_1s", rss_series}};
  }
  if (o_.json) {
    std::cout << j.dump() << std::endl;
  } else {
    std::cout << "| phase | requests | answered | errors | unanswered | rate | retransmissions |\n"
              << "|---|---|---|---|---|---|---|\n"
              << "| register " << o_.devices << " devices over " << socks_.size() << " IPs | " << reg_sent << " | "
              << reg_ok << " registered | " << reg_error_total << " | " << reg_lost << " | "
              << j["register"]["per_s"].get<double>() << "/s over " << reg_seconds << " s | " << reg_retransmits
              << " |\n"
              << "| connect | " << con_sent << " | " << con_ok << " ok | " << con_error_total << " | " << con_lost
              << " | " << j["connect"]["per_s"].get<double>() << "/s over " << con_seconds << " s | " << con_retransmits
              << " |\n\n"
              << "lost registrations (404/410/403 to a connect): " << lost_registrations << "; peer-info indications "
              << ind_received << "/" << ind_expected << "; connect RTT p50 " << pct(0.5) << " us, p99 " << pct(0.99)
              << " us; server alive at the end: " << (binding_answered_ ? "yes" : "NO") << "\n";
    if (o_.server_pid > 0)
      std::cout << "server RSS: " << rss_start << " kB at start, " << rss_registered << " kB registered, " << rss_warm
                << " kB after " << o_.warmup << " s of connects, max " << rss_max_after_warm << " kB after, " << rss_end
                << " kB at the end (" << (rss_end - rss_warm) << " kB since warm-up)\n";
    std::cout << (ok ? "PASS" : "FAIL") << "\n";
  }
  return ok ? 0 : 1;
}

}  // namespace

int run_device_load(const DeviceLoadOptions& o) { return DeviceLoad(o).run(); }

}  // namespace natpunch::bench
