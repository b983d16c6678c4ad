// The responder's side of a relayed attempt (device/relayed_connect.h has the picture): the initiator
// found no direct path and waits at a TURN relayed address; this device probes that address from
// its main socket (any NAT lets it reach a public relay) until the initiator answers — an ack of
// the attempt's token, or already its QUIC Initial — then the session runs toward it. Bounded:
// one probe every 200 ms until `deadline`. No I/O.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "wire/control_messages.h"
#include "wire/datagram_machine.h"
#include "wire/random_source.h"

namespace natpunch {

class RelayedPeerProber {
 public:
  static constexpr std::chrono::milliseconds kProbeEvery{200};

  // `info.peer_relayed` must be set.
  RelayedPeerProber(PeerInfo info, TimePoint now, TimePoint deadline, RandomSource random);

  // A datagram from the relayed address on the main socket; true when it proves the initiator hears us.
  bool on_datagram(const SocketAddress& from, ByteView bytes, TimePoint now);
  void on_timer(TimePoint now);
  std::optional<TimePoint> next_deadline() const;
  std::vector<OutDatagram> take_datagrams();  // from the main socket

  bool finished() const { return reached_ || failed_; }
  bool reached() const { return reached_; }
  const std::string& error() const { return error_; }
  const PeerInfo& info() const { return info_; }
  std::uint64_t probes_sent() const { return sent_; }
  std::chrono::milliseconds elapsed() const { return elapsed_; }
  TimePoint created() const { return created_; }

 private:
  PeerInfo info_;
  SocketAddress relayed_;
  TimePoint created_;
  TimePoint deadline_;
  TimePoint next_probe_;
  RandomSource random_;
  std::uint32_t sequence_ = 0;
  std::uint64_t sent_ = 0;
  bool reached_ = false;
  bool failed_ = false;
  std::string error_;
  std::chrono::milliseconds elapsed_{0};
  std::vector<OutDatagram> out_;
};

}  // namespace natpunch
