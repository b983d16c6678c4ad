// A blocking UDP socket connected to the gateway's port 5351 (PCP and NAT-PMP), for the port
// mapper's short bounded exchanges. Connected, so the kernel drops datagrams from anyone else
// (RFC 6886 §3.5 and RFC 6887 §8.3: only the gateway's answers count) and reports an ICMP port
// unreachable as an error.
#pragma once

#include <optional>
#include <string>

#include "wire/address.h"
#include "wire/bytes.h"
#include "wire/clock.h"
#include "wire/result.h"

namespace natpunch {

class GatewaySocket {
 public:
  static Result<GatewaySocket, std::string> open(const SocketAddress& gateway);
  GatewaySocket(GatewaySocket&& o) noexcept : fd_(o.fd_), local_(o.local_), gateway_(o.gateway_) { o.fd_ = -1; }
  GatewaySocket& operator=(GatewaySocket&&) = delete;
  GatewaySocket(const GatewaySocket&) = delete;
  ~GatewaySocket();

  const SocketAddress& local() const { return local_; }  // our LAN address toward the gateway
  const SocketAddress& gateway() const { return gateway_; }

  std::optional<std::string> send(ByteView datagram);  // error text on failure

  struct Received {
    std::optional<Bytes> datagram;  // none: the deadline passed
    bool port_unreachable = false;  // ICMP port unreachable: nothing listens on the gateway
  };
  Received receive_until(TimePoint deadline);

 private:
  GatewaySocket(int fd, SocketAddress local, SocketAddress gateway) : fd_(fd), local_(local), gateway_(gateway) {}
  int fd_ = -1;
  SocketAddress local_;
  SocketAddress gateway_;
};

}  // namespace natpunch
