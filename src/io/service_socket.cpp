#include "io/service_socket.h"

#include <poll.h>

#include <array>
#include <chrono>
#include <map>

#include "io/endpoint.h"
#include "io/rendezvous_client.h"

namespace natpunch {

using asio::ip::udp;
using Clock = std::chrono::steady_clock;

Result<ServiceSocket, ServiceSocketError> open_service_socket(asio::io_context& io, const std::vector<udp::endpoint>& addresses,
                                                       std::optional<udp::endpoint> bind,
                                                       ServiceSelector::Timing timing) {
  std::vector<udp::endpoint> candidates;
  for (const auto& a : addresses)
    if (!bind || a.protocol() == bind->protocol()) candidates.push_back(a);
  if (candidates.empty()) {
    std::string family = bind && bind->address().is_v6() ? "IPv6" : "IPv4";
    return fail(ServiceSocketError{"the server has no " + family + " address for --bind " + from_endpoint(*bind).to_string(),
                                   true});
  }
  if (candidates.size() > ServiceSelector::kMaxCandidates) candidates.resize(ServiceSelector::kMaxCandidates);
  if (candidates.size() == 1) {
    auto s = open_socket(io, candidates[0], bind);
    if (!s) return fail(ServiceSocketError{s.error()});
    return ServiceSocket{candidates[0], std::move(*s), 1, false};
  }

  // One socket per family, each bound as --bind says (or to any address, an ephemeral port). A
  // family this host cannot open a socket for (IPv6 disabled) drops its addresses.
  std::map<bool, udp::socket> sockets;  // key: IPv6
  std::string open_error;
  for (const auto& c : candidates) {
    bool v6 = c.address().is_v6();
    if (sockets.contains(v6)) continue;
    auto s = open_socket(io, c, bind);
    if (!s) {
      open_error = s.error();
      continue;
    }
    s->non_blocking(true);
    sockets.emplace(v6, std::move(*s));
  }
  std::erase_if(candidates, [&](const udp::endpoint& c) { return !sockets.contains(c.address().is_v6()); });
  if (candidates.empty()) return fail(ServiceSocketError{open_error});
  std::vector<SocketAddress> addresses_seen;
  for (const auto& c : candidates) addresses_seen.push_back(from_endpoint(c));
  ServiceSelector selector(addresses_seen, Clock::now(), system_random(), timing);
  std::array<std::byte, 1500> buffer{};
  // Bounded twice: by the selector's limit, and by this loop's own count of polls.
  for (int polls = 0; !selector.done() && polls < 10'000; ++polls) {
    for (auto& o : selector.take_datagrams()) {
      asio::error_code ec;
      auto& s = sockets.at(candidates[o.candidate].address().is_v6());
      s.send_to(asio::buffer(o.bytes), candidates[o.candidate], 0, ec);  // a failed send is a lost probe
    }
    auto deadline = selector.next_deadline();
    if (!deadline) break;
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now()).count();
    std::vector<pollfd> fds;
    for (auto& [v6, s] : sockets) fds.push_back(pollfd{s.native_handle(), POLLIN, 0});
    ::poll(fds.data(), fds.size(), static_cast<int>(std::clamp<long long>(wait, 0, 1000)));
    for (auto& [v6, s] : sockets) {
      for (int i = 0; i < 16; ++i) {
        udp::endpoint from;
        asio::error_code ec;
        auto n = s.receive_from(asio::buffer(buffer), from, 0, ec);
        if (ec) break;  // would block (or an ICMP error: that address stays unanswered)
        selector.on_datagram(from_endpoint(from), ByteView(buffer.data(), n), Clock::now());
      }
    }
    selector.on_timer(Clock::now());
  }
  auto k = selector.chosen();
  auto chosen = candidates[k];
  auto s = std::move(sockets.at(chosen.address().is_v6()));
  s.non_blocking(false);
  return ServiceSocket{chosen, std::move(s), candidates.size(), selector.answered()};
}

}  // namespace natpunch
