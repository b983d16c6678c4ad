#include "device/device_machine.h"

#include <algorithm>

namespace natpunch {

using std::chrono::milliseconds;

namespace {
RendezvousClientConfig client_config(const DeviceConfig& c, RandomSource random) {
  RendezvousClientConfig r;
  r.server = c.server;
  r.key = c.key;
  r.policy = c.policy;
  r.random = std::move(random);
  return r;
}

std::optional<TimePoint> earliest(std::optional<TimePoint> a, std::optional<TimePoint> b) {
  if (!a) return b;
  if (!b) return a;
  return std::min(*a, *b);
}
}  // namespace

// Every part draws from the one source the config gives (a copy of a seeded source would repeat
// its stream: two parts would draw the same transaction IDs).
DeviceMachine::DeviceMachine(DeviceConfig config)
    : config_(std::move(config)),
      client_(client_config(config_, [this](std::span<std::byte> out) { config_.random(out); })),
      registration_(config_.min_refresh) {
  if (!config_.random) config_.random = system_random();
  if (config_.local_addresses.size() > kMaxLocalAddresses) config_.local_addresses.resize(kMaxLocalAddresses);
}

void DeviceMachine::start(TimePoint now) {
  if (started_ || stopped_) return;
  started_ = true;
  // The router's mapping is asked for while discovery runs (both take a while).
  if (config_.port_mapping) {
    commands_.push_back(MapPort{config_.main_local.port, config_.port_mapping_lifetime});
    port_mapping_pending_ = true;
    port_mapping_wait_until_ = now + config_.port_mapping_wait;
  }
  if (config_.discover) start_discovery(now);
  advance(now);
}

void DeviceMachine::start_discovery(TimePoint now) {
  ++counters_.discoveries;
  discovery_.reset();
  awaiting_sockets_ = true;
  discovery_first_ = next_handle_;
  discovery_extra_ = kNatDiscoverySockets - 1;
  next_handle_ += static_cast<SocketHandle>(discovery_extra_);
  NatDiscoveryConfig defaults;
  // Bounded as a whole (opening the sockets included): test I's timeout and three windows.
  discovery_deadline_ = now + defaults.server_timeout + defaults.window * 3 + milliseconds(500);
  commands_.push_back(OpenSockets{discovery_first_, discovery_extra_});
}

void DeviceMachine::on_sockets_opened(SocketHandle first, Result<std::vector<std::uint16_t>, std::string> ports,
                                      TimePoint now) {
  if (stopped_ || !awaiting_sockets_ || first != discovery_first_) {
    // Not (or no longer) wanted: give them back.
    if (ports)
      for (std::size_t i = 0; i < ports->size(); ++i) commands_.push_back(CloseSocket{first + static_cast<SocketHandle>(i)});
    return;
  }
  awaiting_sockets_ = false;
  if (!ports || ports->size() != discovery_extra_) {
    if (ports)
      for (std::size_t i = 0; i < ports->size(); ++i) commands_.push_back(CloseSocket{first + static_cast<SocketHandle>(i)});
    discovery_extra_ = 0;
    finish_discovery(now);  // no sockets: the device registers without a NAT behaviour
    advance(now);
    return;
  }
  NatDiscoveryConfig c;
  c.server = config_.server;
  c.local_addresses = config_.local_addresses;
  c.local_ports.push_back(config_.main_local.port);
  for (auto p : *ports) c.local_ports.push_back(p);
  c.random = [this](std::span<std::byte> out) { config_.random(out); };
  discovery_.emplace(std::move(c));
  for (auto& d : discovery_->start(now)) out_.push_back(OutDatagram{discovery_handle(d.socket), d.to, std::move(d.bytes)});
  collect(now);
  advance(now);
}

SocketHandle DeviceMachine::discovery_handle(std::size_t index) const {
  return index == 0 ? kMainSocket : discovery_first_ + static_cast<SocketHandle>(index - 1);
}

std::optional<std::size_t> DeviceMachine::discovery_index(SocketHandle h) const {
  if (h == kMainSocket) return 0;
  if (h >= discovery_first_ && h < discovery_first_ + discovery_extra_) return h - discovery_first_ + 1;
  return std::nullopt;
}

void DeviceMachine::finish_discovery(TimePoint) {
  nat_.reset();
  if (discovery_ && discovery_->finished() && discovery_->result().ok()) nat_ = registered_behavior(discovery_->result());
  discovery_.reset();
  awaiting_sockets_ = false;
  for (std::size_t i = 0; i < discovery_extra_; ++i)
    commands_.push_back(CloseSocket{discovery_first_ + static_cast<SocketHandle>(i)});
  discovery_extra_ = 0;
  register_again_ = true;  // what was found is registered
}

void DeviceMachine::on_datagram(const InDatagram& d, TimePoint now) {
  if (stopped_) return;
  bool taken = d.socket == kMainSocket && client_.on_datagram(d.bytes, d.from, now);
  if (!taken && discovery_) {
    if (auto i = discovery_index(static_cast<SocketHandle>(d.socket))) {
      for (auto& o : discovery_->on_datagram(InDatagram{*i, d.from, d.bytes}, now))
        out_.push_back(OutDatagram{discovery_handle(o.socket), o.to, std::move(o.bytes)});
      taken = true;
    }
  }
  if (!taken) ++counters_.unclaimed_datagrams;
  collect(now);
  advance(now);
}

void DeviceMachine::on_timer(TimePoint now) {
  if (stopped_) return;
  if (auto t = client_.next_deadline(); t && *t <= now) client_.on_timer(now);
  if (discovery_ && !discovery_->finished())
    if (auto t = discovery_->next_deadline(); t && *t <= now)
      for (auto& o : discovery_->on_timer(now))
        out_.push_back(OutDatagram{discovery_handle(o.socket), o.to, std::move(o.bytes)});
  collect(now);
  advance(now);
}

void DeviceMachine::on_socket_error(SocketHandle s, TimePoint now) {
  if (stopped_) return;
  if (s == kMainSocket) client_.on_socket_error();
  if (discovery_ && discovery_index(s)) finish_discovery(now);
  collect(now);
  advance(now);
}

void DeviceMachine::on_port_mapped(Result<MappedPort, std::string> r, TimePoint now) {
  if (stopped_ || !port_mapping_pending_) return;
  port_mapping_pending_ = false;
  auto before = port_mapping_.advertised(registration_.mapped());
  if (r) port_mapping_.on_mapped(std::move(*r), now);
  else port_mapping_.on_failed(port_mapping_renewal_ ? "port mapping renewal failed: " + r.error() : r.error());
  port_mapping_renewal_ = false;
  // A mapping that appeared, moved or went away is registered (or withdrawn) at once.
  if (registration_.registered() && port_mapping_.advertised(registration_.mapped()) != before) register_again_ = true;
  advance(now);
}

void DeviceMachine::stop(TimePoint) {
  if (stopped_) return;
  stopped_ = true;
  if (port_mapping_.mapping()) commands_.push_back(ReleasePortMapping{});
  for (std::size_t i = 0; i < discovery_extra_; ++i)
    commands_.push_back(CloseSocket{discovery_first_ + static_cast<SocketHandle>(i)});
  discovery_.reset();
  discovery_extra_ = 0;
}

bool DeviceMachine::waiting_for_port_mapping(TimePoint now) {
  if (port_mapping_wait_until_ && (!port_mapping_pending_ || now >= *port_mapping_wait_until_))
    port_mapping_wait_until_.reset();
  return port_mapping_wait_until_.has_value();
}

void DeviceMachine::advance(TimePoint now) {
  if (stopped_ || !started_) return;
  if (discovery_ && (discovery_->finished() || now >= discovery_deadline_)) finish_discovery(now);
  if (awaiting_sockets_ && now >= discovery_deadline_) finish_discovery(now);
  if (port_mapping_.renewal_due(now) && !port_mapping_pending_) {
    commands_.push_back(RenewPortMapping{});
    port_mapping_pending_ = true;
    port_mapping_renewal_ = true;
  }
  // Registration waits for discovery (it registers what was found) and, the first time, for the
  // router's answer a while; then it goes whenever it is due, whatever else the device is doing.
  bool waiting = waiting_for_port_mapping(now);  // evaluated always: it drops a passed wait
  if (register_txn_ || discovering() || waiting) return;
  if (register_again_ || now >= registration_.refresh_at()) start_registration(now);
}

void DeviceMachine::start_registration(TimePoint now) {
  register_again_ = false;
  RegisterRequest r{config_.id, {}, config_.lifetime_s, nat_, config_.allow};
  for (const auto& a : config_.local_addresses)
    if (a.family == config_.server.family) r.locals.push_back(a);
  r.port_mapped = port_mapping_.advertised(registration_.mapped());
  // A refresh gives up within one interval, so that a failed one is tried again before the
  // registration runs out (a restarted server answers the old nonce with a fresh one).
  std::optional<RetransmitPolicy> policy;
  if (registration_.registered()) {
    auto p = config_.policy;
    p.deadline = std::min(p.deadline, registration_.interval());
    policy = p;
  }
  advertised_in_flight_ = r.port_mapped;
  register_started_ = now;
  register_txn_ = client_.register_device(r, now, policy);
  ++counters_.registrations;
}

void DeviceMachine::on_registration_answer(const ClientAnswer& a, TimePoint now) {
  register_txn_.reset();
  if (!a.result) {
    const auto& e = a.result.error();
    registration_.on_failed(register_started_, now, e.kind == ClientError::Kind::Timeout);
    events_.push_back(RegistrationFailedEvent{"registration failed: " + e.message(), registration_.registered()});
    return;
  }
  const auto& response = std::get<RegisterResponse>(*a.result);
  auto change = registration_.on_registered(now, response.mapped, std::chrono::seconds(response.lifetime_s));
  advertised_ = advertised_in_flight_;
  if (change.back_after) events_.push_back(ReRegisteredEvent{response.mapped, *change.back_after});
  if (change.previous_mapping) {
    events_.push_back(MappingChangedEvent{*change.previous_mapping, response.mapped});
    // A new public mapping means the NAT (or the network) changed: learn its behaviour again and
    // register that.
    if (config_.discover) start_discovery(now);
  }
  // The port mapping is registered only on the public IP the server sees: the first answer tells
  // that IP, and a mapping on another one is withdrawn.
  auto wanted = port_mapping_.advertised(response.mapped);
  if (port_mapping_.mapping() && !wanted)
    port_mapping_.note("the router's mapping " + port_mapping_.mapping()->external.to_string() +
                       " is not on our public IP " + response.mapped.to_string() + " (a further NAT): not registered");
  if (wanted != advertised_) register_again_ = true;
  if (!announced_ && !register_again_ && !discovering()) {
    announced_ = true;
    RegisteredEvent e{response.mapped, response.lifetime_s, nat_, std::nullopt, port_mapping_.note()};
    if (wanted) e.port_mapping = port_mapping_.mapping();
    events_.push_back(std::move(e));
  }
}

void DeviceMachine::collect(TimePoint now) {
  for (auto& d : client_.take_datagrams()) out_.push_back(OutDatagram{kMainSocket, d.to, std::move(d.bytes)});
  for (auto& a : client_.take_answers())
    if (register_txn_ && a.txn == *register_txn_) on_registration_answer(a, now);
  while (auto info = client_.take_peer_info()) {
    if (peer_infos_.size() >= 64) peer_infos_.pop_front();
    peer_infos_.push_back(std::move(*info));
  }
  if (auto n = client_.unauthenticated_peer_infos(); n > unauthenticated_seen_) {
    unauthenticated_seen_ = n;
    events_.push_back(UnauthenticatedPeerInfoEvent{n});
  }
}

std::optional<TimePoint> DeviceMachine::next_deadline() const {
  if (stopped_ || !started_) return std::nullopt;
  std::optional<TimePoint> t = client_.next_deadline();
  if (discovery_ && !discovery_->finished()) t = earliest(t, discovery_->next_deadline());
  if (discovering()) t = earliest(t, discovery_deadline_);
  t = earliest(t, port_mapping_wait_until_);
  if (!port_mapping_pending_) t = earliest(t, port_mapping_.renew_at());
  // Before it is due, registration waits only for discovery and the router (advance() starts it
  // as soon as neither holds it back: a due time in the past never lingers here).
  if (!register_txn_ && !discovering() && !port_mapping_wait_until_) t = earliest(t, registration_.refresh_at());
  return t;
}

std::vector<OutDatagram> DeviceMachine::take_datagrams() { return std::exchange(out_, {}); }
std::vector<DeviceCommand> DeviceMachine::take_commands() { return std::exchange(commands_, {}); }
std::vector<DeviceEvent> DeviceMachine::take_events() { return std::exchange(events_, {}); }

std::optional<PeerInfo> DeviceMachine::take_peer_info() {
  if (peer_infos_.empty()) return std::nullopt;
  auto info = std::move(peer_infos_.front());
  peer_infos_.pop_front();
  return info;
}

}  // namespace natpunch
