// Runs the device machine (device/device_machine.h) over the simulated network: the same object
// the CLI runs over real sockets. A DeviceHost carries one machine's datagrams from and to its
// sockets on a simulated host and carries out its commands: sockets are bound on that host; the
// simulator has no router port mapping (a MapPort is answered "not available here") and no relay.
// run_devices() moves several of them, the rendezvous server and the network forward in virtual
// time together.
#pragma once

#include <functional>
#include <map>
#include <utility>
#include <vector>

#include "device/device_machine.h"
#include "sim/runner.h"

namespace natpunch::sim {

class DeviceHost {
 public:
  // `main` is the machine's socket 0 (bound by the caller: the machine's config names its port).
  DeviceHost(Runner& runner, SocketId main, DeviceMachine& machine);

  // The router, as far as the simulator has one: answers MapPort (renewal false) and
  // RenewPortMapping (true), or nullopt to leave it unanswered for now (the test answers later);
  // a call with nullopt is a ReleasePortMapping. Unset: every MapPort fails (no router mapping).
  using PortMapper = std::function<std::optional<Result<MappedPort, std::string>>(std::optional<bool> renewal)>;
  void set_port_mapper(PortMapper f) { port_mapper_ = std::move(f); }
  // Called with each event as the machine reports it (after it is recorded): an app's reaction
  // (send a message, close) goes to the machine from here.
  void set_on_event(std::function<void(const DeviceEvent&)> f) { on_event_ = std::move(f); }

  void start();
  // True when `s` is one of the machine's sockets (the datagram was handed to it).
  bool on_arrival(const Arrival& a);
  // Runs the machine's timer if it is due.
  void on_due_timer();
  // Carries out what the machine asked for (commands first, then datagrams), until it asks nothing.
  void flush();
  std::optional<TimePoint> next_deadline() const { return machine_.next_deadline(); }

  DeviceMachine& machine() { return machine_; }
  // Everything the machine reported, with the virtual time it did.
  const std::vector<std::pair<TimePoint, DeviceEvent>>& events() const { return events_; }
  std::vector<PeerInfo>& peer_infos() { return peer_infos_; }
  std::uint64_t datagrams_sent() const { return sent_; }

 private:
  Runner& runner_;
  DeviceMachine& machine_;
  HostId host_;
  std::map<SocketHandle, SocketId> sockets_;
  std::vector<std::pair<TimePoint, DeviceEvent>> events_;
  std::vector<PeerInfo> peer_infos_;
  std::uint64_t sent_ = 0;
  PortMapper port_mapper_;
  std::function<void(const DeviceEvent&)> on_event_;
};

// Runs until `done()` holds (checked after every step) or the virtual time reaches `limit`; true
// when `done` stopped it. Stops early (false) when nothing can happen any more or a machine keeps
// asking to be woken without time moving.
bool run_devices(Runner& runner, const std::vector<DeviceHost*>& hosts, TimePoint limit,
                 const std::function<bool()>& done);

}  // namespace natpunch::sim
