// natpunch-labprobe: measures what a NAT does, independently of natpunch's own code.
//
//   reflect --listen IP:PORT [--listen ...] [--duration SEC]
//       Runs on the lab's "internet". Every socket answers "PING t" with "MAPPED t IP:PORT" (the
//       source it saw). "UNSOL t" is answered the same way, then every *other* socket sends
//       "UNSOL t IP:PORT" to that source: unsolicited inbound from other ports and addresses.
//   measure --ip1 IP --ip2 IP --port1 P --port2 P [--fresh N] [--listen-ms MS] [--kv]
//       Runs on a lab host. Mapping: one socket sends to ip1:port1, ip1:port2, ip2:port1,
//       ip2:port2 (RFC 4787 EIM/ADM/APDM). Allocation: N fresh sockets each open two flows.
//       Filtering: a fresh socket contacts ip1:port1 only and asks for unsolicited traffic
//       (RFC 4787 EIF/ADF/APDF). Prints one JSON line (or key=value lines with --kv).
//   burst --server IP:PORT [--count N] [--interval-ms MS] [--wait-ms MS]
//       Sends N pings from one socket and counts the answers (loss, reachability).
//
// Plain POSIX sockets, no dependencies. Every wait is bounded; the program always exits by itself.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

[[noreturn]] void fail(const std::string& msg) {
  std::fprintf(stderr, "natpunch-labprobe: %s\n", msg.c_str());
  std::exit(2);
}

struct Endpoint {
  in_addr_t ip = 0;  // network byte order
  uint16_t port = 0;  // host byte order
  bool operator==(const Endpoint&) const = default;
};

std::string to_string(const Endpoint& ep) {
  char buf[INET_ADDRSTRLEN] = {};
  in_addr a{};
  a.s_addr = ep.ip;
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return std::string(buf) + ":" + std::to_string(ep.port);
}

std::optional<in_addr_t> parse_ip(const std::string& s) {
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) return std::nullopt;
  return a.s_addr;
}

std::optional<uint16_t> parse_port(const std::string& s) {
  char* end = nullptr;
  long v = std::strtol(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || v < 0 || v > 65535) return std::nullopt;
  return static_cast<uint16_t>(v);
}

std::optional<Endpoint> parse_endpoint(const std::string& s) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  auto ip = parse_ip(s.substr(0, colon));
  auto port = parse_port(s.substr(colon + 1));
  if (!ip || !port) return std::nullopt;
  return Endpoint{*ip, *port};
}

sockaddr_in to_sockaddr(const Endpoint& ep) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = ep.ip;
  sa.sin_port = htons(ep.port);
  return sa;
}

// One UDP socket; closed when it goes out of scope.
class UdpSocket {
 public:
  explicit UdpSocket(const Endpoint& bind_to = {}) : fd_(socket(AF_INET, SOCK_DGRAM, 0)) {
    if (fd_ < 0) fail("socket: " + std::string(std::strerror(errno)));
    sockaddr_in sa = to_sockaddr(bind_to);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
      fail("bind " + to_string(bind_to) + ": " + std::strerror(errno));
  }
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;
  ~UdpSocket() { close(fd_); }

  int fd() const { return fd_; }

  Endpoint local() const {
    sockaddr_in sa{};
    socklen_t len = sizeof sa;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len);
    return Endpoint{sa.sin_addr.s_addr, ntohs(sa.sin_port)};
  }

  void send_to(const Endpoint& to, std::string_view payload) const {
    sockaddr_in sa = to_sockaddr(to);
    // A lost datagram is what the measurement is about; send errors are not fatal.
    (void)sendto(fd_, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  }

  // Waits at most `timeout` for one datagram.
  std::optional<std::pair<Endpoint, std::string>> receive(milliseconds timeout) const {
    pollfd p{fd_, POLLIN, 0};
    int ms = static_cast<int>(std::max<long long>(0, timeout.count()));
    if (poll(&p, 1, ms) <= 0) return std::nullopt;
    return receive_ready();
  }

  std::optional<std::pair<Endpoint, std::string>> receive_ready() const {
    char buf[1500];
    sockaddr_in sa{};
    socklen_t len = sizeof sa;
    ssize_t n = recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&sa), &len);
    if (n < 0) return std::nullopt;
    return std::pair{Endpoint{sa.sin_addr.s_addr, ntohs(sa.sin_port)}, std::string(buf, static_cast<size_t>(n))};
  }

 private:
  int fd_;
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find(' ', i);
    if (j == std::string::npos) j = s.size();
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

// ---- reflect ---------------------------------------------------------------------------------

int run_reflect(const std::vector<Endpoint>& listen, double duration_s) {
  if (listen.empty()) fail("reflect needs at least one --listen IP:PORT");
  std::vector<std::unique_ptr<UdpSocket>> socks;
  for (const auto& ep : listen) socks.push_back(std::make_unique<UdpSocket>(ep));
  std::vector<pollfd> fds;
  for (const auto& s : socks) {
    fds.push_back(pollfd{s->fd(), POLLIN, 0});
    std::printf("listening udp %s\n", to_string(s->local()).c_str());
  }
  std::printf("ready\n");
  std::fflush(stdout);

  const auto deadline = Clock::now() + milliseconds(static_cast<long long>(duration_s * 1000));
  while (!g_stop && Clock::now() < deadline) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (poll(fds.data(), fds.size(), static_cast<int>(std::min<long long>(left.count(), 200))) <= 0) continue;
    for (size_t i = 0; i < fds.size(); ++i) {
      if (!(fds[i].revents & POLLIN)) continue;
      auto got = socks[i]->receive_ready();
      if (!got) continue;
      auto words = split(got->second);
      if (words.size() < 2 || (words[0] != "PING" && words[0] != "UNSOL")) continue;
      const std::string& token = words[1];
      socks[i]->send_to(got->first, "MAPPED " + token + " " + to_string(got->first));
      if (words[0] == "UNSOL") {
        for (size_t k = 0; k < socks.size(); ++k)
          if (k != i) socks[k]->send_to(got->first, "UNSOL " + token + " " + to_string(socks[k]->local()));
      }
    }
  }
  return 0;
}

// ---- measure ---------------------------------------------------------------------------------

int g_token = 0;
std::string next_token() { return std::to_string(getpid()) + "-" + std::to_string(++g_token); }

// Sends `verb token` to `to` until "MAPPED token ADDR" comes back (bounded retries).
std::optional<Endpoint> ask_mapped(const UdpSocket& sock, const Endpoint& to, const char* verb,
                                   int attempts = 6, milliseconds rto = milliseconds(150)) {
  const std::string token = next_token();
  for (int a = 0; a < attempts && !g_stop; ++a) {
    sock.send_to(to, std::string(verb) + " " + token);
    const auto deadline = Clock::now() + rto;
    while (Clock::now() < deadline) {
      auto got = sock.receive(std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
      if (!got) break;
      auto words = split(got->second);
      if (words.size() == 3 && words[0] == "MAPPED" && words[1] == token && got->first == to)
        return parse_endpoint(words[2]);
    }
  }
  return std::nullopt;
}

// The address this host uses to reach `to` (no packet is sent).
in_addr_t route_source(const Endpoint& to) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in sa = to_sockaddr(to);
  in_addr_t ip = 0;
  if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) {
    sockaddr_in me{};
    socklen_t len = sizeof me;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&me), &len) == 0) ip = me.sin_addr.s_addr;
  }
  if (fd >= 0) close(fd);
  return ip;
}

struct Flow {
  Endpoint local;
  Endpoint mapped;
  bool first_of_socket;
};

struct Measurement {
  Endpoint local;
  std::vector<std::optional<Endpoint>> mapped;  // per server endpoint, same socket
  std::vector<Flow> new_flows;                  // every new mapping, in creation order
  bool same_ip_other_port = false, other_ip_same_port = false, other_ip_other_port = false;
  bool filter_control = false;  // the contacted endpoint's own answer arrived
  std::string mapping, filtering, preserved, allocation;
  int ports_min = 65536, ports_max = -1;
};

std::string classify_mapping(const Measurement& m) {
  for (const auto& x : m.mapped)
    if (!x) return "unreachable";
  const auto& v = m.mapped;
  if (v[0] == v[1] && v[1] == v[2] && v[2] == v[3]) return *v[0] == m.local ? "none" : "EIM";
  if (*v[0] == *v[1] && *v[2] == *v[3]) return "ADM";
  return "APDM";
}

std::string classify_filtering(const Measurement& m) {
  if (!m.filter_control) return "unreachable";
  bool other_ip = m.other_ip_same_port || m.other_ip_other_port;
  if (other_ip && m.same_ip_other_port) return "EIF";
  if (!other_ip && m.same_ip_other_port) return "ADF";
  if (!other_ip && !m.same_ip_other_port) return "APDF";
  return "inconsistent";
}

std::string classify_preserved(const std::vector<Flow>& flows) {
  int first = 0, first_kept = 0, later = 0, later_kept = 0;
  for (const auto& f : flows) {
    bool kept = f.mapped.port == f.local.port;
    (f.first_of_socket ? first : later)++;
    if (kept) (f.first_of_socket ? first_kept : later_kept)++;
  }
  if (first_kept == first && later_kept == later) return "yes";
  if (first_kept == 0 && later_kept == 0) return "no";
  if (first_kept == first && later_kept == 0 && later > 0) return "first";
  return "partial";
}

std::string classify_allocation(const std::vector<Flow>& flows) {
  if (flows.size() < 2) return "unknown";
  bool all_kept = std::all_of(flows.begin(), flows.end(), [](const Flow& f) { return f.mapped.port == f.local.port; });
  if (all_kept) return "preserved";
  // Successive new mappings one (or a few, if something else took a port) apart: sequential.
  bool sequential = true;
  for (size_t i = 1; i < flows.size(); ++i) {
    int delta = int(flows[i].mapped.port) - int(flows[i - 1].mapped.port);
    if (delta < 1 || delta > 8) sequential = false;
  }
  return sequential ? "sequential" : "random";
}

Measurement measure(const Endpoint& e11, const Endpoint& e12, const Endpoint& e21, const Endpoint& e22,
                    int fresh, milliseconds listen) {
  Measurement m;
  const std::vector<Endpoint> servers{e11, e12, e21, e22};
  // Every socket stays open until the end: a closed socket's port could be handed out again and
  // would then reuse the old socket's NAT mappings (conntrack entries outlive the socket).
  std::vector<std::unique_ptr<UdpSocket>> sockets;
  auto new_socket = [&sockets]() -> const UdpSocket& { return *sockets.emplace_back(std::make_unique<UdpSocket>()); };

  // Mapping: one socket to four endpoints.
  {
    const UdpSocket& s = new_socket();
    m.local = Endpoint{route_source(e11), s.local().port};
    for (const auto& to : servers) m.mapped.push_back(ask_mapped(s, to, "PING"));
    for (size_t i = 0; i < m.mapped.size(); ++i) {
      if (!m.mapped[i]) continue;
      bool is_new = std::none_of(m.mapped.begin(), m.mapped.begin() + static_cast<long>(i),
                                 [&](const auto& p) { return p && *p == *m.mapped[i]; });
      if (is_new) m.new_flows.push_back(Flow{m.local, *m.mapped[i], i == 0});
    }
  }
  // Allocation: fresh sockets, two destinations each (a new mapping per flow on APDM NATs).
  for (int i = 0; i < fresh; ++i) {
    const UdpSocket& s = new_socket();
    Endpoint local{m.local.ip, s.local().port};
    auto a = ask_mapped(s, e11, "PING");
    auto b = ask_mapped(s, e22, "PING");
    if (a) m.new_flows.push_back(Flow{local, *a, true});
    if (b && (!a || !(*a == *b))) m.new_flows.push_back(Flow{local, *b, false});
  }
  // Filtering: a fresh socket that has only ever talked to e11 asks for unsolicited traffic.
  {
    const UdpSocket& s = new_socket();
    if (ask_mapped(s, e11, "UNSOL")) {
      m.filter_control = true;
      const auto deadline = Clock::now() + listen;
      while (Clock::now() < deadline && !g_stop) {
        auto got = s.receive(std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
        if (!got) break;
        if (got->second.rfind("UNSOL ", 0) != 0) continue;
        const Endpoint& from = got->first;
        if (from == e12) m.same_ip_other_port = true;
        if (from == e21) m.other_ip_same_port = true;
        if (from == e22) m.other_ip_other_port = true;
      }
    }
  }
  for (const auto& f : m.new_flows) {
    if (f.mapped.port == f.local.port) continue;
    m.ports_min = std::min<int>(m.ports_min, f.mapped.port);
    m.ports_max = std::max<int>(m.ports_max, f.mapped.port);
  }
  if (m.ports_max < 0) m.ports_min = -1;
  m.mapping = classify_mapping(m);
  m.filtering = classify_filtering(m);
  m.preserved = classify_preserved(m.new_flows);
  m.allocation = classify_allocation(m.new_flows);
  return m;
}

std::string opt_to_string(const std::optional<Endpoint>& e) { return e ? to_string(*e) : std::string("none"); }

void print_measurement(const Measurement& m, bool kv) {
  std::string flows;
  for (const auto& f : m.new_flows)
    flows += (flows.empty() ? "" : ",") + std::to_string(f.local.port) + ">" + std::to_string(f.mapped.port);
  if (kv) {
    std::printf("local=%s\n", to_string(m.local).c_str());
    for (size_t i = 0; i < m.mapped.size(); ++i) std::printf("mapped_%zu=%s\n", i, opt_to_string(m.mapped[i]).c_str());
    std::printf("mapping=%s\nfiltering=%s\npreserved=%s\nallocation=%s\n", m.mapping.c_str(), m.filtering.c_str(),
                m.preserved.c_str(), m.allocation.c_str());
    std::printf("ports_min=%d\nports_max=%d\nflows=%s\n", m.ports_min, m.ports_max, flows.c_str());
    std::printf("unsolicited=same_ip_other_port:%d,other_ip_same_port:%d,other_ip_other_port:%d\n",
                m.same_ip_other_port, m.other_ip_same_port, m.other_ip_other_port);
    return;
  }
  std::string mapped;
  for (const auto& x : m.mapped) mapped += (mapped.empty() ? "\"" : ",\"") + opt_to_string(x) + "\"";
  std::printf(
      "{\"local\":\"%s\",\"mapped\":[%s],\"mapping\":\"%s\",\"filtering\":\"%s\",\"preserved\":\"%s\","
      "\"allocation\":\"%s\",\"ports_min\":%d,\"ports_max\":%d,\"flows\":\"%s\","
      "\"unsolicited\":{\"same_ip_other_port\":%s,\"other_ip_same_port\":%s,\"other_ip_other_port\":%s}}\n",
      to_string(m.local).c_str(), mapped.c_str(), m.mapping.c_str(), m.filtering.c_str(), m.preserved.c_str(),
      m.allocation.c_str(), m.ports_min, m.ports_max, flows.c_str(), m.same_ip_other_port ? "true" : "false",
      m.other_ip_same_port ? "true" : "false", m.other_ip_other_port ? "true" : "false");
}

// ---- burst -----------------------------------------------------------------------------------

int run_burst(const Endpoint& server, int count, milliseconds interval, milliseconds wait) {
  UdpSocket s;
  const std::string prefix = "PING b" + std::to_string(getpid()) + "-";
  int received = 0;
  std::optional<Endpoint> mapped;
  std::vector<bool> seen(static_cast<size_t>(count), false);
  auto drain = [&](Clock::time_point until) {
    while (Clock::now() < until && !g_stop) {
      auto got = s.receive(std::chrono::duration_cast<milliseconds>(until - Clock::now()));
      if (!got) break;
      auto words = split(got->second);
      if (words.size() != 3 || words[0] != "MAPPED" || !(got->first == server)) continue;
      auto dash = words[1].rfind('-');
      auto idx = dash == std::string::npos ? std::nullopt : parse_port(words[1].substr(dash + 1));
      if (!idx || *idx >= count || seen[*idx]) continue;
      seen[*idx] = true;
      ++received;
      mapped = parse_endpoint(words[2]);
    }
  };
  for (int i = 0; i < count && !g_stop; ++i) {
    s.send_to(server, prefix + std::to_string(i));
    drain(Clock::now() + interval);
  }
  drain(Clock::now() + wait);
  std::printf("{\"server\":\"%s\",\"sent\":%d,\"received\":%d,\"mapped\":\"%s\"}\n", to_string(server).c_str(), count,
              received, opt_to_string(mapped).c_str());
  return received > 0 ? 0 : 1;
}

// ---- command line ----------------------------------------------------------------------------

void usage() {
  std::fprintf(stderr,
               "usage: natpunch-labprobe reflect --listen IP:PORT [--listen ...] [--duration SEC]\n"
               "       natpunch-labprobe measure --ip1 IP --ip2 IP --port1 P --port2 P [--fresh N] "
               "[--listen-ms MS] [--kv]\n"
               "       natpunch-labprobe burst --server IP:PORT [--count N] [--interval-ms MS] [--wait-ms MS]\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) usage();
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  const std::string mode = argv[1];
  std::vector<Endpoint> listen;
  double duration = 60;
  std::optional<in_addr_t> ip1, ip2;
  std::optional<uint16_t> port1, port2;
  std::optional<Endpoint> server;
  int fresh = 6, count = 20;
  long listen_ms = 400, interval_ms = 2, wait_ms = 500;
  bool kv = false;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) fail(a + " needs a value");
      return argv[++i];
    };
    auto number = [&](long lo, long hi) {
      std::string v = value();
      char* end = nullptr;
      long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n < lo || n > hi) fail("bad value for " + a + ": " + v);
      return n;
    };
    if (a == "--listen") {
      auto ep = parse_endpoint(value());
      if (!ep) fail("bad --listen");
      listen.push_back(*ep);
    } else if (a == "--duration") {
      duration = static_cast<double>(number(1, 3600));
    } else if (a == "--ip1" || a == "--ip2") {
      auto ip = parse_ip(value());
      if (!ip) fail("bad " + a);
      (a == "--ip1" ? ip1 : ip2) = ip;
    } else if (a == "--port1" || a == "--port2") {
      (a == "--port1" ? port1 : port2) = static_cast<uint16_t>(number(1, 65535));
    } else if (a == "--server") {
      server = parse_endpoint(value());
      if (!server) fail("bad --server");
    } else if (a == "--fresh") {
      fresh = static_cast<int>(number(0, 64));
    } else if (a == "--count") {
      count = static_cast<int>(number(1, 100000));
    } else if (a == "--listen-ms") {
      listen_ms = number(1, 10000);
    } else if (a == "--interval-ms") {
      interval_ms = number(0, 10000);
    } else if (a == "--wait-ms") {
      wait_ms = number(0, 10000);
    } else if (a == "--kv") {
      kv = true;
    } else {
      usage();
    }
  }
  if (mode == "reflect") return run_reflect(listen, duration);
  if (mode == "measure") {
    if (!ip1 || !ip2 || !port1 || !port2) usage();
    auto m = measure(Endpoint{*ip1, *port1}, Endpoint{*ip1, *port2}, Endpoint{*ip2, *port1}, Endpoint{*ip2, *port2},
                     fresh, milliseconds(listen_ms));
    print_measurement(m, kv);
    return m.mapping == "unreachable" || m.filtering == "unreachable" ? 1 : 0;
  }
  if (mode == "burst") {
    if (!server) usage();
    return run_burst(*server, count, milliseconds(interval_ms), milliseconds(wait_ms));
  }
  usage();
}
