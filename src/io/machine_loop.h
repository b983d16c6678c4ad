// Runs a DatagramMachine over real UDP sockets until it finishes or a hard time limit passes:
// one receive loop per socket feeds it, one timer wakes it at its deadline, its datagrams are sent
// as it emits them. Owns no sockets: the caller passes them in (sockets[0] = the main socket) and
// keeps them afterwards.
#pragma once

#include <asio/ip/udp.hpp>
#include <chrono>
#include <functional>
#include <vector>

#include "io/awaitable.h"
#include "wire/datagram_machine.h"
#include "wire/result.h"

namespace natpunch {

struct MachineRunStats {
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  std::uint64_t send_errors = 0;
  bool timed_out = false;  // the hard limit ended it, not the machine
};

struct MachineRunOptions {
  std::chrono::milliseconds hard_limit{60'000};
  // Called about every `progress_every` while running (e.g. a progress line); may be empty.
  std::function<void()> on_progress;
  std::chrono::milliseconds progress_every{500};
};

asio::awaitable<MachineRunStats> run_machine(DatagramMachine& machine, std::vector<asio::ip::udp::socket>& sockets,
                                              MachineRunOptions options = {});

// Opens `count` UDP sockets of `family`, each bound to an ephemeral port on `bind_ip`.
Result<std::vector<asio::ip::udp::socket>, std::string> open_extra_sockets(asio::io_context& io,
                                                                          const asio::ip::udp::endpoint& bind_ip,
                                                                          std::size_t count);

}  // namespace natpunch
