// The device as a no-I/O machine (docs/design/device-runtime.md): told the time, the datagrams that
// arrive on its sockets and how the I/O it asked for went; it answers with datagrams, commands for
// its driver (device_io.h), events (device_events.h) and its next deadline. io/ runs it over real
// sockets, sim/device_host over the simulator.
//
// What it does so far: learn the NAT's behaviour (RFC 5780, nat/nat_discovery.h, on the main
// socket and five more it asks for), ask for a router port mapping beside it, register (signed,
// with the server's nonce rounds: rendezvous_client_machine.h), refresh every third of the lifetime
// the server granted whatever else is going on, notice an outage and its end, notice a changed
// public mapping and learn the NAT again, renew the port mapping at half its lifetime and register
// it only on the public IP the server sees. The introductions it receives (NP-PEER-INFO, vouched
// for by the nonce) wait in take_peer_info() for the attempts that come next.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "device/device_config.h"
#include "device/device_events.h"
#include "device/device_io.h"
#include "device/registration.h"
#include "device/rendezvous_client_machine.h"
#include "nat/nat_discovery.h"
#include "wire/datagram_machine.h"
#include "wire/result.h"

namespace natpunch {

struct DeviceCounters {
  std::uint64_t registrations = 0;        // register transactions started
  std::uint64_t discoveries = 0;          // NAT discoveries started
  std::uint64_t unclaimed_datagrams = 0;  // arrived for nobody in the machine (counted, dropped)
};

class DeviceMachine {
 public:
  explicit DeviceMachine(DeviceConfig config);
  // Its parts draw from config.random through `this`: the machine stays where it was made.
  DeviceMachine(const DeviceMachine&) = delete;
  DeviceMachine& operator=(const DeviceMachine&) = delete;

  void start(TimePoint now);
  // A datagram on socket `d.socket` (a SocketHandle).
  void on_datagram(const InDatagram& d, TimePoint now);
  // Called at (or after) next_deadline().
  void on_timer(TimePoint now);
  // The driver's answer to OpenSockets{first, n}: the n local ports, or why it could not.
  void on_sockets_opened(SocketHandle first, Result<std::vector<std::uint16_t>, std::string> ports, TimePoint now);
  // A socket failed (the main one: every transaction in flight ends; the device keeps trying).
  void on_socket_error(SocketHandle s, TimePoint now);
  // The driver's answer to MapPort or RenewPortMapping.
  void on_port_mapped(Result<MappedPort, std::string> r, TimePoint now);
  // Stops: releases the port mapping and the extra sockets; no more datagrams or deadlines.
  void stop(TimePoint now);

  std::optional<TimePoint> next_deadline() const;
  std::vector<OutDatagram> take_datagrams();  // OutDatagram::socket is a SocketHandle
  std::vector<DeviceCommand> take_commands();
  std::vector<DeviceEvent> take_events();
  std::optional<PeerInfo> take_peer_info();

  const RegistrationState& registration() const { return registration_; }
  const PortMappingState& port_mapping() const { return port_mapping_; }
  const std::optional<NatBehavior>& nat() const { return nat_; }
  bool discovering() const { return discovery_.has_value() || awaiting_sockets_; }
  bool stopped() const { return stopped_; }
  const DeviceCounters& counters() const { return counters_; }
  const RendezvousClientMachine& client() const { return client_; }

 private:
  void start_discovery(TimePoint now);
  void finish_discovery(TimePoint now);
  void start_registration(TimePoint now);
  void on_registration_answer(const ClientAnswer& a, TimePoint now);
  void collect(TimePoint now);   // takes what the client and discovery produced
  void advance(TimePoint now);   // starts what is due
  SocketHandle discovery_handle(std::size_t index) const;
  std::optional<std::size_t> discovery_index(SocketHandle h) const;
  bool waiting_for_port_mapping(TimePoint now);

  DeviceConfig config_;
  RendezvousClientMachine client_;
  RegistrationState registration_;
  PortMappingState port_mapping_;
  std::optional<NatBehavior> nat_;

  // Discovery: its sockets are 0 (main) and first_..first_+4.
  std::optional<NatDiscovery> discovery_;
  bool awaiting_sockets_ = false;
  SocketHandle discovery_first_ = 0;
  std::size_t discovery_extra_ = 0;
  TimePoint discovery_deadline_{};

  // Port mapping: asked for (MapPort or RenewPortMapping) and not answered yet.
  bool port_mapping_pending_ = false;
  bool port_mapping_renewal_ = false;
  // The first registration waits for the router's answer until then (unset: it no longer waits).
  std::optional<TimePoint> port_mapping_wait_until_;

  // Registration in flight.
  std::optional<RendezvousClientMachine::Txn> register_txn_;
  TimePoint register_started_{};
  std::optional<SocketAddress> advertised_in_flight_;
  std::optional<SocketAddress> advertised_;  // what the last successful registration announced
  bool register_again_ = false;              // as soon as the one in flight ends
  bool announced_ = false;                   // RegisteredEvent sent
  std::uint64_t unauthenticated_seen_ = 0;

  SocketHandle next_handle_ = 1;
  bool started_ = false;
  bool stopped_ = false;
  std::vector<OutDatagram> out_;
  std::vector<DeviceCommand> commands_;
  std::vector<DeviceEvent> events_;
  std::deque<PeerInfo> peer_infos_;
  DeviceCounters counters_;
};

}  // namespace natpunch
