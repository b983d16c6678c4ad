// The device's own standing: NAT discovery on its sockets, the router's port mapping, and
// registration with the rendezvous server (RegistrationState, PortMappingState). The rest of the
// machine is in device_machine.cpp.
#include "device/device_machine.h"

namespace natpunch {

using std::chrono::milliseconds;

void DeviceMachine::start_discovery(TimePoint now) {
  ++counters_.discoveries;
  discovery_.reset();
  awaiting_sockets_ = true;
  discovery_first_ = next_handle_;
  discovery_extra_ = kNatDiscoverySockets - 1;
  next_handle_ += static_cast<SocketHandle>(discovery_extra_);
  sockets_in_use_ += discovery_extra_;
  NatDiscoveryConfig defaults;
  // Bounded as a whole (opening the sockets included): test I's timeout and three windows.
  discovery_deadline_ = now + defaults.server_timeout + defaults.window * 3 + milliseconds(500);
  commands_.push_back(OpenSockets{discovery_first_, discovery_extra_});
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
  sockets_in_use_ -= discovery_extra_;
  discovery_extra_ = 0;
  register_again_ = true;  // what was found is registered
}

void DeviceMachine::to_discovery(const InDatagram& d, std::size_t index, TimePoint now) {
  for (auto& o : discovery_->on_datagram(InDatagram{index, d.from, d.bytes}, now))
    out_.push_back(OutDatagram{discovery_handle(o.socket), o.to, std::move(o.bytes)});
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

bool DeviceMachine::waiting_for_port_mapping(TimePoint now) {
  if (port_mapping_wait_until_ && (!port_mapping_pending_ || now >= *port_mapping_wait_until_))
    port_mapping_wait_until_.reset();
  return port_mapping_wait_until_.has_value();
}

void DeviceMachine::start_registration(TimePoint now) {
  register_again_ = false;
  RegisterRequest r{config_.id, {}, config_.lifetime_s, nat_, admission_.announced()};
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

}  // namespace natpunch
