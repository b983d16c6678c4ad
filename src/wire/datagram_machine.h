// The shape of every protocol engine in natpunch (STYLE.md example 1): an object that is told the
// time and the datagrams that arrive, and answers with datagrams to send and its next deadline.
// No sockets, no clock: src/io drives it over real sockets, src/sim over the simulator.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "wire/address.h"
#include "wire/bytes.h"
#include "wire/clock.h"

namespace natpunch {

// Socket 0 is the engine's main socket (the one registered with the rendezvous server); sockets
// 1..sockets_wanted()-1 are extra sockets the driver opens for it (e.g. the birthday method's N).
struct OutDatagram {
  std::size_t socket = 0;
  SocketAddress to;
  Bytes bytes;
};

struct InDatagram {
  std::size_t socket = 0;
  SocketAddress from;
  ByteView bytes;
};

class DatagramMachine {
 public:
  virtual ~DatagramMachine() = default;
  virtual std::size_t sockets_wanted() const = 0;
  virtual std::vector<OutDatagram> start(TimePoint now) = 0;
  virtual std::vector<OutDatagram> on_datagram(const InDatagram& d, TimePoint now) = 0;
  // Called at (or after) next_deadline().
  virtual std::vector<OutDatagram> on_timer(TimePoint now) = 0;
  virtual std::optional<TimePoint> next_deadline() const = 0;
  // A finished machine gets no more timers; drivers may still hand it datagrams, which it may
  // answer (the puncher answers late probes on its chosen path) or ignore.
  virtual bool finished() const = 0;
};

}  // namespace natpunch
