#include "sim/trial.h"

#include <random>

#include "nat/nat_discovery.h"
#include "wire/padding.h"
#include "wire/random_source.h"

namespace natpunch::sim {

using std::chrono::milliseconds;

namespace {

constexpr milliseconds kRegisterRto{200};
constexpr milliseconds kConnectRto{400};  // as Puncher's re-introduction
constexpr int kMaxSends = 10;

std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

TransactionId make_txid(std::mt19937_64& rng) {
  TransactionId t{};
  for (auto& b : t) b = std::byte(static_cast<std::uint8_t>(rng()));
  return t;
}

NatConfig make(Dependence m, Dependence f, PortAllocation a, std::uint16_t lo = 1024, std::uint16_t hi = 65535) {
  NatConfig c;
  c.mapping = m;
  c.filtering = f;
  c.allocation = a;
  c.port_lo = lo;
  c.port_hi = hi;
  return c;
}

// Sends `request` from `socket` until `answered()` holds, every `rto`, at most kMaxSends times.
bool exchange(Runner& runner, std::vector<std::pair<SocketId, Bytes>> requests, milliseconds rto,
              const std::function<bool()>& answered, int& retransmissions) {
  for (int i = 0; i < kMaxSends; ++i) {
    if (i > 0) ++retransmissions;
    for (const auto& [socket, bytes] : requests) runner.send(socket, kServerAddress, bytes);
    if (runner.run(runner.network().now() + rto, answered)) return true;
  }
  return false;
}

// What a side registers: nothing, the spec's override, the ideal report, or — with `discover` — what
// the real NatDiscovery machine finds through its NAT (sockets bound here: its config needs ports).
std::optional<NatBehavior> report(Runner& runner, const PeerSpec& p, SocketId main, std::uint64_t seed) {
  if (!p.report_nat) return std::nullopt;
  if (p.reported) return *p.reported;
  if (!p.discover) return reported_behavior(p.nat);
  auto& net = runner.network();
  NatDiscoveryConfig c;
  c.server = kServerAddress;
  c.local_addresses = {net.local_address(main)};
  std::vector<SocketId> sockets{main};
  for (std::size_t i = 1; i < kNatDiscoverySockets; ++i)
    if (auto s = net.bind(net.host_of(main))) sockets.push_back(*s);
  for (auto s : sockets) c.local_ports.push_back(net.local_address(s).port);
  c.random = seeded_random(seed);
  NatDiscovery discovery(c);
  auto index = runner.add(discovery, sockets, net.now());
  runner.run(net.now() + c.server_timeout + c.window * 4, [&] { return discovery.finished(); });
  runner.detach(index);
  if (!discovery.finished() || !discovery.result().ok()) return std::nullopt;
  return registered_behavior(discovery.result());
}

}  // namespace

std::optional<NatConfig> lab_nat(std::string_view name) {
  using D = Dependence;
  using A = PortAllocation;
  if (name == "open") {
    NatConfig c;
    c.behind_nat = false;
    c.filtering = D::EndpointIndependent;
    return c;
  }
  if (name == "full-cone") return make(D::EndpointIndependent, D::EndpointIndependent, A::Preserving);
  if (name == "restricted-cone") return make(D::EndpointIndependent, D::AddressDependent, A::Preserving);
  if (name == "port-restricted-cone") return make(D::EndpointIndependent, D::AddressAndPortDependent, A::Preserving);
  if (name == "port-restricted-cone-random")
    return make(D::EndpointIndependent, D::AddressAndPortDependent, A::Random, 20000, 29999);
  if (name == "symmetric-random") return make(D::AddressAndPortDependent, D::AddressAndPortDependent, A::Random);
  if (name == "symmetric-random-narrow")
    return make(D::AddressAndPortDependent, D::AddressAndPortDependent, A::Random, 30000, 30255);
  if (name == "symmetric-sequential")
    return make(D::AddressAndPortDependent, D::AddressAndPortDependent, A::Sequential, 40000, 41023);
  if (name == "symmetric-preserve-first")
    return make(D::AddressAndPortDependent, D::AddressAndPortDependent, A::PreserveFirst);
  return std::nullopt;
}

Introduction introduce(Runner& runner, SocketId a_main, SocketId b_main, std::optional<NatBehavior> a_nat,
                       std::optional<NatBehavior> b_nat, bool a_initiates, std::uint64_t seed) {
  Introduction intro;
  auto& net = runner.network();
  std::mt19937_64 rng(mix(seed ^ 0x1a7d));
  const DeviceId a_id{IdKind::UserName, "alice"}, b_id{IdKind::UserName, "bob"};

  // 1. Registration, each from its main socket, with its local address and NAT behaviour: first
  //    padded so the answer (with the server's nonce for that mapping) fits, then again quoting the
  //    nonce, which proves the mapping (the server sends NP-PEER-INFO only to proven addresses).
  auto a_tx = make_txid(rng), b_tx = make_txid(rng);
  std::optional<SocketAddress> a_mapped, b_mapped;
  std::optional<std::string> a_nonce, b_nonce;
  auto registered = [&] {
    for (auto& in : runner.inbox()) {
      auto m = parse_message(in.bytes);
      if (!m || m->method() != stun::method::kRegister || m->cls() != stun::MessageClass::Success) continue;
      auto r = decode_register_response(*m);
      if (!r) continue;
      const auto* n = m->find(stun::attr::kNonce);
      auto nonce = n ? std::optional<std::string>(as_text(n->value)) : std::nullopt;
      if (in.to == a_main && m->transaction == a_tx) a_mapped = r->mapped, a_nonce = nonce;
      if (in.to == b_main && m->transaction == b_tx) b_mapped = r->mapped, b_nonce = nonce;
    }
    runner.inbox().clear();
    return a_mapped && b_mapped;
  };
  auto register_request = [&](const DeviceId& id, SocketId main, std::optional<NatBehavior> nat,
                              const TransactionId& tx, const std::optional<std::string>& nonce) {
    auto bytes = encode_register_request({id, {net.local_address(main)}, 600, nat}, tx);
    if (nonce) return with_attribute(bytes, stun::attr::kNonce, as_bytes(*nonce));
    return padded_to(bytes, register_response_size(kServerAddress.family));
  };
  for (int round = 0; round < 2; ++round) {
    std::vector<std::pair<SocketId, Bytes>> regs;
    regs.emplace_back(a_main, register_request(a_id, a_main, a_nat, a_tx, a_nonce));
    regs.emplace_back(b_main, register_request(b_id, b_main, b_nat, b_tx, b_nonce));
    a_mapped.reset();
    b_mapped.reset();
    if (!exchange(runner, regs, kRegisterRto, registered, intro.retransmissions)) {
      intro.error = "registration got no answer";
      return intro;
    }
    if (!a_nonce || !b_nonce) {
      intro.error = "registration answer without a nonce";
      return intro;
    }
    // The second round's transactions: derived, so the trial draws no more from `rng`.
    a_tx[0] ^= std::byte{0x80};
    b_tx[0] ^= std::byte{0x80};
  }
  intro.a_mapped = *a_mapped;
  intro.b_mapped = *b_mapped;

  // 2. The connect request; the initiator's answer and the other side's indication.
  SocketId init = a_initiates ? a_main : b_main;
  auto c_tx = make_txid(rng);
  intro.connect_request =
      with_attribute(encode_connect_request({a_initiates ? a_id : b_id, a_initiates ? b_id : a_id}, c_tx),
                     stun::attr::kNonce, as_bytes(a_initiates ? *a_nonce : *b_nonce));
  std::optional<PeerInfo> a_info, b_info;
  auto introduced = [&] {
    for (auto& in : runner.inbox()) {
      auto m = parse_message(in.bytes);
      if (!m) continue;
      bool response = in.to == init && m->method() == stun::method::kConnect &&
                      m->cls() == stun::MessageClass::Success && m->transaction == c_tx;
      bool indication =
          in.to != init && m->method() == stun::method::kPeerInfo && m->cls() == stun::MessageClass::Indication;
      if (!response && !indication) continue;
      auto info = decode_peer_info(*m);
      if (!info) continue;
      auto& slot = in.to == a_main ? a_info : b_info;
      if (!slot) {
        slot = *info;
        (in.to == a_main ? intro.a_at : intro.b_at) = net.now();
      }
    }
    runner.inbox().clear();
    return a_info && b_info;
  };
  if (!exchange(runner, {{init, intro.connect_request}}, kConnectRto, introduced, intro.retransmissions)) {
    intro.error = "introduction incomplete";
    return intro;
  }
  intro.a_info = *a_info;
  intro.b_info = *b_info;
  intro.ok = true;
  return intro;
}

TrialResult run_trial(const TrialConfig& cfg) {
  TrialResult result;
  NetworkConfig nc;
  nc.seed = cfg.seed;
  nc.one_way = cfg.one_way;
  nc.jitter = cfg.jitter;
  Network net(nc);
  SimServer server(net, ServerConfig{}, mix(cfg.seed ^ 0x5e77));
  Runner runner(net, &server);

  SiteId a_site = net.add_site(cfg.a.nat);
  SiteId b_site = cfg.same_lan ? a_site : net.add_site(cfg.b.nat);
  auto main_socket = [&](SiteId site, std::uint16_t port) {
    auto host = net.add_host(site);
    auto s = net.bind(host, port);
    return s ? *s : *net.bind(host);
  };
  SocketId a_main = main_socket(a_site, cfg.a.local_port);
  SocketId b_main = main_socket(b_site, cfg.b.local_port);
  auto a_nat = report(runner, cfg.a, a_main, mix(cfg.seed ^ 0xd15c0a));
  auto b_nat = report(runner, cfg.b, b_main, mix(cfg.seed ^ 0xd15c0b));
  // Same LAN: b's NAT is a's.
  if (cfg.same_lan && cfg.b.report_nat && !cfg.b.reported && !cfg.b.discover) b_nat = a_nat;
  result.a_registered = a_nat;
  result.b_registered = b_nat;

  TimePoint t0 = net.now();
  result.intro = introduce(runner, a_main, b_main, a_nat, b_nat, cfg.a_initiates, cfg.seed);
  if (!result.intro.ok) {
    result.net = net.stats();
    return result;
  }

  auto setup_for = [&](const PeerInfo& info, const SocketAddress& self_mapped, std::optional<NatBehavior> self_nat,
                       bool self_is_a, Plan& plan) {
    PairFacts facts{self_nat, info.peer_nat, self_mapped, info.peer_mapped, info.initiator};
    plan = choose_plan(facts, cfg.tuning, cfg.forced);
    PunchSetup s;
    s.token = info.token;
    s.self = DeviceId{IdKind::UserName, self_is_a ? "alice" : "bob"};
    s.peer = info.peer;
    s.server = server.address();
    s.peer_mapped = info.peer_mapped;
    s.peer_locals = info.peer_locals;
    s.peer_nat = info.peer_nat;
    s.self_nat = self_nat;
    s.plan = plan;
    s.tuning = cfg.tuning;
    s.seed = mix(cfg.seed ^ (self_is_a ? 0xa11ce : 0xb0b));
    s.controlling = info.initiator;
    if (info.initiator) s.reintroduce = result.intro.connect_request;
    return s;
  };
  Puncher a(setup_for(result.intro.a_info, result.intro.a_mapped, a_nat, true, result.a.plan));
  Puncher b(setup_for(result.intro.b_info, result.intro.b_mapped, b_nat, false, result.b.plan));
  auto ia = runner.add(a, a_main, result.intro.a_at);
  auto ib = runner.add(b, b_main, result.intro.b_at);

  milliseconds budget{0};
  for (const auto* plan : {&result.a.plan, &result.b.plan}) {
    milliseconds sum{0};
    for (const auto& st : plan->steps) sum += st.budget;
    budget = std::max(budget, sum);
  }
  runner.run(net.now() + budget + cfg.extra_time);

  auto fill = [&](TrialSide& side, const Puncher& p, std::size_t index) {
    side.outcome = p.outcome();
    side.finished = p.finished();
    side.stats = runner.stats(index);
    if (side.outcome.ok && side.outcome.socket < runner.sockets_of(index).size()) {
      side.path_socket = runner.sockets_of(index)[side.outcome.socket];
      side.path_public = net.public_address(side.path_socket, side.outcome.remote);
    }
    if (!side.finished && side.outcome.error.empty()) side.outcome.error = "timed out";
  };
  fill(result.a, a, ia);
  fill(result.b, b, ib);
  result.net = net.stats();
  result.stuck = runner.stuck();
  result.elapsed = std::chrono::duration_cast<milliseconds>(net.now() - t0);
  result.signals_relayed = server.handler().counters().signals_relayed;
  return result;
}

}  // namespace natpunch::sim
