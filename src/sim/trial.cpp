#include "sim/trial.h"

#include <set>

#include "device/punch_setup.h"
#include "device/rendezvous_client_machine.h"
#include "nat/nat_discovery.h"
#include "wire/random_source.h"

namespace natpunch::sim {

using std::chrono::milliseconds;

namespace {

// The devices' schedule toward the server in the simulator: RFC 8489's, from a 200 ms RTO.
const RetransmitPolicy kIntroductionPolicy{milliseconds(200), 7, 16, milliseconds(16000)};
constexpr milliseconds kReintroduceEvery{400};  // as Puncher's re-introduction
constexpr int kReintroductions = 10;

std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
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
  const DeviceId a_id{IdKind::UserName, "alice"}, b_id{IdKind::UserName, "bob"};
  // Each side runs the device's own rendezvous client, over its main socket.
  auto client = [&](std::uint64_t salt) {
    RendezvousClientConfig c;
    c.server = kServerAddress;
    c.policy = kIntroductionPolicy;
    c.random = seeded_random(mix(seed ^ salt));
    return RendezvousClientMachine(c);
  };
  RendezvousClientMachine a = client(0x1a7d), b = client(0x1a7e);
  struct Side {
    RendezvousClientMachine& machine;
    SocketId main;
    std::vector<ClientAnswer> answers;
    std::optional<PeerInfo> info;
    TimePoint info_at{};
  };
  Side sides[2] = {{a, a_main, {}, {}, {}}, {b, b_main, {}, {}, {}}};
  std::set<TransactionId> sent;  // a transaction's first datagram is no retransmission
  // Moves datagrams between the machines and the network until `done()` or `limit`.
  auto pump = [&](const std::function<bool()>& done, TimePoint limit) {
    for (;;) {
      for (auto& side : sides) {
        for (auto& d : side.machine.take_datagrams()) {
          TransactionId t{};
          if (d.bytes.size() >= 20) std::copy(d.bytes.begin() + 8, d.bytes.begin() + 20, t.begin());
          if (!sent.insert(t).second) ++intro.retransmissions;
          runner.send(side.main, d.to, std::move(d.bytes));
        }
        for (auto& answer : side.machine.take_answers()) side.answers.push_back(std::move(answer));
        if (!side.info) {
          side.info = side.machine.take_peer_info();
          side.info_at = net.now();
        }
      }
      if (done()) return true;
      // A stuck runner no longer moves time (runner.h): nothing will change.
      if (net.now() >= limit || runner.stuck()) return false;
      auto next = limit;
      for (auto& side : sides)
        if (auto t = side.machine.next_deadline(); t && *t < next) next = *t;
      runner.run(next, [&] { return !runner.inbox().empty(); });
      auto now = net.now();
      for (auto& in : runner.inbox())
        for (auto& side : sides)
          if (in.to == side.main) side.machine.on_datagram(in.bytes, in.from, now);
      runner.inbox().clear();
      for (auto& side : sides)
        if (auto t = side.machine.next_deadline(); t && *t <= now) side.machine.on_timer(now);
    }
  };
  auto answered = [&](Side& side) { return !side.answers.empty(); };
  auto schedule_end = [&] { return net.now() + plan_retransmissions(kIntroductionPolicy).give_up; };

  // 1. Registration, each from its main socket, with its local address and NAT behaviour: first
  //    padded so the answer (with the server's nonce for that mapping) fits, then again quoting the
  //    nonce, which proves the mapping (the server sends NP-PEER-INFO only to proven addresses).
  a.register_device({a_id, {net.local_address(a_main)}, 600, a_nat}, net.now());
  b.register_device({b_id, {net.local_address(b_main)}, 600, b_nat}, net.now());
  pump([&] { return answered(sides[0]) && answered(sides[1]); }, schedule_end());
  for (auto* side : {&sides[0], &sides[1]}) {
    if (side->answers.empty() || !side->answers.front().result) {
      intro.error = side->answers.empty() ? "registration got no answer"
                                          : "registration failed: " + side->answers.front().result.error().message();
      return intro;
    }
  }
  intro.a_mapped = std::get<RegisterResponse>(*sides[0].answers.front().result).mapped;
  intro.b_mapped = std::get<RegisterResponse>(*sides[1].answers.front().result).mapped;
  sides[0].answers.clear();
  sides[1].answers.clear();

  // 2. The connect request; the initiator's answer and the other side's indication.
  auto& init = a_initiates ? sides[0] : sides[1];
  auto& other = a_initiates ? sides[1] : sides[0];
  auto txn = init.machine.connect({a_initiates ? a_id : b_id, a_initiates ? b_id : a_id}, net.now());
  intro.connect_request = init.machine.request_bytes(txn);
  pump([&] { return answered(init); }, schedule_end());
  if (!answered(init) || !init.answers.front().result) {
    intro.error = "introduction incomplete";
    if (answered(init)) intro.error += ": " + init.answers.front().result.error().message();
    return intro;
  }
  init.info = std::get<PeerInfo>(*init.answers.front().result);
  init.info_at = net.now();
  // The peer's indication was sent with the answer; if it is lost, the same connect again (as the
  // initiator's Puncher does) makes the server send it again from its duplicate cache.
  for (int i = 0; i < kReintroductions && !other.info; ++i) {
    if (i > 0) init.machine.reintroduce(txn, net.now());
    pump([&] { return other.info.has_value(); }, net.now() + kReintroduceEvery);
  }
  if (!other.info) {
    intro.error = "introduction incomplete: the peer's indication never arrived";
    return intro;
  }
  intro.a_info = *sides[0].info;
  intro.b_info = *sides[1].info;
  intro.a_at = sides[0].info_at;
  intro.b_at = sides[1].info_at;
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
    SelfFacts self{DeviceId{IdKind::UserName, self_is_a ? "alice" : "bob"}, self_nat, self_mapped, std::nullopt,
                   server.address()};
    auto s = punch_setup_for(self, info, cfg.tuning, cfg.forced, mix(cfg.seed ^ (self_is_a ? 0xa11ce : 0xb0b)),
                             result.intro.connect_request);
    plan = s.plan;
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
