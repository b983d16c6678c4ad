// One connection attempt of the device (docs/design/device-runtime.md §3): a Puncher over the
// device's sockets (its socket 0 is the main socket, the rest the attempt's own, opened for it),
// bounded in time, and ended early when the peer stays silent. No I/O; the DeviceMachine routes
// the datagrams (device/datagram_router.h) and owns the sockets.
//
// Bounds:
//   - the hard limit: the plan's step budgets and a slack (what the old traversal allowed), or the
//     caller's deadline when earlier;
//   - the silent peer: when nothing at all (no punch packet, no signal) has come from the peer by
//     the point its packets must have arrived — the end of the steps before a birthday step, plus
//     the listener's socket opening when this side sprays after it, plus `silent_peer` — the
//     attempt ends (a peer that asks for a connection and never answers holds one attempt slot that
//     long, never the device). A birthday listener is exempt: it rightly hears nothing until a
//     probe hits one of its sockets.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "device/device_io.h"
#include "punch/puncher.h"
#include "wire/control_messages.h"

namespace natpunch {

struct AttemptTiming {
  std::chrono::milliseconds slack{2000};         // beyond the plan's budgets
  std::chrono::milliseconds silent_peer{10'000};  // see above
};

class Attempt {
 public:
  Attempt(PeerInfo info, PunchSetup setup, TimePoint now, AttemptTiming timing,
          std::optional<TimePoint> deadline = std::nullopt);

  // Sockets the Puncher needs besides the main one (the birthday listener's N).
  std::size_t extra_sockets() const { return puncher_.sockets_wanted() - 1; }
  // Starts the Puncher on the main socket and `extra` (extra_sockets() handles, in order).
  void start(std::vector<SocketHandle> extra, TimePoint now);
  bool started() const { return started_; }
  void on_datagram(SocketHandle socket, const SocketAddress& from, ByteView bytes, TimePoint now);
  void on_timer(TimePoint now);
  // Ends it from outside (its sockets could not be opened; the device stops).
  void fail(std::string why, TimePoint now);
  // The peer started a newer attempt: it has given this one up.
  void supersede(TimePoint now) {
    superseded_ = true;
    fail("superseded: the peer started a new attempt", now);
  }
  bool superseded() const { return superseded_; }

  std::optional<TimePoint> next_deadline() const;
  std::vector<OutDatagram> take_datagrams();  // OutDatagram::socket is a SocketHandle

  bool finished() const { return finished_; }
  bool ok() const { return finished_ && outcome_.ok; }
  bool silent() const { return silent_; }
  // Complete once finished(); `socket` is the Puncher's index (path_socket() is the handle).
  const PunchOutcome& outcome() const { return outcome_; }
  SocketHandle path_socket() const { return handle(outcome_.socket); }
  // Every socket the attempt uses: kMainSocket first, then its own.
  const std::vector<SocketHandle>& sockets() const { return handles_; }
  const PeerInfo& info() const { return info_; }
  const Plan& plan() const { return plan_; }
  TimePoint created() const { return created_; }
  TimePoint finished_at() const { return finished_at_; }
  std::chrono::milliseconds elapsed() const;
  std::optional<TimePoint> silent_deadline() const { return silent_deadline_; }
  // The caller's deadline, when it gave one.
  std::optional<TimePoint> deadline() const { return deadline_; }

 private:
  SocketHandle handle(std::size_t index) const { return index < handles_.size() ? handles_[index] : kMainSocket; }
  void take(std::vector<OutDatagram> out);
  void check(TimePoint now);
  void end(TimePoint now);

  PeerInfo info_;
  Plan plan_;
  Puncher puncher_;
  TimePoint created_;
  TimePoint hard_end_;
  bool cut_by_deadline_ = false;
  std::optional<TimePoint> deadline_;
  std::optional<TimePoint> silent_deadline_;
  std::vector<SocketHandle> handles_{kMainSocket};
  std::vector<OutDatagram> out_;
  PunchOutcome outcome_;
  bool started_ = false;
  bool finished_ = false;
  bool silent_ = false;
  bool superseded_ = false;
  TimePoint finished_at_{};
};

}  // namespace natpunch
