// Runs DatagramMachines and the rendezvous server over a simulated Network on its virtual clock:
// each machine gets its sockets_wanted() sockets on its host (socket 0 = its main socket), its
// datagrams are carried through the NATs, and on_timer is called at its next_deadline(). The
// server is the real RequestHandler, bound to a public socket. Sockets owned by nobody keep what
// arrives in an inbox (for scripted exchanges such as registration).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "server/request_handler.h"
#include "sim/network.h"
#include "wire/datagram_machine.h"

namespace natpunch::sim {

inline const SocketAddress kServerAddress = SocketAddress::v4({203, 0, 113, 1}, 3478);
inline const SocketAddress kServerAlternate = SocketAddress::v4({203, 0, 113, 2}, 3479);

// The rendezvous server on the simulated internet, as `natpunch server --listen ADDRESS
// --alternate ALTERNATE` runs it: with an alternate, the four sockets of RFC 5780 (two hosts).
class SimServer {
 public:
  SimServer(Network& net, ServerConfig config, std::uint64_t seed, SocketAddress address = kServerAddress,
            std::optional<SocketAddress> alternate = kServerAlternate);
  void on_arrival(const Arrival& a, std::size_t socket_index);
  const RequestHandler& handler() const { return *handler_; }
  // The server process restarts: every registration, key binding and nonce secret is gone.
  void restart(std::uint64_t seed);
  // While down, everything that arrives is dropped unanswered (a crashed or unreachable server).
  void set_down(bool down) { down_ = down; }
  SocketAddress address() const { return address_; }
  const std::vector<SocketId>& sockets() const { return sockets_; }

 private:
  Network& net_;
  SocketAddress address_;
  std::vector<SocketId> sockets_;  // by the handler's socket index
  ServerConfig config_;
  std::optional<RequestHandler> handler_;
  bool down_ = false;
};

struct MachineStats {
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  std::uint64_t timer_calls = 0;
  std::uint64_t bad_socket = 0;  // the machine sent on a socket index it did not ask for
};

class Runner {
 public:
  Runner(Network& net, SimServer* server);

  // Attaches `m` (not owned) to `host`, with `main` as its socket 0 and fresh sockets for the rest
  // of sockets_wanted(). It is started at `start_at` (now() when earlier).
  std::size_t add(DatagramMachine& m, SocketId main, TimePoint start_at);
  // Attaches `m` with exactly these sockets (index i = sockets[i]), e.g. bound beforehand because
  // the machine's configuration needs their ports.
  std::size_t add(DatagramMachine& m, std::vector<SocketId> sockets, TimePoint start_at);
  // Forgets machine `index` (e.g. before it is destroyed): its sockets' arrivals go to inbox().
  void detach(std::size_t index);
  // Sends from a socket outside any machine; what arrives at such sockets goes to inbox().
  void send(SocketId from, const SocketAddress& to, Bytes bytes) { net_.send(from, to, std::move(bytes)); }
  std::vector<Arrival>& inbox() { return inbox_; }

  // Runs until `done()` holds (checked after every event), or every machine has finished when
  // `done` is empty, or the virtual time reaches `limit`. True when it stopped because of `done`.
  bool run(TimePoint limit, const std::function<bool()>& done = {});

  const std::vector<SocketId>& sockets_of(std::size_t machine) const { return machines_[machine].sockets; }
  const MachineStats& stats(std::size_t machine) const { return machines_[machine].stats; }
  // A machine asked to be woken at a time that did not move forward many times in a row.
  bool stuck() const { return stuck_; }
  Network& network() { return net_; }

 private:
  struct Attached {
    DatagramMachine* machine = nullptr;
    std::vector<SocketId> sockets;
    TimePoint start_at{};
    bool started = false;
    MachineStats stats;
    TimePoint last_timer{};
    int same_time_timers = 0;
  };
  struct Owner {
    std::uint32_t machine = kNobody;
    std::uint32_t socket_index = 0;
  };
  static constexpr std::uint32_t kNobody = 0xffffffff;
  static constexpr std::uint32_t kServer = 0xfffffffe;

  void own(SocketId s, std::uint32_t machine, std::uint32_t index);
  void emit(Attached& a, std::vector<OutDatagram> out);
  std::optional<TimePoint> wake_time(const Attached& a) const;
  bool all_finished() const;

  Network& net_;
  SimServer* server_;
  std::vector<Attached> machines_;
  std::vector<Owner> owners_;  // by SocketId
  std::vector<Arrival> inbox_;
  bool stuck_ = false;
};

}  // namespace natpunch::sim
