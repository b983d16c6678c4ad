#include "nat/nat_discovery.h"

#include <algorithm>

#include "wire/address_codec.h"
#include "wire/builder.h"
#include "wire/padding.h"
#include "wire/retransmit.h"

namespace natpunch {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

std::string_view to_string(DiscoveryError e) {
  switch (e) {
    case DiscoveryError::None: return "none";
    case DiscoveryError::NoAnswer: return "no-answer";
    case DiscoveryError::NoAlternateAddress: return "no-alternate-address";
    case DiscoveryError::Rejected: return "rejected";
  }
  return "unknown";
}

std::string_view to_string(ProbeOutcome o) {
  switch (o) {
    case ProbeOutcome::Pending: return "pending";
    case ProbeOutcome::Answered: return "answered";
    case ProbeOutcome::NoAnswer: return "no-answer";
    case ProbeOutcome::WrongSource: return "wrong-source";
    case ProbeOutcome::Rejected: return "rejected";
  }
  return "unknown";
}

std::string_view type_name(const NatDiscoveryResult& r) {
  if (!r.ok()) return "unknown";
  auto name = short_name(r.behavior);
  if (name == "symmetric-random" && r.allocation.narrow) return "symmetric-random-narrow";
  return name;
}

NatBehavior registered_behavior(const NatDiscoveryResult& r) {
  auto b = r.behavior;
  const auto& a = r.allocation;
  // A sequential NAT's samples are consecutive ports: their span says nothing about its pool.
  if (!a.narrow || a.lowest_port == 0 || a.translated < 2 || b.allocation == Allocation::Sequential) return b;
  int span = a.highest_port - a.lowest_port;
  int margin = (span + static_cast<int>(a.translated) - 2) / (static_cast<int>(a.translated) - 1);  // ⌈span/(k−1)⌉
  b.pool_lo = static_cast<std::uint16_t>(std::max(1, a.lowest_port - margin));
  b.pool_hi = static_cast<std::uint16_t>(std::min(65535, a.highest_port + margin));
  return b;
}

namespace {

// RFC 5780 §4.3 with every answer used: II == I → endpoint-independent, else III == II →
// address-dependent, else address- and port-dependent. Any two destinations mapped differently rule
// out independence, so a coincidence (II == I on a NAT with a small random pool) is caught by III or
// by the primary-IP-other-port mapping; that one must also equal I for address dependence.
Dependence mapping_dependence(const SocketAddress& one, const std::optional<SocketAddress>& two,
                              const std::optional<SocketAddress>& three,
                              const std::optional<SocketAddress>& other_port) {
  if (!two) return Dependence::Unknown;
  const bool port_dependent = (three && *three != *two) || (other_port && *other_port != one);
  if (*two == one && !port_dependent) return Dependence::EndpointIndependent;
  if (port_dependent) return Dependence::AddressAndPortDependent;
  if (three) return Dependence::AddressDependent;  // III == II != I, and the other port kept I's mapping
  return Dependence::Unknown;                      // II != I but III never answered
}

}  // namespace

NatDiscovery::NatDiscovery(NatDiscoveryConfig config) : config_(std::move(config)) {
  if (config_.local_ports.size() < 2) config_.local_ports.resize(2, 0);  // port 0: preservation unknown
  if (!config_.random) config_.random = system_random();
}

std::vector<OutDatagram> NatDiscovery::start(TimePoint now) {
  started_ = now;
  std::vector<OutDatagram> out;
  // RFC 5780 §4.3 test I: a plain Binding to the primary; its answer names the alternate address.
  add(Probe::MappingI, 0, config_.server, 0, now, config_.rto, config_.server_timeout, out);
  return out;
}

void NatDiscovery::add(Probe probe, std::size_t socket, const SocketAddress& to, std::uint32_t change_flags,
                       TimePoint now, milliseconds rto, milliseconds limit, std::vector<OutDatagram>& out) {
  Transaction t;
  t.probe = probe;
  t.socket = socket;
  t.to = to;
  t.id = random_transaction_id(config_.random);
  MessageBuilder b(stun::method::kBinding, stun::MessageClass::Request, t.id);
  if (change_flags != 0) b.add_u32(stun::attr::kChangeRequest, change_flags);
  // Padded so the server's full answer (RFC 5780's addresses) fits in what we sent (padding.h).
  t.request = padded_to(b.finish(), binding_response_size(to.family));
  // RFC 8489 §6.2.1 schedule, cut at the test's limit; the transaction fails at the limit itself.
  auto plan = plan_retransmissions(RetransmitPolicy{rto, 32, 1 << 20, limit});
  t.sends = plan.sends;
  t.first_send = now;
  t.give_up = now + limit;
  auto flow = std::find(flows_.begin(), flows_.end(), std::make_pair(socket, to));
  t.flow = static_cast<int>(flow - flows_.begin());
  if (flow == flows_.end()) flows_.emplace_back(socket, to);
  transactions_.push_back(std::move(t));
  send_due(transactions_.back(), now, out);
}

void NatDiscovery::send_due(Transaction& t, TimePoint now, std::vector<OutDatagram>& out) {
  bool due = false;
  while (t.sent < t.sends.size() && t.first_send + t.sends[t.sent] <= now) {
    ++t.sent;  // a late timer sends one copy, not every one it missed
    due = true;
  }
  if (!due) return;
  out.push_back(OutDatagram{t.socket, t.to, t.request});
  t.last_send = now;
  ++result_.requests_sent;
}

std::vector<OutDatagram> NatDiscovery::on_datagram(const InDatagram& d, TimePoint now) {
  std::vector<OutDatagram> out;
  if (done_) return out;
  // Classify before parsing (libjuice): other traffic on these sockets is not ours.
  if (!looks_like_stun(d.bytes)) {
    ++result_.ignored;
    return out;
  }
  auto parsed = parse_message(d.bytes, answer_limits());
  if (!parsed || parsed->method() != stun::method::kBinding ||
      (parsed->cls() != stun::MessageClass::Success && parsed->cls() != stun::MessageClass::Error)) {
    ++result_.ignored;
    return out;
  }
  auto it = std::find_if(transactions_.begin(), transactions_.end(), [&](const Transaction& t) {
    return t.outcome == ProbeOutcome::Pending && t.socket == d.socket && t.id == parsed->transaction;
  });
  if (it == transactions_.end()) {
    ++result_.ignored;  // a late duplicate, or not ours
    return out;
  }
  on_answer(*it, *parsed, d, now, out);
  finish_if_decided(now);
  return out;
}

void NatDiscovery::on_answer(Transaction& t, const MessageView& m, const InDatagram& d, TimePoint now,
                             std::vector<OutDatagram>& out) {
  if (m.cls() == stun::MessageClass::Error) {
    ++result_.responses;
    t.outcome = ProbeOutcome::Rejected;
    if (t.probe == Probe::MappingI) {
      std::string code;
      if (const auto* e = m.find(stun::attr::kErrorCode))
        if (auto c = decode_error_code(e->value)) code = " (error " + std::to_string(c->code) + ")";
      fail(DiscoveryError::Rejected, "server " + config_.server.to_string() + " refused a Binding request" + code, now);
    }
    return;
  }
  auto mapped = mapped_address_of(m);
  if (!mapped) {
    ++result_.ignored;  // a success without a mapped address: wait for a retransmission's answer
    return;
  }
  ++result_.responses;
  t.mapped = *mapped;
  t.outcome = ProbeOutcome::Answered;
  const auto& server = config_.server;
  // RFC 5780 §4.4: the filtering verdict rests on where the answer came from; a server that
  // ignored CHANGE-REQUEST (answering from the primary) must not read as an open filter.
  if (t.probe == Probe::FilterChangeBoth && (d.from.same_ip(server) || d.from.port == server.port))
    t.outcome = ProbeOutcome::WrongSource;
  if (t.probe == Probe::FilterChangePort && (!d.from.same_ip(server) || d.from.port == server.port))
    t.outcome = ProbeOutcome::WrongSource;
  if (t.probe != Probe::MappingI) return;

  result_.mapped = *mapped;
  // Which send this answers is unknown after a retransmission (Karn): from the first send is an
  // upper bound, and a window stretched too far costs time while one cut too short costs the verdict.
  result_.rtt = duration_cast<milliseconds>(now - t.first_send);
  if (const auto* a = m.find(stun::attr::kResponseOrigin))
    if (auto origin = decode_plain_address(a->value)) result_.response_origin = *origin;
  std::optional<SocketAddress> other;
  if (const auto* a = m.find(stun::attr::kOtherAddress))
    if (auto o = decode_plain_address(a->value)) other = *o;
  if (!other) {
    fail(DiscoveryError::NoAlternateAddress,
         "server " + server.to_string() +
             " sent no OTHER-ADDRESS: it has no alternate address for RFC 5780 tests (natpunch server "
             "--alternate IP:PORT)",
         now);
    return;
  }
  result_.other_address = *other;
  // RFC 5780 §6.1: the alternate differs from the primary in both IP and port.
  if (other->family != server.family || other->same_ip(server) || other->port == server.port) {
    fail(DiscoveryError::NoAlternateAddress,
         "server's OTHER-ADDRESS " + other->to_string() + " does not differ from " + server.to_string() +
             " in both IP and port",
         now);
    return;
  }
  begin_tests(now, out);
}

void NatDiscovery::begin_tests(TimePoint now, std::vector<OutDatagram>& out) {
  // A slow path stretches the wait to four RTTs (at most three windows). The RTO stays: an early
  // retransmission costs a packet, a late one costs the verdict when answers are lost.
  const auto window = std::clamp(4 * result_.rtt, config_.window, 3 * config_.window);
  const auto rto = config_.rto;
  const auto other = *result_.other_address;
  auto alternate_ip = other;
  alternate_ip.port = config_.server.port;
  // §4.3 test II: alternate IP, primary port; test III: alternate IP and port.
  add(Probe::MappingII, 0, alternate_ip, 0, now, rto, window, out);
  add(Probe::MappingIII, 0, other, 0, now, rto, window, out);
  auto alternate_port = config_.server;
  alternate_port.port = other.port;
  add(Probe::MappingOtherPort, 0, alternate_port, 0, now, rto, window, out);
  // §4.4 on a socket that has talked to the primary only: a control Binding, then test II (change
  // IP and port) and test III (change port).
  add(Probe::FilterControl, 1, config_.server, 0, now, rto, window, out);
  add(Probe::FilterChangeBoth, 1, config_.server, stun::attr::kChangeIp | stun::attr::kChangePort, now, rto, window,
      out);
  add(Probe::FilterChangePort, 1, config_.server, stun::attr::kChangePort, now, rto, window, out);
  for (std::size_t s = 2; s < config_.local_ports.size(); ++s)
    add(Probe::Allocation, s, config_.server, 0, now, rto, window, out);
}

std::vector<OutDatagram> NatDiscovery::on_timer(TimePoint now) {
  std::vector<OutDatagram> out;
  if (done_) return out;
  for (auto& t : transactions_) {
    if (t.outcome != ProbeOutcome::Pending) continue;
    if (now >= t.give_up) {
      t.outcome = ProbeOutcome::NoAnswer;
      if (t.probe == Probe::MappingI) {
        fail(DiscoveryError::NoAnswer,
             "server " + config_.server.to_string() + " did not answer (" + std::to_string(t.sent) + " requests in " +
                 std::to_string(config_.server_timeout.count()) + " ms)",
             now);
        return {};
      }
      continue;
    }
    send_due(t, now, out);
  }
  finish_if_decided(now);
  return out;
}

std::optional<TimePoint> NatDiscovery::next_deadline() const {
  if (done_) return std::nullopt;
  std::optional<TimePoint> next;
  for (const auto& t : transactions_) {
    if (t.outcome != ProbeOutcome::Pending) continue;
    auto at = t.sent < t.sends.size() ? std::min(t.first_send + t.sends[t.sent], t.give_up) : t.give_up;
    if (!next || at < *next) next = at;
  }
  return next;
}

NatDiscovery::Transaction* NatDiscovery::find(Probe probe) {
  auto it =
      std::find_if(transactions_.begin(), transactions_.end(), [&](const Transaction& t) { return t.probe == probe; });
  return it == transactions_.end() ? nullptr : &*it;
}

bool NatDiscovery::resolved(Probe probe) {
  return std::none_of(transactions_.begin(), transactions_.end(),
                      [&](const Transaction& t) { return t.probe == probe && t.outcome == ProbeOutcome::Pending; });
}

void NatDiscovery::finish_if_decided(TimePoint now) {
  if (done_) return;
  const auto* one = find(Probe::MappingI);
  const auto* two = find(Probe::MappingII);
  if (!one || one->outcome != ProbeOutcome::Answered || !two) return;  // still on test I
  const auto* both = find(Probe::FilterChangeBoth);
  const bool mapping_done =
      two->outcome != ProbeOutcome::Pending && resolved(Probe::MappingIII) && resolved(Probe::MappingOtherPort);
  // A response to "change IP and port" settles filtering at once (EIF); silence needs the window.
  const bool filtering_done =
      (both->outcome == ProbeOutcome::Answered) ||
      (resolved(Probe::FilterChangeBoth) && resolved(Probe::FilterChangePort) && resolved(Probe::FilterControl));
  if (mapping_done && filtering_done && resolved(Probe::Allocation)) finish(now);
}

void NatDiscovery::finish(TimePoint now) {
  auto& r = result_;
  auto& b = r.behavior;
  const auto* one = find(Probe::MappingI);
  const auto* two = find(Probe::MappingII);
  const auto* three = find(Probe::MappingIII);
  const auto* four = find(Probe::MappingOtherPort);
  const auto* control = find(Probe::FilterControl);
  const auto* both = find(Probe::FilterChangeBoth);
  const auto* port = find(Probe::FilterChangePort);

  // RFC 5780 §4.3: "no NAT" when the mapped address is one of this host's own.
  b.behind_nat = std::none_of(config_.local_addresses.begin(), config_.local_addresses.end(),
                              [&](const SocketAddress& a) { return a == r.mapped; });
  if (two->mapped) r.mapped_alternate_ip = *two->mapped;
  if (three->mapped) r.mapped_alternate_both = *three->mapped;
  if (four->mapped) r.mapped_alternate_port = *four->mapped;
  b.mapping = mapping_dependence(*one->mapped, two->mapped, three->mapped, four->mapped);

  r.change_ip_and_port = both->outcome;
  r.change_port = port->outcome;
  const bool heard_on_filter_socket = control->mapped || both->mapped || port->mapped;
  // §4.4: an answer from the alternate IP and port → endpoint-independent; else one from the
  // primary IP's other port → address-dependent; neither (while the socket itself works) → both.
  if (both->outcome == ProbeOutcome::Answered)
    b.filtering = Dependence::EndpointIndependent;
  else if (both->outcome == ProbeOutcome::WrongSource || port->outcome == ProbeOutcome::WrongSource ||
           both->outcome == ProbeOutcome::Rejected || port->outcome == ProbeOutcome::Rejected)
    b.filtering = Dependence::Unknown;
  else if (port->outcome == ProbeOutcome::Answered)
    b.filtering = Dependence::AddressDependent;
  else if (heard_on_filter_socket)
    b.filtering = Dependence::AddressAndPortDependent;

  b.port_preserved = r.mapped.port == config_.local_ports[0];

  // Every flow's mapping, in the order the flows were created (a sequential NAT numbers them so).
  std::vector<MappingSample> samples;
  for (std::size_t f = 0; f < flows_.size(); ++f) {
    auto it = std::find_if(transactions_.begin(), transactions_.end(), [&](const Transaction& t) {
      return t.flow == static_cast<int>(f) && t.mapped && t.outcome != ProbeOutcome::WrongSource;
    });
    if (it == transactions_.end()) continue;
    samples.push_back({flows_[f].first, config_.local_ports[flows_[f].first], flows_[f].second, *it->mapped});
  }
  r.allocation = analyze_port_allocation(samples, config_.allocation);
  b.allocation = r.allocation.allocation;
  b.port_delta = b.allocation == Allocation::Sequential ? r.allocation.port_delta : 0;

  r.elapsed = duration_cast<milliseconds>(now - started_);
  done_ = true;
}

void NatDiscovery::fail(DiscoveryError e, std::string message, TimePoint now) {
  result_.error = e;
  result_.message = std::move(message);
  result_.elapsed = duration_cast<milliseconds>(now - started_);
  done_ = true;
}

}  // namespace natpunch
