// The device's socket toward one rendezvous service (docs/cli.md, `--server`): every address the
// service's name resolves to, of --bind's family when --bind is given; with more than one, the
// first to answer a STUN Binding (device/service_selector.h: staggered 250 ms, bounded by 2 s)
// is used, so a name whose AAAA (or one of whose A records) leads nowhere still works. One socket
// per family is opened for the probes; the chosen one is kept, the others closed.
#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/udp.hpp>
#include <optional>
#include <string>
#include <vector>

#include "device/service_selector.h"
#include "wire/result.h"

namespace natpunch {

struct ServiceSocket {
  asio::ip::udp::endpoint server;
  asio::ip::udp::socket socket;
  std::size_t candidates = 1;  // addresses considered
  bool answered = false;       // the chosen one answered (false: one candidate, or none answered)
};

struct ServiceSocketError {
  std::string message;
  bool usage = false;  // no address of --bind's family: the command line is wrong, not the network
};

// Blocks for at most timing.limit (plus one poll): run before the event loop starts.
Result<ServiceSocket, ServiceSocketError> open_service_socket(asio::io_context& io,
                                                       const std::vector<asio::ip::udp::endpoint>& addresses,
                                                       std::optional<asio::ip::udp::endpoint> bind,
                                                       ServiceSelector::Timing timing = {});

}  // namespace natpunch
