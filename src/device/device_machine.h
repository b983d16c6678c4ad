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
// it only on the public IP the server sees.
//
// Attempts, many at once on the one main socket (datagram_router.h sorts what arrives): an
// introduction (NP-PEER-INFO, vouched for by the nonce) is admitted or refused before anything goes
// to the peer (admission.h); one beyond --max-attempts, or whose sockets would pass --max-sockets,
// is refused as busy with a GiveUp signal (the peer fails fast instead of timing out); each attempt
// is bounded (attempt.h: the plan's budgets, the silent peer). connect() is the initiator's side.
// A relayed introduction (the initiator found no direct path and waits at its TURN relayed
// address) is probed from the main socket (relayed_prober.h); its session then runs toward the
// relayed address and probes the initiator's own mapping, so that it can move the session to a
// direct path. take_peer_info() is kept for introductions nobody else takes (none today).
//
// Sessions (session_host.h): a connected attempt's path carries a QUIC session at once (the
// initiator is the client); apps use send_message/reply/send_datagram/close by ConnectionId. stop()
// closes every session and lets their closing periods run: finished() says when all is done.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "device/device_config.h"
#include "device/device_events.h"
#include "device/attempt.h"
#include "device/datagram_router.h"
#include "device/device_io.h"
#include "device/registration.h"
#include "device/relayed_connect.h"
#include "device/relayed_prober.h"
#include "device/session_host.h"
#include "device/rendezvous_client_machine.h"
#include "nat/nat_discovery.h"
#include "wire/datagram_machine.h"
#include "wire/result.h"

namespace natpunch {

// How DeviceMachine::connect goes about it: up to `attempts` connect requests (each a punching
// attempt with a new token), then, when the server offers a TURN relay and `relay` allows it, the
// relay (with `upgrade`: the relayed session keeps probing for a direct path and moves to it).
enum class RelayUse { Auto, Never, Only };
struct ConnectOptions {
  int attempts = 3;
  std::optional<TimePoint> deadline;  // the whole connect; unset: each step's own bounds
  RelayUse relay = RelayUse::Auto;
  bool upgrade = true;
  // Pinned by the user (connect --peer-key): the session accepts only this key, whatever the
  // server's peer-info says.
  std::optional<PublicKey> peer_key;
};

struct DeviceCounters {
  std::uint64_t registrations = 0;        // register transactions started
  std::uint64_t discoveries = 0;          // NAT discoveries started
  std::uint64_t unclaimed_datagrams = 0;  // arrived for nobody in the machine (counted, dropped)
  std::uint64_t attempts = 0;             // started (both roles)
  std::uint64_t busy = 0;                 // introductions refused for lack of room
  std::uint64_t duplicate_introductions = 0;  // peer-infos for an attempt already handled
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
  // Asks the server for `peer` (once registered) and punches toward it as the initiator, as
  // `options` say (attempts, then the relay); each attempt's end comes as AttemptFailedEvent or
  // ConnectedEvent, and the connect's as ConnectedEvent or ConnectFailedEvent.
  void connect(const DeviceId& peer, TimePoint now, ConnectOptions options);
  // One attempt, no relay, bounded by `deadline`.
  void connect(const DeviceId& peer, TimePoint now, std::optional<TimePoint> deadline = std::nullopt);

  // A session's app side (the ConnectionId comes in ConnectedEvent).
  Result<std::int64_t, std::string> send_message(ConnectionId c, ByteView data, TimePoint now);
  Result<std::int64_t, std::string> reply(ConnectionId c, std::int64_t stream, ByteView data, TimePoint now);
  Result<bool, std::string> send_datagram(ConnectionId c, ByteView data, TimePoint now);
  void close(ConnectionId c, TimePoint now);
  // stop() was called and every session's closing period is over.
  bool finished() const { return stopped_ && sessions_.size() == 0; }
  std::size_t open_sessions() const { return sessions_.open_sessions(); }

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
  const DatagramRouter& router() const { return router_; }
  // Attempts still punching (finished ones linger to answer late probes but take no slot).
  std::size_t active_attempts() const;
  const Attempt* attempt(const AttemptToken& t) const;
  // Extra sockets open or asked for (discovery's and the attempts').
  std::size_t sockets_in_use() const { return sockets_in_use_; }

 private:
  void start_discovery(TimePoint now);
  void finish_discovery(TimePoint now);
  void start_registration(TimePoint now);
  void on_registration_answer(const ClientAnswer& a, TimePoint now);
  void collect(TimePoint now);   // takes what the client and discovery produced
  void collect_sessions(TimePoint now);
  void advance(TimePoint now);   // starts what is due
  SocketHandle discovery_handle(std::size_t index) const;
  std::optional<std::size_t> discovery_index(SocketHandle h) const;
  bool waiting_for_port_mapping(TimePoint now);
  void route_main(const InDatagram& d, TimePoint now);
  void to_discovery(const InDatagram& d, std::size_t index, TimePoint now);
  void on_introduction(PeerInfo info, TimePoint now);
  void on_connect_answer(const ClientAnswer& a, TimePoint now);
  void begin_attempt(PeerInfo info, Bytes reintroduce, std::optional<TimePoint> deadline, TimePoint now);
  struct ConnectJob;
  ConnectJob* job_by_txn(RendezvousClientMachine::Txn t);
  ConnectJob* job_by_attempt(const AttemptToken& t);
  void attempt_failed(ConnectJob& j, std::string why, bool hopeless, TimePoint now);
  void end_direct(ConnectJob& j, TimePoint now);
  void fail_connect(ConnectJob& j, std::string why, TimePoint now);
  void start_relay(ConnectJob& j, TimePoint now);
  void pump_relays(TimePoint now);
  void on_relay_socket(SocketHandle socket, const InDatagram& d, TimePoint now);
  void out_of_session(OutDatagram d);
  void on_session_event(const DeviceEvent& e, TimePoint now);
  void refuse_busy(const PeerInfo& info, std::string why, bool initiator, TimePoint now);
  void pump_attempts(TimePoint now);
  void release_sockets(const std::vector<SocketHandle>& handles);
  void start_connects(TimePoint now);
  void take_client_datagrams();
  void open_session(const Attempt& a, ConnectionId& out, TimePoint now);
  void on_own_socket(SocketHandle socket, const InDatagram& d, TimePoint now);
  void release_if_unused(SocketHandle h);
  void pump_relayed(TimePoint now);

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

  Admission admission_;
  DatagramRouter router_;
  std::map<AttemptToken, std::unique_ptr<Attempt>> attempts_;
  struct Relayed {
    RelayedPeerProber prober;
    bool reported = false;
    TimePoint ended{};
  };
  std::map<AttemptToken, Relayed> relayed_;
  std::map<SocketHandle, AttemptToken> socket_owner_;    // an attempt's own sockets
  std::map<SocketHandle, AttemptToken> opening_;         // OpenSockets{first} asked for an attempt
  std::set<AttemptToken> reported_;                      // attempts whose end was reported
  std::deque<AttemptToken> handled_;                     // recent introductions (duplicates ignored)
  // The initiator's connects (ConnectOptions): requesting, punching, relaying.
  struct ConnectJob {
    enum class Step { Request, Asking, Punching, Relaying, Done };
    DeviceId peer;
    ConnectOptions options;
    TimePoint started{};
    Step step = Step::Request;
    int attempts = 0;  // connect requests made (the relayed one not counted)
    std::optional<RendezvousClientMachine::Txn> txn;
    TimePoint asked{};
    std::optional<AttemptToken> punching;
    std::optional<PeerInfo> last_info;
    std::string last_error = "no attempt made";
    std::optional<SocketHandle> relay;
  };
  std::vector<ConnectJob> connects_;
  // The initiator's relays, by their socket (relayed_connect.h), with the session they carry.
  struct Relay {
    explicit Relay(RelayedConnect r) : connect(std::move(r)) {}
    RelayedConnect connect;
    DeviceId peer;
    std::optional<ConnectionId> session;
    bool reported = false;
    TimePoint since{};          // the session started
    int migrate_tries = 0;
    TimePoint next_migrate{};
    bool upgraded = false;
    std::string upgrade_error;
  };
  std::map<SocketHandle, Relay> relays_;
  std::size_t sockets_in_use_ = 0;
  std::map<SocketHandle, std::uint16_t> socket_ports_;  // an attempt's sockets' local ports
  SessionHost sessions_;

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
