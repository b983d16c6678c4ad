// The datagram path a QUIC session runs on: a direct UDP socket (SocketPath, the punched path) or a
// TURN relay (RelayPath, when both NATs defeat punching). The session runner sees only this: where
// it is (its local address, the one QUIC puts in its path), what arrives from whom, and a way to
// send. Each path owns (or borrows, for SocketPath) its socket and timers; one coroutine at a time
// calls receive().
#pragma once

#include <asio/any_io_executor.hpp>
#include <optional>
#include <string>

#include "io/awaitable.h"
#include "wire/address.h"
#include "wire/bytes.h"
#include "wire/clock.h"

namespace natpunch {

struct PathReceive {
  enum class Status {
    Datagram,  // `bytes` arrived from `from`
    Idle,      // `until` came, or something that is not the session's business woke the path
    Closed,    // the path is gone (socket closed, relay lost): `why` says so, empty when stopped
  } status = Status::Idle;
  SocketAddress from;
  // The local address it arrived at, when the path has several (0.0.0.0:port is a valid one).
  std::optional<SocketAddress> local;
  ByteView bytes;  // valid until the next receive()
  std::string why;
};

class DatagramPath {
 public:
  virtual ~DatagramPath() = default;

  // The address QUIC uses as its side of the path: the socket's own, or the relayed address.
  virtual SocketAddress local() const = 0;
  // The next datagram for the session, waiting no later than `until` (then Idle).
  virtual asio::awaitable<PathReceive> receive(TimePoint until) = 0;
  // One datagram to `to`; false when it could not go (counted by the path, not fatal: UDP).
  virtual bool send(const SocketAddress& to, ByteView bytes) = 0;
  // The same from a given local address (a path with several picks by it; one ignores it).
  virtual bool send_from(const SocketAddress& from, const SocketAddress& to, ByteView bytes) {
    (void)from;
    return send(to, bytes);
  }
  // Done with the path. A relay deletes its allocation and closes its socket; a borrowed socket is
  // left to its owner.
  virtual void close() = 0;
  virtual asio::any_io_executor executor() = 0;
};

}  // namespace natpunch
